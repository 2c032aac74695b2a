//! Block options, the block description, and the key-value metadata that
//! carries it in the Parquet footer.

use std::collections::HashMap;

use parquet::file::metadata::KeyValue;
use stratus_model::TenantId;

use crate::error::{BlockError, Result};
use crate::schema::Resolution;

/// The layout version this crate writes (for downsampled blocks: when every
/// point carries its window's edges, else [`BLOCK_VERSION_2`]).
pub const BLOCK_VERSION: &str = "3";

/// The previous layout version, still read: its downsampled blocks keep six
/// aggregates per window, without the window's first sample and drops.
pub const BLOCK_VERSION_2: &str = "2";

pub const KEY_VERSION: &str = "stratus.block.version";
pub const KEY_TENANT: &str = "stratus.block.tenant";
pub const KEY_MIN_TIME: &str = "stratus.block.min_time";
pub const KEY_MAX_TIME: &str = "stratus.block.max_time";
pub const KEY_RESOLUTION: &str = "stratus.block.resolution";
pub const KEY_STEP: &str = "stratus.block.step_ms";
pub const KEY_CHUNK_WIDTH: &str = "stratus.block.chunk_width_ms";
pub const KEY_CHUNKS: &str = "stratus.block.chunks";
pub const KEY_NUM_SERIES: &str = "stratus.block.num_series";
pub const KEY_NUM_SAMPLES: &str = "stratus.block.num_samples";
pub const KEY_FINGERPRINT: &str = "stratus.block.fingerprint";
pub const KEY_CHECKSUM: &str = "stratus.block.checksum";
pub const KEY_CHUNK_ENCODING: &str = "stratus.block.chunk_encoding";
pub const KEY_METADATA_CRC: &str = "stratus.block.metadata_crc";
const KEY_PREFIX: &str = "stratus.block.";

const FINGERPRINT_ALGORITHM: &str = "fnv1a64";
const CHECKSUM_ALGORITHM: &str = "crc32c";
/// Every chunk cell starts with a tag byte: `0x00` xor, `0x01` packed,
/// `0x02` ref (downsampled blocks only).
const CHUNK_ENCODING: &str = "xor,packed,ref";

/// How a block is cut into row groups, pages and chunk columns. Readers do
/// not need these: everything they need is in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockOptions {
    /// Width of the time sub-range held by one chunk column.
    pub chunk_width_ms: i64,
    /// Series (rows) per row group.
    pub row_group_rows: usize,
    /// Rows per data page of the label and per-series columns: the
    /// granularity of page pruning.
    pub label_page_rows: usize,
    /// Target uncompressed size of one data page of a chunk column: the
    /// granularity of ranged reads of chunk data.
    pub chunk_page_bytes: usize,
    /// Compress chunk column pages with zstd too (label and per-series
    /// columns always are).
    pub compress_chunks: bool,
    /// zstd level, 1 to 22.
    pub zstd_level: i32,
    /// False positive rate of the bloom filters on label columns.
    pub bloom_fpp: f64,
    /// Largest dictionary page of a label column chunk, in bytes: a chunk
    /// whose distinct values outgrow it continues in plain-encoded pages,
    /// and its values are then no longer answered from the dictionary
    /// alone (see `docs/format/block.md`, "Label lookups").
    pub label_dictionary_page_bytes: usize,
}

/// Sensible for 2 h raw blocks: 30 min chunk columns (120 samples at a
/// 15 s scrape interval), 16 KiB chunk pages (about 140 rows of such
/// cells), 16,384-row row groups (see `docs/format/block.md` for the
/// measurements). For 24 h blocks use 2 h chunk columns and larger chunk
/// pages (e.g. 64 KiB) so the page index stays small; for downsampled
/// blocks a width holding a few hundred points (e.g. 24 h at 5 min, 10
/// days at 1 h).
impl Default for BlockOptions {
    fn default() -> Self {
        Self {
            chunk_width_ms: 30 * 60 * 1000,
            row_group_rows: 16 * 1024,
            label_page_rows: 1024,
            chunk_page_bytes: 16 * 1024,
            compress_chunks: true,
            zstd_level: 3,
            bloom_fpp: 0.01,
            label_dictionary_page_bytes: 1024 * 1024,
        }
    }
}

