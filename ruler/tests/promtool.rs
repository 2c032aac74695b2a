//! Differential test against Prometheus: rule files evaluated by the Stratus
//! ruler over the Stratus query engine, then handed to `promtool test
//! rules` (Debian package `prometheus`) with the same input series and, as
//! expectations, exactly the firing alerts the ruler produced at every
//! evaluation. promtool passes only if its alerts, labels and annotations
//! are the same at the same times. The recorded series are compared too:
//! each recording rule's metric is queried at every evaluation on both sides
//! (`promql_expr_test`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use stratus_model::{Labels, Sample, TenantId};
use stratus_query::{Engine, EngineOptions, MemorySource, QueryValue, SeriesSource};
use stratus_ruler::{
    evaluate_group, parse_rule_file, AlertState, EvalContext, GroupState, PromDuration,
    RuleAppender, RuleQuerier,
};

const PROMTOOL: &str = "promtool";

struct Memory {
    source: Arc<MemorySource>,
    engine: Engine,
}

#[async_trait]
impl RuleQuerier for Memory {
    async fn instant(
        &self,
        tenant: &TenantId,
        expr: &str,
        at: i64,
    ) -> anyhow::Result<Vec<(Labels, f64)>> {
        Ok(match self.engine.instant(tenant, expr, at).await?.value {
            QueryValue::Vector(v) => v.into_iter().map(|(l, s)| (l, s.v)).collect(),
            QueryValue::Scalar { v, .. } => vec![(Labels::default(), v)],
            other => anyhow::bail!("unexpected result {other:?}"),
        })
    }
}

/// Rule output goes back into the source, as the ingest path would.
#[async_trait]
impl RuleAppender for Memory {
    async fn append(&self, tenant: &TenantId, samples: &[(Labels, Sample)]) -> anyhow::Result<()> {
        for (l, s) in samples {
            self.source.add(tenant, l.clone(), &[*s]);
        }
        Ok(())
    }
}

/// One input series: a selector and a value per step (`None`: no sample).
struct Series {
    selector: &'static str,
    values: Vec<Option<f64>>,
}

struct Case {
    rules: &'static str,
    interval_ms: i64,
    steps: usize,
    series: Vec<Series>,
}

fn labels_of(selector: &str) -> Labels {
    let expr = promql_selector(selector);
    Labels::from_pairs(expr).expect("labels")
}

/// Parses `name{a="b",...}` (plain values, no escapes) into pairs.
fn promql_selector(s: &str) -> Vec<(String, String)> {
    let (name, rest) = s.split_once('{').unwrap_or((s, "}"));
    let mut out = vec![("__name__".to_string(), name.to_string())];
    for pair in rest
        .trim_end_matches('}')
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').expect("label pair");
        out.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
    }
    out
}

/// Firing alerts by evaluation time and alert name, as the ruler saw them.
type Firing = BTreeMap<i64, BTreeMap<String, Vec<Value>>>;

/// What the ruler produced over the whole run.
struct Observed {
    firing: Firing,
    /// Per evaluation time and recording-rule metric, the query result of
    /// that metric just after the evaluation, as promtool's `exp_samples`.
    recorded: Firing,
}

async fn ruler_alerts(case: &Case) -> Observed {
    let source = Arc::new(MemorySource::new());
    let dyn_source: Arc<dyn SeriesSource> = source.clone();
    let m = Memory {
        engine: Engine::new(dyn_source, EngineOptions::default()),
        source,
    };
    let tenant = TenantId::anonymous();
    for s in &case.series {
        let samples: Vec<Sample> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| Sample::new(i as i64 * case.interval_ms, v)))
            .collect();
        m.source.add(&tenant, labels_of(s.selector), &samples);
    }
    let rf = parse_rule_file("rules.yml", case.rules).expect("rule file is valid");
    let alert_names: Vec<String> = rf
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().filter_map(|r| r.alert.clone()))
        .collect();
    let mut states = vec![GroupState::default(); rf.groups.len()];
    let none = BTreeMap::new();
    let record_names: Vec<String> = rf
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().filter_map(|r| r.record.clone()))
        .collect();
    let mut firing = Firing::new();
    let mut recorded = Firing::new();
    for step in 0..case.steps {
        let t = step as i64 * case.interval_ms;
        let at = firing.entry(t).or_default();
        for name in &alert_names {
            at.entry(name.clone()).or_default();
        }
        for (g, st) in rf.groups.iter().zip(states.iter_mut()) {
            let ctx = EvalContext {
                tenant: &tenant,
                querier: &m,
                appender: &m,
                external_labels: &none,
                external_url: "",
            };
            let e = evaluate_group(g, st, ctx, t).await;
            assert!(e.errors.is_empty(), "ruler errors at {t}: {:?}", e.errors);
            for ra in e.alerts {
                let list = at.entry(ra.rule).or_default();
                for a in ra.alerts.iter().filter(|a| a.state == AlertState::Firing) {
                    list.push(json!({
                        "exp_labels": a.labels.iter()
                            .filter(|(k, _)| k.as_str() != "alertname")
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect::<serde_json::Map<_, _>>(),
                        "exp_annotations": a.annotations,
                    }));
                }
            }
        }
        for name in &record_names {
            let got = m
                .instant(&tenant, name, t)
                .await
                .expect("query recorded series");
            let samples = got
                .into_iter()
                .map(|(l, v)| {
                    assert!(v.is_finite(), "{l} = {v} at {t}: JSON cannot carry it");
                    json!({ "labels": l.to_string(), "value": v })
                })
                .collect();
            recorded.entry(t).or_default().insert(name.clone(), samples);
        }
    }
    Observed { firing, recorded }
}

