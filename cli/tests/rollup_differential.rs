//! Differential test of rollups (ADR 0029): three days of node-exporter-like
//! data at a 60 s interval go to Debian's Prometheus (2.42, its
//! remote_write receiver) and to `stratus all` alike, a compactor pass
//! turns Stratus's segments into day blocks with 5 m and 1 h rollups, and
//! range queries over the three days under the default
//! `max_source_resolution=auto` must give Prometheus's answers: every range
//! function, plain selectors and aggregations, at six steps, with starts on
//! the step grid and off it.
//!
//! The test is not vacuous: each answer must carry Stratus's info
//! "some data was read from <step> rollups" exactly when the README's table
//! says the query is exact from rollups (and name the step the table
//! gives), so the queries that agree with Prometheus while reading rollups
//! are known to have read them.
//!
//! Sample timestamps are seconds away from whole minutes, and every
//! evaluation time and range is whole minutes, so no sample is on a window
//! boundary, where Prometheus 2.x (closed windows) and 3.x (left-open)
//! differ.
//!
//! The series that ends here (node-c) ends two scrapes before a 5 m
//! boundary, so its staleness marker falls in the same 5 m window as its
//! last real sample. Rollups skip markers and keep no trace of them, so a
//! plain selector read from rollups would show a value at that window's end
//! where Prometheus has none (16 of 2,591 queries did, `node_load1{instance=
//! "node-c:9100"}` 3.05): plain selectors therefore read raw samples under
//! `auto` (ADR 0029), and this data keeps that case tested.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use stratus_tests::differential::{
    compare, get_answer, now_ms, seconds, start_pair, trim, wait_for_data, write_all, Evaluation,
    Pair, Rng, STALE_NAN,
};
use stratus_tests::rw::SeriesData;

/// The dataset's seed; STRATUS_DIFF_SEED overrides it.
const SEED: u64 = 0x0dd5_2029;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Scrape interval of the generated data.
const INTERVAL: i64 = MINUTE;
/// Three days of scrapes.
const SLOTS: usize = 3 * 24 * 60;
/// Scrape slots per remote_write request (one hour).
const SLOTS_PER_BATCH: usize = 60;
/// Queries in flight (each goes to both systems).
const PARALLEL: usize = 4;
/// Rollup steps the compactor makes (ms).
const ROLLUP_STEPS: [i64; 2] = [5 * MINUTE, HOUR];
/// The default lookback delta of both systems.
const LOOKBACK: i64 = 5 * MINUTE;
/// Offset of unaligned starts from the step grid: not a multiple of 5 m.
const UNALIGNED_BY: i64 = 7 * MINUTE;
/// The answer carries this when Stratus read rollups.
const ROLLUP_INFO: &str = "PromQL info: some data was read from ";

// ---------------------------------------------------------------------------
// The data

/// One scrape target: its offset within the minute, the slots it lives in,
/// and the slots where it restarts (its counters begin again from zero).
struct Node {
    instance: &'static str,
    offset_ms: i64,
    slots: std::ops::Range<usize>,
    reboots: &'static [usize],
    /// Counters begin at zero (a fresh process) rather than far above one
    /// scrape's increase (a long-running one); see difference 9 of
    /// `stratus_tests::differential`.
    fresh: bool,
    full: bool,
}

const NODES: [Node; 3] = [
    Node {
        instance: "node-a:9100",
        offset_ms: 12_345,
        slots: 0..SLOTS,
        reboots: &[],
        fresh: false,
        full: true,
    },
    Node {
        instance: "node-b:9100",
        offset_ms: 31_789,
        slots: 0..SLOTS,
        // Day 1 at 09:07, day 2 at 12:10.
        reboots: &[1_987, 3_610],
        fresh: false,
        full: true,
    },
    // Lives from day 1 at 12:00 to day 2 at 12:00, then stops (its series
    // end with a staleness marker).
    Node {
        instance: "node-c:9100",
        offset_ms: 47_123,
        slots: 2_160..3_600,
        reboots: &[],
        fresh: true,
        full: false,
    },
];

const LE: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

struct Data {
    day0: i64,
    series: Vec<SeriesData>,
}

