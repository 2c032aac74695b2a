//! No query can take `stratus all` down (issue 13): a real server, real
//! HTTP, hostile but realistic queries.
//!
//! - Deep expressions (a 3,500-term `1+1+...`) are refused with 400
//!   instead of overflowing a stack and aborting the process.
//! - Step grids, count_values groups, label_join values and topk's k are
//!   counted before they are allocated: each query is refused with 422 (or
//!   answered) and the process's peak RSS grows by less than the
//!   configured `--query-memory-bytes`.
//! - Heavy queries run on the query pool with their deadline checked
//!   inside loops: with the pool saturated, remote_write acknowledgements
//!   stay under a second and the heavy queries end with 503 at their
//!   timeout, not minutes later.
//! - `/api/v1/series` bounds its selectors and honours `timeout`.
//! - A property test sends deep and wide expressions up to the parser's
//!   limits; every one gets 2xx or a JSON 4xx/422/503, and the server stays
//!   up.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stratus_tests::rw;
use stratus_tests::stratus::{http_ok, StratusProcess};

/// The memory bound the server runs with.
const MEMORY_BOUND: u64 = 256 << 20;
const SERIES: usize = 2_000;
/// Samples per series, one every 15 s: 70 minutes.
const SAMPLES: i64 = 280;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Server {
    proc: StratusProcess,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
    /// The time the data ends at (ms).
    end: i64,
}

