//! Answers as Prometheus and Alertmanager give them: `POST /api/v2/alerts`
//! stores valid alerts and answers 400 with the reasons for any invalid
//! one; `GET /api/v1/rules?match[]=` keeps rules whose labels match and
//! refuses a selector that does not parse.

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

#[tokio::test]
async fn rules_are_filtered_by_label_matchers() {
    let bucket = Bucket::in_memory();
    let options = RulerOptions::default();
    let notifier = build::notifier(&bucket, None, &options).expect("notifier");
    let app = router(AlertingApi::new(&bucket, options, notifier, false));
    let group = "name: g\nrules:\n- alert: Critical\n  expr: vector(1)\n  labels:\n    severity: critical\n- alert: Warning\n  expr: vector(1)\n  labels:\n    severity: warning\n- record: r:one\n  expr: vector(1)\n";
    let (status, body) = call(
        &app,
        Request::post("/config/v1/rules/ns")
            .header("content-type", "application/yaml")
            .body(Body::from(group))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let rules = |q: &str| {
        Request::get(format!("/api/v1/rules?{q}"))
            .body(Body::empty())
            .expect("request")
    };
    let names = |body: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        v["data"]["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (status, body) = call(&app, rules("match[]=%7Bseverity%3D%22critical%22%7D")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body), ["Critical"]);
    // Either selector may match; a regex too.
    let (_, body) = call(
        &app,
        rules("match[]=%7Bseverity%3D%22critical%22%7D&match[]=%7Bseverity%3D~%22warn.*%22%7D"),
    )
    .await;
    assert_eq!(names(&body), ["Critical", "Warning"]);
    // No rule matches: no group.
    let (_, body) = call(&app, rules("match[]=%7Bseverity%3D%22none%22%7D")).await;
    assert!(names(&body).is_empty(), "{body}");
    // Not a selector: 400 bad_data, as Prometheus.
    let (status, body) = call(&app, rules("match[]=%7B")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["errorType"], "bad_data", "{body}");
}
