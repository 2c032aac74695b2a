//! The PromQL compliance tester's query set (prometheus/compliance,
//! `promql/promql-test-queries.yml`, vendored in `conformance/compliance`)
//! and data shaped like PromLabs' demo service, for the differential test
//! `cli/tests/promql_compliance.rs`.
//!
//! Each entry of the set is a query, optionally a Go template over the
//! `variant_args` it names; every combination of their values (the tester's
//! lists, [`VARIANTS`]) is one query. Only `{{.name}}` actions are
//! supported, which is all the file uses: anything else fails loudly.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::differential::{Rng, STALE_NAN};
use crate::rw::SeriesData;

/// The variant values of the compliance tester (its `main.go`).
pub const VARIANTS: &[(&str, &[&str])] = &[
    ("range", &["1s", "15s", "1m", "5m", "15m", "1h"]),
    ("offset", &["1m", "5m", "10m"]),
    (
        "simpleAggrOp",
        &["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
    ),
    (
        "simpleTimeAggrOp",
        &[
            "sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last",
        ],
    ),
    ("topBottomOp", &["topk", "bottomk"]),
    (
        "quantile",
        &[
            "-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5",
        ],
    ),
    ("arithBinOp", &["+", "-", "*", "/", "%", "^"]),
    ("compBinOp", &["==", "!=", "<", ">", "<=", ">="]),
    (
        "binOp",
        &[
            "+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">=",
        ],
    ),
    (
        "simpleMathFunc",
        &[
            "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round",
        ],
    ),
    ("extrapolatedRateFunc", &["delta", "rate", "increase"]),
    ("clampFunc", &["clamp_min", "clamp_max"]),
    ("instantRateFunc", &["idelta", "irate"]),
    (
        "dateFunc",
        &[
            "day_of_month",
            "day_of_week",
            "days_in_month",
            "hour",
            "minute",
            "month",
            "year",
        ],
    ),
    ("smoothingFactor", &["0.1", "0.5", "0.8"]),
    ("trendFactor", &["0.1", "0.5", "0.8"]),
];

/// One expanded query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceQuery {
    /// The entry's query text as written (the template).
    pub template: String,
    pub query: String,
    pub should_fail: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    test_cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    query: String,
    #[serde(default)]
    variant_args: Vec<String>,
    #[serde(default)]
    should_fail: bool,
}

/// `$PROMQL_COMPLIANCE_QUERIES`, else the vendored copy.
pub fn queries_path() -> PathBuf {
    std::env::var_os("PROMQL_COMPLIANCE_QUERIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("conformance/compliance/promql-test-queries.yml")
        })
}

/// Reads and expands the query set.
pub fn load(path: &Path) -> anyhow::Result<Vec<ComplianceQuery>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    parse(&text)
}

/// Parses and expands YAML text of the query set.
pub fn parse(text: &str) -> anyhow::Result<Vec<ComplianceQuery>> {
    let file: File = serde_yaml::from_str(text).context("parsing the query set")?;
    let mut out = Vec::new();
    for case in &file.test_cases {
        for query in expand(&case.query, &case.variant_args)? {
            out.push(ComplianceQuery {
                template: case.query.clone(),
                query,
                should_fail: case.should_fail,
            });
        }
    }
    Ok(out)
}

