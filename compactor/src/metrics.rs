//! Self-metrics of the compactor.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use stratus_model::TenantId;

use crate::exec::JobOutcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    pub job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    pub tenant: String,
}

#[derive(Debug, Clone)]
pub struct CompactorMetrics {
    pub runs: Counter,
    pub run_duration: Histogram,
    pub jobs: Family<JobLabel, Counter>,
    pub conflicts: Counter,
    pub blocks_written: Counter,
    pub segments_compacted: Counter,
    pub objects_deleted: Counter,
    pub bytes_read: Counter,
    pub bytes_written: Counter,
    pub failures: Family<ReasonLabel, Counter>,
    pub lag_seconds: Family<TenantLabel, Gauge>,
    pub panics: Counter,
    pub staging_files_removed: Counter,
}

impl CompactorMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            runs: Counter::default(),
            run_duration: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            jobs: Family::default(),
            conflicts: Counter::default(),
            blocks_written: Counter::default(),
            segments_compacted: Counter::default(),
            objects_deleted: Counter::default(),
            bytes_read: Counter::default(),
            bytes_written: Counter::default(),
            failures: Family::default(),
            lag_seconds: Family::default(),
            panics: Counter::default(),
            staging_files_removed: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("stratus_compactor");
        r.register("runs", "Compaction passes", m.runs.clone());
        r.register(
            "run_duration_seconds",
            "Duration of a compaction pass",
            m.run_duration.clone(),
        );
        r.register("jobs", "Jobs run, by kind", m.jobs.clone());
        r.register(
            "conflicts",
            "Jobs whose catalog commit lost a race (planned again)",
            m.conflicts.clone(),
        );
        r.register("blocks_written", "Blocks written", m.blocks_written.clone());
        r.register(
            "segments_compacted",
            "Segments compacted into blocks",
            m.segments_compacted.clone(),
        );
        r.register(
            "objects_deleted",
            "Objects deleted (segments, replaced blocks, orphans)",
            m.objects_deleted.clone(),
        );
        r.register(
            "bytes_read",
            "Bytes read from the bucket",
            m.bytes_read.clone(),
        );
        r.register(
            "bytes_written",
            "Bytes of blocks written",
            m.bytes_written.clone(),
        );
        r.register(
            "failures",
            "Failed tenant passes, by reason",
            m.failures.clone(),
        );
        r.register(
            "lag_seconds",
            "Age of the oldest segment not yet compacted, per tenant",
            m.lag_seconds.clone(),
        );
        r.register(
            "panics",
            "Tenant passes (or whole passes) that panicked; the compactor went on with the next",
            m.panics.clone(),
        );
        r.register(
            "staging_files_removed",
            "Staging files of uploads killed mid-write, removed from a local-folder bucket",
            m.staging_files_removed.clone(),
        );
        for reason in ["storage", "corrupt", "block", "verify", "catalog", "panic"] {
            let _ = m.failures.get_or_create(&ReasonLabel { reason });
        }
        m
    }

    pub(crate) fn job(&self, job: &'static str, o: &JobOutcome) {
        self.jobs.get_or_create(&JobLabel { job }).inc();
        self.conflicts.inc_by(u64::from(!o.committed));
        self.blocks_written.inc_by(o.blocks_written as u64);
        self.segments_compacted.inc_by(o.segments_compacted as u64);
        self.objects_deleted.inc_by(o.objects_deleted as u64);
        self.bytes_read.inc_by(o.bytes_read);
        self.bytes_written.inc_by(o.bytes_written);
    }

    pub(crate) fn record_pass(&self, took: Duration) {
        self.runs.inc();
        self.run_duration.observe(took.as_secs_f64());
    }

    pub(crate) fn failure(&self, reason: &'static str) {
        self.failures.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub(crate) fn set_lag(&self, tenant: &TenantId, lag_ms: i64) {
        self.lag_seconds
            .get_or_create(&TenantLabel {
                tenant: tenant.to_string(),
            })
            .set(lag_ms / 1000);
    }
}
