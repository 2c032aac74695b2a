//! Aggregation operators: sum, avg, min, max, count, group, stddev,
//! stdvar, quantile, topk, bottomk, count_values.

use std::collections::HashMap;

use promql_parser::parser::token::{self, TokenType};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use stratus_model::{Label, Labels, METRIC_NAME};

use super::{Evaluator, StepSeries, Val};
use crate::error::QueryError;
use crate::functions::aggregate::{quantile, KahanSum, MeanAcc, VarianceAcc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Quantile,
    Topk,
    Bottomk,
    CountValues,
}

fn agg(t: TokenType) -> Result<Agg, QueryError> {
    Ok(match t.id() {
        token::T_SUM => Agg::Sum,
        token::T_AVG => Agg::Avg,
        token::T_MIN => Agg::Min,
        token::T_MAX => Agg::Max,
        token::T_COUNT => Agg::Count,
        token::T_GROUP => Agg::Group,
        token::T_STDDEV => Agg::Stddev,
        token::T_STDVAR => Agg::Stdvar,
        token::T_QUANTILE => Agg::Quantile,
        token::T_TOPK => Agg::Topk,
        token::T_BOTTOMK => Agg::Bottomk,
        token::T_COUNT_VALUES => Agg::CountValues,
        _ => return Err(QueryError::bad(format!("aggregation {t} is not supported"))),
    })
}