impl Server {
    /// `stratus all` with a 256 MiB query memory bound, two query
    /// threads, small caches, and `SERIES` series of `SAMPLES` samples.
    async fn start() -> Server {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_stratus"));
        let dir = tempfile::tempdir().expect("tempdir");
        let bound = MEMORY_BOUND.to_string();
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("MIMALLOC_"))
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let proc = StratusProcess::start_with_env(
            bin,
            0,
            &dir.path().join("data"),
            &dir.path().join("stratus.log"),
            &[
                "--query-memory-bytes",
                &bound,
                "--query-max-concurrency",
                "2",
                "--query-results-cache-bytes",
                "0",
                "--cache-memory-bytes",
                "33554432",
                "--max-sample-age",
                "3h",
                "--commit-window",
                "50ms",
            ],
            &env,
        )
        .expect("start stratus");
        let client = reqwest::Client::new();
        let end = now_ms() - 60_000;
        let start = end - (SAMPLES - 1) * 15_000;
        // 200 series a request.
        for chunk in (0..SERIES).collect::<Vec<_>>().chunks(200) {
            let series: Vec<rw::SeriesData> = chunk
                .iter()
                .map(|&i| {
                    (
                        vec![
                            ("__name__".to_string(), "m".to_string()),
                            ("i".to_string(), format!("{i:04}")),
                        ],
                        (0..SAMPLES)
                            .map(|k| (start + k * 15_000, (i as i64 * 7 + k) as f64))
                            .collect(),
                    )
                })
                .collect();
            let status = rw::send(&client, &proc.url("/api/v1/write"), rw::encode_v1(&series))
                .await
                .expect("write");
            assert_eq!(status, 204, "write");
        }
        let server = Server {
            proc,
            _dir: dir,
            client,
            end,
        };
        // Written means queryable within the listing TTL.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = server.query("count(m)", Duration::from_secs(30)).await;
            if status == 200
                && body["data"]["result"][0]["value"][1].as_str()
                    == Some(SERIES.to_string().as_str())
            {
                break;
            }
            assert!(Instant::now() < deadline, "data never queryable: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// POST /api/v1/query at the data's end; status and JSON body.
    async fn query(&self, q: &str, timeout: Duration) -> (u16, Value) {
        self.post(
            "/api/v1/query",
            &[("query", q), ("time", &format!("{}", self.end / 1000))],
            timeout,
        )
        .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], timeout: Duration) -> (u16, Value) {
        let resp = self
            .client
            .post(self.proc.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form.iter().map(|(k, v)| (*k, *v))))
            .timeout(timeout)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer {status} is not JSON ({e}): {text:.300}"));
        (status, body)
    }

    /// The server's peak resident memory so far (VmHWM), in bytes.
    fn peak_rss(&self) -> u64 {
        self.proc_status("VmHWM:")
    }

    /// The server's resident memory now (VmRSS), in bytes.
    fn rss(&self) -> u64 {
        self.proc_status("VmRSS:")
    }

    fn proc_status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proc.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .expect("VmHWM")
    }

    fn alive(&mut self) {
        self.proc.child.check_running().expect("stratus runs");
        assert!(http_ok(self.proc.port, "/-/ready"), "/-/ready");
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form_body<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn error_of(body: &Value) -> String {
    format!(
        "{} {}",
        body["errorType"].as_str().unwrap_or(""),
        body["error"].as_str().unwrap_or("")
    )
}

/// Item 2: a 3,500-term binary chain overflowed a worker's stack during
/// evaluation and aborted the process; now it is refused at parse time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_expressions_are_refused_and_the_server_stays_up() {
    let mut s = Server::start().await;
    let chain = format!("1{}", "+1".repeat(3_499));
    let resp = s
        .client
        .get(format!(
            "{}?{}",
            s.proc.url("/api/v1/query"),
            form_body([("query", chain.as_str())])
        ))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&resp.text().await.expect("text")).expect("JSON");
    assert_eq!(body["errorType"], "bad_data", "{body}");
    assert!(
        error_of(&body).contains("levels deep, more than the 1000 allowed"),
        "{body}"
    );
    // Just within the bound: evaluated.
    let ok = format!("1{}", "+1".repeat(998));
    let (status, body) = s.query(&ok, Duration::from_secs(60)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][1], "999", "{body}");
    // format_query of deep parentheses: bounded, and refused past the limit.
    let parens = format!("{}m{}", "(".repeat(999), ")".repeat(999));
    let (status, body) = s
        .post(
            "/api/v1/format_query",
            &[("query", &parens)],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(status, 200, "{}", error_of(&body));
    let parens = format!("{}m{}", "(".repeat(5_000), ")".repeat(5_000));
    let (status, _) = s
        .post(
            "/api/v1/format_query",
            &[("query", &parens)],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(status, 400);
    s.alive();
}

/// Item 4 and the class: buffers a query builds are counted before they
/// exist. Each query here asked for gigabytes; each is refused with 422
/// (or answered), and the peak RSS grows by less than the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_buffers_are_refused_before_they_exist() {
    let mut s = Server::start().await;
    let base = s.peak_rss();
    let huge_sep = "x".repeat(200_000);
    let label_join = format!("count(label_join(m, \"j\", \"{huge_sep}\", \"i\", \"i\"))");
    let cases: Vec<(&str, String, &[u16])> = vec![
        (
            "a subquery grid of 3e10 steps",
            "count(max_over_time(vector(1)[1y:1ms]))".into(),
            &[422],
        ),
        (
            "a 30 d subquery at 1 s over every series (70 minutes of data)",
            "count(max_over_time(m[30d:1s]))".into(),
            &[200, 422],
        ),
        (
            "a 1 h subquery at 1 ms over every series",
            "count(max_over_time(m[1h:1ms]))".into(),
            &[422],
        ),
        (
            "nested subqueries",
            "count(max_over_time(max_over_time(m[1h:1s])[2d:1s]))".into(),
            &[422],
        ),
        (
            "count_values over a distinct value per series and step",
            "count(count_values(\"v\", max_over_time((m * 1000 + time())[1d:1s])))".into(),
            &[422],
        ),
        ("label_join with huge values", label_join, &[422]),
        ("topk with a huge k", "count(topk(1e18, m))".into(), &[200]),
    ];
    for (what, q, want) in cases {
        let t = Instant::now();
        let (status, body) = s.query(&q, Duration::from_secs(120)).await;
        let peak = s.peak_rss();
        println!(
            "{what}: {status} in {:?}; peak RSS {} MiB (base {} MiB), RSS now {} MiB; {}",
            t.elapsed(),
            peak >> 20,
            base >> 20,
            s.rss() >> 20,
            error_of(&body),
        );
        assert!(want.contains(&status), "{what}: {status} {body}");
        if status == 422 {
            let e = error_of(&body);
            assert!(
                e.contains("too many samples") || e.contains("--query-memory-bytes"),
                "{what}: {e}"
            );
        }
        assert!(
            peak < base + MEMORY_BOUND,
            "{what}: peak RSS {} MiB, more than the base {} MiB plus the {} MiB bound",
            peak >> 20,
            base >> 20,
            MEMORY_BOUND >> 20
        );
        s.alive();
    }
}

