//! `stratus bench compact`: bytes per sample of the blocks the compactor
//! writes (2 h blocks and one block over the whole run, 24 h by default)
//! from the node-exporter-like dataset, the CPU it takes to build them,
//! and with `--compare-prometheus` the size of the blocks Prometheus's
//! `promtool tsdb create-blocks-from openmetrics` makes of the same data.
//!
//! The compactor itself also runs once, end to end: the first 2 h window
//! goes into an in-memory bucket as one-minute segments of every series,
//! as writers leave them, and one compaction pass turns them into a block;
//! its CPU time gives the compaction throughput.
//!
//! Memory stays bounded by one 2 h window of samples: the windows are
//! generated one after the other from persistent per-series streams, and
//! the long block is built series by series ([`RawBlockWriter`]) from
//! fresh streams, which give the same values again.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context};
use bytes::Bytes;
use clap::Args;
use stratus_block::{
    fingerprint, inspect, read_all, read_raw, write_raw_block, BlockFooter, BlockOptions,
    BlockStats, Fetched, RawBlockWriter,
};
use stratus_model::{Labels, Sample, TenantId, TimeRange};

mod end_to_end;

use end_to_end::{compact_end_to_end, EndToEnd};

use super::dataset::Dataset;
use super::procstat::{clock_ticks, cpu_seconds, peak_rss_bytes};
use super::promtool::{
    exposition_name, prometheus_blocks, promtool_version, write_openmetrics, Promtool,
};

#[derive(Debug, Clone, Args)]
pub struct CompactArgs {
    /// Hosts of the dataset (238 series each; 420 hosts = 99 960 series)
    #[arg(long, default_value_t = 420)]
    pub hosts: usize,
    /// Hours of data, a multiple of 2 up to 24: one block per 2 h, and one
    /// block over all of it
    #[arg(long, default_value_t = 24)]
    pub hours: i64,
    /// Also build Prometheus blocks of the same data with promtool
    #[arg(long)]
    pub compare_prometheus: bool,
    /// Gauges as random walks with full-precision float steps (the first
    /// version of the dataset) instead of node exporter's whole units
    #[arg(long)]
    pub float_gauges: bool,
    /// promtool binary [default: promtool on PATH]
    #[arg(long, default_value = "promtool")]
    pub promtool_bin: PathBuf,
    /// Where to put the OpenMetrics text (one 2 h window at a time, about
    /// 100 bytes per sample) and Prometheus's blocks [default: a temporary
    /// directory]
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

pub(super) const HOUR: i64 = 3_600_000;
pub(super) const WINDOW: i64 = 2 * HOUR;
/// 2026-01-01T00:00:00Z: aligned to 2 h and 24 h.
const START_MS: i64 = 1_767_225_600_000;
pub(super) const SEED: u64 = 42;
/// Series generated at once while building the long block.
const BATCH: usize = 2048;

/// The compactor's options for a block of `[min_time, max_time)`
/// (`compactor/src/exec.rs`): chunk columns of a twelfth of the range,
/// at least 30 min.
pub(super) fn compactor_options(min_time: i64, max_time: i64) -> BlockOptions {
    let width = max_time - min_time;
    BlockOptions {
        chunk_width_ms: (width / 12).max(30 * 60_000).min(width.max(1)),
        ..BlockOptions::default()
    }
}

/// Order-sensitive hash of series and samples, to check the long block
/// holds exactly what the 2 h blocks hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Digest(u64);

impl Digest {
    pub(super) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn eat(&mut self, x: u64) {
        self.0 = (self.0 ^ x)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
    }

    pub(super) fn series(&mut self, labels: &Labels, samples: &[Sample]) {
        self.eat(fingerprint(labels));
        self.eat(samples.len() as u64);
        for s in samples {
            self.eat(s.t as u64);
            self.eat(s.v.to_bits());
        }
    }
}

/// CPU seconds of this process so far.
pub(super) struct Cpu {
    pid: u32,
    ticks: f64,
}

impl Cpu {
    pub(super) fn now(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid, self.ticks)
    }

    /// Runs `f` and returns its result with the CPU seconds it took.
    fn time<T>(&self, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
        let c0 = self.now()?;
        let out = f()?;
        Ok((out, self.now()? - c0))
    }
}

/// Where a block's bytes go, per sample.
fn breakdown(stats: &BlockStats) -> String {
    let samples = stats.info.num_samples.max(1) as f64;
    let sum = |f: &dyn Fn(&str) -> bool| {
        stats
            .columns
            .iter()
            .filter(|c| f(&c.name))
            .map(|c| c.compressed_bytes)
            .sum::<u64>() as f64
            / samples
    };
    format!(
        "chunks {:.3}, checksums+fingerprints {:.3}, labels+times {:.3}, footer {:.3}",
        sum(&|n| n.starts_with("__chunk_")),
        sum(&|n| n.starts_with("__crc_") || n == "__fingerprint"),
        sum(&|n| !n.starts_with("__chunk_") && !n.starts_with("__crc_") && n != "__fingerprint"),
        stats.footer_bytes as f64 / samples
    )
}

