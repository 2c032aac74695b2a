//! Forwarding to an external Alertmanager keeps its copy of a firing alert
//! alive, as Prometheus's notifier does, while notification integrations in
//! the same receiver keep Alertmanager's repeat_interval.

use std::sync::Arc;

use serde_json::Value;
use stratus_notifier::{Outgoing, PostableAlert};
use stratus_storage::Bucket;

use crate::{notifier, tenant, Recorder, MIN, SEC, T0};

fn config(group_wait: &str, group_interval: &str, resend: Option<&str>) -> String {
    let resend = resend.map_or(String::new(), |r| format!(", resend_interval: {r}"));
    format!(
        r#"
route:
  receiver: both
  group_by: [alertname]
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: 4h
receivers:
  - name: both
    webhook_configs: [{{url: 'http://127.0.0.1:1/hook'}}]
    alertmanager_configs: [{{url: 'http://127.0.0.1:1/am'{resend}}}]
"#
    )
}

/// The bodies sent to URLs ending with `suffix`.
fn bodies_to(rec: &Recorder, suffix: &str) -> Vec<Value> {
    rec.sent()
        .into_iter()
        .filter_map(|o| match o {
            Outgoing::Http { url, body } if url.ends_with(suffix) => Some(body),
            _ => None,
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    stratus_notifier::time::format_rfc3339(ms)
}

/// The ruler's view of one alert: posted every minute with endsAt four
/// minutes ahead while it fires.
fn ruler_alert(ends_at: i64) -> PostableAlert {
    PostableAlert::new([("alertname", "HighLatency"), ("job", "api")])
        .annotation("summary", "p99 above 1s")
        .starts_at(T0)
        .ends_at(ends_at)
}

#[tokio::test]
async fn a_firing_alert_is_reforwarded_every_resend_interval_with_its_latest_end() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    // Defaults: resend_interval 1m; group_interval 5m and repeat_interval 4h
    // would let the external Alertmanager time the alert out.
    let n = notifier(&bucket, &config("30s", "5m", None), rec.clone());
    let t = tenant();
    let resolved_at = T0 + 12 * MIN;
    let mut refreshes = Vec::new();
    let mut forwards: Vec<(i64, Value)> = Vec::new();
    // A tick every 15 s for 20 minutes; the ruler posts every minute.
    for k in 0..=80 {
        let now = T0 + k * 15 * SEC;
        if now % MIN == T0 % MIN && now < resolved_at {
            n.receive(&t, vec![ruler_alert(now + 4 * MIN)], now)
                .await
                .expect("receive");
            refreshes.push(now);
        } else if now == resolved_at {
            n.receive(&t, vec![ruler_alert(resolved_at)], now)
                .await
                .expect("receive");
        }
        let before = bodies_to(&rec, "/am/api/v2/alerts").len();
        let r = n.tick(&t, now).await.expect("tick");
        assert!(r.failed.is_empty(), "{r:?}");
        let am = bodies_to(&rec, "/am/api/v2/alerts");
        assert!(am.len() <= before + 1, "one forward per tick at most");
        if am.len() > before {
            forwards.push((now, am[before].clone()));
        }
    }

    let times: Vec<i64> = forwards.iter().map(|(at, _)| (at - T0) / SEC).collect();
    assert_eq!(times[0], 30, "first forward after group_wait: {times:?}");
    for pair in forwards.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 <= MIN,
            "forwards at most resend_interval apart: {times:?}"
        );
    }
    // After each refresh, a forward within resend_interval carries it.
    for &r in &refreshes[1..] {
        assert!(
            forwards.iter().any(|(at, body)| *at > r
                && *at <= r + MIN
                && body[0]["endsAt"] == rfc3339(r + 4 * MIN)),
            "refresh at {}s not forwarded within 1m: {times:?}",
            (r - T0) / SEC
        );
    }
    // Every firing forward carries the end of the latest refresh before it,
    // and the alert as posted.
    for (at, body) in forwards.iter().filter(|(at, _)| *at < resolved_at) {
        let latest = refreshes
            .iter()
            .rev()
            .find(|&&r| r <= *at)
            .expect("a refresh before");
        assert_eq!(body.as_array().map(Vec::len), Some(1));
        assert_eq!(body[0]["endsAt"], rfc3339(latest + 4 * MIN), "at {at}");
        assert_eq!(body[0]["startsAt"], rfc3339(T0));
        assert_eq!(body[0]["annotations"]["summary"], "p99 above 1s");
    }
    // The resolution is forwarded with its end within resend_interval,
    // then nothing more.
    let (last_at, last) = forwards.last().expect("forwards");
    assert!(
        *last_at >= resolved_at && *last_at <= resolved_at + MIN,
        "{times:?}"
    );
    assert_eq!(last[0]["endsAt"], rfc3339(resolved_at));
    assert_eq!(
        forwards.iter().filter(|(at, _)| *at >= resolved_at).count(),
        1,
        "{times:?}"
    );

    // The webhook in the same receiver: one firing notification (repeat
    // interval 4h), and the resolution at its next group_interval flush.
    let hook = bodies_to(&rec, "/hook");
    assert_eq!(hook.len(), 2, "{hook:?}");
    assert_eq!(
        (hook[0]["status"].as_str(), hook[1]["status"].as_str()),
        (Some("firing"), Some("resolved"))
    );
}

