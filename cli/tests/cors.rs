//! CORS as Prometheus's `--web.cors.origin` (issue 16), every route
//! under Mimir's `/prometheus` prefix (mimirtool's default), and paths no
//! route serves, on a real `stratus all`.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use stratus_tests::stratus::StratusProcess;

const GRAFANA: &str = "https://grafana.example";

fn start(dir: &Path, extra: &[&str]) -> StratusProcess {
    StratusProcess::start(
        Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.join("data"),
        &dir.join("stratus.log"),
        extra,
    )
    .expect("start stratus")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header"))
}

/// The headers Prometheus sets on an answer to a request with an Origin.
fn assert_cors(r: &reqwest::Response, allow_origin: Option<&str>, what: &str) {
    assert_eq!(
        header(r, "access-control-allow-origin"),
        allow_origin,
        "{what}"
    );
    assert_eq!(
        header(r, "access-control-allow-methods"),
        Some("GET, POST, OPTIONS"),
        "{what}"
    );
    assert_eq!(
        header(r, "access-control-allow-headers"),
        Some("Accept, Authorization, Content-Type, Origin, X-Scope-OrgID"),
        "{what}"
    );
    assert_eq!(
        header(r, "access-control-expose-headers"),
        Some("Date"),
        "{what}"
    );
    assert_eq!(header(r, "vary"), Some("Origin"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_requests_and_preflights_get_prometheus_cors_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start(dir.path(), &[]);
    let c = client();

    // A browser's GET and POST: the answer as usual, with the headers
    // (`*` for the default `.*`, as Prometheus).
    let r = c
        .get(s.url("/api/v1/query?query=1"))
        .header("Origin", GRAFANA)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_cors(&r, Some("*"), "GET /api/v1/query");
    let r = c
        .post(s.url("/api/v1/query"))
        .header("Origin", GRAFANA)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("query=1")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_cors(&r, Some("*"), "POST /api/v1/query");
    // An error answer carries them too, so the page can read it.
    let r = c
        .get(s.url("/api/v1/query?query=sum("))
        .header("Origin", GRAFANA)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_cors(&r, Some("*"), "a 400");

    // Without an Origin, none (as Prometheus).
    let r = c
        .get(s.url("/api/v1/query?query=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(header(&r, "access-control-allow-origin"), None);

    // Preflights on every kind of route, with and without the prefix.
    for path in [
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/labels",
        "/api/v1/write",
        "/api/v1/push",
        "/config/v1/rules/ns",
        "/api/v2/silences",
        "/prometheus/api/v1/query",
        "/prometheus/config/v1/rules",
    ] {
        let r = c
            .request(Method::OPTIONS, s.url(path))
            .header("Origin", GRAFANA)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type, x-scope-orgid",
            )
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 204, "OPTIONS {path}");
        assert_cors(&r, Some("*"), path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_origin_is_echoed_and_others_get_no_allow_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start(
        dir.path(),
        &["--web-cors-origin", r"https://grafana\.example"],
    );
    let c = client();
    for (origin, allowed) in [
        (GRAFANA, Some(GRAFANA)),
        ("https://evil.example", None),
        // Anchored: a match inside the origin is not one.
        ("https://grafana.example.evil", None),
    ] {
        let r = c
            .get(s.url("/api/v1/query?query=1"))
            .header("Origin", origin)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{origin}");
        assert_cors(&r, allowed, origin);
        let r = c
            .request(Method::OPTIONS, s.url("/prometheus/api/v1/query"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 204, "{origin}");
        assert_cors(&r, allowed, origin);
    }
}

#[test]
fn an_invalid_cors_origin_fails_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .arg("all")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--listen-addr")
        .arg("127.0.0.1:0")
        .arg("--web-cors-origin")
        .arg("https://(grafana")
        .output()
        .expect("run stratus");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert!(stderr.contains("--web-cors-origin"), "{stderr}");
}

/// mimirtool's routes: the same answers with and without `/prometheus`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_the_same_under_the_prometheus_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start(dir.path(), &[]);
    let c = client();
    let get = |path: &str| {
        let req = c.get(s.url(path));
        async move {
            let r = req.send().await.expect("send");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        }
    };
    // A rule group written through the prefix is read without it.
    let rules = "name: g\nrules:\n  - record: r\n    expr: vector(1)\n";
    let r = c
        .post(s.url("/prometheus/config/v1/rules/ns"))
        .header("Content-Type", "application/yaml")
        .body(rules)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    for path in [
        "/api/v1/query?query=1&time=1700000000",
        "/api/v1/query_range?query=1&start=1700000000&end=1700000060&step=15",
        "/api/v1/labels",
        "/api/v1/query?query=sum(",
        "/config/v1/rules",
        "/config/v1/rules/ns/g",
        "/api/v2/silences",
        "/-/ready",
    ] {
        let plain = get(path).await;
        let prefixed = get(&format!("/prometheus{path}")).await;
        assert_eq!(plain, prefixed, "{path}");
        if !path.contains("sum(") {
            assert_eq!(plain.0, 200, "{path}: {}", plain.1);
        }
    }
    let (status, body) = get("/prometheus/api/v1/query?query=1&time=1700000000").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""result":[1700000000,"1"]"#), "{body}");
    let (_, body) = get("/prometheus/config/v1/rules").await;
    assert!(body.contains("record: r"), "{body}");
}

/// A path no route serves answers as Prometheus 2.42 answered (`curl -i`
/// on `/api/v1/nonexistent`, `/api/v2/nonexistent`, `/api/`, `/foo`):
/// `404 Not Found`, `Content-Type: text/plain; charset=utf-8`,
/// `X-Content-Type-Options: nosniff`, body `404 page not found`. Prometheus
/// 3.x is the same (Go's `http.NotFound` behind its `/api/v1` router and
/// its UI router): no JSON error, not even under `/api/`. Was: an empty 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_answer_prometheus_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start(dir.path(), &[]);
    let c = client();
    for path in [
        "/api/v1/nonexistent",
        "/api/v2/nonexistent",
        "/api/",
        "/foo",
        "/prometheus/api/v1/nonexistent",
    ] {
        let r = c.get(s.url(path)).send().await.expect("send");
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            header(&r, "content-type"),
            Some("text/plain; charset=utf-8"),
            "{path}"
        );
        assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"));
        assert_eq!(
            r.text().await.expect("body"),
            "404 page not found\n",
            "{path}"
        );
    }
    let r = c
        .get(s.url("/api/v1/query?query=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}
