//! The data of `stratus bench query --dataset node`, in both systems.
//!
//! Stratus: a local-folder bucket in the shape the compactor leaves it.
//! The last `--hours` of the node-exporter-like dataset are 2 h blocks
//! (written with the block writer and the compactor's block options; the
//! compactor merges a day only an hour after it ends, so the last day is
//! still in 2 h blocks). Before them, 7 days of `node_load1` for every
//! host are written as 2 h blocks too, then the real compactor runs over
//! them: it merges each day into a 24 h block and makes its 5 m and 1 h
//! rollups, which long-range queries read.
//!
//! Prometheus (with `--compare-prometheus`): the same samples as
//! OpenMetrics text, turned into blocks by `promtool tsdb
//! create-blocks-from openmetrics`, one 2 h window (or history day) at a
//! time, in the background while the next one is generated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context};
use bytes::Bytes;
use stratus_block::write_raw_block;
use stratus_codec::BlockEntry;
use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
use stratus_model::{Labels, Sample, TenantId};
use stratus_storage::{catalog, BlockKey, Bucket, LocalStore, RetryPolicy};

use super::super::compact::{compactor_options, generate, HOUR, SEED, WINDOW};
use super::super::dataset::Dataset;
use super::super::promtool::{exposition_name, write_openmetrics, Promtool};

pub const DAY: i64 = 24 * HOUR;
/// Days of `node_load1` history before the last day.
pub const HISTORY_DAYS: i64 = 7;
/// The history's metric.
pub const HISTORY_METRIC: &str = "node_load1";
const SCRAPE_MS: i64 = 15_000;

pub struct BuildArgs<'a> {
    pub hosts: usize,
    pub hours: i64,
    /// The end of the data (exclusive), aligned to a day.
    pub end_ms: i64,
    pub work: &'a Path,
    pub compare_prometheus: bool,
    pub promtool_bin: &'a Path,
}

/// What was built.
pub struct Built {
    pub bucket_dir: PathBuf,
    /// Prometheus's TSDB folder, with `--compare-prometheus`.
    pub tsdb_dir: Option<PathBuf>,
    pub series: usize,
    pub samples: u64,
    pub history_series: usize,
    pub history_samples: u64,
}

impl Built {
    /// Records a finished build in `path`, so a later run can reuse it.
    pub fn write_marker(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(
            path,
            format!(
                "{} {} {} {}\n",
                self.series, self.samples, self.history_series, self.history_samples
            ),
        )
        .with_context(|| format!("writing {}", path.display()))
    }

    /// The build recorded in `path` under `work`, if there is one.
    pub fn read_marker(
        path: &Path,
        work: &Path,
        compare_prometheus: bool,
    ) -> anyhow::Result<Option<Self>> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(None);
        };
        let n: Vec<u64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} is not four numbers: {text:?}", path.display()))?;
        let [series, samples, history_series, history_samples] = n[..] else {
            anyhow::bail!("{} holds {} numbers, expected 4", path.display(), n.len());
        };
        Ok(Some(Self {
            bucket_dir: work.join("bucket"),
            tsdb_dir: compare_prometheus.then(|| work.join("prometheus").join("tsdb")),
            series: series as usize,
            samples,
            history_series: history_series as usize,
            history_samples,
        }))
    }
}

/// Writes one 2 h block of `[lo, lo + WINDOW)` of `data` (series in
/// `order`) into the bucket; the catalog entry to commit.
async fn put_block(
    bucket: &Bucket,
    tenant: &TenantId,
    labels: &[Labels],
    order: &[usize],
    data: &[Vec<Sample>],
    lo: i64,
) -> anyhow::Result<BlockEntry> {
    let hi = lo + WINDOW;
    let slices: Vec<&[Sample]> = data
        .iter()
        .map(|s| {
            let from = s.partition_point(|x| x.t < lo);
            let to = s.partition_point(|x| x.t < hi);
            &s[from..to]
        })
        .collect();
    let block = write_raw_block(
        tenant,
        lo,
        hi,
        order
            .iter()
            .filter(|&&i| !slices[i].is_empty())
            .map(|&i| (&labels[i], slices[i])),
        &compactor_options(lo, hi),
    )?;
    let id = ulid::Ulid::new();
    let bytes = block.len() as u64;
    bucket
        .put(
            &BlockKey::new(tenant.clone(), id).path(),
            Bytes::from(block),
        )
        .await?;
    Ok(BlockEntry {
        id: id.to_string(),
        level: 1,
        resolution_ms: 0,
        min_time: lo,
        max_time: hi,
        series: slices.iter().filter(|s| !s.is_empty()).count() as u64,
        samples: slices.iter().map(|s| s.len() as u64).sum(),
        bytes,
        source: None,
        edges: false,
    })
}

