//! Notification-log entries of groups that are gone are deleted after the
//! retention, a bounded number per tick, never while claimed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use stratus_notifier::nflog::{Claim, LogEntry};
use stratus_notifier::{state, Config, Notifier, NotifierOptions, PostableAlert};
use stratus_storage::Bucket;

use crate::{fast_options, tenant, webhook_config, Recorder, MIN, T0};

const HOUR: i64 = 60 * MIN;

fn gc_notifier(bucket: &Bucket, yaml: &str, rec: Arc<Recorder>, per_tick: usize) -> Notifier {
    let options = NotifierOptions {
        nflog_retention: Duration::from_secs(2 * 3600),
        nflog_gc_per_tick: per_tick,
        ..fast_options()
    };
    let config = Config::from_yaml(yaml).expect("valid config");
    Notifier::with_transport(bucket.clone(), config, options, rec)
}

async fn nflog_keys(bucket: &Bucket) -> BTreeSet<String> {
    bucket
        .list(&state::nflog_prefix(&tenant()))
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key.to_string())
        .collect()
}

fn key_of(group: &str) -> String {
    state::nflog_key(
        &tenant(),
        "hook",
        "webhook[0]",
        &format!("{{}}:{{alertname=\"{group}\"}}"),
    )
    .to_string()
}

#[tokio::test]
async fn entries_of_gone_groups_are_deleted_after_the_retention() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    // A long repeat_interval, so the live group's entry gets old too.
    let n = gc_notifier(&bucket, &webhook_config("0s", "1m", "30d"), rec.clone(), 20);
    let t = tenant();
    let alert = |name: &str| PostableAlert::new([("alertname", name)]).starts_at(T0);
    let stays = alert("Stays").ends_at(T0 + 30 * 24 * HOUR);
    n.receive(&t, vec![alert("Gone"), stays.clone()], T0)
        .await
        .expect("receive");
    assert_eq!(n.tick(&t, T0).await.expect("tick").sent.len(), 2);
    n.receive(&t, vec![alert("Gone").ends_at(T0 + MIN)], T0 + MIN)
        .await
        .expect("receive");
    let r = n.tick(&t, T0 + MIN).await.expect("tick");
    assert_eq!((r.sent.len(), r.sent[0].resolved), (1, 1));
    let both: BTreeSet<String> = [key_of("Gone"), key_of("Stays")].into();
    assert_eq!(nflog_keys(&bucket).await, both);

    // The resolved alert is collected after resolved_retention (1h); its
    // entry stays until its last send is older than nflog_retention (2h).
    let r = n.tick(&t, T0 + 90 * MIN).await.expect("tick");
    assert_eq!((r.alerts_collected, r.nflog_collected), (1, 0));
    let r = n.tick(&t, T0 + MIN + 2 * HOUR).await.expect("tick");
    assert_eq!(r.nflog_collected, 0, "not older than the retention yet");
    assert_eq!(nflog_keys(&bucket).await, both);
    // Past the retention: the gone group's entry goes; the live group's
    // entry stays although its last send is older still.
    let r = n.tick(&t, T0 + 3 * HOUR).await.expect("tick");
    assert_eq!((r.nflog_collected, r.sent.len()), (1, 0));
    assert_eq!(nflog_keys(&bucket).await, [key_of("Stays")].into());
    assert_eq!(n.metrics().snapshot().nflog_collected_total, 1);

    // The group comes back: a new episode, notified once.
    let back = T0 + 4 * HOUR;
    n.receive(
        &t,
        vec![alert("Gone").starts_at(back).ends_at(back + HOUR)],
        back,
    )
    .await
    .expect("receive");
    assert_eq!(n.tick(&t, back).await.expect("tick").sent.len(), 1);
    let r = n.tick(&t, back + 5 * MIN).await.expect("tick");
    assert!(r.sent.is_empty(), "{r:?}");
    assert_eq!(rec.sent().len(), 4);
}

#[tokio::test]
async fn claimed_and_young_entries_stay_and_each_tick_is_bounded() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = gc_notifier(&bucket, &webhook_config("0s", "1m", "1h"), rec.clone(), 2);
    let t = tenant();
    let now = T0 + 10 * 24 * HOUR;
    let put = |group: &str, sent_at_ms: Option<i64>, claim: Option<Claim>| {
        let bucket = bucket.clone();
        let entry = LogEntry {
            receiver: "hook".into(),
            integration: "webhook[0]".into(),
            group_key: format!("{{}}:{{alertname=\"{group}\"}}"),
            sent_at_ms,
            firing: ["0123456789abcdef".to_string()].into(),
            claim,
            ..LogEntry::default()
        };
        let key = state::nflog_key(&tenant(), "hook", "webhook[0]", &entry.group_key);
        async move {
            state::write(&bucket, &key, &entry, None)
                .await
                .expect("write")
                .expect("new entry");
        }
    };
    // Another notifier is sending this one right now.
    let claim = Claim {
        owner: "another-notifier".into(),
        until_ms: now + HOUR,
    };
    put("Claimed", Some(T0), Some(claim)).await;
    put("Young", Some(now - 30 * MIN), None).await;
    // A claim that expired long ago does not protect an entry.
    let stale = Claim {
        owner: "crashed".into(),
        until_ms: T0,
    };
    put("Stale", Some(T0), Some(stale)).await;
    put("NeverSent", None, None).await;
    for i in 0..3 {
        put(&format!("Old{i}"), Some(T0), None).await;
    }
    let keep: BTreeSet<String> = [key_of("Claimed"), key_of("Young")].into();
    let mut deleted = 0;
    for _ in 0..200 {
        let r = n.tick(&t, now).await.expect("tick");
        assert!(r.nflog_collected <= 2, "at most 2 per tick: {r:?}");
        deleted += r.nflog_collected;
        if nflog_keys(&bucket).await == keep {
            break;
        }
    }
    assert_eq!(deleted, 5);
    assert_eq!(nflog_keys(&bucket).await, keep);
    assert!(rec.sent().is_empty(), "collecting never notifies");
    // Once the claim expires, the entry is collected too.
    let r = n.tick(&t, now + HOUR + MIN).await.expect("tick");
    assert_eq!(r.nflog_collected, 1);
    assert_eq!(nflog_keys(&bucket).await, [key_of("Young")].into());
}