/// Every combination of the values of `args` substituted into `template`,
/// the first argument varying slowest (as the tester's nesting does).
pub fn expand(template: &str, args: &[String]) -> anyhow::Result<Vec<String>> {
    let mut values: Vec<(&str, &[&str])> = Vec::new();
    for a in args {
        let Some(&(name, vals)) = VARIANTS.iter().find(|(n, _)| n == a) else {
            bail!("{template:?}: unknown variant argument {a:?}");
        };
        if values.iter().any(|(n, _)| *n == name) {
            bail!("{template:?}: variant argument {a:?} given twice");
        }
        values.push((name, vals));
    }
    // Check the template once, with the argument names only.
    let used = actions(template)?;
    for u in &used {
        if !values.iter().any(|(n, _)| n == u) {
            bail!("{template:?}: {{{{.{u}}}}} is not among variant_args {args:?}");
        }
    }
    for (n, _) in &values {
        if !used.iter().any(|u| u == n) {
            bail!("{template:?}: variant argument {n:?} is not used");
        }
    }
    let mut combos: Vec<Vec<(&str, &str)>> = vec![vec![]];
    for (name, vals) in &values {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                vals.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((*name, *v));
                    c
                })
            })
            .collect();
    }
    combos
        .iter()
        .map(|c| substitute(template, c))
        .collect::<anyhow::Result<Vec<_>>>()
}

/// The names of the `{{.name}}` actions of a template; anything else
/// between `{{` and `}}`, or an unbalanced brace pair, is an error.
fn actions(template: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            bail!("{template:?}: unterminated {{{{");
        };
        let inner = &after[..j];
        let name = inner
            .strip_prefix('.')
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
            .with_context(|| {
                format!("{template:?}: unsupported template action {{{{{inner}}}}}")
            })?;
        out.push(name.to_string());
        rest = &after[j + 2..];
    }
    if rest.contains("}}") {
        bail!("{template:?}: stray }}}}");
    }
    Ok(out)
}

