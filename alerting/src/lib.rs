//! The ruler and the notifier wired to the rest of Stratus: rules query the
//! engine over the bucket, their output goes back through the ingest
//! library's committer, alerts go to the notifier. Shared by `stratus`
//! (the `ruler` component of `stratus all`) and the Lambda functions, so
//! both run the same code.

mod adapters;
pub mod build;
mod http;
mod metrics;
pub mod service;

pub use adapters::{CommitterAppender, EngineQuerier};
pub use http::{router, AlertingApi, ALERTMANAGER_VERSION, ROUTES};
pub use metrics::AlertingCollector;
pub use service::{now_ms, Alerting, NotifierSender, PassReport};
