//! `serve` on port 0, driven by raw sockets: what a slow or idle client
//! gets, and that requests in flight survive a shutdown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use stratus_http::{serve, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Longest any step may take before the test fails.
const LIMIT: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn start(options: ServeOptions, router: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, options, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

fn options(read_ms: u64, idle_ms: u64) -> ServeOptions {
    ServeOptions {
        max_connections: 16,
        read_timeout: Duration::from_millis(read_ms),
        idle_timeout: Duration::from_millis(idle_ms),
    }
}

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(LIMIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection was still open after {LIMIT:?}"),
        }
    }
}

/// Reads one response with a Content-Length: status and body.
async fn response(s: &mut TcpStream) -> (u16, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let status = head[9..12].parse().expect("status");
                return (status, text[end + 4..end + 4 + len].to_string());
            }
        }
        let n = tokio::time::timeout(LIMIT, s.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before a whole answer: {text:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_read_timeout() {
    let server = start(options(300, 60_000), router()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    let took = closed_after(&mut s).await;
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_cut_at_the_read_timeout() {
    let server = start(options(500, 60_000), router()).await;
    let s = TcpStream::connect(server.addr).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    let start = Instant::now();
    // Slowloris: a header byte every 50 ms, never the end of the head.
    let drip = tokio::spawn(async move {
        w.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").await?;
        loop {
            w.write_all(b"a").await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(LIMIT, r.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => panic!("a dripped head kept the connection for {LIMIT:?}"),
        }
    }
    drip.abort();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn a_body_that_never_ends_is_cut_at_the_read_timeout() {
    let server = start(options(400, 60_000), router()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b")
        .await
        .expect("write");
    let took = closed_after(&mut s).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn a_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let server = start(options(30_000, 300), router()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    for _ in 0..2 {
        s.write_all(GET).await.expect("write");
        assert_eq!(response(&mut s).await, (200, "hello".into()));
    }
    let took = closed_after(&mut s).await;
    assert!(
        took < Duration::from_secs(5),
        "closed after {took:?}, with an idle timeout of 300ms and a read timeout of 30s"
    );
}

#[tokio::test]
async fn a_handler_may_take_longer_than_the_read_timeout() {
    let router = Router::new().route(
        "/slow",
        post(|body: Bytes| async move {
            // The work of a long query, not a synchronisation.
            tokio::time::sleep(Duration::from_millis(800)).await;
            body
        }),
    );
    let server = start(options(200, 60_000), router).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok")
        .await
        .expect("write");
    assert_eq!(response(&mut s).await, (200, "ok".into()));
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_one_closes() {
    let server = start(
        ServeOptions {
            max_connections: 2,
            ..options(60_000, 60_000)
        },
        router(),
    )
    .await;
    let first = TcpStream::connect(server.addr).await.expect("connect");
    let _second = TcpStream::connect(server.addr).await.expect("connect");
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    third.write_all(GET).await.expect("write");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(early.is_err(), "answered over the limit: {early:?}");
    drop(first);
    assert_eq!(response(&mut third).await, (200, "hello".into()));
}

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight_only() {
    let (started_tx, mut started) = mpsc::channel::<()>(1);
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let router = router().route(
        "/wait",
        get(move || {
            let (started_tx, mut release) = (started_tx.clone(), release.clone());
            async move {
                let _ = started_tx.send(()).await;
                let _ = release.wait_for(|r| *r).await;
                "released"
            }
        }),
    );
    let mut server = start(options(60_000, 60_000), router).await;
    // An idle keep-alive connection, which must not hold the shutdown.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(GET).await.expect("write");
    assert_eq!(response(&mut idle).await, (200, "hello".into()));
    let mut busy = TcpStream::connect(server.addr).await.expect("connect");
    busy.write_all(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    tokio::time::timeout(LIMIT, started.recv())
        .await
        .expect("the handler started");

    let _ = server.stop.take().map(|s| s.send(()));
    // Closed at once, not at the 60 s timeouts.
    closed_after(&mut idle).await;
    assert!(!server.task.is_finished(), "a request is still in flight");
    let _ = release_tx.send(true);
    assert_eq!(response(&mut busy).await, (200, "released".into()));
    tokio::time::timeout(LIMIT, &mut server.task)
        .await
        .expect("serve returned")
        .expect("serve task");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no more connections are accepted"
    );
}

/// A query typed into curl (`curl -g '...?query=up{job="node"}'`) sends `"`
/// in the request line, which Prometheus accepts: it reaches the handler
/// as it was typed, on each request of a keep-alive connection, after a
/// body holding the same bytes, which reaches its handler unchanged.
#[tokio::test]
async fn quotes_typed_into_a_request_line_reach_the_handler() {
    let router = router().route(
        "/q",
        get(
            |uri: axum::http::Uri, q: axum::extract::Query<Vec<(String, String)>>| async move {
                format!("{} {:?}", uri.path(), q.0)
            },
        ),
    );
    let server = start(options(10_000, 60_000), router).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"GET /q?query=up{job=\"node\"}>0 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        response(&mut s).await,
        (200, r#"/q [("query", "up{job=\"node\"}>0")]"#.into())
    );
    let body = "GET /q?query=\"b\" HTTP/1.1\r\n\r\n";
    let post = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(post.as_bytes()).await.expect("write");
    assert_eq!(response(&mut s).await, (200, body.into()));
    s.write_all(b"GET /q?query=a<`b` HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        response(&mut s).await,
        (200, r#"/q [("query", "a<`b`")]"#.into())
    );
}
