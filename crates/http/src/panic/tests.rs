use std::sync::Mutex;

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

fn app(component: Component) -> Router {
    Router::new()
        .route(
            "/boom",
            get(|| async {
                tokio::task::yield_now().await;
                let v: Vec<u32> = Vec::new();
                #[allow(clippy::indexing_slicing)]
                let x = v[3];
                x.to_string()
            }),
        )
        .route(
            "/boom",
            post(|| async {
                if true {
                    panic!("the {} handler gave up", "write");
                }
                "unreachable"
            }),
        )
        .route("/fine", get(|| async { "fine" }))
        .layer(catch_panics(component))
}

async fn call(app: &Router, method: &str, path: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The error id in an answer's message.
fn error_id(body: &str) -> Ulid {
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(v["status"], "error", "{body}");
    assert_eq!(v["errorType"], "internal", "{body}");
    let message = v["error"].as_str().expect("error message");
    let id = message
        .strip_prefix("internal error ")
        .and_then(|m| m.split(':').next())
        .expect("id in the message");
    Ulid::from_string(id).expect("a ULID")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_with_an_id_and_others_go_on() {
    let app = app(Component::Query);
    let before = Component::Query.panics();
    let (status, body) = call(&app, "GET", "/boom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    error_id(&body);
    assert!(Component::Query.panics() > before, "counted");
    let (status, body) = call(&app, "GET", "/fine").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "fine"));
    // And the same router again after the panic.
    let (status, _) = call(&app, "GET", "/boom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_write_route_answers_400_so_senders_do_not_retry() {
    let app = app(Component::Ingest);
    let before = Component::Ingest.panics();
    let (status, body) = call(&app, "POST", "/boom").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error_id(&body);
    assert!(Component::Ingest.panics() > before, "counted");
}

/// A service that panics in `call`, before it has a future.
#[derive(Clone)]
struct PanicsInCall;

impl Service<Request<Body>> for PanicsInCall {
    type Response = Response;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        panic!("no future for you")
    }
}

#[tokio::test]
async fn a_panic_before_the_future_is_caught_too() {
    let svc = catch_panics(Component::Alerting).layer(PanicsInCall);
    let before = Component::Alerting.panics();
    let resp = svc
        .oneshot(Request::new(Body::empty()))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(Component::Alerting.panics() > before, "counted");
}

/// Log lines written through a scoped subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_hook_logs_the_panic_once_with_the_id_of_the_answer() {
    install_panic_hook();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = app(Component::Server);
    let (status, body) = call(&app, "GET", "/boom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = error_id(&body);
    let text = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("panicked")).collect();
    assert_eq!(lines.len(), 1, "one line per panic:\n{text}");
    let line = lines[0];
    for part in [
        &format!("error_id={id}"),
        "component=\"server\"",
        "path=/boom",
        "panic/tests.rs:",
        "index out of bounds",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    assert!(!text.contains("stack backtrace"), "{text}");
}

#[test]
fn every_component_is_exposed() {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(PanicCollector));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(text.contains("# TYPE stratus_panics counter"), "{text}");
    for c in Component::ALL {
        let prefix = format!("stratus_panics_total{{component=\"{}\"}} ", c.as_str());
        assert!(text.contains(&prefix), "{prefix} not in {text}");
    }
}
