//! Whole-file helpers: read every series (tests, admin, compaction input)
//! and describe where a block's bytes go.

use std::fmt;

use bytes::Bytes;
use parquet::data_type::Int64Type;
use stratus_model::{Labels, TimeRange};

use crate::error::{BlockError, Result};
use crate::fetch::{read_column, whole_file_reader, Fetched};
use crate::footer::BlockFooter;
use crate::options::BlockInfo;
use crate::read::{read_downsampled, read_raw};
use crate::write::series_order;
use crate::{DownsampledSeries, RawSeries};

/// Per-series statistics columns of every row, in file order.
fn row_stats(footer: &BlockFooter, file: &Bytes) -> Result<Vec<(i64, i64, i64)>> {
    let reader = whole_file_reader(footer, file.clone());
    let l = &footer.layout;
    let mut out = Vec::new();
    for rg in 0..footer.metadata.num_row_groups() {
        let all: Vec<_> = std::iter::once(0..footer.rows(rg)).collect();
        let mut cols = [l.min_time(), l.max_time(), l.samples()]
            .into_iter()
            .map(|c| read_column::<Int64Type>(footer, &reader, rg, c, &all))
            .collect::<Result<Vec<_>>>()?
            .into_iter();
        let (Some(mins), Some(maxs), Some(counts)) = (cols.next(), cols.next(), cols.next()) else {
            return Err(BlockError::Corrupt(format!(
                "row group {rg}: statistics columns"
            )));
        };
        for (i, ((a, b), n)) in mins.into_iter().zip(maxs).zip(counts).enumerate() {
            match (a, b, n) {
                (Some(a), Some(b), Some(n)) => out.push((a, b, n)),
                _ => {
                    return Err(BlockError::Corrupt(format!(
                        "row group {rg} row {i}: null statistics"
                    )))
                }
            }
        }
    }
    Ok(out)
}

/// Checks what only a whole-file read can: every row decoded, rows in
/// order across row groups, and the per-series and per-block counts.
fn check_whole<T>(
    footer: &BlockFooter,
    file: &Bytes,
    series: &[(Labels, Vec<T>)],
    time: impl Fn(&T) -> i64,
) -> Result<()> {
    let info = &footer.info;
    if series.len() as u64 != info.num_series {
        return Err(BlockError::Corrupt(format!(
            "metadata says {} series, {} rows have samples",
            info.num_series,
            series.len()
        )));
    }
    if let Some(w) = series
        .windows(2)
        .find(|w| series_order(&w[0].0, &w[1].0).is_ge())
    {
        return Err(BlockError::Corrupt(format!(
            "series {} is not after {}",
            w[1].0, w[0].0
        )));
    }
    let stats = row_stats(footer, file)?;
    let mut total = 0u64;
    for ((labels, points), &(min_t, max_t, n)) in series.iter().zip(&stats) {
        let (first, last) = match (points.first(), points.last()) {
            (Some(f), Some(l)) => (time(f), time(l)),
            _ => continue,
        };
        if (first, last, points.len() as i64) != (min_t, max_t, n) {
            return Err(BlockError::Corrupt(format!(
                "series {labels}: columns say {n} samples in [{min_t}, {max_t}], \
                 the chunks hold {} in [{first}, {last}]",
                points.len()
            )));
        }
        total += points.len() as u64;
    }
    if total != info.num_samples {
        return Err(BlockError::Corrupt(format!(
            "metadata says {} samples, the chunks hold {total}",
            info.num_samples
        )));
    }
    Ok(())
}

fn whole(file: &[u8]) -> Result<(BlockFooter, Bytes)> {
    let footer = BlockFooter::parse(file.len() as u64, file)?;
    Ok((footer, Bytes::copy_from_slice(file)))
}

fn full_range(info: &BlockInfo) -> TimeRange {
    TimeRange::new(info.min_time, info.max_time - 1)
}

/// Reads every series of a raw block, checking everything there is to
/// check (checksums, fingerprints, order, counts).
pub fn read_all(file: &[u8]) -> Result<(BlockInfo, Vec<RawSeries>)> {
    let (footer, bytes) = whole(file)?;
    let range = full_range(&footer.info);
    let plan = footer.plan(&[], range);
    let series = read_raw(&footer, &plan, &Fetched::whole(bytes.clone()), &[], range)?;
    check_whole(&footer, &bytes, &series, |s| s.t)?;
    Ok((footer.info, series))
}

