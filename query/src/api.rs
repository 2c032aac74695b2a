//! The Prometheus HTTP API on axum: everything Grafana's Prometheus data
//! source calls when it connects, autocompletes and draws panels.

use axum::response::Response;
use axum::routing::get;
use axum::Router;

mod admin;
mod eval;
pub(crate) mod json;
mod lookups;
mod params;
mod respond;
mod state;
mod status;
mod text;

pub use params::{parse_duration, parse_time, Params};
pub use state::{QueryState, ServerStatus, MAX_POINTS_PER_SERIES, MAX_SELECTORS};

use admin::delete_series;
use eval::{query, query_range};
use lookups::{label_values, labels, metadata, series};
use respond::ok;
use text::{exemplars, format_query, parse_query};

/// Every route of [`router`], which is built from this table: a path not
/// listed here is not served.
pub const ROUTES: stratus_http::Routes = &[
    ("GET", "/api/v1/query"),
    ("POST", "/api/v1/query"),
    ("GET", "/api/v1/query_range"),
    ("POST", "/api/v1/query_range"),
    ("GET", "/api/v1/series"),
    ("POST", "/api/v1/series"),
    ("GET", "/api/v1/labels"),
    ("POST", "/api/v1/labels"),
    ("GET", "/api/v1/label/{name}/values"),
    ("GET", "/api/v1/metadata"),
    ("GET", "/api/v1/query_exemplars"),
    ("POST", "/api/v1/query_exemplars"),
    ("GET", "/api/v1/format_query"),
    ("POST", "/api/v1/format_query"),
    ("GET", "/api/v1/parse_query"),
    ("POST", "/api/v1/parse_query"),
    ("GET", "/api/v1/status/buildinfo"),
    ("GET", "/api/v1/status/runtimeinfo"),
    ("GET", "/api/v1/status/flags"),
    ("GET", "/api/v1/status/config"),
    ("GET", "/api/v1/alertmanagers"),
    ("POST", "/api/v1/admin/tsdb/delete_series"),
    ("PUT", "/api/v1/admin/tsdb/delete_series"),
];

/// The query routes, to be merged into the server's router.
pub fn router(state: QueryState) -> Router {
    // /api/v1/rules and /api/v1/alerts are the ruler's
    // (stratus_alerting::router), merged beside these.
    stratus_http::router_from(ROUTES, |path| match path {
        "/api/v1/query" => get(query).post(query),
        "/api/v1/query_range" => get(query_range).post(query_range),
        "/api/v1/series" => get(series).post(series),
        "/api/v1/labels" => get(labels).post(labels),
        "/api/v1/label/{name}/values" => get(label_values),
        "/api/v1/metadata" => get(metadata),
        "/api/v1/query_exemplars" => get(exemplars).post(exemplars),
        "/api/v1/format_query" => get(format_query).post(format_query),
        "/api/v1/parse_query" => get(parse_query).post(parse_query),
        "/api/v1/status/buildinfo" => get(buildinfo),
        "/api/v1/status/runtimeinfo" => get(status::runtimeinfo),
        "/api/v1/status/flags" => get(status::flags),
        "/api/v1/status/config" => get(status::config),
        "/api/v1/alertmanagers" => get(status::alertmanagers),
        "/api/v1/admin/tsdb/delete_series" => axum::routing::post(delete_series).put(delete_series),
        other => unreachable!("ROUTES lists {other}, which has no handlers"),
    })
    .with_state(state)
    .layer(stratus_http::catch_panics(stratus_http::Component::Query))
}

async fn buildinfo() -> Response {
    // Grafana reads `version` to pick the Prometheus features it may use.
    ok(concat!(
        "{\"version\":\"3.0.0\",\"revision\":\"stratus-",
        env!("CARGO_PKG_VERSION"),
        "\",\"branch\":\"main\",\"buildUser\":\"stratus\",\"buildDate\":\"\",\"goVersion\":\"none (Rust)\",\"application\":\"stratus\"}"
    ))
}

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod stats_tests;
#[cfg(test)]
mod tests;