fn labels(name: &str, node: &Node, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = [
        ("__name__", name),
        ("instance", node.instance),
        ("job", "node"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    l.sort();
    l
}

/// A counter: `inc` gives each scrape's increase; it starts at `start`
/// (exactly, when that is zero) and begins again from one scrape's worth at
/// each reboot slot.
fn counter(
    slots: &[(usize, i64)],
    reboots: &[usize],
    start: f64,
    mut inc: impl FnMut() -> f64,
) -> Vec<(i64, f64)> {
    let mut v = start;
    slots
        .iter()
        .enumerate()
        .map(|(i, &(slot, t))| {
            if reboots.contains(&slot) {
                v = 0.0;
            }
            // A fresh process's first scrape reads zero.
            if i > 0 || start > 0.0 {
                v += inc();
            }
            (t, v)
        })
        .collect()
}

/// A random walk within [lo, hi], rounded to `unit`.
fn walk(
    slots: &[(usize, i64)],
    rng: &mut Rng,
    lo: f64,
    hi: f64,
    step: f64,
    unit: f64,
) -> Vec<(i64, f64)> {
    let mut v = rng.range(lo, hi);
    slots
        .iter()
        .map(|&(_, t)| {
            v = (v + rng.range(-step, step)).clamp(lo, hi);
            (t, (v / unit).round() * unit)
        })
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Data {
    fn generate(seed: u64, day0: i64) -> Self {
        let mut rng = Rng::new(seed);
        let mut series: Vec<SeriesData> = Vec::new();
        for node in &NODES {
            // One scrape per slot for all of a node's series, a little
            // jittered, always seconds away from a whole minute.
            let slots: Vec<(usize, i64)> = node
                .slots
                .clone()
                .map(|s| {
                    let jitter = rng.int(-400, 400);
                    (s, day0 + s as i64 * INTERVAL + node.offset_ms + jitter)
                })
                .collect();
            let start = |rng: &mut Rng, scale: f64| {
                if node.fresh {
                    0.0
                } else {
                    round2(rng.range(1e5, 1e6) * scale)
                }
            };
            let cpus: &[&str] = if node.full { &["0", "1"] } else { &["0"] };
            let modes: &[(&str, f64, f64)] = if node.full {
                &[
                    ("idle", 52.0, 3.0),
                    ("user", 5.0, 2.5),
                    ("system", 1.5, 0.8),
                    ("iowait", 0.3, 0.3),
                ]
            } else {
                &[("idle", 52.0, 3.0), ("user", 5.0, 2.5)]
            };
            for cpu in cpus {
                for &(mode, mean, spread) in modes {
                    let s0 = start(&mut rng, 1.0);
                    let samples = counter(&slots, node.reboots, s0, || {
                        round2(rng.range(mean - spread, mean + spread).max(0.0))
                    });
                    series.push((
                        labels(
                            "node_cpu_seconds_total",
                            node,
                            &[("cpu", cpu), ("mode", mode)],
                        ),
                        samples,
                    ));
                }
            }
            let s0 = start(&mut rng, 1000.0);
            let samples = counter(&slots, node.reboots, s0, || rng.int(15_000, 40_000) as f64);
            series.push((labels("node_context_switches_total", node, &[]), samples));
            series.push((
                labels("node_load1", node, &[]),
                walk(&slots, &mut rng, 0.0, 8.0, 0.6, 0.01),
            ));
            if !node.full {
                continue;
            }
            series.push((
                labels("node_load5", node, &[]),
                walk(&slots, &mut rng, 0.0, 6.0, 0.2, 0.01),
            ));
            let total = 16_000_000_000.0;
            series.push((
                labels("node_memory_MemTotal_bytes", node, &[]),
                slots.iter().map(|&(_, t)| (t, total)).collect(),
            ));
            let avail = walk(&slots, &mut rng, 2e9, 14e9, 6e7, 4096.0);
            let active: Vec<(i64, f64)> = avail
                .iter()
                .map(|&(t, a)| {
                    (
                        t,
                        ((total - a) * rng.range(0.55, 0.7) / 4096.0).round() * 4096.0,
                    )
                })
                .collect();
            series.push((labels("node_memory_MemAvailable_bytes", node, &[]), avail));
            series.push((labels("node_memory_Active_bytes", node, &[]), active));
            for (device, lo, hi) in [("eth0", 1e5, 2e6), ("lo", 1e3, 5e4)] {
                let s0 = start(&mut rng, 1e4);
                let samples = counter(&slots, node.reboots, s0, || rng.range(lo, hi).round());
                series.push((
                    labels(
                        "node_network_receive_bytes_total",
                        node,
                        &[("device", device)],
                    ),
                    samples,
                ));
            }
            for (mountpoint, size) in [("/", 5e10), ("/data", 5e11)] {
                // Fills slowly, freed now and then.
                let mut v = size * rng.range(0.3, 0.8);
                let samples = slots
                    .iter()
                    .map(|&(_, t)| {
                        v -= rng.range(0.0, size * 2e-5);
                        if v < size * 0.1 || rng.chance(0.002) {
                            v += size * rng.range(0.05, 0.2);
                        }
                        v = v.min(size);
                        (t, (v / 4096.0).round() * 4096.0)
                    })
                    .collect();
                series.push((
                    labels(
                        "node_filesystem_avail_bytes",
                        node,
                        &[("mountpoint", mountpoint)],
                    ),
                    samples,
                ));
            }
            // A classic histogram of scrape durations.
            let bounds: Vec<f64> = LE
                .iter()
                .map(|l| l.parse::<f64>().expect("le bound"))
                .collect();
            let mut cumulative = vec![0.0f64; LE.len()];
            let (mut sum, mut count) = (0.0f64, 0.0f64);
            // A long-running process: counts far above one scrape's worth.
            let history = rng.int(200, 600) as f64;
            for _ in 0..1000 {
                let d = (rng.range(-6.0, 1.2)).exp();
                for (c, b) in cumulative.iter_mut().zip(&bounds) {
                    if d <= *b {
                        *c += history;
                    }
                }
                sum += d * history;
                count += history;
            }
            let mut buckets: Vec<Vec<(i64, f64)>> = vec![Vec::new(); LE.len()];
            let (mut sums, mut counts) = (Vec::new(), Vec::new());
            for &(slot, t) in &slots {
                if node.reboots.contains(&slot) {
                    cumulative.iter_mut().for_each(|c| *c = 0.0);
                    (sum, count) = (0.0, 0.0);
                }
                for _ in 0..rng.int(20, 80) {
                    let d = (rng.range(-6.0, 1.2)).exp();
                    for (c, b) in cumulative.iter_mut().zip(&bounds) {
                        if d <= *b {
                            *c += 1.0;
                        }
                    }
                    sum += d;
                    count += 1.0;
                }
                for (b, c) in buckets.iter_mut().zip(&cumulative) {
                    b.push((t, *c));
                }
                sums.push((t, sum));
                counts.push((t, count));
            }
            for (le, samples) in LE.iter().zip(buckets) {
                series.push((
                    labels(
                        "http_request_duration_seconds_bucket",
                        node,
                        &[("handler", "/metrics"), ("le", le)],
                    ),
                    samples,
                ));
            }
            series.push((
                labels(
                    "http_request_duration_seconds_sum",
                    node,
                    &[("handler", "/metrics")],
                ),
                sums,
            ));
            series.push((
                labels(
                    "http_request_duration_seconds_count",
                    node,
                    &[("handler", "/metrics")],
                ),
                counts,
            ));
        }
        // node-c's series end as Prometheus ends a scrape target's: a
        // staleness marker at the next scrape. Its last two scrapes are
        // dropped, so the marker is in the 5 m window of its last sample
        // (see the module documentation).
        for (l, samples) in series.iter_mut() {
            if l.iter()
                .any(|(k, v)| k == "instance" && v == NODES[2].instance)
            {
                samples.truncate(samples.len().saturating_sub(2));
                if let Some(&(last, _)) = samples.last() {
                    samples.push((last + INTERVAL, STALE_NAN));
                }
            }
        }
        Self { day0, series }
    }

    /// Remote_write requests in time order, `per` slots each.
    fn batches(&self, per: usize) -> Vec<Vec<SeriesData>> {
        let day0 = self.day0;
        stratus_tests::differential::time_batches(
            &self.series,
            |t| ((t - day0).div_euclid(INTERVAL)) as usize,
            SLOTS - 1,
            per,
        )
    }
}

// ---------------------------------------------------------------------------
// The queries

/// What the README's table says about a query under `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A plain selector: raw samples (rollups keep no staleness markers).
    Plain,
    /// `sum/count/min/max/last/present/absent_over_time`: exact when the
    /// range is a whole number of rollup steps and longer than one.
    Exact,
    /// `rate`, `increase`, `delta`, `avg_over_time`: exact from the
    /// windows' edges when the range is a whole number of rollup steps (one
    /// included).
    Edges,
    /// Everything else: raw samples.
    Raw,
}

/// What an answer of Stratus is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    Prometheus,
    /// Stratus's own answer with `max_source_resolution=raw`, for
    /// functions Prometheus 2.42 does not have (`mad_over_time`).
    StratusRaw,
}

/// A query; `{r}` stands for the range.
struct Template {
    text: &'static str,
    kind: Kind,
    reference: Reference,
}

const fn t(text: &'static str, kind: Kind) -> Template {
    Template {
        text,
        kind,
        reference: Reference::Prometheus,
    }
}

const TEMPLATES: &[Template] = &[
    // Weighted means of whole windows.
    t("avg_over_time(node_load1[{r}])", Kind::Edges),
    t(
        "avg_over_time(node_memory_MemAvailable_bytes[{r}])",
        Kind::Edges,
    ),
    // Read raw samples, whatever the alignment.
    t(
        "quantile_over_time(0.9, node_memory_MemAvailable_bytes[{r}])",
        Kind::Raw,
    ),
    t("stddev_over_time(node_load1[{r}])", Kind::Raw),
    t("stdvar_over_time(node_memory_Active_bytes[{r}])", Kind::Raw),
    // Prometheus 2.42 has no mad_over_time (the test checks that it
    // refuses it): compared with Stratus's raw-only answer.
    Template {
        text: "mad_over_time(node_load1[{r}])",
        kind: Kind::Raw,
        reference: Reference::StratusRaw,
    },
    Template {
        text: "mad_over_time(node_memory_MemAvailable_bytes[{r}])",
        kind: Kind::Raw,
        reference: Reference::StratusRaw,
    },
    t("rate(node_cpu_seconds_total[{r}])", Kind::Edges),
    t("irate(node_network_receive_bytes_total[{r}])", Kind::Raw),
    t("increase(node_context_switches_total[{r}])", Kind::Edges),
    t("delta(node_filesystem_avail_bytes[{r}])", Kind::Edges),
    t("idelta(node_load5[{r}])", Kind::Raw),
    t("deriv(node_memory_MemAvailable_bytes[{r}])", Kind::Raw),
    t(
        "predict_linear(node_filesystem_avail_bytes[{r}], 3600)",
        Kind::Raw,
    ),
    t("changes(node_load1[{r}])", Kind::Raw),
    t("resets(node_cpu_seconds_total[{r}])", Kind::Raw),
    t(
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[{r}])))",
        Kind::Edges,
    ),
    t(
        "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[{r}]))",
        Kind::Edges,
    ),
    t(
        "sum by (le) (increase(http_request_duration_seconds_bucket[{r}]))",
        Kind::Edges,
    ),
    // Exact from rollups where the range is made of whole rollup windows.
    t("sum_over_time(node_load1[{r}])", Kind::Exact),
    t("count_over_time(node_cpu_seconds_total[{r}])", Kind::Exact),
    t(
        "min_over_time(node_memory_MemAvailable_bytes[{r}])",
        Kind::Exact,
    ),
    t("max_over_time(node_load1[{r}])", Kind::Exact),
    t(
        "last_over_time(node_network_receive_bytes_total[{r}])",
        Kind::Exact,
    ),
    t("present_over_time(node_load1[{r}])", Kind::Exact),
    t(
        "absent_over_time(node_load1{instance=\"node-c:9100\"}[{r}])",
        Kind::Exact,
    ),
    t(
        "max_over_time(http_request_duration_seconds_bucket[{r}])",
        Kind::Exact,
    ),
    t(
        "max by (instance) (max_over_time(node_load1[{r}]))",
        Kind::Exact,
    ),
    t(
        "sum by (instance) (count_over_time(node_context_switches_total[{r}]))",
        Kind::Exact,
    ),
    t(
        "sum by (instance) (sum_over_time(http_request_duration_seconds_count[{r}]))",
        Kind::Exact,
    ),
    t(
        "min by (mountpoint) (min_over_time(node_filesystem_avail_bytes[{r}]))",
        Kind::Exact,
    ),
    // Plain selectors: raw samples (no staleness markers in rollups).
    t("node_load1", Kind::Plain),
    t("node_cpu_seconds_total{mode=\"user\"}", Kind::Plain),
    t(
        "http_request_duration_seconds_bucket{instance=\"node-b:9100\"}",
        Kind::Plain,
    ),
    t("sum by (mode) (node_cpu_seconds_total)", Kind::Plain),
    t(
        "avg by (instance) (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
        Kind::Plain,
    ),
];

