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

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use clap::Args;
use stratus_block::{
    fingerprint, inspect, read_all, read_raw, write_raw_block, BlockFooter, BlockOptions,
    BlockStats, Fetched, RawBlockWriter,
};
use stratus_model::{Labels, Sample, TenantId, TimeRange};

use super::dataset::Dataset;
use super::procstat::{clock_ticks, cpu_seconds, peak_rss_bytes};

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
struct Digest(u64);

impl Digest {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn eat(&mut self, x: u64) {
        self.0 = (self.0 ^ x)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
    }

    fn series(&mut self, labels: &Labels, samples: &[Sample]) {
        self.eat(fingerprint(labels));
        self.eat(samples.len() as u64);
        for s in samples {
            self.eat(s.t as u64);
            self.eat(s.v.to_bits());
        }
    }
}

/// CPU seconds of this process so far.
struct Cpu {
    pid: u32,
    ticks: f64,
}

impl Cpu {
    fn now(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid, self.ticks)
    }

    /// Runs `f` and returns its result with the CPU seconds it took.
    fn time<T>(&self, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
        let c0 = self.now()?;
        let out = f()?;
        Ok((out, self.now()? - c0))
    }
}

/// The series' labels in the text exposition format: `name{a="b",...}`.
pub(super) fn exposition_name(labels: &Labels) -> String {
    let mut out = labels.metric_name().unwrap_or("").to_string();
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| {
            let v = l
                .value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{}=\"{v}\"", l.name)
        })
        .collect();
    if !rest.is_empty() {
        out.push('{');
        out.push_str(&rest.join(","));
        out.push('}');
    }
    out
}

/// Writes one window as OpenMetrics text, series after series (each in
/// time order), timestamps in seconds.
pub(super) fn write_openmetrics(
    path: &Path,
    names: &[String],
    order: &[usize],
    data: &[Vec<Sample>],
) -> anyhow::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for &i in order {
        for s in &data[i] {
            let v = s.v;
            ensure!(v.is_finite(), "the dataset has no NaN or Inf values");
            // Whole seconds are exact in Go's float parse.
            ensure!(s.t % 1000 == 0, "timestamps are whole seconds");
            // `{}` prints the shortest decimal that parses back to `v`.
            writeln!(w, "{} {v} {}", names[i], s.t / 1000)?;
        }
    }
    w.write_all(b"# EOF\n")?;
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// A promtool run in the background.
pub(super) struct Promtool {
    child: Child,
    input: PathBuf,
    started: Instant,
    window: usize,
}

impl Promtool {
    pub(super) fn start(
        bin: &Path,
        input: PathBuf,
        out: &Path,
        window: usize,
    ) -> anyhow::Result<Self> {
        let child = Command::new(bin)
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&input)
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            child,
            input,
            started: Instant::now(),
            window,
        })
    }

    pub(super) fn wait(self) -> anyhow::Result<()> {
        let out = self.child.wait_with_output()?;
        std::fs::remove_file(&self.input)?;
        if !out.status.success() {
            bail!(
                "promtool failed on window {}: {}{}",
                self.window,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!(
            "  promtool: window {} done in {:.1} s",
            self.window,
            self.started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Size and samples of the Prometheus blocks in `dir`.
#[derive(Debug, Default)]
struct PromBlocks {
    blocks: usize,
    samples: u64,
    chunk_bytes: u64,
    index_bytes: u64,
    other_bytes: u64,
}

impl PromBlocks {
    fn total(&self) -> u64 {
        self.chunk_bytes + self.index_bytes + self.other_bytes
    }
}

fn dir_size(dir: &Path) -> anyhow::Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let meta = e.metadata()?;
        n += if meta.is_dir() {
            dir_size(&e.path())?
        } else {
            meta.len()
        };
    }
    Ok(n)
}

fn prometheus_blocks(dir: &Path) -> anyhow::Result<PromBlocks> {
    let mut out = PromBlocks::default();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let meta_path = path.join("meta.json");
        if !meta_path.exists() {
            continue;
        }
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path)?)?;
        out.samples += meta["stats"]["numSamples"]
            .as_u64()
            .context("meta.json without stats.numSamples")?;
        out.blocks += 1;
        out.chunk_bytes += dir_size(&path.join("chunks"))?;
        out.index_bytes += std::fs::metadata(path.join("index"))?.len();
        let all = dir_size(&path)?;
        out.other_bytes +=
            all - dir_size(&path.join("chunks"))? - std::fs::metadata(path.join("index"))?.len();
    }
    Ok(out)
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

