//! The ruler and notifier functions' handlers, driven by EventBridge
//! Scheduler events, with rules uploaded through the query function's
//! Function URL (the Mimir-style config API) and the Alertmanager
//! configuration in the bucket where the Terraform module puts it:
//! recording-rule output lands as segments, the alert reaches a local
//! webhook once, and the invocations stay within their budget.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use stratus_alerting::now_ms;
use stratus_codec::decode_segment;
use stratus_lambda::ruler_notifier::{
    notifier_handler, ruler_handler, AlertmanagerConfig, RulerFunction,
};
use stratus_lambda::{query_app, Settings};
use stratus_model::TenantId;
use stratus_storage::keys::segments_prefix;
use stratus_storage::Bucket;
use tower::ServiceExt;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

/// A Function URL request for `method path` with `body`, from the query fixture.
fn request(method: &str, path: &str, body: &str) -> Value {
    let mut e = fixture("function-url-query.json");
    e["rawPath"] = Value::String(path.into());
    e["rawQueryString"] = Value::String(String::new());
    e["queryStringParameters"] = Value::Null;
    e["requestContext"]["http"]["method"] = Value::String(method.into());
    e["requestContext"]["http"]["path"] = Value::String(path.into());
    e["headers"]["content-type"] = Value::String("application/yaml".into());
    e["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(body));
    e["isBase64Encoded"] = Value::Bool(true);
    e
}

async fn invoke(app: Router, event: Value) -> Value {
    let req: LambdaRequest = serde_json::from_value(event).expect("a Lambda HTTP event");
    let resp = lambda_http::Adapter::from(app)
        .oneshot(LambdaEvent::new(req, Context::default()))
        .await
        .expect("response");
    serde_json::to_value(resp).expect("serialisable")
}

/// A scheduled event whose invocation has `secs` left.
fn scheduled(secs: u64) -> LambdaEvent<Value> {
    let mut ctx = Context::default();
    ctx.deadline = u64::try_from(now_ms()).expect("time") + secs * 1000;
    LambdaEvent::new(fixture("scheduler.json"), ctx)
}

#[derive(Clone, Default)]
struct Hook(Arc<Mutex<Vec<Value>>>);

async fn webhook() -> (Hook, SocketAddr) {
    async fn take(State(h): State<Hook>, body: axum::body::Bytes) -> &'static str {
        h.0.lock()
            .expect("lock")
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        "ok"
    }
    let hook = Hook::default();
    let app = Router::new()
        .route("/hook", post(take))
        .with_state(hook.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (hook, addr)
}

const RULES: &str = "name: always\ninterval: 1s\nrules:\n- record: lambda:one\n  expr: vector(1)\n- alert: AlwaysOn\n  expr: lambda:one > 0\n  labels:\n    severity: page\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_ruler_and_notifier_invocations_evaluate_record_and_notify_once() {
    let bucket = Bucket::in_memory();
    let (hook, addr) = webhook().await;
    let settings = Settings {
        alertmanager_config_key: Some("config/alertmanager.yaml".into()),
        ruler_budget: Duration::from_secs(3),
        ruler_tick: Duration::from_millis(500),
        notifier_budget: Duration::from_secs(2),
        notifier_tick: Duration::from_millis(200),
        ..Settings::default()
    };
    bucket
        .put(
            &"config/alertmanager.yaml".into(),
            format!(
                "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 1h\n\
                 receivers:\n- name: hook\n  webhook_configs:\n  - url: http://{addr}/hook\n"
            )
            .into(),
        )
        .await
        .expect("put config");

    // Rules through the query function (Mimir's config API).
    let resp = invoke(
        query_app(bucket.clone(), &settings),
        request("POST", "/api/v1/rules/lambda", RULES),
    )
    .await;
    assert_eq!(resp["statusCode"], 202, "{resp}");
    let bad = invoke(
        query_app(bucket.clone(), &settings),
        request(
            "POST",
            "/api/v1/rules/lambda",
            "name: x\nrules:\n- record: not a name\n  expr: up\n",
        ),
    )
    .await;
    assert_eq!(bad["statusCode"], 400, "{bad}");

    // One ruler invocation: several evaluations within its budget, and no more.
    let alerting = RulerFunction::start(&bucket, &settings)
        .await
        .expect("ruler");
    let started = Instant::now();
    let r = ruler_handler(&alerting, &settings, scheduled(60))
        .await
        .expect("ruler invocation");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "kept its budget: {:?}",
        started.elapsed()
    );
    assert!(r["evaluations"].as_u64().expect("evaluations") >= 2, "{r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");

    // Recording-rule output landed as segments.
    let mut recorded = 0;
    for o in bucket
        .list(&segments_prefix(&TenantId::anonymous()))
        .await
        .expect("list")
    {
        let (bytes, _) = bucket.get(&o.key).await.expect("get");
        for s in decode_segment(&bytes).expect("segment").series {
            if s.labels.to_string().contains("lambda:one") {
                recorded += s.samples.len();
            }
        }
    }
    assert!(
        recorded >= 2,
        "recording-rule samples in segments: {recorded}"
    );

    // The notifier function sends the alert once, however often it ticks.
    let n = AlertmanagerConfig::load(&bucket, &settings)
        .await
        .expect("notifier");
    let r = notifier_handler(&n, &bucket, &settings, scheduled(60))
        .await
        .expect("notifier invocation");
    assert_eq!(r["notifications_sent"], 1, "{r}");
    let r = notifier_handler(&n, &bucket, &settings, scheduled(60))
        .await
        .expect("second notifier invocation");
    assert_eq!(
        r["notifications_sent"], 0,
        "group_interval has not passed: {r}"
    );
    let got = hook.0.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["status"], "firing");
    assert_eq!(got[0]["alerts"][0]["labels"]["alertname"], "AlwaysOn");

    // An invocation whose deadline is (almost) gone still answers, at once.
    let started = Instant::now();
    let r = ruler_handler(&alerting, &settings, scheduled(0))
        .await
        .expect("late ruler invocation");
    assert!(started.elapsed() < Duration::from_secs(2), "{r}");
}

