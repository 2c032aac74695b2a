//! From request bytes to validated series: snappy, protobuf (remote_write
//! 1.0 and 2.0, read with the borrowing [`crate::protobuf_reader`] reader),
//! validation. Pure functions, no IO.

use std::collections::BTreeMap;

use stratus_model::{MetricMetadata, MetricType, Sample};

use crate::batch::WriteBatch;
use crate::protobuf_reader::{Wire, WireError, FIXED64, LEN, VARINT};
use crate::report::Report;
use crate::validate::{describe, Limits, Reason, Rejection};

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
pub struct Decoded<'a> {
    pub batch: WriteBatch<'a>,
    pub report: Report,
}

impl Decoded<'_> {
    /// Keeps the first of two samples of one series and timestamp, as
    /// Prometheus does, and counts the others as duplicates (no longer
    /// valid). Every decoder ends with it.
    pub(crate) fn keep_first_per_timestamp(mut self) -> Self {
        let dropped = self.batch.keep_first_per_timestamp();
        self.report.samples_valid = self.report.samples_valid.saturating_sub(dropped);
        self.report.duplicates += dropped;
        self
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

fn reject_histograms(describe: &dyn Fn() -> String, n: u64, report: &mut Report) {
    if n > 0 {
        report.reject(
            Rejection::new(
                Reason::NativeHistogramUnsupported,
                format!(
                    "native histograms are not supported yet: {n} histogram samples of series {} were not written",
                    describe()
                ),
            ),
            n,
        );
    }
}

fn metric_type(code: u64) -> MetricType {
    u8::try_from(code)
        .ok()
        .and_then(MetricType::from_code)
        .unwrap_or_default()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn protobuf_error(message: &'static str) -> impl Fn(WireError) -> DecodeError {
    move |e| DecodeError::Protobuf {
        message,
        detail: e.0,
    }
}

/// A `Sample` message, the same in 1.0 and 2.0.
fn read_sample(buf: &[u8]) -> Result<Sample, WireError> {
    let mut w = Wire::new(buf);
    let (mut t, mut v) = (0i64, 0f64);
    while !w.is_empty() {
        match w.key()? {
            (1, FIXED64) => v = f64::from_bits(w.fixed64()?),
            (2, VARINT) => t = w.varint()? as i64,
            (_, wt) => w.skip(wt)?,
        }
    }
    Ok(Sample::new(t, v))
}

/// Buffers reused from series to series.
#[derive(Default)]
struct Scratch<'a> {
    raw: Vec<(&'a [u8], &'a [u8])>,
    pairs: Vec<(u32, u32)>,
    samples: Vec<Sample>,
    refs: Vec<u64>,
}

impl Scratch<'_> {
    /// Empties every buffer for the next series.
    fn cleared(&mut self) -> &mut Self {
        self.raw.clear();
        self.pairs.clear();
        self.samples.clear();
        self.refs.clear();
        self
    }
}

const V1: &str = "prometheus.WriteRequest";
const V2: &str = "io.prometheus.write.v2.Request";

/// Decodes and validates a remote_write 1.0 `prometheus.WriteRequest`.
pub fn decode_v1<'a>(
    raw: &'a [u8],
    limits: &Limits,
    now_ms: i64,
) -> Result<Decoded<'a>, DecodeError> {
    let err = protobuf_error(V1);
    // A node-exporter series takes about 150 bytes on the wire.
    let mut out = Decoded {
        batch: WriteBatch::with_capacity(raw.len() / 150),
        report: Report::default(),
    };
    let mut scratch = Scratch::default();
    let mut w = Wire::new(raw);
    while !w.is_empty() {
        match w.key().map_err(&err)? {
            (1, LEN) => {
                let ts = w.bytes().map_err(&err)?;
                series_v1(ts, limits, now_ms, &mut out, &mut scratch).map_err(&err)?;
            }
            (3, LEN) => {
                let md = metadata_v1(w.bytes().map_err(&err)?).map_err(&err)?;
                if let Some(md) = md {
                    out.batch.metadata.push(md);
                }
            }
            // timeseries = 1, metadata = 3
            (f, wt) => w.skip_unread(f, wt, &[1, 3]).map_err(&err)?,
        }
    }
    Ok(out.keep_first_per_timestamp())
}

