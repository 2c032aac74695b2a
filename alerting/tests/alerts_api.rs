//! `POST /api/v2/alerts` as Alertmanager answers it: valid alerts are
//! stored; any invalid one (no labels, a bad label name, an end before its
//! start) makes the answer a 400 whose JSON string body says why.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use stratus_alerting::{build, router, AlertingApi};
use stratus_ruler::RulerOptions;
use stratus_storage::Bucket;
use tower::ServiceExt;

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn post(body: &str) -> Request<Body> {
    Request::post("/api/v2/alerts")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test]
async fn invalid_alerts_are_a_400_and_valid_ones_are_kept() {
    let bucket = Bucket::in_memory();
    let options = RulerOptions::default();
    let notifier = build::notifier(&bucket, None, &options).expect("notifier");
    let app = router(AlertingApi::new(&bucket, options, notifier, false));

    let (status, body) = call(&app, post(r#"[{"labels":{"alertname":"Ok"}}]"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (alerts, why) in [
        (r#"[{"labels":{}}]"#, "no labels"),
        (r#"[{"labels":{"alertname":""}}]"#, "no labels"),
        (r#"[{"labels":{"0bad":"x"}}]"#, "not a valid label name"),
        (
            r#"[{"labels":{"alertname":"Late"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]"#,
            "ends before it starts",
        ),
    ] {
        let (status, body) = call(&app, post(alerts)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{alerts}: {body}");
        let text: String = serde_json::from_str(&body).expect("a JSON string");
        assert!(text.contains(why), "{alerts}: {text}");
    }

    // One valid and one invalid: 400, and the valid one is stored.
    let (status, _) = call(
        &app,
        post(r#"[{"labels":{"alertname":"Kept"}},{"labels":{}}]"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(
        &app,
        Request::get("/api/v2/alerts")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("\"Kept\"") && body.contains("\"Ok\""),
        "{body}"
    );
}