fn am_config(receiver: &str) -> String {
    format!(
        "route:\n  receiver: {receiver}\n  group_by: [alertname]\n\
         receivers:\n- name: {receiver}\n"
    )
}

fn receivers(config: &AlertmanagerConfig) -> Vec<String> {
    config
        .notifier()
        .config()
        .receivers
        .iter()
        .map(|r| r.name.clone())
        .collect()
}

/// Warm ruler and notifier functions take a new Alertmanager configuration
/// at their next invocation, and parse an unchanged one only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_alertmanager_configuration_is_used_by_the_next_invocation() {
    let bucket = Bucket::in_memory();
    let key = "config/alertmanager.yaml";
    let settings = Settings {
        alertmanager_config_key: Some(key.into()),
        ruler_budget: Duration::ZERO,
        notifier_budget: Duration::ZERO,
        ..Settings::default()
    };
    bucket
        .put(&key.into(), am_config("team-a").into())
        .await
        .expect("put config A");
    let notifier_fn = AlertmanagerConfig::load(&bucket, &settings)
        .await
        .expect("notifier");
    let ruler_fn = RulerFunction::start(&bucket, &settings)
        .await
        .expect("ruler");

    // Invocation 1: configuration A.
    let r = notifier_handler(&notifier_fn, &bucket, &settings, scheduled(60))
        .await
        .expect("notifier invocation 1");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    assert!(receivers(&notifier_fn).contains(&"team-a".to_string()));
    ruler_handler(&ruler_fn, &settings, scheduled(60))
        .await
        .expect("ruler invocation 1");
    assert!(receivers(&ruler_fn.config).contains(&"team-a".to_string()));
    // Unchanged: looked at, not read and parsed again.
    assert_eq!(notifier_fn.loads(), 1);
    assert_eq!(ruler_fn.config.loads(), 1);
    let (before, _) = ruler_fn.alerting().await;

    // Configuration B is written (terraform apply).
    bucket
        .put(&key.into(), am_config("team-b").into())
        .await
        .expect("put config B");

    // Invocation 2: configuration B.
    let r = notifier_handler(&notifier_fn, &bucket, &settings, scheduled(60))
        .await
        .expect("notifier invocation 2");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    let names = receivers(&notifier_fn);
    assert!(
        names.contains(&"team-b".to_string()) && !names.contains(&"team-a".to_string()),
        "{names:?}"
    );
    assert_eq!(notifier_fn.loads(), 2);
    let r = ruler_handler(&ruler_fn, &settings, scheduled(60))
        .await
        .expect("ruler invocation 2");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    assert!(receivers(&ruler_fn.config).contains(&"team-b".to_string()));
    assert_eq!(ruler_fn.config.loads(), 2);
    let (after, _) = ruler_fn.alerting().await;
    assert!(
        !Arc::ptr_eq(&before, &after),
        "the ruler hands alerts to the new notifier"
    );

    // Invocation 3, nothing changed: no new parse.
    notifier_handler(&notifier_fn, &bucket, &settings, scheduled(60))
        .await
        .expect("notifier invocation 3");
    assert_eq!(notifier_fn.loads(), 2);

    // An invalid configuration keeps the last good one and is reported.
    bucket
        .put(&key.into(), "route: [".into())
        .await
        .expect("put bad config");
    let r = notifier_handler(&notifier_fn, &bucket, &settings, scheduled(60))
        .await
        .expect("notifier invocation 4");
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(1), "{r}");
    assert!(receivers(&notifier_fn).contains(&"team-b".to_string()));

    // The object removed: the notifier sends nowhere again.
    bucket.delete(&key.into()).await.expect("delete config");
    notifier_handler(&notifier_fn, &bucket, &settings, scheduled(60))
        .await
        .expect("notifier invocation 5");
    assert!(!receivers(&notifier_fn).contains(&"team-b".to_string()));
}
