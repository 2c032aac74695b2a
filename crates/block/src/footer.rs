//! The footer: Parquet metadata, page index and bloom filters, parsed from
//! the tail of the file and checked so that planning and reading can index
//! into it without further checks.

use std::sync::Arc;

use bytes::Bytes;
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::{
    PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
};
use parquet::file::page_index::offset_index::PageLocation;

use crate::error::{guard, BlockError, Result};
use crate::options::{from_key_values, BlockInfo};
use crate::schema::{Layout, AGGREGATES, AGGREGATES_V2};

/// Bytes to fetch from the end of a block first. Most footers (metadata,
/// page index, bloom filters) fit; [`BlockFooter::parse`] says how many
/// bytes it needs when they do not.
pub const FOOTER_HINT: u64 = 64 * 1024;

const MAGIC: &[u8; 4] = b"PAR1";

/// A parsed and checked block footer. Cheap to share behind an `Arc`;
/// queriers cache it per block.
#[derive(Debug)]
pub struct BlockFooter {
    pub(crate) info: BlockInfo,
    pub(crate) layout: Layout,
    pub(crate) metadata: Arc<ParquetMetaData>,
    /// Per row group, per label column.
    pub(crate) blooms: Vec<Vec<Option<Sbbf>>>,
    file_len: u64,
    tail_len: u64,
}

fn corrupt(msg: String) -> BlockError {
    BlockError::Corrupt(msg)
}

impl BlockFooter {
    /// Parses the footer from `tail`, the last `tail.len()` bytes of a file
    /// of `file_len` bytes. Fails with [`BlockError::NeedMore`] naming how
    /// many bytes from the end it needs when `tail` is too short: fetch
    /// those and call again.
    pub fn parse(file_len: u64, tail: &[u8]) -> Result<BlockFooter> {
        let got = tail.len() as u64;
        if got > file_len {
            return Err(BlockError::NotParquet(format!(
                "tail of {got} bytes is longer than the file of {file_len} bytes"
            )));
        }
        if file_len < 12 {
            return Err(BlockError::NotParquet(format!(
                "file has {file_len} bytes, a Parquet file has at least 12"
            )));
        }
        if got < 8 {
            return Err(BlockError::NeedMore { bytes: 8, got });
        }
        let end = &tail[tail.len() - 8..];
        if &end[4..] != MAGIC {
            return Err(BlockError::NotParquet(format!(
                "expected the file to end in \"PAR1\", found {:02x?}",
                &end[4..]
            )));
        }
        let meta_len = u64::from(u32::from_le_bytes([end[0], end[1], end[2], end[3]]));
        let footer_len = meta_len + 8;
        if footer_len + 4 > file_len {
            return Err(BlockError::NotParquet(format!(
                "footer claims {meta_len} bytes of metadata, the file has {file_len} bytes"
            )));
        }
        if got < footer_len {
            return Err(BlockError::NeedMore {
                bytes: footer_len,
                got,
            });
        }
        let meta_bytes = &tail[tail.len() - footer_len as usize..tail.len() - 8];
        let metadata = guard("footer metadata", || {
            Ok(ParquetMetaDataReader::decode_metadata(meta_bytes)?)
        })?;

        let mut info = from_key_values(metadata.file_metadata().key_value_metadata())?;
        let layout = Layout::from_schema(
            metadata.file_metadata().schema_descr(),
            info.resolution.is_raw(),
            info.num_chunks,
            if info.has_edges() {
                &AGGREGATES
            } else {
                &AGGREGATES_V2
            },
        )?;
        info.label_names = layout.label_names.clone();

        // Everything the footer needs starts at the lowest index or filter
        // offset (they are written after all row groups).
        let data_end = file_len - footer_len;
        let mut tail_start = data_end;
        let mut rows = 0u64;
        for (r, rg) in metadata.row_groups().iter().enumerate() {
            rows += check_row_group(r, rg, &layout, data_end)?;
            for cc in rg.columns() {
                for (off, len) in [
                    (cc.column_index_offset(), cc.column_index_length()),
                    (cc.offset_index_offset(), cc.offset_index_length()),
                    (cc.bloom_filter_offset(), cc.bloom_filter_length()),
                ] {
                    if let Some(off) = off {
                        let len = len.ok_or_else(|| {
                            corrupt(format!("row group {r}: an index offset has no length"))
                        })?;
                        let (start, _) =
                            checked_range(off, i64::from(len), data_end).ok_or_else(|| {
                                corrupt(format!(
                                    "row group {r}: index at {off} (+{len}) is outside \
                                     the file's {data_end} data bytes"
                                ))
                            })?;
                        tail_start = tail_start.min(start);
                    }
                }
            }
        }
        if rows != info.num_series {
            return Err(corrupt(format!(
                "metadata says {} series, the row groups hold {rows} rows",
                info.num_series
            )));
        }
        let tail_len = file_len - tail_start;
        if got < tail_len {
            return Err(BlockError::NeedMore {
                bytes: tail_len,
                got,
            });
        }
        let region = &tail[tail.len() - tail_len as usize..];

        let metadata = guard("page index", || {
            let mut reader = ParquetMetaDataReader::new_with_metadata(metadata)
                .with_page_index_policy(PageIndexPolicy::Required);
            reader.read_page_indexes_sized(&Bytes::copy_from_slice(region), file_len)?;
            Ok(reader.finish()?)
        })?;

        let mut blooms = Vec::with_capacity(metadata.num_row_groups());
        for (r, rg) in metadata.row_groups().iter().enumerate() {
            check_pages(r, rg, &metadata, &layout)?;
            let mut row = Vec::with_capacity(layout.num_labels());
            for c in 0..layout.num_labels() {
                let cc = rg.column(c);
                let bloom = match (cc.bloom_filter_offset(), cc.bloom_filter_length()) {
                    (Some(off), Some(len)) => {
                        let start = (off as u64 - tail_start) as usize;
                        let bytes = &region[start..start + len as usize];
                        Some(guard("bloom filter", || {
                            Sbbf::from_bytes(bytes).map_err(|e| {
                                corrupt(format!("row group {r} column {c}: bloom filter: {e}"))
                            })
                        })?)
                    }
                    _ => None,
                };
                row.push(bloom);
            }
            blooms.push(row);
        }
        Ok(BlockFooter {
            info,
            layout,
            metadata: Arc::new(metadata),
            blooms,
            file_len,
            tail_len,
        })
    }

