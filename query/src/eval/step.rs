//! What an evaluation step works with: values and series of steps,
//! and the time and sample-window arithmetic of selectors.

use std::collections::HashMap;

use promql_parser::parser::{AtModifier, Offset};
use stratus_model::{is_stale_nan, Labels, Sample, METRIC_NAME};

use crate::error::QueryError;
use crate::source::Series;

/// A value during evaluation.
#[derive(Debug, Clone)]
pub enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    Vector(Vec<StepSeries>),
    /// A range vector at one evaluation time (instant queries only).
    Matrix(Vec<Series>),
    String(String),
}

/// A series of an instant vector: points at some of the query's steps.
#[derive(Debug, Clone)]
pub struct StepSeries {
    pub labels: Labels,
    /// (step index, value), ascending by step.
    pub points: Vec<(u32, f64)>,
    /// The metric name is to be dropped at the end of evaluation. Only
    /// set with delayed name removal (Prometheus 3's experimental
    /// `promql-delayed-name-removal`); without it, operations that drop
    /// the name remove it from `labels` at once.
    pub drop_name: bool,
}

impl StepSeries {
    pub fn new(labels: Labels, points: Vec<(u32, f64)>) -> Self {
        Self {
            labels,
            points,
            drop_name: false,
        }
    }

    /// The labels as they will be shown: without `__name__` when it is to be dropped.
    pub fn visible_labels(&self) -> Labels {
        if self.drop_name {
            without_name(&self.labels)
        } else {
            self.labels.clone()
        }
    }
}

/// Gives series that ended up with one label set (after their names were
/// dropped, or a label function) one series, as Prometheus's step-wise
/// evaluation does: their points join when they never meet at a step,
/// else the query fails. Series keep the order of their first member.
pub fn merge_same_labels(v: Vec<StepSeries>) -> Result<Vec<StepSeries>, QueryError> {
    if v.iter().all(|s| !s.drop_name) {
        // The common case, without copying labels: nothing to merge.
        if v.len() < 2 {
            return Ok(v);
        }
        let mut labels: std::collections::HashSet<&Labels> =
            std::collections::HashSet::with_capacity(v.len());
        if v.iter().all(|s| labels.insert(&s.labels)) {
            return Ok(v);
        }
    }
    let mut seen: HashMap<Labels, usize> = HashMap::with_capacity(v.len());
    let mut out: Vec<StepSeries> = Vec::with_capacity(v.len());
    for s in v {
        let labels = s.visible_labels();
        match seen.get(&labels) {
            Some(&i) => {
                let existing = &mut out[i].points;
                let steps: std::collections::HashSet<u32> = existing.iter().map(|p| p.0).collect();
                if s.points.iter().any(|p| steps.contains(&p.0)) {
                    return Err(same_labelset());
                }
                existing.extend(s.points);
                existing.sort_by_key(|p| p.0);
            }
            None => {
                seen.insert(labels.clone(), out.len());
                out.push(StepSeries {
                    labels,
                    points: s.points,
                    drop_name: false,
                });
            }
        }
    }
    Ok(out)
}

/// Prometheus's error for two series with one label set.
pub fn same_labelset() -> QueryError {
    QueryError::exec("vector cannot contain metrics with the same labelset")
}

pub fn without_name(labels: &Labels) -> Labels {
    if labels.get(METRIC_NAME).is_none() {
        return labels.clone();
    }
    Labels::from_sorted_unchecked(
        labels
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .cloned()
            .collect(),
    )
}

pub fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
        None => 0,
    }
}

pub fn at_ms(at: &Option<AtModifier>, query_start: i64, query_end: i64) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(query_start),
        Some(AtModifier::End) => Some(query_end),
        Some(AtModifier::At(t)) => Some(system_time_ms(*t)),
    }
}

pub fn system_time_ms(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Bytes of `n` points or samples (16 each).
pub fn points_bytes(n: usize) -> u64 {
    (n as u64).saturating_mul(std::mem::size_of::<Sample>() as u64)
}

/// The newest sample at or before `t` and after `t - lookback`, unless it
/// is a staleness marker.
pub fn lookback_value(samples: &[Sample], t: i64, lookback: i64) -> Option<Sample> {
    let i = samples.partition_point(|s| s.t <= t);
    let s = *samples.get(i.checked_sub(1)?)?;
    (s.t > t - lookback && !is_stale_nan(s.v)).then_some(s)
}

/// Samples in the left-open window (lo, hi], staleness markers removed when
/// `drop_stale` (they are never inside subquery results).
pub fn window(samples: &[Sample], lo: i64, hi: i64) -> Vec<Sample> {
    let a = samples.partition_point(|s| s.t <= lo);
    let b = samples.partition_point(|s| s.t <= hi);
    samples[a..b.max(a)]
        .iter()
        .copied()
        .filter(|s| !is_stale_nan(s.v))
        .collect()
}