/// The labels a series is grouped by, and the labels of the group's
/// output series.
fn group_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(by)) => Labels::from_sorted_unchecked(
            labels
                .iter()
                .filter(|l| by.labels.contains(&l.name))
                .cloned()
                .collect(),
        ),
        Some(LabelModifier::Exclude(without)) => Labels::from_sorted_unchecked(
            labels
                .iter()
                .filter(|l| l.name != METRIC_NAME && !without.labels.contains(&l.name))
                .cloned()
                .collect(),
        ),
        None => Labels::default(),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl Evaluator<'_> {
    pub(super) fn aggregate(&mut self, a: &AggregateExpr) -> Result<Val, QueryError> {
        let op = agg(a.op)?;
        let param = match &a.param {
            Some(p) => Some(self.eval(p)?),
            None => None,
        };
        let input = match self.eval(&a.expr)? {
            Val::Vector(v) => v,
            _ => return Err(QueryError::bad("aggregations take an instant vector")),
        };
        let steps = self.steps();
        let scalar_param = |name: &str| -> Result<Vec<f64>, QueryError> {
            match &param {
                Some(Val::Scalar(v)) => Ok(v.clone()),
                _ => Err(QueryError::bad(format!("{name} needs a scalar parameter"))),
            }
        };
        match op {
            Agg::Topk | Agg::Bottomk => {
                let k = scalar_param("topk/bottomk")?;
                Ok(Val::Vector(self.topk(
                    input,
                    &k,
                    &a.modifier,
                    op == Agg::Topk,
                )?))
            }
            Agg::CountValues => {
                let label = match &param {
                    Some(Val::String(s)) => s.clone(),
                    _ => return Err(QueryError::bad("count_values needs a string parameter")),
                };
                if !stratus_model::NameValidation::Utf8.is_valid_label_name(&label) {
                    return Err(QueryError::exec(format!("invalid label name {label:?}")));
                }
                Ok(Val::Vector(count_values(
                    self,
                    input,
                    &label,
                    &a.modifier,
                    steps,
                )?))
            }
            _ => {
                let q = if op == Agg::Quantile {
                    let q = scalar_param("quantile")?;
                    self.check_quantiles(&q);
                    Some(q)
                } else {
                    None
                };
                Ok(Val::Vector(simple(
                    self,
                    op,
                    input,
                    &a.modifier,
                    steps,
                    q.as_deref(),
                )?))
            }
        }
    }

    fn topk(
        &mut self,
        input: Vec<StepSeries>,
        k: &[f64],
        modifier: &Option<LabelModifier>,
        top: bool,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let steps = self.steps();
        // Group labels and the output's points: at most the input again.
        let points: usize = input.iter().map(|s| s.points.len()).sum();
        self.hold_bytes(
            crate::eval::points_bytes(points)
                + input
                    .iter()
                    .map(|s| crate::memory::labels_bytes(&s.labels))
                    .sum::<u64>(),
        )?;
        let groups: Vec<Labels> = input
            .iter()
            .map(|s| group_labels(&s.labels, modifier))
            .collect();
        let mut out_points: Vec<Vec<(u32, f64)>> = vec![Vec::new(); input.len()];
        let mut cursor = vec![0usize; input.len()];
        // For instant queries, the order Prometheus returns: groups in order,
        // each sorted by value.
        let mut instant_order: Vec<usize> = Vec::new();
        for (step, &kf) in k.iter().enumerate().take(steps) {
            if kf.is_nan() {
                return Err(QueryError::exec("Parameter value is NaN"));
            }
            let kk = if kf >= 9.2e18 { i64::MAX } else { kf as i64 };
            if kk < 1 {
                continue;
            }
            self.tick(input.len())?;
            let mut by_group: HashMap<&Labels, Vec<(usize, f64)>> = HashMap::new();
            for (si, s) in input.iter().enumerate() {
                let c = &mut cursor[si];
                while *c < s.points.len() && (s.points[*c].0 as usize) < step {
                    *c += 1;
                }
                if let Some(&(i, v)) = s.points.get(*c) {
                    if i as usize == step {
                        by_group.entry(&groups[si]).or_default().push((si, v));
                    }
                }
            }
            let mut by_group: Vec<(&Labels, Vec<(usize, f64)>)> = by_group.into_iter().collect();
            // Groups in order of their first member, as Prometheus emits them.
            by_group.sort_by_key(|(_, m)| m.iter().map(|x| x.0).min().unwrap_or(0));
            for (_, mut members) in by_group {
                // NaN sorts last in both directions.
                members.sort_by(|a, b| {
                    let ord = match (a.1.is_nan(), b.1.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if top => b.1.total_cmp(&a.1),
                        _ => a.1.total_cmp(&b.1),
                    };
                    ord.then(a.0.cmp(&b.0))
                });
                for &(si, v) in members.iter().take(kk.min(members.len() as i64) as usize) {
                    out_points[si].push((step as u32, v));
                    if steps == 1 {
                        instant_order.push(si);
                    }
                }
            }
        }
        let mut series: Vec<Option<StepSeries>> = input
            .into_iter()
            .zip(out_points)
            .map(|(s, points)| (!points.is_empty()).then_some(StepSeries { points, ..s }))
            .collect();
        if steps == 1 {
            return Ok(instant_order
                .into_iter()
                .filter_map(|i| series[i].take())
                .collect());
        }
        Ok(series.into_iter().flatten().collect())
    }
}

#[derive(Default)]
struct Acc {
    sum: KahanSum,
    mean: MeanAcc,
    var: VarianceAcc,
    min: f64,
    max: f64,
    count: u64,
    values: Vec<f64>,
}

impl Acc {
    fn add(&mut self, op: Agg, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            if self.min > v || self.min.is_nan() {
                self.min = v;
            }
            if self.max < v || self.max.is_nan() {
                self.max = v;
            }
        }
        self.count += 1;
        match op {
            Agg::Sum => self.sum.add(v),
            Agg::Avg => self.mean.add(v),
            Agg::Stddev | Agg::Stdvar => self.var.add(v),
            Agg::Quantile => self.values.push(v),
            _ => {}
        }
    }

    fn value(&mut self, op: Agg, q: f64) -> f64 {
        match op {
            Agg::Sum => self.sum.value(),
            Agg::Avg => self.mean.value(),
            Agg::Min => self.min,
            Agg::Max => self.max,
            Agg::Count => self.count as f64,
            Agg::Group => 1.0,
            Agg::Stddev => self.var.stddev(),
            Agg::Stdvar => self.var.stdvar(),
            Agg::Quantile => quantile(q, &mut self.values),
            Agg::Topk | Agg::Bottomk | Agg::CountValues => f64::NAN,
        }
    }
}

