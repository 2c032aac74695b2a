//! The query side of `stratus bench recent`: the dashboard and
//! lookup queries, timed against `stratus all` and Prometheus (warm: the
//! second of two runs) and against a fresh querier process per query
//! (cold: its first run), and the report.

use std::time::Duration;

use anyhow::Context;

use super::super::servers::{median, percentile, timed_query};

/// Which figure of the summary a query counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 1 to 1,000 series.
    Small,
    /// 128,000 series at 1M.
    Heavy,
    /// Series and label-value lookups.
    Lookup,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Instant(&'static str),
    /// Over the last hour at 15 s.
    Range(&'static str),
    Series(&'static str),
    LabelValues(&'static str),
}

pub struct Query {
    pub label: &'static str,
    pub class: Class,
    shape: Shape,
}

pub fn queries() -> Vec<Query> {
    let q = |label, class, shape| Query {
        label,
        class,
        shape,
    };
    let cpu = "sum(rate(node_cpu_seconds_total[1m]))";
    let by_host = "sum by (host)(rate(node_cpu_seconds_total[5m]))";
    vec![
        q(
            "count(node_load1)",
            Class::Small,
            Shape::Instant("count(node_load1)"),
        ),
        q(
            "node_load1{host=\"host-007\"}",
            Class::Small,
            Shape::Instant("node_load1{host=\"host-007\"}"),
        ),
        q(
            "topk(5, node_load1)",
            Class::Small,
            Shape::Instant("topk(5, node_load1)"),
        ),
        q(cpu, Class::Heavy, Shape::Instant(cpu)),
        q(
            "sum by (host)(rate(...[5m])) 1h step 15s",
            Class::Heavy,
            Shape::Range(by_host),
        ),
        q(
            "/api/v1/series?match[]=node_load1",
            Class::Lookup,
            Shape::Series("node_load1"),
        ),
        q(
            "/api/v1/label/host/values",
            Class::Lookup,
            Shape::LabelValues("host"),
        ),
    ]
}

/// When a round asks: instant queries at the last scrape both targets
/// acknowledged, the range query ending now.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub instant_ms: i64,
    pub end_ms: i64,
}

fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// Entries of an answer: `data.result` of a query, `data` of a lookup.
fn entries(body: &[u8]) -> anyhow::Result<usize> {
    let v: serde_json::Value = serde_json::from_slice(body).context("answer is not JSON")?;
    let data = &v["data"];
    let list = data.get("result").unwrap_or(data);
    list.as_array()
        .map(Vec::len)
        .context("answer has no result list")
}

/// Runs `q` once against the API at `base`; latency in ms and entries.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    q: &Query,
    at: At,
    timeout: Duration,
) -> anyhow::Result<(f64, usize)> {
    let (path, params) = match q.shape {
        Shape::Instant(e) => (
            "/api/v1/query".to_string(),
            vec![("query", e.to_string()), ("time", secs(at.instant_ms))],
        ),
        Shape::Range(e) => (
            "/api/v1/query_range".to_string(),
            vec![
                ("query", e.to_string()),
                ("start", secs(at.end_ms - 3_600_000)),
                ("end", secs(at.end_ms)),
                ("step", "15".to_string()),
            ],
        ),
        Shape::Series(m) => (
            "/api/v1/series".to_string(),
            vec![("match[]", m.to_string())],
        ),
        Shape::LabelValues(l) => (format!("/api/v1/label/{l}/values"), vec![]),
    };
    let params = serde_urlencoded::to_string(&params)?;
    let request = client
        .get(format!("{base}{path}?{params}"))
        .timeout(timeout);
    let (ms, body) = timed_query(request, q.label).await?;
    Ok((ms, entries(&body)?))
}

/// What one query measured on one target over the rounds.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub ms: Vec<f64>,
    /// Entries of the last answer.
    pub entries: Option<usize>,
    pub errors: usize,
    pub last_error: Option<String>,
}

impl Samples {
    pub fn record(&mut self, r: anyhow::Result<(f64, usize)>) {
        match r {
            Ok((ms, n)) => {
                self.ms.push(ms);
                self.entries = Some(n);
            }
            Err(e) => {
                self.errors += 1;
                self.last_error = Some(format!("{e:#}"));
            }
        }
    }

    pub fn median(&self) -> f64 {
        median(self.ms.clone())
    }

    pub fn p99(&self) -> f64 {
        percentile(self.ms.clone(), 0.99)
    }

    fn cell(&self) -> String {
        if self.ms.is_empty() {
            return "n/a".to_string();
        }
        format!("{:.1}/{:.1}", self.median(), self.p99())
    }

    fn count(&self) -> String {
        self.entries
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".to_string())
    }
}

/// Per query: Stratus warm, Stratus cold, Prometheus warm.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub warm: Samples,
    pub cold: Samples,
    pub prom: Samples,
}

/// `x` with `digits` decimals, `n/a` for NaN.
pub fn figure(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "n/a".to_string()
    } else {
        format!("{x:.digits$}")
    }
}

/// Largest of `f` over the queries of `class`; NaN when one has no figure.
pub fn max_of(
    queries: &[Query],
    m: &[Measured],
    class: Class,
    f: impl Fn(&Measured) -> f64,
) -> f64 {
    let v: Vec<f64> = queries
        .iter()
        .zip(m)
        .filter(|(q, _)| q.class == class)
        .map(|(_, m)| f(m))
        .collect();
    if v.is_empty() || v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    v.into_iter().fold(f64::MIN, f64::max)
}

/// The ratio of Stratus's warm median over Prometheus's.
pub fn ratio(m: &Measured) -> f64 {
    m.warm.median() / m.prom.median()
}

/// One row per query, `q1` to `q7`; the last column is the entries of the
/// last answers, stratus warm/cold/prometheus.
pub fn report(queries: &[Query], m: &[Measured]) {
    println!(
        "{:<3} {:<42} {:>17} {:>17} {:>17} {:>7} entries",
        "", "query", "stratus warm ms", "stratus cold ms", "prometheus ms", "ratio"
    );
    println!(
        "{:<3} {:<42} {:>17} {:>17} {:>17} {:>7} warm/cold/prom",
        "", "", "p50/p99", "p50/p99", "p50/p99", "warm"
    );
    for (i, (q, m)) in queries.iter().zip(m).enumerate() {
        println!(
            "q{:<2} {:<42} {:>17} {:>17} {:>17} {:>7} n={}/{}/{}",
            i + 1,
            q.label,
            m.warm.cell(),
            m.cold.cell(),
            m.prom.cell(),
            figure(ratio(m), 2),
            m.warm.count(),
            m.cold.count(),
            m.prom.count()
        );
    }
    for (i, (q, m)) in queries.iter().zip(m).enumerate() {
        for (what, s) in [
            ("stratus warm", &m.warm),
            ("stratus cold", &m.cold),
            ("prometheus", &m.prom),
        ] {
            if let Some(e) = &s.last_error {
                println!(
                    "q{} {} ({what}): {} errors, last: {e}",
                    i + 1,
                    q.label,
                    s.errors
                );
            }
        }
    }
}