#[tokio::test]
async fn a_changed_group_is_forwarded_at_the_group_interval_and_an_unchanged_one_at_resend() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, &config("0s", "1m", Some("10m")), rec.clone());
    let t = tenant();
    let firing = |summary: &str| {
        PostableAlert::new([("alertname", "Disk"), ("host", "a")])
            .annotation("summary", summary)
            .starts_at(T0)
            .ends_at(T0 + 60 * MIN)
    };
    let mut forwarded_at = Vec::new();
    for m in 0..=25 {
        let now = T0 + m * MIN;
        match m {
            0 | 2 => {
                n.receive(&t, vec![firing("disk 90% full")], now)
                    .await
                    .expect("receive");
            }
            4 => {
                n.receive(&t, vec![firing("disk 95% full")], now)
                    .await
                    .expect("receive");
            }
            6 => {
                let other = PostableAlert::new([("alertname", "Disk"), ("host", "b")])
                    .starts_at(now)
                    .ends_at(T0 + 60 * MIN);
                n.receive(&t, vec![other], now).await.expect("receive");
            }
            _ => {}
        }
        let before = bodies_to(&rec, "/am/api/v2/alerts").len();
        n.tick(&t, now).await.expect("tick");
        if bodies_to(&rec, "/am/api/v2/alerts").len() > before {
            forwarded_at.push(m);
        }
    }
    // 0: first; 2: unchanged re-post, nothing; 4: new annotation; 6: new
    // alert; then unchanged until resend_interval (10m) after the last, a
    // tick up to a tenth early counting (so jittery ticks skip no period).
    assert_eq!(
        forwarded_at,
        vec![0, 4, 6, 15, 24],
        "minutes with a forward"
    );
    let am = bodies_to(&rec, "/am/api/v2/alerts");
    assert_eq!(am[1][0]["annotations"]["summary"], "disk 95% full");
    assert_eq!(am[2].as_array().map(Vec::len), Some(2));
    // The webhook ignores annotation changes (Alertmanager's dedup) and
    // tells the new alert once.
    assert_eq!(bodies_to(&rec, "/hook").len(), 2);
}

#[tokio::test]
async fn a_resolution_that_arrives_after_a_forward_is_still_forwarded() {
    let bucket = Bucket::in_memory();
    let rec = Arc::new(Recorder::default());
    let n = notifier(&bucket, &config("0s", "1m", None), rec.clone());
    let t = tenant();
    n.receive(&t, vec![ruler_alert(T0 + 4 * MIN)], T0)
        .await
        .expect("receive");
    n.tick(&t, T0).await.expect("tick");
    n.receive(&t, vec![ruler_alert(T0 + 5 * MIN)], T0 + MIN)
        .await
        .expect("receive");
    n.tick(&t, T0 + MIN).await.expect("tick");
    // The ruler evaluated at T0 + 1m30s and found it resolved, but its post
    // arrives after the notifier forwarded at T0 + 2m.
    n.receive(&t, vec![ruler_alert(T0 + 5 * MIN)], T0 + 2 * MIN)
        .await
        .expect("receive");
    n.tick(&t, T0 + 2 * MIN).await.expect("tick");
    let am_before = bodies_to(&rec, "/am/api/v2/alerts").len();
    n.receive(
        &t,
        vec![ruler_alert(T0 + 90 * SEC)],
        T0 + 2 * MIN + 10 * SEC,
    )
    .await
    .expect("receive");
    let r = n.tick(&t, T0 + 3 * MIN).await.expect("tick");
    assert_eq!(r.sent.len(), 2, "forward and webhook: {r:?}");
    let am = bodies_to(&rec, "/am/api/v2/alerts");
    assert_eq!(am.len(), am_before + 1);
    assert_eq!(am[am_before][0]["endsAt"], rfc3339(T0 + 90 * SEC));
    let hook = bodies_to(&rec, "/hook");
    assert_eq!(hook.last().expect("a webhook body")["status"], "resolved");
    assert!(n
        .tick(&t, T0 + 10 * MIN)
        .await
        .expect("tick")
        .sent
        .is_empty());
}
