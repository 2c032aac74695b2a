//! The PromQL compliance tester's query set against Prometheus 2.42: every
//! expanded query of `promql-test-queries.yml` (see
//! `stratus_tests::compliance`) runs as a range query (10 s steps over 1 h,
//! as the tester does) against Debian's Prometheus and `stratus all`, both
//! fed the same demo-service-shaped data through remote_write, and the
//! answers must agree (the comparison and the deliberate 2.x/3.x
//! differences of `stratus_tests::differential`); `should_fail` queries
//! must fail on both.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use stratus_tests::compliance::{
    demo_batches, demo_dataset, load, queries_path, ComplianceQuery, DEMO_INTERVAL_MS, DEMO_SLOTS,
};
use stratus_tests::differential::{compare, get_answer, seconds, trim, Evaluation, STALE_NAN};
use stratus_tests::prometheus::Prometheus;
use stratus_tests::rw::{self, SeriesData};
use stratus_tests::stratus::StratusProcess;

/// The dataset's seed; STRATUS_COMPLIANCE_SEED overrides it.
const SEED: u64 = 0x5eed_de30;
/// Expanded queries of the vendored set.
const EXPANDED: usize = 0;
/// Scrape slots per remote_write request.
const SLOTS_PER_BATCH: usize = 30;
/// Queries in flight per system.
const PARALLEL: usize = 8;

/// Queries whose answers differ because of a deliberate 2.x/3.x difference
/// (`stratus_tests::differential::DIFFERENCES`): (query, reason).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Stratus bugs found by this test and not fixed yet: (query, what
/// differs). Keep this list short; each entry is a bug to fix.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

const PROMETHEUS_CONFIG: &str = "
global:
  scrape_interval: 5s
  evaluation_interval: 1m
scrape_configs: []
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("clock after 1970")
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN.to_bits()
}

async fn write_all(client: &reqwest::Client, url: &str, batches: &[Vec<SeriesData>]) {
    for (i, batch) in batches.iter().enumerate() {
        let status = rw::send(client, url, rw::encode_v1(batch))
            .await
            .unwrap_or_else(|e| panic!("remote_write {i} to {url}: {e}"));
        assert!(
            (200..300).contains(&status),
            "remote_write {i} to {url} answered {status}"
        );
    }
}

