//! The planner: a pure function from a tenant's catalog, the objects in
//! the bucket and the current time to the jobs that bring the bucket
//! closer to its target shape. No IO; the executor does the work.

use std::collections::{BTreeMap, HashSet};

use stratus_codec::{BlockEntry, Catalog, PendingDelete};

use crate::config::{ms, CompactorConfig, DOWNSAMPLE_STEPS_MS};

/// A segment as listed: its key, the time in its ULID, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    pub key: String,
    pub ulid_ms: i64,
    pub bytes: u64,
}

/// A block object in the bucket, referenced by the catalog or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockObject {
    pub id: String,
    pub ulid_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Write the samples of these segments (every segment with a ULID time
    /// in `[catalog watermark, watermark_to)`) as level-1 blocks, then move
    /// the watermark to `watermark_to`.
    CompactSegments {
        segments: Vec<SegmentRef>,
        watermark_from: i64,
        watermark_to: i64,
    },
    /// Merge raw blocks of one aligned range into one block of `level`.
    Merge {
        blocks: Vec<String>,
        min_time: i64,
        max_time: i64,
        level: u8,
    },
    /// Make a rollup of a raw 24 h block.
    Downsample { block: String, step_ms: i64 },
    /// Stop pointing at blocks past retention (deleted after the delay).
    Retire { blocks: Vec<String> },
    /// Delete objects whose delay has passed, then forget them.
    DeleteDue { entries: Vec<PendingDelete> },
    /// Delete blocks no catalog points at.
    DeleteOrphans { blocks: Vec<String> },
    /// Write these blocks again without what the tombstones cover (every
    /// tombstone of the catalog is applied to each).
    Rewrite { blocks: Vec<String> },
    /// Forget delete requests that every block already applies.
    DropTombstones { ids: Vec<String> },
}

/// The time in a block id (a ULID); 0 for ids that are not ULIDs.
pub fn id_ms(id: &str) -> i64 {
    ulid::Ulid::from_string(id).map_or(0, |u| u.timestamp_ms() as i64)
}

fn align_down(t: i64, step: i64) -> i64 {
    t - t.rem_euclid(step)
}

/// Plans the next jobs for one tenant as of `now_ms`. Jobs touching the
/// catalog come first in the order the executor should run them.
pub fn plan(
    catalog: &Catalog,
    segments: &[SegmentRef],
    blocks_in_bucket: &[BlockObject],
    now_ms: i64,
    cfg: &CompactorConfig,
) -> Vec<Job> {
    plan_at(catalog, segments, blocks_in_bucket, now_ms, now_ms, cfg)
}

