//! The executor: does one job's IO and commits its result to the catalog
//! with a conditional write. A block is encoded, checked by decoding it,
//! written, and checked by size before the catalog points at it; replaced
//! objects are deleted only after the delete delay.

use std::collections::BTreeMap;

use bytes::Bytes;
use stratus_block::{BlockOptions, Resolution};
use stratus_codec::{decode_segment, BlockEntry, Catalog, CompiledTombstone, PendingDelete};
use stratus_model::{merge_newer, Labels, Sample, TenantId};
use stratus_storage::catalog::{self, CommitError, Versioned};
use stratus_storage::keys::segments_prefix;
use stratus_storage::{BlockKey, Bucket, ObjectPath, SegmentKey};
use tracing::{debug, info};
use ulid::Ulid;

use crate::config::{ms, CompactorConfig};
use crate::plan::{Job, SegmentRef};
use crate::{CompactorError, Result};

/// What a job did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub blocks_written: usize,
    pub segments_compacted: usize,
    pub objects_deleted: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub samples_written: u64,
    /// Points (windows) written to rollups.
    pub rollup_points_written: u64,
    /// False when the catalog changed under us: the job's blocks (if any)
    /// are now orphans, to be deleted by a later pass.
    pub committed: bool,
}

pub struct Executor<'a> {
    pub bucket: &'a Bucket,
    pub cfg: &'a CompactorConfig,
    pub tenant: &'a TenantId,
    pub now_ms: i64,
}

/// Series of one output block, sorted by labels; later inputs win.
type SeriesMap = BTreeMap<Labels, Vec<Sample>>;

fn new_id() -> Ulid {
    Ulid::new()
}

