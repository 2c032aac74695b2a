//! `stratus bench query --dataset node`: query speed from object storage
//! against Prometheus on local disk, on the node-exporter-like dataset.
//!
//! The data ([`super::build`]) ends at the last UTC midnight. Every query
//! goes over HTTP, so the response encoding is part of its latency.
//!
//! - Prometheus (with `--compare-prometheus`) starts on promtool's blocks;
//!   the bench waits until its own compaction of them is over, runs every
//!   query once, then `--runs` times each (median).
//! - Cold: per query, a fresh querier process with empty caches (memory
//!   and disk tier) answers it once.
//! - Warm: one querier process answers every query once (a dashboard's
//!   first load), then `--runs` times each (median; GETs of the last run).
//! - Refresh: the same process, every query again 30 s later (start and
//!   end moved by 30 s, the data unchanged). Before each query the bench
//!   waits past the querier's catalog cache (1 s), as 30 s would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;

use super::super::procstat::{clock_ticks, cpu_seconds, peak_rss_bytes};
use super::super::servers::{free_port, median, now_ms, timed_query, Server};
use super::build::{self, BuildArgs, DAY, HISTORY_DAYS};
use super::querier::{Counts, Querier};
use super::QueryArgs;

/// The querier's own memory beyond its caches and queries.
const PROCESS_ALLOWANCE_BYTES: u64 = 256 << 20;

const HOUR: i64 = 3_600_000;
/// How much later the refresh run asks.
const REFRESH_MS: i64 = 30_000;
/// A little over the querier's catalog and listing cache (1 s).
const LISTING_TTL_PASSED: Duration = Duration::from_millis(1_200);

pub struct NodeQuery {
    pub label: String,
    pub expr: String,
    pub window_ms: i64,
    pub step_s: i64,
}

/// The dashboard set: the issue's reference queries over 2 h at 15 s, the
/// same over the whole data at 1 min (a 24 h Grafana panel), issue 3's
/// single series and histogram quantile, and a 7-day `avg_over_time`.
pub fn queries(hours: i64) -> Vec<NodeQuery> {
    let q = |expr: &str, window_ms: i64, step_s: i64| {
        let span = if window_ms % DAY == 0 {
            format!("{}d", window_ms / DAY)
        } else {
            format!("{}h", window_ms / HOUR)
        };
        NodeQuery {
            label: format!("{expr} [{span}, step {step_s}s]"),
            expr: expr.to_string(),
            window_ms,
            step_s,
        }
    };
    let cpu = "rate(node_cpu_seconds_total[5m])";
    let by_instance = "sum by (instance) (rate(node_cpu_seconds_total[5m]))";
    let quantile =
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))";
    let all = hours * HOUR;
    vec![
        q(cpu, 2 * HOUR, 15),
        q(by_instance, 2 * HOUR, 15),
        q(quantile, 2 * HOUR, 15),
        q(r#"node_load1{instance="host-00000:9100"}"#, all, 60),
        q(cpu, all, 60),
        q(by_instance, all, 60),
        q(quantile, all, 60),
        q("avg_over_time(node_load1[1h])", 7 * DAY, 3600),
    ]
}

/// One answer: latency to the last byte, the body.
struct Answer {
    ms: f64,
    body: Bytes,
}

async fn range_query(
    client: &reqwest::Client,
    url: &str,
    q: &NodeQuery,
    end_ms: i64,
    stats: bool,
) -> anyhow::Result<Answer> {
    let start_ms = end_ms - q.window_ms;
    let mut params = vec![
        ("query", q.expr.clone()),
        ("start", format!("{}", start_ms as f64 / 1000.0)),
        ("end", format!("{}", end_ms as f64 / 1000.0)),
        ("step", q.step_s.to_string()),
    ];
    if stats {
        params.push(("stats", "all".to_string()));
    }
    let form = serde_urlencoded::to_string(&params)?;
    // POST with a form, as Grafana sends queries by default.
    let request = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    let (ms, body) = timed_query(request, &q.expr).await?;
    Ok(Answer { ms, body })
}

/// Series in a range-query answer.
fn count_series(body: &[u8]) -> usize {
    const NEEDLE: &[u8] = b"\"metric\":";
    body.windows(NEEDLE.len()).filter(|w| *w == NEEDLE).count()
}

