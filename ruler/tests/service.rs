//! The stateless ruler service over an in-memory bucket, with a scripted
//! querier (values per expression and timestamp), and an appender and a
//! sender that record what they get.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use stratus_model::{Labels, Sample, TenantId};
use stratus_ruler::{
    api, history, AlertSender, HistoryFilter, OutgoingAlert, RuleAppender, RuleQuerier, RuleStore,
    Ruler, RulerOptions, Transition,
};
use stratus_storage::Bucket;

type Script = dyn Fn(&str, i64) -> anyhow::Result<Vec<(Labels, f64)>> + Send + Sync;

/// Answers from a script; `yield_first` makes every query yield once, so
/// concurrent rulers interleave.
struct Scripted {
    script: Box<Script>,
    yield_first: bool,
}

#[async_trait]
impl RuleQuerier for Scripted {
    async fn instant(
        &self,
        _: &TenantId,
        expr: &str,
        at_ms: i64,
    ) -> anyhow::Result<Vec<(Labels, f64)>> {
        if self.yield_first {
            tokio::task::yield_now().await;
        }
        (self.script)(expr, at_ms)
    }
}

#[derive(Default)]
struct Appended(Mutex<Vec<(Labels, Sample)>>);

#[async_trait]
impl RuleAppender for Appended {
    async fn append(&self, _: &TenantId, samples: &[(Labels, Sample)]) -> anyhow::Result<()> {
        self.0.lock().expect("lock").extend(samples.iter().cloned());
        Ok(())
    }
}

impl Appended {
    fn all(&self) -> Vec<(Labels, Sample)> {
        self.0.lock().expect("lock").clone()
    }
}

#[derive(Default)]
struct Sent(Mutex<Vec<(TenantId, OutgoingAlert)>>);

#[async_trait]
impl AlertSender for Sent {
    async fn send(&self, tenant: &TenantId, alerts: Vec<OutgoingAlert>) -> anyhow::Result<()> {
        let mut s = self.0.lock().expect("lock");
        s.extend(alerts.into_iter().map(|a| (tenant.clone(), a)));
        Ok(())
    }
}

impl Sent {
    fn all(&self) -> Vec<OutgoingAlert> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }
}

const MIN: i64 = 60_000;
/// 2023-11-14T22:13:20Z, a whole minute.
const T0: i64 = 1_699_999_980_000;

fn series(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("labels")
}

/// `up == 0` answers one series from `from` until `to` (exclusive).
fn down_between(from: i64, to: i64) -> Box<Script> {
    Box::new(move |expr, t| {
        Ok(match expr {
            "up == 0" if (from..to).contains(&t) => vec![(series(&[("job", "api")]), 0.0)],
            "vector(1)" => vec![(Labels::default(), 1.0)],
            _ => Vec::new(),
        })
    })
}

struct Harness {
    bucket: Bucket,
    querier: Arc<Scripted>,
    appended: Arc<Appended>,
    sent: Arc<Sent>,
}

impl Harness {
    fn new(script: Box<Script>) -> Self {
        Self {
            bucket: Bucket::in_memory(),
            querier: Arc::new(Scripted {
                script,
                yield_first: false,
            }),
            appended: Arc::default(),
            sent: Arc::default(),
        }
    }

    fn store(&self) -> RuleStore {
        RuleStore::new(self.bucket.clone())
    }

    fn ruler(&self, options: RulerOptions) -> Ruler {
        Ruler::new(
            self.store(),
            self.querier.clone(),
            self.appended.clone(),
            self.sent.clone(),
            options,
        )
    }

