use std::sync::Arc;
use std::time::Duration;

use stratus_notifier::{
    parse_matchers, DeliveryError, PostableAlert, PostableSilence, SilenceState,
};
use stratus_storage::Bucket;

use crate::{notifier, tenant, webhook_config, Recorder, MIN, SEC, T0};

fn alert(name: &str, instance: &str) -> PostableAlert {
    PostableAlert::new([("alertname", name), ("instance", instance)]).starts_at(T0)
}

#[tokio::test]
async fn group_wait_interval_repeat_and_resolve_across_ticks() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, &webhook_config("30s", "5m", "1h"), rec.clone());
    let t = tenant();
    n.receive(&t, vec![alert("Down", "a")], T0)
        .await
        .expect("receive");

    // Within group_wait: nothing.
    let r = n.tick(&t, T0 + 10 * SEC).await.expect("tick");
    assert_eq!((r.groups, r.sent.len()), (1, 0));
    // After group_wait: the first notification.
    let r = n.tick(&t, T0 + 30 * SEC).await.expect("tick");
    assert_eq!(r.sent.len(), 1);
    assert_eq!(rec.bodies()[0]["alerts"].as_array().map(Vec::len), Some(1));

    // A second alert joins; it waits for the group interval.
    n.receive(&t, vec![alert("Down", "a"), alert("Down", "b")], T0 + MIN)
        .await
        .expect("receive");
    assert!(n
        .tick(&t, T0 + 2 * MIN)
        .await
        .expect("tick")
        .sent
        .is_empty());
    let r = n.tick(&t, T0 + 30 * SEC + 5 * MIN).await.expect("tick");
    assert_eq!(r.sent.len(), 1, "changed group after group_interval");
    assert_eq!(rec.bodies()[1]["alerts"].as_array().map(Vec::len), Some(2));

    // Unchanged: nothing at the next interval, a repeat after repeat_interval.
    let keep_firing = |at: i64| {
        vec![
            alert("Down", "a").ends_at(at + 10 * MIN),
            alert("Down", "b").ends_at(at + 10 * MIN),
        ]
    };
    n.receive(&t, keep_firing(T0 + 9 * MIN), T0 + 9 * MIN)
        .await
        .expect("receive");
    assert!(n
        .tick(&t, T0 + 11 * MIN)
        .await
        .expect("tick")
        .sent
        .is_empty());
    for m in (15..65).step_by(5) {
        n.receive(&t, keep_firing(T0 + m * MIN), T0 + m * MIN)
            .await
            .expect("receive");
        assert!(
            n.tick(&t, T0 + m * MIN + SEC)
                .await
                .expect("tick")
                .sent
                .is_empty(),
            "no repeat at {m}m"
        );
    }
    // Like Alertmanager, the repeat goes out at the first flush strictly
    // more than repeat_interval after the last notification.
    n.receive(&t, keep_firing(T0 + 65 * MIN), T0 + 65 * MIN)
        .await
        .expect("receive");
    assert!(n
        .tick(&t, T0 + 66 * MIN)
        .await
        .expect("tick")
        .sent
        .is_empty());
    n.receive(&t, keep_firing(T0 + 70 * MIN), T0 + 70 * MIN)
        .await
        .expect("receive");
    let r = n.tick(&t, T0 + 71 * MIN).await.expect("tick");
    assert_eq!(r.sent.len(), 1, "repeat after 1h");

    // Both resolve: one resolved notification, then the group is gone.
    let resolved = vec![
        alert("Down", "a").ends_at(T0 + 72 * MIN),
        alert("Down", "b").ends_at(T0 + 72 * MIN),
    ];
    n.receive(&t, resolved, T0 + 72 * MIN)
        .await
        .expect("receive");
    assert!(
        n.tick(&t, T0 + 73 * MIN)
            .await
            .expect("tick")
            .sent
            .is_empty(),
        "interval not over yet"
    );
    let r = n.tick(&t, T0 + 77 * MIN).await.expect("tick");
    assert_eq!((r.sent.len(), r.sent[0].resolved), (1, 2));
    let last = rec.bodies().pop().expect("a body");
    assert_eq!(last["status"], "resolved");
    assert!(n
        .tick(&t, T0 + 95 * MIN)
        .await
        .expect("tick")
        .sent
        .is_empty());
    assert!(n
        .groups(&t, T0 + 95 * MIN)
        .await
        .expect("groups")
        .is_empty());
    assert_eq!(rec.sent().len(), 4);
    assert_eq!(n.metrics().sent_total("hook"), 4);

    // A new episode starts a new group with a fresh group_wait.
    n.receive(
        &t,
        vec![alert("Down", "a").starts_at(T0 + 100 * MIN)],
        T0 + 100 * MIN,
    )
    .await
    .expect("receive");
    assert!(n
        .tick(&t, T0 + 100 * MIN + 10 * SEC)
        .await
        .expect("tick")
        .sent
        .is_empty());
    assert_eq!(
        n.tick(&t, T0 + 101 * MIN).await.expect("tick").sent.len(),
        1
    );
}

