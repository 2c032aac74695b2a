//! Alerting end to end, in real time, with a real Alertmanager:
//!
//! - rules are uploaded through the Mimir-style config API of `stratus all`;
//!   a recording rule feeds a threshold alert with `for: 1m`;
//! - data is pushed with remote_write, one sample per second per instance;
//! - `stratus all` is SIGKILLed while the alert is pending and restarted:
//!   the alert keeps its `activeAt` and fires before a restarted timer could;
//! - the alert fires exactly once into a local webhook receiver and, through
//!   Stratus's notifier, into a real Alertmanager (Debian
//!   `prometheus-alertmanager`), whose own webhook sees it once too;
//! - a second instance, matched by a silence, is never notified while the
//!   silence is active, and is notified once the silence is expired;
//! - the first alert resolves, in both receivers, when the data recovers;
//! - the recording rule's output answers PromQL like any series.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use stratus_tests::process::{find_tool, ChildGuard};
use stratus_tests::rw::{self, SeriesData};
use stratus_tests::stratus::{http_ok, StratusProcess};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A webhook receiver: every body posted, with when it came (Unix ms).
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<(i64, Value)>>>,
}

impl Hook {
    async fn start(&self) -> SocketAddr {
        async fn take(State(h): State<Hook>, body: axum::body::Bytes) -> &'static str {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            h.got.lock().expect("lock").push((now_ms(), v));
            "ok"
        }
        let app = Router::new()
            .route("/hook", post(take))
            .with_state(self.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        addr
    }