fn substitute(template: &str, values: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find("{{.") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let j = after.find("}}").context("unterminated action")?;
        let name = &after[..j];
        let v = values
            .iter()
            .find(|(n, _)| *n == name)
            .with_context(|| format!("no value for {name}"))?;
        out.push_str(v.1);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Scrape interval of the demo service in the tester's configuration.
pub const DEMO_INTERVAL_MS: i64 = 5_000;
/// Scrapes per target: 2 h 30 min.
pub const DEMO_SLOTS: usize = 1_800;
/// The targets (job "demo").
pub const DEMO_INSTANCES: [&str; 3] = [
    "demo.promlabs.com:10000",
    "demo.promlabs.com:10001",
    "demo.promlabs.com:10002",
];
/// Slots at which a target's process restarts (its counters reset).
const RESTARTS: [&[usize]; 3] = [&[], &[1_200], &[600, 1_500]];
/// Lives of `demo_intermittent_metric` per target, as slot ranges; it is
/// stale (a staleness marker) at the end of each.
const INTERMITTENT: [&[(usize, usize)]; 3] = [
    &[(0, 400), (520, 1_000), (1_080, 1_300), (1_420, DEMO_SLOTS)],
    &[(100, 900), (960, 1_450)],
    &[(0, DEMO_SLOTS)],
];
const CPU_MODES: [(&str, f64, f64); 3] = [
    ("idle", 2.5, 3.9),
    ("system", 0.05, 0.4),
    ("user", 0.2, 1.2),
];
const MEMORY_TYPES: [(&str, f64); 4] = [
    ("buffers", 1.5e8),
    ("cached", 7.0e8),
    ("free", 1.8e9),
    ("used", 1.3e9),
];
const METHODS: [&str; 2] = ["GET", "POST"];
const PATHS: [(&str, f64); 2] = [("/api/bar", 0.05), ("/api/foo", 0.2)];
const STATUSES: [&str; 2] = ["200", "500"];
const BUCKETS: [(&str, f64); 8] = [
    ("0.01", 0.01),
    ("0.025", 0.025),
    ("0.05", 0.05),
    ("0.1", 0.1),
    ("0.25", 0.25),
    ("0.5", 0.5),
    ("1", 1.0),
    ("+Inf", f64::INFINITY),
];

/// Data shaped like three demo-service targets scraped every 5 s from
/// `base_ms` on, deterministic for `seed`. Scrape timestamps are
/// `base + slot * 5 s + jitter` with the jitter in 1..=999 ms and never 500
/// (so no sample sits on a whole second nor on the `.500` of the
/// evaluation times: see difference 1 of `differential`). Samples of each
/// series are in time order.
pub fn demo_dataset(seed: u64, base_ms: i64) -> Vec<SeriesData> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<SeriesData> = Vec::new();
    for (i, instance) in DEMO_INSTANCES.iter().enumerate() {
        let offset = rng.int(40, 960);
        let ts: Vec<i64> = (0..=DEMO_SLOTS)
            .map(|s| {
                let mut j = (offset + rng.int(-30, 30)).clamp(1, 999);
                if j == 500 {
                    j -= 1;
                }
                base_ms + s as i64 * DEMO_INTERVAL_MS + j
            })
            .collect();
        let labels = |name: &str, extra: &[(&str, &str)]| {
            let mut l = vec![
                ("__name__".to_string(), name.to_string()),
                ("instance".to_string(), instance.to_string()),
                ("job".to_string(), "demo".to_string()),
            ];
            l.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
            l
        };
        let restarts = RESTARTS[i];
        let all = |f: &mut dyn FnMut(usize) -> f64| -> Vec<(i64, f64)> {
            (0..DEMO_SLOTS).map(|s| (ts[s], f(s))).collect()
        };

        // CPU counters: start at 0 and reset when the process restarts.
        for (mode, lo, hi) in CPU_MODES {
            let mut v = 0.0;
            let samples = all(&mut |s| {
                if restarts.contains(&s) {
                    v = 0.0;
                }
                if s > 0 {
                    v += rng.range(lo, hi) * DEMO_INTERVAL_MS as f64 / 1000.0 / 4.0;
                }
                v
            });
            out.push((
                labels("demo_cpu_usage_seconds_total", &[("mode", mode)]),
                samples,
            ));
        }
        // Memory gauges: integer random walks.
        for (ty, level) in MEMORY_TYPES {
            let mut v = (level * rng.range(0.8, 1.2)).round();
            let samples = all(&mut |_| {
                v = (v + (rng.range(-0.01, 0.01) * level).round()).max(1.0);
                v
            });
            out.push((labels("demo_memory_usage_bytes", &[("type", ty)]), samples));
        }
        let cpus = [4.0, 4.0, 8.0][i];
        out.push((labels("demo_num_cpus", &[]), all(&mut |_| cpus)));
        // Disk usage grows, with a clean-up now and then.
        let mut disk = (1.2e10 * rng.range(0.9, 1.1)).round();
        let samples = all(&mut |_| {
            if rng.chance(0.002) {
                disk = (disk * 0.7).round();
            }
            disk += rng.int(0, 40_000) as f64;
            disk
        });
        out.push((labels("demo_disk_usage_bytes", &[]), samples));
        // Batch job: succeeds about every 5 minutes, sometimes not.
        let mut last = (base_ms / 1000 - rng.int(0, 300)) as f64;
        let samples = all(&mut |s| {
            if s % 60 == 17 && !rng.chance(0.25) {
                last = (ts[s] / 1000) as f64;
            }
            last
        });
        out.push((
            labels("demo_batch_last_success_timestamp_seconds", &[]),
            samples,
        ));
        // The intermittent metric: several lives, stale after each.
        let mut samples = Vec::new();
        for &(start, end) in INTERMITTENT[i] {
            for &t in &ts[start..end] {
                samples.push((t, rng.int(0, 100) as f64));
            }
            if end < DEMO_SLOTS {
                samples.push((ts[end], STALE_NAN));
            }
        }
        out.push((labels("demo_intermittent_metric", &[]), samples));
        // Request latency histograms.
        for method in METHODS {
            for (path, mean) in PATHS {
                for status in STATUSES {
                    let rate = if status == "200" { 8 } else { 1 };
                    let mut buckets = [0.0f64; BUCKETS.len()];
                    let (mut sum, mut count) = (0.0, 0.0);
                    let mut rows: Vec<([f64; BUCKETS.len()], f64, f64)> = Vec::new();
                    for s in 0..DEMO_SLOTS {
                        if restarts.contains(&s) {
                            buckets = [0.0; BUCKETS.len()];
                            sum = 0.0;
                            count = 0.0;
                        }
                        if s > 0 {
                            for _ in 0..rng.int(0, rate) {
                                let latency = -mean * (1.0 - rng.unit()).ln();
                                for (b, (_, le)) in buckets.iter_mut().zip(BUCKETS) {
                                    if latency <= le {
                                        *b += 1.0;
                                    }
                                }
                                sum += latency;
                                count += 1.0;
                            }
                        }
                        rows.push((buckets, sum, count));
                    }
                    let extra = [("method", method), ("path", path), ("status", status)];
                    for (k, (le, _)) in BUCKETS.iter().enumerate() {
                        let mut l = extra.to_vec();
                        l.push(("le", le));
                        out.push((
                            labels("demo_api_request_duration_seconds_bucket", &l),
                            rows.iter().zip(&ts).map(|(r, t)| (*t, r.0[k])).collect(),
                        ));
                    }
                    out.push((
                        labels("demo_api_request_duration_seconds_sum", &extra),
                        rows.iter().zip(&ts).map(|(r, t)| (*t, r.1)).collect(),
                    ));
                    out.push((
                        labels("demo_api_request_duration_seconds_count", &extra),
                        rows.iter().zip(&ts).map(|(r, t)| (*t, r.2)).collect(),
                    ));
                }
            }
        }
    }
    out
}

