//! Issue 13, the ruler's done-when check: a rule file that crash-looped
//! Stratus (a recording rule of 3,500 terms, `1+1+...+1`, evaluated every
//! second, aborted the process 10-40 s after each start) is planted in the
//! bucket beside a healthy group, bypassing the API. `stratus all` stays up
//! through 50 of the bad group's evaluation slots, reports it unhealthy in
//! `/api/v1/rules`, and the healthy group of the same tenant keeps writing
//! its output. The upload API refuses the same group with 400.
//!
//! The bad group backs off (1, 2, then 4 intervals between attempts), so in
//! 50 one-second slots it is attempted about 15 times; the test counts its
//! slots as the ruler does: failed attempts
//! (`stratus_ruler_group_failures_total`) plus slots skipped while backing
//! off (`stratus_ruler_missed_evaluations_total`), and requires at least 10
//! real attempts among them.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_model::TenantId;
use stratus_storage::{Bucket, StorageBackend, StorageConfig};
use stratus_tests::stratus::StratusProcess;

fn crash_expr() -> String {
    vec!["1"; 3500].join("+")
}

/// The namespace object as the config API writes it, at its real key.
async fn plant(data: &Path) {
    let bucket = Bucket::from_config(&StorageConfig {
        backend: StorageBackend::Local,
        data_dir: data.to_path_buf(),
        ..StorageConfig::default()
    })
    .expect("local bucket");
    let text = format!(
        "# Stratus rule namespace (format version 1), written through the ruler config API.\n\
         groups:\n\
         - name: crash\n  interval: 1s\n  rules:\n  - record: crash:sum\n    expr: {}\n\
         - name: alive\n  interval: 1s\n  rules:\n  - record: alive:one\n    expr: vector(1)\n",
        crash_expr()
    );
    let key = stratus_ruler::keys::namespace(&TenantId::anonymous(), "loop");
    bucket
        .put(&key, stratus_storage::sealed::seal(text.as_bytes()))
        .await
        .expect("plant the rule file");
}

/// The value of `name{...rule_group="loop;<group>"...}` on /metrics.
fn metric(text: &str, name: &str, group: &str) -> u64 {
    let label = format!("rule_group=\"loop;{group}\"");
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let r = client.get(url).send().await.expect("GET");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "GET {url}: {status}: {text}");
    text
}

fn group<'a>(rules: &'a Value, name: &str) -> &'a Value {
    rules["data"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["file"] == "loop" && g["name"] == name)
        .unwrap_or_else(|| panic!("group {name} not in {rules}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_rule_file_stays_up_unhealthy_while_other_groups_evaluate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    plant(&data).await;
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let mut server = StratusProcess::start(
        bin,
        0,
        &data,
        &dir.path().join("stratus.log"),
        &["--ruler-tick", "500ms"],
    )
    .expect("start");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // The same group through the API: refused, naming group, rule, reason.
    let refused = client
        .post(server.url("/config/v1/rules/other"))
        .header("content-type", "application/yaml")
        .body(format!(
            "name: crash\ninterval: 1s\nrules:\n- record: crash:sum\n  expr: {}\n",
            crash_expr()
        ))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status().as_u16(), 400);
    let why = refused.text().await.expect("body");
    assert!(
        why.contains(
            r#"group "crash": rule 1 "crash:sum": could not parse expression: expression nests"#
        ),
        "{why}"
    );

    // Fifty slots of the bad group, the process up throughout.
    let started = Instant::now();
    let (failures, missed, alive) = loop {
        server
            .child
            .check_running()
            .unwrap_or_else(|e| panic!("stratus died: {e}\n{}", server.child.log_tail()));
        let m = get_text(&client, &server.url("/metrics")).await;
        let failures = metric(&m, "stratus_ruler_group_failures_total", "crash");
        let missed = metric(&m, "stratus_ruler_missed_evaluations_total", "crash");
        let alive = metric(&m, "stratus_ruler_evaluations_total", "alive");
        if failures + missed >= 50 {
            break (failures, missed, alive);
        }
        assert!(
            started.elapsed() < Duration::from_secs(85),
            "after {:?}: {failures} failed attempts and {missed} skipped slots of the bad group, \
             {alive} evaluations of the healthy one",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "bad group: {failures} failed attempts and {missed} slots backed off; \
         healthy group: {alive} evaluations; in {:?}",
        started.elapsed()
    );
    assert!(
        failures >= 10,
        "{failures} attempts, {missed} slots backed off"
    );
    assert!(
        alive >= 40,
        "the healthy group kept its schedule: {alive} evaluations in {:?}",
        started.elapsed()
    );

    let rules: Value =
        serde_json::from_str(&get_text(&client, &server.url("/api/v1/rules")).await).expect("json");
    let crash = group(&rules, "crash");
    assert_eq!(crash["health"], "err", "{crash}");
    assert!(
        crash["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("expression nests 3500 levels deep"),
        "{crash}"
    );
    assert_eq!(crash["rules"][0]["health"], "err");
    let alive_group = group(&rules, "alive");
    assert_eq!(alive_group["health"], "ok", "{alive_group}");
    assert_eq!(alive_group["rules"][0]["health"], "ok");

    // Its output answers PromQL, fresh.
    let q: Value = serde_json::from_str(
        &get_text(&client, &server.url("/api/v1/query?query=alive:one")).await,
    )
    .expect("json");
    assert_eq!(q["data"]["result"][0]["value"][1], "1", "{q}");
    server.child.check_running().expect("still up at the end");
}