/// More chunk columns than this is a mistake (a width far too small).
pub const MAX_CHUNKS: i64 = 4096;

impl BlockOptions {
    pub fn validate(&self) -> Result<()> {
        let bad = |what, reason: &str| {
            Err(BlockError::InvalidOptions {
                what,
                reason: reason.to_string(),
            })
        };
        if self.chunk_width_ms <= 0 {
            return bad("chunk_width_ms", "must be positive");
        }
        if self.row_group_rows == 0 {
            return bad("row_group_rows", "must be positive");
        }
        if self.label_page_rows == 0 {
            return bad("label_page_rows", "must be positive");
        }
        if self.chunk_page_bytes == 0 {
            return bad("chunk_page_bytes", "must be positive");
        }
        if self.label_dictionary_page_bytes == 0 {
            return bad("label_dictionary_page_bytes", "must be positive");
        }
        if !(1..=22).contains(&self.zstd_level) {
            return bad("zstd_level", "must be 1 to 22");
        }
        if !(self.bloom_fpp > 0.0 && self.bloom_fpp < 1.0) {
            return bad("bloom_fpp", "must be between 0 and 1, exclusive");
        }
        Ok(())
    }
}

/// What a block holds, from its key-value metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    pub tenant: String,
    /// Inclusive start of the block's time range (ms).
    pub min_time: i64,
    /// Exclusive end of the block's time range (ms).
    pub max_time: i64,
    pub resolution: Resolution,
    pub num_series: u64,
    /// Raw samples, or aggregate points in downsampled blocks.
    pub num_samples: u64,
    pub chunk_width_ms: i64,
    /// Number of chunk sub-ranges: `ceil((max_time - min_time) / chunk_width_ms)`.
    pub num_chunks: usize,
    /// The label columns, `__name__` first.
    pub label_names: Vec<String>,
    /// The layout version: 3, or 2 for blocks written before the window
    /// edges (`first`, `span`, `drops`).
    pub version: u32,
}

impl BlockInfo {
    /// A downsampled block whose points carry their window's edges (first
    /// sample, span and drops): version 3 and later.
    pub fn has_edges(&self) -> bool {
        !self.resolution.is_raw() && self.version >= 3
    }
}

impl BlockInfo {
    /// The time sub-range `[start, end)` of chunk column `k`.
    pub fn chunk_range(&self, k: usize) -> (i64, i64) {
        chunk_range(self.min_time, self.max_time, self.chunk_width_ms, k)
    }
}

pub(crate) fn chunk_range(min_time: i64, max_time: i64, width: i64, k: usize) -> (i64, i64) {
    let start = min_time.saturating_add(width.saturating_mul(k as i64));
    (start, start.saturating_add(width).min(max_time))
}

/// Number of chunk columns for a block range, checked.
pub(crate) fn num_chunks(min_time: i64, max_time: i64, width: i64) -> Result<usize> {
    if min_time >= max_time {
        return Err(BlockError::EmptyTimeRange { min_time, max_time });
    }
    let span = i128::from(max_time) - i128::from(min_time);
    let n = (span + i128::from(width) - 1) / i128::from(width);
    if n > i128::from(MAX_CHUNKS) {
        return Err(BlockError::InvalidOptions {
            what: "chunk_width_ms",
            reason: format!(
                "{width} ms cuts the block range of {span} ms into {n} chunk columns, \
                 at most {MAX_CHUNKS} are allowed"
            ),
        });
    }
    Ok(n as usize)
}

pub(crate) fn to_key_values(info: &BlockInfo) -> Vec<KeyValue> {
    let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
    let mut kvs = vec![
        kv(KEY_VERSION, info.version.to_string()),
        kv(KEY_TENANT, info.tenant.clone()),
        kv(KEY_MIN_TIME, info.min_time.to_string()),
        kv(KEY_MAX_TIME, info.max_time.to_string()),
        kv(
            KEY_RESOLUTION,
            if info.resolution.is_raw() {
                "raw"
            } else {
                "downsampled"
            }
            .to_string(),
        ),
        kv(KEY_STEP, info.resolution.step_ms().to_string()),
        kv(KEY_CHUNK_WIDTH, info.chunk_width_ms.to_string()),
        kv(KEY_CHUNKS, info.num_chunks.to_string()),
        kv(KEY_NUM_SERIES, info.num_series.to_string()),
        kv(KEY_NUM_SAMPLES, info.num_samples.to_string()),
        kv(KEY_FINGERPRINT, FINGERPRINT_ALGORITHM.to_string()),
        kv(KEY_CHECKSUM, CHECKSUM_ALGORITHM.to_string()),
        kv(KEY_CHUNK_ENCODING, CHUNK_ENCODING.to_string()),
    ];
    let crc = metadata_crc(&kvs);
    kvs.push(kv(KEY_METADATA_CRC, crc.to_string()));
    kvs
}

