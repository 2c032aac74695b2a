//! [`Ruler::run_once`]: one stateless pass over every tenant's due rule
//! groups. See the crate docs for the order of writes and what a crash
//! between them means.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use stratus_storage::mutate::{Attempt, Mutation};
use tracing::{debug, error, warn};
use ulid::Ulid;

use crate::error::{Result, RulerError};
use crate::group::{
    evaluate_group, EvalContext, GroupState, RuleAppender, RuleErrorKind, RuleQuerier,
};
use crate::history;
use crate::job::{group_key, record_failure, Due, Job, RunReport, Start};
use crate::metrics::{GroupKey, RulerMetrics};
use crate::notify::{AlertSender, OutgoingAlert, SendPolicy};
use crate::options::{millis, RulerOptions};
use crate::schedule::{due, group_offset_ms};
use crate::state::{self, Claim, Commit, StoredGroup};
use crate::store::RuleStore;
use crate::watchdog;

/// Added to a claim's lifetime beyond the invocation's deadline, for an
/// evaluation that started just before it.
const CLAIM_GRACE_MS: i64 = 30_000;

/// The stateless ruler: everything it knows between invocations is in the
/// bucket. Cheap to share behind an `Arc`.
pub struct Ruler {
    store: RuleStore,
    querier: Arc<dyn RuleQuerier>,
    appender: Arc<dyn RuleAppender>,
    sender: Arc<dyn AlertSender>,
    options: RulerOptions,
    metrics: RulerMetrics,
    /// This instance, in claims.
    id: String,
}

impl Ruler {
    pub fn new(
        store: RuleStore,
        querier: Arc<dyn RuleQuerier>,
        appender: Arc<dyn RuleAppender>,
        sender: Arc<dyn AlertSender>,
        options: RulerOptions,
    ) -> Self {
        Self {
            store,
            querier,
            appender,
            sender,
            options,
            metrics: RulerMetrics::default(),
            id: Ulid::new().to_string(),
        }
    }

    pub fn store(&self) -> &RuleStore {
        &self.store
    }

    pub fn options(&self) -> &RulerOptions {
        &self.options
    }

    pub fn metrics(&self) -> &RulerMetrics {
        &self.metrics
    }

    /// Evaluates every due slot of every group of every tenant, at the
    /// slots' scheduled times. `now_ms` is the wall clock (Unix ms) at the
    /// call; no evaluation starts after `deadline`. A group that panics
    /// fails alone: the others and the next runs go on.
    pub async fn run_once(&self, now_ms: i64, deadline: Instant) -> RunReport {
        let started = Instant::now();
        let mut report = RunReport::default();
        let (jobs, complete) = self.plan(&mut report).await;
        report.groups = jobs.len();
        let keep: BTreeSet<GroupKey> = jobs.iter().map(group_key).collect();
        let mut outcomes = futures::stream::iter(jobs)
            .map(|job| async move {
                let mut r = RunReport::default();
                let run = AssertUnwindSafe(self.run_group(&job, now_ms, started, deadline, &mut r))
                    .catch_unwind()
                    .await;
                let failed = match run {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    // Outside the parts run_group guards itself (reading the
                    // state, claiming): counted, nothing written.
                    Err(panic) => {
                        self.metrics
                            .update(&group_key(&job), |m| m.group_failures_total += 1);
                        r.failed_groups += 1;
                        Some(panicked(&job, &*panic))
                    }
                };
                if let Some(e) = failed {
                    warn!(tenant = %job.tenant, namespace = job.namespace, group = job.group.name,
                          error = %e, "rule group evaluation failed");
                    r.errors.push(format!(
                        "tenant {} namespace {:?} group {:?}: {e}",
                        job.tenant, job.namespace, job.group.name
                    ));
                }
                r
            })
            .buffer_unordered(self.options.concurrency.max(1));
        while let Some(r) = outcomes.next().await {
            report.merge(r);
        }
        if complete {
            self.metrics.retain(&keep);
        }
        report
    }

