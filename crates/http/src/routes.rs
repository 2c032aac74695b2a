//! Route tables: a router's routes as data, so what is routed in front of
//! a server (API Gateway's route table, `infra/terraform`) can be checked
//! against what the server answers.

use axum::routing::MethodRouter;
use axum::Router;

/// `(method, path)` pairs in axum's path syntax (`{name}` for a segment).
pub type Routes = &'static [(&'static str, &'static str)];

/// A router with one route per distinct path of `table`, in the order of
/// the table, answered by `handlers(path)`. A router built this way serves
/// no path its table does not list; that the methods agree is checked by
/// the tests that probe the router with every listed route.
pub fn router_from<S>(table: Routes, handlers: impl Fn(&str) -> MethodRouter<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut paths: Vec<&'static str> = Vec::new();
    for (_, path) in table {
        if !paths.contains(path) {
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |r, path| r.route(path, handlers(path)))
}

/// The prefix under which Mimir serves the Prometheus API and the ruler's
/// configuration API (`/prometheus/api/v1/query`,
/// `/prometheus/config/v1/rules`), mimirtool's default.
pub const PROMETHEUS_PREFIX: &str = "/prometheus";

/// `router` also under [`PROMETHEUS_PREFIX`]: every route answers both
/// with and without it.
pub fn with_prometheus_prefix(router: Router) -> Router {
    router.clone().nest(PROMETHEUS_PREFIX, router)
}

/// `router` answering a path it does not serve as Prometheus does (Go's
/// `http.NotFound`, for `/api/v1/nonexistent` as for any other path):
/// 404 `404 page not found` in plain text. Prometheus 2.42 and 3.x answer
/// no JSON there, not even under `/api/`.
pub fn with_not_found(router: Router) -> Router {
    router.fallback(not_found)
}

async fn not_found() -> axum::response::Response {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    (
        StatusCode::NOT_FOUND,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        "404 page not found\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// What Prometheus 2.42 answered (curl -i): `404 Not Found`,
    /// `Content-Type: text/plain; charset=utf-8`, `X-Content-Type-Options:
    /// nosniff`, body `404 page not found\n`, for `/api/v1/nonexistent`,
    /// `/api/v2/nonexistent`, `/api/` and `/foo` alike (3.x: the same
    /// `http.NotFound` behind its `/api/v1` router and its UI router).
    #[tokio::test]
    async fn unknown_paths_answer_as_prometheus() {
        let app = with_not_found(with_prometheus_prefix(
            Router::new().route("/api/v1/query", get(|| async { "ok" })),
        ));
        for path in [
            "/api/v1/nonexistent",
            "/api/v2/nonexistent",
            "/api/",
            "/foo",
            "/prometheus/api/v1/nonexistent",
        ] {
            let req = Request::get(path).body(Body::empty()).expect("request");
            let resp = app.clone().oneshot(req).await.expect("response");
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
            let h = resp.headers();
            assert_eq!(h["content-type"], "text/plain; charset=utf-8", "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            let body = axum::body::to_bytes(resp.into_body(), 1024)
                .await
                .expect("body");
            assert_eq!(&body[..], b"404 page not found\n", "{path}");
        }
        for path in ["/api/v1/query", "/prometheus/api/v1/query"] {
            let req = Request::get(path).body(Body::empty()).expect("request");
            let resp = app.clone().oneshot(req).await.expect("response");
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
        }
    }
}
