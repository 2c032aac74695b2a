//! Writing blocks: checks the input, cuts every series into chunk cells,
//! and writes the Parquet file with the column writer API.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, ZstdLevel};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{
    BloomFilterPosition, EnabledStatistics, WriterProperties, WriterVersion,
};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use stratus_model::{Labels, Sample, TenantId, METRIC_NAME};

use crate::cell::{dedupe, encode_cell};
use crate::downsample::{window_end, AggrPoint};
use crate::error::{BlockError, Result};
use crate::fingerprint::fingerprint;
use crate::options::{chunk_range, num_chunks, to_key_values, BlockInfo, BlockOptions};
use crate::schema::{Layout, Resolution, AGGREGATES, AGGREGATES_V2};

/// Label columns that always get a bloom filter (when present).
const BLOOM_ALWAYS: [&str; 3] = [METRIC_NAME, "job", "instance"];

/// One series, ready to write.
struct Row<'a> {
    labels: &'a Labels,
    min_t: i64,
    max_t: i64,
    points: u64,
    /// `num_chunks * chunks_per_range` cells, sub-range major.
    cells: Vec<Option<Vec<u8>>>,
}

/// The order of rows: metric name (none sorts as ""), then the label set.
pub(crate) fn series_order(a: &Labels, b: &Labels) -> Ordering {
    a.metric_name()
        .unwrap_or("")
        .cmp(b.metric_name().unwrap_or(""))
        .then_with(|| a.cmp(b))
}