/// Seconds of data per segment in the end-to-end run.
const SEGMENT_SECONDS: i64 = 60;

/// What the end-to-end compaction of the first window measured.
struct EndToEnd {
    samples: u64,
    segments: usize,
    cpu_s: f64,
    block_bytes: u64,
}

/// Writes `data` (the window `[min_t, min_t + WINDOW)`) as segments of
/// [`SEGMENT_SECONDS`] into a fresh in-memory bucket, runs one compaction
/// pass, and checks the block it made holds exactly `want`.
async fn compact_end_to_end(
    cpu: &Cpu,
    tenant: &TenantId,
    labels: &[Labels],
    data: &[Vec<Sample>],
    min_t: i64,
    want: Digest,
) -> anyhow::Result<EndToEnd> {
    use stratus_codec::SegmentBuilder;
    use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
    use stratus_storage::{catalog, BlockKey, Bucket, SegmentKey};

    let bucket = Bucket::in_memory();
    let per = SEGMENT_SECONDS * 1000;
    let mut segments = 0;
    for (k, lo) in (min_t..min_t + WINDOW).step_by(per as usize).enumerate() {
        let mut b = SegmentBuilder::new(tenant);
        for (l, samples) in labels.iter().zip(data) {
            let from = samples.partition_point(|s| s.t < lo);
            let to = samples.partition_point(|s| s.t < lo + per);
            if from < to {
                b.add_series(l, &samples[from..to])?;
            }
        }
        // Named as a writer names it when it uploads the minute.
        let id = ulid::Ulid::from_parts((lo + per) as u64, k as u128);
        bucket
            .put(
                &SegmentKey::new(tenant.clone(), id).path(),
                b.finish()?.into(),
            )
            .await?;
        segments += 1;
    }
    let cfg = CompactorConfig {
        downsample: false,
        ..CompactorConfig::default()
    };
    let compactor = Compactor::new(
        bucket.clone(),
        cfg,
        CompactorMetrics::new(&mut prometheus_client::registry::Registry::default()),
    );
    let c0 = cpu.now()?;
    let report = compactor.run_once(min_t + WINDOW + HOUR).await?;
    let cpu_s = cpu.now()? - c0;
    ensure!(
        report.segments_compacted == segments,
        "the compactor took {} of {segments} segments",
        report.segments_compacted
    );
    let cat = catalog::load(&bucket, tenant).await?.catalog;
    ensure!(
        cat.blocks.len() == 1,
        "one block expected, the catalog lists {}",
        cat.blocks.len()
    );
    let key = BlockKey::new(tenant.clone(), ulid::Ulid::from_string(&cat.blocks[0].id)?).path();
    let (bytes, _) = bucket.get(&key).await?;
    let (_, back) = read_all(&bytes)?;
    let mut digest = Digest::new();
    for (l, s) in &back {
        digest.series(l, s);
    }
    ensure!(
        digest == want,
        "the compactor's block differs from the samples written as segments"
    );
    Ok(EndToEnd {
        samples: report.samples_written,
        segments,
        cpu_s,
        block_bytes: bytes.len() as u64,
    })
}