const RANGES: [(&str, i64); 7] = [
    ("1m", MINUTE),
    ("5m", 5 * MINUTE),
    ("15m", 15 * MINUTE),
    ("1h", HOUR),
    ("2h", 2 * HOUR),
    ("6h", 6 * HOUR),
    ("1d", DAY),
];

const STEPS: [(&str, i64); 6] = [
    ("5m", 5 * MINUTE),
    ("15m", 15 * MINUTE),
    ("1h", HOUR),
    ("3h", 3 * HOUR),
    ("6h", 6 * HOUR),
    ("1d", DAY),
];

/// Queries the README's table names as examples, with the rollup step
/// their answers must name (None: raw samples).
const SPOT_CHECKS: &[(&str, &str, bool, Option<&str>)] = &[
    ("sum_over_time(node_load1[2h])", "1h", true, Some("1h")),
    ("max_over_time(node_load1[1d])", "6h", true, Some("1h")),
    ("node_load1", "15m", true, None),
    (
        "count_over_time(node_cpu_seconds_total[15m])",
        "15m",
        true,
        Some("5m"),
    ),
    ("sum_over_time(node_load1[2h])", "1h", false, None),
    ("max_over_time(node_load1[1d])", "6h", false, None),
    ("node_load1", "15m", false, None),
    ("rate(node_cpu_seconds_total[1h])", "1h", true, Some("1h")),
    ("rate(node_cpu_seconds_total[5m])", "5m", true, Some("5m")),
    ("rate(node_cpu_seconds_total[5m])", "1h", true, Some("5m")),
    ("rate(node_cpu_seconds_total[1h])", "1h", false, None),
    (
        "increase(node_context_switches_total[15m])",
        "15m",
        true,
        Some("5m"),
    ),
    (
        "sum by (instance) (rate(node_cpu_seconds_total[1h]))",
        "1h",
        true,
        Some("1h"),
    ),
    ("irate(node_cpu_seconds_total[1h])", "1h", true, None),
    ("avg_over_time(node_load1[1h])", "1h", true, Some("1h")),
    ("avg_over_time(node_load1[1h])", "1h", false, None),
    ("max_over_time(node_load1[5m])", "5m", true, None),
];

