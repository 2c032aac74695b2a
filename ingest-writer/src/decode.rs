//! From request bytes to validated series: snappy, protobuf (remote_write
//! 1.0 and 2.0), validation. Pure functions, no IO.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;
use stratus_model::{Labels, MetricMetadata, MetricType, Sample};

use crate::proto::{RequestV2, WriteRequestV1};
use crate::validate::{describe, Limits, Reason, Rejection};

/// At most this many messages are returned to the client; the rest are
/// counted.
const MAX_MESSAGES: usize = 10;

/// Problems that reject a whole request before any series is looked at.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body is not valid snappy (block format expected): {0}")]
    Snappy(String),
    #[error("decompressed body would be {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("body is not a valid {message} protobuf: {detail}")]
    Protobuf {
        message: &'static str,
        detail: String,
    },
}

/// The validated content of one write request plus the account of what was
/// received and rejected.
#[derive(Debug, Default)]
pub struct Decoded {
    pub series: Vec<(Labels, Vec<Sample>)>,
    pub metadata: Vec<MetricMetadata>,
    pub report: Report,
}

/// Counts of one request, for metrics, response headers and messages.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub series_received: u64,
    pub samples_received: u64,
    pub histograms_received: u64,
    pub exemplars_received: u64,
    /// Samples that passed validation (written if the commit succeeds).
    pub samples_valid: u64,
    pub rejected: BTreeMap<Reason, u64>,
    pub messages: Vec<String>,
    pub more_messages: usize,
}

impl Report {
    pub fn reject(&mut self, rejection: Rejection, samples: u64) {
        *self.rejected.entry(rejection.reason).or_default() += samples;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(rejection.message);
        } else {
            self.more_messages += 1;
        }
    }

    pub fn samples_rejected(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// All messages as one text for a 400 body.
    pub fn message_text(&self) -> String {
        let mut s = self.messages.join("\n");
        if self.more_messages > 0 {
            s.push_str(&format!("\n(and {} more errors)", self.more_messages));
        }
        s
    }
}