#[tokio::test]
async fn alerts_without_an_end_resolve_after_resolve_timeout() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, &webhook_config("0s", "1m", "1h"), rec.clone());
    let t = tenant();
    n.receive(&t, vec![PostableAlert::new([("alertname", "X")])], T0)
        .await
        .expect("receive");
    assert_eq!(n.tick(&t, T0).await.expect("tick").sent.len(), 1);
    assert_eq!(n.alerts(&t, T0 + 4 * MIN).await.expect("alerts").len(), 1);
    // resolve_timeout defaults to 5m.
    assert!(n.alerts(&t, T0 + 5 * MIN).await.expect("alerts").is_empty());
    let r = n.tick(&t, T0 + 5 * MIN).await.expect("tick");
    assert_eq!((r.sent.len(), r.sent[0].resolved), (1, 1));
}

#[tokio::test]
async fn a_silence_suppresses_until_it_expires() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, &webhook_config("0s", "1m", "1h"), rec.clone());
    let t = tenant();
    let matchers = parse_matchers(r#"alertname="Down""#).expect("matchers");
    let id = n
        .create_silence(
            &t,
            PostableSilence::new(matchers, T0, T0 + 60 * MIN, "me", "maintenance"),
            T0,
        )
        .await
        .expect("silence");
    n.receive(&t, vec![alert("Down", "a"), alert("Other", "a")], T0)
        .await
        .expect("receive");

    let r = n.tick(&t, T0 + SEC).await.expect("tick");
    assert_eq!(
        (r.sent.len(), r.alerts_silenced),
        (1, 1),
        "only the unsilenced group is sent"
    );
    assert_eq!(rec.bodies()[0]["groupLabels"]["alertname"], "Other");
    let listed = n.alerts(&t, T0 + SEC).await.expect("alerts");
    let down = listed
        .iter()
        .find(|a| a.labels["alertname"] == "Down")
        .expect("down listed");
    assert_eq!(
        (down.status.state.as_str(), down.status.silenced_by.clone()),
        ("suppressed", vec![id.clone()])
    );

    let silences = n.list_silences(&t, T0 + SEC).await.expect("list");
    assert_eq!(silences[0].status.state, SilenceState::Active);
    n.expire_silence(&t, &id, T0 + 2 * MIN)
        .await
        .expect("expire");
    assert_eq!(
        n.list_silences(&t, T0 + 2 * MIN).await.expect("list")[0]
            .status
            .state,
        SilenceState::Expired
    );
    let r = n.tick(&t, T0 + 2 * MIN).await.expect("tick");
    assert_eq!(r.sent.len(), 1);
    assert_eq!(rec.bodies()[1]["groupLabels"]["alertname"], "Down");
}

