//! In `stratus all` an acknowledged sample is queryable at once: the
//! writer hands each stored segment to the querier's head (ADR 0030), so
//! no listing has to find it. The listing here is cached for an hour: only
//! the hand-over can make the samples visible.

use std::path::Path;

use stratus_tests::stratus::StratusProcess;

#[tokio::test]
async fn an_acknowledged_sample_is_queryable_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = StratusProcess::start(
        Path::new(env!("CARGO_BIN_EXE_stratus")),
        0,
        &dir.path().join("data"),
        &dir.path().join("stratus.log"),
        &["--query-listing-ttl", "1h", "--commit-window", "5ms"],
    )
    .expect("start stratus");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let query = |q: String| {
        let (client, url) = (client.clone(), s.url("/api/v1/query"));
        async move {
            let body = serde_urlencoded::to_string([("query", q.as_str())]).expect("form");
            let r = client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("query");
            assert!(r.status().is_success(), "{}", r.status());
            let v: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
            v["data"]["result"].as_array().expect("result").len()
        }
    };
    // The first query lists the (empty) segments and keeps the listing.
    assert_eq!(query("fresh_sample".into()).await, 0);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    for i in 0..20 {
        let body = format!(
            r#"{{"metrics":[{{"name":"fresh_sample","type":"gauge","value":{i},"timestamp":{},"tags":{{"seq":"{i}"}}}}]}}"#,
            now - 1.0
        );
        let r = client
            .post(s.url("/api/v1/push"))
            .body(body)
            .send()
            .await
            .expect("push");
        assert!(r.status().is_success(), "push {i}: {}", r.status());
        // No wait: the acknowledged sample must answer the next query.
        assert_eq!(
            query(format!("fresh_sample{{seq=\"{i}\"}}")).await,
            1,
            "sample {i} not visible right after its acknowledgement"
        );
    }
    assert_eq!(query("fresh_sample".into()).await, 20);

    // The head reports what it holds.
    let metrics = client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series = stratus_tests::prometheus::metric_sum(&metrics, "stratus_query_head_series")
        .expect("stratus_query_head_series");
    assert!(series >= 20.0, "{series}");
}
