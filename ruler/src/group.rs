//! Evaluating one rule group at a scheduled timestamp: rules in order,
//! recording-rule output appended before the next rule runs, staleness
//! markers for series that disappeared, alert state advanced.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use stratus_model::{Labels, Sample, TenantId, METRIC_NAME, STALE_NAN};

use crate::alert_rule::{Alert, AlertingRule, AlertingRuleState};
use crate::rulefile::{Rule, RuleGroup};

/// The query engine as the ruler sees it: an instant query. Scalars come
/// back as one sample with no labels.
#[async_trait]
pub trait RuleQuerier: Send + Sync {
    async fn instant(
        &self,
        tenant: &TenantId,
        expr: &str,
        at_ms: i64,
    ) -> anyhow::Result<Vec<(Labels, f64)>>;
}

/// Where rule output goes (recording-rule series, `ALERTS`,
/// `ALERTS_FOR_STATE`, staleness markers). Called after each rule, so a
/// later rule in the group queries what an earlier one wrote.
#[async_trait]
pub trait RuleAppender: Send + Sync {
    async fn append(&self, tenant: &TenantId, samples: &[(Labels, Sample)]) -> anyhow::Result<()>;
}

/// An appender that keeps nothing: the caller writes
/// [`GroupEvaluation::samples`] itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardAppender;

#[async_trait]
impl RuleAppender for DiscardAppender {
    async fn append(&self, _: &TenantId, _: &[(Labels, Sample)]) -> anyhow::Result<()> {
        Ok(())
    }
}

/// How a rule's last evaluation went, as Prometheus's API reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleHealth {
    /// Not evaluated yet.
    #[default]
    Unknown,
    Ok,
    Err,
}

impl RuleHealth {
    fn is_unknown(&self) -> bool {
        *self == RuleHealth::Unknown
    }
}

/// Per-rule state that outlives an evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule's name, to notice a changed group.
    pub name: String,
    #[serde(default, skip_serializing_if = "RuleHealth::is_unknown")]
    pub health: RuleHealth,
    /// Why the last evaluation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Scheduled time of the rule's last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation_ms: Option<i64>,
    /// How long the last evaluation took (query, state, append).
    #[serde(default)]
    pub evaluation_us: u64,
    /// Alerting rules only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts: BTreeMap<String, Alert>,
    /// Series the rule wrote at its last successful evaluation, so the
    /// next one can mark vanished series stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<BTreeMap<String, String>>,
}

/// The state of a group, serialisable so it can live in the bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub rules: Vec<RuleState>,
    /// Scheduled time of the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation_ms: Option<i64>,
    /// The `--external-url` the group's alerts were last handed over
    /// with (their `generatorURL`s): when it changes, every alert that was
    /// sent goes again at once with the new links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_external_url: Option<String>,
}

/// Where a rule's evaluation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// The query failed: alert state did not move.
    Query,
    /// The result was refused (limit, duplicate label sets).
    Result,
    /// The output could not be written; alert state did move.
    Append,
}

/// Why one rule failed in an evaluation; the others still ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEvalError {
    /// 0-based position in the group.
    pub index: usize,
    pub rule: String,
    pub kind: RuleErrorKind,
    pub message: String,
}

impl fmt::Display for RuleEvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} {:?}: {}",
            self.index + 1,
            self.rule,
            self.message
        )
    }
}

/// The alerts of one alerting rule after an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlerts {
    pub rule: String,
    /// Pending, firing and retained resolved alerts.
    pub alerts: Vec<Alert>,
}

/// What one evaluation produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupEvaluation {
    /// Scheduled timestamp.
    pub t_ms: i64,
    /// Timestamp queries ran at and samples carry (`t - query_offset`).
    pub query_t_ms: i64,
    /// Everything written, in rule order.
    pub samples: Vec<(Labels, Sample)>,
    pub alerts: Vec<RuleAlerts>,
    pub errors: Vec<RuleEvalError>,
}

/// What the group evaluator needs besides the group.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    pub tenant: &'a TenantId,
    pub querier: &'a dyn RuleQuerier,
    pub appender: &'a dyn RuleAppender,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Recording-rule output: the query result renamed and relabelled.