impl Executor<'_> {
    pub async fn run(&self, job: &Job, base: &Versioned) -> Result<JobOutcome> {
        match job {
            Job::CompactSegments {
                segments,
                watermark_from,
                watermark_to,
            } => {
                self.compact_segments(base, segments, *watermark_from, *watermark_to)
                    .await
            }
            Job::Merge {
                blocks,
                min_time,
                max_time,
                level,
            } => self.merge(base, blocks, *min_time, *max_time, *level).await,
            Job::Downsample { block, step_ms } => self.downsample(base, block, *step_ms).await,
            Job::Retire { blocks } => self.retire(base, blocks).await,
            Job::DeleteDue { entries } => self.delete_due(base, entries).await,
            Job::Rewrite { blocks } => self.rewrite(base, blocks).await,
            Job::DropTombstones { ids } => {
                let ids: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
                Ok(JobOutcome {
                    committed: self
                        .commit(base, |c| {
                            c.tombstones.retain(|t| !ids.contains(t.id.as_str()))
                        })
                        .await?,
                    ..JobOutcome::default()
                })
            }
            Job::DeleteOrphans { blocks } => {
                let mut out = JobOutcome::default();
                for id in blocks {
                    self.bucket.delete(&self.block_key(id)?.path()).await?;
                    out.objects_deleted += 1;
                }
                out.committed = true;
                Ok(out)
            }
        }
    }

    fn block_key(&self, id: &str) -> Result<BlockKey> {
        let ulid = Ulid::from_string(id)
            .map_err(|e| CompactorError::Catalog(format!("block id {id:?} is not a ULID: {e}")))?;
        Ok(BlockKey::new(self.tenant.clone(), ulid))
    }

    fn options(&self, min_time: i64, max_time: i64) -> BlockOptions {
        // About 120 samples per chunk at a 15 s interval for 2 h blocks,
        // 12 chunk columns for 24 h blocks.
        let width = max_time - min_time;
        BlockOptions {
            chunk_width_ms: (width / 12).max(30 * 60_000).min(width.max(1)),
            ..BlockOptions::default()
        }
    }

    /// Block options of a rollup at `step_ms`: chunk sub-ranges of about 120
    /// points (a whole day of 1 h points, 10 h of 5 m ones), as raw
    /// chunks hold about 120 samples. Every cell carries a header (count,
    /// first time, frames) and a rollup point is eight cells, so the 2 h
    /// sub-ranges of raw day blocks would spend most of a 1 h rollup's
    /// bytes on headers of two-point cells.
    fn rollup_options(&self, min_time: i64, max_time: i64, step_ms: i64) -> BlockOptions {
        let width = (max_time - min_time).max(1);
        BlockOptions {
            chunk_width_ms: step_ms.saturating_mul(120).max(30 * 60_000).min(width),
            ..BlockOptions::default()
        }
    }

    /// Encodes, checks and writes one raw block.
    async fn write_raw(
        &self,
        series: &SeriesMap,
        min_time: i64,
        max_time: i64,
        level: u8,
        out: &mut JobOutcome,
    ) -> Result<BlockEntry> {
        let samples: u64 = series.values().map(|s| s.len() as u64).sum();
        let opts = self.options(min_time, max_time);
        let bytes = stratus_block::write_raw_block(
            self.tenant,
            min_time,
            max_time,
            series.iter().map(|(l, s)| (l, s.as_slice())),
            &opts,
        )?;
        // The block must read back as what was written.
        let (info, read) = stratus_block::read_all(&bytes)?;
        let read_samples: u64 = read.iter().map(|(_, s)| s.len() as u64).sum();
        if read.len() != series.len() || read_samples != samples || info.num_samples != samples {
            return Err(CompactorError::Verify(format!(
                "block for [{min_time}, {max_time}) reads back {} series / {read_samples} samples, wrote {} / {samples}",
                read.len(),
                series.len()
            )));
        }
        let id = new_id();
        self.put_checked(
            &BlockKey::new(self.tenant.clone(), id).path(),
            bytes.clone(),
        )
        .await?;
        out.blocks_written += 1;
        out.bytes_written += bytes.len() as u64;
        out.samples_written += samples;
        Ok(BlockEntry {
            id: id.to_string(),
            level,
            resolution_ms: 0,
            min_time,
            max_time,
            series: series.len() as u64,
            samples,
            bytes: bytes.len() as u64,
            source: None,
            edges: false,
        })
    }

    /// Writes an object and checks that the bucket holds all of it.
    async fn put_checked(&self, key: &ObjectPath, bytes: Vec<u8>) -> Result<()> {
        let len = bytes.len() as u64;
        self.bucket.put(key, Bytes::from(bytes)).await?;
        let head = self.bucket.head(key).await?;
        if head.size != len {
            return Err(CompactorError::Verify(format!(
                "{key} is {} bytes in the bucket, {len} were written",
                head.size
            )));
        }
        Ok(())
    }

    /// Commits `change` applied to the catalog read as `base`.
    async fn commit(&self, base: &Versioned, change: impl FnOnce(&mut Catalog)) -> Result<bool> {
        let mut next = base.catalog.clone();
        change(&mut next);
        next.generation = base.catalog.generation + 1;
        next.updated_ms = self.now_ms;
        match catalog::commit(self.bucket, self.tenant, base, &next).await {
            Ok(_) => Ok(true),
            Err(CommitError::Conflict { .. }) => {
                info!(tenant = %self.tenant, "catalog changed during the job; it will be planned again");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes what the delete requests cover.
    fn apply_tombstones(tombstones: &[CompiledTombstone], series: &mut SeriesMap) {
        for t in tombstones {
            for (labels, samples) in series.iter_mut() {
                t.apply(labels, samples);
            }
        }
        series.retain(|_, s| !s.is_empty());
    }

    async fn rewrite(&self, base: &Versioned, ids: &[String]) -> Result<JobOutcome> {
        let mut out = JobOutcome::default();
        if !Self::all_live(&base.catalog, ids) {
            return Ok(out);
        }
        let tombstones = base.catalog.compiled_tombstones();
        let mut added = Vec::new();
        for id in ids {
            let Some(entry) = base.catalog.blocks.iter().find(|b| &b.id == id) else {
                continue;
            };
            let (bytes, _) = self.bucket.get(&self.block_key(id)?.path()).await?;
            out.bytes_read += bytes.len() as u64;
            if entry.resolution_ms == 0 {
                let (_, read) = stratus_block::read_all(&bytes)?;
                let mut series: SeriesMap = read.into_iter().collect();
                Self::apply_tombstones(&tombstones, &mut series);
                if !series.is_empty() {
                    added.push(
                        self.write_raw(
                            &series,
                            entry.min_time,
                            entry.max_time,
                            entry.level,
                            &mut out,
                        )
                        .await?,
                    );
                }
            } else {
                let (_, mut read) = stratus_block::read_all_downsampled(&bytes)?;
                for t in &tombstones {
                    for (labels, points) in read.iter_mut() {
                        if t.covers(labels) {
                            // A window is dropped when the part of it its
                            // point summarises, (end - step, t], overlaps the range.
                            let step = entry.resolution_ms;
                            points.retain(|p| {
                                p.t < t.min_time
                                    || stratus_block::window_end(p.t, step) - step >= t.max_time
                            });
                        }
                    }
                }
                read.retain(|(_, p)| !p.is_empty());
                if !read.is_empty() {
                    added.push(
                        self.write_rollup(entry, entry.resolution_ms, read, &mut out)
                            .await?,
                    );
                }
            }
        }
        out.committed = self.replace_blocks(base, ids, added).await?;
        Ok(out)
    }

    /// Commits `added` in place of the blocks `ids`, which are put up for
    /// deletion after the delete delay. False on a catalog conflict.
    async fn replace_blocks(
        &self,
        base: &Versioned,
        ids: &[String],
        added: Vec<BlockEntry>,
    ) -> Result<bool> {
        let due = self.delete_later();
        self.commit(base, |c| {
            c.blocks.retain(|b| !ids.contains(&b.id));
            c.blocks.extend(added);
            for id in ids {
                c.pending_deletes.push(PendingDelete::Block {
                    id: id.clone(),
                    due_ms: due,
                });
            }
        })
        .await
    }

    fn delete_later(&self) -> i64 {
        self.now_ms + ms(self.cfg.delete_delay)
    }

    async fn compact_segments(
        &self,
        base: &Versioned,
        segments: &[SegmentRef],
        from: i64,
        to: i64,
    ) -> Result<JobOutcome> {
        let mut out = JobOutcome::default();
        if base.catalog.segment_watermark_ms != from {
            return Ok(out);
        }
        // Oldest first, so a later segment wins on equal timestamps.
        let mut series: SeriesMap = BTreeMap::new();
        let mut metadata: BTreeMap<String, stratus_model::MetricMetadata> = BTreeMap::new();
        for s in segments {
            // The key as listed, already escaped: parsed, not built again
            // (`ObjectPath::from` would escape the `%` of `%2A`).
            let key = ObjectPath::parse(s.key.as_str())
                .map_err(|e| CompactorError::Corrupt(format!("segment key {}: {e}", s.key)))?;
            let (bytes, _) = self.bucket.get(&key).await?;
            out.bytes_read += bytes.len() as u64;
            let seg = decode_segment(&bytes)
                .map_err(|e| CompactorError::Corrupt(format!("{}: {e}", s.key)))?;
            for ser in seg.series {
                merge_newer(series.entry(ser.labels).or_default(), &ser.samples);
            }
            for md in seg.metadata {
                metadata.insert(md.metric_family.clone(), md);
            }
            out.segments_compacted += 1;
        }
        Self::apply_tombstones(&base.catalog.compiled_tombstones(), &mut series);
        let range = ms(self.cfg.block_range);
        let mut windows: BTreeMap<i64, SeriesMap> = BTreeMap::new();
        for (labels, samples) in series {
            let mut rest: &[Sample] = &samples;
            while let Some(first) = rest.first() {
                let start = first.t - first.t.rem_euclid(range);
                let n = rest.partition_point(|s| s.t < start + range);
                windows
                    .entry(start)
                    .or_default()
                    .insert(labels.clone(), rest[..n].to_vec());
                rest = &rest[n..];
            }
        }
        let mut entries = Vec::new();
        for (start, w) in &windows {
            entries.push(
                self.write_raw(w, *start, start + range, 1, &mut out)
                    .await?,
            );
        }
        let due = self.delete_later();
        out.committed = self
            .commit(base, |c| {
                c.blocks.extend(entries);
                c.segment_watermark_ms = to;
                for md in c.metadata.drain(..) {
                    metadata.entry(md.metric_family.clone()).or_insert(md);
                }
                c.metadata = metadata.into_values().collect();
                c.pending_deletes.push(PendingDelete::SegmentsBefore {
                    before_ms: to,
                    due_ms: due,
                });
                crate::pack::retire_packs(c, to, due);
            })
            .await?;
        debug!(tenant = %self.tenant, segments = segments.len(), blocks = windows.len(), "segments compacted");
        Ok(out)
    }

    /// Reads whole blocks, later ids winning, into one series map.
    async fn read_blocks(&self, ids: &[String], out: &mut JobOutcome) -> Result<SeriesMap> {
        let mut sorted: Vec<&String> = ids.iter().collect();
        sorted.sort();
        let mut series: SeriesMap = BTreeMap::new();
        for id in sorted {
            let (bytes, _) = self.bucket.get(&self.block_key(id)?.path()).await?;
            out.bytes_read += bytes.len() as u64;
            let (_, read) = stratus_block::read_all(&bytes)?;
            for (labels, samples) in read {
                merge_newer(series.entry(labels).or_default(), &samples);
            }
        }
        Ok(series)
    }

    fn all_live(c: &Catalog, ids: &[String]) -> bool {
        ids.iter().all(|id| c.blocks.iter().any(|b| &b.id == id))
    }

    async fn merge(
        &self,
        base: &Versioned,
        ids: &[String],
        min_time: i64,
        max_time: i64,
        level: u8,
    ) -> Result<JobOutcome> {
        let mut out = JobOutcome::default();
        if !Self::all_live(&base.catalog, ids) {
            return Ok(out);
        }
        let series = self.read_blocks(ids, &mut out).await?;
        let entry = self
            .write_raw(&series, min_time, max_time, level, &mut out)
            .await?;
        out.committed = self.replace_blocks(base, ids, vec![entry]).await?;
        Ok(out)
    }

    async fn downsample(&self, base: &Versioned, id: &str, step_ms: i64) -> Result<JobOutcome> {
        let mut out = JobOutcome::default();
        let Some(source) = base.catalog.blocks.iter().find(|b| b.id == id).cloned() else {
            return Ok(out);
        };
        let series = self.read_blocks(&[id.to_string()], &mut out).await?;
        let aggregated: Vec<(Labels, Vec<stratus_block::AggrPoint>)> = series
            .into_iter()
            .map(|(l, s)| {
                let a = stratus_block::downsample(&s, step_ms);
                (l, a)
            })
            .filter(|(_, a)| !a.is_empty())
            .collect();
        let mut entry = self
            .write_rollup(&source, step_ms, aggregated, &mut out)
            .await?;
        entry.source = Some(id.to_string());
        out.committed = self
            .commit(base, |c| {
                if c.blocks.iter().any(|b| b.id == id) {
                    c.blocks.push(entry);
                }
            })
            .await?;
        Ok(out)
    }

    /// Writes a rollup at `step_ms` covering the range of `like`, with its
    /// level and source (callers may change the source).
    async fn write_rollup(
        &self,
        like: &BlockEntry,
        step_ms: i64,
        aggregated: Vec<(Labels, Vec<stratus_block::AggrPoint>)>,
        out: &mut JobOutcome,
    ) -> Result<BlockEntry> {
        let opts = self.rollup_options(like.min_time, like.max_time, step_ms);
        let bytes = stratus_block::write_downsampled_block(
            self.tenant,
            like.min_time,
            like.max_time,
            step_ms,
            aggregated.iter().map(|(l, a)| (l, a.as_slice())),
            &opts,
        )?;
        let info = stratus_block::inspect(&bytes)?.info;
        if info.resolution != (Resolution::Downsampled { step_ms }) {
            return Err(CompactorError::Verify(format!(
                "rollup of [{}, {}) does not read back as a {step_ms} ms rollup",
                like.min_time, like.max_time
            )));
        }
        let new = new_id();
        self.put_checked(
            &BlockKey::new(self.tenant.clone(), new).path(),
            bytes.clone(),
        )
        .await?;
        out.blocks_written += 1;
        out.bytes_written += bytes.len() as u64;
        out.rollup_points_written += info.num_samples;
        Ok(BlockEntry {
            id: new.to_string(),
            level: like.level,
            resolution_ms: step_ms,
            min_time: like.min_time,
            max_time: like.max_time,
            series: aggregated.len() as u64,
            samples: info.num_samples,
            bytes: bytes.len() as u64,
            source: like.source.clone(),
            edges: info.has_edges(),
        })
    }

    async fn retire(&self, base: &Versioned, ids: &[String]) -> Result<JobOutcome> {
        Ok(JobOutcome {
            committed: self.replace_blocks(base, ids, Vec::new()).await?,
            ..JobOutcome::default()
        })
    }

    async fn delete_due(&self, base: &Versioned, entries: &[PendingDelete]) -> Result<JobOutcome> {
        let mut out = JobOutcome::default();
        for e in entries {
            match e {
                PendingDelete::Block { id, .. } => {
                    self.bucket.delete(&self.block_key(id)?.path()).await?;
                    out.objects_deleted += 1;
                }
                PendingDelete::Pack { id, .. } => {
                    let id = ulid::Ulid::from_string(id)
                        .map_err(|e| CompactorError::Corrupt(format!("pack id {id:?}: {e}")))?;
                    let key = stratus_storage::PackKey::new(self.tenant.clone(), id).path();
                    self.bucket.delete(&key).await?;
                    out.objects_deleted += 1;
                }
                PendingDelete::SegmentsBefore { before_ms, .. } => {
                    for o in self.bucket.list(&segments_prefix(self.tenant)).await? {
                        let Some(k) = SegmentKey::parse(&o.key) else {
                            continue;
                        };
                        if (k.id().timestamp_ms() as i64) < *before_ms {
                            self.bucket.delete(&o.key).await?;
                            out.objects_deleted += 1;
                        }
                    }
                }
            }
        }
        out.committed = self
            .commit(base, |c| c.pending_deletes.retain(|d| !entries.contains(d)))
            .await?;
        Ok(out)
    }
}
