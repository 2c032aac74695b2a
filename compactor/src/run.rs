//! One compaction pass over every tenant, and the loop around it.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use stratus_model::TenantId;
use stratus_storage::catalog;
use stratus_storage::keys::{blocks_prefix, segments_prefix, tenant_root};
use stratus_storage::{BlockKey, Bucket, SegmentKey};
use tracing::{error, info, warn};

use crate::exec::{Executor, JobOutcome};
use crate::metrics::CompactorMetrics;
use crate::plan::{plan_at, BlockObject, Job, SegmentRef};
use crate::{CompactorConfig, CompactorError, Result};

/// Totals of one pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub tenants: usize,
    pub jobs: usize,
    pub conflicts: usize,
    pub blocks_written: usize,
    pub segments_compacted: usize,
    pub objects_deleted: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub samples_written: u64,
    /// Staging files of killed uploads removed from a local-folder bucket.
    pub staging_files_removed: usize,
    /// Tenant passes that panicked (a bug); the pass went on with the
    /// next tenant.
    pub panics: usize,
    /// The pass stopped at its deadline with work left; the next pass
    /// goes on from the catalog (every finished job is committed).
    pub unfinished: bool,
}

impl PassReport {
    fn add(&mut self, o: &JobOutcome) {
        self.jobs += 1;
        self.conflicts += usize::from(!o.committed);
        self.blocks_written += o.blocks_written;
        self.segments_compacted += o.segments_compacted;
        self.objects_deleted += o.objects_deleted;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.samples_written += o.samples_written;
    }
}

/// One finished job, for progress reports.
#[derive(Debug, Clone)]
pub struct JobDone<'a> {
    pub tenant: &'a TenantId,
    /// `compact_segments`, `merge`, `downsample`, ...
    pub kind: &'static str,
    /// Jobs of the current plan still to run after this one (the plan is
    /// made again after every catalog commit, so this is a lower bound).
    pub planned_left: usize,
    pub outcome: &'a JobOutcome,
    pub elapsed: Duration,
    /// Totals of the pass so far, this job included.
    pub pass: &'a PassReport,
}

/// Called after every job of a pass.
pub type ProgressFn = std::sync::Arc<dyn Fn(&JobDone<'_>) + Send + Sync>;

/// Plans and runs jobs per tenant until nothing is left to do (bounded, so
/// a pass always ends).
pub struct Compactor {
    pub bucket: Bucket,
    pub cfg: CompactorConfig,
    pub metrics: CompactorMetrics,
    pub progress: Option<ProgressFn>,
}

/// Rounds a tenant pass may take beyond the jobs of its first plan: for
/// the work that finished jobs make (a merge makes a day block to merge
/// and downsample), and for races lost to another compactor. Each round
/// commits one job of the current plan, so a pass always finishes what it
/// first planned; the bound only stops a pass whose plan never empties.
const MAX_FOLLOW_UP_ROUNDS: usize = 1_000;

fn job_name(j: &Job) -> &'static str {
    match j {
        Job::CompactSegments { .. } => "compact_segments",
        Job::Merge { .. } => "merge",
        Job::Downsample { .. } => "downsample",
        Job::Retire { .. } => "retire",
        Job::DeleteDue { .. } => "delete_due",
        Job::DeleteOrphans { .. } => "delete_orphans",
        Job::Rewrite { .. } => "rewrite",
        Job::DropTombstones { .. } => "drop_tombstones",
    }
}

impl Compactor {
    pub fn new(bucket: Bucket, cfg: CompactorConfig, metrics: CompactorMetrics) -> Self {
        Self {
            bucket,
            cfg,
            metrics,
            progress: None,
        }
    }

    /// Reports every finished job to `f` (`stratus compactor --once`
    /// prints them).
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// One complete pass as of `now_ms`.
    pub async fn run_once(&self, now_ms: i64) -> Result<PassReport> {
        self.run_once_until(now_ms, None).await
    }

