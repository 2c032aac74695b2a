//! CORS as Prometheus does it (`--web.cors.origin`,
//! `util/httputil/cors.go`): a request with an `Origin` gets
//! `Access-Control-Allow-{Headers,Methods}`, `Access-Control-Expose-Headers:
//! Date` and `Vary: Origin`; `Access-Control-Allow-Origin` is `*` for the
//! default pattern `.*`, the request's origin when it matches another
//! pattern (anchored: `^(?:pattern)$`), absent otherwise. Preflight
//! `OPTIONS` on a served path answers 204, as Prometheus's API does.
//! Mimir's tenant header, `X-Scope-OrgID`, is allowed besides
//! Prometheus's list.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use regex::Regex;

/// The pattern Prometheus's `--web.cors.origin` defaults to.
pub const DEFAULT_CORS_ORIGIN: &str = ".*";

/// `Access-Control-Allow-Headers`: Prometheus's, and `X-Scope-OrgID`.
pub const ALLOW_HEADERS: &str = "Accept, Authorization, Content-Type, Origin, X-Scope-OrgID";
/// `Access-Control-Allow-Methods`, as Prometheus.
pub const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// `Access-Control-Expose-Headers`, as Prometheus.
pub const EXPOSE_HEADERS: &str = "Date";

/// The origins allowed to call the API from a browser: a regular
/// expression matched against the whole `Origin` header.
#[derive(Debug, Clone)]
pub struct CorsOrigin {
    pattern: String,
    regex: Regex,
}

impl CorsOrigin {
    /// `pattern` anchored at both ends, as Prometheus compiles it.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            pattern: pattern.to_string(),
            regex: Regex::new(&format!("^(?:{pattern})$"))?,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether every origin is allowed (the default `.*`): answered with
    /// `Access-Control-Allow-Origin: *`, as Prometheus does.
    pub fn allows_any(&self) -> bool {
        self.pattern == DEFAULT_CORS_ORIGIN
    }

    pub fn matches(&self, origin: &str) -> bool {
        self.regex.is_match(origin)
    }

    /// Sets the CORS headers of an answer to a request from `origin`.
    pub fn set_headers(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if self.allows_any() {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        } else if origin.to_str().is_ok_and(|o| self.matches(o)) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}

impl Default for CorsOrigin {
    fn default() -> Self {
        Self::new(DEFAULT_CORS_ORIGIN).expect("the default CORS origin pattern compiles")
    }
}

/// `router` with CORS on every route it has (a route layer: paths it does
/// not serve are left to its fallback). Add it once every route is in.
pub fn with_cors(router: Router, origin: CorsOrigin) -> Router {
    router.route_layer(axum::middleware::from_fn_with_state(origin, cors))
}

async fn cors(State(origin): State<CorsOrigin>, req: Request, next: Next) -> Response {
    let from = req.headers().get(header::ORIGIN).cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(from) = from {
        origin.set_headers(&from, resp.headers_mut());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::with_prometheus_prefix;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app(origin: &str) -> Router {
        let r = Router::new().route("/api/v1/query", get(|| async { "ok" }));
        with_prometheus_prefix(with_cors(r, CorsOrigin::new(origin).expect("pattern")))
    }

    async fn call(app: Router, method: &str, path: &str, origin: Option<&str>) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        app.oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response")
    }

    fn h(r: &Response, name: header::HeaderName) -> Option<&str> {
        r.headers().get(name).map(|v| v.to_str().expect("ascii"))
    }

    #[tokio::test]
    async fn the_default_allows_every_origin_with_prometheus_headers() {
        for path in ["/api/v1/query", "/prometheus/api/v1/query"] {
            let r = call(app(".*"), "GET", path, Some("https://grafana.example")).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(h(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
            assert_eq!(
                h(&r, header::ACCESS_CONTROL_ALLOW_METHODS),
                Some(ALLOW_METHODS)
            );
            assert_eq!(
                h(&r, header::ACCESS_CONTROL_ALLOW_HEADERS),
                Some(ALLOW_HEADERS)
            );
            assert_eq!(h(&r, header::ACCESS_CONTROL_EXPOSE_HEADERS), Some("Date"));
            assert_eq!(h(&r, header::VARY), Some("Origin"));
        }
        // No Origin, no CORS headers (as Prometheus).
        let r = call(app(".*"), "GET", "/api/v1/query", None).await;
        assert_eq!(h(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
        assert_eq!(h(&r, header::ACCESS_CONTROL_ALLOW_METHODS), None);
    }

    #[tokio::test]
    async fn a_pattern_is_anchored_and_echoes_the_matching_origin() {
        let a = || app(r"https://grafana\.example");
        let r = call(a(), "GET", "/api/v1/query", Some("https://grafana.example")).await;
        assert_eq!(
            h(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://grafana.example")
        );
        for other in ["https://evil.example", "https://grafana.example.evil"] {
            let r = call(a(), "GET", "/api/v1/query", Some(other)).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(h(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), None, "{other}");
            assert_eq!(
                h(&r, header::ACCESS_CONTROL_ALLOW_METHODS),
                Some(ALLOW_METHODS)
            );
        }
    }

    #[tokio::test]
    async fn preflight_answers_204_on_served_paths_only() {
        let r = call(
            app(".*"),
            "OPTIONS",
            "/prometheus/api/v1/query",
            Some("https://g.example"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(h(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert!(h(&r, header::ACCESS_CONTROL_ALLOW_HEADERS)
            .is_some_and(|v| v.contains("X-Scope-OrgID")));
        let r = call(app(".*"), "OPTIONS", "/nowhere", Some("https://g.example")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn an_invalid_pattern_is_an_error() {
        assert!(CorsOrigin::new("(").is_err());
        assert!(CorsOrigin::default().allows_any());
    }
}
