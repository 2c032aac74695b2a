//! The value a query answers, in Prometheus's shapes: shared by the
//! engine, the memory accounting and the API without one importing the
//! other.

use stratus_model::{Labels, Sample};

use crate::source::Series;

/// A query result in Prometheus's shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        s: String,
    },
    /// Instant vector: series with one sample each, at the query time.
    Vector(Vec<(Labels, Sample)>),
    Matrix(Vec<Series>),
}