/// Adds `entries` to the tenant's catalog, as the compactor commits.
async fn commit_blocks(
    bucket: &Bucket,
    tenant: &TenantId,
    entries: Vec<BlockEntry>,
    now_ms: i64,
) -> anyhow::Result<()> {
    let base = catalog::load(bucket, tenant).await?;
    let mut next = base.catalog.clone();
    next.blocks.extend(entries);
    next.generation = base.catalog.generation + 1;
    next.updated_ms = now_ms;
    catalog::commit(bucket, tenant, &base, &next).await?;
    Ok(())
}

/// The promtool run in the background, if any: at most one at a time.
struct PromtoolSlot {
    bin: PathBuf,
    out: PathBuf,
    running: Option<Promtool>,
    runs: usize,
}

impl PromtoolSlot {
    /// Waits for the run in progress, then starts one on `input`.
    fn start(&mut self, input: PathBuf, what: &str) -> anyhow::Result<()> {
        self.finish()?;
        self.runs += 1;
        println!("  promtool run {}: {what}", self.runs);
        self.running = Some(Promtool::start(&self.bin, input, &self.out, self.runs)?);
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(p) = self.running.take() {
            p.wait()?;
        }
        Ok(())
    }
}

pub async fn build(a: &BuildArgs<'_>) -> anyhow::Result<Built> {
    ensure!(
        a.hours >= 2 && a.hours <= 24 && a.hours % 2 == 0,
        "--hours must be a multiple of 2 from 2 to 24, got {}",
        a.hours
    );
    ensure!(a.hosts > 0, "--hosts must be positive");
    let tenant = TenantId::anonymous();
    let bucket_dir = a.work.join("bucket");
    let bucket = Bucket::new(
        Arc::new(LocalStore::new(&bucket_dir)?),
        RetryPolicy::default(),
    );
    let tsdb_dir = a.work.join("prometheus").join("tsdb");
    let mut promtool = if a.compare_prometheus {
        std::fs::create_dir_all(&tsdb_dir)?;
        Some(PromtoolSlot {
            bin: a.promtool_bin.to_path_buf(),
            out: tsdb_dir.clone(),
            running: None,
            runs: 0,
        })
    } else {
        None
    };
    let start = a.end_ms - a.hours * HOUR;
    let started = Instant::now();

    // ---- 7 days of node_load1, compacted into day blocks and rollups ----
    let hist_end = start - start.rem_euclid(DAY);
    let hist_start = hist_end - HISTORY_DAYS * DAY;
    let per_day = (DAY / SCRAPE_MS) as usize;
    let hist = Dataset::node_exporter(a.hosts, HISTORY_DAYS as usize * per_day, SEED + 1);
    let idx: Vec<usize> = (0..hist.series.len())
        .filter(|&i| hist.series[i].labels[0].1 == HISTORY_METRIC)
        .collect();
    let (hist_labels, hist_order) = hist.labels_and_order(&idx)?;
    let hist_names: Vec<String> = hist_labels.iter().map(exposition_name).collect();
    let mut gens: Vec<_> = idx.iter().map(|&i| hist.generator(i)).collect();
    let mut entries = Vec::new();
    let mut history_samples = 0u64;
    for d in 0..HISTORY_DAYS {
        let day = hist_start + d * DAY;
        let data: Vec<Vec<Sample>> = gens.iter_mut().map(|g| generate(g, day, per_day)).collect();
        history_samples += data.iter().map(|s| s.len() as u64).sum::<u64>();
        for w in 0..DAY / WINDOW {
            entries.push(
                put_block(
                    &bucket,
                    &tenant,
                    &hist_labels,
                    &hist_order,
                    &data,
                    day + w * WINDOW,
                )
                .await?,
            );
        }
        if let Some(p) = promtool.as_mut() {
            let path = a.work.join(format!("history-{d}.om"));
            write_openmetrics(&path, &hist_names, &hist_order, &data)?;
            p.start(path, &format!("history day {}/{HISTORY_DAYS}", d + 1))?;
        }
        println!(
            "history day {}/{HISTORY_DAYS}: {} series of {HISTORY_METRIC}, 12 blocks of 2 h ({:.0} s)",
            d + 1,
            idx.len(),
            started.elapsed().as_secs_f64()
        );
    }
    drop(gens);
    commit_blocks(&bucket, &tenant, entries, hist_end).await?;
    // The real compactor: day blocks and their rollups, then (as of 20 min
    // later) the deletion of the 2 h blocks it replaced.
    let compactor = Compactor::new(
        bucket.clone(),
        CompactorConfig::default(),
        CompactorMetrics::new(&mut prometheus_client::registry::Registry::default()),
    );
    let t = Instant::now();
    let pass = compactor
        .run_once(hist_end + HOUR)
        .await
        .context("compacting the history")?;
    let cleanup = compactor
        .run_once(hist_end + HOUR + 20 * 60_000)
        .await
        .context("deleting the replaced history blocks")?;
    println!(
        "compactor over the history: {} jobs, {} blocks written ({} bytes: day blocks and their 5 m and 1 h rollups), {} replaced blocks deleted, in {:.1} s",
        pass.jobs + cleanup.jobs,
        pass.blocks_written,
        pass.bytes_written,
        cleanup.objects_deleted,
        t.elapsed().as_secs_f64()
    );

    // ---- the last `hours`: every series, in 2 h blocks ----
    let windows = (a.hours * HOUR / WINDOW) as usize;
    let window_scrapes = (WINDOW / SCRAPE_MS) as usize;
    let dataset = Dataset::node_exporter(a.hosts, windows * window_scrapes, SEED);
    let all: Vec<usize> = (0..dataset.series.len()).collect();
    let (labels, order) = dataset.labels_and_order(&all)?;
    let names: Vec<String> = if a.compare_prometheus {
        labels.iter().map(exposition_name).collect()
    } else {
        Vec::new()
    };
    let mut gens = dataset.generators();
    let mut entries = Vec::new();
    for w in 0..windows {
        let lo = start + w as i64 * WINDOW;
        let t = Instant::now();
        let data: Vec<Vec<Sample>> = gens
            .iter_mut()
            .map(|g| generate(g, lo, window_scrapes))
            .collect();
        let entry = put_block(&bucket, &tenant, &labels, &order, &data, lo).await?;
        let block_s = t.elapsed().as_secs_f64();
        let bytes = entry.bytes;
        entries.push(entry);
        if let Some(p) = promtool.as_mut() {
            let path = a.work.join(format!("window-{w}.om"));
            write_openmetrics(&path, &names, &order, &data)?;
            p.start(path, &format!("2 h window {}/{windows}", w + 1))?;
        }
        println!(
            "2 h window {}/{windows}: {} series, block of {bytes} bytes generated and written in {block_s:.1} s ({:.0} s so far)",
            w + 1,
            labels.len(),
            started.elapsed().as_secs_f64()
        );
    }
    drop(gens);
    if let Some(p) = promtool.as_mut() {
        p.finish()?;
    }
    commit_blocks(&bucket, &tenant, entries, a.end_ms).await?;
    Ok(Built {
        bucket_dir,
        tsdb_dir: a.compare_prometheus.then_some(tsdb_dir),
        series: labels.len(),
        samples: dataset.samples() as u64,
        history_series: idx.len(),
        history_samples,
    })
}