/// [`plan`], with segments judged old enough by `segments_now_ms`: a
/// segment's age is its write time (ULID) against the wall clock, while
/// merges, rollups and retention go by `now_ms`, the time the pass runs as
/// (`stratus compactor --once --now T`, a day after backfilled data, still
/// compacts the segments written just now).
pub fn plan_at(
    catalog: &Catalog,
    segments: &[SegmentRef],
    blocks_in_bucket: &[BlockObject],
    now_ms: i64,
    segments_now_ms: i64,
    cfg: &CompactorConfig,
) -> Vec<Job> {
    let mut jobs = Vec::new();

    // Deletions that are due.
    let due: Vec<PendingDelete> = catalog
        .pending_deletes
        .iter()
        .filter(|d| d.due_ms() <= now_ms)
        .cloned()
        .collect();
    if !due.is_empty() {
        jobs.push(Job::DeleteDue { entries: due });
    }

    // Orphans: blocks nothing points at, old enough that no compactor can
    // still be about to commit them.
    let live: HashSet<&str> = catalog.blocks.iter().map(|b| b.id.as_str()).collect();
    let pending: HashSet<&str> = catalog
        .pending_deletes
        .iter()
        .filter_map(|d| match d {
            PendingDelete::Block { id, .. } => Some(id.as_str()),
            PendingDelete::SegmentsBefore { .. } | PendingDelete::Pack { .. } => None,
        })
        .collect();
    let orphans: Vec<String> = blocks_in_bucket
        .iter()
        .filter(|b| !live.contains(b.id.as_str()) && !pending.contains(b.id.as_str()))
        .filter(|b| b.ulid_ms + ms(cfg.orphan_delay) <= now_ms)
        .map(|b| b.id.clone())
        .collect();
    if !orphans.is_empty() {
        jobs.push(Job::DeleteOrphans { blocks: orphans });
    }

    // Segments: everything between the watermark and the grace cutoff.
    let cutoff = segments_now_ms - ms(cfg.segment_grace);
    let mut todo: Vec<&SegmentRef> = segments
        .iter()
        .filter(|s| s.ulid_ms >= catalog.segment_watermark_ms && s.ulid_ms < cutoff)
        .collect();
    todo.sort_by(|a, b| a.key.cmp(&b.key));
    if !todo.is_empty() {
        let limit = cfg.max_segments_per_job.max(1);
        let (take, to) = if todo.len() <= limit {
            // Never past the newest segment seen: a compactor whose clock
            // runs ahead must not hide segments written after this pass.
            let last = todo[todo.len() - 1].ulid_ms;
            (todo.len(), cutoff.min(last + 1))
        } else {
            // Never split one millisecond: the watermark is a time.
            let mut n = limit;
            while n < todo.len() && todo[n].ulid_ms == todo[n - 1].ulid_ms {
                n += 1;
            }
            (n, todo.get(n).map_or(cutoff, |s| s.ulid_ms))
        };
        jobs.push(Job::CompactSegments {
            segments: todo[..take].iter().map(|s| (*s).clone()).collect(),
            watermark_from: catalog.segment_watermark_ms,
            watermark_to: to,
        });
    }

    let raw: Vec<&BlockEntry> = catalog
        .blocks
        .iter()
        .filter(|b| b.resolution_ms == 0)
        .collect();

    // Merges within one block range (2 h), then into 24 h.
    let range = ms(cfg.block_range);
    let big = ms(cfg.max_block_range);
    let mut by_range: BTreeMap<i64, Vec<&BlockEntry>> = BTreeMap::new();
    for b in raw.iter().filter(|b| b.max_time - b.min_time <= range) {
        by_range
            .entry(align_down(b.min_time, range))
            .or_default()
            .push(b);
    }
    let mut merging: HashSet<&str> = HashSet::new();
    for (start, blocks) in &by_range {
        let end = start + range;
        let settled = end + ms(cfg.merge_delay) <= now_ms;
        if blocks.len() >= 2 && (settled || blocks.len() >= cfg.merge_count) {
            merging.extend(blocks.iter().map(|b| b.id.as_str()));
            jobs.push(Job::Merge {
                blocks: blocks.iter().map(|b| b.id.clone()).collect(),
                min_time: *start,
                max_time: end,
                level: 2,
            });
        }
    }
    let mut by_day: BTreeMap<i64, Vec<&BlockEntry>> = BTreeMap::new();
    for b in raw.iter().filter(|b| !merging.contains(b.id.as_str())) {
        by_day
            .entry(align_down(b.min_time, big))
            .or_default()
            .push(b);
    }
    for (start, blocks) in &by_day {
        let end = start + big;
        let settled = end + ms(cfg.merge_delay) <= now_ms;
        // Merge into one day block once the day is settled and every 2 h
        // range in it is down to one block.
        let single_per_range = blocks.iter().all(|b| {
            b.max_time - b.min_time > range
                || by_range
                    .get(&align_down(b.min_time, range))
                    .is_none_or(|v| v.len() == 1)
        });
        if settled
            && single_per_range
            && (blocks.len() >= 2 || blocks.iter().any(|b| b.max_time - b.min_time < big))
        {
            jobs.push(Job::Merge {
                blocks: blocks.iter().map(|b| b.id.clone()).collect(),
                min_time: *start,
                max_time: end,
                level: 3,
            });
        }
    }

    // Rollups of day blocks.
    if cfg.downsample {
        for b in raw.iter().filter(|b| b.level == 3) {
            for step in DOWNSAMPLE_STEPS_MS {
                let exists = catalog
                    .blocks
                    .iter()
                    .any(|d| d.resolution_ms == step && d.source.as_deref() == Some(b.id.as_str()));
                if !exists {
                    jobs.push(Job::Downsample {
                        block: b.id.clone(),
                        step_ms: step,
                    });
                }
            }
        }
    }

    // Delete requests: once the segments from before a request are in
    // blocks, rewrite the blocks written before it; then forget it. A
    // rewrite applies every request, so all the blocks any request needs
    // rewritten make one job, and all requests applied everywhere are
    // forgotten in one: a backlog takes two commits, not two per request.
    let mut rewrite: Vec<String> = Vec::new();
    let mut rewriting: HashSet<&str> = HashSet::new();
    let mut applied: Vec<String> = Vec::new();
    for t in &catalog.tombstones {
        // Wait until every segment written before the request is in blocks
        // (and any still uploading then would be visible by now).
        let uncompacted_before = segments
            .iter()
            .any(|s| s.ulid_ms >= catalog.segment_watermark_ms && s.ulid_ms <= t.created_ms);
        if uncompacted_before || t.created_ms >= cutoff {
            continue;
        }
        let stale: Vec<&BlockEntry> = catalog
            .blocks
            .iter()
            .filter(|b| {
                b.min_time <= t.max_time && b.max_time > t.min_time && id_ms(&b.id) <= t.created_ms
            })
            // Rollups of a live raw block are made again from its rewrite.
            .filter(|b| {
                b.resolution_ms == 0 || b.source.as_deref().is_none_or(|s| !live.contains(s))
            })
            .collect();
        let waiting = catalog.blocks.iter().any(|b| {
            b.min_time <= t.max_time && b.max_time > t.min_time && id_ms(&b.id) <= t.created_ms
        });
        if !stale.is_empty() {
            for b in stale {
                if rewriting.insert(b.id.as_str()) {
                    rewrite.push(b.id.clone());
                }
            }
        } else if !waiting {
            applied.push(t.id.clone());
        }
    }
    if !rewrite.is_empty() {
        jobs.push(Job::Rewrite { blocks: rewrite });
    }
    if !applied.is_empty() {
        jobs.push(Job::DropTombstones { ids: applied });
    }

    // Retention, and rollups whose raw source was replaced.
    let mut retire: Vec<String> = Vec::new();
    for b in &catalog.blocks {
        let keep = if b.resolution_ms == 0 {
            cfg.retention_raw
        } else {
            cfg.retention_downsampled
        };
        let expired = !keep.is_zero() && b.max_time <= now_ms - ms(keep);
        let orphaned_rollup = b.resolution_ms != 0
            && b.source.as_deref().is_some_and(|s| !live.contains(s))
            && (cfg.retention_raw.is_zero() || b.max_time > now_ms - ms(cfg.retention_raw));
        if expired || orphaned_rollup {
            retire.push(b.id.clone());
        }
    }
    if !retire.is_empty() {
        jobs.push(Job::Retire { blocks: retire });
    }
    jobs
}

#[cfg(test)]
mod tests;
