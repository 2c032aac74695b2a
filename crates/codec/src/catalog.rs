//! The per-tenant catalog: which blocks are live, up to where segments are
//! compacted, what is waiting to be deleted, and the delete requests. It is
//! only ever replaced with a conditional write, so two compactors can never
//! both commit from the same state. Layout: `docs/format/catalog.md`.
//!
//! ```text
//! magic "STCT" | version u8 = 1 or 2 | flags u8 = 0 | JSON body | crc32c u32 LE | magic "STCT"
//! ```

use serde::{Deserialize, Serialize};
use stratus_model::MetricMetadata;

use crate::error::{CodecError, Result};

pub const CATALOG_MAGIC: [u8; 4] = *b"STCT";
/// The newest version this build reads and writes. A catalog is written
/// with the lowest version that holds it: version 1 without packs, so
/// readers of version 1 keep working until the first pack or rollup with
/// window edges (ADRs 0033, 0034).
pub const CATALOG_VERSION: u8 = 2;

/// What one tenant's data consists of, besides the segments above the
/// watermark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Incremented by every update.
    pub generation: u64,
    /// When the update was made (ms).
    pub updated_ms: i64,
    /// Every segment whose ULID time is below this (ms) is in the blocks
    /// below (or was empty). Readers read only segments at or above it.
    pub segment_watermark_ms: i64,
    pub blocks: Vec<BlockEntry>,
    pub pending_deletes: Vec<PendingDelete>,
    pub tombstones: Vec<Tombstone>,
    /// Metric metadata carried over from compacted segments, one entry per
    /// metric family (the latest seen).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MetricMetadata>,
    /// Segment packs at or above the watermark, oldest first (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<PackEntry>,
}

/// A segment pack: segments of the tenant merged into one indexed object
/// (`tenants/<tenant>/packs/<id>.pack`, segment format version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackEntry {
    /// ULID of the pack object.
    pub id: String,
    /// ULIDs of the first and last segment it holds.
    pub first: String,
    pub last: String,
    /// How many segments it holds: every listed segment from `first` to
    /// `last` when a listing shows that many there; else the pack's index
    /// lists them.
    pub segments: u64,
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    /// Where the index starts; the index and trailer run to the end.
    pub index_offset: u64,
    pub index_len: u64,
}

/// One live block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockEntry {
    /// ULID; later ids win over earlier ones on equal series and timestamp.
    pub id: String,
    /// 1: from segments; 2: merged blocks of one 2 h range; 3: a 24 h block.
    pub level: u8,
    /// 0 for raw samples, else the downsampling step (ms).
    pub resolution_ms: i64,
    /// The block covers `[min_time, max_time)` (ms).
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    /// For downsampled blocks: the raw block they were made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For downsampled blocks: each window keeps its edges (first sample,
    /// span, drops; block format version 3), which make `rate`,
    /// `increase` and `delta` over whole windows exact. False for rollups
    /// written before (version 2) and for raw blocks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edges: bool,
}

/// An object to delete once `due_ms` has passed (so queries that listed
/// it still find it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PendingDelete {
    Block {
        id: String,
        due_ms: i64,
    },
    /// Every segment whose ULID time is below `before_ms`.
    SegmentsBefore {
        before_ms: i64,
        due_ms: i64,
    },
    /// A segment pack (version 2).
    Pack {
        id: String,
        due_ms: i64,
    },
}

impl PendingDelete {
    pub fn due_ms(&self) -> i64 {
        match self {
            PendingDelete::Block { due_ms, .. }
            | PendingDelete::SegmentsBefore { due_ms, .. }
            | PendingDelete::Pack { due_ms, .. } => *due_ms,
        }
    }
}

/// A delete request: the series matching every matcher lose their samples
/// in `[min_time, max_time]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    pub id: String,
    pub matchers: Vec<TombstoneMatcher>,
    pub min_time: i64,
    pub max_time: i64,
    pub created_ms: i64,
}

/// One label matcher of a delete request; `op` is `=`, `!=`, `=~` or `!~`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TombstoneMatcher {
    pub name: String,
    pub op: String,
    pub value: String,
}

impl Tombstone {
    /// The matchers as label matchers; `None` if one cannot be compiled.
    pub fn label_matchers(&self) -> Option<Vec<stratus_model::LabelMatcher>> {
        use stratus_model::LabelMatcher;
        self.matchers
            .iter()
            .map(|m| match m.op.as_str() {
                "=" => Some(LabelMatcher::equal(&m.name, &m.value)),
                "!=" => Some(LabelMatcher::not_equal(&m.name, &m.value)),
                "=~" => LabelMatcher::regex(&m.name, &m.value, false).ok(),
                "!~" => LabelMatcher::regex(&m.name, &m.value, true).ok(),
                _ => None,
            })
            .collect()
    }
}

/// A delete request with its matchers compiled. Regexes are costly to
/// build, so readers compile the requests once per catalog they read
/// ([`Catalog::compiled_tombstones`]), not per series, segment or block.
#[derive(Debug, Clone)]
pub struct CompiledTombstone {
    pub min_time: i64,
    pub max_time: i64,
    pub matchers: Vec<stratus_model::LabelMatcher>,
}

