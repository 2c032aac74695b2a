use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::Router;
use serde_json::Value;
use stratus_notifier::{Config, Notifier, PostableAlert};
use stratus_storage::Bucket;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::{fast_options, tenant, MIN, T0};

type Requests = Arc<Mutex<Vec<(String, Value)>>>;

/// An HTTP server on 127.0.0.1:0 that records every request and answers `status`.
async fn http_sink(status: StatusCode) -> (String, Requests) {
    let requests: Requests = Arc::default();
    let rec = requests.clone();
    let app = Router::new().fallback(move |uri: Uri, body: Bytes| {
        let rec = rec.clone();
        async move {
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            rec.lock()
                .expect("lock")
                .push((uri.path().to_string(), json));
            status
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), requests)
}

fn bodies(reqs: &Requests, path: &str) -> Vec<Value> {
    reqs.lock()
        .expect("lock")
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| b.clone())
        .collect()
}

fn real_notifier(yaml: &str) -> Notifier {
    let config = Config::from_yaml(yaml).expect("valid config");
    Notifier::new(Bucket::in_memory(), config, fast_options()).expect("notifier")
}

#[tokio::test]
async fn http_receivers_post_the_expected_json() {
    let (base, reqs) = http_sink(StatusCode::OK).await;
    let yaml = format!(
        r#"
route: {{receiver: all, group_by: [alertname], group_wait: 0s, group_interval: 1m}}
receivers:
  - name: all
    webhook_configs: [{{url: '{base}/hook'}}]
    slack_configs: [{{api_url: '{base}/slack', channel: '#ops', title: '{{{{ .Status }}}}: {{{{ .CommonLabels.alertname }}}} ({{{{ len .Alerts }}}})'}}]
    pagerduty_configs: [{{routing_key: rk-1, url: '{base}/pd', severity: warning}}]
    alertmanager_configs: [{{url: '{base}/am'}}]
"#
    );
    let n = real_notifier(&yaml);
    let t = tenant();
    let alert = PostableAlert::new([("alertname", "DiskFull"), ("host", "db1")])
        .annotation("summary", "disk is full")
        .starts_at(T0)
        .generator_url("http://prom/graph");
    n.receive(&t, vec![alert.clone()], T0)
        .await
        .expect("receive");
    let r = n.tick(&t, T0).await.expect("tick");
    assert_eq!((r.sent.len(), r.failed.len()), (4, 0), "{r:?}");

    let hook = bodies(&reqs, "/hook");
    assert_eq!(hook.len(), 1);
    let h = &hook[0];
    assert_eq!(
        (
            h["version"].as_str(),
            h["status"].as_str(),
            h["receiver"].as_str()
        ),
        (Some("4"), Some("firing"), Some("all"))
    );
    assert_eq!(h["groupKey"], r#"{}:{alertname="DiskFull"}"#);
    assert_eq!(
        h["groupLabels"],
        serde_json::json!({"alertname": "DiskFull"})
    );
    assert_eq!(h["commonLabels"]["host"], "db1");
    assert_eq!(h["commonAnnotations"]["summary"], "disk is full");
    assert_eq!(h["externalURL"], "http://stratus.example");
    assert_eq!(h["truncatedAlerts"], 0);
    let a = &h["alerts"][0];
    assert_eq!(
        (a["status"].as_str(), a["endsAt"].as_str()),
        (Some("firing"), Some("0001-01-01T00:00:00Z"))
    );
    assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(a["generatorURL"], "http://prom/graph");
    assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));

    let slack = bodies(&reqs, "/slack");
    assert_eq!(slack[0]["channel"], "#ops");
    assert_eq!(slack[0]["attachments"][0]["title"], "firing: DiskFull (1)");
    assert_eq!(slack[0]["attachments"][0]["color"], "danger");

    let pd = bodies(&reqs, "/pd");
    assert_eq!(
        (
            pd[0]["routing_key"].as_str(),
            pd[0]["event_action"].as_str()
        ),
        (Some("rk-1"), Some("trigger"))
    );
    let dedup = pd[0]["dedup_key"].as_str().expect("dedup key").to_string();
    assert_eq!(dedup.len(), 64);
    assert_eq!(pd[0]["payload"]["severity"], "warning");
    assert_eq!(pd[0]["payload"]["summary"], "[FIRING:1] DiskFull");

    let am = bodies(&reqs, "/am/api/v2/alerts");
    assert_eq!(am[0][0]["labels"]["host"], "db1");
    assert!(
        am[0][0].get("endsAt").is_none(),
        "no made-up end is forwarded"
    );

    // Resolution: webhook, PagerDuty and forwarding send it; Slack does not
    // (send_resolved defaults to false there).
    n.receive(&t, vec![alert.ends_at(T0 + 2 * MIN)], T0 + 2 * MIN)
        .await
        .expect("receive");
    let r = n.tick(&t, T0 + 2 * MIN).await.expect("tick");
    assert_eq!(r.sent.len(), 3, "{r:?}");
    assert_eq!(bodies(&reqs, "/slack").len(), 1);
    let pd = bodies(&reqs, "/pd");
    assert_eq!(
        (pd[1]["event_action"].as_str(), pd[1]["dedup_key"].as_str()),
        (Some("resolve"), Some(dedup.as_str()))
    );
    assert_eq!(
        bodies(&reqs, "/hook")[1]["alerts"][0]["endsAt"],
        "2023-11-14T22:15:20.000Z"
    );
    assert_eq!(
        bodies(&reqs, "/am/api/v2/alerts")[1][0]["endsAt"],
        "2023-11-14T22:15:20.000Z"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let (bad, _) = http_sink(StatusCode::SERVICE_UNAVAILABLE).await;
    let (refused, _) = http_sink(StatusCode::BAD_REQUEST).await;
    let yaml = format!(
        r#"
route: {{receiver: a, group_by: [alertname], group_wait: 0s, routes: [{{matchers: [to=b], receiver: b}}]}}
receivers:
  - {{name: a, webhook_configs: [{{url: '{bad}/'}}]}}
  - {{name: b, webhook_configs: [{{url: '{refused}/'}}]}}
"#
    );
    let n = real_notifier(&yaml);
    let t = tenant();
    n.receive(
        &t,
        vec![
            PostableAlert::new([("alertname", "A")]),
            PostableAlert::new([("alertname", "B"), ("to", "b")]),
        ],
        T0,
    )
    .await
    .expect("receive");
    let r = n.tick(&t, T0).await.expect("tick");
    assert_eq!((r.sent.len(), r.failed.len()), (0, 2));
    let m = n.metrics().snapshot();
    let get = |r: &str, why: &str| {
        m.notifications_failed_total
            .get(&(r.to_string(), why.to_string()))
            .copied()
            .unwrap_or(0)
    };
    assert!(get("a", "http_5xx") >= 2, "5xx retried: {m:?}");
    assert_eq!(get("b", "http_4xx"), 1, "4xx not retried: {m:?}");
}