/// Item 9: evaluation runs off the async workers and checks its deadline
/// inside loops. Four CPU-heavy queries on a pool of two threads: writes
/// are acknowledged within a second meanwhile, and each heavy query ends
/// with 503 at about its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_queries_do_not_delay_acknowledgements() {
    let mut s = Server::start().await;
    // About 2,000 series x 1,800 steps x 240-sample windows: minutes of CPU.
    let heavy = "max_over_time(sum(rate(m[1h]))[30m:1s])";
    let timeout = Duration::from_secs(4);
    let heavy_runs: Vec<_> = (0..4)
        .map(|_| {
            let client = s.client.clone();
            let url = s.proc.url("/api/v1/query");
            let time = format!("{}", s.end / 1000);
            tokio::spawn(async move {
                let t = Instant::now();
                let resp = client
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_body([
                        ("query", heavy),
                        ("time", time.as_str()),
                        ("timeout", "4s"),
                    ]))
                    .timeout(Duration::from_secs(120))
                    .send()
                    .await
                    .expect("heavy answer");
                (resp.status().as_u16(), t.elapsed())
            })
        })
        .collect();
    // Writes while the pool is busy.
    let mut worst = Duration::ZERO;
    let writes_until = Instant::now() + Duration::from_secs(6);
    let mut n = 0;
    while Instant::now() < writes_until {
        let body = rw::encode_v1(&[(
            vec![("__name__".to_string(), "ack_probe".to_string())],
            vec![(now_ms(), n as f64)],
        )]);
        let t = Instant::now();
        let status = rw::send(&s.client, &s.proc.url("/api/v1/write"), body)
            .await
            .expect("write answer");
        worst = worst.max(t.elapsed());
        assert_eq!(status, 204);
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ends = Vec::new();
    for h in heavy_runs {
        ends.push(h.await.expect("join"));
    }
    println!(
        "{n} writes while 4 heavy queries ran: slowest ack {worst:?}; heavy queries: {ends:?}"
    );
    assert!(
        worst < Duration::from_secs(1),
        "slowest ack {worst:?} with the query pool saturated"
    );
    for (status, took) in ends {
        assert_eq!(status, 503, "a heavy query past its timeout");
        // Two waited for a turn, then ran to their own deadline: within
        // the timeout plus slack either way.
        assert!(
            took < timeout + Duration::from_secs(10),
            "a heavy query took {took:?} with a {timeout:?} timeout"
        );
    }
    s.alive();
}

/// Item 11: `/api/v1/series` bounds the number of selectors and honours
/// `timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_lookups_are_bounded() {
    let mut s = Server::start().await;
    let selector = |i: usize| format!("m{{i=~\".*{i}.*\"}}");
    let too_many: Vec<(String, String)> = (0..1_001)
        .map(|i| ("match[]".to_string(), selector(i)))
        .collect();
    let resp = s
        .client
        .post(s.proc.url("/api/v1/series"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(
            too_many.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 400);
    let text = resp.text().await.expect("text");
    assert!(text.contains("more than the 1000 allowed"), "{text}");

    let mut many: Vec<(String, String)> = (0..1_000)
        .map(|i| ("match[]".to_string(), selector(i)))
        .collect();
    many.push(("timeout".into(), "200ms".into()));
    let t = Instant::now();
    let resp = s
        .client
        .post(s.proc.url("/api/v1/series"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(
            many.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("answer");
    let took = t.elapsed();
    let status = resp.status().as_u16();
    println!("1,000 regex selectors with timeout=200ms: {status} in {took:?}");
    // Either all 1,000 finished in time or the timeout stopped them.
    assert!(status == 200 || status == 503, "{status}");
    if status == 503 {
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    s.alive();
}

/// Shapes of expressions up to and past the limits, for the property test.
fn hostile_expression() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let n = 1usize..2_500;
    prop_oneof![
        n.clone().prop_map(|n| format!("1{}", "+1".repeat(n))),
        n.clone().prop_map(|n| format!("m{}", " or m".repeat(n))),
        n.clone()
            .prop_map(|n| format!("{}m{}", "abs(".repeat(n), ")".repeat(n))),
        n.clone()
            .prop_map(|n| format!("{}m{}", "(".repeat(n), ")".repeat(n))),
        (1usize..400).prop_map(|n| format!(
            "{}m{}",
            "max_over_time((".repeat(n),
            ")[5m:1m])".repeat(n)
        )),
        (1usize..400).prop_map(|n| format!("{}m{}", "sum by (i) (".repeat(n), ")".repeat(n))),
        n.clone()
            .prop_map(|n| format!("label_join(m, \"x\", \",\"{})", ", \"i\"".repeat(n))),
        n.prop_map(|n| format!("{}m", "-".repeat(n))),
    ]
}

/// The class: every expression the parser could be handed, up to its
/// limits, gets an answer, and the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_wide_expressions_always_get_an_answer() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};
    let mut s = Server::start().await;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let strategy = hostile_expression();
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..48 {
        let q = strategy.new_tree(&mut runner).expect("a case").current();
        let (status, body) = s
            .post(
                "/api/v1/query",
                &[
                    ("query", &q),
                    ("time", &format!("{}", s.end / 1000)),
                    ("timeout", "5s"),
                ],
                Duration::from_secs(60),
            )
            .await;
        assert!(
            matches!(status, 200 | 400 | 422 | 503),
            "{status} for {:.120}: {body}",
            q
        );
        assert!(body["status"].is_string(), "{body}");
        *seen.entry(status).or_insert(0) += 1;
        s.alive();
    }
    println!("answers by status: {seen:?}");
    assert!(
        seen.contains_key(&200) && seen.contains_key(&400),
        "{seen:?}"
    );
}