pub(super) fn generate(
    gen: &mut super::dataset::SeriesGen,
    start: i64,
    scrapes: usize,
) -> Vec<Sample> {
    (0..scrapes)
        .map(|k| Sample::new(start + k as i64 * 15_000, gen.next()))
        .collect()
}

/// What the measurements share: the dataset, its label sets in block
/// order, and where the work files go.
struct Setup {
    dataset: Dataset,
    labels: Vec<Labels>,
    /// Series indexes in block order (name, then labels).
    order: Vec<usize>,
    total_samples: u64,
    windows: usize,
    window_scrapes: usize,
    tenant: TenantId,
    cpu: Cpu,
    work: tempfile::TempDir,
    /// Exposition names, when comparing with Prometheus.
    names: Vec<String>,
}

impl Setup {
    fn new(args: &CompactArgs) -> anyhow::Result<Self> {
        ensure!(
            args.hours >= 2 && args.hours <= 24 && args.hours % 2 == 0,
            "--hours must be a multiple of 2 from 2 to 24, got {}",
            args.hours
        );
        ensure!(args.hosts > 0, "--hosts must be positive");
        let windows = (args.hours / 2) as usize;
        let window_scrapes = (WINDOW / 15_000) as usize;
        let mut dataset = Dataset::node_exporter(args.hosts, windows * window_scrapes, SEED);
        if args.float_gauges {
            dataset = dataset.with_float_gauges();
        }
        let total_samples = dataset.samples() as u64;
        println!(
            "dataset: {} hosts, {} series, {} h at 15 s = {} scrapes, {total_samples} samples, starting {START_MS}, gauges {}",
            args.hosts,
            dataset.series.len(),
            args.hours,
            dataset.scrapes,
            if args.float_gauges {
                "with full-precision float steps"
            } else {
                "in whole units (node exporter's)"
            }
        );
        println!(
            "machine: {} cpus; blocks built as the compactor does (2 h blocks with {} min chunk columns, one {} h block with {} min chunk columns, zstd {})",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            compactor_options(0, WINDOW).chunk_width_ms / 60_000,
            args.hours,
            compactor_options(0, args.hours * HOUR).chunk_width_ms / 60_000,
            BlockOptions::default().zstd_level,
        );
        let all: Vec<usize> = (0..dataset.series.len()).collect();
        let (labels, order) = dataset.labels_and_order(&all)?;
        let work = match &args.work_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                tempfile::tempdir_in(d)?
            }
            None => tempfile::tempdir()?,
        };
        std::fs::create_dir_all(work.path().join("prometheus"))?;
        let names = if args.compare_prometheus {
            labels.iter().map(exposition_name).collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            dataset,
            labels,
            order,
            total_samples,
            windows,
            window_scrapes,
            tenant: TenantId::new("bench")?,
            cpu: Cpu {
                pid: std::process::id(),
                ticks: clock_ticks(),
            },
            work,
            names,
        })
    }

    fn prometheus_dir(&self) -> PathBuf {
        self.work.path().join("prometheus")
    }
}

/// What the 2 h blocks measured.
struct Windows {
    /// Per window, the digest of its series and samples.
    digests: Vec<Digest>,
    end_to_end: EndToEnd,
    bytes: u64,
    cpu_build: f64,
    cpu_read: f64,
    /// promtool still running on the last window.
    promtool: Option<Promtool>,
}

