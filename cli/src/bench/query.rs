//! `stratus bench query`: query latency on the same data in Stratus and,
//! with `--compare-prometheus`, in Prometheus, in the same run.
//!
//! Two datasets:
//! - `--dataset node` (the default, issue 7): the node-exporter-like set
//!   ([`super::dataset`]) as compacted blocks in a local-folder bucket read
//!   with an injected latency per request, against Prometheus reading
//!   promtool's blocks of the same data ([`node`]).
//! - `--dataset small` (issue 3's figures): one gauge series over 24 h,
//!   `--series` counter series and a classic histogram (10 instances x 12
//!   buckets) over the last `--hours`, 15 s apart, written to a `stratus
//!   all` process and to Prometheus with remote_write in time order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use stratus_ingest::proto::{LabelV1, SampleProto, TimeSeriesV1};

use super::procstat::peak_rss_bytes;
use super::servers::{self, median, now_ms, post_write, proto_labels, write_body, Server, Target};

mod build;
mod node;
pub(super) mod querier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetKind {
    /// The node-exporter-like dataset as compacted blocks, with latency
    /// injected per storage request
    Node,
    /// Issue 3's dashboard data, written with remote_write to `stratus all`
    Small,
}

#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// Which data and queries
    #[arg(long, value_enum, default_value_t = DatasetKind::Node)]
    pub dataset: DatasetKind,
    /// node: hosts of the dataset (238 series each; 420 hosts = 99 960 series)
    #[arg(long, default_value_t = 420)]
    pub hosts: usize,
    /// Hours of data: node, a multiple of 2 up to 24 [default: 24]; small,
    /// hours of counter and histogram data [default: 6]
    #[arg(long)]
    pub hours: Option<i64>,
    /// node: latency added to every storage request of the querier, in ms
    #[arg(long, default_value_t = 30)]
    pub latency_ms: u64,
    /// small: series of the counter `bench_cpu_seconds_total` (instances x 10 cpus)
    #[arg(long, default_value_t = 1000)]
    pub series: usize,
    /// Warm runs per query; medians reported [default: 5 for node, 7 for small]
    #[arg(long)]
    pub runs: Option<usize>,
    /// Also load the data into Prometheus and run the same queries there
    #[arg(long)]
    pub compare_prometheus: bool,
    /// Prometheus binary [default: prometheus on PATH]
    #[arg(long, default_value = "prometheus")]
    pub prometheus_bin: PathBuf,
    /// node: promtool binary [default: promtool on PATH]
    #[arg(long, default_value = "promtool")]
    pub promtool_bin: PathBuf,
    /// node: where the bucket, Prometheus's TSDB and the OpenMetrics text
    /// go, kept afterwards: a later run with the same --hosts, --hours
    /// and day reuses them [default: a temporary directory, removed]
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// node: the query sample limit of both the querier
    /// (`--query-max-samples`) and Prometheus (`--query.max-samples`);
    /// Stratus counts every raw sample a range selector loads, Prometheus
    /// only those of one step's windows
    #[arg(long, default_value_t = 500_000_000)]
    pub query_max_samples: usize,
    /// node: memory of the querier's results cache of range-query splits
    /// (`--query-results-cache-bytes`); 0 turns it and splitting off
    #[arg(long, default_value_t = 256 << 20)]
    pub results_cache_bytes: u64,
    /// node: memory the querier's running queries may hold together
    /// (`--query-memory-bytes`); 0: no bound
    #[arg(long, default_value_t = 1 << 30)]
    pub query_memory_bytes: u64,
    /// node: memory the querier's head of recent segments may hold
    /// (`--query-head-bytes`); 0: no bound
    #[arg(long, default_value_t = 512 << 20)]
    pub head_bytes: u64,
    /// Internal: serve the query API over the bucket in this folder, as
    /// the querier child process of `--dataset node`
    #[arg(long, hide = true)]
    pub serve_querier: Option<PathBuf>,
    /// Internal: the querier's disk cache folder
    #[arg(long, hide = true)]
    pub querier_cache_dir: Option<PathBuf>,
    /// Internal: the querier's port
    #[arg(long, hide = true, default_value_t = 0)]
    pub querier_port: u16,
}

impl QueryArgs {
    /// The settings the querier child gets.
    pub fn querier_limits(&self) -> querier::QuerierLimits {
        querier::QuerierLimits {
            max_samples: self.query_max_samples,
            results_cache_bytes: self.results_cache_bytes,
            query_memory_bytes: self.query_memory_bytes,
            head_bytes: self.head_bytes,
        }
    }
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    if let Some(bucket_dir) = &args.serve_querier {
        return querier::serve(querier::ServeArgs {
            bucket_dir: bucket_dir.clone(),
            cache_dir: args.querier_cache_dir.clone(),
            port: args.querier_port,
            latency_ms: args.latency_ms,
            limits: args.querier_limits(),
        })
        .await;
    }
    match args.dataset {
        DatasetKind::Node => node::run(&args).await,
        DatasetKind::Small => run_small(&args).await,
    }
}

