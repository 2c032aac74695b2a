//! Fetched byte ranges of a block file and the column decoding over them:
//! what planning (the label pages) and reading (labels and chunks) share.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use parquet::column::page::PageReader;
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::{ByteArrayType, DataType};
use parquet::errors::ParquetError;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use stratus_model::{Label, Labels};

use crate::error::{guard, BlockError, Result};
use crate::footer::BlockFooter;
use crate::selection::RowGroupSelection;
use crate::write::series_order;

/// Byte ranges of one file fetched by the caller, by start offset.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    ranges: BTreeMap<u64, Bytes>,
}

impl Fetched {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole file, as one range.
    pub fn whole(file: impl Into<Bytes>) -> Self {
        let mut f = Self::new();
        f.ranges.insert(0, file.into());
        f
    }

    /// Adds the bytes of `range`. Ranges may overlap (e.g. coalesced ones).
    pub fn insert(&mut self, range: Range<u64>, bytes: impl Into<Bytes>) -> Result<()> {
        let bytes = bytes.into();
        let expected = range.end.saturating_sub(range.start);
        if bytes.len() as u64 != expected {
            return Err(BlockError::FetchedLength {
                start: range.start,
                end: range.end,
                len: bytes.len(),
                expected,
            });
        }
        match self.ranges.get(&range.start) {
            Some(b) if b.len() >= bytes.len() => {}
            _ => {
                self.ranges.insert(range.start, bytes);
            }
        }
        Ok(())
    }

    /// Bytes fetched, counting overlaps twice.
    pub fn total_bytes(&self) -> u64 {
        self.ranges.values().map(|b| b.len() as u64).sum()
    }

    /// The parts of `ranges` not fetched yet, ascending and disjoint:
    /// what to fetch after a first phase.
    pub fn missing(&self, ranges: &[Range<u64>]) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        for r in ranges {
            let mut pos = r.start;
            while pos < r.end {
                match self.covering(pos) {
                    Some(stop) => pos = stop.min(r.end),
                    None => {
                        // Up to the next fetched range that starts inside.
                        let next = self
                            .ranges
                            .range(pos + 1..r.end)
                            .next()
                            .map_or(r.end, |(s, _)| *s);
                        out.push(pos..next);
                        pos = next;
                    }
                }
            }
        }
        out
    }

    /// The furthest end of a fetched range holding byte `pos`.
    fn covering(&self, pos: u64) -> Option<u64> {
        self.ranges
            .range(..=pos)
            .map(|(s, b)| s + b.len() as u64)
            .filter(|stop| *stop > pos)
            .max()
    }

    /// `len` bytes at `start`: a slice of one fetched range when one holds
    /// them all, else stitched from overlapping or touching ranges.
    fn get(&self, start: u64, len: usize) -> Result<Bytes> {
        let end = start.saturating_add(len as u64);
        for (&s, b) in self.ranges.range(..=start).rev() {
            if s + b.len() as u64 >= end {
                let from = (start - s) as usize;
                return Ok(b.slice(from..from + len));
            }
        }
        let mut out = Vec::with_capacity(len);
        let mut pos = start;
        while pos < end {
            let Some((&s, b)) = self
                .ranges
                .range(..=pos)
                .filter(|(s, b)| **s + b.len() as u64 > pos)
                .max_by_key(|(s, b)| **s + b.len() as u64)
            else {
                return Err(BlockError::RangeNotFetched { start, end });
            };
            let stop = (s + b.len() as u64).min(end);
            out.extend_from_slice(&b[(pos - s) as usize..(stop - s) as usize]);
            pos = stop;
        }
        Ok(Bytes::from(out))
    }
}

/// The fetched bytes as a Parquet [`ChunkReader`].
pub(crate) struct FetchedReader {
    fetched: Fetched,
    file_len: u64,
}

