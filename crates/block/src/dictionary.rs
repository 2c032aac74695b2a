//! Label names and values of a whole block without reading its rows: the
//! names from the footer (the label columns that hold a value), the values
//! of one label from the dictionary pages of its column chunks, when every
//! data page of those chunks is dictionary-encoded.
//!
//! Dictionary encoding is a Parquet-level choice of the writer (see
//! `docs/format/block.md`, "Label lookups"): a reader must not rely on it,
//! so both answer `None` where the footer does not show what they need,
//! and the caller then reads the label pages instead.

use std::collections::BTreeSet;
use std::ops::Range;

use parquet::basic::{Encoding, PageType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::ReaderProperties;
use parquet::file::serialized_reader::SerializedPageReader;

use crate::error::{guard, BlockError, Result};
use crate::fetch::{reader_for, Fetched};
use crate::footer::BlockFooter;

/// How one column chunk of a label column answers a values lookup.
enum ChunkValues {
    /// Every row is null: no values.
    Empty,
    /// Its values are exactly the entries of the dictionary page in this
    /// byte range of the file.
    Dictionary(Range<u64>),
}

/// The number of nulls of a column chunk, from its statistics.
fn null_count(cc: &ColumnChunkMetaData) -> Option<u64> {
    cc.statistics().and_then(|s| s.null_count_opt())
}

/// True when the statistics show the chunk holds at least one value;
/// `None` when it has no null count.
fn has_value(cc: &ColumnChunkMetaData) -> Option<bool> {
    let values = u64::try_from(cc.num_values()).ok()?;
    Some(null_count(cc)? < values)
}

/// True when every data page of the chunk is dictionary-encoded, from the
/// page encoding statistics (`false` when the chunk has none).
fn all_data_pages_dictionary(cc: &ColumnChunkMetaData) -> bool {
    let dictionary =
        |e: Encoding| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY);
    if let Some(mask) = cc.page_encoding_stats_mask() {
        return mask.is_only(Encoding::PLAIN_DICTIONARY) || mask.is_only(Encoding::RLE_DICTIONARY);
    }
    match cc.page_encoding_stats() {
        Some(stats) => {
            let data: Vec<_> = stats
                .iter()
                .filter(|s| matches!(s.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2))
                .collect();
            !data.is_empty() && data.iter().all(|s| dictionary(s.encoding))
        }
        None => false,
    }
}

impl BlockFooter {
    /// The label names of the block's series, sorted: the label columns
    /// holding a value in some row, from the column chunk statistics; no
    /// page is read. `None` when a label column chunk has no null count
    /// (statistics are optional in a block): then read the label pages.
    pub fn label_names(&self) -> Option<Vec<String>> {
        let mut out = Vec::with_capacity(self.layout.num_labels());
        for (c, name) in self.layout.label_names.iter().enumerate() {
            let mut present = false;
            for rg in self.metadata.row_groups() {
                if has_value(rg.column(c))? {
                    present = true;
                    break;
                }
            }
            if present {
                out.push(name.clone());
            }
        }
        out.sort();
        Some(out)
    }

    /// The column of label `name`, if the block has one.
    fn label_column_index(&self, name: &str) -> Option<usize> {
        self.layout.label_names.iter().position(|n| n == name)
    }

    /// How each row group's chunk of column `c` answers, or `None` when
    /// one of them needs its data pages.
    fn chunk_values(&self, c: usize) -> Option<Vec<ChunkValues>> {
        let mut out = Vec::with_capacity(self.metadata.num_row_groups());
        for rg in self.metadata.row_groups() {
            let cc = rg.column(c);
            if has_value(cc) == Some(false) {
                out.push(ChunkValues::Empty);
                continue;
            }
            let dict = cc.dictionary_page_offset()?;
            if !all_data_pages_dictionary(cc) {
                return None;
            }
            // The footer checked `dict <= data page offset`, both inside
            // the file's data.
            let start = u64::try_from(dict).ok()?;
            let end = u64::try_from(cc.data_page_offset()).ok()?;
            if start >= end {
                return None;
            }
            out.push(ChunkValues::Dictionary(start..end));
        }
        Some(out)
    }

    /// The byte ranges holding the distinct values of label `name`: the
    /// dictionary pages of its column chunks, ascending. Empty when no
    /// series of the block has the label. `None` when some column chunk
    /// has a data page that is not dictionary-encoded, or no dictionary
    /// page, or the footer does not say: then its values are only in the
    /// label pages ([`BlockFooter::labels_plan`] and
    /// [`read_series_labels`](crate::read_series_labels)).
    pub fn label_values_ranges(&self, name: &str) -> Option<Vec<Range<u64>>> {
        let Some(c) = self.label_column_index(name) else {
            return Some(Vec::new());
        };
        Some(
            self.chunk_values(c)?
                .into_iter()
                .filter_map(|v| match v {
                    ChunkValues::Empty => None,
                    ChunkValues::Dictionary(r) => Some(r),
                })
                .collect(),
        )
    }
}