/// Builds, reads back and checks one 2 h block per window (the first also
/// end to end through the compactor), and starts promtool on each window.
async fn measure_windows(args: &CompactArgs, s: &Setup) -> anyhow::Result<Windows> {
    let n = s.labels.len();
    let mut gens = s.dataset.generators();
    let mut digests = Vec::with_capacity(s.windows);
    let mut end_to_end: Option<EndToEnd> = None;
    let (mut bytes, mut cpu_build, mut cpu_read) = (0u64, 0.0, 0.0);
    let mut promtool: Option<Promtool> = None;
    for w in 0..s.windows {
        let (min_t, max_t) = (
            START_MS + w as i64 * WINDOW,
            START_MS + (w as i64 + 1) * WINDOW,
        );
        let t0 = Instant::now();
        let data: Vec<Vec<Sample>> = gens
            .iter_mut()
            .map(|g| generate(g, min_t, s.window_scrapes))
            .collect();
        let gen_s = t0.elapsed().as_secs_f64();
        let opts = compactor_options(min_t, max_t);
        let (block, build_s) = s.cpu.time(|| {
            Ok(write_raw_block(
                &s.tenant,
                min_t,
                max_t,
                s.order.iter().map(|&i| (&s.labels[i], data[i].as_slice())),
                &opts,
            )?)
        })?;
        // Read back as the compactor does, and check every sample.
        let ((_, back), read_s) = s.cpu.time(|| Ok(read_all(&block)?))?;
        ensure!(
            back.len() == n,
            "window {w}: {} series read back",
            back.len()
        );
        let mut digest = Digest::new();
        for ((l, samples), &i) in back.iter().zip(&s.order) {
            ensure!(
                *l == s.labels[i] && *samples == data[i],
                "window {w}: series {l} reads back differently"
            );
            digest.series(l, samples);
        }
        drop(back);
        if w == 0 {
            let e = compact_end_to_end(&s.cpu, &s.tenant, &s.labels, &data, min_t, digest).await?;
            println!(
                "  compactor, end to end: {} one-minute segments -> one 2 h block of {} bytes, {} samples in {:.2} CPU-s ({:.0} samples/CPU-s, segment decoding and merging included)",
                e.segments,
                e.block_bytes,
                e.samples,
                e.cpu_s,
                e.samples as f64 / e.cpu_s.max(1e-9)
            );
            end_to_end = Some(e);
        }
        digests.push(digest);
        let stats = inspect(&block)?;
        bytes += block.len() as u64;
        cpu_build += build_s;
        cpu_read += read_s;
        let samples = stats.info.num_samples;
        println!(
            "2h block {}/{}: {samples} samples, {} bytes = {:.3} bytes/sample ({}); generated in {gen_s:.1} s, built in {build_s:.2} CPU-s ({:.0} samples/CPU-s), read back in {read_s:.2} CPU-s",
            w + 1,
            s.windows,
            block.len(),
            stats.bytes_per_sample,
            breakdown(&stats),
            samples as f64 / build_s.max(1e-9),
        );
        if args.compare_prometheus {
            let path = s.work.path().join(format!("window-{w}.om"));
            let t = Instant::now();
            let text = write_openmetrics(&path, &s.names, &s.order, &data)?;
            println!(
                "  openmetrics: {text} bytes written in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            if let Some(p) = promtool.take() {
                p.wait()?;
            }
            promtool = Some(Promtool::start(
                &args.promtool_bin,
                path,
                &s.prometheus_dir(),
                w + 1,
            )?);
        }
    }
    Ok(Windows {
        digests,
        end_to_end: end_to_end.context("the first window is compacted end to end")?,
        bytes,
        cpu_build,
        cpu_read,
        promtool,
    })
}

/// What the block over the whole run measured.
struct Long {
    bytes: u64,
    cpu_build: f64,
}

/// Builds one block over the whole run series by series, and checks it
/// window by window against the 2 h blocks' digests.
fn measure_long_block(args: &CompactArgs, s: &Setup, digests: &[Digest]) -> anyhow::Result<Long> {
    let n = s.labels.len();
    let (min_t, max_t) = (START_MS, START_MS + args.hours * HOUR);
    let opts = compactor_options(min_t, max_t);
    let mut writer = RawBlockWriter::new(&s.tenant, min_t, max_t, &opts)?;
    let mut cpu_build = 0.0;
    let t0 = Instant::now();
    let mut next_report = 0.1;
    for batch in s.order.chunks(BATCH) {
        let data: Vec<Vec<Sample>> = batch
            .iter()
            .map(|&i| generate(&mut s.dataset.generator(i), min_t, s.dataset.scrapes))
            .collect();
        let ((), t) = s.cpu.time(|| {
            for (&i, samples) in batch.iter().zip(&data) {
                writer.push(&s.labels[i], samples)?;
            }
            Ok(())
        })?;
        cpu_build += t;
        let done = writer.num_series() as f64 / n as f64;
        if done >= next_report {
            println!(
                "  {} h block: {:.0}% of the series encoded ({:.0} s)",
                args.hours,
                done * 100.0,
                t0.elapsed().as_secs_f64()
            );
            next_report += 0.1;
        }
    }
    let (long, t) = s.cpu.time(|| Ok(writer.finish()?))?;
    cpu_build += t;
    let long = Bytes::from(long);
    let stats = inspect(&long)?;
    println!(
        "{} h block: {} samples, {} bytes = {:.3} bytes/sample ({}); built in {cpu_build:.2} CPU-s ({:.0} samples/CPU-s), footer {} bytes",
        args.hours,
        stats.info.num_samples,
        long.len(),
        stats.bytes_per_sample,
        breakdown(&stats),
        stats.info.num_samples as f64 / cpu_build.max(1e-9),
        stats.footer_bytes,
    );
    let footer = BlockFooter::parse(long.len() as u64, &long)?;
    let fetched = Fetched::whole(long.clone());
    let mut cpu_read = 0.0;
    for (w, want) in digests.iter().enumerate() {
        let lo = min_t + w as i64 * WINDOW;
        let range = TimeRange::new(lo, lo + WINDOW - 1);
        let plan = footer.plan(&[], range);
        let (got, t) = s
            .cpu
            .time(|| Ok(read_raw(&footer, &plan, &fetched, &[], range)?))?;
        cpu_read += t;
        let mut digest = Digest::new();
        for (l, samples) in &got {
            digest.series(l, samples);
        }
        ensure!(
            digest == *want && got.len() == n,
            "the {} h block differs from 2 h block {} in that window",
            args.hours,
            w + 1
        );
    }
    println!(
        "  {} h block reads back equal to the 2 h blocks ({:.0} samples/CPU-s decoding)",
        args.hours,
        s.total_samples as f64 / cpu_read.max(1e-9)
    );
    Ok(Long {
        bytes: long.len() as u64,
        cpu_build,
    })
}