    async fn upload(&self, yaml: &str) {
        self.store()
            .set_groups(&TenantId::anonymous(), "ns", yaml)
            .await
            .expect("valid group");
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

const DOWN_FOR_3M: &str = "name: g\ninterval: 1m\nrules:\n- alert: Down\n  expr: up == 0\n  for: 3m\n  labels:\n    severity: page\n";

/// Runs one ruler per minute from `T0`; `switch_at` minutes in, a new
/// instance takes over. Returns when the alert was first sent as firing.
async fn first_firing(switch_at: Option<i64>) -> i64 {
    let h = Harness::new(down_between(0, i64::MAX));
    h.upload(DOWN_FOR_3M).await;
    let mut ruler = h.ruler(RulerOptions::default());
    for m in 0..10 {
        if Some(m) == switch_at {
            ruler = h.ruler(RulerOptions::default());
        }
        let report = ruler.run_once(T0 + m * MIN, soon()).await;
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(report.evaluations, 1, "minute {m}: {report:?}");
        if let Some(a) = h.sent.all().first() {
            return a.starts_at_ms;
        }
    }
    panic!("never fired")
}

#[tokio::test]
async fn a_restarted_ruler_fires_at_the_same_time() {
    let uninterrupted = first_firing(None).await;
    for switch in [1, 2, 3] {
        assert_eq!(
            first_firing(Some(switch)).await,
            uninterrupted,
            "new instance from minute {switch}"
        );
    }
    // Pending from the first slot (at most a minute before T0), firing 3m later.
    assert!(
        (T0 - MIN + 3 * MIN..=T0 + 3 * MIN).contains(&uninterrupted),
        "{uninterrupted}"
    );
}

const RACE: &str = "name: g\ninterval: 1m\nrules:\n- record: job:up:sum\n  expr: vector(1)\n- alert: Down\n  expr: up == 0\n";

async fn race(yield_first: bool) {
    let mut h = Harness::new(down_between(0, i64::MAX));
    h.querier = Arc::new(Scripted {
        script: down_between(0, i64::MAX),
        yield_first,
    });
    h.upload(RACE).await;
    let (a, b) = (
        h.ruler(RulerOptions::default()),
        h.ruler(RulerOptions::default()),
    );
    let (ra, rb) = tokio::join!(a.run_once(T0, soon()), b.run_once(T0, soon()));
    assert_eq!(ra.evaluations + rb.evaluations, 1, "{ra:?} {rb:?}");
    // Unless the first finished before the second started, the second
    // found the group claimed (or lost the claim).
    let stood_back = ra.busy_groups + rb.busy_groups + ra.lost_races + rb.lost_races;
    if yield_first {
        assert_eq!(stood_back, 1, "{ra:?} {rb:?}");
    }
    let sent = h.sent.all();
    assert_eq!(sent.len(), 1, "sent once: {sent:?}");
    assert_eq!(sent[0].labels["alertname"], "Down");
    let appended = h.appended.all();
    let recorded = appended
        .iter()
        .filter(|(l, _)| l.get("__name__") == Some("job:up:sum"))
        .count();
    let alerts = appended
        .iter()
        .filter(|(l, _)| l.get("__name__") == Some("ALERTS"))
        .count();
    assert_eq!((recorded, alerts), (1, 1), "appended once: {appended:?}");
    // Both are done for this slot; a third run a minute later evaluates once.
    let r = a.run_once(T0 + MIN, soon()).await;
    assert_eq!(r.evaluations, 1, "{r:?}");
}

#[tokio::test]
async fn two_rulers_racing_on_a_slot_evaluate_it_once() {
    race(false).await;
    race(true).await;
}

/// A ruler whose claim expired mid-evaluation loses the commit to the
/// ruler that took over, and sends nothing.
#[tokio::test]
async fn a_ruler_that_lost_the_commit_sends_nothing() {
    let bucket = Bucket::in_memory();
    let store = RuleStore::new(bucket.clone());
    store
        .set_groups(&TenantId::anonymous(), "ns", RACE)
        .await
        .expect("upload");
    let sent_b = Arc::new(Sent::default());
    let b = Arc::new(Ruler::new(
        store.clone(),
        Arc::new(Scripted {
            script: down_between(0, i64::MAX),
            yield_first: false,
        }),
        Arc::new(Appended::default()),
        sent_b.clone(),
        RulerOptions::default(),
    ));
    // Ruler A's query runs ruler B an hour later: A's claim has expired.
    struct TakeOver(Arc<Ruler>, Mutex<bool>);
    #[async_trait]
    impl RuleQuerier for TakeOver {
        async fn instant(
            &self,
            _: &TenantId,
            _: &str,
            _: i64,
        ) -> anyhow::Result<Vec<(Labels, f64)>> {
            let first = std::mem::replace(&mut *self.1.lock().expect("lock"), false);
            if first {
                let r = self.0.run_once(T0 + 60 * MIN, soon()).await;
                anyhow::ensure!(r.evaluations == 1, "takeover did not evaluate: {r:?}");
            }
            Ok(vec![(series(&[("job", "api")]), 0.0)])
        }
    }
    let sent_a = Arc::new(Sent::default());
    let a = Ruler::new(
        store,
        Arc::new(TakeOver(b.clone(), Mutex::new(true))),
        Arc::new(Appended::default()),
        sent_a.clone(),
        RulerOptions::default(),
    );
    let r = a.run_once(T0, soon()).await;
    assert_eq!((r.evaluations, r.lost_races), (0, 1), "{r:?}");
    assert!(sent_a.all().is_empty(), "the loser sent {:?}", sent_a.all());
    assert_eq!(sent_b.all().len(), 1);
}

#[tokio::test]
async fn a_late_run_catches_up_to_the_bound_and_counts_the_rest_missed() {
    let h = Harness::new(down_between(0, i64::MAX));
    h.upload("name: g\ninterval: 1m\nrules:\n- record: one\n  expr: vector(1)\n")
        .await;
    let options = RulerOptions {
        max_slots_per_run: 5,
        ..RulerOptions::default()
    };
    let ruler = h.ruler(options);
    let r = ruler.run_once(T0, soon()).await;
    assert_eq!((r.evaluations, r.missed_evaluations), (1, 0), "{r:?}");
    let first = h.appended.all()[0].1.t;
    // Nothing due again within the same slot.
    let r = ruler.run_once(T0 + 1, soon()).await;
    assert_eq!(r.evaluations, 0, "{r:?}");

    // 30 minutes later: 30 slots are due, the last 5 are evaluated.
    let r = ruler.run_once(T0 + 30 * MIN, soon()).await;
    assert_eq!((r.evaluations, r.missed_evaluations), (5, 25), "{r:?}");
    let times: Vec<i64> = h.appended.all()[1..].iter().map(|(_, s)| s.t).collect();
    let want: Vec<i64> = (26..=30).map(|k| first + k * MIN).collect();
    assert_eq!(times, want, "evaluated at the scheduled slots, in order");
    let total = ruler.metrics().total();
    assert_eq!(total.evaluations_total, 6);
    assert_eq!(total.missed_evaluations_total, 25);
    assert!(total.lateness_max_ms >= 4 * MIN, "{total:?}");
    assert_eq!(total.last_evaluation_ms, first + 30 * MIN);

    // A deadline already passed: nothing evaluated, the slot stays due.
    let r = ruler.run_once(T0 + 31 * MIN, Instant::now()).await;
    assert_eq!((r.evaluations, r.deferred_evaluations), (0, 1), "{r:?}");
    let r = ruler.run_once(T0 + 31 * MIN, soon()).await;
    assert_eq!((r.evaluations, r.missed_evaluations), (1, 0), "{r:?}");
}

/// When the alert was sent, minute by minute from `T0`.
async fn send_minutes(
    resend_delay: Duration,
    down_until_min: i64,
    minutes: i64,
) -> Vec<(i64, OutgoingAlert)> {
    let h = Harness::new(down_between(0, T0 + down_until_min * MIN));
    h.upload("name: g\ninterval: 1m\nrules:\n- alert: Down\n  expr: up == 0\n")
        .await;
    let ruler = h.ruler(RulerOptions {
        resend_delay,
        ..RulerOptions::default()
    });
    let mut out = Vec::new();
    for m in 0..minutes {
        let before = h.sent.all().len();
        let r = ruler.run_once(T0 + m * MIN, soon()).await;
        assert_eq!(r.evaluations, 1, "{r:?}");
        out.extend(h.sent.all()[before..].iter().map(|a| (m, a.clone())));
    }
    out
}

#[tokio::test]
async fn firing_alerts_are_resent_after_the_resend_delay() {
    let sends = send_minutes(Duration::from_secs(60), 100, 6).await;
    let minutes: Vec<i64> = sends.iter().map(|(m, _)| *m).collect();
    // Strictly after the delay, as Prometheus: every other minute at 1m.
    assert_eq!(minutes, [0, 2, 4]);
    let (_, a) = &sends[1];
    let starts = sends[0].1.starts_at_ms;
    assert_eq!(a.starts_at_ms, starts, "startsAt stays when it fired");
    // endsAt = eval time + 4 * max(resend_delay, interval).
    assert_eq!(a.ends_at_ms, Some(starts + 2 * MIN + 4 * MIN));

    let sends = send_minutes(Duration::from_secs(150), 100, 8).await;
    let minutes: Vec<i64> = sends.iter().map(|(m, _)| *m).collect();
    assert_eq!(minutes, [0, 3, 6]);
    let (_, a) = &sends[0];
    assert_eq!(a.ends_at_ms, Some(a.starts_at_ms + 4 * 150_000));
}

/// An alert that fired while no `--external-url` was set (relative
/// `generatorURL`), then a restart with one: the restarted ruler sends it
/// again at its first evaluation with the absolute link, as Prometheus
/// resends every active alert after a restart, not after the resend delay.
#[tokio::test]
async fn generator_urls_follow_an_external_url_set_after_the_alert_fired() {
    let h = Harness::new(down_between(0, i64::MAX));
    h.upload("name: g\ninterval: 1m\nrules:\n- alert: Down\n  expr: up == 0\n")
        .await;
    let before = h.ruler(RulerOptions::default());
    let r = before.run_once(T0, soon()).await;
    assert_eq!(r.evaluations, 1, "{r:?}");
    let sent = h.sent.all();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].generator_url, "/graph?g0.expr=up+%3D%3D+0&g0.tab=1");