    pub fn info(&self) -> &BlockInfo {
        &self.info
    }

    /// The Parquet metadata, with the page index.
    pub fn metadata(&self) -> &ParquetMetaData {
        &self.metadata
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// How many bytes from the end of the file the footer took (metadata,
    /// page index and bloom filters).
    pub fn tail_len(&self) -> u64 {
        self.tail_len
    }

    /// Data page locations of a column chunk (checked at parse time).
    pub(crate) fn pages(&self, rg: usize, col: usize) -> &[PageLocation] {
        self.metadata
            .page_index()
            .and_then(|p| p.page_locations(rg, col))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The row group's row count (checked non-negative at parse time).
    pub(crate) fn rows(&self, rg: usize) -> usize {
        self.metadata.row_group(rg).num_rows() as usize
    }
}

/// `[off, off + len)` as `u64`s when it is inside `[4, limit)`.
fn checked_range(off: i64, len: i64, limit: u64) -> Option<(u64, u64)> {
    let start = u64::try_from(off).ok()?;
    let len = u64::try_from(len).ok()?;
    let stop = start.checked_add(len)?;
    (start >= 4 && stop <= limit).then_some((start, stop))
}

/// Checks one row group's column chunks lie inside the data part of the
/// file; returns its row count.
fn check_row_group(r: usize, rg: &RowGroupMetaData, layout: &Layout, data_end: u64) -> Result<u64> {
    if rg.num_columns() != layout.num_columns() {
        return Err(corrupt(format!(
            "row group {r} has {} columns, the schema {}",
            rg.num_columns(),
            layout.num_columns()
        )));
    }
    let rows = u64::try_from(rg.num_rows())
        .ok()
        .filter(|n| *n > 0 && *n <= u64::from(u32::MAX))
        .ok_or_else(|| corrupt(format!("row group {r} has {} rows", rg.num_rows())))?;
    for (c, cc) in rg.columns().iter().enumerate() {
        let start = cc.dictionary_page_offset().unwrap_or(cc.data_page_offset());
        let bad = || {
            corrupt(format!(
                "row group {r} column {c}: chunk at {start} (+{}) is outside the file's \
                 {data_end} data bytes",
                cc.compressed_size()
            ))
        };
        checked_range(start, cc.compressed_size(), data_end).ok_or_else(bad)?;
        if let Some(d) = cc.dictionary_page_offset() {
            if d > cc.data_page_offset() {
                return Err(bad());
            }
        }
        if cc.num_values() != rg.num_rows() {
            return Err(corrupt(format!(
                "row group {r} column {c} has {} values for {} rows",
                cc.num_values(),
                rg.num_rows()
            )));
        }
    }
    Ok(rows)
}

/// Checks the offset index of every column chunk: pages start at row 0,
/// strictly ascending rows below the row count, inside the column chunk,
/// in order, the first one at the data page offset.
fn check_pages(
    r: usize,
    rg: &RowGroupMetaData,
    metadata: &ParquetMetaData,
    layout: &Layout,
) -> Result<()> {
    let index = metadata
        .page_index()
        .ok_or_else(|| corrupt("the block has no page index".to_string()))?;
    for c in 0..layout.num_columns() {
        let cc = rg.column(c);
        let pages = index
            .page_locations(r, c)
            .ok_or_else(|| corrupt(format!("row group {r} column {c} has no offset index")))?;
        let chunk_start = cc.dictionary_page_offset().unwrap_or(cc.data_page_offset()) as u64;
        let chunk_end = chunk_start + cc.compressed_size() as u64;
        let bad = |what: &str| corrupt(format!("row group {r} column {c}: offset index {what}"));
        let Some(first) = pages.first() else {
            return Err(bad("has no pages"));
        };
        if first.first_row_index != 0 || first.offset != cc.data_page_offset() {
            return Err(bad("does not start at the first data page"));
        }
        let mut prev_end = 0u64;
        let mut prev_row = -1i64;
        for p in pages {
            let (_, stop) = checked_range(p.offset, i64::from(p.compressed_page_size), chunk_end)
                .filter(|(s, _)| *s >= chunk_start && *s >= prev_end)
                .ok_or_else(|| bad("has a page outside its column chunk"))?;
            if p.compressed_page_size <= 0 {
                return Err(bad("has an empty page"));
            }
            if p.first_row_index <= prev_row || p.first_row_index >= rg.num_rows() {
                return Err(bad("has page rows out of order"));
            }
            prev_end = stop;
            prev_row = p.first_row_index;
        }
    }
    Ok(())
}