/// Waits for promtool and measures its blocks: Prometheus's bytes per
/// sample.
fn measure_prometheus(
    args: &CompactArgs,
    s: &Setup,
    promtool: Option<Promtool>,
) -> anyhow::Result<f64> {
    if let Some(p) = promtool {
        p.wait()?;
    }
    let p = prometheus_blocks(&s.prometheus_dir())?;
    ensure!(
        p.samples == s.total_samples,
        "promtool's blocks hold {} samples, the dataset {}",
        p.samples,
        s.total_samples
    );
    let per = |b: u64| b as f64 / s.total_samples as f64;
    println!(
        "prometheus (promtool {}): {} blocks, {:.3} bytes/sample ({} bytes: chunks {:.3}, index {:.3}, meta and tombstones {:.3})",
        promtool_version(&args.promtool_bin),
        p.blocks,
        per(p.total()),
        p.total(),
        per(p.chunk_bytes),
        per(p.index_bytes),
        per(p.other_bytes),
    );
    Ok(per(p.total()))
}

fn report(
    args: &CompactArgs,
    s: &Setup,
    w: &Windows,
    long: &Long,
    prometheus: Option<f64>,
) -> anyhow::Result<()> {
    let total = s.total_samples as f64;
    let stratus_2h = w.bytes as f64 / total;
    let stratus_long = long.bytes as f64 / total;
    let e2e = &w.end_to_end;
    let throughput = e2e.samples as f64 / e2e.cpu_s.max(1e-9);
    println!(
        "stratus: 2 h blocks {stratus_2h:.3} bytes/sample ({} bytes), {} h block {stratus_long:.3} bytes/sample ({} bytes)",
        w.bytes, args.hours, long.bytes
    );
    println!(
        "stratus: compaction {throughput:.0} samples/CPU-s end to end (segments -> 2 h block); block encoding alone {:.0} samples/CPU-s for 2 h blocks, {:.0} for the {} h block; reading back {:.0} samples/CPU-s; peak RSS {:.0} MiB",
        total / w.cpu_build.max(1e-9),
        total / long.cpu_build.max(1e-9),
        args.hours,
        total / w.cpu_read.max(1e-9),
        peak_rss_bytes(std::process::id())? as f64 / (1 << 20) as f64
    );
    let (prom, ratio) = match prometheus {
        Some(p) => {
            println!(
                "ratio stratus/prometheus: 2 h blocks {:.3}, {} h block {:.3}",
                stratus_2h / p,
                args.hours,
                stratus_long / p
            );
            (format!("{p:.3}"), format!("{:.3}", stratus_long / p))
        }
        None => ("n/a".to_string(), "n/a".to_string()),
    };
    println!(
        "summary: stratus_2h_bytes_per_sample={stratus_2h:.3} stratus_{}h_bytes_per_sample={stratus_long:.3} prometheus_bytes_per_sample={prom} ratio_{}h={ratio} compaction_samples_per_cpu_second={throughput:.0}",
        args.hours, args.hours
    );
    Ok(())
}

pub async fn run(args: CompactArgs) -> anyhow::Result<()> {
    let s = Setup::new(&args)?;
    let mut w = measure_windows(&args, &s).await?;
    let long = measure_long_block(&args, &s, &w.digests)?;
    let prometheus = if args.compare_prometheus {
        Some(measure_prometheus(&args, &s, w.promtool.take())?)
    } else {
        None
    };
    report(&args, &s, &w, &long, prometheus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compactor_widths() {
        assert_eq!(compactor_options(0, 2 * HOUR).chunk_width_ms, 30 * 60_000);
        assert_eq!(compactor_options(0, 24 * HOUR).chunk_width_ms, 2 * HOUR);
    }
}
