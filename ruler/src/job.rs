//! One group's turn in a run: what is due, how a failed attempt is
//! recorded and backed off, and what a run reports.

use stratus_model::TenantId;

use crate::group::{RuleHealth, RuleState};
use crate::metrics::GroupKey;
use crate::rulefile::RuleGroup;
use crate::state::StoredGroup;

/// The longest backoff of a failing group, in evaluation intervals.
pub const MAX_BACKOFF_INTERVALS: i64 = 4;

/// Intervals from a failed attempt to the next one, after `failures`
/// failures in a row: 1, 2, 4, then [`MAX_BACKOFF_INTERVALS`].
pub fn backoff_intervals(failures: u32) -> i64 {
    let doubled = 1_i64 << failures.saturating_sub(1).min(16);
    doubled.min(MAX_BACKOFF_INTERVALS)
}

/// What one [`Ruler::run_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Tenants and groups looked at.
    pub tenants: usize,
    pub groups: usize,
    /// Evaluations committed, and rules that failed in them.
    pub evaluations: u64,
    pub failed_rules: u64,
    /// Due slots skipped for good (beyond `max_slots_per_run`).
    pub missed_evaluations: u64,
    /// Due slots left for the next run because the deadline came.
    pub deferred_evaluations: u64,
    /// Groups another ruler was working on, and commits another ruler won.
    pub busy_groups: u64,
    pub lost_races: u64,
    pub alerts_sent: u64,
    /// Attempts that failed as a whole (an invalid group, a panic), and
    /// groups left alone because they are backing off after failures.
    pub failed_groups: u64,
    pub backed_off_groups: u64,
    /// Problems that did not stop the run (storage, unreadable objects,
    /// failed sends), one line each.
    pub errors: Vec<String>,
}

impl RunReport {
    pub(crate) fn merge(&mut self, o: RunReport) {
        self.evaluations += o.evaluations;
        self.failed_rules += o.failed_rules;
        self.missed_evaluations += o.missed_evaluations;
        self.deferred_evaluations += o.deferred_evaluations;
        self.busy_groups += o.busy_groups;
        self.lost_races += o.lost_races;
        self.alerts_sent += o.alerts_sent;
        self.failed_groups += o.failed_groups;
        self.backed_off_groups += o.backed_off_groups;
        self.errors.extend(o.errors);
    }
}

pub(crate) struct Job {
    pub(crate) tenant: TenantId,
    pub(crate) namespace: String,
    pub(crate) group: RuleGroup,
    /// Why the group cannot be evaluated (it fails the checks of an
    /// upload): its slots are attempted, fail at once and back off.
    pub(crate) invalid: Option<String>,
}

/// What a ruler found in a group's state when it came to run the group,
/// and what it wrote.
pub(crate) enum Start {
    /// Another ruler holds an unexpired claim.
    Busy,
    /// The group is backing off after failures.
    BackingOff { failures: u32, retry_at_ms: i64 },
    /// No slot is due.
    NotDue,
    /// Slots are due and the write claims them.
    Claimed(Due),
    /// Slots are due but the group fails the checks of an upload: the
    /// write records the failed attempt of the latest.
    Invalid { due: Due, message: String },
}

/// The due slots of a group.
pub(crate) struct Due {
    /// The latest due slot.
    pub(crate) t_ms: i64,
    /// Slots to evaluate, ending at `t_ms`.
    pub(crate) n: u64,
    /// Slots skipped.
    pub(crate) missed: u64,
    /// Whether the group's last attempt had failed.
    pub(crate) failing: bool,
}

/// A failed attempt at slot `t`: the slot counts as done (the slots skipped
/// while backing off are counted missed, not caught up), every rule and
/// the group report `message`, alerts stay as they were (as after a failed
/// query), and no attempt is made before `backoff_intervals(failures)`
/// intervals after `t`.
pub(crate) fn record_failure(
    obj: &mut StoredGroup,
    group: &RuleGroup,
    interval: i64,
    t: i64,
    message: &str,
) {
    obj.failures = obj.failures.saturating_add(1);
    obj.last_error = Some(message.to_string());
    obj.retry_at_ms =
        Some(t.saturating_add(interval.saturating_mul(backoff_intervals(obj.failures))));
    obj.claim = None;
    obj.interval_ms = interval;
    obj.state.last_evaluation_ms = Some(t);
    obj.state.rules.truncate(group.rules.len());
    obj.state
        .rules
        .resize_with(group.rules.len(), RuleState::default);
    for (rule, rs) in group.rules.iter().zip(obj.state.rules.iter_mut()) {
        if rs.name != rule.name() {
            *rs = RuleState {
                name: rule.name().to_string(),
                ..RuleState::default()
            };
        }
        rs.health = RuleHealth::Err;
        rs.last_error = Some(message.to_string());
        rs.last_evaluation_ms = Some(t);
    }
}

pub(crate) fn group_key(job: &Job) -> GroupKey {
    GroupKey {
        tenant: job.tenant.clone(),
        namespace: job.namespace.clone(),
        group: job.group.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        let steps: Vec<i64> = (1..=6).map(backoff_intervals).collect();
        assert_eq!(steps, [1, 2, 4, 4, 4, 4]);
        assert_eq!(backoff_intervals(u32::MAX), MAX_BACKOFF_INTERVALS);
    }
}