/// Snappy block decompression with a size limit checked before allocating.
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, DecodeError> {
    let size = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if size > max_decompressed {
        return Err(DecodeError::TooLarge {
            size,
            limit: max_decompressed,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))
}

/// Validates one series' samples and adds what passes to `out`.
fn accept_series(
    limits: &Limits,
    now_ms: i64,
    labels: Labels,
    samples: impl ExactSizeIterator<Item = Sample>,
    out: &mut Decoded,
) {
    let mut kept = Vec::with_capacity(samples.len());
    for s in samples {
        match limits.sample(s, now_ms, &labels) {
            Ok(()) => kept.push(s),
            Err(r) => out.report.reject(r, 1),
        }
    }
    if !kept.is_empty() {
        out.report.samples_valid += kept.len() as u64;
        out.series.push((labels, kept));
    }
}

fn reject_histograms(labels: &dyn Fn() -> String, n: usize, report: &mut Report) {
    if n > 0 {
        report.reject(
            Rejection::new(
                Reason::NativeHistogramUnsupported,
                format!(
                    "native histograms are not supported yet: {n} histogram samples of series {} were not written",
                    labels()
                ),
            ),
            n as u64,
        );
    }
}

fn metric_type(code: i32) -> MetricType {
    u8::try_from(code)
        .ok()
        .and_then(MetricType::from_code)
        .unwrap_or_default()
}

fn utf8(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Decodes and validates a remote_write 1.0 `prometheus.WriteRequest`.
pub fn decode_v1(raw: Bytes, limits: &Limits, now_ms: i64) -> Result<Decoded, DecodeError> {
    let req = WriteRequestV1::decode(raw).map_err(|e| DecodeError::Protobuf {
        message: "prometheus.WriteRequest",
        detail: e.to_string(),
    })?;
    let mut out = Decoded {
        series: Vec::with_capacity(req.timeseries.len()),
        ..Decoded::default()
    };
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    for ts in &req.timeseries {
        let r = &mut out.report;
        r.series_received += 1;
        r.samples_received += ts.samples.len() as u64;
        r.histograms_received += ts.histograms.len() as u64;
        r.exemplars_received += ts.exemplars.len() as u64;
        pairs.clear();
        pairs.extend(
            ts.labels
                .iter()
                .map(|l| (l.name.as_ref(), l.value.as_ref())),
        );
        reject_histograms(&|| describe(pairs.iter().copied()), ts.histograms.len(), r);
        if ts.samples.is_empty() {
            continue;
        }
        match limits.labels(&pairs) {
            Ok(labels) => accept_series(
                limits,
                now_ms,
                labels,
                ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)),
                &mut out,
            ),
            Err(rej) => r.reject(rej, ts.samples.len() as u64),
        }
    }
    out.metadata = req
        .metadata
        .iter()
        .filter(|m| !m.metric_family_name.is_empty())
        .map(|m| MetricMetadata {
            metric_family: utf8(&m.metric_family_name),
            metric_type: metric_type(m.r#type),
            help: utf8(&m.help),
            unit: utf8(&m.unit),
        })
        .collect();
    Ok(out)
}

/// Decodes and validates a remote_write 2.0 `io.prometheus.write.v2.Request`.
pub fn decode_v2(raw: Bytes, limits: &Limits, now_ms: i64) -> Result<Decoded, DecodeError> {
    let req = RequestV2::decode(raw).map_err(|e| DecodeError::Protobuf {
        message: "io.prometheus.write.v2.Request",
        detail: e.to_string(),
    })?;
    let symbol = |i: u32| req.symbols.get(i as usize).map(|b| b.as_ref());
    let mut out = Decoded {
        series: Vec::with_capacity(req.timeseries.len()),
        ..Decoded::default()
    };
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    let mut families: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    for ts in &req.timeseries {
        let r = &mut out.report;
        r.series_received += 1;
        r.samples_received += ts.samples.len() as u64;
        r.histograms_received += ts.histograms.len() as u64;
        r.exemplars_received += ts.exemplars.len() as u64;
        pairs.clear();
        let refs_ok = ts.labels_refs.len() % 2 == 0
            && ts
                .labels_refs
                .chunks_exact(2)
                .all(|p| match (symbol(p[0]), symbol(p[1])) {
                    (Some(n), Some(v)) => {
                        pairs.push((n, v));
                        true
                    }
                    _ => false,
                });
        if !refs_ok {
            let n = (ts.samples.len() + ts.histograms.len()) as u64;
            r.reject(
                Rejection::new(
                    Reason::InvalidSymbolRef,
                    format!(
                        "series with labels_refs {:?} refers past the {} symbols of the request, or has an odd number of refs",
                        ts.labels_refs,
                        req.symbols.len()
                    ),
                ),
                n,
            );
            continue;
        }
        reject_histograms(&|| describe(pairs.iter().copied()), ts.histograms.len(), r);
        if ts.samples.is_empty() {
            continue;
        }
        let labels = match limits.labels(&pairs) {
            Ok(labels) => labels,
            Err(rej) => {
                r.reject(rej, ts.samples.len() as u64);
                continue;
            }
        };
        if let Some(md) = &ts.metadata {
            let (help, unit) = (symbol(md.help_ref), symbol(md.unit_ref));
            if md.r#type != 0 || help.is_some_and(|h| !h.is_empty()) {
                let mtype = metric_type(md.r#type);
                let family = metric_family(labels.metric_name().unwrap_or_default(), mtype);
                families.insert(
                    family.clone(),
                    MetricMetadata {
                        metric_family: family,
                        metric_type: mtype,
                        help: String::from_utf8_lossy(help.unwrap_or_default()).into_owned(),
                        unit: String::from_utf8_lossy(unit.unwrap_or_default()).into_owned(),
                    },
                );
            }
        }
        accept_series(
            limits,
            now_ms,
            labels,
            ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)),
            &mut out,
        );
    }
    out.metadata = families.into_values().collect();
    Ok(out)
}

/// The metric family of a series name: the series of classic histograms
/// and summaries (`_bucket`, `_sum`, `_count`) belong to the family without
/// the suffix, as in Prometheus's metadata API.
fn metric_family(name: &str, mtype: MetricType) -> String {
    if !matches!(
        mtype,
        MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
    ) {
        return name.to_string();
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if !base.is_empty() {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests;