    let after = h.ruler(RulerOptions {
        external_url: "http://stratus.example:9494/".into(),
        ..RulerOptions::default()
    });
    for m in 1..4 {
        let r = after.run_once(T0 + m * MIN, soon()).await;
        assert_eq!(r.evaluations, 1, "{r:?}");
    }
    let sent = h.sent.all();
    assert_eq!(
        sent.len(),
        3,
        "minutes 0, 1 (new links), 3 (resend delay): {sent:?}"
    );
    for a in &sent[1..] {
        assert_eq!(
            a.generator_url,
            "http://stratus.example:9494/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        assert_eq!(a.starts_at_ms, sent[0].starts_at_ms, "the same alert");
    }
    // Sent one slot later: endsAt one minute later.
    assert_eq!(
        sent[1].ends_at_ms.map(|e| e - MIN),
        sent[0].ends_at_ms,
        "{sent:?}"
    );
}

#[tokio::test]
async fn resolved_alerts_are_sent_at_once_then_for_fifteen_minutes() {
    // Down until T0 + 2m: the slots of minutes 0, 1 and 2 see it.
    let sends = send_minutes(Duration::from_secs(60), 2, 25).await;
    let firing: Vec<i64> = sends
        .iter()
        .filter(|(m, _)| *m < 3)
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(firing, [0, 2], "{sends:?}");
    let resolved: Vec<&(i64, OutgoingAlert)> = sends.iter().filter(|(m, _)| *m >= 3).collect();
    let minutes: Vec<i64> = resolved.iter().map(|(m, _)| *m).collect();
    // Resolved at minute 3 (sent at once, although the last send was one
    // minute ago), re-sent every other minute while kept (15 minutes).
    assert_eq!(minutes, [3, 5, 7, 9, 11, 13, 15, 17]);
    let resolved_at = resolved[0].1.starts_at_ms + 3 * MIN;
    assert!(resolved
        .iter()
        .all(|(_, a)| a.ends_at_ms == Some(resolved_at)));
}

#[tokio::test]
async fn the_watchdog_fires_for_every_tenant() {
    let h = Harness::new(down_between(0, 0));
    // A tenant with data but no rules.
    h.bucket
        .put(
            &stratus_storage::ObjectPath::from("tenants/team-b/segments/x.seg"),
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .expect("put");
    h.upload("name: g\nrules:\n- record: one\n  expr: vector(1)\n")
        .await;
    let off = h.ruler(RulerOptions::default());
    let r = off.run_once(T0, soon()).await;
    assert_eq!((r.tenants, r.groups), (1, 1), "{r:?}");
    assert!(h.sent.all().is_empty());

    let options = RulerOptions {
        watchdog: true,
        ..RulerOptions::default()
    };
    let on = h.ruler(options.clone());
    let r = on.run_once(T0 + 5 * MIN, soon()).await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(r.tenants, 2, "{r:?}");
    let sent = h.sent.0.lock().expect("lock").clone();
    let mut tenants: Vec<String> = sent.iter().map(|(t, _)| t.to_string()).collect();
    tenants.sort();
    assert_eq!(tenants, ["anonymous", "team-b"]);
    for (_, a) in &sent {
        assert_eq!(a.labels["alertname"], "Watchdog");
        assert_eq!(a.labels["severity"], "none");
    }
    assert!(h.appended.all().iter().any(|(l, _)| {
        l.get("__name__") == Some("ALERTS")
            && l.get("alertname") == Some("Watchdog")
            && l.get("alertstate") == Some("firing")
    }));
    let data = api::rules(
        &h.store(),
        &TenantId::new("team-b").expect("tenant"),
        &options,
        &api::RulesFilter::default(),
    )
    .await
    .expect("rules");
    let json = serde_json::to_value(&data).expect("json");
    assert_eq!(json["groups"][0]["file"], "__builtin__");
    assert_eq!(json["groups"][0]["rules"][0]["state"], "firing");
}

#[tokio::test]
async fn history_records_pending_firing_resolved() {
    let h = Harness::new(down_between(0, T0 + 5 * MIN));
    h.upload("name: g\ninterval: 1m\nrules:\n- alert: Down\n  expr: up == 0\n  for: 2m\n- alert: Blip\n  expr: up == 0\n  for: 10m\n")
        .await;
    let ruler = h.ruler(RulerOptions::default());
    for m in 0..8 {
        ruler.run_once(T0 + m * MIN, soon()).await;
    }
    let t = TenantId::anonymous();
    let all = history(
        h.store().bucket(),
        &t,
        0,
        T0 + 10 * MIN,
        &HistoryFilter::default(),
    )
    .await
    .expect("history");
    let seen: Vec<(String, Transition, i64)> = all
        .iter()
        .map(|e| (e.rule.clone(), e.state, e.t_ms))
        .collect();
    let p = all[0].t_ms;
    assert!((T0 - MIN..=T0).contains(&p), "{seen:?}");
    assert_eq!(
        seen,
        [
            ("Blip".to_string(), Transition::Pending, p),
            ("Down".to_string(), Transition::Pending, p),
            ("Down".to_string(), Transition::Firing, p + 2 * MIN),
            // Down until T0 + 5m: the slot at p + 5m still saw it.
            ("Blip".to_string(), Transition::Inactive, p + 6 * MIN),
            ("Down".to_string(), Transition::Resolved, p + 6 * MIN),
        ]
    );
    let only_down = HistoryFilter {
        rule: Some("Down".into()),
        ..HistoryFilter::default()
    };
    let down = history(h.store().bucket(), &t, 0, T0 + 10 * MIN, &only_down)
        .await
        .expect("history");
    assert_eq!(down.len(), 3);
    assert_eq!(down[0].labels["job"], "api");
}

#[tokio::test]
async fn rules_and_alerts_apis_answer_prometheus_json() {
    let mut h = Harness::new(down_between(0, i64::MAX));
    h.querier = Arc::new(Scripted {
        script: Box::new(|expr, _| match expr {
            "up==0" => Ok(vec![(series(&[("job", "api")]), 0.0)]),
            "broken" => anyhow::bail!("engine unavailable"),
            _ => Ok(vec![(Labels::default(), 2.5)]),
        }),
        yield_first: false,
    });
    h.upload(
        "name: g\ninterval: 30s\nrules:\n- record: two_and_a_half\n  expr: vector(2.5)\n- alert: Down\n  expr: up==0\n  for: 1m\n  labels:\n    severity: page\n  annotations:\n    summary: down\n- record: bad\n  expr: broken\n",
    )
    .await;
    let options = RulerOptions::default();
    let t = TenantId::anonymous();
    let never = serde_json::to_value(
        api::rules(&h.store(), &t, &options, &api::RulesFilter::default())
            .await
            .expect("rules"),
    )
    .expect("json");
    assert_eq!(never["groups"][0]["lastEvaluation"], "0001-01-01T00:00:00Z");
    assert_eq!(never["groups"][0]["rules"][1]["health"], "unknown");
    assert_eq!(never["groups"][0]["rules"][1]["state"], "inactive");

    let ruler = h.ruler(options.clone());
    for m in 0..3 {
        ruler.run_once(T0 + m * MIN, soon()).await;
    }
    let json = serde_json::to_value(
        api::rules(&h.store(), &t, &options, &api::RulesFilter::default())
            .await
            .expect("rules"),
    )
    .expect("json");
    let g = &json["groups"][0];
    assert_eq!(g["name"], "g");
    assert_eq!(g["file"], "ns");
    assert_eq!(g["interval"], 30.0);
    assert_eq!(g["limit"], 0);
    assert!(g["evaluationTime"].as_f64().is_some());
    assert!(g["lastEvaluation"].as_str().expect("time").ends_with('Z'));
    let rec = &g["rules"][0];
    assert_eq!(rec["type"], "recording");
    assert_eq!(rec["name"], "two_and_a_half");
    assert_eq!(rec["query"], "vector(2.5)");
    assert_eq!(rec["health"], "ok");
    assert!(rec.get("lastError").is_none());
    assert!(rec.get("labels").is_none());
    let alert = &g["rules"][1];
    assert_eq!(alert["type"], "alerting");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["query"], "up == 0", "printed as Prometheus prints it");
    assert_eq!(alert["duration"], 60.0);
    assert_eq!(alert["keepFiringFor"], 0.0);
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "down");
    assert_eq!(alert["alerts"][0]["state"], "firing");
    assert_eq!(alert["alerts"][0]["value"], "0e+00");
    assert_eq!(alert["alerts"][0]["labels"]["alertname"], "Down");
    assert_eq!(alert["health"], "ok");
    let bad = &g["rules"][2];
    assert_eq!(bad["health"], "err");
    assert!(
        bad["lastError"]
            .as_str()
            .expect("error")
            .contains("engine unavailable"),
        "{bad}"
    );

    let only_alerts = api::RulesFilter {
        kind: Some(api::RuleKind::Alert),
        exclude_alerts: true,
        ..api::RulesFilter::default()
    };
    let json = serde_json::to_value(
        api::rules(&h.store(), &t, &options, &only_alerts)
            .await
            .expect("rules"),
    )
    .expect("json");
    assert_eq!(json["groups"][0]["rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        json["groups"][0]["rules"][0]["alerts"],
        serde_json::json!([])
    );

    let alerts = serde_json::to_value(api::alerts(&h.store(), &t, &options).await.expect("alerts"))
        .expect("json");
    let list = alerts["alerts"].as_array().expect("alerts");
    assert_eq!(list.len(), 1, "{alerts}");
    assert_eq!(
        list[0],
        serde_json::json!({
            "labels": {"alertname": "Down", "job": "api", "severity": "page"},
            "annotations": {"summary": "down"},
            "state": "firing",
            "activeAt": list[0]["activeAt"].clone(),
            "value": "0e+00",
        })
    );
}
