//! Differential test of the PromQL engine: Debian's Prometheus (2.42, with
//! its remote_write receiver) and `stratus all` get the same generated
//! dataset through remote_write 1.0, then every query of the corpus runs
//! against both, as instant queries at three times and as range queries
//! with three steps, and the answers must agree (see
//! `stratus_tests::differential` for the rules and the deliberate 2.x/3.x
//! differences).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use stratus_tests::differential::{
    compare, get_answer, is_ordered, now_ms, render, seconds, start_pair, trim, wait_for_data,
    write_all, Dataset, Evaluation, Pair, Times, MUST_FAIL, QUERIES,
};

/// The dataset's seed; STRATUS_DIFF_SEED overrides it.
const SEED: u64 = 0x5eed_2042;
/// Scrape slots per remote_write request (about 3,000 samples).
const SLOTS_PER_BATCH: usize = 14;
/// Queries in flight per system.
const PARALLEL: usize = 8;

/// What Prometheus answered, for checking the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Error,
    Empty,
    Data,
    /// A successful instant query of a range vector or a string, which
    /// a range query cannot evaluate.
    RangeOrString,
}

impl Shape {
    fn of(v: &serde_json::Value, eval: Evaluation) -> Self {
        if v["status"] != "success" {
            return Self::Error;
        }
        let data = &v["data"];
        let rtype = data["resultType"].as_str().unwrap_or_default();
        let instant = matches!(eval, Evaluation::Instant { .. });
        if instant && (rtype == "matrix" || rtype == "string") {
            return Self::RangeOrString;
        }
        if data["result"].as_array().is_some_and(|r| r.is_empty()) {
            Self::Empty
        } else {
            Self::Data
        }
    }
}

struct Outcome {
    template: &'static str,
    eval: Evaluation,
    prometheus: Shape,
    mismatch: Option<Mismatch>,
}

/// Prometheus must reject the queries of MUST_FAIL in every evaluation, and
/// accept the others, except range evaluations of expressions that are
/// range vectors or strings.
fn check_corpus(outcomes: &[Outcome]) -> Vec<String> {
    let mut problems = Vec::new();
    for q in QUERIES {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.template == *q).collect();
        let must_fail = MUST_FAIL.contains(q);
        let instant_matrix = mine.iter().any(|o| o.prometheus == Shape::RangeOrString);
        for o in &mine {
            let failed = o.prometheus == Shape::Error;
            let ok_to_fail =
                must_fail || (instant_matrix && matches!(o.eval, Evaluation::Range { .. }));
            if failed != must_fail && !(failed && ok_to_fail) {
                problems.push(format!(
                    "{q} ({}): prometheus {}",
                    o.eval,
                    if failed { "failed" } else { "succeeded" }
                ));
            }
        }
    }
    problems
}

struct Mismatch {
    query: String,
    eval: Evaluation,
    diff: String,
    stratus: String,
    prometheus: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promql_answers_match_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let Pair {
        stratus,
        prometheus: prom,
        ..
    } = start_pair(bin, dir.path(), &[], &[]);

