//! Answers as Prometheus and Alertmanager give them: `POST /api/v2/alerts`
//! stores valid alerts and answers 400 with the reasons for any invalid
//! one; `GET /api/v1/rules?match[]=` keeps rules whose labels match and
//! refuses a selector that does not parse; `GET /api/v2/status` holds
//! the configuration, start time and a version amtool accepts, and
//! `GET /api/v2/receivers` lists the configuration's receivers.

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

const AM_CONFIG: &str = "route:\n  receiver: team\n  group_by: [alertname]\n\
receivers:\n- name: team\n  webhook_configs:\n  - url: http://127.0.0.1:1/hook\n- name: other\n";

#[tokio::test]
async fn status_holds_the_configuration_and_receivers_are_listed() {
    let bucket = Bucket::in_memory();
    let options = RulerOptions::default();
    let notifier = build::notifier(&bucket, Some(AM_CONFIG), &options).expect("notifier");
    let before = stratus_alerting::now_ms();
    let app = router(AlertingApi::new(&bucket, options, notifier, false));
    let get = |path: &str| Request::get(path).body(Body::empty()).expect("request");

    let (status, body) = call(&app, get("/api/v2/status")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["config"]["original"], AM_CONFIG, "{body}");
    assert_eq!(v["cluster"]["status"], "disabled");
    // amtool warns on every command unless the version is its own.
    assert_eq!(v["versionInfo"]["version"], "0.25.0");
    for field in ["branch", "buildDate", "buildUser", "goVersion", "revision"] {
        assert!(v["versionInfo"][field].is_string(), "{field}: {body}");
    }
    // `uptime` is the start, as an RFC 3339 date-time.
    let uptime = v["uptime"].as_str().expect("uptime is a string");
    let started = stratus_model::time::parse_rfc3339(uptime).expect("RFC 3339");
    assert!(
        (started - before).abs() < 60_000,
        "{uptime} is not the start"
    );

    let (status, body) = call(&app, get("/api/v2/receivers")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v, serde_json::json!([{"name": "team"}, {"name": "other"}]));

    // Without a configuration: the built-in one, shown as it is.
    let notifier = build::notifier(&bucket, None, &RulerOptions::default()).expect("notifier");
    let app = router(AlertingApi::new(
        &bucket,
        RulerOptions::default(),
        notifier,
        false,
    ));
    let (_, body) = call(&app, get("/api/v2/status")).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["config"]["original"],
        stratus_alerting::service::NO_RECEIVER
    );
}