/// The distinct values of label `name` in the block, sorted, from the
/// dictionary pages of [`BlockFooter::label_values_ranges`] fetched into
/// `fetched`. `Ok(None)` where `label_values_ranges` is `None`. Every
/// value is checked: UTF-8, not empty; every length against the page.
pub fn read_label_values(
    footer: &BlockFooter,
    name: &str,
    fetched: &Fetched,
) -> Result<Option<Vec<String>>> {
    let Some(c) = footer.label_column_index(name) else {
        return Ok(Some(Vec::new()));
    };
    let Some(chunks) = footer.chunk_values(c) else {
        return Ok(None);
    };
    let reader = reader_for(footer, fetched);
    let mut values: BTreeSet<String> = BTreeSet::new();
    for (rg, chunk) in chunks.iter().enumerate() {
        let ChunkValues::Dictionary(range) = chunk else {
            continue;
        };
        let what = format!("row group {rg} column {c}: dictionary page");
        let page = guard(&what, || {
            let meta = footer.metadata.row_group(rg).column(c);
            let props = std::sync::Arc::new(ReaderProperties::builder().build());
            let mut pages = SerializedPageReader::new_with_properties(
                std::sync::Arc::clone(&reader),
                meta,
                footer.rows(rg),
                Some(footer.pages(rg, c).to_vec()),
                props,
            )?;
            Ok(pages.get_next_page()?)
        })?;
        let corrupt = |why: String| BlockError::Corrupt(format!("{what} at {range:?}: {why}"));
        let (buf, num_values, encoding) = match page {
            Some(Page::DictionaryPage {
                buf,
                num_values,
                encoding,
                ..
            }) => (buf, num_values as usize, encoding),
            _ => return Err(corrupt("is not a dictionary page".to_string())),
        };
        if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
            return Err(corrupt(format!("has encoding {encoding:?}")));
        }
        decode_plain_byte_arrays(&buf, num_values, |v| {
            let s = std::str::from_utf8(v)
                .map_err(|_| corrupt("holds a value that is not UTF-8".into()))?;
            if s.is_empty() {
                return Err(corrupt("holds an empty value".into()));
            }
            if !values.contains(s) {
                values.insert(s.to_string());
            }
            Ok(())
        })
        .map_err(|e| match e {
            PlainError::Short(i) => corrupt(format!("ends inside value {i} of {num_values}")),
            PlainError::Trailing(n) => {
                corrupt(format!("has {n} bytes after its {num_values} values"))
            }
            PlainError::Value(e) => e,
        })?;
    }
    Ok(Some(values.into_iter().collect()))
}

/// Why PLAIN `BYTE_ARRAY` values do not decode.
#[derive(Debug)]
enum PlainError {
    /// The page ends inside value `i` (its length or its bytes).
    Short(usize),
    /// Bytes left after the last value.
    Trailing(usize),
    /// The callback refused a value.
    Value(BlockError),
}

/// Decodes `n` PLAIN `BYTE_ARRAY` values (4-byte little-endian length,
/// then the bytes), which must fill `buf` exactly.
fn decode_plain_byte_arrays(
    buf: &[u8],
    n: usize,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> std::result::Result<(), PlainError> {
    // Every value takes at least its 4 length bytes: no page claims more
    // values than it can hold.
    if n > buf.len() / 4 {
        return Err(PlainError::Short(buf.len() / 4));
    }
    let mut rest = buf;
    for i in 0..n {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or(PlainError::Short(i))?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(PlainError::Short(i));
        }
        let (value, tail) = tail.split_at(len);
        f(value).map_err(PlainError::Value)?;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(PlainError::Trailing(rest.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(values: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    fn decode(buf: &[u8], n: usize) -> std::result::Result<Vec<Vec<u8>>, PlainError> {
        let mut out = Vec::new();
        decode_plain_byte_arrays(buf, n, |v| {
            out.push(v.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn plain_byte_arrays_are_checked_against_the_page() {
        let buf = plain(&[b"a", b"bc", b""]);
        assert_eq!(
            decode(&buf, 3).expect("decodes"),
            vec![b"a".to_vec(), b"bc".to_vec(), Vec::new()]
        );
        assert!(matches!(decode(&buf, 2), Err(PlainError::Trailing(4))));
        assert!(matches!(decode(&buf, 4), Err(PlainError::Short(_))));
        assert!(matches!(
            decode(&buf, usize::MAX),
            Err(PlainError::Short(_))
        ));
        // A length past the end, at every truncation.
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut], 3).is_err(), "cut at {cut}");
        }
        let mut huge = buf.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge, 3), Err(PlainError::Short(0))));
        assert!(decode(&[], 0).expect("empty").is_empty());
    }
}
