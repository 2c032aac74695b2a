//! The built-in Watchdog: an alert that always fires, so a receiver (a
//! dead man's switch) notices when the alerting pipeline stops working, as
//! kube-prometheus ships it. It is a normal rule in a synthetic group that
//! is never stored as a rule file: namespace [`NAMESPACE`], group [`GROUP`].

use std::collections::BTreeMap;

use crate::rulefile::{Rule, RuleGroup};

/// The namespace of the ruler's own groups (user namespaces may not start
/// with `__`).
pub const NAMESPACE: &str = "__builtin__";
pub const GROUP: &str = "watchdog";
pub const ALERT: &str = "Watchdog";

/// The Watchdog group, evaluated at the ruler's default interval.
pub fn group() -> RuleGroup {
    RuleGroup {
        name: GROUP.to_string(),
        rules: vec![Rule {
            alert: Some(ALERT.to_string()),
            expr: "vector(1)".to_string(),
            labels: BTreeMap::from([("severity".to_string(), "none".to_string())]),
            annotations: BTreeMap::from([
                (
                    "summary".to_string(),
                    "An alert that should always be firing to certify that Alertmanager is working properly.".to_string(),
                ),
                (
                    "description".to_string(),
                    "This alert is always firing, so that the whole alerting pipeline can be \
                     checked end to end. Route it to a dead man's switch (for example a \
                     heartbeat check) that raises an alarm when it stops arriving."
                        .to_string(),
                ),
            ]),
            ..Rule::default()
        }],
        ..RuleGroup::default()
    }
}
