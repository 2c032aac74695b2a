//! One reading of `X-Scope-OrgID` on every route (issue 14): a real
//! `stratus all --multitenancy`, every route that belongs to a tenant, the
//! same status and the same message for a missing header (401), an invalid
//! one (400) and several tenants where one is expected (400). Before,
//! the query API answered 400 to a missing header where the writer and the
//! notifier answered 401.

use std::collections::BTreeSet;

use reqwest::Method;
use stratus_tests::stratus::StratusProcess;

/// Every route that reads a tenant, with a body that would be accepted
/// (or refused for other reasons) once the tenant is good.
fn routes() -> Vec<(Method, &'static str, &'static str, &'static str)> {
    let rules = "name: g\nrules:\n  - record: r\n    expr: vector(1)\n";
    let silence = r#"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z","createdBy":"t","comment":"c"}"#;
    vec![
        (Method::POST, "/api/v1/write", "application/x-protobuf", ""),
        (
            Method::POST,
            "/api/v1/push",
            "application/json",
            r#"{"metrics":[]}"#,
        ),
        (Method::GET, "/api/v1/query?query=up", "", ""),
        (
            Method::POST,
            "/api/v1/query",
            "application/x-www-form-urlencoded",
            "query=up",
        ),
        (
            Method::GET,
            "/api/v1/query_range?query=up&start=0&end=60&step=15",
            "",
            "",
        ),
        (Method::GET, "/api/v1/series?match[]=up", "", ""),
        (Method::GET, "/api/v1/labels", "", ""),
        (Method::GET, "/api/v1/label/job/values", "", ""),
        (Method::GET, "/api/v1/metadata", "", ""),
        (Method::GET, "/api/v1/query_exemplars?query=up", "", ""),
        (Method::GET, "/api/v1/format_query?query=up", "", ""),
        (Method::GET, "/api/v1/rules", "", ""),
        (Method::GET, "/api/v1/alerts", "", ""),
        (Method::GET, "/config/v1/rules", "", ""),
        (Method::GET, "/config/v1/rules/ns", "", ""),
        (
            Method::POST,
            "/config/v1/rules/ns",
            "application/yaml",
            rules,
        ),
        (Method::DELETE, "/config/v1/rules/ns/g", "", ""),
        (Method::GET, "/api/v2/alerts", "", ""),
        (Method::POST, "/api/v2/alerts", "application/json", "[]"),
        (Method::GET, "/api/v2/silences", "", ""),
        (
            Method::POST,
            "/api/v2/silences",
            "application/json",
            silence,
        ),
    ]
}

/// The error message of an answer, whatever its shape (Prometheus JSON,
/// the push JSON, plain text).
fn message(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => v["error"].as_str().unwrap_or(body).to_string(),
        Err(_) => body.trim().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_the_same_to_a_bad_org_id() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_stratus"));
    let dir = tempfile::tempdir().expect("tempdir");
    let proc = StratusProcess::start(
        bin,
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &["--multitenancy"],
    )
    .expect("start stratus");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let cases: [(Option<&str>, u16, &str); 4] = [
        (None, 401, "no org id"),
        (Some("team a"), 400, "invalid X-Scope-OrgID"),
        (Some(".."), 400, "invalid X-Scope-OrgID"),
        (Some("team-a|team-b"), 400, "this route takes exactly one"),
    ];
    for (header, want_status, want_text) in cases {
        let mut messages = BTreeSet::new();
        for (method, path, content_type, body) in routes() {
            let mut req = client.request(method.clone(), proc.url(path));
            if let Some(h) = header {
                req = req.header("X-Scope-OrgID", h);
            }
            if !content_type.is_empty() {
                req = req.header("Content-Type", content_type);
            }
            let resp = req.body(body.to_string()).send().await.expect("send");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            assert_eq!(
                status, want_status,
                "{method} {path} with X-Scope-OrgID {header:?}: {text}"
            );
            let m = message(&text);
            assert!(m.contains(want_text), "{method} {path}: {m}");
            messages.insert(m);
        }
        assert_eq!(
            messages.len(),
            1,
            "X-Scope-OrgID {header:?}: one message on every route, got {messages:#?}"
        );
    }
    // A good id passes the boundary on every route (whatever the route
    // then answers, it is not a tenant refusal).
    for (method, path, content_type, body) in routes() {
        let mut req = client
            .request(method.clone(), proc.url(path))
            .header("X-Scope-OrgID", "team-a");
        if !content_type.is_empty() {
            req = req.header("Content-Type", content_type);
        }
        let resp = req.body(body.to_string()).send().await.expect("send");
        let status = resp.status().as_u16();
        assert!(
            ![401, 403].contains(&status),
            "{method} {path} with a good org id: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }
}
