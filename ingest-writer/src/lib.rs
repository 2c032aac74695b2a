//! The Stratus ingest writer: accepts Prometheus remote_write (1.0 and 2.0)
//! and a JSON push API, validates, and acknowledges a write only once its
//! samples are durable in the bucket (group commit) or in the local WAL.

mod batch;
mod commit;
mod decode;
mod http;
mod metrics;
pub mod proto;
mod protobuf_reader;
mod push;
mod report;
mod request;
mod sink;
mod validate;
mod wal;
mod writer;

pub use batch::WriteBatch;
pub use commit::{CommitConfig, CommitError, Committer, SegmentObserver};
pub use http::{router, HttpLimits, IngestState, ROUTES};
pub use metrics::IngestMetrics;
pub use push::PushResponse;
pub use report::Report;
pub use sink::Sink;
pub use validate::{Limits, Reason};
pub use writer::{Writer, WriterConfig, WriterError};