#[derive(Debug, Clone)]
struct Query {
    text: String,
    step: &'static str,
    aligned: bool,
    reference: Reference,
    eval: Evaluation,
    /// The rollup step the answer must say it read, if any.
    want_rollup: Option<&'static str>,
}

fn step_name(ms: i64) -> &'static str {
    if ms == HOUR {
        "1h"
    } else {
        "5m"
    }
}

/// The rollup step the README's table serves a query from under `auto`.
fn expected_rollup(kind: Kind, range_ms: i64, step_ms: i64, aligned: bool) -> Option<&'static str> {
    if !aligned {
        return None;
    }
    let fits = |s: i64| step_ms % s == 0;
    match kind {
        Kind::Raw | Kind::Plain => None,
        Kind::Exact => ROLLUP_STEPS
            .iter()
            .rev()
            .find(|&&s| fits(s) && range_ms % s == 0 && range_ms > s)
            .map(|&s| step_name(s)),
        Kind::Edges => ROLLUP_STEPS
            .iter()
            .rev()
            .find(|&&s| fits(s) && range_ms % s == 0 && range_ms >= s)
            .map(|&s| step_name(s)),
    }
}

fn evaluation(day0: i64, step_ms: i64, aligned: bool) -> Evaluation {
    let start_ms = day0 + if aligned { 0 } else { UNALIGNED_BY };
    Evaluation::Range {
        start_ms,
        // Two hours past the data: windows that end after it.
        end_ms: day0 + 3 * DAY + 2 * HOUR,
        step_ms,
    }
}