fn check_labels(prev: Option<&Labels>, labels: &Labels) -> Result<()> {
    if let Some(prev) = prev {
        if series_order(prev, labels) != Ordering::Less {
            return Err(BlockError::SeriesOutOfOrder {
                previous: prev.to_string(),
                next: labels.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks timestamps: at least one, strictly increasing, in the block.
fn check_times(
    labels: &Labels,
    times: impl Iterator<Item = i64>,
    min_time: i64,
    max_time: i64,
) -> Result<()> {
    let mut prev: Option<i64> = None;
    let mut n = 0;
    for (index, t) in times.enumerate() {
        if let Some(p) = prev {
            if t <= p {
                return Err(BlockError::NonIncreasingTimestamps {
                    labels: labels.to_string(),
                    index,
                    previous: p,
                    next: t,
                });
            }
        }
        if t < min_time || t >= max_time {
            return Err(BlockError::SampleOutsideBlock {
                labels: labels.to_string(),
                t,
                min_time,
                max_time,
            });
        }
        prev = Some(t);
        n += 1;
    }
    if n == 0 {
        return Err(BlockError::EmptySeries {
            labels: labels.to_string(),
        });
    }
    Ok(())
}

/// Index of the chunk sub-range holding `t` (which is in the block).
fn chunk_of(t: i64, min_time: i64, width: i64) -> usize {
    ((i128::from(t) - i128::from(min_time)) / i128::from(width)) as usize
}

/// Splits items sorted by time into runs of equal chunk index.
fn runs_by_chunk<T>(
    items: &[T],
    time: impl Fn(&T) -> i64,
    min_time: i64,
    width: i64,
) -> Vec<(usize, &[T])> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let k = chunk_of(time(&items[start]), min_time, width);
        let (_, end) = chunk_range(min_time, i64::MAX, width, k);
        let len = items[start..].partition_point(|i| time(i) < end);
        out.push((k, &items[start..start + len]));
        start += len;
    }
    out
}

/// Writes a raw block. `series` must be sorted by metric name, then label
/// set, each label set once; every series has at least one sample, with
/// strictly increasing timestamps inside `[min_time, max_time)`.
pub fn write_raw_block<'a>(
    tenant: &TenantId,
    min_time: i64,
    max_time: i64,
    series: impl IntoIterator<Item = (&'a Labels, &'a [Sample])>,
    opts: &BlockOptions,
) -> Result<Vec<u8>> {
    let mut writer = RawBlockWriter::new(tenant, min_time, max_time, opts)?;
    for (labels, samples) in series {
        writer.push(labels, samples)?;
    }
    writer.finish()
}

/// Writes a raw block one series at a time, for callers that do not hold
/// every series' samples at once: each series is encoded when pushed and
/// only its cells are kept. Gives the same bytes as [`write_raw_block`]
/// (which uses it) and checks the same things.
pub struct RawBlockWriter<'a> {
    tenant: TenantId,
    min_time: i64,
    max_time: i64,
    opts: BlockOptions,
    num_chunks: usize,
    rows: Vec<Row<'a>>,
}

impl<'a> RawBlockWriter<'a> {
    pub fn new(
        tenant: &TenantId,
        min_time: i64,
        max_time: i64,
        opts: &BlockOptions,
    ) -> Result<Self> {
        opts.validate()?;
        let num_chunks = num_chunks(min_time, max_time, opts.chunk_width_ms)?;
        Ok(Self {
            tenant: tenant.clone(),
            min_time,
            max_time,
            opts: opts.clone(),
            num_chunks,
            rows: Vec::new(),
        })
    }

    /// Adds the next series: after the previous one in block order, with
    /// at least one sample, strictly increasing timestamps inside the
    /// block.
    pub fn push(&mut self, labels: &'a Labels, samples: &[Sample]) -> Result<()> {
        let (min_time, max_time) = (self.min_time, self.max_time);
        check_labels(self.rows.last().map(|r| r.labels), labels)?;
        check_times(labels, samples.iter().map(|s| s.t), min_time, max_time)?;
        let width = self.opts.chunk_width_ms;
        let mut cells = vec![None; self.num_chunks];
        for (k, run) in runs_by_chunk(samples, |s| s.t, min_time, width) {
            let (start, _) = chunk_range(min_time, max_time, width, k);
            cells[k] = Some(encode_cell(run, start));
        }
        self.rows.push(Row {
            labels,
            min_t: samples[0].t,
            max_t: samples[samples.len() - 1].t,
            points: samples.len() as u64,
            cells,
        });
        Ok(())
    }

    /// Series pushed so far.
    pub fn num_series(&self) -> usize {
        self.rows.len()
    }

    /// Writes the Parquet file.
    pub fn finish(self) -> Result<Vec<u8>> {
        write_rows(
            &self.tenant,
            self.min_time,
            self.max_time,
            Resolution::Raw,
            self.num_chunks,
            &[],
            self.rows,
            &self.opts,
        )
    }
}

/// Writes a downsampled block of points made by
/// [`downsample`](crate::downsample()) with the same `step_ms`. The block
/// range must be aligned to `step_ms`; every point's `t` must be the last
/// millisecond of a window. Series order as for [`write_raw_block`].
pub fn write_downsampled_block<'a>(
    tenant: &TenantId,
    min_time: i64,
    max_time: i64,
    step_ms: i64,
    series: impl IntoIterator<Item = (&'a Labels, &'a [AggrPoint])>,
    opts: &BlockOptions,
) -> Result<Vec<u8>> {
    opts.validate()?;
    if step_ms <= 0 {
        return Err(BlockError::InvalidOptions {
            what: "step_ms",
            reason: format!("must be positive, got {step_ms}"),
        });
    }
    if min_time.rem_euclid(step_ms) != 0 || max_time.rem_euclid(step_ms) != 0 {
        return Err(BlockError::InvalidOptions {
            what: "step_ms",
            reason: format!(
                "block range [{min_time}, {max_time}) is not aligned to the step of {step_ms} ms"
            ),
        });
    }
    let n = num_chunks(min_time, max_time, opts.chunk_width_ms)?;
    // Version 3 when every point has its window's edges; points read from
    // a version 2 block (rewritten for a delete request) stay version 2.
    let series: Vec<(&Labels, &[AggrPoint])> = series.into_iter().collect();
    let with_edges = series
        .iter()
        .all(|(_, points)| points.iter().all(|p| p.edges.is_some()));
    let aggregates: &'static [&'static str] = if with_edges {
        &AGGREGATES
    } else {
        &AGGREGATES_V2
    };
    let per = aggregates.len();
    let mut rows = Vec::new();
    let mut prev: Option<&Labels> = None;
    for (labels, points) in series {
        check_labels(prev, labels)?;
        check_times(labels, points.iter().map(|p| p.t), min_time, max_time)?;
        if let Some(w) = points
            .windows(2)
            .find(|w| window_end(w[0].t, step_ms) == window_end(w[1].t, step_ms))
        {
            return Err(BlockError::InvalidOptions {
                what: "step_ms",
                reason: format!(
                    "series {labels}: points at {} and {} fall in the same {step_ms} ms window",
                    w[0].t, w[1].t
                ),
            });
        }
        if let Some(p) = points.iter().find(|p| {
            p.edges.is_some_and(|e| {
                e.first_t > p.t || window_end(e.first_t, step_ms) != window_end(p.t, step_ms)
            })
        }) {
            return Err(BlockError::InvalidOptions {
                what: "step_ms",
                reason: format!(
                    "series {labels}: the point at {} has its first sample outside its window",
                    p.t
                ),
            });
        }
        let mut cells = vec![None; n * per];
        for (k, run) in runs_by_chunk(points, |p| p.t, min_time, opts.chunk_width_ms) {
            let (start, _) = chunk_range(min_time, max_time, opts.chunk_width_ms, k);
            let values: Vec<Vec<f64>> = run
                .iter()
                .map(|p| {
                    if with_edges {
                        p.values()
                    } else {
                        p.values_v2()
                    }
                })
                .collect();
            let mut column = Vec::with_capacity(run.len());
            for j in 0..per {
                column.clear();
                column.extend(run.iter().zip(&values).map(|(p, v)| Sample::new(p.t, v[j])));
                cells[k * per + j] = Some(encode_cell(&column, start));
            }
            dedupe(&mut cells[k * per..(k + 1) * per]);
        }
        rows.push(Row {
            labels,
            min_t: points[0].t,
            max_t: points[points.len() - 1].t,
            points: points.len() as u64,
            cells,
        });
        prev = Some(labels);
    }
    let resolution = Resolution::Downsampled { step_ms };
    write_rows(
        tenant, min_time, max_time, resolution, n, aggregates, rows, opts,
    )
}

