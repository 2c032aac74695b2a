//! Reading planned rows from fetched byte ranges: decode the label,
//! fingerprint, checksum and chunk columns of the candidate rows, check
//! them, apply the matchers exactly and cut the samples to the time range.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parquet::data_type::{ByteArrayType, Int32Type, Int64Type};
use stratus_model::{matches_all, LabelMatcher, Labels, Sample, TimeRange};

use crate::cell::{self, CellError};
use crate::downsample::{window_end, AggrPoint, WindowEdges};
use crate::error::{BlockError, Result};
use crate::fetch::{decode_labels, read_column, reader_for, Fetched, FetchedReader};
use crate::fingerprint::fingerprint;
use crate::footer::BlockFooter;
use crate::plan::{check_plan, ReadPlan};
use crate::selection::RowGroupSelection;
use crate::write::cells_crc;
use crate::{DownsampledSeries, RawSeries};

/// One decoded candidate row.
pub(crate) struct DecodedRow {
    pub labels: Labels,
    /// Per planned sub-range, its chunk cells (1 raw, 6 downsampled).
    pub cells: Vec<Vec<Option<Bytes>>>,
    pub row: usize,
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
    let step_ms = footer.info.resolution.step_ms();
    let reader = reader_for(footer, fetched);
    let mut out = Vec::new();
    for sel in &plan.selections {
        for d in decode_selection(footer, &reader, sel, plan.chunks.clone(), matchers)? {
            let mut points = Vec::new();
            // The derived counter of version 3 (see `AggrPoint::counter`).
            let mut offset = 0.0;
            let mut prev_last: Option<f64> = None;
            for (k, cells) in plan.chunks.clone().zip(&d.cells) {
                let columns = footer.layout.chunk_columns(k);
                let present = cells.iter().filter(|c| c.is_some()).count();
                if present == 0 {
                    continue;
                }
                let per = footer.layout.chunks_per_range();
                if present != per {
                    return Err(BlockError::CorruptRow {
                        row_group: sel.row_group,
                        row: d.row,
                        reason: format!("sub-range {k} has {present} of {per} aggregate chunks"),
                    });
                }
                let mut per_aggr: Vec<Vec<Sample>> = Vec::with_capacity(per);
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
                                footer.layout.aggregates[j]
                            ),
                        });
                    }
                }
                let edges = footer.info.has_edges();
                for (i, first) in per_aggr[0].iter().enumerate() {
                    let v = |j: usize| per_aggr[j][i].v;
                    let (edges, counter) = if edges {
                        let e = window_edges(first.t, first.v, v(5), v(6), v(7), step_ms).map_err(
                            |reason| BlockError::CorruptRow {
                                row_group: sel.row_group,
                                row: d.row,
                                reason: format!("sub-range {k}, point at {}: {reason}", first.t),
                            },
                        )?;
                        // Version 3 derives the counter from the edges: the
                        // drops inside the window, and between the last
                        // window read and this one.
                        if let Some(prev) = prev_last {
                            if e.first < prev {
                                offset += prev;
                            }
                        }
                        offset += e.drops;
                        prev_last = Some(v(4));
                        (Some(e), v(4) + offset)
                    } else {
                        (None, v(5))
                    };
                    if !range.contains(first.t) {
                        continue;
                    }
                    points.push(AggrPoint {
                        t: first.t,
                        count: first.v,
                        sum: v(1),
                        min: v(2),
                        max: v(3),
                        last: v(4),
                        counter,
                        edges,
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

/// The edges of the point at `t` of a `step_ms` window, checked: the count
/// a whole number of samples, at least one and at most one per millisecond
/// of the span (so no corrupt count can make a reader expand a window into
/// more samples than its time allows), the first sample inside the window
/// and not after the last.
pub(crate) fn window_edges(
    t: i64,
    count: f64,
    first: f64,
    span: f64,
    drops: f64,
    step_ms: i64,
) -> std::result::Result<WindowEdges, String> {
    if !(span >= 0.0 && span < step_ms as f64 && span.fract() == 0.0) {
        return Err(format!(
            "span {span} is not a whole number of ms inside the window"
        ));
    }
    let first_t = t - span as i64;
    if window_end(first_t, step_ms) != window_end(t, step_ms) {
        return Err(format!("first sample at {first_t} is outside the window"));
    }
    if !(count >= 1.0 && count.fract() == 0.0 && count <= span + 1.0) {
        return Err(format!(
            "count {count} is not a whole number from 1 to the span plus one ({})",
            span + 1.0
        ));
    }
    if span == 0.0 && (count != 1.0 || drops != 0.0) {
        return Err("a window of one sample with drops or more samples".to_string());
    }
    Ok(WindowEdges {
        first_t,
        first,
        drops,
    })
}
