//! A panicking request handler answers its own request with an error and
//! takes nothing else down.
//!
//! [`catch_panics`] wraps a router: a panic while a request is being
//! handled is caught, counted, and answered in the Prometheus API's JSON
//! error shape with an id that is also in the log. [`install_panic_hook`]
//! replaces the standard hook, which printed every panic to stderr, with
//! one that logs each panic once through `tracing`, with the request it
//! happened in when there is one; the id is made there so that the log
//! line and the answer carry the same.

use std::any::Any;
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Once};
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::{header, Method, Request, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use tower::{Layer, Service};
use tracing::error;
use ulid::Ulid;

/// The part of Stratus a route belongs to, the `component` label of
/// `stratus_panics_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// remote_write and JSON push.
    Ingest,
    /// The Prometheus query API.
    Query,
    /// Rules, alerts and silences.
    Alerting,
    /// The server's own routes: `/metrics`, `/-/healthy`, `/-/ready`.
    Server,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Ingest,
        Component::Query,
        Component::Alerting,
        Component::Server,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Ingest => "ingest",
            Component::Query => "query",
            Component::Alerting => "alerting",
            Component::Server => "server",
        }
    }

    /// What a request that panicked answers: 400 on the write routes,
    /// whose senders retry a 5xx forever with a request that would panic
    /// again; 500 elsewhere.
    pub fn panic_status(self) -> StatusCode {
        match self {
            Component::Ingest => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Panics caught in this component's requests since the process
    /// started.
    pub fn panics(self) -> u64 {
        stratus_model::panics::counts()
            .into_iter()
            .find(|(c, _)| *c == self.as_str())
            .map_or(0, |(_, n)| n)
    }
}

/// The metric's name as exposed (the text format adds `_total`).
pub const PANICS_METRIC: &str = "stratus_panics";

/// `stratus_panics_total{component}` for a registry:
/// `registry.register_collector(Box::new(PanicCollector))`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PanicCollector;

impl Collector for PanicCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            PANICS_METRIC,
            "Panics caught at a boundary (a request, a query evaluation, a rule group, a notification, a compaction pass) and answered or logged as an error; the process went on",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        // Every HTTP component is listed, at 0 until it panics; others
        // (ruler, notifier, compactor) once they have.
        let mut counts: std::collections::BTreeMap<&str, u64> =
            Component::ALL.iter().map(|c| (c.as_str(), 0)).collect();
        counts.extend(stratus_model::panics::counts());
        for (component, n) in counts {
            let counter = ConstCounter::new(n);
            counter.encode(family.encode_family(&[("component", component)])?)?;
        }
        Ok(())
    }
}

/// The request being handled on this thread, for the panic hook.
#[derive(Debug)]
struct InFlight {
    component: Component,
    method: Method,
    path: String,
}

thread_local! {
    /// Set while a [`CatchPanic`] polls its handler.
    static IN_FLIGHT: Cell<Option<Arc<InFlight>>> = const { Cell::new(None) };
    /// The id the hook logged the last panic of this thread's request with.
    static LOGGED: Cell<Option<Ulid>> = const { Cell::new(None) };
}

/// Logs every panic once through `tracing`: message and location, and
/// the component, method and path when it happened in a request (with
/// the error id the answer carries). No backtrace for a request; other
/// panics get one when `RUST_BACKTRACE` asks for it. Replaces the
/// standard hook; call it once at start, after logging is set up (before,
/// panics go to stderr).
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(hook)));
}

fn hook(info: &std::panic::PanicHookInfo<'_>) {
    let message = payload_message(info.payload());
    let location = info
        .location()
        .map(|l| l.to_string())
        .unwrap_or_else(|| "unknown".into());
    let in_flight = IN_FLIGHT
        .try_with(|c| {
            let v = c.take();
            c.set(v.clone());
            v
        })
        .ok()
        .flatten();
    let logging =
        tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>());
    match in_flight {
        Some(r) => {
            let id = Ulid::new();
            let _ = LOGGED.try_with(|c| c.set(Some(id)));
            if logging {
                error!(
                    error_id = %id,
                    component = r.component.as_str(),
                    method = %r.method,
                    path = %r.path,
                    location,
                    "request handler panicked: {message}"
                );
            } else {
                eprintln!(
                    "request handler panicked: {message} (error id {id}, {} {} {}, at {location})",
                    r.component.as_str(),
                    r.method,
                    r.path
                );
            }
        }
        None => {
            let thread = std::thread::current();
            let thread = thread.name().unwrap_or("unnamed");
            let backtrace = std::backtrace::Backtrace::capture();
            let backtrace = match backtrace.status() {
                std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
                _ => String::new(),
            };
            if logging {
                error!(thread, location, "panicked: {message}{backtrace}");
            } else {
                eprintln!("thread '{thread}' panicked at {location}: {message}{backtrace}");
            }
        }
    }
}

/// The message of a panic (`panic!` gives a `&str` or a `String`).
fn payload_message(payload: &(dyn Any + Send)) -> String {
    stratus_model::panics::message(payload)
}

/// Catches panics of the handlers of the routes it wraps:
/// `router.layer(catch_panics(Component::Query))`.
pub fn catch_panics(component: Component) -> CatchPanicLayer {
    CatchPanicLayer { component }
}

/// See [`catch_panics`].
#[derive(Debug, Clone, Copy)]
pub struct CatchPanicLayer {
    component: Component,
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic {
            inner,
            component: self.component,
        }
    }
}

/// See [`catch_panics`].
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
    component: Component,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S, B> Service<Request<B>> for CatchPanic<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Answer {
        let request = Arc::new(InFlight {
            component: self.component,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
        });
        let inner = &mut self.inner;
        let mut answer = match guarded(&request, || inner.call(req)) {
            Ok(f) => Box::pin(f),
            Err(payload) => return Box::pin(std::future::ready(Ok(panicked(&request, payload)))),
        };
        Box::pin(std::future::poll_fn(move |cx| {
            match guarded(&request, || answer.as_mut().poll(cx)) {
                Ok(poll) => poll,
                Err(payload) => Poll::Ready(Ok(panicked(&request, payload))),
            }
        }))
    }
}

/// Runs `f` with `request` as this thread's request in flight, catching
/// a panic.
fn guarded<R>(request: &Arc<InFlight>, f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    let outer = IN_FLIGHT.with(|c| c.replace(Some(request.clone())));
    LOGGED.with(|c| c.set(None));
    let r = catch_unwind(AssertUnwindSafe(f));
    IN_FLIGHT.with(|c| c.set(outer));
    r
}

/// The answer to a request whose handler panicked: counted, logged
/// (unless the hook did), and an error with the id.
fn panicked(request: &InFlight, payload: Box<dyn Any + Send>) -> Response {
    let c = request.component;
    stratus_model::panics::record(c.as_str());
    let id = match LOGGED.with(Cell::take) {
        Some(id) => id,
        None => {
            // No hook of ours ran (tests, or a binary that did not
            // install it): log here, without the location.
            let id = Ulid::new();
            let message = payload_message(&*payload);
            error!(
                error_id = %id,
                component = c.as_str(),
                method = %request.method,
                path = %request.path,
                "request handler panicked: {message}"
            );
            id
        }
    };
    let message = format!(
        "internal error {id}: the request failed unexpectedly; the server logged it with this id"
    );
    let body = format!(
        r#"{{"status":"error","errorType":"internal","error":{}}}"#,
        serde_json::Value::from(message)
    );
    (
        c.panic_status(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
