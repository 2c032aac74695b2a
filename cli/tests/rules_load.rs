//! `stratus rules load` and whole rule files on the rules API (issue 16),
//! against a real `stratus all`: a Prometheus rule file of two groups
//! loads into the namespace named after the file, a second load with
//! `--delete-absent` drops the group the file no longer has, and a file
//! whose expression the query API refuses is refused with the same
//! message (the parser's position and reason) and the file's line.

use std::path::Path;
use std::process::{Command, Output};

use stratus_tests::stratus::StratusProcess;

const BIN: &str = env!("CARGO_BIN_EXE_stratus");

const TWO_GROUPS: &str = r#"# A rule file as Prometheus reads it.
groups:
- name: nodes
  interval: 30s
  rules:
  - record: instance:cpu:rate5m
    expr: sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))
  - alert: HighCPU
    expr: instance:cpu:rate5m > 0.9
    for: 5m
    labels: {severity: page}
    annotations: {summary: "{{ $labels.instance }} CPU at {{ $value | humanizePercentage }}"}
- name: disks
  rules:
  - alert: DiskFull
    expr: node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.05
"#;

const ONE_GROUP: &str = r#"groups:
- name: nodes
  rules:
  - record: instance:cpu:rate1m
    expr: sum by (instance) (rate(node_cpu_seconds_total[1m]))
"#;

const BAD_EXPR: &str = r#"groups:
- name: late
  rules:
  - alert: Late
    expr: up offset 300y
"#;

fn rules_load(s: &StratusProcess, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["rules", "load", "--address", &s.url(""), "--id", "team-a"])
        .args(args)
        .output()
        .expect("run stratus rules load")
}

/// The namespace as the rules API answers it (YAML).
fn namespace(s: &StratusProcess, ns: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(s.url(&format!("/api/v1/rules/{ns}")))
            .header("X-Scope-OrgID", "team-a")
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .expect("get namespace");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    })
}

fn group_names(yaml: &str) -> Vec<String> {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    v.as_mapping()
        .and_then(|m| m.values().next())
        .and_then(|g| g.as_sequence())
        .map(|gs| {
            gs.iter()
                .filter_map(|g| g.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_prometheus_rule_file_loads_and_its_errors_carry_the_parsers_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = StratusProcess::start(
        Path::new(BIN),
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &[],
    )
    .expect("start stratus");

    let file = dir.path().join("infra.yml");
    std::fs::write(&file, TWO_GROUPS).expect("write rule file");
    let out = rules_load(&s, &[file.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("infra: loaded 2 group(s): nodes, disks"),
        "{stdout}"
    );
    let (status, yaml) = namespace(&s, "infra");
    assert_eq!(status, 200, "{yaml}");
    assert_eq!(group_names(&yaml), ["nodes", "disks"], "{yaml}");
    assert!(yaml.contains("HighCPU"), "{yaml}");

    // A new version of the file, with --delete-absent: `disks` goes.
    std::fs::write(&file, ONE_GROUP).expect("write rule file");
    let out = rules_load(&s, &["--delete-absent", file.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("infra: deleted group disks"), "{stdout}");
    let (_, yaml) = namespace(&s, "infra");
    assert_eq!(group_names(&yaml), ["nodes"], "{yaml}");
    assert!(yaml.contains("instance:cpu:rate1m"), "{yaml}");
    assert!(!yaml.contains("HighCPU"), "replaced: {yaml}");

    // An expression the query API refuses: the same message, at the
    // file's line, and nothing stored.
    let bad = dir.path().join("late.yaml");
    std::fs::write(&bad, BAD_EXPR).expect("write rule file");
    let out = rules_load(&s, &[bad.to_str().expect("utf-8 path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "late.yaml: line 4: group \"late\": rule 1 \"Late\": could not parse expression: \
             1:11: parse error: duration out of range"
        ),
        "{stderr}"
    );
    let (status, _) = namespace(&s, "late");
    assert_eq!(status, 404);

    // The rules API takes the whole file too, and says the same.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let post = |ns: &str, body: &'static str| {
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(s.url(&format!("/api/v1/rules/{ns}")))
                .header("X-Scope-OrgID", "team-a")
                .header("Content-Type", "application/yaml")
                .body(body)
                .timeout(std::time::Duration::from_secs(30))
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        })
    };
    let (status, body) = post("whole", TWO_GROUPS);
    assert_eq!(status, 202, "{body}");
    let (_, yaml) = namespace(&s, "whole");
    assert_eq!(group_names(&yaml), ["nodes", "disks"], "{yaml}");
    let (status, body) = post("late", BAD_EXPR);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("line 4") && body.contains("1:11: parse error: duration out of range"),
        "{body}"
    );
    let q = rt.block_on(async {
        reqwest::Client::new()
            .get(s.url("/api/v1/query?query=up%20offset%20300y"))
            .send()
            .await
            .expect("query")
            .text()
            .await
            .expect("body")
    });
    assert!(
        q.contains("1:11: parse error: duration out of range"),
        "{q}"
    );
}