fn simple(
    ev: &mut Evaluator<'_>,
    op: Agg,
    input: Vec<StepSeries>,
    modifier: &Option<LabelModifier>,
    steps: usize,
    q: Option<&[f64]>,
) -> Result<Vec<StepSeries>, QueryError> {
    // The points regrouped by step, then the output: at most twice the
    // input, plus the group labels.
    let points: usize = input.iter().map(|s| s.points.len()).sum();
    ev.hold_bytes(
        2 * crate::eval::points_bytes(points)
            + input
                .iter()
                .map(|s| crate::memory::labels_bytes(&s.labels))
                .sum::<u64>(),
    )?;
    // Group index of every input series.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    // Groups are formed on the labels as they are: with delayed name
    // removal, names still to be dropped included, and a group drops its
    // name if any member does (without it, no name is marked).
    let mut drop: Vec<bool> = Vec::new();
    let member: Vec<usize> = input
        .iter()
        .map(|s| {
            let g = group_labels(&s.labels, modifier);
            let i = *index.entry(g.clone()).or_insert_with(|| {
                groups.push(g);
                drop.push(false);
                groups.len() - 1
            });
            drop[i] |= s.drop_name;
            i
        })
        .collect();
    // Per step, per group accumulators; inputs in order.
    let mut out_points: Vec<Vec<(u32, f64)>> = vec![Vec::new(); groups.len()];
    let mut by_step: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps];
    for (si, s) in input.iter().enumerate() {
        for &(i, v) in &s.points {
            by_step[i as usize].push((member[si], v));
        }
    }
    for (step, entries) in by_step.into_iter().enumerate() {
        if entries.is_empty() {
            continue;
        }
        ev.tick(entries.len())?;
        let mut accs: HashMap<usize, Acc> = HashMap::new();
        let mut order: Vec<usize> = Vec::new();
        for (g, v) in entries {
            accs.entry(g)
                .or_insert_with(|| {
                    order.push(g);
                    Acc::default()
                })
                .add(op, v);
        }
        let qv = q.map(|q| q[step]).unwrap_or(f64::NAN);
        for g in order {
            if let Some(acc) = accs.get_mut(&g) {
                out_points[g].push((step as u32, acc.value(op, qv)));
            }
        }
    }
    Ok(groups
        .into_iter()
        .zip(out_points)
        .zip(drop)
        .filter(|((_, p), _)| !p.is_empty())
        .map(|((labels, points), drop_name)| StepSeries {
            labels,
            points,
            drop_name,
        })
        .collect())
}

fn count_values(
    ev: &mut Evaluator<'_>,
    input: Vec<StepSeries>,
    label: &str,
    modifier: &Option<LabelModifier>,
    steps: usize,
) -> Result<Vec<StepSeries>, QueryError> {
    let mut out: HashMap<Labels, Vec<f64>> = HashMap::new();
    let mut order: Vec<Labels> = Vec::new();
    for s in &input {
        let base = group_labels(&s.visible_labels(), modifier);
        ev.tick(s.points.len())?;
        for &(i, v) in &s.points {
            let mut l: Vec<Label> = base.iter().filter(|l| l.name != label).cloned().collect();
            l.push(Label::new(label, format_float(v)));
            let labels = Labels::new(l).unwrap_or_default();
            if !out.contains_key(&labels) {
                // A new output series: a count per step, and its labels
                // twice (the map's key and the order).
                ev.room_for(steps)?;
                ev.settle(steps, steps);
                ev.hold_bytes(2 * crate::memory::labels_bytes(&labels))?;
                order.push(labels.clone());
                out.insert(labels.clone(), vec![0.0; steps]);
            }
            if let Some(counts) = out.get_mut(&labels) {
                counts[i as usize] += 1.0;
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|l| {
            let counts = out.remove(&l)?;
            let points: Vec<(u32, f64)> = counts
                .into_iter()
                .enumerate()
                .filter(|(_, c)| *c > 0.0)
                .map(|(i, c)| (i as u32, c))
                .collect();
            Some(StepSeries::new(l, points))
        })
        .collect())
}