/// Every template at every step, both alignments and (but plain selectors)
/// every range: the whole cross product, which runs in about a minute.
fn queries(day0: i64) -> Vec<Query> {
    let mut out = Vec::new();
    for tpl in TEMPLATES {
        for &(step, step_ms) in &STEPS {
            for aligned in [true, false] {
                let ranges: Vec<(String, i64)> = if tpl.kind == Kind::Plain {
                    vec![(tpl.text.to_string(), LOOKBACK)]
                } else {
                    RANGES
                        .iter()
                        .map(|&(r, ms)| (tpl.text.replace("{r}", r), ms))
                        .collect()
                };
                for (text, range_ms) in ranges {
                    out.push(Query {
                        text,
                        step,
                        aligned,
                        reference: tpl.reference,
                        eval: evaluation(day0, step_ms, aligned),
                        want_rollup: expected_rollup(tpl.kind, range_ms, step_ms, aligned),
                    });
                }
            }
        }
    }
    for &(text, step, aligned, want) in SPOT_CHECKS {
        let step_ms = STEPS
            .iter()
            .find(|s| s.0 == step)
            .map(|s| s.1)
            .expect("a step of STEPS");
        out.push(Query {
            text: text.to_string(),
            step,
            aligned,
            reference: Reference::Prometheus,
            eval: evaluation(day0, step_ms, aligned),
            want_rollup: want,
        });
    }
    out
}