fn values_text(values: &[Option<f64>]) -> String {
    values
        .iter()
        .map(|v| v.map_or("_".to_string(), |v| v.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn promtool_test(case: &Case, observed: &Observed) -> String {
    let interval = PromDuration::from_millis(case.interval_ms).to_string();
    let mut expr_tests = Vec::new();
    for (t, by_name) in &observed.recorded {
        for (name, samples) in by_name {
            expr_tests.push(json!({
                "expr": name,
                "eval_time": PromDuration::from_millis(*t).to_string(),
                "exp_samples": samples,
            }));
        }
    }
    let mut tests = Vec::new();
    for (t, by_name) in &observed.firing {
        for (name, alerts) in by_name {
            tests.push(json!({
                "eval_time": PromDuration::from_millis(*t).to_string(),
                "alertname": name,
                "exp_alerts": alerts,
            }));
        }
    }
    let doc = json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": interval,
        "tests": [{
            "interval": interval,
            "input_series": case.series.iter().map(|s| json!({
                "series": s.selector,
                "values": values_text(&s.values),
            })).collect::<Vec<_>>(),
            "alert_rule_test": tests,
            "promql_expr_test": expr_tests,
        }],
    });
    serde_yaml::to_string(&doc).expect("yaml")
}

/// Runs `promtool test rules`; Ok on exit 0, Err with its output otherwise.
fn promtool(dir: &Path, rules: &str, test: &str) -> Result<String, String> {
    std::fs::write(dir.join("rules.yml"), rules).expect("write rules");
    std::fs::write(dir.join("test.yml"), test).expect("write test");
    let out = Command::new(PROMTOOL)
        .current_dir(dir)
        // humanizeTimestamp prints local time in Prometheus.
        .env("TZ", "UTC")
        .args(["test", "rules", "test.yml"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {PROMTOOL} ({e}): install Debian's `prometheus` package \
                 (scripts/install-test-deps.sh does)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Evaluates `case` with the ruler, checks promtool agrees, and returns the
/// number of firing alert instances compared.
async fn agree_with_promtool(case: &Case) -> usize {
    let observed = ruler_alerts(case).await;
    let test = promtool_test(case, &observed);
    let dir = tempfile::tempdir().expect("tempdir");
    if let Err(out) = promtool(dir.path(), case.rules, &test) {
        panic!("promtool disagrees with the ruler:\n{out}\n--- test file ---\n{test}");
    }
    observed
        .firing
        .values()
        .flat_map(|m| m.values())
        .map(Vec::len)
        .sum()
}

fn vals(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().map(|&v| Some(v)).collect()
}

/// `start+step x n` as promtool expands it: n+1 values.
fn ramp(start: f64, step: f64, n: usize) -> Vec<Option<f64>> {
    (0..=n).map(|i| Some(start + step * i as f64)).collect()
}

fn threshold_case() -> Case {
    let mut flapping = vals(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    flapping.extend([None; 7]);
    flapping.extend(vals(&[0.0, 0.0, 0.0, 1.0]));
    Case {
        rules: r#"groups:
- name: threshold
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 1m
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
      value: "{{ $value }}"
"#,
        interval_ms: 30_000,
        steps: 20,
        series: vec![
            Series {
                selector: r#"up{job="node",instance="a"}"#,
                values: flapping,
            },
            Series {
                selector: r#"up{job="node",instance="b"}"#,
                values: vals(&[0.0; 20]),
            },
            Series {
                selector: r#"up{job="node",instance="c"}"#,
                values: vals(&[1.0; 20]),
            },
        ],
    }
}

#[tokio::test]
async fn threshold_with_for_matches_promtool() {
    let n = agree_with_promtool(&threshold_case()).await;
    assert!(n > 20, "the case must fire alerts to compare, fired {n}");
}

#[tokio::test]
async fn keep_firing_for_matches_promtool() {
    let errors = vals(&[
        0.0, 10.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ]);
    let case = Case {
        rules: r#"groups:
- name: keep
  rules:
  - alert: Errors
    expr: errors > 5
    keep_firing_for: 3m
    labels:
      team: core
  - alert: ErrorsPending
    expr: errors > 5
    for: 1m
    keep_firing_for: 2m
"#,
        interval_ms: 60_000,
        steps: 16,
        series: vec![Series {
            selector: r#"errors{job="api"}"#,
            values: errors,
        }],
    };
    let n = agree_with_promtool(&case).await;
    assert!(n > 8, "fired {n}");
}

#[tokio::test]
async fn recording_rule_feeding_an_alert_matches_promtool() {
    // A counter with a reset, and one growing steadily. The range (150s)
    // is not a multiple of the sample interval on purpose: Debian's promtool
    // is Prometheus 2, whose windows include a sample exactly on the left
    // edge; the Stratus engine follows Prometheus 3 (left-open windows).
    let mut reset = ramp(0.0, 12.0, 12);
    reset.extend(ramp(0.0, 30.0, 11));
    let case = Case {
        rules: r#"groups:
- name: rates
  rules:
  - record: job:http_errors:rate150s
    expr: sum by (job) (rate(http_requests_total{code="500"}[150s]))
  - record: job:http_requests:rate150s
    expr: sum by (job) (rate(http_requests_total[150s]))
  - record: job:http_error_ratio:rate150s
    expr: job:http_errors:rate150s / job:http_requests:rate150s
    labels:
      kind: ratio
  - alert: HighErrorRatio
    expr: job:http_error_ratio:rate150s > 0.2
    for: 2m
    labels:
      severity: ticket
    annotations:
      summary: "{{ $labels.job }}: {{ $value | humanizePercentage }} errors"
      rate: "{{ humanize $value }}"
      value: "{{ $value }}"
"#,
        interval_ms: 60_000,
        steps: 25,
        series: vec![
            Series {
                selector: r#"http_requests_total{job="api",code="500"}"#,
                values: reset,
            },
            Series {
                selector: r#"http_requests_total{job="api",code="200"}"#,
                values: ramp(0.0, 60.0, 24),
            },
            Series {
                selector: r#"http_requests_total{job="web",code="500"}"#,
                values: ramp(0.0, 1.0, 24),
            },
            Series {
                selector: r#"http_requests_total{job="web",code="200"}"#,
                values: ramp(0.0, 100.0, 24),
            },
        ],
    };
    let n = agree_with_promtool(&case).await;
    assert!(n > 5, "fired {n}");
}

#[tokio::test]
async fn templated_labels_and_annotations_match_promtool() {
    let case = Case {
        rules: r#"groups:
- name: templates
  rules:
  - alert: DiskFilling
    expr: disk_free_bytes < 5e9
    for: 30s
    labels:
      severity: "{{ if lt $value 2e9 }}critical{{ else }}warning{{ end }}"
      host: "{{ $labels.instance }}-disk"
    annotations:
      summary: "{{ $labels.instance }} has {{ humanize $value }}B free"
      exact: "{{ printf \"%.2f\" $value }} bytes, {{ $value }}"
      uptime: "{{ humanizeDuration 3725 }} / {{ humanizeDuration 0.25 }} since {{ humanizeTimestamp 1700000000.5 }}"
      static: plain text
      role: "{{ if eq $labels.instance \"db1\" }}primary{{ else if eq .Labels.instance \"db2\" }}{{ title \"replica node\" }}{{ end }}"
"#,
        interval_ms: 30_000,
        steps: 14,
        series: vec![
            Series {
                selector: r#"disk_free_bytes{instance="db1"}"#,
                values: ramp(8e9, -0.75e9, 13),
            },
            Series {
                selector: r#"disk_free_bytes{instance="db2"}"#,
                values: ramp(4.5e9, 123_456.789, 13),
            },
        ],
    };
    let n = agree_with_promtool(&case).await;
    assert!(n > 10, "fired {n}");
}

/// The comparison can fail: promtool rejects expectations that are off by
/// one `for` step.
#[tokio::test]
async fn promtool_rejects_alerts_that_differ() {
    let case = threshold_case();
    let observed = ruler_alerts(&case).await;
    let test = promtool_test(&case, &observed);
    let dir = tempfile::tempdir().expect("tempdir");
    promtool(dir.path(), case.rules, &test).expect("promtool agrees on the real rules");
    let longer = case.rules.replace("for: 1m", "for: 90s");
    let out = promtool(dir.path(), &longer, &test)
        .expect_err("promtool must notice alerts firing one step late");
    assert!(out.contains("InstanceDown"), "{out}");
}
