//! What Prometheus's `GET /api/v1/rules` and `GET /api/v1/alerts` answer
//! in `data`, built from the bucket alone (rule files and group states), as
//! serde structs that serialise to Prometheus's JSON.

use serde::Serialize;
use stratus_model::TenantId;

use std::collections::BTreeMap;

use crate::alert_rule::{Alert, AlertState};
use crate::error::Result;
use crate::group::{RuleHealth, RuleState};
use crate::options::{millis, RulerOptions};
use crate::rulefile::{Rule, RuleGroup};
use crate::state::{self, StoredGroup};
use crate::store::RuleStore;
use crate::timefmt::{rfc3339, ZERO_TIME};
use crate::watchdog;

/// `data` of `GET /api/v1/rules`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleDiscovery {
    pub groups: Vec<ApiRuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRuleGroup {
    pub name: String,
    /// The namespace.
    pub file: String,
    pub rules: Vec<ApiRule>,
    /// Seconds.
    pub interval: f64,
    pub limit: usize,
    /// Seconds the last evaluation took.
    pub evaluation_time: f64,
    /// RFC 3339; Go's zero time when never evaluated.
    pub last_evaluation: String,
    /// Stratus's own: `err` when the group as a whole cannot be evaluated
    /// (it fails the checks of an upload, or its last evaluation
    /// panicked), `ok` after an evaluation, `unknown` before the first.
    pub health: RuleHealth,
    /// Why the group cannot be evaluated.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ApiRule {
    Alerting(ApiAlertingRule),
    Recording(ApiRecordingRule),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiAlertingRule {
    /// `firing` if any alert fires, else `pending` if any is pending, else
    /// `inactive`.
    pub state: &'static str,
    pub name: String,
    pub query: String,
    /// `for`, seconds.
    pub duration: f64,
    pub keep_firing_for: f64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub alerts: Vec<ApiAlert>,
    pub health: RuleHealth,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    pub evaluation_time: f64,
    pub last_evaluation: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRecordingRule {
    pub name: String,
    pub query: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub health: RuleHealth,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    pub evaluation_time: f64,
    pub last_evaluation: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One pending or firing alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_since: Option<String>,
    /// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `"1e+00"`.
    pub value: String,
}

/// `data` of `GET /api/v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDiscovery {
    pub alerts: Vec<ApiAlert>,
}

/// `type=` of `GET /api/v1/rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Alert,
    Record,
}

/// The filters of `GET /api/v1/rules`; empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct RulesFilter {
    pub kind: Option<RuleKind>,
    pub rule_names: Vec<String>,
    pub group_names: Vec<String>,
    /// Namespaces (`file[]`).
    pub files: Vec<String>,
    pub exclude_alerts: bool,
    /// `match[]`: a rule is kept when its labels match every matcher of
    /// any one selector (Prometheus 3).
    pub matchers: Vec<Vec<stratus_model::LabelMatcher>>,
}

impl RulesFilter {
    fn filters_rules(&self) -> bool {
        self.kind.is_some() || !self.rule_names.is_empty() || !self.matchers.is_empty()
    }