    /// (received at, status, instance) of every alert in every notification.
    fn alerts(&self) -> Vec<(i64, String, String)> {
        let got = self.got.lock().expect("lock");
        let mut out = Vec::new();
        for (at, body) in got.iter() {
            for a in body["alerts"].as_array().into_iter().flatten() {
                out.push((
                    *at,
                    a["status"].as_str().unwrap_or_default().to_string(),
                    a["labels"]["instance"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
        }
        out
    }

    fn count(&self, status: &str, instance: &str) -> usize {
        self.alerts()
            .iter()
            .filter(|(_, s, i)| s == status && i == instance)
            .count()
    }

    fn first(&self, status: &str, instance: &str) -> Option<i64> {
        self.alerts()
            .iter()
            .find(|(_, s, i)| s == status && i == instance)
            .map(|(t, _, _)| *t)
    }
}

/// Polls `f` every 200 ms until it returns Some or `limit` passes.
async fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let r = client.get(url).send().await.expect("GET");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "GET {url}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
}

/// The ruler's view of the HighTemp alert of `instance`: (state, activeAt).
async fn alert_state(
    client: &reqwest::Client,
    s: &StratusProcess,
    instance: &str,
) -> Option<(String, String)> {
    let v = get_json(client, &s.url("/api/v1/alerts")).await;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == "HighTemp" && a["labels"]["instance"] == instance)
        .map(|a| {
            (
                a["state"].as_str().unwrap_or_default().to_string(),
                a["activeAt"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// The last evaluation of the `temps` group (RFC 3339), from /api/v1/rules.
async fn last_evaluation(client: &reqwest::Client, s: &StratusProcess) -> Option<String> {
    let v = get_json(client, &s.url("/api/v1/rules")).await;
    v["data"]["groups"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == "temps")
        .and_then(|g| g["lastEvaluation"].as_str())
        .map(str::to_string)
}

fn start_alertmanager(dir: &Path, hook: SocketAddr) -> (ChildGuard, u16) {
    let bin = find_tool(
        "STRATUS_ALERTMANAGER",
        "alertmanager",
        &["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"],
    )
    .expect(
        "Alertmanager is installed (Debian prometheus-alertmanager; scripts/install-test-deps.sh)",
    );
    let port = stratus_tests::free_port().expect("port");
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, instance]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n- name: hook\n  webhook_configs:\n  - url: http://{hook}/hook\n    send_resolved: true\n"
        ),
    )
    .expect("write alertmanager.yml");
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let mut child = ChildGuard::spawn("alertmanager", cmd, &dir.join("alertmanager.log"))
        .expect("start alertmanager");
    child
        .wait_until(Duration::from_secs(30), || http_ok(port, "/-/ready"))
        .expect("alertmanager ready");
    (child, port)
}

const RULES: &str = r#"name: temps
interval: 2s
rules:
- record: instance:e2e_temp:max
  expr: max by (instance) (e2e_temp)
- alert: HighTemp
  expr: instance:e2e_temp:max > 50
  for: 1m
  labels:
    severity: page
  annotations:
    summary: "{{ $labels.instance }} runs at {{ $value }} degrees"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_alert_fires_once_survives_a_kill_respects_silences_and_resolves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let direct = Hook::default();
    let via_am = Hook::default();
    let direct_addr = direct.start().await;
    let am_hook_addr = via_am.start().await;
    let (_am, am_port) = start_alertmanager(dir.path(), am_hook_addr);

    let notifier_config = dir.path().join("notifier.yml");
    std::fs::write(
        &notifier_config,
        format!(
            "route:\n  receiver: both\n  group_by: [alertname, instance]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n\
             receivers:\n- name: both\n  webhook_configs:\n  - url: http://{direct_addr}/hook\n    send_resolved: true\n\
             \x20 alertmanager_configs:\n  - url: http://127.0.0.1:{am_port}\n"
        ),
    )
    .expect("write notifier config");
    let config_arg = notifier_config.to_string_lossy().to_string();
    let extra = [
        "--alertmanager-config",
        config_arg.as_str(),
        "--ruler-tick",
        "500ms",
    ];
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let logs = dir.path();
    let mut server =
        StratusProcess::start(bin, 0, &data, &logs.join("stratus-0.log"), &extra).expect("start");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // Rules through the config API; a broken file is refused with its line.
    let bad = client
        .post(server.url("/api/v1/rules/e2e"))
        .header("content-type", "application/yaml")
        .body("name: broken\nrules:\n- alert: X\n  expr: sum(\n")
        .send()
        .await
        .expect("POST rules");
    assert_eq!(
        bad.status().as_u16(),
        400,
        "a rule group that does not parse is refused"
    );
    let why = bad.text().await.expect("body");
    assert!(
        why.contains("line 3"),
        "the error points at the line: {why}"
    );
    let ok = client
        .post(server.url("/api/v1/rules/e2e"))
        .header("content-type", "application/yaml")
        .body(RULES)
        .send()
        .await
        .expect("POST rules");
    assert_eq!(
        ok.status().as_u16(),
        202,
        "{}",
        ok.text().await.unwrap_or_default()
    );
    let stored = client
        .get(server.url("/api/v1/rules/e2e/temps"))
        .send()
        .await
        .expect("GET group")
        .text()
        .await
        .expect("body");
    assert!(
        stored.contains("HighTemp"),
        "the group reads back: {stored}"
    );

    // A silence for instance b, for the whole test.
    let start = now_ms();
    let silence = client
        .post(server.url("/api/v2/silences"))
        .header("content-type", "application/json")
        .body(
            json!({
                "matchers": [{"name": "instance", "value": "b", "isRegex": false, "isEqual": true}],
                "startsAt": rfc3339(start),
                "endsAt": rfc3339(start + 3_600_000),
                "createdBy": "e2e",
                "comment": "b is under maintenance",
            })
            .to_string(),
        )
        .send()
        .await
        .expect("POST silence");
    assert!(
        silence.status().is_success(),
        "silence: {}",
        silence.status()
    );
    let silence_id = serde_json::from_str::<Value>(&silence.text().await.expect("body"))
        .expect("json")["silenceID"]
        .as_str()
        .expect("silenceID")
        .to_string();

    // Hot data for both instances, one sample a second, from now on.
    let (tx, mut rx) = tokio::sync::watch::channel((100.0, 100.0));
    let port = server.port;
    let pusher = {
        let client = client.clone();
        tokio::spawn(async move {
            let target = format!("http://127.0.0.1:{port}");
            loop {
                let (a, b) = *rx.borrow_and_update();
                push_to(&client, &target, a, b).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    r = rx.changed() => if r.is_err() { return },
                }
            }
        })
    };

    // Pending, with its activeAt.
    let mut pending_at = None;
    let started = Instant::now();
    while pending_at.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "HighTemp{{instance=a}} never went pending"
        );
        if let Some((state, at)) = alert_state(&client, &server, "a").await {
            assert_eq!(state, "pending", "the first state seen is pending");
            pending_at = Some(at);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let active_at = pending_at.expect("pending");
    let active_ms = parse_rfc3339(&active_at);

    // Kill the ruler (the whole process) half-way through `for`, restart it.
    while now_ms() < active_ms + 25_000 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        alert_state(&client, &server, "a")
            .await
            .map(|s| s.0)
            .as_deref(),
        Some("pending"),
        "still pending before the kill"
    );
    server.child.kill();
    let restarted_at = now_ms();
    server = StratusProcess::start(bin, port, &data, &logs.join("stratus-1.log"), &extra)
        .expect("restart");
    let before = last_evaluation(&client, &server).await;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no evaluation after the restart"
        );
        if last_evaluation(&client, &server).await != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (state, at) = alert_state(&client, &server, "a")
        .await
        .expect("alert after restart");
    assert_eq!(
        at, active_at,
        "the restart kept the alert's activeAt ({state})"
    );

