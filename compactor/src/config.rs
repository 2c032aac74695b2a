//! Compactor settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Width of level-1 blocks, aligned to multiples of it.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub block_range: Duration,
    /// Width of the largest blocks (level 3).
    #[serde(with = "stratus_model::time::serde_duration")]
    pub max_block_range: Duration,
    /// Segments younger than this are left alone: a segment with an older
    /// ULID may still become visible (uploads in flight, clock skew).
    #[serde(with = "stratus_model::time::serde_duration")]
    pub segment_grace: Duration,
    /// A block range is merged once its end is this far in the past (late
    /// samples may arrive until then), or earlier when it has many blocks.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub merge_delay: Duration,
    /// A 2 h range with this many blocks is merged at once.
    pub merge_count: usize,
    /// Replaced objects are deleted this long after the catalog stopped
    /// pointing at them, so queries in flight still find them.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub delete_delay: Duration,
    /// Blocks no catalog points at are deleted once this old.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub orphan_delay: Duration,
    /// Segments compacted in one job at most (bounds memory).
    pub max_segments_per_job: usize,
    /// Make 5 m and 1 h rollups of 24 h raw blocks.
    pub downsample: bool,
    /// Raw data older than this is deleted; zero keeps it forever.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub retention_raw: Duration,
    /// Downsampled data older than this is deleted; zero keeps it forever.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub retention_downsampled: Duration,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            block_range: Duration::from_secs(2 * 3600),
            max_block_range: Duration::from_secs(24 * 3600),
            segment_grace: Duration::from_secs(5 * 60),
            merge_delay: Duration::from_secs(3600),
            merge_count: 4,
            delete_delay: Duration::from_secs(15 * 60),
            orphan_delay: Duration::from_secs(3600),
            max_segments_per_job: 5_000,
            downsample: true,
            retention_raw: Duration::ZERO,
            retention_downsampled: Duration::ZERO,
        }
    }
}

/// The rollup steps (ms) made when downsampling is on.
pub const DOWNSAMPLE_STEPS_MS: [i64; 2] = [300_000, 3_600_000];

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
