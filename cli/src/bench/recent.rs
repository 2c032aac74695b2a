//! `stratus bench recent` (issue 15): queries over recent data while it
//! is being written, in Stratus and, with `--compare-prometheus`, in
//! Prometheus 2.42's head, in the same run.
//!
//! - Load ([`load`]): `--series` node-exporter-like series, 1,000 per host
//!   ([`HostShape`]: 128 `node_cpu_seconds_total`, one `node_load1`, ...,
//!   a `host` label `host-007`), one sample each every 15 s of wall time
//!   for `--minutes`, with wall-clock timestamps, encoded one scrape at a
//!   time and sent by 8 senders in 2,000-sample requests (Prometheus's
//!   remote_write defaults) to `stratus all` and to Prometheus's
//!   remote-write receiver. `--segment-per-request` starts Stratus with
//!   `--commit-window 0s`: every request is its own segment, as in the
//!   serverless deployment.
//! - Queries ([`queries`]), once the first 2 scrapes are acknowledged by
//!   both, then a round every `--query-every-s` until the load ends:
//!   warm = the second of two runs on the long-running `stratus all` (and
//!   on Prometheus); cold = the first run on a querier process started
//!   for that query (`stratus bench query`'s querier child: `stratus
//!   query`'s router over the same bucket folder, `--latency-ms` added to
//!   every bucket request, empty caches). Instant queries ask at the last
//!   scrape both targets acknowledged, the 1 h range query ends now.
//! - Freshness: a probe writes `bench_freshness{seq="N"}` alone in one
//!   request to `stratus all` and polls an instant query for it until it
//!   answers; seconds from the acknowledgement.
//!
//! Summary figures: `small_*` is the largest median over the 1- to
//! 1,000-series queries (q1-q3), `heavy_warm_ratio_max` the largest ratio
//! of medians Stratus/Prometheus over the 128,000-series ones (q4, q5),
//! `lookup_warm_ms_max` the largest warm median of the series and label
//! values lookups (q6, q7), `freshness_s_p99` the probe's p99, and
//! `peak_rss_ratio` the largest peak RSS (VmHWM) of the cold querier
//! processes over their configured bounds: the sum of the object cache's
//! memory tier (`--cache-memory-bytes`, 256 MiB), the query source's
//! head of recent segments (`--head-bytes`, 512 MiB) and label-set cache (64 MiB), the
//! results cache (`--query-results-cache-bytes`) and the running queries'
//! bound (`--query-memory-bytes`), as [`configured_bounds`] lists them;
//! no allowance for the process itself.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use super::dataset::HostShape;
use super::procstat::peak_rss_bytes;
use super::query::querier::{configured_bounds, describe_bounds, Querier};
use super::servers::{self, now_ms, percentile, Server, Target};

mod load;
mod queries;

use queries::{figure, max_of, ratio, At, Class, Measured};

#[derive(Debug, Clone, Args)]
pub struct RecentArgs {
    /// Active series (1,000 per host; rounded down to whole hosts)
    #[arg(long, default_value_t = 20_000)]
    pub series: usize,
    /// Minutes of writing, one scrape every 15 s
    #[arg(long, default_value_t = 2)]
    pub minutes: u64,
    /// Latency added to every bucket request of the cold querier, in ms
    #[arg(long, default_value_t = 30)]
    pub latency_ms: u64,
    /// Also write to Prometheus's remote-write receiver and query it
    #[arg(long)]
    pub compare_prometheus: bool,
    /// Prometheus binary [default: prometheus on PATH]
    #[arg(long, default_value = "prometheus")]
    pub prometheus_bin: PathBuf,
    /// Start Stratus with --commit-window 0s: one segment per request
    #[arg(long)]
    pub segment_per_request: bool,
    /// Series per host (at least 302)
    #[arg(long, default_value_t = 1000)]
    pub series_per_host: usize,
    /// Concurrent senders per target
    #[arg(long, default_value_t = 8)]
    pub senders: usize,
    /// Samples per request
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Seconds from the start of one query round to the next
    #[arg(long, default_value_t = 30)]
    pub query_every_s: u64,
    /// Time limit of one query, in seconds
    #[arg(long, default_value_t = 120)]
    pub query_timeout_s: u64,
    /// Cold querier: most samples one query may hold (`stratus query`'s default)
    #[arg(long, default_value_t = 50_000_000)]
    pub query_max_samples: usize,
    /// Cold querier: results cache memory (`stratus query`'s default)
    #[arg(long, default_value_t = 256 << 20)]
    pub results_cache_bytes: u64,
    /// Cold querier: memory bound of running queries (`stratus query`'s default)
    #[arg(long, default_value_t = 2 << 30)]
    pub query_memory_bytes: u64,
    /// Cold querier: memory its head of recent segments may hold
    /// (`--query-head-bytes`)
    #[arg(long, default_value_t = 512 << 20)]
    pub head_bytes: u64,
}

