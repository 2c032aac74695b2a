//! The PromQL compliance tester's query set against Prometheus 2.42: every
//! expanded query of `promql-test-queries.yml` (see
//! `stratus_tests::compliance`) runs as a range query (10 s steps over 1 h,
//! as the tester does) against Debian's Prometheus and `stratus all`, both
//! fed the same demo-service-shaped data through remote_write, and the
//! answers must agree (the comparison and the deliberate 2.x/3.x
//! differences of `stratus_tests::differential`); `should_fail` queries
//! must fail on both.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use stratus_tests::compliance::{
    demo_batches, demo_dataset, load, queries_path, ComplianceQuery, DEMO_INTERVAL_MS, DEMO_SLOTS,
};
use stratus_tests::differential::{
    compare, get_answer, now_ms, seconds, start_pair, trim, wait_for_data, write_all, Evaluation,
    Pair,
};

/// The dataset's seed; STRATUS_COMPLIANCE_SEED overrides it.
const SEED: u64 = 0x5eed_de30;
/// Expanded queries of the vendored set.
const EXPANDED: usize = 539;
/// Scrape slots per remote_write request.
const SLOTS_PER_BATCH: usize = 30;
/// Queries in flight per system.
const PARALLEL: usize = 8;

/// Queries whose answers differ because of a deliberate 2.x/3.x difference
/// (`stratus_tests::differential::DIFFERENCES`): (query, reason). None
/// does with this set and data:
/// - left-open range selectors and lookback (difference 1): no sample
///   timestamp is on a whole second or at `.500`, the evaluation times are
///   at `.500` with 10 s steps, and every range, offset and subquery step
///   of the set is whole seconds;
/// - `holt_winters` (2), `atan2` (10), `predict_linear` with `@` (11) and
///   functions newer than 2.42 (5) are not in the set; no regex meets a
///   newline (3); le values are sent as written (8);
/// - rate/increase at a series' start (9): the earliest window of any
///   query (1 h range at the first step) starts 17 min after the data;
/// - Kahan summation (6): within the 1e-6 relative tolerance; annotations
///   and error texts (7) are not compared.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Stratus bugs found by this test and not fixed yet: (query, what
/// differs). Keep this list short; each entry is a bug to fix.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// Queries that Prometheus may answer without data: a nonexistent metric,
/// a 1 s window (no sample in it at 5 s scrapes), `absent` of something
/// present, a filtering comparison, a selector or clamp that matches nothing,
/// histogram_quantile without `le`.
fn may_be_empty(q: &str) -> bool {
    let filter = ["==", "!=", "<", ">"]
        .iter()
        .any(|op| q.contains(op) && !q.contains("bool"));
    q.contains("nonexistent")
        || q.contains("[1s]")
        || q.starts_with("absent")
        || filter
        || q == "demo_memory_usage_bytes{instance=~\"host\"}"
        || q == "clamp(demo_memory_usage_bytes, 1000000000000, 0)"
        || q == "histogram_quantile(0.9, demo_memory_usage_bytes)"
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
    let Pair {
        stratus,
        prometheus: prom,
        ..
    } = start_pair(bin, dir.path(), &["--max-sample-age", "4h"], &[]);

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
    let loaded = wait_for_data(
        &client,
        [&s_base, &p_base],
        &data,
        base_ms + span_ms + 500,
        "3h",
        Duration::from_secs(90),
    )
    .await;
    println!("compliance: loaded {loaded} into both");

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

    let results: Vec<(ComplianceQuery, Verdict, bool)> = futures::stream::iter(queries)
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
                        if failed(&s.json) {
                            "failed"
                        } else {
                            "succeeded"
                        },
                        if failed(&p.json) {
                            "failed"
                        } else {
                            "succeeded"
                        },
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
                let empty = p.json["data"]["result"]
                    .as_array()
                    .is_none_or(|r| r.is_empty());
                (q, verdict, empty)
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await;

    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|(_, v, _)| f(v)).count();
    let matched = count(|v| matches!(v, Verdict::Match));
    let known = count(|v| matches!(v, Verdict::Known(_)));
    let known_failures = count(|v| matches!(v, Verdict::KnownFailure));
    let mismatches: Vec<&str> = results
        .iter()
        .filter_map(|(_, v, _)| match v {
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
    let empty: Vec<&str> = results
        .iter()
        .filter(|(q, _, e)| *e && !q.should_fail)
        .map(|(q, _, _)| q.query.as_str())
        .collect();
    println!(
        "compliance: prometheus answered {} queries without data: {empty:?}",
        empty.len()
    );
    let unexplained: Vec<&&str> = empty.iter().filter(|q| !may_be_empty(q)).collect();
    assert!(
        unexplained.is_empty(),
        "the data should give these queries an answer: {unexplained:?}"
    );
    for (q, v, _) in &results {
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
            !results.iter().any(|(q, v, _)| {
                q.query == *k && matches!(v, Verdict::Known(_) | Verdict::KnownFailure)
            })
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
