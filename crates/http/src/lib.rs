//! The HTTP boundary every Stratus server shares.
//!
//! - [`serve`]: an HTTP/1 server on hyper that holds at most
//!   `max_connections` connections (more wait in the listen backlog, as
//!   with Go's `netutil.LimitListener`), bounds the reading of each request
//!   (head and body) by `read_timeout` and the wait between keep-alive
//!   requests by `idle_timeout`, drains requests in flight on shutdown, and
//!   accepts the request targets Go accepts (`"` in a query typed into
//!   curl, see `request_target`);
//! - [`raise_open_files_limit`]: the soft open-files limit raised to the
//!   hard one at start, as Go does;
//! - [`catch_panics`]: a tower layer that turns a panicking handler into
//!   an error answer with an id, counted in `stratus_panics_total`
//!   ([`PanicCollector`]), and [`install_panic_hook`], which logs each
//!   panic once through `tracing`;
//! - [`log_filter`]: the log level of every process, without the noise of
//!   libraries at `info`;
//! - [`tenant`]: the one reading of `X-Scope-OrgID` (a principal and its
//!   tenants), as axum extractors with one status per case;
//! - [`routes`]: route tables, routers built from them;
//! - [`cors`]: CORS headers and preflight answers as Prometheus's
//!   `--web.cors.origin`, and the `/prometheus` prefix of Mimir's routes.

mod connection;
pub mod cors;
mod logging;
mod options;
mod panic;
mod request_target;
pub mod routes;
mod serve;
pub mod tenant;

pub use cors::{with_cors, CorsOrigin};
pub use logging::log_filter;
pub use options::{connection_limit, raise_open_files_limit, ServeOptions, DESCRIPTOR_RESERVE};
pub use panic::{catch_panics, install_panic_hook, CatchPanic, CatchPanicLayer, Component};
pub use panic::{PanicCollector, PANICS_METRIC};
pub use routes::{router_from, with_not_found, with_prometheus_prefix, Routes, PROMETHEUS_PREFIX};
pub use serve::serve;
pub use tenant::{Tenant, TenantPolicy, TenantRejection, Tenants};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name} must be above 0, got {got}")]
    Zero { name: &'static str, got: String },
}

pub type Result<T> = std::result::Result<T, Error>;
