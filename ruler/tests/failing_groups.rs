//! Groups that cannot be evaluated, or that panic, fail alone: uploads of
//! expressions the engine would refuse are refused, stored groups that fail
//! the checks are reported unhealthy, panics are caught at the group, and
//! failing groups back off while the others keep their schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use stratus_model::{Labels, Sample, TenantId};
use stratus_ruler::metrics::GroupKey;
use stratus_ruler::{
    api, keys, AlertSender, GroupMetrics, OutgoingAlert, RuleAppender, RuleQuerier, RuleStore,
    Ruler, RulerError, RulerOptions,
};
use stratus_storage::Bucket;

const MIN: i64 = 60_000;
/// 2023-11-14T22:13:20Z, a whole minute.
const T0: i64 = 1_699_999_980_000;

/// `vector(1)` is one sample; `boom` panics while `panic` is set, as a bug
/// in the engine would.
#[derive(Default)]
struct Querier {
    panic: AtomicBool,
}

#[async_trait]
impl RuleQuerier for Querier {
    async fn instant(
        &self,
        _: &TenantId,
        expr: &str,
        _: i64,
    ) -> anyhow::Result<Vec<(Labels, f64)>> {
        match expr {
            "boom" if self.panic.load(Ordering::Relaxed) => {
                panic!("injected panic in the query engine")
            }
            "boom" | "vector(1)" => Ok(vec![(Labels::default(), 1.0)]),
            other => anyhow::bail!("unexpected query {other}"),
        }
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
    /// Samples of `name` written at `t`.
    fn count(&self, name: &str, t: i64) -> usize {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .filter(|(l, s)| l.get("__name__") == Some(name) && s.t == t)
            .count()
    }
}

/// Panics on alerts of `PanicOnSend` while `panic` is set.
#[derive(Default)]
struct Sender {
    panic: AtomicBool,
}

#[async_trait]
impl AlertSender for Sender {
    async fn send(&self, _: &TenantId, alerts: Vec<OutgoingAlert>) -> anyhow::Result<()> {
        let ours = alerts
            .iter()
            .any(|a| a.labels.get("alertname").map(String::as_str) == Some("PanicOnSend"));
        if ours && self.panic.load(Ordering::Relaxed) {
            panic!("injected panic in the alert sender");
        }
        Ok(())
    }
}

struct Harness {
    bucket: Bucket,
    querier: Arc<Querier>,
    appended: Arc<Appended>,
    sender: Arc<Sender>,
    ruler: Ruler,
}

impl Harness {
    fn new() -> Self {
        let bucket = Bucket::in_memory();
        let querier = Arc::new(Querier::default());
        let appended = Arc::new(Appended::default());
        let sender = Arc::new(Sender::default());
        querier.panic.store(true, Ordering::Relaxed);
        sender.panic.store(true, Ordering::Relaxed);
        let ruler = Ruler::new(
            RuleStore::new(bucket.clone()),
            querier.clone(),
            appended.clone(),
            sender.clone(),
            RulerOptions::default(),
        );
        Self {
            bucket,
            querier,
            appended,
            sender,
            ruler,
        }
    }

    fn store(&self) -> RuleStore {
        RuleStore::new(self.bucket.clone())
    }

    async fn upload(&self, namespace: &str, yaml: &str) {
        self.store()
            .set_groups(&TenantId::anonymous(), namespace, yaml)
            .await
            .expect("valid group");
    }

    /// Writes a namespace object directly, as a hand or an older Stratus
    /// would, at the key the ruler reads.
    async fn plant(&self, namespace: &str, text: &str) {
        let key = keys::namespace(&TenantId::anonymous(), namespace);
        self.bucket
            .put(&key, stratus_storage::sealed::seal(text.as_bytes()))
            .await
            .expect("put");
    }

    async fn rules(&self) -> Value {
        let data = api::rules(
            &self.store(),
            &TenantId::anonymous(),
            &RulerOptions::default(),
            &api::RulesFilter::default(),
        )
        .await
        .expect("rules API");
        serde_json::to_value(data).expect("json")
    }

