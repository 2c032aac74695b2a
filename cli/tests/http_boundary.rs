//! No request can take `stratus all` down (issue 13):
//!
//! - the server runs under a small open-files limit (384, soft and hard,
//!   as in a small container) with `--max-connections 64` and
//!   `--http-read-timeout 1s`; six times max-connections idle TCP
//!   connections that never send a byte are opened against it;
//! - a JSON push, a remote_write and `/-/ready` still answer within a
//!   bounded time, what was written is stored and answers a query, and
//!   the log never says "Too many open files" (without the connection
//!   limit and the read timeout the idle connections take every
//!   descriptor and no request is ever accepted again);
//! - a request whose handler panics gets a JSON 500 with an error id, the
//!   panic is counted in `stratus_panics_total` and logged with the id,
//!   and the server goes on answering and stops cleanly on SIGTERM (the
//!   panicking route exists in debug builds only, which is how the tests
//!   run).
//!
//! The settings are given as environment variables, which a build without
//! them ignores, so the same test runs against one (and fails there: no
//! request is answered while the idle connections are open).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stratus_tests::process::ChildGuard;
use stratus_tests::rw;
use stratus_tests::stratus::http_ok;

const OPEN_FILES: usize = 384;
const MAX_CONNECTIONS: usize = 64;
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Idle connections opened: six times max-connections, as many as the
/// process may have descriptors.
const IDLE: usize = 6 * MAX_CONNECTIONS;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `stratus all` on `port` under `ulimit -n OPEN_FILES`.
fn start(bin: &Path, port: u16, data: &Path, log: &Path) -> ChildGuard {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {OPEN_FILES} && exec \"$0\" \"$@\""))
        .arg(bin)
        .arg("all")
        .arg("--listen-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .env("STRATUS_MAX_CONNECTIONS", MAX_CONNECTIONS.to_string())
        .env(
            "STRATUS_HTTP_READ_TIMEOUT",
            format!("{}ms", READ_TIMEOUT.as_millis()),
        )
        .env("STRATUS_DEBUG_PANIC_ROUTE", "1")
        .env("STRATUS_LOG_LEVEL", "info");
    let mut child = ChildGuard::spawn("stratus", cmd, log).expect("start stratus");
    child
        .wait_until(Duration::from_secs(30), || http_ok(port, "/-/ready"))
        .expect("stratus ready");
    child
}

/// Connections that never send a byte; each is established by the kernel
/// whether or not the server accepts it.
fn open_idle(port: u16, n: usize) -> Vec<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let conns: Vec<TcpStream> = (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(
        conns.len() >= n - n / 10,
        "only {} of {n} idle connections could be opened",
        conns.len()
    );
    conns
}

/// Retries `request` until it gives an answer or `deadline` passes; the
/// answer and how long it took.
async fn answer_by<T, F, Fut>(deadline: Instant, what: &str, mut request: F) -> (T, Duration)
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<T>>,
{
    let start = Instant::now();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{what}: no answer within {:?}",
            start.elapsed()
        );
        match request(left).await {
            Ok(v) => return (v, start.elapsed()),
            Err(e) if Instant::now() < deadline => {
                eprintln!("{what}: {e}, retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{what}: no answer within {:?}: {e}", start.elapsed()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_panics_do_not_take_the_server_down() {
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stratus.log");
    let port = stratus_tests::free_port().expect("port");
    let mut server = start(bin, port, &dir.path().join("data"), &log);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // The flood. Connections past max-connections wait in the accept
    // backlog; every READ_TIMEOUT the server closes up to MAX_CONNECTIONS
    // of them, so a request queued behind all of them is accepted after
    // about IDLE / MAX_CONNECTIONS read timeouts.
    let idle = open_idle(port, IDLE);
    let bound = READ_TIMEOUT * (IDLE / MAX_CONNECTIONS + 2) as u32 + Duration::from_secs(20);
    let deadline = Instant::now() + bound;

    let t = now_ms();
    let push = format!(
        r#"{{"metrics":[{{"name":"flood_push","value":42,"timestamp":{t},"tags":{{"job":"t"}}}}]}}"#
    );
    let rw_body = rw::encode_v1(&[(
        vec![
            ("__name__".to_string(), "flood_rw".to_string()),
            ("job".to_string(), "t".to_string()),
        ],
        vec![(t, 7.0)],
    )]);
    let ((push_status, push_took), (rw_status, rw_took), (ready_status, ready_took)) = tokio::join!(
        answer_by(deadline, "push", |left| {
            let req = client
                .post(format!("{base}/api/v1/push"))
                .header("content-type", "application/json")
                .body(push.clone())
                .timeout(left);
            async move { Ok(req.send().await?.status().as_u16()) }
        }),
        answer_by(deadline, "remote_write", |left| {
            let client = reqwest::Client::builder()
                .timeout(left)
                .build()
                .expect("client");
            let (url, body) = (format!("{base}/api/v1/write"), rw_body.clone());
            async move { rw::send(&client, &url, body).await }
        }),
        answer_by(deadline, "/-/ready", |left| {
            let req = client.get(format!("{base}/-/ready")).timeout(left);
            async move { Ok(req.send().await?.status().as_u16()) }
        }),
    );
    println!(
        "with {} idle connections open: push {push_status} in {push_took:?}, remote_write \
         {rw_status} in {rw_took:?}, /-/ready {ready_status} in {ready_took:?} (bound {bound:?})",
        idle.len()
    );
    assert_eq!(push_status, 200, "push");
    assert_eq!(rw_status, 204, "remote_write");
    assert_eq!(ready_status, 200, "/-/ready");
    server.check_running().expect("stratus runs");

    // What was written is stored and found by a query.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = client
            .get(format!(
                "{base}/api/v1/query?query=flood_push%2Bon(job)flood_rw"
            ))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("query")
            .text()
            .await
            .expect("query answer");
        let resp: Value = serde_json::from_str(&text).expect("query JSON");
        let value = &resp["data"]["result"][0]["value"][1];
        if value == "49" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the written samples never answered a query: {resp}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A panicking handler answers alone.
    let resp = client
        .get(format!("{base}/-/debug/panic"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("panic route");
    assert_eq!(resp.status().as_u16(), 500, "panic route");
    let body: Value = serde_json::from_str(&resp.text().await.expect("body")).expect("JSON error");
    assert_eq!(body["status"], "error", "{body}");
    let id = body["error"]
        .as_str()
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 26 && ulid::Ulid::from_string(w).is_ok())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no error id in {body}"));
    assert!(http_ok(port, "/-/ready"), "ready after the panic");
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("stratus_panics_total{component=\"server\"} 1"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("panics"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    server
        .check_running()
        .expect("stratus runs after the panic");

    drop(idle);
    let status = server
        .terminate(Duration::from_secs(30))
        .expect("terminate");
    assert!(status.success(), "clean shutdown: {status}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains("Too many open files"),
        "the server ran out of descriptors:\n{}",
        server.log_tail()
    );
    let logged: Vec<&str> = text.lines().filter(|l| l.contains("panicked")).collect();
    assert!(
        logged.len() == 1 && logged[0].contains(&id) && logged[0].contains("debug panic route"),
        "the panic is not logged once with its id {id}:\n{}",
        server.log_tail()
    );
    assert!(!text.contains("stack backtrace"), "{}", server.log_tail());
}