impl CompiledTombstone {
    /// Whether the request covers part of `[min, max]`.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.min_time <= max && self.max_time >= min
    }

    /// Whether the request is about this series.
    pub fn covers(&self, labels: &stratus_model::Labels) -> bool {
        stratus_model::matches_all(&self.matchers, labels)
    }

    /// Removes the samples this request covers from a series.
    pub fn apply(&self, labels: &stratus_model::Labels, samples: &mut Vec<stratus_model::Sample>) {
        if self.covers(labels) {
            samples.retain(|s| s.t < self.min_time || s.t > self.max_time);
        }
    }
}

impl Catalog {
    /// The delete requests, compiled; requests whose matchers do not
    /// compile are left out (they were accepted by a parser that compiled
    /// them, so this only drops what no reader can apply).
    pub fn compiled_tombstones(&self) -> Vec<CompiledTombstone> {
        self.tombstones
            .iter()
            .filter_map(|t| {
                Some(CompiledTombstone {
                    min_time: t.min_time,
                    max_time: t.max_time,
                    matchers: t.label_matchers()?,
                })
            })
            .collect()
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let body =
            serde_json::to_vec(self).map_err(|e| CodecError::Catalog(format!("encoding: {e}")))?;
        let mut out = Vec::with_capacity(body.len() + 14);
        out.extend_from_slice(&CATALOG_MAGIC);
        out.push(if self.fits_version_1() {
            1
        } else {
            CATALOG_VERSION
        });
        out.push(0);
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&CATALOG_MAGIC);
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Catalog> {
        let bad = |m: String| CodecError::Catalog(m);
        if bytes.len() < 14 {
            return Err(bad(format!(
                "catalog is {} bytes, at least 14 expected",
                bytes.len()
            )));
        }
        if bytes[..4] != CATALOG_MAGIC || bytes[bytes.len() - 4..] != CATALOG_MAGIC {
            return Err(bad(
                "bad catalog magic: expected \"STCT\" at both ends".into()
            ));
        }
        if !(1..=CATALOG_VERSION).contains(&bytes[4]) {
            return Err(bad(format!(
                "unsupported catalog version {} (this build reads versions 1 to {CATALOG_VERSION})",
                bytes[4]
            )));
        }
        if bytes[5] != 0 {
            return Err(bad(format!("unsupported catalog flags {:#04x}", bytes[5])));
        }
        let crc_at = bytes.len() - 8;
        let mut stored = [0u8; 4];
        stored.copy_from_slice(&bytes[crc_at..crc_at + 4]);
        let stored = u32::from_le_bytes(stored);
        let computed = crc32c::crc32c(&bytes[..crc_at]);
        if stored != computed {
            return Err(bad(format!(
                "catalog checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            )));
        }
        let catalog: Catalog = serde_json::from_slice(&bytes[6..crc_at])
            .map_err(|e| bad(format!("catalog body is not valid: {e}")))?;
        if bytes[4] == 1 && !catalog.fits_version_1() {
            return Err(bad(
                "a version 1 catalog names segment packs or rollups with window edges, which only version 2 holds".into(),
            ));
        }
        Ok(catalog)
    }

    /// Whether version 1 holds everything in the catalog: no packs and no
    /// rollup with window edges (fields version 1 readers refuse).
    fn fits_version_1(&self) -> bool {
        self.packs.is_empty()
            && !self.blocks.iter().any(|b| b.edges)
            && !self
                .pending_deletes
                .iter()
                .any(|d| matches!(d, PendingDelete::Pack { .. }))
    }

    /// Blocks of a resolution overlapping `[min, max]`, oldest id first.
    pub fn blocks_overlapping(&self, resolution_ms: i64, min: i64, max: i64) -> Vec<&BlockEntry> {
        let mut v: Vec<&BlockEntry> = self
            .blocks
            .iter()
            .filter(|b| b.resolution_ms == resolution_ms && b.min_time <= max && b.max_time > min)
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Catalog {
        Catalog {
            generation: 3,
            updated_ms: 1_700_000_000_000,
            segment_watermark_ms: 1_699_999_000_000,
            blocks: vec![BlockEntry {
                id: "01HZZZZZZZZZZZZZZZZZZZZZZZ".into(),
                level: 1,
                resolution_ms: 0,
                min_time: 0,
                max_time: 7_200_000,
                series: 10,
                samples: 4800,
                bytes: 12_345,
                source: None,
                edges: false,
            }],
            pending_deletes: vec![
                PendingDelete::Block {
                    id: "01HAAAAAAAAAAAAAAAAAAAAAAA".into(),
                    due_ms: 5,
                },
                PendingDelete::SegmentsBefore {
                    before_ms: 4,
                    due_ms: 6,
                },
            ],
            tombstones: vec![Tombstone {
                id: "01HBBBBBBBBBBBBBBBBBBBBBBB".into(),
                matchers: vec![TombstoneMatcher {
                    name: "job".into(),
                    op: "=~".into(),
                    value: "x.*".into(),
                }],
                min_time: 0,
                max_time: 10,
                created_ms: 1,
            }],
            metadata: vec![],
            packs: vec![],
        }
    }

    fn pack() -> PackEntry {
        PackEntry {
            id: "01HCCCCCCCCCCCCCCCCCCCCCCC".into(),
            first: "01HDDDDDDDDDDDDDDDDDDDDDDD".into(),
            last: "01HEEEEEEEEEEEEEEEEEEEEEEE".into(),
            segments: 12,
            min_time: 1,
            max_time: 2,
            series: 3,
            samples: 4,
            bytes: 500,
            index_offset: 400,
            index_len: 100,
        }
    }

    #[test]
    fn the_lowest_version_that_holds_it_is_written() {
        // Without packs: version 1, as every earlier build wrote and reads.
        let v1 = sample().encode().expect("encode");
        assert_eq!(v1[4], 1);
        let mut with_pack = sample();
        with_pack.packs.push(pack());
        let v2 = with_pack.encode().expect("encode");
        assert_eq!(v2[4], 2);
        assert_eq!(Catalog::decode(&v2), Ok(with_pack.clone()));
        // A pending pack delete needs version 2 too.
        let mut pending = sample();
        pending.pending_deletes.push(PendingDelete::Pack {
            id: "01HCCCCCCCCCCCCCCCCCCCCCCC".into(),
            due_ms: 9,
        });
        assert_eq!(pending.encode().expect("encode")[4], 2);
        // So does a rollup with window edges (block version 3).
        let mut edges = sample();
        edges.blocks[0].edges = true;
        assert_eq!(edges.encode().expect("encode")[4], 2);
        // A version 1 catalog naming packs is refused (re-sealed so the
        // checksum holds).
        let mut forged = v2[..v2.len() - 8].to_vec();
        forged[4] = 1;
        let crc = crc32c::crc32c(&forged);
        forged.extend_from_slice(&crc.to_le_bytes());
        forged.extend_from_slice(&CATALOG_MAGIC);
        let err = Catalog::decode(&forged)
            .expect_err("v1 with packs")
            .to_string();
        assert!(err.contains("version 2"), "{err}");
    }

    #[test]
    fn round_trip() {
        let c = sample();
        assert_eq!(Catalog::decode(&c.encode().expect("encode")), Ok(c));
        assert_eq!(
            Catalog::decode(&Catalog::default().encode().expect("encode")),
            Ok(Catalog::default())
        );
    }

    #[test]
    fn block_entries_mark_rollups_with_edges_only_when_they_have_them() {
        let raw = sample().blocks[0].clone();
        let json = serde_json::to_string(&raw).expect("json");
        // Entries written before `edges` existed read as without edges,
        // and entries without edges are written as before.
        assert!(!json.contains("edges"), "{json}");
        assert_eq!(
            serde_json::from_str::<BlockEntry>(&json).expect("entry"),
            raw
        );
        let rollup = BlockEntry {
            resolution_ms: 300_000,
            source: Some(raw.id.clone()),
            edges: true,
            ..raw
        };
        let json = serde_json::to_string(&rollup).expect("json");
        assert!(json.contains("\"edges\":true"), "{json}");
        assert_eq!(
            serde_json::from_str::<BlockEntry>(&json).expect("entry"),
            rollup
        );
        let mut c = sample();
        c.blocks.push(rollup);
        assert_eq!(Catalog::decode(&c.encode().expect("encode")), Ok(c));
    }

    #[test]
    fn every_byte_flip_and_truncation_is_detected() {
        let bytes = sample().encode().expect("encode");
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x55;
            assert!(Catalog::decode(&b).is_err(), "flip at {i}");
        }
        for n in 0..bytes.len() {
            assert!(Catalog::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
    }

    #[test]
    fn unknown_versions_are_refused_by_name() {
        let mut b = sample().encode().expect("encode");
        b[4] = 9;
        let err = Catalog::decode(&b).expect_err("version").to_string();
        assert!(err.contains("version 9"), "{err}");
    }

    #[test]
    fn tombstones_match_and_cut_their_range() {
        let c = sample();
        let compiled = c.compiled_tombstones();
        let t = &compiled[0];
        let hit = stratus_model::Labels::from_pairs([("job", "xy")]).expect("labels");
        let miss = stratus_model::Labels::from_pairs([("job", "y")]).expect("labels");
        let all: Vec<stratus_model::Sample> = (0..20)
            .map(|t| stratus_model::Sample::new(t, 1.0))
            .collect();
        let mut a = all.clone();
        t.apply(&hit, &mut a);
        assert_eq!(
            a.iter().map(|s| s.t).collect::<Vec<_>>(),
            (11..20).collect::<Vec<_>>()
        );
        let mut b = all.clone();
        t.apply(&miss, &mut b);
        assert_eq!(b, all);
    }

    #[test]
    fn overlap_selection() {
        let c = sample();
        assert_eq!(c.blocks_overlapping(0, 7_199_999, 8_000_000).len(), 1);
        assert!(c.blocks_overlapping(0, 7_200_000, 8_000_000).is_empty());
        assert!(c.blocks_overlapping(300_000, 0, 10).is_empty());
    }
}