/// One line per kind of block in the catalog: count, bytes, time span.
pub async fn describe_catalog(bucket_dir: &Path) -> anyhow::Result<Vec<String>> {
    let bucket = Bucket::new(
        Arc::new(LocalStore::new(bucket_dir)?),
        RetryPolicy::default(),
    );
    let cat = catalog::load(&bucket, &TenantId::anonymous())
        .await?
        .catalog;
    let mut kinds: std::collections::BTreeMap<(i64, i64), (usize, u64, i64, i64)> =
        std::collections::BTreeMap::new();
    for b in &cat.blocks {
        let e = kinds
            .entry((b.resolution_ms, b.max_time - b.min_time))
            .or_insert((0, 0, i64::MAX, i64::MIN));
        e.0 += 1;
        e.1 += b.bytes;
        e.2 = e.2.min(b.min_time);
        e.3 = e.3.max(b.max_time);
    }
    Ok(kinds
        .into_iter()
        .map(|((res, width), (n, bytes, lo, hi))| {
            let what = match res {
                0 => "raw".to_string(),
                r if r % HOUR == 0 => format!("{}h rollup", r / HOUR),
                r => format!("{}m rollup", r / 60_000),
            };
            format!(
                "{n} x {} h {what} blocks, {bytes} bytes, covering {} h ending {} h before the end",
                width / HOUR,
                (hi - lo) / HOUR,
                (cat.blocks.iter().map(|b| b.max_time).max().unwrap_or(hi) - hi) / HOUR
            )
        })
        .collect())
}