    /// Every group to look at; `false` when some listing failed. A
    /// namespace that cannot be read is reported and skipped; a group that
    /// fails the checks of an upload is a job that fails at once.
    async fn plan(&self, report: &mut RunReport) -> (Vec<Job>, bool) {
        let mut complete = true;
        let tenants = match self.store.all_tenants().await {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(format!("listing tenants: {e}"));
                return (Vec::new(), false);
            }
        };
        let mut jobs = Vec::new();
        for tenant in tenants {
            let namespaces = match self.store.load_all(&tenant).await {
                Ok(n) => n,
                Err(e) => {
                    report
                        .errors
                        .push(format!("tenant {tenant}: listing rule namespaces: {e}"));
                    complete = false;
                    continue;
                }
            };
            if namespaces.is_empty() && !self.options.watchdog {
                continue;
            }
            report.tenants += 1;
            for (namespace, groups) in namespaces {
                match groups {
                    Ok(groups) => jobs.extend(groups.into_iter().map(|g| Job {
                        tenant: tenant.clone(),
                        namespace: namespace.clone(),
                        group: g.group,
                        invalid: g.error,
                    })),
                    Err(e) => {
                        warn!(%tenant, namespace, error = %e, "rule namespace unreadable, its groups are not evaluated");
                        report.errors.push(format!("tenant {tenant}: {e}"));
                        complete = false;
                    }
                }
            }
            if self.options.watchdog {
                jobs.push(Job {
                    tenant: tenant.clone(),
                    namespace: watchdog::NAMESPACE.to_string(),
                    group: watchdog::group(),
                    invalid: None,
                });
            }
        }
        (jobs, complete)
    }

    async fn run_group(
        &self,
        job: &Job,
        now_ms: i64,
        started: Instant,
        deadline: Instant,
        r: &mut RunReport,
    ) -> Result<()> {
        let bucket = self.store.bucket();
        let (tenant, ns, group) = (&job.tenant, job.namespace.as_str(), &job.group);
        let key = group_key(job);
        let interval = self.options.interval_ms(group);
        let offset = group_offset_ms(&format!("{tenant}/{ns}/{}", group.name), interval);
        // Read the state and, when a slot is due, claim the group in one
        // conditional write, so no other ruler evaluates (and appends) the
        // slots; a group that fails the checks of an upload has nothing to
        // evaluate, append or send: no claim, its failed attempt is written
        // instead. Losing the write means another ruler has the group: an
        // answer, not a reason to try again.
        let state_key = crate::keys::state(tenant, ns, &group.name);
        let attempt = state::object(bucket, &state_key, ns, &group.name)
            .once(|current| {
                let mut obj = current.unwrap_or_else(|| StoredGroup::new(ns, &group.name));
                if obj.claim.as_ref().is_some_and(|c| c.expires_at_ms > now_ms) {
                    return Ok(Mutation::Unchanged(Start::Busy));
                }
                if let Some(retry_at_ms) = obj.retry_at_ms.filter(|&at| at > now_ms) {
                    return Ok(Mutation::Unchanged(Start::BackingOff {
                        failures: obj.failures,
                        retry_at_ms,
                    }));
                }
                let Some(slot) = due(obj.state.last_evaluation_ms, now_ms, interval, offset) else {
                    return Ok(Mutation::Unchanged(Start::NotDue));
                };
                let total = slot.missed + 1;
                // A group that keeps failing tries its latest slot only; the
                // slots it skipped are counted missed.
                let n = if obj.failures > 0 || job.invalid.is_some() {
                    1
                } else {
                    total.min(u64::from(self.options.max_slots_per_run.max(1)))
                };
                let due = Due {
                    t_ms: slot.t_ms,
                    n,
                    missed: total - n,
                    failing: obj.failures > 0,
                };
                if let Some(problem) = &job.invalid {
                    let message = format!(
                        "rule group not evaluated, it fails the checks of an upload: {problem}"
                    );
                    record_failure(&mut obj, group, interval, slot.t_ms, &message);
                    return Ok(Mutation::Write(obj, Start::Invalid { due, message }));
                }
                let remaining = millis(deadline.saturating_duration_since(Instant::now()));
                obj.claim = Some(Claim {
                    owner: self.id.clone(),
                    expires_at_ms: now_ms
                        .saturating_add(millis(started.elapsed()))
                        .saturating_add(remaining)
                        .saturating_add(CLAIM_GRACE_MS),
                });
                Ok(Mutation::Write(obj, Start::Claimed(due)))
            })
            .await
            .map_err(|e| {
                e.or_contention(|key, attempts| RulerError::Contention { key, attempts })
            })?;
        let (mut obj, mut version, start) = match attempt {
            Attempt::Unchanged {
                output: Start::Busy,
                ..
            } => {
                debug!(%tenant, namespace = ns, group = group.name, "group claimed by another ruler");
                r.busy_groups += 1;
                return Ok(());
            }
            Attempt::Unchanged {
                output:
                    Start::BackingOff {
                        failures,
                        retry_at_ms,
                    },
                ..
            } => {
                debug!(%tenant, namespace = ns, group = group.name, failures, retry_at_ms,
                       "rule group backing off after failures");
                r.backed_off_groups += 1;
                return Ok(());
            }
            Attempt::Unchanged { .. } => return Ok(()),
            Attempt::Lost { output } => {
                if let Start::Claimed(due) | Start::Invalid { due, .. } = &output {
                    self.count_missed(job, due, r);
                }
                self.lost_race(job, r);
                return Ok(());
            }
            Attempt::Written {
                value,
                version,
                output,
            } => (value, Some(version), output),
        };
        let (due, message) = match start {
            Start::Claimed(due) => (due, None),
            Start::Invalid { due, message } => (due, Some(message)),
            Start::Busy | Start::BackingOff { .. } | Start::NotDue => return Ok(()),
        };
        self.count_missed(job, &due, r);
        if let Some(message) = message {
            self.failed(job, &obj, due.t_ms, &message, r);
            return Ok(());
        }
        let (slot_t_ms, n) = (due.t_ms, due.n);

        let ctx = EvalContext {
            tenant,
            querier: self.querier.as_ref(),
            appender: self.appender.as_ref(),
            external_labels: &self.options.external_labels,
            external_url: &self.options.external_url,
        };
        let policy = SendPolicy {
            resend_delay_ms: millis(self.options.resend_delay),
            interval_ms: interval,
            external_labels: &self.options.external_labels,
            external_url: &self.options.external_url,
        };
        let exprs: Vec<String> = group
            .rules
            .iter()
            .map(|rule| crate::rulefile::display_expr(&rule.expr))
            .collect();
        for k in (0..n).rev() {
            // n <= max_slots_per_run (a u32), so k fits an i64.
            let t = slot_t_ms - i64::try_from(k).unwrap_or(0) * interval;
            if Instant::now() >= deadline {
                r.deferred_evaluations += k + 1;
                obj.claim = None;
                state::commit(bucket, tenant, &obj, version.as_ref()).await?;
                return Ok(());
            }
            let lateness = now_ms + millis(started.elapsed()) - t;
            let before = obj.state.clone();
            let eval_started = Instant::now();
            // Evaluation, templates and the choice of alerts to send: a
            // panic fails this group's attempt, nothing else.
            let evaluated = AssertUnwindSafe(async {
                let eval = evaluate_group(group, &mut obj.state, ctx, t).await;
                let not_sent: BTreeSet<usize> = eval
                    .errors
                    .iter()
                    .filter(|e| e.kind != RuleErrorKind::Append)
                    .map(|e| e.index)
                    .collect();
                let mut outgoing: Vec<OutgoingAlert> = Vec::new();
                let links_changed =
                    obj.state.sent_external_url.as_deref() != Some(policy.external_url);
                for (i, (rule, rs)) in group
                    .rules
                    .iter()
                    .zip(obj.state.rules.iter_mut())
                    .enumerate()
                {
                    if rule.alert.is_some() && !not_sent.contains(&i) {
                        outgoing.extend(policy.select(
                            rs.alerts.values_mut(),
                            &exprs[i],
                            t,
                            links_changed,
                        ));
                    }
                }
                if group.rules.iter().any(|r| r.alert.is_some()) {
                    obj.state.sent_external_url = Some(policy.external_url.to_string());
                }
                (eval.errors.len() as u64, outgoing)
            })
            .catch_unwind()
            .await;
            let (failed, outgoing) = match evaluated {
                Ok(v) => v,
                Err(panic) => {
                    obj.state = before;
                    let message = panicked(job, &*panic);
                    if k > 0 {
                        // The later slots of this run are skipped.
                        r.missed_evaluations += k;
                        self.metrics
                            .update(&key, |m| m.missed_evaluations_total += k);
                    }
                    self.fail(job, &mut obj, version.as_ref(), interval, t, &message, r)
                        .await?;
                    return Ok(());
                }
            };
            let duration_us = u64::try_from(eval_started.elapsed().as_micros()).unwrap_or(u64::MAX);
            obj.interval_ms = interval;
            obj.evaluation_us = duration_us;
            obj.failures = 0;
            obj.last_error = None;
            obj.retry_at_ms = None;
            if k == 0 {
                obj.claim = None;
            }
            match state::commit(bucket, tenant, &obj, version.as_ref()).await? {
                Commit::Written(v) => version = Some(v),
                Commit::Lost => {
                    // Our claim expired and another ruler took the group:
                    // its evaluation counts, ours is dropped unsent.
                    warn!(%tenant, namespace = ns, group = group.name, t, "lost the group state commit, dropping our evaluation");
                    r.lost_races += 1;
                    self.metrics.update(&key, |m| m.lost_races_total += 1);
                    return Ok(());
                }
            }
            r.evaluations += 1;
            r.failed_rules += failed;
            let sent = outgoing.len() as u64;
            let handed = AssertUnwindSafe(self.hand_over(job, &before, &obj.state, t, outgoing))
                .catch_unwind()
                .await;
            let (errors, send_failed) = match handed {
                Ok(v) => v,
                Err(panic) => {
                    // Committed already: the alerts count as sent and go
                    // again after the resend delay.
                    let message = panicked(job, &*panic);
                    self.metrics.update(&key, |m| m.send_failures_total += 1);
                    self.fail(job, &mut obj, version.as_ref(), interval, t, &message, r)
                        .await?;
                    return Ok(());
                }
            };
            r.errors.extend(errors);
            if !send_failed {
                r.alerts_sent += sent;
            }
            self.metrics.update(&key, |m| {
                m.evaluations_total += 1;
                m.evaluation_failures_total += failed;
                m.consecutive_failures = 0;
                m.lateness_last_ms = lateness;
                m.lateness_max_ms = m.lateness_max_ms.max(lateness);
                m.duration_last_us = duration_us;
                m.last_evaluation_ms = t;
                if send_failed {
                    m.send_failures_total += 1;
                } else {
                    m.alerts_sent_total += sent;
                }
            });
        }
        Ok(())
    }

    /// After a commit: the slot's history, then its alerts to the sender.
    /// Returns the problems (they do not stop the run) and whether the
    /// send failed.
    async fn hand_over(
        &self,
        job: &Job,
        before: &GroupState,
        after: &GroupState,
        t: i64,
        outgoing: Vec<OutgoingAlert>,
    ) -> (Vec<String>, bool) {
        let (tenant, ns, group) = (&job.tenant, job.namespace.as_str(), &job.group.name);
        let mut errors = Vec::new();
        let events = history::transitions(ns, group, before, after, t);
        if let Err(e) = history::append(self.store.bucket(), tenant, ns, group, t, events).await {
            errors.push(format!(
                "tenant {tenant} namespace {ns:?} group {group:?}: writing alert history: {e}"
            ));
        }
        let mut send_failed = false;
        if !outgoing.is_empty() {
            let sent = outgoing.len();
            if let Err(e) = self.sender.send(tenant, outgoing).await {
                send_failed = true;
                warn!(%tenant, namespace = ns, group, error = %e, "sending alerts failed");
                errors.push(format!(
                    "tenant {tenant} namespace {ns:?} group {group:?}: sending {sent} alerts: {e:#}"
                ));
            }
        }
        (errors, send_failed)
    }

    /// Commits a failed attempt of the group at slot `t` ([`record_failure`])
    /// and counts it. A lost commit means another ruler wrote first.
    #[allow(clippy::too_many_arguments)]
    async fn fail(
        &self,
        job: &Job,
        obj: &mut StoredGroup,
        version: Option<&stratus_storage::ObjectVersion>,
        interval: i64,
        t: i64,
        message: &str,
        r: &mut RunReport,
    ) -> Result<()> {
        let (tenant, group) = (&job.tenant, &job.group);
        record_failure(obj, group, interval, t, message);
        match state::commit(self.store.bucket(), tenant, obj, version).await? {
            Commit::Written(_) => self.failed(job, obj, t, message, r),
            Commit::Lost => self.lost_race(job, r),
        }
        Ok(())
    }

    /// Counts a failed attempt at slot `t` once it is committed.
    fn failed(&self, job: &Job, obj: &StoredGroup, t: i64, message: &str, r: &mut RunReport) {
        let (tenant, ns, group) = (&job.tenant, job.namespace.as_str(), &job.group);
        let key = group_key(job);
        warn!(%tenant, namespace = ns, group = group.name, failures = obj.failures,
              retry_at_ms = obj.retry_at_ms, error = message,
              "rule group failed, backing off");
        r.failed_groups += 1;
        r.errors.push(format!(
            "tenant {tenant} namespace {ns:?} group {:?}: {message}",
            group.name
        ));
        let failures = u64::from(obj.failures);
        self.metrics.update(&key, |m| {
            m.group_failures_total += 1;
            m.consecutive_failures = failures;
            m.last_evaluation_ms = t;
        });
    }

    /// Counts a state write lost to another ruler.
    fn lost_race(&self, job: &Job, r: &mut RunReport) {
        r.lost_races += 1;
        self.metrics
            .update(&group_key(job), |m| m.lost_races_total += 1);
    }

    /// Counts (and, unless the group was failing already, logs) the slots
    /// a run skips.
    fn count_missed(&self, job: &Job, due: &Due, r: &mut RunReport) {
        let missed = due.missed;
        if missed == 0 {
            return;
        }
        if !due.failing {
            warn!(tenant = %job.tenant, namespace = job.namespace, group = job.group.name, missed,
                  "rule group missed evaluations");
        }
        r.missed_evaluations += missed;
        self.metrics
            .update(&group_key(job), |m| m.missed_evaluations_total += missed);
    }
}

/// Counts and logs a panic caught in a group; returns its message.
fn panicked(job: &Job, panic: &(dyn std::any::Any + Send)) -> String {
    stratus_model::panics::record("ruler");
    let message = format!(
        "rule group evaluation panicked: {}",
        stratus_model::panics::message(panic)
    );
    error!(tenant = %job.tenant, namespace = job.namespace, group = job.group.name, error = message,
           "caught a panic in a rule group; the other groups go on");
    message
}