pub async fn run(args: CompactArgs) -> anyhow::Result<()> {
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
    let n = dataset.series.len();
    let total_samples = dataset.samples() as u64;
    println!(
        "dataset: {} hosts, {n} series, {} h at 15 s = {} scrapes, {total_samples} samples, starting {START_MS}, gauges {}",
        args.hosts,
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

    let labels: Vec<Labels> = dataset
        .series
        .iter()
        .map(|s| Labels::from_pairs(s.labels.iter().map(|(a, b)| (a.as_str(), b.as_str()))))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&labels[a], &labels[b]);
        a.metric_name()
            .unwrap_or("")
            .cmp(b.metric_name().unwrap_or(""))
            .then_with(|| a.cmp(b))
    });
    let tenant = TenantId::new("bench")?;
    let cpu = Cpu {
        pid: std::process::id(),
        ticks: clock_ticks(),
    };

    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            tempfile::tempdir_in(d)?
        }
        None => tempfile::tempdir()?,
    };
    let prom_dir = work.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir)?;
    let names: Vec<String> = if args.compare_prometheus {
        labels.iter().map(exposition_name).collect()
    } else {
        Vec::new()
    };
    let mut promtool: Option<Promtool> = None;

    // ---- 2 h blocks, window by window ----
    let mut gens = dataset.generators();
    let mut digests = Vec::with_capacity(windows);
    let mut end_to_end: Option<EndToEnd> = None;
    let (mut bytes_2h, mut cpu_2h, mut cpu_read) = (0u64, 0.0, 0.0);
    for w in 0..windows {
        let (min_t, max_t) = (
            START_MS + w as i64 * WINDOW,
            START_MS + (w as i64 + 1) * WINDOW,
        );
        let t0 = Instant::now();
        let data: Vec<Vec<Sample>> = gens
            .iter_mut()
            .map(|g| generate(g, min_t, window_scrapes))
            .collect();
        let gen_s = t0.elapsed().as_secs_f64();
        let opts = compactor_options(min_t, max_t);
        let (block, build_s) = cpu.time(|| {
            Ok(write_raw_block(
                &tenant,
                min_t,
                max_t,
                order.iter().map(|&i| (&labels[i], data[i].as_slice())),
                &opts,
            )?)
        })?;
        // Read back as the compactor does, and check every sample.
        let ((_, back), read_s) = cpu.time(|| Ok(read_all(&block)?))?;
        ensure!(
            back.len() == n,
            "window {w}: {} series read back",
            back.len()
        );
        let mut digest = Digest::new();
        for ((l, s), &i) in back.iter().zip(&order) {
            ensure!(
                *l == labels[i] && *s == data[i],
                "window {w}: series {l} reads back differently"
            );
            digest.series(l, s);
        }
        drop(back);
        if w == 0 {
            let e = compact_end_to_end(&cpu, &tenant, &labels, &data, min_t, digest).await?;
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
        bytes_2h += block.len() as u64;
        cpu_2h += build_s;
        cpu_read += read_s;
        let samples = stats.info.num_samples;
        println!(
            "2h block {}/{windows}: {samples} samples, {} bytes = {:.3} bytes/sample ({}); generated in {gen_s:.1} s, built in {build_s:.2} CPU-s ({:.0} samples/CPU-s), read back in {read_s:.2} CPU-s",
            w + 1,
            block.len(),
            stats.bytes_per_sample,
            breakdown(&stats),
            samples as f64 / build_s.max(1e-9),
        );
        if args.compare_prometheus {
            let path = work.path().join(format!("window-{w}.om"));
            let t = Instant::now();
            let text = write_openmetrics(&path, &names, &order, &data)?;
            println!(
                "  openmetrics: {text} bytes written in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            if let Some(p) = promtool.take() {
                p.wait()?;
            }
            promtool = Some(Promtool::start(&args.promtool_bin, path, &prom_dir, w + 1)?);
        }
    }
    drop(gens);

    // ---- one block over the whole run, series by series ----
    let (min_t, max_t) = (START_MS, START_MS + args.hours * HOUR);
    let opts = compactor_options(min_t, max_t);
    let mut writer = RawBlockWriter::new(&tenant, min_t, max_t, &opts)?;
    let mut cpu_long = 0.0;
    let t0 = Instant::now();
    let mut next_report = 0.1;
    for batch in order.chunks(BATCH) {
        let data: Vec<Vec<Sample>> = batch
            .iter()
            .map(|&i| generate(&mut dataset.generator(i), min_t, dataset.scrapes))
            .collect();
        let ((), s) = cpu.time(|| {
            for (&i, samples) in batch.iter().zip(&data) {
                writer.push(&labels[i], samples)?;
            }
            Ok(())
        })?;
        cpu_long += s;
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
    let (long, s) = cpu.time(|| Ok(writer.finish()?))?;
    cpu_long += s;
    let long = Bytes::from(long);
    let stats = inspect(&long)?;
    println!(
        "{} h block: {} samples, {} bytes = {:.3} bytes/sample ({}); built in {cpu_long:.2} CPU-s ({:.0} samples/CPU-s), footer {} bytes",
        args.hours,
        stats.info.num_samples,
        long.len(),
        stats.bytes_per_sample,
        breakdown(&stats),
        stats.info.num_samples as f64 / cpu_long.max(1e-9),
        stats.footer_bytes,
    );
    // Check it window by window against the 2 h blocks.
    let footer = BlockFooter::parse(long.len() as u64, &long)?;
    let fetched = Fetched::whole(long.clone());
    let mut cpu_long_read = 0.0;
    for (w, want) in digests.iter().enumerate() {
        let lo = min_t + w as i64 * WINDOW;
        let range = TimeRange::new(lo, lo + WINDOW - 1);
        let plan = footer.plan(&[], range);
        let (got, s) = cpu.time(|| Ok(read_raw(&footer, &plan, &fetched, &[], range)?))?;
        cpu_long_read += s;
        let mut digest = Digest::new();
        for (l, s) in &got {
            digest.series(l, s);
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
        total_samples as f64 / cpu_long_read.max(1e-9)
    );

    let stratus_2h = bytes_2h as f64 / total_samples as f64;
    let stratus_long = long.len() as f64 / total_samples as f64;
    let e2e = end_to_end.context("the first window is compacted end to end")?;
    let throughput = e2e.samples as f64 / e2e.cpu_s.max(1e-9);
    println!(
        "stratus: 2 h blocks {stratus_2h:.3} bytes/sample ({bytes_2h} bytes), {} h block {stratus_long:.3} bytes/sample ({} bytes)",
        args.hours,
        long.len()
    );
    println!(
        "stratus: compaction {throughput:.0} samples/CPU-s end to end (segments -> 2 h block); block encoding alone {:.0} samples/CPU-s for 2 h blocks, {:.0} for the {} h block; reading back {:.0} samples/CPU-s; peak RSS {:.0} MiB",
        total_samples as f64 / cpu_2h.max(1e-9),
        total_samples as f64 / cpu_long.max(1e-9),
        args.hours,
        total_samples as f64 / cpu_read.max(1e-9),
        peak_rss_bytes(std::process::id())? as f64 / (1 << 20) as f64
    );

    let prometheus = if args.compare_prometheus {
        if let Some(p) = promtool.take() {
            p.wait()?;
        }
        let p = prometheus_blocks(&prom_dir)?;
        ensure!(
            p.samples == total_samples,
            "promtool's blocks hold {} samples, the dataset {total_samples}",
            p.samples
        );
        let per = |b: u64| b as f64 / total_samples as f64;
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
        println!(
            "ratio stratus/prometheus: 2 h blocks {:.3}, {} h block {:.3}",
            stratus_2h / per(p.total()),
            args.hours,
            stratus_long / per(p.total())
        );
        Some(per(p.total()))
    } else {
        None
    };
    let (prom, ratio) = match prometheus {
        Some(p) => (format!("{p:.3}"), format!("{:.3}", stratus_long / p)),
        None => ("n/a".to_string(), "n/a".to_string()),
    };
    println!(
        "summary: stratus_2h_bytes_per_sample={stratus_2h:.3} stratus_{}h_bytes_per_sample={stratus_long:.3} prometheus_bytes_per_sample={prom} ratio_{}h={ratio} compaction_samples_per_cpu_second={throughput:.0}",
        args.hours, args.hours
    );
    Ok(())
}

pub(super) fn promtool_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.split_whitespace().nth(2).map(str::to_string)
        })
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compactor_widths() {
        assert_eq!(compactor_options(0, 2 * HOUR).chunk_width_ms, 30 * 60_000);
        assert_eq!(compactor_options(0, 24 * HOUR).chunk_width_ms, 2 * HOUR);
    }

    #[test]
    fn exposition_names() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b\\c"), ("i", "x")])
            .expect("labels");
        assert_eq!(exposition_name(&l), r#"up{i="x",job="a\"b\\c"}"#);
    }
}