#[tokio::test]
async fn a_firing_source_inhibits_its_targets() {
    let yaml = r#"
route: {receiver: hook, group_by: [cluster], group_wait: 0s}
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [cluster]
receivers: [{name: hook, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]
"#;
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, yaml, rec.clone());
    let t = tenant();
    let a = |name: &str, sev: &str, cluster: &str| {
        PostableAlert::new([("alertname", name), ("severity", sev), ("cluster", cluster)])
            .starts_at(T0)
    };
    n.receive(
        &t,
        vec![
            a("Down", "critical", "eu"),
            a("Slow", "warning", "eu"),
            a("Slow", "warning", "us"),
        ],
        T0,
    )
    .await
    .expect("receive");
    let r = n.tick(&t, T0).await.expect("tick");
    assert_eq!((r.sent.len(), r.alerts_inhibited), (2, 1));
    for body in rec.bodies() {
        let names: Vec<&str> = body["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter_map(|a| a["labels"]["alertname"].as_str())
            .collect();
        match body["groupLabels"]["cluster"].as_str() {
            Some("eu") => assert_eq!(names, vec!["Down"]),
            Some("us") => assert_eq!(names, vec!["Slow"]),
            other => panic!("unexpected group {other:?}"),
        }
    }
    let listed = n.alerts(&t, T0).await.expect("alerts");
    assert_eq!(
        listed
            .iter()
            .filter(|a| !a.status.inhibited_by.is_empty())
            .count(),
        1
    );
}

#[tokio::test]
async fn a_second_notifier_on_the_same_bucket_does_not_resend() {
    let bucket = Bucket::in_memory();
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let yaml = webhook_config("0s", "5m", "1h");
    let (n1, n2) = (
        notifier(&bucket, &yaml, r1.clone()),
        notifier(&bucket, &yaml, r2.clone()),
    );
    let t = tenant();
    n1.receive(&t, vec![alert("Down", "a")], T0)
        .await
        .expect("receive");
    assert_eq!(n1.tick(&t, T0).await.expect("tick").sent.len(), 1);
    // A restart (new instance) and a later tick: still nothing to send.
    assert!(n2.tick(&t, T0 + MIN).await.expect("tick").sent.is_empty());
    assert_eq!((r1.sent().len(), r2.sent().len()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_notifiers_send_exactly_once() {
    let bucket = Bucket::in_memory();
    let yaml = webhook_config("0s", "5m", "1h");
    let t = tenant();
    notifier(&bucket, &yaml, Arc::new(Recorder::default()))
        .receive(&t, vec![alert("Down", "a")], T0)
        .await
        .expect("receive");
    // The first notifier is held inside its send, so the others tick while
    // its claim is live.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    let held = Arc::new(Recorder {
        gate: Some(gate.clone()),
        entered: Some(entered.clone()),
        ..Recorder::default()
    });
    let first = notifier(&bucket, &yaml, held.clone());
    let task = tokio::spawn({
        let t = t.clone();
        async move { first.tick(&t, T0).await }
    });
    tokio::time::timeout(Duration::from_secs(10), entered.notified())
        .await
        .expect("first notifier started sending");
    let others: Vec<Arc<Recorder>> = (0..6).map(|_| Arc::new(Recorder::default())).collect();
    let mut claimed = 0;
    for rec in &others {
        claimed += notifier(&bucket, &yaml, rec.clone())
            .tick(&t, T0)
            .await
            .expect("tick")
            .claimed_elsewhere;
    }
    gate.add_permits(1);
    let first_report = task.await.expect("join").expect("tick");
    let total: usize = held.sent().len() + others.iter().map(|r| r.sent().len()).sum::<usize>();
    assert_eq!(total, 1, "exactly one notifier sent");
    assert_eq!((first_report.sent.len(), claimed), (1, 6));

    // Then many notifiers tick a new group at the same moment.
    notifier(&bucket, &yaml, Arc::new(Recorder::default()))
        .receive(&t, vec![alert("Fresh", "a")], T0)
        .await
        .expect("receive");
    let recs: Vec<Arc<Recorder>> = (0..8).map(|_| Arc::new(Recorder::default())).collect();
    let handles: Vec<_> = recs
        .iter()
        .map(|rec| {
            let n = notifier(&bucket, &yaml, rec.clone());
            let t = t.clone();
            tokio::spawn(async move { n.tick(&t, T0 + SEC).await })
        })
        .collect();
    for h in handles {
        h.await.expect("join").expect("tick");
    }
    let fresh = recs
        .iter()
        .flat_map(|r| r.bodies())
        .filter(|b| b["groupLabels"]["alertname"] == "Fresh")
        .count();
    assert_eq!(fresh, 1, "exactly one notifier sent the new group");
}

#[tokio::test]
async fn retries_count_failures_and_a_failed_send_is_retried_next_tick() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, &webhook_config("0s", "5m", "1h"), rec.clone());
    let t = tenant();
    let boom = DeliveryError::new("http_5xx", "503", true);
    rec.script
        .lock()
        .expect("lock")
        .extend([boom.clone(), boom.clone()]);
    n.receive(&t, vec![alert("Down", "a")], T0)
        .await
        .expect("receive");
    let r = n.tick(&t, T0).await.expect("tick");
    assert_eq!((r.sent.len(), rec.sent().len()), (1, 1));
    let m = n.metrics().snapshot();
    assert_eq!(
        m.notifications_failed_total
            .get(&("hook".to_string(), "http_5xx".to_string())),
        Some(&2)
    );
    assert_eq!(n.metrics().sent_total("hook"), 1);

    // A permanently failing receiver: the log stays unmarked.
    n.receive(&t, vec![alert("Other", "a")], T0)
        .await
        .expect("receive");
    *rec.always_fail.lock().expect("lock") = Some(DeliveryError::new("connect", "refused", true));
    let r = n.tick(&t, T0 + SEC).await.expect("tick");
    assert_eq!((r.sent.len(), r.failed.len()), (0, 1));
    assert!(n.metrics().failed_total("hook") > 2);
    *rec.always_fail.lock().expect("lock") = None;
    let r = n.tick(&t, T0 + 2 * SEC).await.expect("tick");
    assert_eq!(r.sent.len(), 1, "retried at the next tick");
    assert_eq!(
        rec.bodies().last().expect("body")["groupLabels"]["alertname"],
        "Other"
    );

    // Not retryable: one attempt only.
    n.receive(&t, vec![alert("Third", "a")], T0)
        .await
        .expect("receive");
    rec.script
        .lock()
        .expect("lock")
        .push_back(DeliveryError::new("http_4xx", "400", false));
    let before = n.metrics().failed_total("hook");
    let r = n.tick(&t, T0 + 3 * SEC).await.expect("tick");
    assert_eq!(
        (r.failed.len(), n.metrics().failed_total("hook") - before),
        (1, 1)
    );
}

