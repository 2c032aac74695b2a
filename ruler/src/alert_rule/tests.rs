use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("labels")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Fixture {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    none: BTreeMap<String, String>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            labels: map(&[("severity", "page"), ("inst", "{{ $labels.instance }}")]),
            annotations: map(&[("summary", "value {{ $value }}")]),
            none: BTreeMap::new(),
        }
    }

    fn rule(&self, for_ms: i64, keep_ms: i64) -> AlertingRule<'_> {
        AlertingRule {
            name: "Down",
            for_ms,
            keep_firing_for_ms: keep_ms,
            labels: &self.labels,
            annotations: &self.annotations,
            external_labels: &self.none,
            external_url: "",
        }
    }
}

fn up() -> Vec<(Labels, f64)> {
    vec![(labels(&[("__name__", "up"), ("instance", "a")]), 0.0)]
}

fn only(state: &AlertingRuleState) -> &Alert {
    assert_eq!(state.active.len(), 1, "{state:?}");
    state.active.values().next().expect("one alert")
}

#[test]
fn pending_then_firing_then_resolved_then_forgotten() {
    let f = Fixture::new();
    let r = f.rule(60_000, 0);
    let mut s = AlertingRuleState::default();
    r.eval(&mut s, &up(), 0, 0, 0).expect("eval");
    assert_eq!(only(&s).state, AlertState::Pending);
    assert_eq!(only(&s).active_at, 0);
    r.eval(&mut s, &up(), 30_000, 30_000, 0).expect("eval");
    assert_eq!(only(&s).state, AlertState::Pending);
    let out = r.eval(&mut s, &up(), 60_000, 60_000, 0).expect("eval");
    let a = only(&s);
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.fired_at, Some(60_000));
    assert_eq!(
        a.labels,
        map(&[
            ("alertname", "Down"),
            ("inst", "a"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );
    assert_eq!(a.annotations, map(&[("summary", "value 0")]));
    assert_eq!(out.len(), 2);
    let resolved_out = r.eval(&mut s, &[], 90_000, 90_000, 0).expect("eval");
    assert!(
        resolved_out.is_empty(),
        "resolved alerts write no ALERTS sample"
    );
    let a = only(&s);
    assert_eq!(a.state, AlertState::Inactive);
    assert_eq!(a.resolved_at, Some(90_000));
    // Kept 15 minutes after resolving, then dropped.
    r.eval(&mut s, &[], 90_000 + RESOLVED_RETENTION_MS, 0, 0)
        .expect("eval");
    assert_eq!(s.active.len(), 1);
    r.eval(&mut s, &[], 120_000 + RESOLVED_RETENTION_MS, 0, 0)
        .expect("eval");
    assert!(s.active.is_empty());
}

#[test]
fn pending_alert_that_disappears_is_dropped_and_restarts() {
    let f = Fixture::new();
    let r = f.rule(60_000, 0);
    let mut s = AlertingRuleState::default();
    r.eval(&mut s, &up(), 0, 0, 0).expect("eval");
    r.eval(&mut s, &[], 30_000, 30_000, 0).expect("eval");
    assert!(s.active.is_empty());
    r.eval(&mut s, &up(), 60_000, 60_000, 0).expect("eval");
    assert_eq!(only(&s).active_at, 60_000);
    assert_eq!(only(&s).state, AlertState::Pending);
}

#[test]
fn resolved_alert_that_returns_starts_pending_again() {
    let f = Fixture::new();
    let r = f.rule(0, 0);
    let mut s = AlertingRuleState::default();
    r.eval(&mut s, &up(), 0, 0, 0).expect("eval");
    assert_eq!(only(&s).state, AlertState::Firing, "for: 0 fires at once");
    r.eval(&mut s, &[], 60_000, 60_000, 0).expect("eval");
    assert_eq!(only(&s).state, AlertState::Inactive);
    r.eval(&mut s, &up(), 120_000, 120_000, 0).expect("eval");
    let a = only(&s);
    assert_eq!(
        (a.state, a.active_at, a.resolved_at),
        (AlertState::Firing, 120_000, None)
    );
}

#[test]
fn keep_firing_for_counts_from_the_first_missing_evaluation() {
    let f = Fixture::new();
    let r = f.rule(0, 120_000);
    let mut s = AlertingRuleState::default();
    r.eval(&mut s, &up(), 0, 0, 0).expect("eval");
    for t in [60_000, 120_000] {
        let out = r.eval(&mut s, &[], t, t, 0).expect("eval");
        assert_eq!(only(&s).state, AlertState::Firing, "at {t}");
        assert_eq!(only(&s).keep_firing_since, Some(60_000));
        assert_eq!(out.len(), 2, "a kept alert still writes ALERTS");
    }
    r.eval(&mut s, &[], 180_000, 180_000, 0).expect("eval");
    assert_eq!(only(&s).state, AlertState::Inactive);
    assert_eq!(only(&s).resolved_at, Some(180_000));

    // Matching again resets the keep-firing clock.
    let mut s = AlertingRuleState::default();
    r.eval(&mut s, &up(), 0, 0, 0).expect("eval");
    r.eval(&mut s, &[], 60_000, 60_000, 0).expect("eval");
    r.eval(&mut s, &up(), 120_000, 120_000, 0).expect("eval");
    assert_eq!(only(&s).keep_firing_since, None);
    r.eval(&mut s, &[], 180_000, 180_000, 0).expect("eval");
    r.eval(&mut s, &[], 240_000, 240_000, 0).expect("eval");
    assert_eq!(only(&s).state, AlertState::Firing);
}

#[test]
fn alerts_series_match_prometheus() {
    let f = Fixture::new();
    let r = f.rule(60_000, 0);
    let mut s = AlertingRuleState::default();
    let out = r.eval(&mut s, &up(), 61_500, 1_500, 0).expect("eval");
    let base = [
        ("alertname", "Down"),
        ("inst", "a"),
        ("instance", "a"),
        ("severity", "page"),
    ];
    let mut alerts = base.to_vec();
    alerts.extend([("__name__", "ALERTS"), ("alertstate", "pending")]);
    let mut for_state = base.to_vec();
    for_state.push(("__name__", "ALERTS_FOR_STATE"));
    assert_eq!(
        out,
        vec![
            (labels(&alerts), Sample::new(1_500, 1.0)),
            (labels(&for_state), Sample::new(1_500, 61.0)),
        ]
    );
}

#[test]
fn limit_and_duplicate_label_sets_are_errors() {
    let f = Fixture::new();
    let r = f.rule(0, 0);
    let mut s = AlertingRuleState::default();
    let two = vec![
        (labels(&[("instance", "a")]), 1.0),
        (labels(&[("instance", "b")]), 1.0),
    ];
    let e = r.eval(&mut s, &two, 0, 0, 1).expect_err("over limit");
    assert_eq!(e, "exceeded limit of 1 with 2 alerts");
    assert!(s.active.is_empty());
    r.eval(&mut s, &two, 0, 0, 2).expect("at limit");
    let dup = vec![
        (labels(&[("__name__", "x"), ("instance", "a")]), 1.0),
        (labels(&[("__name__", "y"), ("instance", "a")]), 1.0),
    ];
    let e = r.eval(&mut s, &dup, 0, 0, 0).expect_err("duplicate");
    assert!(e.contains("same labelset"), "{e}");
}

#[test]
fn state_round_trips_through_json() {
    let f = Fixture::new();
    let r = f.rule(60_000, 60_000);
    let mut s = AlertingRuleState::default();
    let mut both = up();
    both.push((labels(&[("instance", "b")]), f64::NAN));
    r.eval(&mut s, &both, 0, 0, 0).expect("eval");
    r.eval(&mut s, &up(), 60_000, 60_000, 0).expect("eval");
    let json = serde_json::to_string(&s).expect("serialise");
    let back: AlertingRuleState = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, s);
    assert_eq!(only(&back).fired_at, Some(60_000));
    let mut s = AlertingRuleState::default();
    r.eval(&mut s, &both[1..], 0, 0, 0).expect("eval");
    let json = serde_json::to_string(&s).expect("serialise");
    let back: AlertingRuleState = serde_json::from_str(&json).expect("deserialise");
    assert!(only(&back).value.is_nan());
}
