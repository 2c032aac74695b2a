//! The Prometheus HTTP API on axum: everything Grafana's Prometheus data
//! source calls when it connects, autocompletes and draws panels.

use axum::response::Response;
use axum::routing::get;
use axum::Router;

mod admin;
mod eval;
mod json;
mod lookups;
mod params;
mod respond;
mod state;
mod text;

pub use params::{parse_duration, parse_time, Params};
pub use state::{QueryState, MAX_POINTS_PER_SERIES, MAX_SELECTORS};

use admin::delete_series;
use eval::{query, query_range};
use lookups::{label_values, labels, metadata, series};
use respond::ok;
use text::{exemplars, format_query, parse_query};

/// The query routes, to be merged into the server's router.
pub fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            axum::routing::post(delete_series).put(delete_series),
        )
        // /api/v1/rules and /api/v1/alerts are the ruler's
        // (stratus_alerting::router), merged beside these.
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
mod tests;