impl RecentArgs {
    /// The settings the cold querier gets.
    fn querier_limits(&self) -> super::query::querier::QuerierLimits {
        super::query::querier::QuerierLimits {
            max_samples: self.query_max_samples,
            results_cache_bytes: self.results_cache_bytes,
            query_memory_bytes: self.query_memory_bytes,
            head_bytes: self.head_bytes,
        }
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// What a query round asks of and where.
struct Round<'a> {
    args: &'a RecentArgs,
    client: &'a reqwest::Client,
    /// The long-running targets and their base URLs.
    targets: &'a [(Target, String)],
    /// The bucket folder of `stratus all`, for the cold queriers.
    bucket: &'a Path,
    work: &'a Path,
}

/// A query round: each query twice on every long-running target, then
/// once on a fresh querier per query.
async fn query_round(r: &Round<'_>, at: At, m: &mut [Measured], querier_rss: &mut u64) {
    let (args, client, targets, bucket, work) = (r.args, r.client, r.targets, r.bucket, r.work);
    let timeout = Duration::from_secs(args.query_timeout_s);
    for (q, m) in queries::queries().iter().zip(m.iter_mut()) {
        for (target, base) in targets {
            // The first run warms; the second is measured.
            let _ = queries::run(client, base, q, at, timeout).await;
            let r = queries::run(client, base, q, at, timeout).await;
            match target {
                Target::Stratus => m.warm.record(r),
                Target::Prometheus => m.prom.record(r),
            }
        }
    }
    for (q, m) in queries::queries().iter().zip(m.iter_mut()) {
        let cold = async {
            let querier = Querier::start(
                client,
                bucket,
                work,
                args.latency_ms,
                &args.querier_limits(),
            )
            .await?;
            let r = queries::run(client, &querier.url(""), q, at, timeout).await;
            *querier_rss = (*querier_rss).max(querier.peak_rss()?);
            r
        };
        m.cold.record(cold.await);
    }
}

pub async fn run(args: RecentArgs) -> anyhow::Result<()> {
    let shape = HostShape::new(args.series_per_host, 42)?;
    let hosts = args.series / args.series_per_host;
    if hosts == 0 || args.minutes == 0 {
        bail!("--series must be at least --series-per-host and --minutes at least 1");
    }
    let series = hosts * args.series_per_host;
    let scrapes = (args.minutes * 4) as usize;
    let work = tempfile::tempdir()?;
    let (sdir, pdir) = (work.path().join("stratus"), work.path().join("prometheus"));
    std::fs::create_dir_all(&sdir)?;
    std::fs::create_dir_all(&pdir)?;
    println!(
        "load: {hosts} hosts x {} = {series} series, a scrape every 15 s for {} min ({scrapes} scrapes), {} senders, {}-sample requests; stratus {}",
        args.series_per_host,
        args.minutes,
        args.senders,
        args.batch,
        if args.segment_per_request {
            "with --commit-window 0s (a segment per request)"
        } else {
            "with its default commit window"
        }
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4 * args.senders)
        .build()?;
    // Packing as a deployment's compactor does (stratus all alone does
    // not pack): the cold queriers read the packs.
    let mut stratus_args: Vec<&str> = vec!["--pack-interval", "5s"];
    if args.segment_per_request {
        stratus_args.extend(["--commit-window", "0s"]);
    }
    let prom_yaml = "global:\n  scrape_interval: 1h\n";
    let mut stratus = servers::start(
        Target::Stratus,
        &sdir,
        &stratus_args,
        &args.prometheus_bin,
        prom_yaml,
    )?;
    stratus.wait_ready(&client).await.context("stratus all")?;
    let mut prometheus: Option<Server> = None;
    if args.compare_prometheus {
        let mut p = servers::start(
            Target::Prometheus,
            &pdir,
            &[],
            &args.prometheus_bin,
            prom_yaml,
        )?;
        p.wait_ready(&client).await.context("prometheus")?;
        prometheus = Some(p);
    }
    let mut targets = vec![(Target::Stratus, stratus.url(""))];
    if let Some(p) = &prometheus {
        targets.push((Target::Prometheus, p.url("")));
    }
    let (rounds, mut tasks) = load::start(
        load::LoadConfig {
            hosts,
            shape,
            scrapes,
            senders: args.senders,
            batch: args.batch,
        },
        targets
            .iter()
            .map(|(t, base)| (t.name(), format!("{base}/api/v1/write")))
            .collect(),
        client.clone(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(load::freshness(
        client.clone(),
        stratus.url(""),
        stop.clone(),
    ));

    let list = queries::queries();
    let mut measured = vec![Measured::default(); list.len()];
    let mut querier_rss = 0u64;
    let mut query_rounds = 0;
    let bucket = sdir.join("data");
    let deadline = Instant::now() + Duration::from_secs(args.minutes * 60 + 600);
    loop {
        let finished = rounds.finished.load(Ordering::Acquire);
        let acked = rounds.acked_by_all();
        if (finished && query_rounds > 0) || Instant::now() > deadline {
            break;
        }
        if acked < 2 {
            if finished && acked == 0 {
                bail!("no scrape was acknowledged by every target");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let started = Instant::now();
        let at = At {
            instant_ms: rounds.ts(acked - 1),
            end_ms: now_ms(),
        };
        query_rounds += 1;
        let round = Round {
            args: &args,
            client: &client,
            targets: &targets,
            bucket: &bucket,
            work: work.path(),
        };
        query_round(&round, at, &mut measured, &mut querier_rss).await;
        println!(
            "query round {query_rounds} at scrape {acked}: {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let next = started + Duration::from_secs(args.query_every_s);
        while Instant::now() < next && !rounds.finished.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The last scrape's requests, for at most a minute.
    let waited = Instant::now();
    while rounds.acked_by_all() < scrapes && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Release);
    let fresh = tokio::time::timeout(Duration::from_secs(60), probe)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    for t in &tasks {
        t.abort();
    }
    tasks.clear();

    println!();
    for (t, name) in rounds.targets.iter().enumerate() {
        let (p50, p99) = rounds.ack_percentiles(t);
        println!(
            "writes {name}: {}/{scrapes} scrapes acknowledged, ack p50 {p50:.0} ms p99 {p99:.0} ms, {} requests failed",
            rounds.acked(t),
            rounds.failures[t].load(Ordering::Acquire)
        );
    }
    println!(
        "results over {query_rounds} query rounds: latency in ms to the last byte, p50/p99; ratio = stratus warm p50 / prometheus p50; cold = a fresh querier per query with {} ms per bucket request",
        args.latency_ms
    );
    queries::report(&list, &measured);
    let freshness = percentile(fresh.clone(), 0.99);
    println!(
        "freshness of stratus all (ack to visible): {} probes, p50 {}s p99 {}s max {}s",
        fresh.len(),
        figure(servers::median(fresh.clone()), 2),
        figure(freshness, 2),
        figure(fresh.iter().copied().fold(f64::NAN, f64::max), 2)
    );
    let parts = configured_bounds(&args.querier_limits());
    let bound: u64 = parts.iter().map(|p| p.1).sum();
    let rss_ratio = if querier_rss == 0 {
        f64::NAN
    } else {
        querier_rss as f64 / bound as f64
    };
    println!(
        "peak RSS: cold querier {:.0} MiB of its bounds {}; stratus all {:.0} MiB{}",
        mib(querier_rss),
        describe_bounds(&parts),
        mib(peak_rss_bytes(stratus.child.id()).unwrap_or(0)),
        prometheus
            .as_ref()
            .map(|p| format!(
                "; prometheus {:.0} MiB",
                mib(peak_rss_bytes(p.child.id()).unwrap_or(0))
            ))
            .unwrap_or_default()
    );
    drop(prometheus);
    drop(stratus);
    println!(
        "summary: series={series} small_warm_ms_max={} small_cold_ms_max={} heavy_warm_ratio_max={} lookup_warm_ms_max={} freshness_s_p99={} peak_rss_ratio={}",
        figure(max_of(&list, &measured, Class::Small, |m| m.warm.median()), 1),
        figure(max_of(&list, &measured, Class::Small, |m| m.cold.median()), 1),
        figure(max_of(&list, &measured, Class::Heavy, ratio), 2),
        figure(max_of(&list, &measured, Class::Lookup, |m| m.warm.median()), 1),
        figure(freshness, 2),
        figure(rss_ratio, 2)
    );
    Ok(())
}
