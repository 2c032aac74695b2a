//! PromQL over the bucket: a reader that merges segments, raw blocks and
//! rollups into series (`bucket_source`), an evaluator with Prometheus's
//! semantics, the Prometheus HTTP API, and [`Querier`], the one way to
//! build all of them.

mod annotations;
pub mod api;
pub mod bucket_source;
pub mod engine;
mod error;
mod eval;
mod functions;
mod matcher;
mod selector_param;
pub use selector_param::selector_matchers;
mod memory;
pub mod pool;
mod querier;
mod results;
mod source;
mod value;

pub use annotations::{Annotation, Annotations};
pub use api::ServerStatus;
pub use bucket_source::{BucketSource, BucketSourceOptions};
pub use engine::{Engine, EngineOptions, QueryResult, QueryValue};
pub use error::QueryError;
pub use eval::SampleStats;
pub use memory::QueryMemory;
pub use pool::QueryPool;
pub use querier::{Querier, QuerierConfig};
pub use results::{RangeQuery, ResultsCache, ResultsCacheCounts, ResultsCacheOptions};
pub use source::{
    DataWrite, EvalGrid, MemorySource, SelectHints, Selection, Series, SeriesSource, SourceError,
};