fn external(e: BlockError) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl Length for FetchedReader {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for FetchedReader {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        // The reader only uses this without an offset index, which every
        // block has; hand out what follows `start` in its range.
        let (s, b) = self
            .fetched
            .ranges
            .range(..=start)
            .next_back()
            .filter(|(s, b)| **s + b.len() as u64 > start)
            .ok_or_else(|| {
                external(BlockError::RangeNotFetched {
                    start,
                    end: start + 1,
                })
            })?;
        Ok(b.slice((start - s) as usize..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.fetched.get(start, length).map_err(external)
    }
}

/// Reads the values of one column for the selected rows of a row group:
/// one `Option` per row, `None` for null.
pub(crate) fn read_column<T: DataType>(
    footer: &BlockFooter,
    reader: &Arc<FetchedReader>,
    rg: usize,
    col: usize,
    rows: &[Range<usize>],
) -> Result<Vec<Option<T::T>>> {
    guard(&format!("row group {rg} column {col}"), || {
        let meta = footer.metadata.row_group(rg).column(col);
        let total = footer.rows(rg);
        let props = Arc::new(ReaderProperties::builder().build());
        let pages = SerializedPageReader::new_with_properties(
            Arc::clone(reader),
            meta,
            total,
            Some(footer.pages(rg, col).to_vec()),
            props,
        )?;
        let descr = footer.metadata.file_metadata().schema_descr().column(col);
        let nullable = descr.max_def_level() > 0;
        let mut column = ColumnReaderImpl::<T>::new(descr, Box::new(pages) as Box<dyn PageReader>);
        let mut out = Vec::with_capacity(rows.iter().map(|r| r.len()).sum());
        let mut pos = 0;
        let mut defs = Vec::new();
        let mut values = Vec::new();
        for r in rows {
            let skip = r.start - pos;
            if skip > 0 && column.skip_records(skip)? != skip {
                return Err(BlockError::Corrupt(format!(
                    "row group {rg} column {col} ends before row {}",
                    r.start
                )));
            }
            defs.clear();
            values.clear();
            let want = r.len();
            let (read, _, _) = column.read_records(
                want,
                if nullable { Some(&mut defs) } else { None },
                None,
                &mut values,
            )?;
            if read != want {
                return Err(BlockError::Corrupt(format!(
                    "row group {rg} column {col} ends before row {}",
                    r.start + read
                )));
            }
            if nullable {
                if defs.len() != want || defs.iter().filter(|d| **d > 0).count() != values.len() {
                    return Err(BlockError::Corrupt(format!(
                        "row group {rg} column {col}: levels and values disagree"
                    )));
                }
                let mut it = values.drain(..);
                out.extend(defs.iter().map(|d| if *d > 0 { it.next() } else { None }));
            } else {
                out.extend(values.drain(..).map(Some));
            }
            pos = r.end;
        }
        Ok(out)
    })
}

pub(crate) fn reader_for(footer: &BlockFooter, fetched: &Fetched) -> Arc<FetchedReader> {
    Arc::new(FetchedReader {
        fetched: fetched.clone(),
        file_len: footer.file_len(),
    })
}

/// Decodes the label columns of the selected rows of one row group into
/// label sets, checking they are UTF-8, non-empty and in order.
pub(crate) fn decode_labels(
    footer: &BlockFooter,
    reader: &Arc<FetchedReader>,
    sel: &RowGroupSelection,
) -> Result<Vec<(usize, Labels)>> {
    let rg = sel.row_group;
    let layout = &footer.layout;
    let mut label_values = Vec::with_capacity(layout.num_labels());
    for c in 0..layout.num_labels() {
        label_values.push(read_column::<ByteArrayType>(
            footer, reader, rg, c, &sel.rows,
        )?);
    }
    let mut out: Vec<(usize, Labels)> = Vec::new();
    for (i, row) in sel.rows.iter().flat_map(|r| r.clone()).enumerate() {
        let mut labels = Vec::new();
        for (c, values) in label_values.iter().enumerate() {
            if let Some(v) = &values[i] {
                let bad = |what: &str| BlockError::CorruptRow {
                    row_group: rg,
                    row,
                    reason: format!("label {:?} {what}", layout.label_names[c]),
                };
                let value = std::str::from_utf8(v.data()).map_err(|_| bad("is not UTF-8"))?;
                if value.is_empty() {
                    return Err(bad("has an empty value"));
                }
                labels.push(Label::new(layout.label_names[c].clone(), value));
            }
        }
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let labels = Labels::from_sorted_unchecked(labels);
        if let Some((prev_row, prev_labels)) = out.last() {
            if *prev_row + 1 == row && series_order(prev_labels, &labels).is_ge() {
                return Err(BlockError::CorruptRow {
                    row_group: rg,
                    row,
                    reason: format!("series {labels} is not after {prev_labels}"),
                });
            }
        }
        out.push((row, labels));
    }
    Ok(out)
}

pub(crate) fn whole_file_reader(footer: &BlockFooter, file: Bytes) -> Arc<FetchedReader> {
    Arc::new(FetchedReader {
        fetched: Fetched::whole(file),
        file_len: footer.file_len(),
    })
}
