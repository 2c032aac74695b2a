//! The remote_write messages (1.0 and 2.0) declared with prost, no protoc
//! needed: what clients, the benches and the tests encode requests with,
//! and the schema the decoder follows. The writer itself does not decode
//! with these: [`crate::decode`] reads requests with the zero-copy
//! [`crate::protobuf_reader`], which allocates nothing per label. Native
//! histograms are raw bytes here; the decoder counts and rejects them.

use bytes::Bytes;

/// `prometheus.WriteRequest` (remote_write 1.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequestV1 {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeriesV1>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadataV1>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeriesV1 {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelV1>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<SampleProto>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<ExemplarV1>,
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub histograms: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelV1 {
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `Sample` has the same fields in 1.0 and 2.0.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct SampleProto {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExemplarV1 {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelV1>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadataV1 {
    /// Same numbering as [`stratus_model::MetricType::code`].
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub metric_family_name: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub help: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub unit: Bytes,
}

/// `io.prometheus.write.v2.Request` (remote_write 2.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestV2 {
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub symbols: Vec<Bytes>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeriesV2>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeriesV2 {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<SampleProto>,
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub histograms: Vec<Bytes>,
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<ExemplarV2>,
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<MetadataV2>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExemplarV2 {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetadataV2 {
    /// Same numbering as [`stratus_model::MetricType::code`].
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}