/// `data.stats.storage.getRequests` of a Stratus answer with `stats=all`
/// (the stats close the body).
fn stats_gets(body: &[u8]) -> Option<u64> {
    let tail = &body[body.len().saturating_sub(1024)..];
    let text = std::str::from_utf8(tail).ok()?;
    let at = text.rfind("\"getRequests\":")? + "\"getRequests\":".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// What one query measured in Stratus.
#[derive(Default)]
struct StratusQuery {
    cold_ms: f64,
    cold: Counts,
    cold_rss: u64,
    warm_ms: f64,
    /// The last warm run's requests.
    warm: Counts,
    refresh_ms: f64,
    refresh: Counts,
    series: usize,
    response_bytes: usize,
    /// `stats=all` GETs that differ from the process counters.
    stats_mismatch: Option<(u64, u64)>,
}

struct PromQuery {
    median_ms: f64,
    series: usize,
    response_bytes: usize,
}

struct Prometheus {
    queries: Vec<Result<PromQuery, String>>,
    blocks: usize,
    peak_rss: u64,
    compaction_wait_s: f64,
}

/// Blocks (folders with a meta.json) in a TSDB folder.
fn tsdb_blocks(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("meta.json").exists())
                .count()
        })
        .unwrap_or(0)
}

async fn prometheus_metric(
    client: &reqwest::Client,
    s: &Server,
    name: &str,
) -> anyhow::Result<f64> {
    let text = client.get(s.url("/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .with_context(|| format!("prometheus's /metrics has no {name}"))
}

/// Waits until Prometheus has started compacting promtool's blocks (its
/// first compaction cycle, a minute after start) and then sat idle for
/// 6 s, so its compaction does not run during the measurements.
async fn wait_compaction_done(client: &reqwest::Client, s: &Server) -> anyhow::Result<f64> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(40 * 60);
    while prometheus_metric(client, s, "prometheus_tsdb_compactions_triggered_total").await? < 1.0 {
        if started.elapsed() > Duration::from_secs(180) {
            bail!("prometheus started no compaction cycle in 180 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (pid, ticks) = (s.child.id(), clock_ticks());
    let mut last = cpu_seconds(pid, ticks)?;
    let mut idle = 0;
    while idle < 3 {
        if Instant::now() > deadline {
            bail!("prometheus still busy after 40 min");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = cpu_seconds(pid, ticks)?;
        idle = if now - last < 0.1 { idle + 1 } else { 0 };
        last = now;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn measure_prometheus(
    args: &QueryArgs,
    tsdb: &Path,
    work: &Path,
    queries: &[NodeQuery],
    end_ms: i64,
    runs: usize,
) -> anyhow::Result<Prometheus> {
    let cfg = work.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n")?;
    let port = free_port()?;
    let log = std::fs::File::create(work.join("prometheus.log"))?;
    let child = Command::new(&args.prometheus_bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg("--storage.tsdb.retention.time=10y")
        .arg(format!("--query.max-samples={}", args.query_max_samples))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", args.prometheus_bin.display()))?;
    let mut server = Server { child, port };
    let client = reqwest::Client::new();
    server.wait_ready(&client).await?;
    println!(
        "prometheus: started on {} promtool blocks; waiting for its compaction",
        tsdb_blocks(tsdb)
    );
    let compaction_wait_s = wait_compaction_done(&client, &server).await?;
    let blocks = tsdb_blocks(tsdb);
    println!("prometheus: compaction done after {compaction_wait_s:.0} s, {blocks} blocks");
    let url = server.url("/api/v1/query_range");
    let mut out = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let one = async {
            let first = range_query(&client, &url, q, end_ms, false).await?;
            let mut ms = Vec::new();
            for _ in 0..runs {
                ms.push(range_query(&client, &url, q, end_ms, false).await?.ms);
            }
            Ok::<_, anyhow::Error>(PromQuery {
                median_ms: median(ms),
                series: count_series(&first.body),
                response_bytes: first.body.len(),
            })
        };
        let r = one.await.map_err(|e| format!("{e:#}"));
        match &r {
            Ok(p) => println!(
                "  prometheus q{}: median {:.1} ms, {} series, {:.1} MiB",
                i + 1,
                p.median_ms,
                p.series,
                mib(p.response_bytes as u64)
            ),
            Err(e) => println!("  prometheus q{}: error: {e}", i + 1),
        }
        out.push(r);
    }
    Ok(Prometheus {
        queries: out,
        blocks,
        peak_rss: peak_rss_bytes(server.child.id())?,
        compaction_wait_s,
    })
}

/// Cold runs (a fresh querier each), then warm runs and the refresh on
/// one querier.
async fn measure_stratus(
    args: &QueryArgs,
    bucket: &Path,
    work: &Path,
    queries: &[NodeQuery],
    end_ms: i64,
    runs: usize,
) -> anyhow::Result<(Vec<Result<StratusQuery, String>>, u64)> {
    let client = reqwest::Client::new();
    let start = |client: &reqwest::Client| {
        let client = client.clone();
        async move {
            Querier::start(
                &client,
                bucket,
                work,
                args.latency_ms,
                &args.querier_limits(),
            )
            .await
        }
    };
    let mut out: Vec<Result<StratusQuery, String>> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let cold = async {
            let querier = start(&client).await?;
            let url = querier.url("/api/v1/query_range");
            let c0 = querier.counts(&client).await?;
            let a = range_query(&client, &url, q, end_ms, true).await?;
            let counts = querier.counts(&client).await?.since(&c0);
            Ok::<_, anyhow::Error>(StratusQuery {
                cold_ms: a.ms,
                cold: counts,
                cold_rss: querier.peak_rss()?,
                stats_mismatch: stats_gets(&a.body)
                    .filter(|&g| g != counts.gets)
                    .map(|g| (g, counts.gets)),
                ..StratusQuery::default()
            })
        };
        let r = cold.await.map_err(|e| format!("{e:#}"));
        match &r {
            Ok(s) => println!(
                "  stratus q{} cold: {:.1} ms, {} GETs, {:.1} MiB",
                i + 1,
                s.cold_ms,
                s.cold.gets,
                mib(s.cold.get_bytes)
            ),
            Err(e) => println!("  stratus q{} cold: error: {e}", i + 1),
        }
        out.push(r);
    }

    let querier = start(&client).await?;
    let url = querier.url("/api/v1/query_range");
    // The dashboard's first load.
    for (i, q) in queries.iter().enumerate() {
        let Ok(s) = &mut out[i] else { continue };
        match range_query(&client, &url, q, end_ms, true).await {
            Ok(a) => {
                s.series = count_series(&a.body);
                s.response_bytes = a.body.len();
            }
            Err(e) => out[i] = Err(format!("first warm run: {e:#}")),
        }
    }
    for (i, q) in queries.iter().enumerate() {
        let Ok(s) = &mut out[i] else { continue };
        let warm = async {
            let mut ms = Vec::new();
            let mut last = Counts::default();
            for _ in 0..runs {
                let c0 = querier.counts(&client).await?;
                ms.push(range_query(&client, &url, q, end_ms, true).await?.ms);
                last = querier.counts(&client).await?.since(&c0);
            }
            Ok::<_, anyhow::Error>((median(ms), last))
        };
        match warm.await {
            Ok((ms, last)) => {
                s.warm_ms = ms;
                s.warm = last;
                println!(
                    "  stratus q{} warm: median {ms:.1} ms, {} GETs in the last run",
                    i + 1,
                    last.gets
                );
            }
            Err(e) => out[i] = Err(format!("warm runs: {e:#}")),
        }
    }
    for (i, q) in queries.iter().enumerate() {
        let Ok(s) = &mut out[i] else { continue };
        // Simulated time: the catalog cache has expired 30 s later.
        tokio::time::sleep(LISTING_TTL_PASSED).await;
        let refresh = async {
            let c0 = querier.counts(&client).await?;
            let a = range_query(&client, &url, q, end_ms + REFRESH_MS, true).await?;
            Ok::<_, anyhow::Error>((a.ms, querier.counts(&client).await?.since(&c0)))
        };
        match refresh.await {
            Ok((ms, c)) => {
                s.refresh_ms = ms;
                s.refresh = c;
            }
            Err(e) => out[i] = Err(format!("refresh: {e:#}")),
        }
    }
    Ok((out, querier.peak_rss()?))
}

/// The data of a run: built into `work`, or reused from an earlier run
/// with the same hosts, hours and end (with `--work-dir`; building 24 h
/// with Prometheus takes about an hour). The temporary folder, when there
/// is one, lives as long as the returned guard.
async fn prepare(
    args: &QueryArgs,
    hours: i64,
    end_ms: i64,
) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>, build::Built)> {
    let (work, temporary) = match &args.work_dir {
        Some(d) => {
            let dir = d.join(format!(
                "node-{}hosts-{hours}h-{}{}",
                args.hosts,
                end_ms / 1000,
                if args.compare_prometheus { "-prom" } else { "" }
            ));
            (dir, None)
        }
        None => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    println!(
        "dataset: {} hosts x 238 series, the last {hours} h at 15 s in 2 h blocks, and {HISTORY_DAYS} days of node_load1 before them compacted into day blocks with 5 m and 1 h rollups; data ends at {} (the last UTC midnight); work dir {}",
        args.hosts,
        end_ms / 1000,
        work.display()
    );
    let marker = work.join("built.txt");
    if let Some(b) = build::Built::read_marker(&marker, &work, args.compare_prometheus)? {
        println!("reusing the data built earlier in {}", work.display());
        return Ok((work, temporary, b));
    }
    if work.exists() {
        // An interrupted build: start over.
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("removing the unfinished {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let t = Instant::now();
    let built = build::build(&BuildArgs {
        hosts: args.hosts,
        hours,
        end_ms,
        work: &work,
        compare_prometheus: args.compare_prometheus,
        promtool_bin: &args.promtool_bin,
    })
    .await?;
    println!(
        "built in {:.0} s: {} series, {} samples, plus {} history series with {} samples",
        t.elapsed().as_secs_f64(),
        built.series,
        built.samples,
        built.history_series,
        built.history_samples
    );
    if args.work_dir.is_some() {
        built.write_marker(&marker)?;
    }
    Ok((work, temporary, built))
}

mod report;

use report::{report_memory, report_queries, report_refresh};

pub async fn run(args: &QueryArgs) -> anyhow::Result<()> {
    let hours = args.hours.unwrap_or(24);
    let runs = args.runs.unwrap_or(5).max(1);
    let end_ms = {
        let now = now_ms();
        now - now.rem_euclid(DAY)
    };
    let (work, _temporary, built) = prepare(args, hours, end_ms).await?;
    for line in build::describe_catalog(&built.bucket_dir).await? {
        println!("  catalog: {line}");
    }
    let queries = queries(hours);
    let prom = match &built.tsdb_dir {
        Some(tsdb) => Some(measure_prometheus(args, tsdb, &work, &queries, end_ms, runs).await?),
        None => None,
    };
    println!(
        "stratus: querier processes over the bucket with {} ms added to every storage request (FaultyStore), object cache 256 MiB memory + 1 GiB disk, {}, all empty at each start",
        args.latency_ms,
        if args.results_cache_bytes > 0 {
            format!(
                "results cache {:.0} MiB (splits by UTC day, nothing newer than 10 min cached)",
                mib(args.results_cache_bytes)
            )
        } else {
            "no results cache".to_string()
        }
    );
    let (stratus, warm_rss) =
        measure_stratus(args, &built.bucket_dir, &work, &queries, end_ms, runs).await?;

    println!();
    println!(
        "results: latency to the last byte over HTTP; warm = median of {runs} runs; ratios are Stratus's latency over Prometheus's median; GETs from the querier's counters (data = object-cache misses: block ranges; catalog = the rest)"
    );
    let (warm_max, cold_max, complete) = report_queries(&queries, &stratus, prom.as_ref());
    let refresh_data_gets = report_refresh(&stratus);
    report_memory(args, &stratus, warm_rss, prom.as_ref());
    if !complete {
        println!("some queries failed: the ratios cover the others only");
    }
    let fmt = |x: f64| {
        if x.is_nan() {
            "n/a".to_string()
        } else {
            format!("{x:.2}")
        }
    };
    println!(
        "summary: warm_ratio_max={} cold_ratio_max={} refresh_gets={refresh_data_gets}",
        fmt(warm_max),
        fmt(cold_max)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_series_and_reads_stats() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"1"]]},{"metric":{},"values":[]}],"stats":{"storage":{"getRequests":17,"getBytes":9,"listRequests":1}}}}"#;
        assert_eq!(count_series(body), 2);
        assert_eq!(stats_gets(body), Some(17));
        assert_eq!(stats_gets(b"{}"), None);
    }

    #[test]
    fn queries_cover_the_issue_set() {
        let q = queries(24);
        assert_eq!(q.len(), 8);
        assert!(q
            .iter()
            .any(|q| q.expr.starts_with("avg_over_time") && q.window_ms == 7 * DAY));
        assert!(q[0].label.contains("[2h, step 15s]"), "{}", q[0].label);
        assert!(q[4].label.contains("[1d, step 60s]"), "{}", q[4].label);
    }
}
