//! Self-metrics of the ingest path, exposed on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::report::Report;
use crate::validate::Reason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub protocol: &'static str,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Every counter the ingest path keeps. Rejected samples are counted by
/// reason, so nothing is dropped without a trace.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<ProtocolLabel, Histogram>,
    pub series_received: Counter,
    pub samples_received: Counter,
    pub samples_accepted: Counter,
    pub samples_rejected: Family<ReasonLabel, Counter>,
    pub exemplars_dropped: Counter,
    pub segment_uploads: Family<ResultLabel, Counter>,
    pub segment_upload_duration: Histogram,
    pub segment_bytes: Counter,
    pub segment_samples: Counter,
    pub wal_pending_segments: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

impl IngestMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            series_received: Counter::default(),
            samples_received: Counter::default(),
            samples_accepted: Counter::default(),
            samples_rejected: Family::default(),
            exemplars_dropped: Counter::default(),
            segment_uploads: Family::default(),
            segment_upload_duration: latency_histogram(),
            segment_bytes: Counter::default(),
            segment_samples: Counter::default(),
            wal_pending_segments: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("stratus_ingest");
        r.register(
            "requests",
            "Write requests by protocol and HTTP status",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request arrival to its answer (ack latency)",
            m.request_duration.clone(),
        );
        r.register(
            "series_received",
            "Series received",
            m.series_received.clone(),
        );
        r.register(
            "samples_received",
            "Samples received, float and native histogram",
            m.samples_received.clone(),
        );
        r.register(
            "samples_accepted",
            "Samples acknowledged to clients (durable in the bucket or local WAL)",
            m.samples_accepted.clone(),
        );
        r.register(
            "samples_rejected",
            "Samples not written, by reason (histogram samples included)",
            m.samples_rejected.clone(),
        );
        r.register(
            "exemplars_dropped",
            "Exemplars received and not stored (exemplar storage is not supported yet)",
            m.exemplars_dropped.clone(),
        );
        r.register(
            "segment_uploads",
            "Segment writes by result",
            m.segment_uploads.clone(),
        );
        r.register(
            "segment_upload_duration_seconds",
            "Time to make one segment durable",
            m.segment_upload_duration.clone(),
        );
        r.register(
            "segment_bytes",
            "Bytes of segments written",
            m.segment_bytes.clone(),
        );
        r.register(
            "segment_samples",
            "Samples in segments written",
            m.segment_samples.clone(),
        );
        r.register(
            "wal_pending_segments",
            "Segments in the local WAL not yet uploaded",
            m.wal_pending_segments.clone(),
        );
        // Make every reason visible at 0, so alerts on rate() work from the start.
        for reason in Reason::ALL {
            let _ = m.rejected(reason);
        }
        m
    }

    pub fn rejected(&self, reason: Reason) -> Counter {
        self.samples_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .clone()
    }

    /// Counts what a request brought and what validation rejected.
    pub fn record_report(&self, report: &Report) {
        self.series_received.inc_by(report.series_received);
        self.samples_received
            .inc_by(report.samples_received + report.histograms_received);
        self.exemplars_dropped.inc_by(report.exemplars_received);
        for (reason, n) in &report.rejected {
            self.rejected(*reason).inc_by(*n);
        }
        if report.duplicates > 0 {
            self.rejected(Reason::DuplicateTimestamp)
                .inc_by(report.duplicates);
        }
    }
}