fn record(
    rule: &Rule,
    name: &str,
    result: Vec<(Labels, f64)>,
    t: i64,
    limit: usize,
) -> Result<Vec<(Labels, Sample)>, String> {
    let mut out = Vec::with_capacity(result.len());
    let mut seen = BTreeSet::new();
    for (labels, v) in result {
        let mut m = to_map(&labels);
        m.insert(METRIC_NAME.into(), name.into());
        m.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let labels = Labels::from_pairs(m).map_err(|e| e.to_string())?;
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((labels, Sample::new(t, v)));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

/// Evaluates `group` at scheduled time `t_ms`, advancing `state`.
pub async fn evaluate_group(
    group: &RuleGroup,
    state: &mut GroupState,
    ctx: EvalContext<'_>,
    t_ms: i64,
) -> GroupEvaluation {
    let offset = group.query_offset.map_or(0, |d| d.as_millis());
    let query_t = t_ms - offset;
    let mut eval = GroupEvaluation {
        t_ms,
        query_t_ms: query_t,
        ..GroupEvaluation::default()
    };
    state.rules.truncate(group.rules.len());
    state
        .rules
        .resize_with(group.rules.len(), RuleState::default);
    for (index, (rule, rs)) in group.rules.iter().zip(state.rules.iter_mut()).enumerate() {
        let name = rule.name();
        if rs.name != name {
            *rs = RuleState {
                name: name.to_string(),
                ..RuleState::default()
            };
        }
        let started = std::time::Instant::now();
        let errors_before = eval.errors.len();
        eval_rule(rule, group.limit, rs, ctx, &mut eval, index).await;
        rs.last_evaluation_ms = Some(t_ms);
        rs.evaluation_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match eval.errors.get(errors_before) {
            Some(e) => {
                rs.health = RuleHealth::Err;
                rs.last_error = Some(e.message.clone());
            }
            None => {
                rs.health = RuleHealth::Ok;
                rs.last_error = None;
            }
        }
    }
    state.last_evaluation_ms = Some(t_ms);
    eval
}

/// One rule of [`evaluate_group`]; problems go to `eval.errors`.
async fn eval_rule(
    rule: &Rule,
    limit: usize,
    rs: &mut RuleState,
    ctx: EvalContext<'_>,
    eval: &mut GroupEvaluation,
    index: usize,
) {
    let (t_ms, query_t) = (eval.t_ms, eval.query_t_ms);
    let name = rule.name();
    let fail = |kind: RuleErrorKind, message: String| RuleEvalError {
        index,
        rule: name.to_string(),
        kind,
        message,
    };
    let result = match ctx.querier.instant(ctx.tenant, &rule.expr, query_t).await {
        Ok(r) => r,
        Err(e) => {
            eval.errors
                .push(fail(RuleErrorKind::Query, format!("query failed: {e:#}")));
            if rule.alert.is_some() {
                // Unchanged, as in Prometheus: a failed query neither
                // resolves nor advances alerts.
                eval.alerts.push(RuleAlerts {
                    rule: name.to_string(),
                    alerts: rs.alerts.values().cloned().collect(),
                });
            }
            return;
        }
    };
    let produced = if rule.alert.is_some() {
        let ar = AlertingRule {
            name,
            for_ms: rule.for_.map_or(0, |d| d.as_millis()),
            keep_firing_for_ms: rule.keep_firing_for.map_or(0, |d| d.as_millis()),
            labels: &rule.labels,
            annotations: &rule.annotations,
            external_labels: ctx.external_labels,
            external_url: ctx.external_url,
        };
        let mut st = AlertingRuleState {
            active: std::mem::take(&mut rs.alerts),
        };
        let r = ar.eval(&mut st, &result, t_ms, query_t, limit);
        rs.alerts = st.active;
        eval.alerts.push(RuleAlerts {
            rule: name.to_string(),
            alerts: rs.alerts.values().cloned().collect(),
        });
        r
    } else {
        record(rule, name, result, query_t, limit)
    };
    let mut samples = match produced {
        Ok(s) => s,
        Err(e) => {
            eval.errors.push(fail(RuleErrorKind::Result, e));
            return;
        }
    };
    let now: BTreeSet<BTreeMap<String, String>> = samples.iter().map(|(l, _)| to_map(l)).collect();
    for gone in rs.series.iter().filter(|s| !now.contains(*s)) {
        if let Ok(l) = Labels::from_pairs(gone.clone()) {
            samples.push((l, Sample::new(query_t, STALE_NAN)));
        }
    }
    rs.series = now.into_iter().collect();
    if !samples.is_empty() {
        if let Err(e) = ctx.appender.append(ctx.tenant, &samples).await {
            eval.errors.push(fail(
                RuleErrorKind::Append,
                format!("writing rule output failed: {e:#}"),
            ));
        }
    }
    eval.samples.extend(samples);
}

#[cfg(test)]
mod tests;