#[tokio::test]
async fn invalid_alerts_are_reported_and_valid_ones_kept() {
    let n = notifier(
        &Bucket::in_memory(),
        &webhook_config("0s", "5m", "1h"),
        Arc::new(Recorder::default()),
    );
    let t = tenant();
    let bad = PostableAlert::new([("alertname", "X")])
        .starts_at(T0)
        .ends_at(T0 - 1);
    let r = n
        .receive(
            &t,
            vec![alert("Ok", "a"), bad, PostableAlert::new([("0bad", "x")])],
            T0,
        )
        .await
        .expect("receive");
    assert_eq!((r.accepted, r.rejected.len()), (1, 2));
    assert_eq!(n.alerts(&t, T0).await.expect("alerts").len(), 1);
    assert_eq!(n.metrics().snapshot().alerts_invalid_total, 2);
}

/// Panics on deliveries of the group named `Boom`, records the others.
#[derive(Default)]
struct PanicsOnBoom {
    inner: Recorder,
    boom_attempts: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl stratus_notifier::Transport for PanicsOnBoom {
    async fn deliver(&self, message: &stratus_notifier::Outgoing) -> Result<(), DeliveryError> {
        if let stratus_notifier::Outgoing::Http { body, .. } = message {
            if body["groupLabels"]["alertname"] == "Boom" {
                self.boom_attempts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                panic!("injected panic in a receiver integration");
            }
        }
        self.inner.deliver(message).await
    }
}

fn notifier_panics() -> u64 {
    stratus_model::panics::counts()
        .into_iter()
        .find(|(c, _)| *c == "notifier")
        .map_or(0, |(_, n)| n)
}

#[tokio::test]
async fn a_panic_sending_one_notification_fails_only_that_notification() {
    let bucket = Bucket::in_memory();
    let transport = Arc::new(PanicsOnBoom::default());
    let n = notifier(
        &bucket,
        &webhook_config("0s", "5m", "1h"),
        transport.clone(),
    );
    let t = tenant();
    n.receive(&t, vec![alert("Boom", "a"), alert("Down", "a")], T0)
        .await
        .expect("receive");
    let panics_before = notifier_panics();

    let r = n.tick(&t, T0).await.expect("the tick survives the panic");
    assert_eq!(r.sent.len(), 1, "the other group is sent: {r:?}");
    assert_eq!(
        transport.inner.bodies()[0]["groupLabels"]["alertname"],
        "Down"
    );
    assert_eq!(r.failed.len(), 1, "{r:?}");
    let why = r.failed[0].error.as_deref().unwrap_or_default();
    assert!(
        why.contains("panicked: injected panic in a receiver integration"),
        "{why}"
    );
    assert!(notifier_panics() > panics_before, "the panic is counted");
    assert_eq!(
        n.metrics()
            .snapshot()
            .notifications_failed_total
            .get(&("hook".to_string(), "panic".to_string())),
        Some(&1),
        "one attempt, no retries within the tick"
    );

    // The claim was released: the next tick tries again (and fails again),
    // and the notifier keeps working.
    let r = n.tick(&t, T0 + SEC).await.expect("next tick");
    assert_eq!((r.sent.len(), r.failed.len()), (0, 1), "{r:?}");
    assert_eq!(
        transport
            .boom_attempts
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    n.receive(&t, vec![alert("Later", "b")], T0 + 2 * SEC)
        .await
        .expect("receive");
    let r = n.tick(&t, T0 + 2 * SEC).await.expect("later tick");
    assert!(
        r.sent.iter().any(|s| s.group_key.contains("Later")),
        "{r:?}"
    );
}