    // Fires once `for` has passed since activeAt, not since the restart.
    let fired = eventually(
        "HighTemp{instance=a} notified firing",
        Duration::from_secs(90),
        || direct.first("firing", "a"),
    )
    .await;
    assert!(
        fired >= active_ms + 60_000,
        "fired {} ms after activeAt, before `for: 1m` passed",
        fired - active_ms
    );
    assert!(
        fired < restarted_at + 60_000,
        "fired {} ms after the restart: the `for` timer was restarted",
        fired - restarted_at
    );
    eventually(
        "Alertmanager notified HighTemp{instance=a}",
        Duration::from_secs(30),
        || (via_am.count("firing", "a") > 0).then_some(()),
    )
    .await;

    // Recording-rule output is a series like any other.
    let q = get_json(
        &client,
        &server.url("/api/v1/query?query=instance:e2e_temp:max%7Binstance%3D%22a%22%7D"),
    )
    .await;
    assert_eq!(
        q["data"]["result"][0]["value"][1], "100",
        "the recording rule's output answers PromQL: {q}"
    );

    // Recover instance a; b stays hot but silenced.
    tx.send((10.0, 100.0)).expect("pusher");
    eventually(
        "HighTemp{instance=a} notified resolved",
        Duration::from_secs(60),
        || direct.first("resolved", "a"),
    )
    .await;
    eventually(
        "Alertmanager notified HighTemp{instance=a} resolved",
        Duration::from_secs(60),
        || via_am.first("resolved", "a"),
    )
    .await;
    assert_eq!(
        direct.count("firing", "a"),
        1,
        "fired exactly once: {:?}",
        direct.alerts()
    );
    assert_eq!(
        via_am.count("firing", "a"),
        1,
        "fired exactly once in Alertmanager: {:?}",
        via_am.alerts()
    );
    assert!(
        direct
            .alerts()
            .iter()
            .chain(via_am.alerts().iter())
            .all(|(_, _, i)| i != "b"),
        "the silenced instance was notified"
    );

    // The history tells when a went pending, fired and resolved, in order.
    let h = get_json(
        &client,
        &server.url("/api/v1/alerts/history?alertname=HighTemp&label=instance%3Da"),
    )
    .await;
    let states: Vec<&str> = h["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states, ["pending", "firing", "resolved"], "{h}");

    // Expire the silence: b is notified now.
    let del = client
        .delete(server.url(&format!("/api/v2/silence/{silence_id}")))
        .send()
        .await
        .expect("DELETE silence");
    assert!(
        del.status().is_success(),
        "expire silence: {}",
        del.status()
    );
    eventually(
        "HighTemp{instance=b} notified after the silence",
        Duration::from_secs(30),
        || direct.first("firing", "b"),
    )
    .await;
    assert_eq!(
        direct.count("firing", "a"),
        1,
        "no second notification for a"
    );
    pusher.abort();

    // Self-metrics of the ruler and the notifier (of the restarted process).
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("body");
    let metric = |name: &str| {
        stratus_tests::prometheus::metric_sum(&text, name)
            .unwrap_or_else(|e| panic!("{e}:\n{text}"))
    };
    assert!(
        metric("stratus_ruler_evaluations_total") > 10.0,
        "evaluations are counted"
    );
    assert_eq!(metric("stratus_ruler_evaluation_failures_total"), 0.0);
    assert!(
        metric("stratus_notifier_notifications_total") >= 3.0,
        "firing and resolved a, firing b are counted"
    );
    assert!(metric("stratus_ruler_group_last_duration_seconds") > 0.0);
}

async fn push_to(client: &reqwest::Client, base: &str, a: f64, b: f64) {
    let t = now_ms();
    let series = |instance: &str, v: f64| -> SeriesData {
        (
            vec![
                ("__name__".into(), "e2e_temp".into()),
                ("instance".into(), instance.into()),
            ],
            vec![(t, v)],
        )
    };
    let body = rw::encode_v1(&[series("a", a), series("b", b)]);
    // The server is down while it restarts: those samples are not acknowledged.
    let _ = rw::send(client, &format!("{base}/api/v1/write"), body).await;
}

fn rfc3339(ms: i64) -> String {
    stratus_model::time::format_rfc3339(ms, stratus_model::time::Fraction::Millis)
}

fn parse_rfc3339(s: &str) -> i64 {
    stratus_model::time::parse_rfc3339(s)
        .ok()
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {s}"))
}
