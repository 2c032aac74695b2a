//! Reading planned rows from fetched byte ranges: decode the label,
//! fingerprint, checksum and chunk columns of the candidate rows, check
//! them, apply the matchers exactly and cut the samples to the time range.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use parquet::column::page::PageReader;
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::{ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use stratus_model::{matches_all, Label, LabelMatcher, Labels, Sample, TimeRange};

use crate::cell::{self, CellError};
use crate::downsample::AggrPoint;
use crate::error::{guard, BlockError, Result};
use crate::fingerprint::fingerprint;
use crate::footer::BlockFooter;
use crate::plan::{ReadPlan, RowGroupSelection};
use crate::schema::AGGREGATES;
use crate::write::{cells_crc, series_order};
use crate::{DownsampledSeries, RawSeries};

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
        read_column_unguarded::<T>(footer, reader, rg, col, rows)
    })
}

fn read_column_unguarded<T: DataType>(
    footer: &BlockFooter,
    reader: &Arc<FetchedReader>,
    rg: usize,
    col: usize,
    rows: &[Range<usize>],
) -> Result<Vec<Option<T::T>>> {
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
}

/// One decoded candidate row.
pub(crate) struct DecodedRow {
    pub labels: Labels,
    /// Per planned sub-range, its chunk cells (1 raw, 6 downsampled).
    pub cells: Vec<Vec<Option<Bytes>>>,
    pub row: usize,
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

/// Decodes the selected rows of one row group: labels, fingerprints (must
/// match the labels), and for rows matching `matchers` the chunk cells of
/// the planned sub-ranges (must match their checksums).
pub(crate) fn decode_selection(
    footer: &BlockFooter,
    reader: &Arc<FetchedReader>,
    sel: &RowGroupSelection,
    chunks: Range<usize>,
    matchers: &[LabelMatcher],
) -> Result<Vec<DecodedRow>> {
    let rg = sel.row_group;
    let layout = &footer.layout;
    let decoded = decode_labels(footer, reader, sel)?;
    let fingerprints =
        read_column::<Int64Type>(footer, reader, rg, layout.fingerprint(), &sel.rows)?;
    let mut rows = Vec::new();
    for (i, ((row, labels), stored)) in decoded.into_iter().zip(fingerprints).enumerate() {
        let stored = stored.map(|f| f as u64);
        let actual = fingerprint(&labels);
        if stored != Some(actual) {
            return Err(BlockError::CorruptRow {
                row_group: rg,
                row,
                reason: format!(
                    "fingerprint of {labels} is {actual:#018x}, stored {:#018x}",
                    stored.unwrap_or(0)
                ),
            });
        }
        if matches_all(matchers, &labels) {
            rows.push((i, row, labels));
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    // Pages hold ranges of rows: read all selected rows' cells and keep
    // the matching ones.
    let mut out: Vec<DecodedRow> = Vec::with_capacity(rows.len());
    for (_, row, labels) in &rows {
        out.push(DecodedRow {
            labels: labels.clone(),
            cells: Vec::with_capacity(chunks.len()),
            row: *row,
        });
    }
    for k in chunks {
        let crcs = read_column::<Int32Type>(footer, reader, rg, layout.crc_column(k), &sel.rows)?;
        let mut columns = Vec::new();
        for c in layout.chunk_columns(k) {
            columns.push(read_column::<ByteArrayType>(
                footer, reader, rg, c, &sel.rows,
            )?);
        }
        for (d, (i, row, _)) in out.iter_mut().zip(&rows) {
            let cells: Vec<Option<Bytes>> = columns
                .iter()
                .map(|col| col[*i].as_ref().map(|b| Bytes::copy_from_slice(b.data())))
                .collect();
            let actual = cells_crc(cells.iter().map(|c| c.as_deref()));
            let stored = crcs[*i].map(|c| c as u32);
            if actual != stored {
                return Err(BlockError::ChecksumMismatch {
                    row_group: rg,
                    row: *row,
                    what: format!("sub-range {k}"),
                    stored: stored.unwrap_or(0),
                    actual: actual.unwrap_or(0),
                });
            }
            d.cells.push(cells);
        }
    }
    Ok(out)
}

pub(crate) fn reader_for(footer: &BlockFooter, fetched: &Fetched) -> Arc<FetchedReader> {
    Arc::new(FetchedReader {
        fetched: fetched.clone(),
        file_len: footer.file_len(),
    })
}

/// Decodes one chunk cell of sub-range `k`, checking its samples are
/// strictly increasing and inside the sub-range.
fn decode_cell(
    footer: &BlockFooter,
    d: &DecodedRow,
    rg: usize,
    k: usize,
    column: usize,
    bytes: &[u8],
    mut f: impl FnMut(Sample),
) -> Result<()> {
    let name = || footer.layout.column_names()[column].clone();
    let corrupt = |reason: String| BlockError::CorruptRow {
        row_group: rg,
        row: d.row,
        reason,
    };
    let (start, end) = footer.info.chunk_range(k);
    let mut prev: Option<i64> = None;
    let mut bad: Option<i64> = None;
    let n = cell::decode_cell(bytes, start, |s| {
        if bad.is_some() {
            return;
        }
        if s.t < start || s.t >= end || prev.is_some_and(|p| s.t <= p) {
            bad = Some(s.t);
            return;
        }
        prev = Some(s.t);
        f(s);
    })
    .map_err(|e| match e {
        CellError::Xor(source) => BlockError::Chunk {
            row_group: rg,
            row: d.row,
            column: name(),
            source,
        },
        other => corrupt(format!("chunk column {}: {other}", name())),
    })?;
    if n == 0 {
        return Err(corrupt(format!(
            "chunk column {} holds an empty chunk",
            name()
        )));
    }
    if let Some(t) = bad {
        return Err(corrupt(format!(
            "chunk column {} has a sample at {t} out of order or outside [{start}, {end})",
            name()
        )));
    }
    Ok(())
}

/// A plan must come from this footer: its row groups, rows and chunk
/// sub-ranges must exist.
pub(crate) fn check_plan(footer: &BlockFooter, plan: &ReadPlan) -> Result<()> {
    let ok = plan.chunks.end <= footer.info.num_chunks
        && plan.selections.iter().all(|s| {
            s.row_group < footer.metadata.num_row_groups()
                && s.rows
                    .iter()
                    .all(|r| r.start < r.end && r.end <= footer.rows(s.row_group))
                && s.rows.windows(2).all(|w| w[0].end <= w[1].start)
        });
    if ok {
        Ok(())
    } else {
        Err(BlockError::InvalidOptions {
            what: "plan",
            reason: "the plan was not made from this block's footer".to_string(),
        })
    }
}

fn check_kind(footer: &BlockFooter, raw: bool) -> Result<()> {
    if footer.layout.raw != raw {
        return Err(BlockError::InvalidMetadata {
            key: crate::options::KEY_RESOLUTION,
            expected: if raw { "raw" } else { "downsampled" },
            found: if raw { "downsampled" } else { "raw" }.to_string(),
        });
    }
    Ok(())
}

/// Decodes the series matching `matchers` from the ranges of `plan`
/// fetched into `fetched`, with their samples inside `range` (inclusive),
/// in block order. Series without samples in the range are left out.
pub fn read_raw(
    footer: &BlockFooter,
    plan: &ReadPlan,
    fetched: &Fetched,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Result<Vec<RawSeries>> {
    check_kind(footer, true)?;
    check_plan(footer, plan)?;
    let reader = reader_for(footer, fetched);
    let mut out = Vec::new();
    for sel in &plan.selections {
        for d in decode_selection(footer, &reader, sel, plan.chunks.clone(), matchers)? {
            let mut samples = Vec::new();
            for (k, cells) in plan.chunks.clone().zip(&d.cells) {
                if let Some(bytes) = &cells[0] {
                    let column = footer.layout.chunk_columns(k).start;
                    decode_cell(footer, &d, sel.row_group, k, column, bytes, |s| {
                        if range.contains(s.t) {
                            samples.push(s);
                        }
                    })?;
                }
            }
            if !samples.is_empty() {
                out.push((d.labels, samples));
            }
        }
    }
    Ok(out)
}

/// The label sets of the series matching `matchers` whose samples in the
/// block span a time overlapping `range` (inclusive), in block order, from
/// the ranges of a [`BlockFooter::labels_plan`] fetched into `fetched`. A
/// series with samples before and after `range` but none inside it is
/// listed too: the block keeps each series's first and last sample time,
/// not the times in between. Raw and downsampled blocks alike.
pub fn read_series_labels(
    footer: &BlockFooter,
    plan: &ReadPlan,
    fetched: &Fetched,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Result<Vec<Labels>> {
    check_plan(footer, plan)?;
    let reader = reader_for(footer, fetched);
    let layout = &footer.layout;
    let mut out = Vec::new();
    for sel in &plan.selections {
        let rg = sel.row_group;
        let labels = decode_labels(footer, &reader, sel)?;
        let mins = read_column::<Int64Type>(footer, &reader, rg, layout.min_time(), &sel.rows)?;
        let maxs = read_column::<Int64Type>(footer, &reader, rg, layout.max_time(), &sel.rows)?;
        for (((row, l), lo), hi) in labels.into_iter().zip(mins).zip(maxs) {
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(BlockError::CorruptRow {
                    row_group: rg,
                    row,
                    reason: "no __min_time or __max_time".to_string(),
                });
            };
            if lo <= range.max && hi >= range.min && matches_all(matchers, &l) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

/// As [`read_raw`], for downsampled blocks: the aggregate points with `t`
/// inside `range`.
pub fn read_downsampled(
    footer: &BlockFooter,
    plan: &ReadPlan,
    fetched: &Fetched,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Result<Vec<DownsampledSeries>> {
    check_kind(footer, false)?;
    check_plan(footer, plan)?;
    let reader = reader_for(footer, fetched);
    let mut out = Vec::new();
    for sel in &plan.selections {
        for d in decode_selection(footer, &reader, sel, plan.chunks.clone(), matchers)? {
            let mut points = Vec::new();
            for (k, cells) in plan.chunks.clone().zip(&d.cells) {
                let columns = footer.layout.chunk_columns(k);
                let present = cells.iter().filter(|c| c.is_some()).count();
                if present == 0 {
                    continue;
                }
                if present != AGGREGATES.len() {
                    return Err(BlockError::CorruptRow {
                        row_group: sel.row_group,
                        row: d.row,
                        reason: format!("sub-range {k} has {present} of 6 aggregate chunks"),
                    });
                }
                let mut per_aggr: Vec<Vec<Sample>> = Vec::with_capacity(AGGREGATES.len());
                for j in 0..cells.len() {
                    let mut v = Vec::new();
                    let cell = cell::resolve(cells, j).map_err(|e| BlockError::CorruptRow {
                        row_group: sel.row_group,
                        row: d.row,
                        reason: format!(
                            "chunk column {}: {e}",
                            footer.layout.column_names()[columns.start + j]
                        ),
                    })?;
                    if let Some(bytes) = cell {
                        decode_cell(
                            footer,
                            &d,
                            sel.row_group,
                            k,
                            columns.start + j,
                            bytes,
                            |s| v.push(s),
                        )?;
                    }
                    per_aggr.push(v);
                }
                let n = per_aggr[0].len();
                for (j, a) in per_aggr.iter().enumerate() {
                    if a.len() != n || a.iter().zip(&per_aggr[0]).any(|(x, y)| x.t != y.t) {
                        return Err(BlockError::CorruptRow {
                            row_group: sel.row_group,
                            row: d.row,
                            reason: format!(
                                "sub-range {k}: aggregate {} is not aligned with count",
                                AGGREGATES[j]
                            ),
                        });
                    }
                }
                for (i, first) in per_aggr[0].iter().enumerate() {
                    if !range.contains(first.t) {
                        continue;
                    }
                    let v = |j: usize| per_aggr[j][i].v;
                    points.push(AggrPoint {
                        t: first.t,
                        count: first.v,
                        sum: v(1),
                        min: v(2),
                        max: v(3),
                        last: v(4),
                        counter: v(5),
                    });
                }
            }
            if !points.is_empty() {
                out.push((d.labels, points));
            }
        }
    }
    Ok(out)
}

pub(crate) fn whole_file_reader(footer: &BlockFooter, file: Bytes) -> Arc<FetchedReader> {
    Arc::new(FetchedReader {
        fetched: Fetched::whole(file),
        file_len: footer.file_len(),
    })
}
