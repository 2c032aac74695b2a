//! Rule namespace and group names that pass validation can be stored and
//! evaluated on the local-folder bucket, whatever their bytes: escaping
//! triples a byte outside the safe set, and a local file name is at most
//! 255 bytes, so long escaped names get bounded, hashed keys. Names that
//! fail validation are refused with 400, never a retryable 503.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use stratus_alerting::{router, AlertingApi, EngineQuerier};
use stratus_notifier::{Notifier, NotifierOptions};
use stratus_query::EngineOptions;
use stratus_ruler::notify::DiscardSender;
use stratus_ruler::{DiscardAppender, RuleStore, Ruler, RulerOptions};
use stratus_storage::{Bucket, StorageBackend, StorageConfig};
use tower::ServiceExt;

/// Percent-encodes every byte but unreserved ones, for a path segment.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn upload(app: &axum::Router, namespace: &str, group: &str) -> (StatusCode, String) {
    let quoted = serde_json::to_string(group).expect("quote");
    let body =
        format!("name: {quoted}\ninterval: 1m\nrules:\n- record: names:one\n  expr: vector(1)\n");
    let req = Request::post(format!("/config/v1/rules/{}", encode(namespace)))
        .header("content-type", "application/yaml")
        .body(Body::from(body))
        .expect("request");
    call(app, req).await
}

#[tokio::test]
async fn every_valid_name_is_stored_and_evaluated_on_a_local_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = Bucket::from_config(&StorageConfig {
        backend: StorageBackend::Local,
        data_dir: dir.path().to_path_buf(),
        ..StorageConfig::default()
    })
    .expect("local bucket");
    let store = RuleStore::new(bucket.clone());
    let config = stratus_alerting::service::notifier_config(None).expect("config");
    let notifier = Arc::new(
        Notifier::new(bucket.clone(), config, NotifierOptions::default()).expect("notifier"),
    );
    let app = router(AlertingApi {
        store: store.clone(),
        options: RulerOptions::default(),
        notifier,
        tenants: stratus_http::TenantPolicy::default(),
        started_ms: 0,
    });

    // At and around the 200-byte maximum, with bytes that escape to three.
    let names: Vec<(String, String)> = vec![
        (" ".repeat(100), "/".repeat(100)),
        (" ".repeat(200), "%".repeat(200)),
        ("/".repeat(200), " ".repeat(200)),
        ("é".repeat(100), "ü/".repeat(66)),
        (format!("{}x", "%".repeat(199)), "日本語".repeat(22)),
        ("infra/db".into(), "readable group".into()),
        ("a".repeat(200), "b".repeat(200)),
    ];
    for (ns, group) in &names {
        assert!(ns.len() <= 200 && group.len() <= 200);
        let (status, body) = upload(&app, ns, group).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{ns:?}/{group:?}: {body}");
        let (status, body) = call(
            &app,
            Request::get(format!("/api/v1/rules/{}/{}", encode(ns), encode(group)))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{ns:?}/{group:?}: {body}");
        assert!(body.contains("names:one"), "{body}");
    }
    // Short names keep readable keys.
    assert!(dir
        .path()
        .join("tenants/anonymous/rules/infra!2Fdb.yaml")
        .exists());

    let ruler = Ruler::new(
        store.clone(),
        Arc::new(EngineQuerier::over_bucket(
            bucket.clone(),
            EngineOptions::default(),
        )),
        Arc::new(DiscardAppender),
        Arc::new(DiscardSender),
        RulerOptions::default(),
    );
    let now = stratus_alerting::now_ms();
    let r = ruler
        .run_once(now, Instant::now() + Duration::from_secs(60))
        .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.evaluations, names.len() as u64, "{r:?}");
    let ns_listed = store
        .namespace_names(&stratus_model::TenantId::anonymous())
        .await
        .expect("names");
    assert_eq!(ns_listed.len(), names.len(), "{ns_listed:?}");

    let (status, body) = call(
        &app,
        Request::get("/api/v1/rules")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let groups = v["data"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), names.len());
    for (ns, group) in &names {
        let g = groups
            .iter()
            .find(|g| g["file"] == ns.as_str() && g["name"] == group.as_str())
            .unwrap_or_else(|| panic!("{ns:?}/{group:?} not listed"));
        assert_eq!(g["health"], "ok", "{g}");
        assert_eq!(g["rules"][0]["health"], "ok", "{g}");
    }

    // Deleting works on hashed keys too, state included.
    let (ns, group) = &names[1];
    let (status, body) = call(
        &app,
        Request::delete(format!("/api/v1/rules/{}/{}", encode(ns), encode(group)))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = call(
        &app,
        Request::delete(format!("/api/v1/rules/{}", encode(&names[2].0)))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let left = store
        .namespaces(&stratus_model::TenantId::anonymous())
        .await
        .expect("namespaces");
    assert_eq!(left.len(), names.len() - 2, "{:?}", left.keys());
    assert!(!left.contains_key(&names[1].0) && !left.contains_key(&names[2].0));

    // Over the maximum: a 400 that says why, never a 503.
    for (ns, group) in [
        (" ".repeat(201), "g".to_string()),
        ("ns".to_string(), "/".repeat(201)),
    ] {
        let (status, body) = upload(&app, &ns, &group).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("at most 200 are allowed"), "{body}");
    }
}