    fn keeps(&self, rule: &Rule) -> bool {
        let kind_ok = match self.kind {
            None => true,
            Some(RuleKind::Alert) => rule.alert.is_some(),
            Some(RuleKind::Record) => rule.record.is_some(),
        };
        let labels_ok = self.matchers.is_empty() || {
            let labels = stratus_model::Labels::from_pairs(
                rule.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .unwrap_or_default();
            self.matchers
                .iter()
                .any(|set| set.iter().all(|m| m.matches(&labels)))
        };
        kind_ok
            && labels_ok
            && (self.rule_names.is_empty() || self.rule_names.iter().any(|n| n == rule.name()))
    }
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn time_or_zero(ms: Option<i64>) -> String {
    ms.map_or_else(|| ZERO_TIME.to_string(), rfc3339)
}

fn api_alert(a: &Alert) -> ApiAlert {
    ApiAlert {
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        state: a.state.as_str(),
        active_at: Some(rfc3339(a.active_at)),
        keep_firing_since: a.keep_firing_since.map(rfc3339),
        value: stratus_model::strutil::format_e_shortest(a.value),
    }
}

/// Pending and firing alerts, as Prometheus lists them (resolved ones kept
/// for notification are left out).
fn active_alerts(rs: &RuleState) -> impl Iterator<Item = &Alert> {
    rs.alerts
        .values()
        .filter(|a| a.state != AlertState::Inactive)
}

/// One rule; `invalid` is why its group cannot be evaluated, which every
/// rule of the group reports.
fn api_rule(
    rule: &Rule,
    rs: Option<&RuleState>,
    with_alerts: bool,
    invalid: Option<&str>,
) -> ApiRule {
    let unknown = RuleState::default();
    let rs = rs.filter(|s| s.name == rule.name()).unwrap_or(&unknown);
    let evaluation_time = rs.evaluation_us as f64 / 1e6;
    let last_evaluation = time_or_zero(rs.last_evaluation_ms);
    let (health, last_error) = match invalid {
        Some(e) => (RuleHealth::Err, e.to_string()),
        None => (rs.health, rs.last_error.clone().unwrap_or_default()),
    };
    let query = crate::rulefile::display_expr(&rule.expr);
    if rule.alert.is_some() {
        let active: Vec<&Alert> = active_alerts(rs).collect();
        let state = if active.iter().any(|a| a.state == AlertState::Firing) {
            "firing"
        } else if active.is_empty() {
            "inactive"
        } else {
            "pending"
        };
        ApiRule::Alerting(ApiAlertingRule {
            state,
            name: rule.name().to_string(),
            query,
            duration: seconds(rule.for_.map_or(0, |d| d.as_millis())),
            keep_firing_for: seconds(rule.keep_firing_for.map_or(0, |d| d.as_millis())),
            labels: rule.labels.clone(),
            annotations: rule.annotations.clone(),
            alerts: if with_alerts {
                active.into_iter().map(api_alert).collect()
            } else {
                Vec::new()
            },
            health,
            last_error,
            evaluation_time,
            last_evaluation,
            kind: "alerting",
        })
    } else {
        ApiRule::Recording(ApiRecordingRule {
            name: rule.name().to_string(),
            query,
            labels: rule.labels.clone(),
            health,
            last_error,
            evaluation_time,
            last_evaluation,
            kind: "recording",
        })
    }
}

/// The name a namespace that cannot be read at all is listed under, as
/// one group without rules.
pub const UNREADABLE_GROUP: &str = "(unreadable rule file)";

/// A group as the APIs show it.
struct GroupView {
    namespace: String,
    group: RuleGroup,
    /// Why it cannot be evaluated, from the rule file alone.
    invalid: Option<String>,
    state: Option<StoredGroup>,
}

/// Every group of a tenant with its stored state, namespaces in order,
/// groups in file order, the Watchdog last when enabled. A namespace that
/// cannot be read is one group without rules with the reason; only
/// failures a retry may cure fail the whole answer.
async fn groups_with_state(
    store: &RuleStore,
    tenant: &TenantId,
    options: &RulerOptions,
    files: &[String],
) -> Result<Vec<GroupView>> {
    let mut groups: Vec<(String, RuleGroup, Option<String>)> = Vec::new();
    for (ns, loaded) in store.load_all(tenant).await? {
        match loaded {
            Ok(gs) => groups.extend(gs.into_iter().map(|g| (ns.clone(), g.group, g.error))),
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => groups.push((
                ns,
                RuleGroup {
                    name: UNREADABLE_GROUP.to_string(),
                    ..RuleGroup::default()
                },
                Some(e.to_string()),
            )),
        }
    }
    if options.watchdog {
        groups.push((watchdog::NAMESPACE.to_string(), watchdog::group(), None));
    }
    groups.retain(|(ns, _, _)| files.is_empty() || files.contains(ns));
    let mut out = Vec::with_capacity(groups.len());
    for (namespace, group, invalid) in groups {
        let state = if group.name == UNREADABLE_GROUP && invalid.is_some() {
            None
        } else {
            match state::load(store.bucket(), tenant, &namespace, &group.name).await {
                Ok(s) => s.map(|(s, _)| s),
                Err(e) if e.is_retryable() => return Err(e),
                // A damaged state object hides the group's last results,
                // not the group.
                Err(e) => {
                    tracing::warn!(%tenant, namespace, group = group.name, error = %e, "unreadable group state");
                    None
                }
            }
        };
        out.push(GroupView {
            namespace,
            group,
            invalid,
            state,
        });
    }
    Ok(out)
}

/// `data` of `GET /api/v1/rules` for `tenant`.
pub async fn rules(
    store: &RuleStore,
    tenant: &TenantId,
    options: &RulerOptions,
    filter: &RulesFilter,
) -> Result<RuleDiscovery> {
    let mut out = Vec::new();
    for v in groups_with_state(store, tenant, options, &filter.files).await? {
        let (g, st) = (v.group, v.state);
        if !filter.group_names.is_empty() && !filter.group_names.contains(&g.name) {
            continue;
        }
        let rule_states = st.as_ref().map(|s| s.state.rules.as_slice()).unwrap_or(&[]);
        let rules: Vec<ApiRule> = g
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| filter.keeps(r))
            .map(|(i, r)| {
                api_rule(
                    r,
                    rule_states.get(i),
                    !filter.exclude_alerts,
                    v.invalid.as_deref(),
                )
            })
            .collect();
        if rules.is_empty() && filter.filters_rules() {
            continue;
        }
        let failed = st
            .as_ref()
            .filter(|s| s.failures > 0)
            .and_then(|s| s.last_error.clone());
        let (health, last_error) = match (v.invalid, failed) {
            (Some(e), _) | (None, Some(e)) => (RuleHealth::Err, e),
            (None, None)
                if st
                    .as_ref()
                    .is_some_and(|s| s.state.last_evaluation_ms.is_some()) =>
            {
                (RuleHealth::Ok, String::new())
            }
            (None, None) => (RuleHealth::Unknown, String::new()),
        };
        out.push(ApiRuleGroup {
            interval: seconds(
                g.interval
                    .map_or_else(|| millis(options.evaluation_interval), |d| d.as_millis()),
            ),
            limit: g.limit,
            evaluation_time: st.as_ref().map_or(0.0, |s| s.evaluation_us as f64 / 1e6),
            last_evaluation: time_or_zero(st.as_ref().and_then(|s| s.state.last_evaluation_ms)),
            name: g.name,
            file: v.namespace,
            rules,
            health,
            last_error,
        });
    }
    Ok(RuleDiscovery { groups: out })
}

/// `data` of `GET /api/v1/alerts` for `tenant`: every pending and firing alert.
pub async fn alerts(
    store: &RuleStore,
    tenant: &TenantId,
    options: &RulerOptions,
) -> Result<AlertDiscovery> {
    let mut out = Vec::new();
    for v in groups_with_state(store, tenant, options, &[]).await? {
        let Some(st) = v.state else { continue };
        for (rule, rs) in v.group.rules.iter().zip(&st.state.rules) {
            if rule.alert.is_some() && rs.name == rule.name() {
                out.extend(active_alerts(rs).map(api_alert));
            }
        }
    }
    Ok(AlertDiscovery { alerts: out })
}
