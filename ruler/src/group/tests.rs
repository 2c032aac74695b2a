use std::sync::Arc;

use stratus_model::is_stale_nan;
use stratus_query::{Engine, EngineOptions, MemorySource, QueryValue, SeriesSource};

use super::*;
use crate::alert_rule::AlertState;
use crate::rulefile::parse_rule_file;

/// The query engine over an in-memory source, which also takes rule output.
struct Memory {
    source: Arc<MemorySource>,
    engine: Engine,
}

impl Memory {
    fn new() -> Self {
        let source = Arc::new(MemorySource::new());
        let dyn_source: Arc<dyn SeriesSource> = source.clone();
        Self {
            engine: Engine::new(dyn_source, EngineOptions::default()),
            source,
        }
    }

    fn add(&self, pairs: &[(&str, &str)], samples: &[(i64, f64)]) {
        let samples: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
        self.source.add(
            &TenantId::anonymous(),
            Labels::from_pairs(pairs.iter().copied()).expect("labels"),
            &samples,
        );
    }
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

#[async_trait]
impl RuleAppender for Memory {
    async fn append(&self, tenant: &TenantId, samples: &[(Labels, Sample)]) -> anyhow::Result<()> {
        for (l, s) in samples {
            self.source.add(tenant, l.clone(), &[*s]);
        }
        Ok(())
    }
}

fn group(src: &str) -> RuleGroup {
    parse_rule_file("t.yml", src)
        .expect("valid rules")
        .groups
        .remove(0)
}

async fn run(g: &RuleGroup, state: &mut GroupState, m: &Memory, t: i64) -> GroupEvaluation {
    let tenant = TenantId::anonymous();
    let none = BTreeMap::new();
    let ctx = EvalContext {
        tenant: &tenant,
        querier: m,
        appender: m,
        external_labels: &none,
        external_url: "",
    };
    evaluate_group(g, state, ctx, t).await
}

const CHAIN: &str = r#"groups:
- name: chain
  rules:
  - record: job:x:sum
    expr: sum by (job) (x)
    labels:
      src: rec
  - alert: High
    expr: job:x:sum > 5
    annotations:
      summary: "{{ $labels.job }} at {{ $value }}"
"#;

#[tokio::test]
async fn recording_rule_feeds_a_later_rule_in_the_same_evaluation() {
    let m = Memory::new();
    m.add(
        &[("__name__", "x"), ("job", "a"), ("i", "1")],
        &[(0, 1.0), (60_000, 4.0)],
    );
    m.add(
        &[("__name__", "x"), ("job", "a"), ("i", "2")],
        &[(0, 1.0), (60_000, 4.0)],
    );
    let g = group(CHAIN);
    let mut st = GroupState::default();
    let e0 = run(&g, &mut st, &m, 0).await;
    assert!(e0.errors.is_empty(), "{:?}", e0.errors);
    assert_eq!(e0.samples.len(), 1);
    assert_eq!(
        e0.samples[0].0.to_string(),
        r#"job:x:sum{job="a", src="rec"}"#
    );
    assert!(e0.alerts[0].alerts.is_empty());
    let e1 = run(&g, &mut st, &m, 60_000).await;
    let alerts = &e1.alerts[0].alerts;
    assert_eq!(alerts.len(), 1, "{e1:?}");
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(alerts[0].annotations["summary"], "a at 8");
    assert_eq!(alerts[0].labels["src"], "rec");
    let names: Vec<_> = e1
        .samples
        .iter()
        .map(|(l, _)| l.metric_name().unwrap_or(""))
        .collect();
    assert_eq!(names, ["job:x:sum", "ALERTS", "ALERTS_FOR_STATE"]);
    assert_eq!(st.last_evaluation_ms, Some(60_000));
}

#[tokio::test]
async fn vanished_series_get_staleness_markers() {
    let m = Memory::new();
    m.add(&[("__name__", "x"), ("job", "a")], &[(0, 9.0)]);
    m.add(
        &[("__name__", "x"), ("job", "b")],
        &[(0, 9.0), (400_000, 9.0)],
    );
    let g = group(CHAIN);
    let mut st = GroupState::default();
    run(&g, &mut st, &m, 0).await;
    // 400s later job a is past the 5m lookback.
    let e = run(&g, &mut st, &m, 400_000).await;
    let stale: Vec<String> = e
        .samples
        .iter()
        .filter(|(_, s)| is_stale_nan(s.v))
        .map(|(l, s)| format!("{l}@{}", s.t))
        .collect();
    assert_eq!(
        stale,
        [
            r#"job:x:sum{job="a", src="rec"}@400000"#,
            r#"ALERTS{alertname="High", alertstate="firing", job="a", src="rec"}@400000"#,
            r#"ALERTS_FOR_STATE{alertname="High", job="a", src="rec"}@400000"#,
        ]
    );
}

#[tokio::test]
async fn query_offset_shifts_queries_not_alert_times() {
    let m = Memory::new();
    m.add(
        &[("__name__", "up"), ("job", "a")],
        &[(0, 0.0), (60_000, 1.0)],
    );
    let g = group(
        "groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - alert: Down\n    expr: up == 0\n",
    );
    let mut st = GroupState::default();
    let e = run(&g, &mut st, &m, 60_000).await;
    assert_eq!(e.query_t_ms, 0);
    let a = &e.alerts[0].alerts[0];
    assert_eq!((a.state, a.active_at), (AlertState::Firing, 60_000));
    assert!(e.samples.iter().all(|(_, s)| s.t == 0));
    let e = run(&g, &mut st, &m, 120_000).await;
    assert_eq!(e.alerts[0].alerts[0].state, AlertState::Inactive);
}

#[tokio::test]
async fn a_failing_rule_does_not_stop_the_group() {
    let m = Memory::new();
    m.add(&[("__name__", "x"), ("job", "a")], &[(0, 1.0)]);
    m.add(&[("__name__", "x"), ("job", "b")], &[(0, 1.0)]);
    let g = group(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: x\n  - record: s\n    expr: sum(x)\n",
    );
    let mut st = GroupState::default();
    let e = run(&g, &mut st, &m, 0).await;
    assert_eq!(e.errors.len(), 1);
    assert_eq!(
        e.errors[0].to_string(),
        r#"rule 1 "r": exceeded limit of 1 with 2 series"#
    );
    assert_eq!(e.samples.len(), 1);
    assert_eq!(e.samples[0].0.to_string(), "s{}");
}

#[tokio::test]
async fn state_survives_serialisation_mid_for() {
    let m = Memory::new();
    m.add(
        &[("__name__", "up"), ("job", "a")],
        &[(0, 0.0), (60_000, 0.0), (120_000, 0.0)],
    );
    let g =
        group("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2m\n");
    let mut st = GroupState::default();
    run(&g, &mut st, &m, 0).await;
    run(&g, &mut st, &m, 60_000).await;
    let json = serde_json::to_string(&st).expect("serialise");
    let mut restored: GroupState = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(restored, st);
    let e = run(&g, &mut restored, &m, 120_000).await;
    let a = &e.alerts[0].alerts[0];
    assert_eq!(
        (a.state, a.active_at, a.fired_at),
        (AlertState::Firing, 0, Some(120_000))
    );
}

struct Failing;

#[async_trait]
impl RuleQuerier for Failing {
    async fn instant(&self, _: &TenantId, _: &str, _: i64) -> anyhow::Result<Vec<(Labels, f64)>> {
        anyhow::bail!("engine unavailable")
    }
}

#[tokio::test]
async fn a_failed_query_leaves_alerts_as_they_were() {
    let m = Memory::new();
    m.add(&[("__name__", "up"), ("job", "a")], &[(0, 0.0)]);
    let g = group("groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n");
    let mut st = GroupState::default();
    run(&g, &mut st, &m, 0).await;
    let tenant = TenantId::anonymous();
    let none = BTreeMap::new();
    let ctx = EvalContext {
        tenant: &tenant,
        querier: &Failing,
        appender: &DiscardAppender,
        external_labels: &none,
        external_url: "",
    };
    let e = evaluate_group(&g, &mut st, ctx, 60_000).await;
    assert_eq!(e.errors.len(), 1);
    assert!(
        e.errors[0].message.contains("engine unavailable"),
        "{}",
        e.errors[0]
    );
    assert!(e.samples.is_empty());
    assert_eq!(e.alerts[0].alerts[0].state, AlertState::Firing);
    assert_eq!(e.alerts[0].alerts[0].resolved_at, None);
}
