//! Two values for one series and timestamp in one request. What
//! Prometheus 2.42's receiver (`--web.enable-remote-write-receiver`)
//! answered, sent the same requests: 204 with an empty body in every case
//! below, and a query showed the first value kept (`[..., "1"]` for values
//! 1 then 2). Prometheus 3's v1 receiver appends the same way (the head
//! drops the later sample at commit). Only a repeat of a sample already
//! committed by an earlier request is a 400 `duplicate sample for
//! timestamp` there, which a bucket-only writer does not know of.

use stratus_model::Sample;

use super::*;

/// The samples stored for `tenant`, by series text.
async fn stored_values(bucket: &Bucket, tenant: &str) -> Vec<(String, Vec<Sample>)> {
    let tenant = TenantId::new(tenant).expect("tenant");
    let mut out = Vec::new();
    for o in bucket.list(&segments_prefix(&tenant)).await.expect("list") {
        let (b, _) = bucket.get(&o.key).await.expect("get");
        for s in decode_segment(&b).expect("segment").series {
            out.push((s.labels.to_string(), s.samples));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn remote_write_keeps_the_first_value_and_answers_204() {
    let f = fixture(HttpLimits::default());
    let up: &[(&str, &str)] = &[("__name__", "up"), ("job", "a")];
    let body = v1_body(&[
        // One entry with the timestamp twice.
        (up, &[(NOW, 1.0), (NOW, 2.0)]),
        // The same series in a second entry.
        (up, &[(NOW, 3.0), (NOW + 1, 4.0)]),
        (&[("__name__", "other")], &[(NOW, 5.0)]),
    ]);
    let (status, _, text) = send(&f, write(body, Some("application/x-protobuf"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(
        stored_values(&f.bucket, "anonymous").await,
        [
            ("other{}".to_string(), vec![Sample::new(NOW, 5.0)]),
            (
                r#"up{job="a"}"#.to_string(),
                vec![Sample::new(NOW, 1.0), Sample::new(NOW + 1, 4.0)]
            ),
        ]
    );
    assert_eq!(f.metrics.samples_accepted.get(), 3);
    assert_eq!(f.metrics.rejected(Reason::DuplicateTimestamp).get(), 2);
}

#[tokio::test]
async fn json_push_keeps_the_first_value_and_says_so() {
    let f = fixture(HttpLimits::default());
    let body = r#"{"metrics":[
        {"name":"temp","value":1,"timestamp":1700000000,"tags":{"room":"a"}},
        {"name":"temp","value":2,"timestamp":1700000000,"tags":{"room":"a"}},
        {"name":"temp","value":3,"timestamp":1700000000,"tags":{"room":"b"}}]}"#;
    let (status, _, text) = send(&f, push(body)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let r: PushResponse = serde_json::from_str(&text).expect("json");
    assert_eq!(
        (r.status.as_str(), r.accepted, r.rejected),
        ("success", 2, 1),
        "{text}"
    );
    assert!(
        r.errors[0].starts_with("duplicate sample for timestamp"),
        "{text}"
    );
    let stored = stored_values(&f.bucket, "anonymous").await;
    assert_eq!(stored[0].1, [Sample::new(NOW, 1.0)], "{stored:?}");
    assert_eq!(stored.len(), 2);
}
