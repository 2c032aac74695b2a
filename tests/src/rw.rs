//! A minimal remote_write 1.0 client for tests and benchmarks.

use bytes::Bytes;
use prost::Message;
use stratus_ingest::proto::{LabelV1, SampleProto, TimeSeriesV1, WriteRequestV1};

/// One series of a request: labels and (timestamp ms, value) samples.
pub type SeriesData = (Vec<(String, String)>, Vec<(i64, f64)>);

/// Encodes and snappy-compresses a `prometheus.WriteRequest`.
pub fn encode_v1(series: &[SeriesData]) -> Vec<u8> {
    let req = WriteRequestV1 {
        timeseries: series
            .iter()
            .map(|(labels, samples)| TimeSeriesV1 {
                labels: labels
                    .iter()
                    .map(|(n, v)| LabelV1 {
                        name: Bytes::copy_from_slice(n.as_bytes()),
                        value: Bytes::copy_from_slice(v.as_bytes()),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| SampleProto { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

/// Posts a remote_write body; `Ok(status)` when an answer came.
pub async fn send(client: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::Result<u16> {
    let resp = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()
        .await?;
    Ok(resp.status().as_u16())
}
