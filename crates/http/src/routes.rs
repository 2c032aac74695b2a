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
