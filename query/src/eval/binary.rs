//! Binary operators: arithmetic, comparisons (filtering or `bool`), set
//! operators, and vector matching with `on`/`ignoring` and
//! `group_left`/`group_right`, as Prometheus's `VectorBinop`.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{self, TokenType};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use stratus_model::{Label, Labels, METRIC_NAME};

use super::{Evaluator, StepSeries, Val};
use crate::error::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn from_token(t: TokenType) -> Result<Op, QueryError> {
        Ok(match t.id() {
            token::T_ADD => Op::Add,
            token::T_SUB => Op::Sub,
            token::T_MUL => Op::Mul,
            token::T_DIV => Op::Div,
            token::T_MOD => Op::Mod,
            token::T_POW => Op::Pow,
            token::T_ATAN2 => Op::Atan2,
            token::T_EQLC => Op::Eq,
            token::T_NEQ => Op::Ne,
            token::T_GTR => Op::Gt,
            token::T_LSS => Op::Lt,
            token::T_GTE => Op::Ge,
            token::T_LTE => Op::Le,
            token::T_LAND => Op::And,
            token::T_LOR => Op::Or,
            token::T_LUNLESS => Op::Unless,
            _ => return Err(QueryError::bad(format!("unsupported binary operator {t}"))),
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }

    /// (value, keep): arithmetic always keeps; comparisons keep when true
    /// and return the left value.
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (l % r, true),
            Op::Pow => (l.powf(r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (l, true),
        }
    }
}

/// How two vectors match.
struct Matching {
    card: Card,
    /// `on(...)` when true, `ignoring(...)` when false.
    on: bool,
    labels: Vec<String>,
    /// Labels of `group_left(...)` / `group_right(...)`.
    include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

fn matching(e: &BinaryExpr, op: Op) -> Matching {
    let mut m = Matching {
        card: if op.is_set() {
            Card::ManyToMany
        } else {
            Card::OneToOne
        },
        on: false,
        labels: Vec::new(),
        include: Vec::new(),
    };
    if let Some(modifier) = &e.modifier {
        match &modifier.matching {
            Some(LabelModifier::Include(l)) => {
                m.on = true;
                m.labels = l.labels.clone();
            }
            Some(LabelModifier::Exclude(l)) => m.labels = l.labels.clone(),
            None => {}
        }
        match &modifier.card {
            VectorMatchCardinality::ManyToOne(l) => {
                m.card = Card::ManyToOne;
                m.include = l.labels.clone();
            }
            VectorMatchCardinality::OneToMany(l) => {
                m.card = Card::OneToMany;
                m.include = l.labels.clone();
            }
            VectorMatchCardinality::ManyToMany => m.card = Card::ManyToMany,
            VectorMatchCardinality::OneToOne => {}
        }
    }
    m
}

/// The match signature: the `on` labels, or every label except the
/// `ignoring` ones and the metric name.
fn signature(labels: &Labels, m: &Matching) -> Labels {
    let keep = |name: &str| {
        if m.on {
            m.labels.iter().any(|l| l == name)
        } else {
            name != METRIC_NAME && !m.labels.iter().any(|l| l == name)
        }
    };
    Labels::from_sorted_unchecked(labels.iter().filter(|l| keep(&l.name)).cloned().collect())
}

impl Evaluator<'_> {
    pub(super) fn binary(&mut self, e: &BinaryExpr) -> Result<Val, QueryError> {
        let op = Op::from_token(e.op)?;
        let return_bool = e.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&e.lhs)?;
        let rhs = self.eval(&e.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&a, &b)| {
                        let (v, keep) = op.apply(a, b);
                        if op.is_comparison() {
                            f64::from(u8::from(keep))
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Val::Vector(l), Val::Scalar(r)) => Ok(Val::Vector(self.vector_scalar(
                op,
                l,
                &r,
                false,
                return_bool,
            ))),
            (Val::Scalar(l), Val::Vector(r)) => Ok(Val::Vector(self.vector_scalar(
                op,
                r,
                &l,
                true,
                return_bool,
            ))),
            (Val::Vector(l), Val::Vector(r)) => {
                let m = matching(e, op);
                // Signatures (a label set per series) and the per-step
                // indexes of one side, besides the output.
                let steps = self.steps() as u64;
                let side = |v: &[StepSeries]| {
                    v.iter()
                        .map(|s| crate::memory::labels_bytes(&s.labels) + 4 * steps)
                        .sum::<u64>()
                };
                let extra = side(&l) + side(&r);
                self.hold_bytes(extra)?;
                self.tick(l.len() + r.len())?;
                match op {
                    Op::And => Ok(Val::Vector(self.and_unless(l, r, &m, true))),
                    Op::Unless => Ok(Val::Vector(self.and_unless(l, r, &m, false))),
                    Op::Or => Ok(Val::Vector(self.or(l, r, &m))),
                    _ => self
                        .vector_vector(op, l, r, &m, return_bool)
                        .map(Val::Vector),
                }
            }
            _ => Err(QueryError::bad(
                "binary operators are only defined on scalars and instant vectors",
            )),
        }
    }

    fn and_unless(
        &self,
        l: Vec<StepSeries>,
        r: Vec<StepSeries>,
        m: &Matching,
        and: bool,
    ) -> Vec<StepSeries> {
        // Signatures present on the right, per step.
        let mut right: HashMap<Labels, Vec<bool>> = HashMap::new();
        let steps = self.steps();
        for s in &r {
            let present = right
                .entry(signature(&s.labels, m))
                .or_insert_with(|| vec![false; steps]);
            for &(i, _) in &s.points {
                present[i as usize] = true;
            }
        }
        l.into_iter()
            .filter_map(|mut s| {
                let present = right.get(&signature(&s.labels, m));
                s.points
                    .retain(|&(i, _)| present.is_some_and(|p| p[i as usize]) == and);
                (!s.points.is_empty()).then_some(s)
            })
            .collect()
    }

    fn or(&self, l: Vec<StepSeries>, r: Vec<StepSeries>, m: &Matching) -> Vec<StepSeries> {
        let steps = self.steps();
        let mut left: HashMap<Labels, Vec<bool>> = HashMap::new();
        for s in &l {
            let present = left
                .entry(signature(&s.labels, m))
                .or_insert_with(|| vec![false; steps]);
            for &(i, _) in &s.points {
                present[i as usize] = true;
            }
        }
        let mut out = l;
        for mut s in r {
            let present = left.get(&signature(&s.labels, m));
            s.points
                .retain(|&(i, _)| !present.is_some_and(|p| p[i as usize]));
            if !s.points.is_empty() {
                out.push(s);
            }
        }
        out
    }

    fn vector_vector(
        &mut self,
        op: Op,
        l: Vec<StepSeries>,
        r: Vec<StepSeries>,
        m: &Matching,
        return_bool: bool,
    ) -> Result<Vec<StepSeries>, QueryError> {
        if m.card == Card::ManyToMany {
            return Err(QueryError::bad(
                "many-to-many matching is only allowed for set operators",
            ));
        }
        // The "one" side is on the right; one-to-many swaps the sides.
        let swap = m.card == Card::OneToMany;
        let (many, one) = if swap { (r, l) } else { (l, r) };
        let steps = self.steps();
        // Per step: signature -> index of the "one" series.
        let mut one_index: HashMap<Labels, Vec<Option<u32>>> = HashMap::new();
        for (idx, s) in one.iter().enumerate() {
            let sig = signature(&s.labels, m);
            let slots = one_index
                .entry(sig.clone())
                .or_insert_with(|| vec![None; steps]);
            for &(i, _) in &s.points {
                if let Some(prev) = slots[i as usize] {
                    let side = if swap { "left" } else { "right" };
                    let a = &one[prev as usize];
                    return Err(QueryError::exec(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        match_group(&sig, m, &s.labels),
                        s.visible_labels(),
                        a.visible_labels()
                    )));
                }
                slots[i as usize] = Some(idx as u32);
            }
        }
        // Values of the "one" side by series and step, and the output (at
        // most one point per point of the "many" side).
        let copied: usize = one.iter().map(|s| s.points.len()).sum::<usize>()
            + many.iter().map(|s| s.points.len()).sum::<usize>();
        self.hold_bytes(2 * crate::eval::points_bytes(copied))?;
        let one_values: Vec<HashMap<u32, f64>> = one
            .iter()
            .map(|s| s.points.iter().copied().collect())
            .collect();

        let mut out: HashMap<Labels, StepSeries> = HashMap::new();
        let mut order: Vec<Labels> = Vec::new();
        // One-to-one: a signature may produce one result per step.
        let mut matched: HashSet<(Labels, u32)> = HashSet::new();
        for s in &many {
            let sig = signature(&s.labels, m);
            let Some(slots) = one_index.get(&sig) else {
                continue;
            };
            for &(i, v) in &s.points {
                let Some(oi) = slots[i as usize] else {
                    continue;
                };
                let Some(&ov) = one_values[oi as usize].get(&i) else {
                    continue;
                };
                // One-to-one matching must be unique per step, also for
                // pairs a comparison then filters away.
                if !matched.insert((sig.clone(), i)) && m.card == Card::OneToOne {
                    return Err(QueryError::exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                let (lv, rv) = if swap { (ov, v) } else { (v, ov) };
                let (mut value, keep) = op.apply(lv, rv);
                if return_bool {
                    value = f64::from(u8::from(keep));
                } else if !keep {
                    continue;
                }
                if op.is_comparison() && !return_bool && swap {
                    // Comparisons keep the left value; with swapped sides
                    // the "many" series is on the right.
                    value = lv;
                }
                let other = &one[oi as usize];
                // Arithmetic drops the name at once, also with delayed
                // name removal; `bool` only marks it there. The "many"
                // side's mark is not carried over (Prometheus's
                // `DropName: returnBool`).
                let drop_now = !op.is_comparison() || (return_bool && !self.delayed_name_removal);
                let labels = result_labels(&s.labels, &other.labels, m, drop_now);
                let drop_name = return_bool && self.delayed_name_removal;
                let entry = out.entry(labels.clone()).or_insert_with(|| {
                    order.push(labels.clone());
                    StepSeries {
                        labels,
                        points: Vec::new(),
                        drop_name,
                    }
                });
                if entry.points.last().is_some_and(|&(last, _)| last == i) {
                    return Err(QueryError::exec(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
                entry.points.push((i, value));
            }
        }
        let mut result: Vec<StepSeries> =
            order.into_iter().filter_map(|k| out.remove(&k)).collect();
        for s in &mut result {
            s.points.sort_by_key(|p| p.0);
        }
        Ok(result)
    }
}

fn op_drops_name(op: Op, return_bool: bool) -> bool {
    !op.is_comparison() || return_bool
}

/// The labels of the match group, as Prometheus prints them in errors.
fn match_group(sig: &Labels, m: &Matching, labels: &Labels) -> Labels {
    if m.on {
        Labels::from_sorted_unchecked(
            labels
                .iter()
                .filter(|l| m.labels.contains(&l.name))
                .cloned()
                .collect(),
        )
    } else {
        sig.clone()
    }
}

/// Prometheus's `resultMetric`: the labels of the "many" side without the
/// metric name when `drop_name`; for one-to-one matching only the `on`
/// labels (the name too, unless listed), or all but the `ignoring` ones;
/// `group_x` labels copied from the "one" side (removed where it has none).
fn result_labels(many: &Labels, one: &Labels, m: &Matching, drop_name: bool) -> Labels {
    let mut labels: Vec<Label> = many
        .iter()
        .filter(|l| !(drop_name && l.name == METRIC_NAME))
        .cloned()
        .collect();
    if m.card == Card::OneToOne {
        if m.on {
            labels.retain(|l| m.labels.contains(&l.name));
        } else {
            labels.retain(|l| !m.labels.contains(&l.name));
        }
    }
    for name in &m.include {
        labels.retain(|l| l.name != *name);
        if let Some(v) = one.get(name) {
            labels.push(Label::new(name.clone(), v));
        }
    }
    Labels::new(labels).unwrap_or_default()
}

impl Evaluator<'_> {
    /// Vector-scalar operations. `scalar_left` when the scalar is the left
    /// operand.
    fn vector_scalar(
        &self,
        op: Op,
        v: Vec<StepSeries>,
        s: &[f64],
        scalar_left: bool,
        return_bool: bool,
    ) -> Vec<StepSeries> {
        v.into_iter()
            .filter_map(|mut series| {
                series.points.retain_mut(|(i, x)| {
                    let sv = s[*i as usize];
                    let (l, r) = if scalar_left { (sv, *x) } else { (*x, sv) };
                    let (mut value, keep) = op.apply(l, r);
                    if op.is_comparison() && scalar_left {
                        // The vector's value is kept, even when it is on the right.
                        value = *x;
                    }
                    if return_bool {
                        *x = f64::from(u8::from(keep));
                        return true;
                    }
                    *x = value;
                    keep
                });
                if series.points.is_empty() {
                    return None;
                }
                if op_drops_name(op, return_bool) {
                    self.drop_name(&mut series);
                }
                Some(series)
            })
            .collect()
    }
}