    /// A pass as of `now_ms` that starts no job after `deadline` (the
    /// scheduled Lambda form: the budget ends well before the function's
    /// timeout). Every job commits on its own, so stopping between jobs is
    /// a checkpoint; the report says whether work was left.
    pub async fn run_once_until(
        &self,
        now_ms: i64,
        deadline: Option<Instant>,
    ) -> Result<PassReport> {
        let started = Instant::now();
        let mut report = PassReport::default();
        let tenants = self.bucket.tenants().await?;
        let mut failures = Vec::new();
        for tenant in tenants {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                report.unfinished = true;
                break;
            }
            report.tenants += 1;
            // A panic (a bug) in one tenant's pass must not stop the others,
            // nor the loop around the pass.
            let pass = AssertUnwindSafe(self.run_tenant(&tenant, now_ms, deadline, &mut report))
                .catch_unwind()
                .await;
            let failed = match pass {
                Ok(result) => result.err(),
                Err(panic) => {
                    let message = panic_message(panic.as_ref());
                    error!(tenant = %tenant, panic = %message, "compaction of tenant panicked; going on with the next tenant");
                    self.metrics.panics.inc();
                    report.panics += 1;
                    Some(CompactorError::Panic(message))
                }
            };
            if let Some(e) = failed {
                if !matches!(e, CompactorError::Panic(_)) {
                    error!(tenant = %tenant, error = %e, "compaction of tenant failed");
                }
                self.metrics.failure(e.reason());
                failures.push(e);
            }
        }
        self.metrics.record_pass(started.elapsed());
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn run_tenant(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        deadline: Option<Instant>,
        report: &mut PassReport,
    ) -> Result<()> {
        let exec = Executor {
            bucket: &self.bucket,
            cfg: &self.cfg,
            tenant,
            now_ms,
        };
        // Staging files of uploads killed mid-write (local folders only),
        // once older than any upload in flight can be: the same age after
        // which an unreferenced block is an orphan. Leftovers harm nothing
        // but disk space, so a failure here does not stop compaction.
        match self
            .bucket
            .remove_staging_leftovers(&tenant_root(tenant), self.cfg.orphan_delay)
            .await
        {
            Ok(0) => {}
            Ok(removed) => {
                info!(tenant = %tenant, files = removed, "removed staging files of killed uploads");
                self.metrics.staging_files_removed.inc_by(removed as u64);
                report.staging_files_removed += removed;
            }
            Err(e) => {
                warn!(tenant = %tenant, error = %e, "removing staging files of killed uploads failed")
            }
        }
        let mut rounds = 0;
        let mut max_rounds = MAX_FOLLOW_UP_ROUNDS;
        loop {
            let base = catalog::load(&self.bucket, tenant).await?;
            let segments = self.segments(tenant).await?;
            let lag = segments
                .iter()
                .filter(|s| s.ulid_ms >= base.catalog.segment_watermark_ms)
                .map(|s| now_ms - s.ulid_ms)
                .max()
                .unwrap_or(0);
            self.metrics.set_lag(tenant, lag);
            // A block's ULID carries the wall-clock time it was written. One
            // written less than `orphan_delay` ago may belong to a pass that
            // is still running (another compactor's, about to commit it), so
            // it is never an orphan yet, whatever time this pass runs as
            // (`--now` ahead of the clock would otherwise see it as old).
            let wall = stratus_model::Clock::now_ms(&stratus_model::SystemClock);
            let orphan_delay = crate::config::ms(self.cfg.orphan_delay);
            let blocks: Vec<BlockObject> = self
                .block_objects(tenant)
                .await?
                .into_iter()
                .filter(|b| b.ulid_ms.saturating_add(orphan_delay) <= wall)
                .collect();
            // Segments are old enough by the wall clock too: their ULIDs
            // carry the time they were written (see `plan_at`).
            let jobs = plan_at(
                &base.catalog,
                &segments,
                &blocks,
                now_ms,
                now_ms.max(wall),
                &self.cfg,
            );
            if jobs.is_empty() {
                return Ok(());
            }
            if rounds == 0 {
                max_rounds += jobs.len();
            }
            if rounds >= max_rounds {
                return Err(CompactorError::Catalog(format!(
                    "tenant {tenant} still had work after {rounds} rounds ({} jobs planned at first, {MAX_FOLLOW_UP_ROUNDS} rounds allowed beyond them)",
                    max_rounds - MAX_FOLLOW_UP_ROUNDS
                )));
            }
            rounds += 1;
            // Deleting orphans does not touch the catalog; everything else
            // commits, after which the plan is made again from the new one.
            let mut committed_one = false;
            for (i, job) in jobs.iter().enumerate() {
                let touches_catalog = !matches!(job, Job::DeleteOrphans { .. });
                if touches_catalog && committed_one {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    report.unfinished = true;
                    return Ok(());
                }
                let began = Instant::now();
                let outcome = exec.run(job, &base).await?;
                self.metrics.job(job_name(job), &outcome);
                report.add(&outcome);
                if let Some(f) = &self.progress {
                    f(&JobDone {
                        tenant,
                        kind: job_name(job),
                        planned_left: jobs.len() - i - 1,
                        outcome: &outcome,
                        elapsed: began.elapsed(),
                        pass: report,
                    });
                }
                if touches_catalog {
                    committed_one = true;
                }
            }
        }
    }

    async fn segments(&self, tenant: &TenantId) -> Result<Vec<SegmentRef>> {
        Ok(self
            .bucket
            .list(&segments_prefix(tenant))
            .await?
            .into_iter()
            .filter_map(|o| {
                let k = SegmentKey::parse(&o.key)?;
                Some(SegmentRef {
                    key: o.key.to_string(),
                    ulid_ms: k.id().timestamp_ms() as i64,
                    bytes: o.size,
                })
            })
            .collect())
    }

    async fn block_objects(&self, tenant: &TenantId) -> Result<Vec<BlockObject>> {
        Ok(self
            .bucket
            .list(&blocks_prefix(tenant))
            .await?
            .into_iter()
            .filter_map(|o| {
                let k = BlockKey::parse(&o.key)?;
                Some(BlockObject {
                    id: k.id().to_string(),
                    ulid_ms: k.id().timestamp_ms() as i64,
                })
            })
            .collect())
    }

    /// Runs a pass every `interval` until `stop` resolves.
    pub async fn run_loop(
        &self,
        interval: Duration,
        clock: &dyn stratus_model::Clock,
        stop: impl std::future::Future<Output = ()>,
    ) {
        every(interval, stop, || async {
            let pass = AssertUnwindSafe(self.run_once(clock.now_ms()))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let message = panic_message(panic.as_ref());
                    error!(panic = %message, "compaction pass panicked; the next pass will run");
                    self.metrics.panics.inc();
                    Err(CompactorError::Panic(message))
                });
            match pass {
                Ok(r) if r.jobs > 0 => info!(
                    jobs = r.jobs,
                    blocks = r.blocks_written,
                    segments = r.segments_compacted,
                    deleted = r.objects_deleted,
                    "compaction pass done"
                ),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "compaction pass failed; next pass will retry"),
            }
        })
        .await
    }
}

/// Runs `pass`, then again `interval` after each run ends, until `stop`
/// resolves (checked between runs).
pub(crate) async fn every<F: std::future::Future<Output = ()>>(
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
    mut pass: impl FnMut() -> F,
) {
    tokio::pin!(stop);
    loop {
        pass().await;
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The message a panic carried (`panic!` with a literal or a format).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests;