/// As [`read_all`], for downsampled blocks.
pub fn read_all_downsampled(file: &[u8]) -> Result<(BlockInfo, Vec<DownsampledSeries>)> {
    let (footer, bytes) = whole(file)?;
    let range = full_range(&footer.info);
    let plan = footer.plan(&[], range);
    let series = read_downsampled(&footer, &plan, &Fetched::whole(bytes.clone()), &[], range)?;
    check_whole(&footer, &bytes, &series, |p| p.t)?;
    Ok((footer.info, series))
}

/// Where the bytes of a block go.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockStats {
    pub info: BlockInfo,
    pub file_bytes: u64,
    /// Metadata, page index and bloom filters at the end of the file.
    pub footer_bytes: u64,
    /// File bytes per stored sample (or aggregate point).
    pub bytes_per_sample: f64,
    pub row_groups: Vec<RowGroupStats>,
    /// Per column, summed over row groups, in column order.
    pub columns: Vec<ColumnStats>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowGroupStats {
    pub rows: u64,
    pub compressed_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnStats {
    pub name: String,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub data_pages: u64,
    /// Column index and offset index bytes (in the footer).
    pub index_bytes: u64,
    /// Bloom filter bytes (in the footer); 0 without one.
    pub bloom_bytes: u64,
}

/// Describes a block: its info and where its bytes go. Reads only the
/// footer.
pub fn inspect(file: &[u8]) -> Result<BlockStats> {
    let footer = BlockFooter::parse(file.len() as u64, file)?;
    let names = footer.layout.column_names();
    let mut columns: Vec<ColumnStats> = names
        .iter()
        .map(|n| ColumnStats {
            name: n.clone(),
            compressed_bytes: 0,
            uncompressed_bytes: 0,
            data_pages: 0,
            index_bytes: 0,
            bloom_bytes: 0,
        })
        .collect();
    let mut row_groups = Vec::new();
    for (r, rg) in footer.metadata.row_groups().iter().enumerate() {
        row_groups.push(RowGroupStats {
            rows: rg.num_rows() as u64,
            compressed_bytes: rg.compressed_size() as u64,
        });
        for (c, cc) in rg.columns().iter().enumerate() {
            let s = &mut columns[c];
            s.compressed_bytes += cc.compressed_size() as u64;
            s.uncompressed_bytes += cc.uncompressed_size() as u64;
            s.data_pages += footer.pages(r, c).len() as u64;
            s.index_bytes += [cc.column_index_length(), cc.offset_index_length()]
                .into_iter()
                .flatten()
                .map(|l| l.max(0) as u64)
                .sum::<u64>();
            s.bloom_bytes += cc.bloom_filter_length().map_or(0, |l| l.max(0) as u64);
        }
    }
    let samples = footer.info.num_samples.max(1);
    Ok(BlockStats {
        bytes_per_sample: file.len() as f64 / samples as f64,
        file_bytes: file.len() as u64,
        footer_bytes: footer.tail_len(),
        row_groups,
        columns,
        info: footer.info,
    })
}

impl fmt::Display for BlockStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        writeln!(
            f,
            "tenant {} [{}, {}) {:?}, {} series, {} samples, {} chunk columns of {} ms",
            i.tenant,
            i.min_time,
            i.max_time,
            i.resolution,
            i.num_series,
            i.num_samples,
            i.num_chunks,
            i.chunk_width_ms
        )?;
        writeln!(
            f,
            "{} bytes ({:.3} bytes/sample), footer {} bytes, {} row groups",
            self.file_bytes,
            self.bytes_per_sample,
            self.footer_bytes,
            self.row_groups.len()
        )?;
        writeln!(
            f,
            "{:<24} {:>12} {:>12} {:>6} {:>8} {:>8}",
            "column", "bytes", "raw bytes", "pages", "index", "bloom"
        )?;
        for c in &self.columns {
            writeln!(
                f,
                "{:<24} {:>12} {:>12} {:>6} {:>8} {:>8}",
                c.name,
                c.compressed_bytes,
                c.uncompressed_bytes,
                c.data_pages,
                c.index_bytes,
                c.bloom_bytes
            )?;
        }
        Ok(())
    }
}
