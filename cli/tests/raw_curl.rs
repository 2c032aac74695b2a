//! A query typed raw into curl (issue 16): `curl -g
//! 'http://127.0.0.1:PORT/api/v1/query?query=up{job="node"}'` sends `"` in
//! the request line unencoded; Prometheus answers it, and so must a real
//! `stratus all`. The bytes go over a plain TCP socket, as curl sends them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use stratus_tests::stratus::StratusProcess;

/// Sends `request` on a new connection and reads the answer until the
/// server closes it (`Connection: close`): status and body.
fn raw(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    )
    .expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut got = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut got)
        .expect("read the answer");
    let text = String::from_utf8(got).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, body.to_string())
}

#[test]
fn a_query_typed_raw_into_curl_is_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = StratusProcess::start(
        Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &["--enable-admin-api"],
    )
    .expect("start stratus");
    // What curl 8 sends for the command above.
    let get = "GET /api/v1/query?query=up{job=\"node\"} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
               User-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    let (status, body) = raw(s.port, get);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "success", "{body}");
    assert_eq!(v["data"]["resultType"], "vector", "{body}");

    // The parser sees the query as typed: an error names it at its place.
    let get = "GET /api/v1/query?query=up{job=\"node\"}>>1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
               Connection: close\r\n\r\n";
    let (status, body) = raw(s.port, get);
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["errorType"], "bad_data", "{body}");

    // The README's delete-series example, typed the same way.
    let post = "POST /api/v1/admin/tsdb/delete_series?match[]=up{job=\"node\"} HTTP/1.1\r\n\
                Host: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (status, body) = raw(s.port, post);
    assert_eq!(status, 204, "{body}");
}
