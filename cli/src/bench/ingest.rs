//! `stratus bench ingest`: the node-exporter-like dataset over real HTTP
//! remote_write into a `stratus all` process and, with
//! `--compare-prometheus`, into Prometheus's own receiver in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use stratus_ingest::proto::{LabelV1, SampleProto, TimeSeriesV1};

use super::dataset::Dataset;
use super::procstat::{clock_ticks, cpu_seconds, peak_rss_bytes};
use super::servers::{self, dir_bytes, median, now_ms, post_write, write_body, Server, Target};

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Hosts of the dataset (238 series each)
    #[arg(long, default_value_t = 100)]
    pub hosts: usize,
    /// Scrapes per series, 15 s apart (at most 200: the data must be recent)
    #[arg(long, default_value_t = 40)]
    pub scrapes: usize,
    /// Concurrent senders, each owning a shard of the series like Prometheus's shards
    #[arg(long, default_value_t = 4)]
    pub senders: usize,
    /// Samples per request
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Rounds per target; medians are reported
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Also run the same load against `prometheus --web.enable-remote-write-receiver`
    #[arg(long)]
    pub compare_prometheus: bool,
    /// Prometheus binary [default: prometheus on PATH]
    #[arg(long, default_value = "prometheus")]
    pub prometheus_bin: PathBuf,
    /// Commit window of the Stratus under test
    #[arg(long, default_value = "200ms")]
    pub commit_window: String,
}

#[derive(Debug, Clone, Default)]
struct RoundResult {
    samples: usize,
    wall_s: f64,
    cpu_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss: u64,
    stored_bytes: u64,
}

impl RoundResult {
    fn per_cpu_s(&self) -> f64 {
        self.samples as f64 / self.cpu_s.max(1e-9)
    }
}

/// Encodes the dataset into per-sender lists of request bodies.
fn encode(dataset: &Dataset, args: &IngestArgs, start_ms: i64) -> Vec<Vec<Bytes>> {
    let senders = args.senders.max(1);
    let mut bodies: Vec<Vec<Bytes>> = vec![Vec::new(); senders];
    let mut pending: Vec<Vec<TimeSeriesV1>> = vec![Vec::new(); senders];
    let labels: Vec<Vec<LabelV1>> = dataset
        .series
        .iter()
        .map(|s| servers::proto_labels(&s.labels))
        .collect();
    let flush = |series: &mut Vec<TimeSeriesV1>, out: &mut Vec<Bytes>| {
        if series.is_empty() {
            return;
        }
        out.push(write_body(std::mem::take(series)));
    };
    dataset.generate(start_ms, |i, t, v| {
        let s = i % senders;
        pending[s].push(TimeSeriesV1 {
            labels: labels[i].clone(),
            samples: vec![SampleProto {
                value: v,
                timestamp: t,
            }],
            ..Default::default()
        });
        if pending[s].len() >= args.batch {
            flush(&mut pending[s], &mut bodies[s]);
        }
    });
    for s in 0..senders {
        flush(&mut pending[s], &mut bodies[s]);
    }
    bodies
}

fn start(target: Target, dir: &Path, args: &IngestArgs) -> anyhow::Result<Server> {
    let stratus = [
        "--commit-window",
        args.commit_window.as_str(),
        "--max-sample-age",
        "2h",
    ];
    servers::start(
        target,
        dir,
        &stratus,
        &args.prometheus_bin,
        "global:\n  scrape_interval: 1h\n",
    )
}

async fn round(
    target: Target,
    dataset: &Dataset,
    args: &IngestArgs,
    ticks: f64,
) -> anyhow::Result<RoundResult> {
    let start_ms = now_ms() - (dataset.scrapes as i64) * dataset.interval_ms;
    let bodies = encode(dataset, args, start_ms);
    let dir = tempfile::tempdir()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.senders * 2)
        .build()?;
    let mut server = start(target, dir.path(), args)?;
    server.wait_ready(&client).await?;
    let pid = server.child.id();
    let url = Arc::new(format!("http://127.0.0.1:{}/api/v1/write", server.port));

    let cpu0 = cpu_seconds(pid, ticks)?;
    let t0 = Instant::now();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|list| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(list.len());
                for body in list {
                    let t = Instant::now();
                    post_write(&client, url.as_str(), body).await?;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                Ok::<_, anyhow::Error>(lat)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds(pid, ticks)? - cpu0;
    let peak_rss = peak_rss_bytes(pid)?;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    drop(server);
    let stored_bytes = match target {
        Target::Stratus => dir_bytes(&dir.path().join("data").join("tenants")),
        Target::Prometheus => dir_bytes(&dir.path().join("tsdb")),
    };
    Ok(RoundResult {
        samples: dataset.samples(),
        wall_s,
        cpu_s,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        peak_rss,
        stored_bytes,
    })
}