    // About 40 minutes of data ending a few minutes before now: inside
    // Stratus's accepted window (4 h) and in order for Prometheus's head.
    let base_ms = now_ms() / 60_000 * 60_000 - 42 * 60_000;
    let seed = std::env::var("STRATUS_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let data = Dataset::generate(seed, base_ms);
    let times = Times::for_dataset(&data);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let (s_base, p_base) = (stratus.url(""), prom.url(""));
    let batches = data.batches(SLOTS_PER_BATCH);
    write_all(&client, &stratus.url("/api/v1/write"), &batches).await;
    write_all(&client, &prom.url("/api/v1/write"), &batches).await;
    let loaded = wait_for_data(
        &client,
        [&s_base, &p_base],
        &data.series,
        times.instants[2],
        "1h",
        Duration::from_secs(60),
    )
    .await;
    println!(
        "differential: seed {seed}, loaded {loaded} into both; base {}, evaluations at {:?}, @ {}",
        seconds(base_ms),
        times.instants.map(seconds),
        seconds(times.at_ms)
    );

    let (evals, outcomes) = run_corpus(&client, &s_base, &p_base, &times).await;
    let corpus_problems = check_corpus(&outcomes);
    let never_data: Vec<&str> = QUERIES
        .iter()
        .copied()
        .filter(|q| {
            !outcomes.iter().any(|o| {
                o.template == *q && matches!(o.prometheus, Shape::Data | Shape::RangeOrString)
            })
        })
        .collect();
    let count = |shape: Shape| outcomes.iter().filter(|o| o.prometheus == shape).count();
    println!(
        "differential: prometheus answered {} evaluations with data, {} empty, {} with an error; \
         queries without data in any evaluation: {never_data:?}",
        count(Shape::Data) + count(Shape::RangeOrString),
        count(Shape::Empty),
        count(Shape::Error)
    );
    let mismatches: Vec<Mismatch> = outcomes.into_iter().filter_map(|o| o.mismatch).collect();
    println!(
        "differential: {} queries x {} evaluations, {} mismatches",
        QUERIES.len(),
        evals.len(),
        mismatches.len()
    );

    let mut report = String::new();
    if !corpus_problems.is_empty() {
        let _ = writeln!(
            report,
            "the corpus is not what Prometheus 2.42 expects:\n{}\n",
            corpus_problems.join("\n")
        );
    }
    if !mismatches.is_empty() {
        let mut queries: Vec<&str> = mismatches.iter().map(|m| m.query.as_str()).collect();
        queries.dedup();
        let _ = writeln!(
            report,
            "{} of {} evaluations differ, in {} queries:\n{}",
            mismatches.len(),
            QUERIES.len() * evals.len(),
            queries.len(),
            queries.join("\n")
        );
    }
    for m in &mismatches {
        let _ = writeln!(
            report,
            "\n--- {}\n    {}\n{}    stratus:    {}\n    prometheus: {}",
            m.query, m.eval, m.diff, m.stratus, m.prometheus
        );
    }
    assert!(report.is_empty(), "{report}");

    // The same answers once the data is in blocks: after a pass as of an
    // hour from now (2 h blocks), and as of 30 h from now (day blocks and
    // rollups; the segments are deleted by then).
    let data_dir = dir.path().join("data");
    for (phase, ahead_h) in [("2h blocks", 1i64), ("day blocks", 30)] {
        let now = now_ms() + ahead_h * 3_600_000;
        for _ in 0..2 {
            let status = std::process::Command::new(bin)
                .args(["compactor", "--once", "--log-level", "warn", "--data-dir"])
                .arg(&data_dir)
                .arg("--now")
                .arg(format!("{}", now as f64 / 1000.0))
                .status()
                .expect("compactor");
            assert!(status.success(), "compactor pass for {phase}: {status}");
        }
        let (_, outcomes) = run_corpus(&client, &s_base, &p_base, &times).await;
        let bad: Vec<String> = outcomes
            .into_iter()
            .filter_map(|o| o.mismatch)
            .map(|m| {
                format!(
                    "--- {}\n    {}\n{}    stratus:    {}\n    prometheus: {}",
                    m.query, m.eval, m.diff, m.stratus, m.prometheus
                )
            })
            .collect();
        println!(
            "differential after compaction into {phase}: {} mismatches",
            bad.len()
        );
        assert!(
            bad.is_empty(),
            "after compaction into {phase}:\n{}",
            bad.join("\n")
        );
    }
    let segments_left = std::fs::read_dir(data_dir.join("tenants/anonymous/segments"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        segments_left, 0,
        "compacted segments are deleted after the delay"
    );
}

/// Runs every query of the corpus in every evaluation against both.
async fn run_corpus(
    client: &reqwest::Client,
    s_base: &str,
    p_base: &str,
    times: &Times,
) -> (Vec<Evaluation>, Vec<Outcome>) {
    let evals = times.evaluations();
    let jobs: Vec<(&str, String, Evaluation)> = QUERIES
        .iter()
        .flat_map(|q| evals.iter().map(move |e| (*q, render(q, times), *e)))
        .collect();
    let outcomes: Vec<Outcome> = futures::stream::iter(jobs)
        .map(|(template, query, eval)| {
            let (client, s_base, p_base) = (client, s_base, p_base);
            async move {
                let path = eval.request_path(&query);
                let s = get_answer(client, s_base, &path).await.expect("stratus");
                let p = get_answer(client, p_base, &path).await.expect("prometheus");
                let ordered = matches!(eval, Evaluation::Instant { .. }) && is_ordered(&query);
                let mismatch = compare(&s.json, &p.json, ordered)
                    .err()
                    .map(|diff| Mismatch {
                        query,
                        eval,
                        diff,
                        stratus: trim(&s.body, 600),
                        prometheus: trim(&p.body, 600),
                    });
                Outcome {
                    template,
                    eval,
                    prometheus: Shape::of(&p.json, eval),
                    mismatch,
                }
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await;

    (evals, outcomes)
}