fn series_v1<'a>(
    buf: &'a [u8],
    limits: &Limits,
    now_ms: i64,
    out: &mut Decoded<'a>,
    scratch: &mut Scratch<'a>,
) -> Result<(), WireError> {
    let Scratch {
        raw: raw_pairs,
        pairs,
        samples,
        ..
    } = scratch.cleared();
    let (mut histograms, mut exemplars) = (0u64, 0u64);
    let mut w = Wire::new(buf);
    while !w.is_empty() {
        match w.key()? {
            (1, LEN) => {
                let mut l = Wire::new(w.bytes()?);
                let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
                while !l.is_empty() {
                    match l.key()? {
                        (1, LEN) => name = l.bytes()?,
                        (2, LEN) => value = l.bytes()?,
                        (_, wt) => l.skip(wt)?,
                    }
                }
                raw_pairs.push((name, value));
            }
            (2, LEN) => samples.push(read_sample(w.bytes()?)?),
            (3, LEN) => {
                w.bytes()?;
                exemplars += 1;
            }
            (4, LEN) => {
                w.bytes()?;
                histograms += 1;
            }
            (f, wt) if f <= 4 => {
                return Err(WireError(format!(
                    "TimeSeries field {f} has wire type {wt}, expected 2"
                )))
            }
            (_, wt) => w.skip(wt)?,
        }
    }
    let r = &mut out.report;
    r.received_series(samples.len() as u64, histograms, exemplars);
    reject_histograms(&|| describe(raw_pairs.iter().copied()), histograms, r);
    if samples.is_empty() {
        return Ok(());
    }
    for &(n, v) in raw_pairs.iter() {
        pairs.push((out.batch.intern(n), out.batch.intern(v)));
    }
    out.batch
        .accept(pairs, samples, limits, now_ms, &mut out.report);
    Ok(())
}

fn metadata_v1(buf: &[u8]) -> Result<Option<MetricMetadata>, WireError> {
    let mut w = Wire::new(buf);
    let mut md = MetricMetadata {
        metric_family: String::new(),
        metric_type: MetricType::Unknown,
        help: String::new(),
        unit: String::new(),
    };
    while !w.is_empty() {
        match w.key()? {
            (1, VARINT) => md.metric_type = metric_type(w.varint()?),
            (2, LEN) => md.metric_family = lossy(w.bytes()?),
            (4, LEN) => md.help = lossy(w.bytes()?),
            (5, LEN) => md.unit = lossy(w.bytes()?),
            (_, wt) => w.skip(wt)?,
        }
    }
    Ok((!md.metric_family.is_empty()).then_some(md))
}

/// Decodes and validates a remote_write 2.0 `io.prometheus.write.v2.Request`.
pub fn decode_v2<'a>(
    raw: &'a [u8],
    limits: &Limits,
    now_ms: i64,
) -> Result<Decoded<'a>, DecodeError> {
    let err = protobuf_error(V2);
    let mut out = Decoded::default();
    // Symbols first: senders write them before the series, but the wire
    // format does not promise it.
    let mut w = Wire::new(raw);
    while !w.is_empty() {
        match w.key().map_err(&err)? {
            (4, LEN) => {
                out.batch.push_symbol(w.bytes().map_err(&err)?);
            }
            // symbols = 4, timeseries = 5
            (f, wt) => w.skip_unread(f, wt, &[4, 5]).map_err(&err)?,
        }
    }
    let mut scratch = Scratch::default();
    let mut families: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    let mut w = Wire::new(raw);
    while !w.is_empty() {
        match w.key().map_err(&err)? {
            (5, LEN) => {
                let ts = w.bytes().map_err(&err)?;
                series_v2(ts, limits, now_ms, &mut out, &mut scratch, &mut families)
                    .map_err(&err)?;
            }
            (_, wt) => w.skip(wt).map_err(&err)?,
        }
    }
    out.batch.metadata = families.into_values().collect();
    Ok(out.keep_first_per_timestamp())
}