fn print(label: &str, r: &RoundResult) {
    println!(
        "{label:<22} samples/s={:>9.0}  cpu_s={:>6.2}  samples_per_cpu_s={:>9.0}  cpu_s_per_million={:>5.2}  ack_p50={:>6.1}ms  ack_p99={:>6.1}ms  peak_rss={:>5.0}MiB  stored_bytes/sample={:.2}",
        r.samples as f64 / r.wall_s,
        r.cpu_s,
        r.per_cpu_s(),
        r.cpu_s / (r.samples as f64 / 1e6),
        r.p50_ms,
        r.p99_ms,
        r.peak_rss as f64 / (1 << 20) as f64,
        r.stored_bytes as f64 / r.samples as f64,
    );
}

fn median_result(rs: &[RoundResult]) -> RoundResult {
    let m = |f: &dyn Fn(&RoundResult) -> f64| median(rs.iter().map(f).collect());
    RoundResult {
        samples: rs.first().map(|r| r.samples).unwrap_or(0),
        wall_s: m(&|r| r.wall_s),
        cpu_s: m(&|r| r.cpu_s),
        p50_ms: m(&|r| r.p50_ms),
        p99_ms: m(&|r| r.p99_ms),
        peak_rss: m(&|r| r.peak_rss as f64) as u64,
        stored_bytes: m(&|r| r.stored_bytes as f64) as u64,
    }
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    if args.scrapes > 200 {
        bail!("--scrapes {} is too many: at most 200 (50 min of 15 s scrapes) stay inside both receivers' accepted window", args.scrapes);
    }
    let dataset = Dataset::node_exporter(args.hosts, args.scrapes, 42);
    let requests = dataset.samples().div_ceil(args.batch.max(1));
    println!(
        "dataset: {} hosts, {} series, {} scrapes at 15s = {} samples; {} senders, {}-sample requests (~{requests} requests)",
        args.hosts,
        dataset.series.len(),
        args.scrapes,
        dataset.samples(),
        args.senders,
        args.batch
    );
    println!(
        "machine: {} cpus; stratus commit window {}; rounds alternate targets, medians reported",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        args.commit_window
    );
    let ticks = clock_ticks();
    let mut targets = vec![Target::Stratus];
    if args.compare_prometheus {
        targets.push(Target::Prometheus);
    }
    let mut results: Vec<Vec<RoundResult>> = vec![Vec::new(); targets.len()];
    for r in 1..=args.rounds.max(1) {
        for (i, &t) in targets.iter().enumerate() {
            let res = round(t, &dataset, &args, ticks)
                .await
                .with_context(|| format!("round {r} against {}", t.name()))?;
            print(&format!("round {r} {}", t.name()), &res);
            results[i].push(res);
        }
    }
    let stratus = median_result(&results[0]);
    print("median stratus", &stratus);
    let prom = results.get(1).map(|r| median_result(r));
    if let Some(p) = &prom {
        print("median prometheus", p);
        let ratios: Vec<f64> = results[0]
            .iter()
            .zip(&results[1])
            .map(|(s, p)| s.per_cpu_s() / p.per_cpu_s())
            .collect();
        println!("samples_per_cpu_s ratio stratus/prometheus per round: {ratios:.2?}");
    }
    let bps = stratus.stored_bytes as f64 / stratus.samples as f64;
    match prom {
        Some(p) => println!(
            "summary: samples_per_cpu_second={:.0} prometheus={:.0} ratio={:.2} bytes_per_sample={bps:.2}",
            stratus.per_cpu_s(),
            p.per_cpu_s(),
            stratus.per_cpu_s() / p.per_cpu_s()
        ),
        None => println!(
            "summary: samples_per_cpu_second={:.0} prometheus=n/a ratio=n/a bytes_per_sample={bps:.2}",
            stratus.per_cpu_s()
        ),
    }
    Ok(())
}