/// A one-connection SMTP server on 127.0.0.1:0; returns its address and
/// the commands and message data it received.
async fn smtp_sink() -> (String, tokio::task::JoinHandle<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        let (mut commands, mut data) = (Vec::new(), String::new());
        w.write_all(b"220 sink ready\r\n").await.expect("greet");
        while let Ok(Some(line)) = lines.next_line().await {
            commands.push(line.clone());
            let reply: &[u8] = match line.split(' ').next().unwrap_or("") {
                "EHLO" => b"250-sink\r\n250 AUTH PLAIN\r\n",
                "AUTH" => b"235 ok\r\n",
                "DATA" => {
                    w.write_all(b"354 go on\r\n").await.expect("write");
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        data.push_str(&l);
                        data.push('\n');
                    }
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    w.write_all(b"221 bye\r\n").await.expect("write");
                    break;
                }
                _ => b"250 ok\r\n",
            };
            w.write_all(reply).await.expect("write");
        }
        (commands, data)
    });
    (addr, task)
}

#[tokio::test]
async fn email_goes_through_smtp() {
    let (addr, sink) = smtp_sink().await;
    let yaml = format!(
        r#"
route: {{receiver: mail, group_by: [alertname], group_wait: 0s}}
receivers:
  - name: mail
    email_configs:
      - {{to: 'ops@example.org', from: 'Stratus <alerts@example.org>', smarthost: '{addr}', auth_username: u, auth_password: p}}
"#
    );
    let n = real_notifier(&yaml);
    let t = tenant();
    let alert =
        PostableAlert::new([("alertname", "Down")]).annotation("summary", ".starts with a dot");
    n.receive(&t, vec![alert], T0).await.expect("receive");
    let r = n.tick(&t, T0).await.expect("tick");
    assert_eq!(r.sent.len(), 1, "{r:?}");
    let (commands, data) = tokio::time::timeout(Duration::from_secs(10), sink)
        .await
        .expect("sink finished")
        .expect("join");
    assert_eq!(commands[0], "EHLO localhost");
    assert_eq!(commands[1], "AUTH PLAIN AHUAcA==");
    assert_eq!(commands[2], "MAIL FROM:<alerts@example.org>");
    assert_eq!(commands[3], "RCPT TO:<ops@example.org>");
    assert_eq!(commands[4..], ["DATA".to_string(), "QUIT".to_string()]);
    assert!(data.contains("Subject: [FIRING:1] Down\n"), "{data}");
    assert!(data.contains("To: ops@example.org\n"), "{data}");
    assert!(
        data.contains("- [firing] alertname=Down: .starts with a dot"),
        "{data}"
    );
}