fn series_v2<'a>(
    buf: &'a [u8],
    limits: &Limits,
    now_ms: i64,
    out: &mut Decoded<'a>,
    scratch: &mut Scratch<'a>,
    families: &mut BTreeMap<String, MetricMetadata>,
) -> Result<(), WireError> {
    let Scratch {
        pairs,
        samples,
        refs,
        ..
    } = scratch.cleared();
    let (mut histograms, mut exemplars) = (0u64, 0u64);
    let mut md: Option<(u64, u64, u64)> = None;
    let mut w = Wire::new(buf);
    while !w.is_empty() {
        match w.key()? {
            (1, LEN) => {
                let mut p = Wire::new(w.bytes()?);
                while !p.is_empty() {
                    refs.push(p.varint()?);
                }
            }
            (1, VARINT) => refs.push(w.varint()?),
            (2, LEN) => samples.push(read_sample(w.bytes()?)?),
            (3, LEN) => {
                w.bytes()?;
                histograms += 1;
            }
            (4, LEN) => {
                w.bytes()?;
                exemplars += 1;
            }
            (5, LEN) => {
                let mut m = Wire::new(w.bytes()?);
                let (mut t, mut help, mut unit) = (0, 0, 0);
                while !m.is_empty() {
                    match m.key()? {
                        (1, VARINT) => t = m.varint()?,
                        (3, VARINT) => help = m.varint()?,
                        (4, VARINT) => unit = m.varint()?,
                        (_, wt) => m.skip(wt)?,
                    }
                }
                md = Some((t, help, unit));
            }
            (_, wt) => w.skip(wt)?,
        }
    }
    let r = &mut out.report;
    r.received_series(samples.len() as u64, histograms, exemplars);
    let n = out.batch.num_symbols() as u64;
    if !refs.len().is_multiple_of(2) || refs.iter().any(|&i| i >= n) {
        r.reject(
            Rejection::new(
                Reason::InvalidSymbolRef,
                format!(
                    "series with labels_refs {refs:?} refers past the {n} symbols of the request, or has an odd number of refs"
                ),
            ),
            samples.len() as u64 + histograms,
        );
        return Ok(());
    }
    pairs.extend(refs.chunks_exact(2).map(|p| (p[0] as u32, p[1] as u32)));
    let batch = &out.batch;
    let show = || {
        describe(
            pairs
                .iter()
                .map(|&(a, b)| (batch.resolve(a).as_bytes(), batch.resolve(b).as_bytes())),
        )
    };
    reject_histograms(&show, histograms, r);
    if samples.is_empty() {
        return Ok(());
    }
    let valid_before = r.samples_valid;
    out.batch
        .accept(pairs, samples, limits, now_ms, &mut out.report);
    let accepted = out.report.samples_valid > valid_before;
    if let (true, Some((t, help, unit))) = (accepted, md) {
        let symbol = |i: u64| {
            if i < n {
                out.batch.resolve(i as u32)
            } else {
                ""
            }
        };
        let help = symbol(help);
        if t != 0 || !help.is_empty() {
            let mtype = metric_type(t);
            let name = pairs
                .iter()
                .find(|&&(k, _)| out.batch.resolve(k) == stratus_model::METRIC_NAME)
                .map(|&(_, v)| out.batch.resolve(v))
                .unwrap_or_default();
            let family = metric_family(name, mtype);
            let unit = symbol(unit);
            families.insert(
                family.clone(),
                MetricMetadata {
                    metric_family: family,
                    metric_type: mtype,
                    help: help.to_string(),
                    unit: unit.to_string(),
                },
            );
        }
    }
    Ok(())
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