/// Remote-write requests of `slots_per_batch` scrape slots each, in time
/// order (Prometheus's head takes in-order samples only).
pub fn demo_batches(
    data: &[SeriesData],
    base_ms: i64,
    slots_per_batch: usize,
) -> Vec<Vec<SeriesData>> {
    let slot_of = |t: i64| ((t - base_ms) / DEMO_INTERVAL_MS) as usize;
    crate::differential::time_batches(data, slot_of, DEMO_SLOTS, slots_per_batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_over_every_combination() {
        let q = expand(
            "{{.extrapolatedRateFunc}}(x[{{.range}}])",
            &["extrapolatedRateFunc".into(), "range".into()],
        )
        .expect("expands");
        assert_eq!(q.len(), 18);
        assert_eq!(q[0], "delta(x[1s])");
        assert_eq!(q[17], "increase(x[1h])");
        assert_eq!(expand("up", &[]).expect("plain"), vec!["up".to_string()]);
    }

    #[test]
    fn unsupported_templates_fail_loudly() {
        assert!(expand("{{.range}}", &[]).is_err());
        assert!(expand("x", &["range".into()]).is_err());
        assert!(expand("{{ .range }}", &["range".into()]).is_err());
        assert!(expand("{{if .range}}", &["range".into()]).is_err());
        assert!(expand("{{.nope}}", &["nope".into()]).is_err());
        assert!(expand("{{.range", &["range".into()]).is_err());
        assert!(parse("test_cases:\n- query: x\n  other: 1\n").is_err());
    }

    #[test]
    fn the_vendored_set_expands() {
        let q = load(&queries_path()).expect("loads");
        assert!(q.iter().all(|q| !q.query.contains("{{")));
        assert!(q.iter().any(|q| q.should_fail));
    }

    #[test]
    fn demo_data_is_deterministic_and_off_the_evaluation_grid() {
        let a = demo_dataset(7, 1_700_000_000_000);
        let b = demo_dataset(7, 1_700_000_000_000);
        assert_eq!(a.len(), b.len());
        assert_eq!(a[0].1, b[0].1);
        for (_, samples) in &a {
            assert!(samples.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(samples
                .iter()
                .all(|(t, _)| t % 1000 != 0 && t % 1000 != 500));
        }
    }
}
