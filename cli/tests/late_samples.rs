//! Late samples (issue 16): after an outage, Prometheus resends a backlog
//! of hours from its WAL. A real `stratus all` with its default
//! `--max-sample-age` takes samples two hours old, and a range query whose
//! splits were cached before they arrived shows them at once (the results
//! cache drops the splits they fall into).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use stratus_tests::stratus::StratusProcess;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn now_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("ms fit i64")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn push(s: &StratusProcess, metrics: Vec<Value>) {
    let r = client()
        .post(s.url("/api/v1/push"))
        .body(json!({ "metrics": metrics }).to_string())
        .send()
        .await
        .expect("push");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
}

fn sample(host: &str, t_ms: i64, value: f64) -> Value {
    json!({"name": "late_demo", "type": "gauge", "value": value,
           "tags": {"host": host}, "timestamp": t_ms})
}

/// The hosts of `late_demo` over `[start, end]` at a 1 m step.
async fn hosts(s: &StratusProcess, start: i64, end: i64) -> Vec<String> {
    let url = s.url(&format!(
        "/api/v1/query_range?query=late_demo&start={}&end={}&step=60",
        start / 1000,
        end / 1000
    ));
    let text = client()
        .get(url)
        .send()
        .await
        .expect("query")
        .text()
        .await
        .expect("body");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["status"], "success", "{v}");
    let mut hosts: Vec<String> = v["data"]["result"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|r| r["metric"]["host"].as_str().expect("host").to_string())
        .collect();
    hosts.sort();
    hosts
}

/// A counter of `/metrics`.
async fn counter(s: &StratusProcess, name: &str) -> f64 {
    let text = client()
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = rest.strip_prefix("_total").unwrap_or(rest);
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_samples_are_accepted_and_show_in_cached_range_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = StratusProcess::start(
        Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        // Hour splits, so the range is several cached splits wherever
        // midnight falls.
        &["--query-split-interval", "1h"],
    )
    .expect("start stratus");
    let now = now_ms();
    let start = (now - 3 * HOUR) / MIN * MIN;
    let end = start + 2 * HOUR;

    // host a, a sample a minute over the range: 2-3 h old.
    push(
        &s,
        (0..=120)
            .map(|k| sample("a", start + k * MIN, k as f64))
            .collect(),
    )
    .await;
    assert_eq!(hosts(&s, start, end).await, ["a"]);
    assert_eq!(hosts(&s, start, end).await, ["a"]);
    assert!(
        counter(&s, "stratus_query_results_cache_hits").await > 0.0,
        "the second query was answered from the cache"
    );

    // A backlog resent after an outage: host b, 2 h old, inside cached
    // splits.
    push(&s, vec![sample("b", start + HOUR, 1.0)]).await;
    assert_eq!(hosts(&s, start, end).await, ["a", "b"]);
    assert!(counter(&s, "stratus_query_results_cache_late").await > 0.0);
}