struct Outcome {
    query: Query,
    /// The rollup steps Stratus's infos name.
    read_rollups: Vec<String>,
    mismatch: Option<String>,
    points: usize,
}

fn rollup_infos(answer: &serde_json::Value) -> Vec<String> {
    answer["infos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .filter_map(|s| s.strip_prefix(ROLLUP_INFO))
                .map(|rest| rest.split(' ').next().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn points(answer: &serde_json::Value) -> usize {
    answer["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| s["values"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

async fn run_queries(
    client: &reqwest::Client,
    s_base: &str,
    p_base: &str,
    queries: Vec<Query>,
) -> Vec<Outcome> {
    futures::stream::iter(queries)
        .map(|query| async move {
            let path = query.eval.request_path(&query.text);
            let s = get_answer(client, s_base, &path).await.expect("stratus");
            let p = match query.reference {
                Reference::Prometheus => get_answer(client, p_base, &path).await,
                Reference::StratusRaw => {
                    let raw = format!("{path}&max_source_resolution=raw");
                    get_answer(client, s_base, &raw).await
                }
            }
            .expect("reference answer");
            let mismatch = compare(&s.json, &p.json, false).err().map(|diff| {
                format!(
                    "{diff}    stratus:    {}\n    reference:  {}",
                    trim(&s.body, 400),
                    trim(&p.body, 400)
                )
            });
            Outcome {
                read_rollups: rollup_infos(&s.json),
                points: points(&p.json),
                query,
                mismatch,
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await
}

// ---------------------------------------------------------------------------
// Compaction

/// Runs `stratus compactor --once --now <now> <extra>` on the data folder.
fn compactor_pass(bin: &Path, data_dir: &Path, now: i64, extra: &[&str]) {
    let out = std::process::Command::new(bin)
        .args(["compactor", "--once", "--log-level", "warn", "--data-dir"])
        .arg(data_dir)
        .arg("--now")
        .arg(seconds(now))
        .args(extra)
        .output()
        .expect("running the compactor");
    assert!(
        out.status.success(),
        "compactor pass as of {}: {}\n{}",
        seconds(now),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "rollup differential: compactor as of {}: {}",
        seconds(now),
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

/// The anonymous tenant's catalog, as `stratus admin blocks --json` prints it.
fn catalog(bin: &Path, data_dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new(bin)
        .args(["admin", "blocks", "--json", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("running stratus admin blocks");
    assert!(
        out.status.success(),
        "stratus admin blocks: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("admin blocks --json prints JSON");
    all["anonymous"].clone()
}

/// (level, resolution, min, max, source) of every live block.
fn blocks(cat: &serde_json::Value) -> Vec<(i64, i64, i64, i64, String)> {
    cat["blocks"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| {
                    (
                        b["level"].as_i64().unwrap_or(-1),
                        b["resolution_ms"].as_i64().unwrap_or(-1),
                        b["min_time"].as_i64().unwrap_or(-1),
                        b["max_time"].as_i64().unwrap_or(-1),
                        b["source"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// True when the data is in three day blocks, each with a 5 m and a 1 h
/// rollup, and nothing else.
fn has_day_blocks_and_rollups(cat: &serde_json::Value, day0: i64) -> bool {
    let b = blocks(cat);
    let ids: Vec<&str> = cat["blocks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    (0..3).all(|d| {
        let (min, max) = (day0 + d * DAY, day0 + (d + 1) * DAY);
        let Some(raw_id) = ids
            .iter()
            .zip(&b)
            .find_map(|(id, b)| (b.0 == 3 && b.1 == 0 && b.2 == min && b.3 == max).then_some(id))
        else {
            return false;
        };
        ROLLUP_STEPS.iter().all(|&step| {
            b.iter()
                .any(|x| x.1 == step && x.2 == min && x.3 == max && x.4 == **raw_id)
        })
    }) && b.len() == 9
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollup_answers_match_prometheus() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_stratus"));
    let Pair {
        stratus,
        prometheus: prom,
        data_dir,
    } = start_pair(
        bin,
        dir.path(),
        &[
            // Backfill: the data is 2 to 5 days old.
            "--max-sample-age",
            "6d",
            // Only the passes this test runs compact.
            "--compaction-interval",
            "24h",
        ],
        &["--storage.tsdb.retention.time=3650d"],
    );

    // Three whole UTC days ending at least a day before now.
    let day0 = now_ms().div_euclid(DAY) * DAY - 4 * DAY;
    let seed = std::env::var("STRATUS_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let data = Data::generate(seed, day0);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let (s_base, p_base) = (stratus.url(""), prom.url(""));
    let batches = data.batches(SLOTS_PER_BATCH);
    write_all(&client, &stratus.url("/api/v1/write"), &batches).await;
    write_all(&client, &prom.url("/api/v1/write"), &batches).await;
    let end = day0 + 3 * DAY;
    let loaded = wait_for_data(
        &client,
        [&s_base, &p_base],
        &data.series,
        end,
        "4d",
        Duration::from_secs(120),
    )
    .await;
    println!(
        "rollup differential: seed {seed}, {} series from {} to {}, loaded {loaded} into both in {:.1}s ({} requests each)",
        data.series.len(),
        seconds(day0),
        seconds(end),
        began.elapsed().as_secs_f64(),
        batches.len()
    );

    // Day blocks and rollups, as a backfill is compacted: a pass as of the
    // day after the data. The planner judges a segment old enough by its
    // ULID (the time it was written) against the later of `--now` and the
    // clock, so the segments written a moment ago are taken once the
    // segment grace allows (0 here); their 2 h ranges and days are settled
    // as of `--now` (merge delay 1 h): one pass writes level-1 blocks,
    // merges them into day blocks and makes the 5 m and 1 h rollups.
    let as_of = end + DAY;
    let mut passes = 0;
    let cat = loop {
        compactor_pass(bin, &data_dir, as_of, &["--segment-grace", "0s"]);
        passes += 1;
        let cat = catalog(bin, &data_dir);
        if has_day_blocks_and_rollups(&cat, day0) {
            break cat;
        }
        assert!(
            passes < 3,
            "after {passes} compactor passes the catalog is not three day blocks with 5m and 1h rollups: {:#?}",
            blocks(&cat)
        );
    };
    println!(
        "rollup differential: {passes} compactor pass(es); catalog: {:?}, segment watermark {}",
        blocks(&cat)
            .iter()
            .map(|b| format!("L{} res {} [{}, {})", b.0, b.1, seconds(b.2), seconds(b.3)))
            .collect::<Vec<_>>(),
        cat["segment_watermark_ms"]
    );
    // Everything is still there, counted from the blocks now (and from 1 h
    // rollups: an instant count over 4 d at a whole hour is exact there).
    wait_for_data(
        &client,
        [&s_base, &p_base],
        &data.series,
        end,
        "4d",
        Duration::from_secs(30),
    )
    .await;

    // Prometheus 2.42 has no mad_over_time: it is compared with Stratus's
    // raw-only answer instead.
    let mad = evaluation(day0, HOUR, true).request_path("mad_over_time(node_load1[1h])");
    let p = get_answer(&client, &p_base, &mad)
        .await
        .expect("prometheus");
    assert_eq!(
        p.json["status"], "error",
        "Prometheus 2.42 answers mad_over_time: compare it with Prometheus instead"
    );

    let queries = queries(day0);
    let n_queries = queries.len();
    let querying = Instant::now();
    let outcomes = run_queries(&client, &s_base, &p_base, queries).await;
    let query_secs = querying.elapsed().as_secs_f64();

    // Coverage: every step, both alignments, every template.
    let mut per_step: BTreeMap<&str, [usize; 2]> = BTreeMap::new();
    for o in &outcomes {
        per_step.entry(o.query.step).or_default()[usize::from(!o.query.aligned)] += 1;
    }
    assert_eq!(per_step.len(), STEPS.len(), "every step is queried");
    assert!(per_step.values().all(|c| c[0] > 0 && c[1] > 0));

    let mismatches: Vec<&Outcome> = outcomes.iter().filter(|o| o.mismatch.is_some()).collect();
    let wrong_source: Vec<String> = outcomes
        .iter()
        .filter(|o| {
            let want: Vec<String> = o.query.want_rollup.iter().map(|s| s.to_string()).collect();
            o.read_rollups != want
        })
        .map(|o| {
            format!(
                "{} (step {}, {}): the table says {}, stratus's infos say {:?}",
                o.query.text,
                o.query.step,
                if o.query.aligned {
                    "aligned"
                } else {
                    "unaligned"
                },
                o.query
                    .want_rollup
                    .map_or("raw samples".to_string(), |s| format!("{s} rollups")),
                o.read_rollups
            )
        })
        .collect();
    let from_rollups = outcomes
        .iter()
        .filter(|o| o.query.want_rollup.is_some())
        .count();
    let empty = outcomes.iter().filter(|o| o.points == 0).count();
    let total_points: usize = outcomes.iter().map(|o| o.points).sum();
    println!(
        "rollup differential: {n_queries} range queries ({} templates x {} steps x 2 alignments x {} ranges, plain selectors once, + {} spot checks) in {query_secs:.1}s; \
         {from_rollups} answered from rollups ({} from 1h, {} from 5m), {} from raw samples; {total_points} points compared, {empty} empty answers; \
         {} mismatches, {} answers reading other data than the table says; {per_step:?} (aligned, unaligned) per step",
        TEMPLATES.len(),
        STEPS.len(),
        RANGES.len(),
        SPOT_CHECKS.len(),
        outcomes.iter().filter(|o| o.query.want_rollup == Some("1h")).count(),
        outcomes.iter().filter(|o| o.query.want_rollup == Some("5m")).count(),
        n_queries - from_rollups,
        mismatches.len(),
        wrong_source.len(),
    );
    // Not vacuous: answers from rollups were compared, with points.
    assert!(
        outcomes
            .iter()
            .filter(|o| o.query.want_rollup == Some("1h") && o.points > 0)
            .count()
            > 10
            && outcomes
                .iter()
                .filter(|o| o.query.want_rollup == Some("5m") && o.points > 0)
                .count()
                > 10,
        "too few answers from rollups had data"
    );

    let mut report = String::new();
    if !mismatches.is_empty() {
        let _ = writeln!(
            report,
            "{} of {n_queries} queries differ from Prometheus; the first ones:",
            mismatches.len()
        );
        for o in mismatches.iter().take(8) {
            let _ = writeln!(
                report,
                "\n--- {} (step {}, {}, {}; stratus read {:?})\n    {}\n{}",
                o.query.text,
                o.query.step,
                if o.query.aligned {
                    "aligned"
                } else {
                    "unaligned"
                },
                o.query
                    .want_rollup
                    .map_or("raw samples by the table".to_string(), |s| format!(
                        "{s} rollups by the table"
                    )),
                o.read_rollups,
                o.query.eval,
                o.mismatch.as_deref().unwrap_or_default()
            );
        }
    }
    if !wrong_source.is_empty() {
        let _ = writeln!(
            report,
            "\n{} answers read other data than the README's table says:\n{}",
            wrong_source.len(),
            wrong_source
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(report.is_empty(), "{report}");
    println!(
        "rollup differential: done in {:.1}s",
        began.elapsed().as_secs_f64()
    );
}