const STEP_MS: i64 = 15_000;
const LE: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// The data as remote_write bodies of about 5 000 samples, in time order.
fn bodies(args: &QueryArgs, hours: i64, end: i64) -> (Vec<Bytes>, usize) {
    let start24 = end - 24 * 3_600_000;
    let start_h = end - hours * 3_600_000;
    let gauge = proto_labels(&[("__name__", "bench_load"), ("instance", "single")]);
    let counters: Vec<Vec<LabelV1>> = (0..args.series)
        .map(|i| {
            let inst = format!("host-{:04}", i / 10);
            let cpu = (i % 10).to_string();
            proto_labels(&[
                ("__name__", "bench_cpu_seconds_total"),
                ("instance", &inst),
                ("cpu", &cpu),
            ])
        })
        .collect();
    let buckets: Vec<Vec<LabelV1>> = (0..10)
        .flat_map(|i| {
            let inst = format!("host-{i:04}");
            LE.iter()
                .map(move |le| {
                    proto_labels(&[
                        ("__name__", "bench_request_duration_seconds_bucket"),
                        ("instance", &inst),
                        ("le", le),
                    ])
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::new();
    let mut batch: Vec<TimeSeriesV1> = Vec::new();
    let mut samples = 0;
    let push = |batch: &mut Vec<TimeSeriesV1>, l: &[LabelV1], t: i64, v: f64| {
        batch.push(TimeSeriesV1 {
            labels: l.to_vec(),
            samples: vec![SampleProto {
                value: v,
                timestamp: t,
            }],
            ..Default::default()
        });
    };
    let mut t = start24 - start24.rem_euclid(STEP_MS);
    let mut k: u64 = 0;
    while t <= end {
        push(&mut batch, &gauge, t, 1.0 + ((k % 97) as f64) / 10.0);
        if t >= start_h {
            for (i, l) in counters.iter().enumerate() {
                push(&mut batch, l, t, (k * (1 + i as u64 % 7)) as f64);
            }
            for (i, l) in buckets.iter().enumerate() {
                let le_index = i % LE.len();
                push(&mut batch, l, t, (k * (le_index as u64 + 1) * 3) as f64);
            }
        }
        if batch.len() >= 5000 {
            samples += batch.len();
            out.push(write_body(std::mem::take(&mut batch)));
        }
        t += STEP_MS;
        k += 1;
    }
    samples += batch.len();
    if !batch.is_empty() {
        out.push(write_body(batch));
    }
    (out, samples)
}

struct Query {
    name: &'static str,
    expr: &'static str,
    hours: i64,
    step_s: i64,
}

fn queries(hours: i64) -> Vec<Query> {
    vec![
        Query {
            name: "one series, 24h, step 60s",
            expr: r#"bench_load{instance="single"}"#,
            hours: 24,
            step_s: 60,
        },
        Query {
            name: "sum by (instance)(rate[5m]), step 15s",
            expr: "sum by (instance) (rate(bench_cpu_seconds_total[5m]))",
            hours,
            step_s: 15,
        },
        Query {
            name: "histogram_quantile(0.99, ...), step 15s",
            expr: "histogram_quantile(0.99, sum by (le) (rate(bench_request_duration_seconds_bucket[5m])))",
            hours,
            step_s: 15,
        },
    ]
}

async fn range_query(
    client: &reqwest::Client,
    s: &Server,
    q: &Query,
    end: i64,
) -> anyhow::Result<(f64, usize)> {
    let start = end - q.hours * 3_600_000;
    let params = serde_urlencoded::to_string([
        ("query", q.expr.to_string()),
        ("start", format!("{}", start as f64 / 1000.0)),
        ("end", format!("{}", end as f64 / 1000.0)),
        ("step", q.step_s.to_string()),
    ])?;
    let request = client.get(format!("{}?{params}", s.url("/api/v1/query_range")));
    let (ms, body) = servers::timed_query(request, q.expr).await?;
    Ok((ms, body.len()))
}

/// Polls until `count_over_time(bench_load[25h])` shows every gauge sample.
async fn wait_visible(
    client: &reqwest::Client,
    s: &Server,
    end: i64,
    want: usize,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let params = serde_urlencoded::to_string([
            ("query", "count_over_time(bench_load[25h])".to_string()),
            ("time", format!("{}", end as f64 / 1000.0)),
        ])?;
        let r = client
            .get(format!("{}?{params}", s.url("/api/v1/query")))
            .send()
            .await?
            .text()
            .await?;
        if r.contains(&format!("\"{want}\"")) {
            return Ok(());
        }
        if start.elapsed().as_secs() > 60 {
            bail!("data not visible after 60 s: {r}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

struct Measured {
    load_s: f64,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    bytes: Vec<usize>,
    peak_rss: u64,
}

async fn measure(
    target: Target,
    args: &QueryArgs,
    hours: i64,
    bodies: &[Bytes],
    end: i64,
    gauge_points: usize,
) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let prom_yaml = "global:\n  scrape_interval: 1h\n";
    let stratus_args = ["--commit-window", "20ms", "--max-sample-age", "26h"];
    let mut server = servers::start(
        target,
        dir.path(),
        &stratus_args,
        &args.prometheus_bin,
        prom_yaml,
    )?;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await?;
    let url = Arc::new(server.url("/api/v1/write"));
    let t0 = Instant::now();
    match target {
        // Prometheus accepts only in-order samples: one sender, in order.
        Target::Prometheus => {
            for b in bodies {
                post_write(&client, &url, b.clone()).await?;
            }
        }
        Target::Stratus => {
            let chunks: Vec<Vec<Bytes>> = (0..4)
                .map(|i| bodies.iter().skip(i).step_by(4).cloned().collect())
                .collect();
            let tasks: Vec<_> = chunks
                .into_iter()
                .map(|list| {
                    let (client, url) = (client.clone(), url.clone());
                    tokio::spawn(async move {
                        for b in list {
                            post_write(&client, &url, b).await?;
                        }
                        Ok::<_, anyhow::Error>(())
                    })
                })
                .collect();
            for t in tasks {
                t.await??;
            }
        }
    }
    let load_s = t0.elapsed().as_secs_f64();
    wait_visible(&client, &server, end, gauge_points).await?;
    let mut m = Measured {
        load_s,
        cold_ms: Vec::new(),
        warm_ms: Vec::new(),
        bytes: Vec::new(),
        peak_rss: 0,
    };
    for q in queries(hours) {
        let (cold, _) = range_query(&client, &server, &q, end).await?;
        let mut warm = Vec::new();
        let mut size = 0;
        for _ in 0..args.runs.unwrap_or(7).max(1) {
            let (ms, n) = range_query(&client, &server, &q, end).await?;
            warm.push(ms);
            size = n;
        }
        m.cold_ms.push(cold);
        m.warm_ms.push(median(warm));
        m.bytes.push(size);
    }
    m.peak_rss = peak_rss_bytes(server.child.id())?;
    Ok(m)
}

/// `--dataset small`: issue 3's dashboard queries on remote-written data.
async fn run_small(args: &QueryArgs) -> anyhow::Result<()> {
    let hours = args.hours.unwrap_or(6);
    let end = now_ms() - 60_000;
    let end = end - end.rem_euclid(STEP_MS);
    let (bodies, samples) = bodies(args, hours, end);
    let gauge_points = (24 * 3_600_000 / STEP_MS) as usize + 1;
    println!(
        "dataset: 1 gauge series over 24h, {} counter series and 120 histogram bucket series over {}h, 15s apart: {samples} samples in {} requests",
        args.series,
        hours,
        bodies.len()
    );
    let stratus = measure(Target::Stratus, args, hours, &bodies, end, gauge_points)
        .await
        .context("stratus")?;
    let prom = if args.compare_prometheus {
        Some(
            measure(Target::Prometheus, args, hours, &bodies, end, gauge_points)
                .await
                .context("prometheus")?,
        )
    } else {
        None
    };
    println!(
        "loaded in {:.1}s (stratus){}; peak RSS stratus {:.0} MiB{}",
        stratus.load_s,
        prom.as_ref()
            .map(|p| format!(", {:.1}s (prometheus)", p.load_s))
            .unwrap_or_default(),
        stratus.peak_rss as f64 / 1048576.0,
        prom.as_ref()
            .map(|p| format!(", prometheus {:.0} MiB", p.peak_rss as f64 / 1048576.0))
            .unwrap_or_default()
    );
    println!(
        "{:<42} {:>12} {:>12} {:>12} {:>8} {:>10}",
        "query (range)", "stratus cold", "stratus warm", "prom warm", "ratio", "bytes"
    );
    let mut ratios = Vec::new();
    for (i, q) in queries(hours).iter().enumerate() {
        let pw = prom.as_ref().map(|p| p.warm_ms[i]);
        let ratio = pw.map(|p| stratus.warm_ms[i] / p);
        if let Some(r) = ratio {
            ratios.push(r);
        }
        println!(
            "{:<42} {:>10.1}ms {:>10.1}ms {:>12} {:>8} {:>10}",
            q.name,
            stratus.cold_ms[i],
            stratus.warm_ms[i],
            pw.map(|p| format!("{p:.1}ms"))
                .unwrap_or_else(|| "n/a".into()),
            ratio
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "n/a".into()),
            stratus.bytes[i]
        );
    }
    let max = ratios.iter().copied().fold(f64::NAN, f64::max);
    println!(
        "summary: queries={} warm_ratio_max={}",
        ratios.len().max(queries(hours).len()),
        if max.is_nan() {
            "n/a".to_string()
        } else {
            format!("{max:.2}")
        }
    );
    Ok(())
}