/// CRC-32C over every `stratus.block.*` entry but the checksum itself, in
/// file order, each as key bytes, `0x00`, value bytes, `0x00`.
fn metadata_crc(kvs: &[KeyValue]) -> u32 {
    let mut crc = 0;
    for kv in kvs
        .iter()
        .filter(|kv| kv.key.starts_with(KEY_PREFIX) && kv.key != KEY_METADATA_CRC)
    {
        crc = crc32c::crc32c_append(crc, kv.key.as_bytes());
        crc = crc32c::crc32c_append(crc, &[0]);
        crc = crc32c::crc32c_append(crc, kv.value.as_deref().unwrap_or("").as_bytes());
        crc = crc32c::crc32c_append(crc, &[0]);
    }
    crc
}

/// Parses and checks the key-value metadata. `label_names` come from the
/// schema, later.
pub(crate) fn from_key_values(kvs: Option<&Vec<KeyValue>>) -> Result<BlockInfo> {
    let map: HashMap<&str, &str> = kvs
        .map(|kvs| {
            kvs.iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_deref().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let get = |key: &'static str| {
        map.get(key)
            .copied()
            .ok_or(BlockError::MissingMetadata { key })
    };
    let version = match get(KEY_VERSION)? {
        BLOCK_VERSION => 3,
        BLOCK_VERSION_2 => 2,
        other => {
            return Err(BlockError::UnsupportedVersion {
                found: other.to_string(),
                expected: "2 or 3",
            })
        }
    };
    let stored = get(KEY_METADATA_CRC)?;
    let actual = metadata_crc(kvs.map(Vec::as_slice).unwrap_or_default());
    if stored.parse::<u32>().ok() != Some(actual) {
        return Err(BlockError::MetadataChecksum {
            stored: stored.to_string(),
            actual,
        });
    }
    let invalid = |key, expected, found: &str| BlockError::InvalidMetadata {
        key,
        expected,
        found: found.to_string(),
    };
    let int = |key: &'static str| -> Result<i64> {
        let v = get(key)?;
        v.parse().map_err(|_| invalid(key, "an integer", v))
    };
    let count = |key: &'static str| -> Result<u64> {
        let v = get(key)?;
        v.parse()
            .map_err(|_| invalid(key, "a non-negative integer", v))
    };
    let exact = |key: &'static str, expected: &'static str| -> Result<()> {
        let v = get(key)?;
        if v == expected {
            Ok(())
        } else {
            Err(invalid(key, expected, v))
        }
    };
    exact(KEY_FINGERPRINT, FINGERPRINT_ALGORITHM)?;
    exact(KEY_CHECKSUM, CHECKSUM_ALGORITHM)?;
    exact(KEY_CHUNK_ENCODING, CHUNK_ENCODING)?;

    let tenant = get(KEY_TENANT)?;
    TenantId::new(tenant).map_err(|_| invalid(KEY_TENANT, "a valid tenant id", tenant))?;
    let min_time = int(KEY_MIN_TIME)?;
    let max_time = int(KEY_MAX_TIME)?;
    if min_time >= max_time {
        return Err(invalid(
            KEY_MAX_TIME,
            "a value above stratus.block.min_time",
            get(KEY_MAX_TIME)?,
        ));
    }
    let step = int(KEY_STEP)?;
    let resolution = match get(KEY_RESOLUTION)? {
        "raw" if step == 0 => Resolution::Raw,
        "raw" => return Err(invalid(KEY_STEP, "0 in a raw block", get(KEY_STEP)?)),
        "downsampled" if step > 0 => Resolution::Downsampled { step_ms: step },
        "downsampled" => {
            return Err(invalid(
                KEY_STEP,
                "a positive step in a downsampled block",
                get(KEY_STEP)?,
            ))
        }
        other => return Err(invalid(KEY_RESOLUTION, "raw or downsampled", other)),
    };
    let chunk_width_ms = int(KEY_CHUNK_WIDTH)?;
    if chunk_width_ms <= 0 {
        return Err(invalid(
            KEY_CHUNK_WIDTH,
            "a positive width",
            get(KEY_CHUNK_WIDTH)?,
        ));
    }
    let width_str = get(KEY_CHUNK_WIDTH)?;
    let expected_chunks = num_chunks(min_time, max_time, chunk_width_ms)
        .map_err(|_| invalid(KEY_CHUNK_WIDTH, "at most 4096 chunks per block", width_str))?;
    let chunks = count(KEY_CHUNKS)?;
    if chunks != expected_chunks as u64 {
        return Err(invalid(
            KEY_CHUNKS,
            "ceil((max_time - min_time) / chunk_width_ms)",
            get(KEY_CHUNKS)?,
        ));
    }
    Ok(BlockInfo {
        tenant: tenant.to_string(),
        min_time,
        max_time,
        resolution,
        num_series: count(KEY_NUM_SERIES)?,
        num_samples: count(KEY_NUM_SAMPLES)?,
        chunk_width_ms,
        num_chunks: expected_chunks,
        label_names: Vec::new(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BlockInfo {
        BlockInfo {
            tenant: "team-a".into(),
            min_time: 7_200_000,
            max_time: 14_400_000,
            resolution: Resolution::Downsampled { step_ms: 300_000 },
            num_series: 3,
            num_samples: 70,
            chunk_width_ms: 1_800_000,
            num_chunks: 4,
            label_names: Vec::new(),
            version: 3,
        }
    }

    #[test]
    fn key_values_round_trip() {
        let kvs = to_key_values(&info());
        assert_eq!(from_key_values(Some(&kvs)).expect("parse"), info());
        let old = BlockInfo {
            version: 2,
            ..info()
        };
        let kvs = to_key_values(&old);
        assert_eq!(kvs[0].value.as_deref(), Some("2"));
        assert_eq!(from_key_values(Some(&kvs)).expect("parse"), old);
        assert!(!old.has_edges() && info().has_edges());
    }

    #[test]
    fn rejects_foreign_and_future_files() {
        assert_eq!(
            from_key_values(None),
            Err(BlockError::MissingMetadata { key: KEY_VERSION })
        );
        // A future version, and version 1 of the development builds.
        for v in ["4", "1"] {
            let mut kvs = to_key_values(&info());
            kvs[0].value = Some(v.into());
            assert!(matches!(
                from_key_values(Some(&kvs)),
                Err(BlockError::UnsupportedVersion { .. })
            ));
        }
        // A changed value fails the checksum...
        let mut kvs = to_key_values(&info());
        kvs[1].value = Some("team-b".into());
        assert!(matches!(
            from_key_values(Some(&kvs)),
            Err(BlockError::MetadataChecksum { .. })
        ));
        // ...and a consistent but wrong one its own check.
        let mut kvs = to_key_values(&info());
        kvs.retain(|kv| kv.key != KEY_CHUNKS && kv.key != KEY_METADATA_CRC);
        kvs.push(KeyValue::new(KEY_CHUNKS.to_string(), "5".to_string()));
        let crc = metadata_crc(&kvs);
        kvs.push(KeyValue::new(KEY_METADATA_CRC.to_string(), crc.to_string()));
        assert!(matches!(
            from_key_values(Some(&kvs)),
            Err(BlockError::InvalidMetadata {
                key: KEY_CHUNKS,
                ..
            })
        ));
    }

    #[test]
    fn chunk_ranges_cover_the_block() {
        assert_eq!(num_chunks(0, 100, 30).expect("n"), 4);
        assert_eq!(chunk_range(0, 100, 30, 3), (90, 100));
        assert!(num_chunks(0, 0, 30).is_err());
        assert!(num_chunks(0, i64::MAX, 1).is_err());
    }
}