    fn metrics(&self, namespace: &str, group: &str) -> GroupMetrics {
        let key = GroupKey {
            tenant: TenantId::anonymous(),
            namespace: namespace.into(),
            group: group.into(),
        };
        self.ruler
            .metrics()
            .groups()
            .get(&key)
            .copied()
            .unwrap_or_default()
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn group<'a>(rules: &'a Value, namespace: &str, name: &str) -> &'a Value {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["file"] == namespace && g["name"] == name)
        .unwrap_or_else(|| panic!("no group {namespace}/{name} in {rules}"))
}

fn ruler_panics() -> u64 {
    stratus_model::panics::counts()
        .into_iter()
        .find(|(c, _)| *c == "ruler")
        .map_or(0, |(_, n)| n)
}

/// `1+1+...+1`: parses in a plain parser, nests 3,500 levels deep.
fn crash_expr() -> String {
    vec!["1"; 3500].join("+")
}

#[tokio::test]
async fn an_expression_too_deep_to_evaluate_is_refused_on_upload() {
    let h = Harness::new();
    let yaml = format!(
        "name: crash\ninterval: 1s\nrules:\n- record: crash:sum\n  expr: {}\n",
        crash_expr()
    );
    let err = h
        .store()
        .set_groups(&TenantId::anonymous(), "ns", &yaml)
        .await
        .expect_err("refused");
    assert!(matches!(err, RulerError::InvalidRules(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(r#"ns: line 4: group "crash": rule 1 "crash:sum": could not parse expression: expression nests"#)
            && text.contains("more than the 1000 allowed"),
        "{text}"
    );
    assert!(h
        .store()
        .namespaces(&TenantId::anonymous())
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn stored_groups_that_fail_the_checks_are_unhealthy_and_stop_nothing_else() {
    let h = Harness::new();
    h.plant(
        "ns",
        &format!(
            "groups:\n\
             - name: crash\n  interval: 1m\n  rules:\n  - record: crash:sum\n    expr: {}\n\
             - name: good\n  interval: 1m\n  rules:\n  - record: good:one\n    expr: vector(1)\n\
             - name: typo\n  interval: 1x\n  rules: []\n",
            crash_expr()
        ),
    )
    .await;
    h.plant("broken", "groups: [this is: not a rule file\n")
        .await;
    h.upload(
        "other",
        "name: fine\ninterval: 1m\nrules:\n- record: fine:one\n  expr: vector(1)\n",
    )
    .await;

    let r = h.ruler.run_once(T0, soon()).await;
    assert_eq!(r.evaluations, 2, "good and fine are evaluated: {r:?}");
    assert_eq!(r.failed_groups, 2, "crash and typo fail at once: {r:?}");
    assert!(
        r.errors.iter().any(|e| e.contains("broken")),
        "the unreadable namespace is reported: {r:?}"
    );
    let slot = |ns: &str, g: &str| {
        T0 - (T0 - stratus_ruler::schedule::group_offset_ms(&format!("anonymous/{ns}/{g}"), MIN))
            .rem_euclid(MIN)
    };
    assert_eq!(h.appended.count("good:one", slot("ns", "good")), 1);
    assert_eq!(h.appended.count("fine:one", slot("other", "fine")), 1);
    assert_eq!(h.appended.count("crash:sum", slot("ns", "crash")), 0);

    let rules = h.rules().await;
    let crash = group(&rules, "ns", "crash");
    assert_eq!(crash["health"], "err", "{crash}");
    let why = crash["lastError"].as_str().expect("lastError");
    assert!(
        why.contains(
            r#"group "crash": rule 1 "crash:sum": could not parse expression: expression nests"#
        ),
        "{why}"
    );
    assert_eq!(crash["rules"][0]["health"], "err");
    assert_eq!(crash["rules"][0]["lastError"], why);
    assert!(
        crash["rules"][0]["query"]
            .as_str()
            .expect("query")
            .starts_with("1+1+1"),
        "printed as written, not parsed: {}",
        &crash["rules"][0]["query"].to_string()[..40]
    );
    let typo = group(&rules, "ns", "typo");
    assert_eq!(typo["health"], "err");
    assert!(
        typo["lastError"]
            .as_str()
            .expect("lastError")
            .contains("1x"),
        "{typo}"
    );
    let good = group(&rules, "ns", "good");
    assert_eq!(good["health"], "ok", "{good}");
    assert_eq!(good["rules"][0]["health"], "ok");
    let broken = group(&rules, "broken", api::UNREADABLE_GROUP);
    assert_eq!(broken["health"], "err");
    assert!(
        broken["lastError"]
            .as_str()
            .expect("lastError")
            .contains("expected a YAML rule file"),
        "{broken}"
    );
    assert_eq!(group(&rules, "other", "fine")["health"], "ok");

    // Uploading another group to the namespace keeps the stored ones as
    // they were, fixable by the user.
    h.upload(
        "ns",
        "name: added\ninterval: 1m\nrules:\n- record: added:one\n  expr: vector(1)\n",
    )
    .await;
    let (bytes, _) = h
        .bucket
        .get(&keys::namespace(&TenantId::anonymous(), "ns"))
        .await
        .expect("stored");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("interval: 1x"), "{text}");
    assert!(text.contains(&crash_expr()));
    let names: Vec<String> = h
        .store()
        .namespace(&TenantId::anonymous(), "ns")
        .await
        .expect("namespace")
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["crash", "good", "typo", "added"]);
}

#[tokio::test]
async fn a_panicking_group_fails_alone_backs_off_and_recovers() {
    let h = Harness::new();
    h.upload(
        "p",
        "name: boom\ninterval: 1m\nrules:\n- record: boom:x\n  expr: boom\n",
    )
    .await;
    h.upload(
        "p",
        "name: good\ninterval: 1m\nrules:\n- record: good:one\n  expr: vector(1)\n",
    )
    .await;
    let panics_before = ruler_panics();

    // Fifty failed attempts of `boom`, one ruler run per interval.
    let mut attempts_at = Vec::new();
    let mut m = 0;
    while h.metrics("p", "boom").group_failures_total < 50 {
        assert!(m < 400, "only {attempts_at:?} attempts in {m} minutes");
        let before = h.metrics("p", "boom").group_failures_total;
        let r = h.ruler.run_once(T0 + m * MIN, soon()).await;
        let good = h.metrics("p", "good");
        assert_eq!(good.evaluations_total, (m + 1) as u64, "minute {m}: {r:?}");
        assert_eq!(good.missed_evaluations_total, 0);
        if h.metrics("p", "boom").group_failures_total > before {
            attempts_at.push(m);
        } else {
            assert_eq!(r.backed_off_groups, 1, "minute {m}: {r:?}");
        }
        m += 1;
    }
    assert_eq!(
        &attempts_at[..6],
        [0, 1, 3, 7, 11, 15],
        "backoff 1, 2, 4, 4... intervals"
    );
    assert!(ruler_panics() >= panics_before + 50);
    let boom = h.metrics("p", "boom");
    assert_eq!(boom.evaluations_total, 0);
    assert_eq!(boom.consecutive_failures, 50);
    // Every slot is either a failed attempt or counted missed (the last
    // backoff's slots are counted at the next attempt).
    let slots = m as u64;
    let counted = boom.group_failures_total + boom.missed_evaluations_total;
    assert!(
        counted <= slots && counted + 4 > slots,
        "{counted} of {slots} slots counted"
    );

    let rules = h.rules().await;
    let g = group(&rules, "p", "boom");
    assert_eq!(g["health"], "err");
    assert!(
        g["lastError"]
            .as_str()
            .expect("lastError")
            .contains("rule group evaluation panicked: injected panic in the query engine"),
        "{g}"
    );
    assert_eq!(g["rules"][0]["health"], "err");
    assert_eq!(group(&rules, "p", "good")["health"], "ok");

    // Fixed: evaluated again within one backoff, and healthy.
    h.querier.panic.store(false, Ordering::Relaxed);
    let fixed_at = m;
    while h.metrics("p", "boom").evaluations_total == 0 {
        assert!(m < fixed_at + 5, "not retried within the backoff cap");
        h.ruler.run_once(T0 + m * MIN, soon()).await;
        m += 1;
    }
    assert_eq!(h.metrics("p", "boom").consecutive_failures, 0);
    let rules = h.rules().await;
    let g = group(&rules, "p", "boom");
    assert_eq!(g["health"], "ok", "{g}");
    assert!(g.get("lastError").is_none(), "{g}");
    assert_eq!(g["rules"][0]["health"], "ok");
}

#[tokio::test]
async fn a_panic_sending_alerts_fails_the_group_after_its_commit() {
    let h = Harness::new();
    h.upload(
        "s",
        "name: sends\ninterval: 1m\nrules:\n- alert: PanicOnSend\n  expr: vector(1)\n",
    )
    .await;
    h.upload(
        "s",
        "name: quiet\ninterval: 1m\nrules:\n- alert: Fine\n  expr: vector(1)\n",
    )
    .await;
    let r = h.ruler.run_once(T0, soon()).await;
    assert_eq!(r.evaluations, 2, "{r:?}");
    assert_eq!(r.failed_groups, 1, "{r:?}");
    let sends = h.metrics("s", "sends");
    assert_eq!(
        (sends.group_failures_total, sends.send_failures_total),
        (1, 1)
    );
    let rules = h.rules().await;
    let g = group(&rules, "s", "sends");
    assert_eq!(g["health"], "err");
    assert!(
        g["lastError"]
            .as_str()
            .expect("lastError")
            .contains("injected panic in the alert sender"),
        "{g}"
    );
    // The evaluation was committed before the send: the alert fires.
    assert_eq!(g["rules"][0]["state"], "firing", "{g}");
    assert_eq!(group(&rules, "s", "quiet")["health"], "ok");

    h.sender.panic.store(false, Ordering::Relaxed);
    h.ruler.run_once(T0 + MIN, soon()).await;
    assert_eq!(group(&h.rules().await, "s", "sends")["health"], "ok");
}
