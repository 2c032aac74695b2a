//! One duration parser, Prometheus's rules (issue 14): `1m1h` (units out of
//! order) is refused by every reader of a duration with the same words,
//! `not a valid duration string: "1m1h"`: command-line flags, environment
//! variables, the config file, the Lambda functions' environment, rule
//! files and the notifier's configuration. The query API answers as
//! Prometheus's does (`invalid parameter "step": cannot parse "1m1h" to a
//! valid duration`).

use std::process::Command;

use stratus_tests::stratus::StratusProcess;

const WANT: &str = r#"not a valid duration string: "1m1h""#;

fn stratus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stratus"))
}

/// Runs `stratus all` until it gives up on its settings; its stderr.
fn refused(cmd: &mut Command) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cmd
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--listen-addr")
        .arg("127.0.0.1:0")
        .output()
        .expect("run stratus");
    assert!(!out.status.success(), "stratus accepted a bad duration");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn flags_environment_and_config_file() {
    let flag = refused(stratus().args(["all", "--commit-window", "1m1h"]));
    assert!(flag.contains(WANT), "{flag}");
    let env = refused(stratus().arg("all").env("STRATUS_COMMIT_WINDOW", "1m1h"));
    assert!(env.contains(WANT), "{env}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stratus.toml");
    std::fs::write(&file, "commit_window = \"1m1h\"\n").expect("write config");
    let config = refused(stratus().arg("all").arg("--config-file").arg(&file));
    assert!(config.contains(WANT), "{config}");
}

#[test]
fn lambda_environment() {
    let e = stratus_lambda::env::Settings::from_lookup(|k| {
        (k == "STRATUS_QUERY_TIMEOUT").then(|| "1m1h".to_string())
    })
    .expect_err("1m1h");
    assert!(format!("{e:#}").contains(WANT), "{e:#}");
}

#[test]
fn rule_files_and_notifier_configuration() {
    let rules = "groups:\n  - name: g\n    interval: 1m1h\n    rules:\n      - record: r\n        expr: vector(1)\n";
    let e = stratus_ruler::rulefile::parse_rule_file("rules.yml", rules).expect_err("1m1h");
    assert!(e.to_string().contains(WANT), "{e}");
    let alert = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: 1m1h\n";
    let e = stratus_ruler::rulefile::parse_rule_file("rules.yml", alert).expect_err("1m1h");
    assert!(e.to_string().contains(WANT), "{e}");
    let am = "route:\n  receiver: r\n  group_wait: 1m1h\nreceivers:\n  - name: r\n";
    let e = stratus_notifier::Config::from_yaml(am).expect_err("1m1h");
    assert!(e.to_string().contains(WANT), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_api_and_promql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proc = StratusProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &[],
    )
    .expect("start stratus");
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let req = client.get(proc.url(path));
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            let v: serde_json::Value =
                serde_json::from_str(&resp.text().await.expect("body")).expect("json");
            (status, v["error"].as_str().unwrap_or_default().to_string())
        }
    };
    let (status, e) = get("/api/v1/query_range?query=up&start=0&end=60&step=1m1h").await;
    assert_eq!(status, 400);
    assert_eq!(
        e,
        r#"invalid parameter "step": cannot parse "1m1h" to a valid duration"#
    );
    let (status, e) = get("/api/v1/query?query=up&timeout=1m1h").await;
    assert_eq!(status, 400);
    assert!(
        e.contains(r#"cannot parse "1m1h" to a valid duration"#),
        "{e}"
    );
    let (status, e) = get("/api/v1/query?query=rate(up%5B1m1h%5D)").await;
    assert_eq!(status, 400, "{e}");
    assert!(e.contains(WANT), "{e}");
    let (status, e) = get("/api/v1/query?query=up%20offset%201m1h").await;
    assert_eq!(status, 400, "{e}");
    assert!(e.contains(WANT), "{e}");
    // Float seconds, where the HTTP API allows them.
    let (status, e) = get("/api/v1/query_range?query=up&start=0&end=60&step=1.5").await;
    assert_eq!(status, 200, "{e}");
}