/// Polls both systems until they hold every series and sample.
async fn wait_for_data(client: &reqwest::Client, bases: [&str; 2], data: &[SeriesData], at_ms: i64) {
    let series = data.len() as f64;
    let samples = data
        .iter()
        .map(|(_, s)| s.iter().filter(|(_, v)| !is_stale(*v)).count())
        .sum::<usize>() as f64;
    let checks = [
        ("count(last_over_time({__name__=~\"demo_.+\"}[3h]))", series),
        (
            "sum(count_over_time({__name__=~\"demo_.+\"}[3h]))",
            samples,
        ),
    ];
    let eval = Evaluation::Instant { time_ms: at_ms };
    let start = Instant::now();
    loop {
        let mut seen = Vec::new();
        for base in bases {
            for (q, _) in checks {
                let a = get_answer(client, base, &eval.request_path(q))
                    .await
                    .expect("count query");
                seen.push(
                    a.json["data"]["result"][0]["value"][1]
                        .as_str()
                        .and_then(|s| s.parse::<f64>().ok()),
                );
            }
        }
        let want: Vec<Option<f64>> = checks.iter().map(|c| Some(c.1)).collect();
        if seen[..2] == want[..] && seen[2..] == want[..] {
            println!("compliance: loaded {series} series, {samples} samples into both");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "data not complete after 90s: want {want:?}, stratus {:?}, prometheus {:?}",
            &seen[..2],
            &seen[2..],
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

enum Verdict {
    Match,
    Known(&'static str),
    KnownFailure,
    Mismatch(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compliance_queries_match_prometheus() {
    let started = Instant::now();
    let queries = load(&queries_path()).expect("query set");
    println!("compliance: {} expanded queries", queries.len());
    assert_eq!(queries.len(), EXPANDED, "expanded queries of the set");

    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let stratus = StratusProcess::start(
        bin,
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &[
            "--commit-window",
            "50ms",
            "--query-listing-ttl",
            "0s",
            "--max-sample-age",
            "4h",
        ],
    )
    .expect("stratus");
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("mkdir");
    let prom = Prometheus::start(
        &prom_dir,
        PROMETHEUS_CONFIG,
        &["--web.enable-remote-write-receiver"],
    )
    .expect("prometheus");

    // 2 h 30 min of data ending about a minute before now.
    let span_ms = DEMO_SLOTS as i64 * DEMO_INTERVAL_MS;
    let base_ms = now_ms() / 60_000 * 60_000 - span_ms - 60_000;
    let seed = std::env::var("STRATUS_COMPLIANCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let data = demo_dataset(seed, base_ms);
    let batches = demo_batches(&data, base_ms, SLOTS_PER_BATCH);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let (s_base, p_base) = (stratus.url(""), prom.url(""));
    write_all(&client, &stratus.url("/api/v1/write"), &batches).await;
    write_all(&client, &prom.url("/api/v1/write"), &batches).await;
    wait_for_data(&client, [&s_base, &p_base], &data, base_ms + span_ms + 500).await;

    // The tester's range: 1 h at 10 s steps, ending 13 min before the data
    // does (room for `offset -10m`); at .500 (difference 1).
    let end_ms = base_ms + span_ms - 13 * 60_000 + 500;
    let eval = Evaluation::Range {
        start_ms: end_ms - 3_600_000,
        end_ms,
        step_ms: 10_000,
    };
    println!(
        "compliance: seed {seed}, data from {}, {eval}",
        seconds(base_ms)
    );

    let results: Vec<(ComplianceQuery, Verdict)> = futures::stream::iter(queries)
        .map(|q| {
            let (client, s_base, p_base) = (&client, &s_base, &p_base);
            async move {
                let path = eval.request_path(&q.query);
                let s = get_answer(client, s_base, &path).await.expect("stratus");
                let p = get_answer(client, p_base, &path).await.expect("prometheus");
                let failed = |v: &serde_json::Value| v["status"] != "success";
                let diff = if q.should_fail && !(failed(&s.json) && failed(&p.json)) {
                    Some(format!(
                        "    should fail: stratus {}, prometheus {}\n",
                        if failed(&s.json) { "failed" } else { "succeeded" },
                        if failed(&p.json) { "failed" } else { "succeeded" },
                    ))
                } else {
                    compare(&s.json, &p.json, false).err()
                };
                let verdict = match diff {
                    None => Verdict::Match,
                    Some(_) if KNOWN_FAILURES.iter().any(|k| k.0 == q.query) => {
                        Verdict::KnownFailure
                    }
                    Some(d) => match KNOWN_DIFFERENCES.iter().find(|k| k.0 == q.query) {
                        Some(k) => Verdict::Known(k.1),
                        None => Verdict::Mismatch(format!(
                            "--- {}\n{d}    stratus:    {}\n    prometheus: {}",
                            q.query,
                            trim(&s.body, 400),
                            trim(&p.body, 400)
                        )),
                    },
                };
                (q, verdict)
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await;

    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|(_, v)| f(v)).count();
    let matched = count(|v| matches!(v, Verdict::Match));
    let known = count(|v| matches!(v, Verdict::Known(_)));
    let known_failures = count(|v| matches!(v, Verdict::KnownFailure));
    let mismatches: Vec<&str> = results
        .iter()
        .filter_map(|(_, v)| match v {
            Verdict::Mismatch(m) => Some(m.as_str()),
            _ => None,
        })
        .collect();
    println!(
        "compliance: {} expanded queries, {matched} matched, {known} known-difference, \
         {known_failures} known-failure, {} mismatched ({:.0?})",
        results.len(),
        mismatches.len(),
        started.elapsed()
    );
    for (q, v) in &results {
        if let Verdict::Known(reason) = v {
            println!("compliance: known difference: {} ({reason})", q.query);
        }
    }
    // The known lists must stay current: every entry is an expanded query
    // that still differs.
    let stale: Vec<&str> = KNOWN_DIFFERENCES
        .iter()
        .chain(KNOWN_FAILURES)
        .map(|k| k.0)
        .filter(|k| {
            !results
                .iter()
                .any(|(q, v)| q.query == *k && matches!(v, Verdict::Known(_) | Verdict::KnownFailure))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "known lists name queries that are not in the set or now match: {stale:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatched queries:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
