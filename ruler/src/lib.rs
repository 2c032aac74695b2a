//! Prometheus-compatible rules: rule files, templating, the alert state
//! machine, group evaluation through a query trait, and when groups are due.
//!
//! The ruler never depends on the query crate: it reaches the engine
//! through [`RuleQuerier`] and writes its output through [`RuleAppender`].
//! All state ([`GroupState`]) is serde, to be kept in the bucket.

pub mod alerting;
pub mod duration;
pub mod group;
pub mod rulefile;
pub mod schedule;
pub mod template;

pub use alerting::{Alert, AlertState, AlertingRule, AlertingRuleState};
pub use duration::PromDuration;
pub use group::{
    evaluate_group, DiscardAppender, EvalContext, GroupEvaluation, GroupState, RuleAlerts,
    RuleAppender, RuleEvalError, RuleQuerier, RuleState,
};
pub use rulefile::{parse_rule_file, Rule, RuleFile, RuleFileError, RuleFileErrors, RuleGroup};
pub use schedule::{due, DueSlot};
