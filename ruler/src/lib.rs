//! Prometheus-compatible rules as a stateless service over the bucket.
//!
//! - Rule files, templating, the alert state machine and group evaluation
//!   ([`evaluate_group`]) follow Prometheus; the ruler reaches the query
//!   engine through [`RuleQuerier`] and writes its output through
//!   [`RuleAppender`], and never depends on the query crate.
//! - [`RuleStore`]: rules per tenant with the Mimir/Cortex config API's
//!   semantics; a namespace is a Prometheus rule file in the bucket.
//! - [`Ruler::run_once`]: evaluates every due group slot of every tenant,
//!   hands alerts to an [`AlertSender`] with Prometheus's resend rules,
//!   records alert transitions ([`history()`]), and keeps per-group
//!   [`GroupState`] in the bucket, so any process can run the next slot.
//! - [`api::rules`] and [`api::alerts`]: the data of Prometheus's
//!   `/api/v1/rules` and `/api/v1/alerts`, read from the bucket alone.
//! - A group fails alone: one that fails the upload checks in the bucket,
//!   or whose evaluation, templates, history or sending panics, becomes a
//!   failed attempt in its state, shown unhealthy and backed off (1, 2,
//!   then 4 intervals); the ruler goes on with the others.
//!
//! # One slot, step by step
//!
//! For each group whose slot is due (aligned per group like Prometheus,
//! evaluated at the scheduled time, not the wall clock):
//!
//! 1. **load** the group's state object and remember its version;
//! 2. **claim** the group: write the state back with a claim (owner and
//!    expiry), conditional on the version read, in one attempt of
//!    `stratus_storage::mutate` (ADR 0026). A ruler that loses this write,
//!    or sees an unexpired claim, leaves the group alone: a slot is
//!    evaluated by one ruler, so its samples are appended once and its
//!    alerts sent once;
//! 3. **evaluate** the due slots in order (at most `max_slots_per_run`,
//!    older ones counted as missed). Samples are appended rule by rule
//!    during the evaluation, because a later rule of the group must see
//!    what an earlier recording rule wrote at the same timestamp, as in
//!    Prometheus;
//! 4. **commit** the new state (alerts, `for` timers, last slot, health,
//!    which alerts were sent when), conditional on the version the previous
//!    write left (`put_at_version`); the last slot's commit also drops the
//!    claim;
//! 5. only after a successful commit: **write history** and **send
//!    alerts**.
//!
//! What a crash (or a lost race) between the steps means:
//!
//! - between claim and commit: nothing of that evaluation is committed
//!   and no alert was sent. Once the claim expires (the invocation's
//!   deadline plus 30 s), the next run evaluates the same slot again from
//!   the same state: the samples it appends are identical and have the
//!   same timestamps, which Stratus's ingest treats as duplicates (same
//!   series and timestamp: one sample), and the alert state is the same as
//!   it would have been, so a `for` timer is never reset;
//! - a claim that expired while its owner was still evaluating (a very
//!   slow query): the other ruler's commit wins, ours fails at step 4 and
//!   is dropped without sending — never a double notification;
//! - between commit and sending: the slot's notifications are lost; the
//!   state says they were sent, so a firing alert is sent again after
//!   `resend_delay`, before the receiver's copy expires (`endsAt` is
//!   four resend periods ahead). This is the order that never double-fires,
//!   the same trade Prometheus makes (it marks alerts sent before its
//!   notifier queue delivers them). The slot's history events are lost too.

mod alert_rule;
pub mod api;
mod duration;
mod error;
mod group;
pub mod history;
mod job;
pub mod keys;
pub mod metrics;
pub mod notify;
mod options;
pub mod rulefile;
pub mod schedule;
mod service;
mod state;
pub mod store;
mod template;
mod timefmt;
mod watchdog;

pub use alert_rule::{Alert, AlertState, AlertingRule, AlertingRuleState};
pub use duration::PromDuration;
pub use error::{Result, RulerError};
pub use group::{
    evaluate_group, DiscardAppender, EvalContext, GroupEvaluation, GroupState, RuleAlerts,
    RuleAppender, RuleErrorKind, RuleEvalError, RuleHealth, RuleQuerier, RuleState,
};
pub use history::{history, HistoryEvent, HistoryFilter, Transition};
pub use job::RunReport;
pub use metrics::{GroupKey, GroupMetrics, RulerMetrics};
pub use notify::{AlertSender, DiscardSender, OutgoingAlert};
pub use options::RulerOptions;
pub use rulefile::{
    parse_rule_file, parse_rule_group, Rule, RuleFile, RuleFileError, RuleFileErrors, RuleGroup,
};
pub use schedule::{due, DueSlot};
pub use service::Ruler;
pub use store::RuleStore;