/// CRC-32C over the cells of one sub-range, in column order; `None` when
/// all are null.
pub(crate) fn cells_crc<'c>(cells: impl Iterator<Item = Option<&'c [u8]>>) -> Option<u32> {
    let mut crc: Option<u32> = None;
    for c in cells.flatten() {
        crc = Some(crc32c::crc32c_append(crc.unwrap_or(0), c));
    }
    crc
}

// The layout's parts, each from its own caller's checks.
#[allow(clippy::too_many_arguments)]
fn write_rows(
    tenant: &TenantId,
    min_time: i64,
    max_time: i64,
    resolution: Resolution,
    num_chunks: usize,
    aggregates: &'static [&'static str],
    rows: Vec<Row<'_>>,
    opts: &BlockOptions,
) -> Result<Vec<u8>> {
    let mut names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.labels.iter().map(|l| l.name.as_str()))
        .collect();
    names.remove(METRIC_NAME);
    let label_names: Vec<String> = std::iter::once(METRIC_NAME)
        .chain(names)
        .map(String::from)
        .collect();
    let layout = Layout {
        raw: resolution.is_raw(),
        label_names,
        num_chunks,
        aggregates,
    };
    let info = BlockInfo {
        tenant: tenant.as_str().to_string(),
        min_time,
        max_time,
        resolution,
        num_series: rows.len() as u64,
        num_samples: rows.iter().map(|r| r.points).sum(),
        chunk_width_ms: opts.chunk_width_ms,
        num_chunks,
        label_names: layout.label_names.clone(),
        version: if resolution.is_raw() || aggregates == AGGREGATES {
            3
        } else {
            2
        },
    };
    let props = properties(&layout, &info, &rows, opts)?;
    let mut writer = SerializedFileWriter::new(Vec::new(), layout.schema()?, Arc::new(props))?;
    for group in rows.chunks(opts.row_group_rows) {
        let mut rg = writer.next_row_group()?;
        let mut col = 0;
        while let Some(mut cw) = rg.next_column()? {
            write_column(&layout, col, group, cw.untyped())?;
            cw.close()?;
            col += 1;
        }
        rg.close()?;
    }
    Ok(writer.into_inner()?)
}

fn properties(
    layout: &Layout,
    info: &BlockInfo,
    rows: &[Row<'_>],
    opts: &BlockOptions,
) -> Result<WriterProperties> {
    let zstd = Compression::ZSTD(ZstdLevel::try_new(opts.zstd_level)?);
    let names = layout.column_names();
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(zstd)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_write_batch_size((opts.label_page_rows / 4).clamp(1, 1024))
        .set_data_page_row_count_limit(opts.label_page_rows)
        .set_bloom_filter_position(BloomFilterPosition::End)
        .set_key_value_metadata(Some(to_key_values(info)))
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: true,
        }]));
    for (c, name) in layout.label_names.iter().enumerate() {
        let path = ColumnPath::from(name.as_str());
        b = b
            .set_column_dictionary_enabled(path.clone(), true)
            .set_column_dictionary_page_size_limit(path.clone(), opts.label_dictionary_page_bytes);
        if c == 0 {
            // Rows are sorted by metric name, so `__name__` page statistics
            // select a metric's rows closely, the finer the pages the
            // closer. Other label columns have no such order within a row
            // group: their page statistics would cost footer bytes for
            // little pruning, so they get row group statistics only.
            let rows = (opts.label_page_rows / 4).max(1);
            b = b
                .set_column_statistics_enabled(path.clone(), EnabledStatistics::Page)
                .set_column_data_page_row_count_limit(path.clone(), rows);
        } else {
            b = b.set_column_statistics_enabled(path.clone(), EnabledStatistics::Chunk);
        }
        // Distinct values per row group decide whether a bloom filter pays:
        // with one value the statistics already answer exactly.
        let ndv = rows
            .chunks(opts.row_group_rows)
            .map(|g| {
                g.iter()
                    .filter_map(|r| r.labels.get(&layout.label_names[c]))
                    .collect::<HashSet<_>>()
                    .len()
            })
            .max()
            .unwrap_or(0);
        if ndv >= 2 || (ndv == 1 && BLOOM_ALWAYS.contains(&name.as_str())) {
            b = b
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_fpp(path.clone(), opts.bloom_fpp)
                .set_column_bloom_filter_max_ndv(path, ndv as u64);
        }
    }
    for c in [layout.min_time(), layout.max_time()] {
        b = b.set_column_statistics_enabled(
            ColumnPath::from(names[c].as_str()),
            EnabledStatistics::Page,
        );
    }
    for k in 0..layout.num_chunks {
        for c in layout.chunk_columns(k) {
            let path = ColumnPath::from(names[c].as_str());
            b = b
                .set_column_data_page_size_limit(path.clone(), opts.chunk_page_bytes)
                .set_column_data_page_row_count_limit(path.clone(), usize::MAX);
            if !opts.compress_chunks {
                b = b.set_column_compression(path, Compression::UNCOMPRESSED);
            }
        }
    }
    Ok(b.build())
}

fn def_levels<T>(values: &[Option<T>]) -> Vec<i16> {
    values.iter().map(|v| i16::from(v.is_some())).collect()
}

fn write_column(
    layout: &Layout,
    col: usize,
    rows: &[Row<'_>],
    writer: &mut ColumnWriter<'_>,
) -> Result<()> {
    let wrong_type = || BlockError::InvalidSchema(format!("column {col} has an unexpected type"));
    let n = layout.num_labels();
    let per = layout.chunks_per_range();
    let group = per + 1;
    match writer {
        ColumnWriter::ByteArrayColumnWriter(w) => {
            let cells: Vec<Option<ByteArray>> = if col < n {
                let name = &layout.label_names[col];
                rows.iter()
                    .map(|r| {
                        r.labels
                            .get(name)
                            .map(|v| ByteArray::from(v.as_bytes().to_vec()))
                    })
                    .collect()
            } else {
                let k = (col - (n + 4)) / group;
                let j = (col - (n + 4)) % group;
                rows.iter()
                    .map(|r| {
                        r.cells[k * per + j]
                            .as_ref()
                            .map(|c| ByteArray::from(Bytes::from(c.clone())))
                    })
                    .collect()
            };
            let defs = def_levels(&cells);
            let values: Vec<ByteArray> = cells.into_iter().flatten().collect();
            w.write_batch(&values, Some(&defs), None)?;
        }
        ColumnWriter::Int64ColumnWriter(w) => {
            let values: Vec<i64> = rows
                .iter()
                .map(|r| match col - n {
                    0 => fingerprint(r.labels) as i64,
                    1 => r.min_t,
                    2 => r.max_t,
                    _ => r.points as i64,
                })
                .collect();
            w.write_batch(&values, None, None)?;
        }
        ColumnWriter::Int32ColumnWriter(w) => {
            let k = (col - (n + 4)) / group;
            let crcs: Vec<Option<i32>> = rows
                .iter()
                .map(|r| {
                    let cells = &r.cells[k * per..(k + 1) * per];
                    cells_crc(cells.iter().map(|c| c.as_deref())).map(|c| c as i32)
                })
                .collect();
            let defs = def_levels(&crcs);
            let values: Vec<i32> = crcs.into_iter().flatten().collect();
            w.write_batch(&values, Some(&defs), None)?;
        }
        _ => return Err(wrong_type()),
    }
    Ok(())
}
