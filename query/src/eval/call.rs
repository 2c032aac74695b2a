//! Function calls: range-vector functions evaluated window by window,
//! element-wise math, label functions, `absent`, ... (`histogram_quantile`
//! is in its own module)
//! The arithmetic lives in [`crate::functions`].

use std::borrow::Cow;
use std::collections::HashMap;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr, VectorSelector};
use stratus_model::{is_stale_nan, Label, Labels, Sample, METRIC_NAME};

use super::{at_ms, offset_ms, Evaluator, StepSeries, Val};
use crate::annotations::Annotation;
use crate::error::QueryError;
use crate::functions::{self, range as rf};
use crate::source::Series;

/// A range-vector argument: raw series (where the prefetch put them, or a
/// subquery's) plus how to cut each step's window.
struct RangeArg<'a> {
    series: Cow<'a, [Series]>,
    range: i64,
    offset: i64,
    at: Option<i64>,
}

impl<'a> Evaluator<'a> {
    fn range_arg(&mut self, e: &Expr) -> Result<RangeArg<'a>, QueryError> {
        match e {
            Expr::MatrixSelector(ms) => Ok(RangeArg {
                series: Cow::Borrowed(self.matrix_selector(ms)?),
                range: ms.range.as_millis() as i64,
                offset: offset_ms(&ms.vs.offset),
                at: at_ms(&ms.vs.at, self.query_start, self.query_end),
            }),
            Expr::Subquery(sq) => {
                // As Prometheus's evalSubquery: a function's subquery
                // counts its windows (in over_windows), not what its inner
                // evaluation queried; its peak counts.
                let sq = self.subquery(sq)?;
                Ok(RangeArg {
                    series: Cow::Owned(sq.series),
                    range: sq.range,
                    offset: sq.offset,
                    at: sq.at,
                })
            }
            Expr::Paren(p) => stratus_promql::stack_guard(|| self.range_arg(&p.expr)),
            _ => Err(QueryError::bad("expected a range vector argument")),
        }
    }

    fn scalar_arg(&mut self, e: &Expr) -> Result<Vec<f64>, QueryError> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(QueryError::bad("expected a scalar argument")),
        }
    }

    fn vector_arg(&mut self, e: &Expr) -> Result<Vec<StepSeries>, QueryError> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            _ => Err(QueryError::bad("expected an instant vector argument")),
        }
    }

    fn string_arg(&mut self, e: &Expr) -> Result<String, QueryError> {
        match self.eval(e)? {
            Val::String(s) => Ok(s),
            _ => Err(QueryError::bad("expected a string argument")),
        }
    }

    /// Applies `f(window samples, window start, window end, step)` to each
    /// series at each step. Output keeps the series' labels; the name is
    /// dropped unless `keep_name`.
    fn over_windows(
        &mut self,
        arg: &RangeArg,
        keep_name: bool,
        mut f: impl FnMut(
            &mut Self,
            &Labels,
            &[Sample],
            i64,
            i64,
            usize,
        ) -> Result<Option<f64>, QueryError>,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let mut out = Vec::new();
        let mut buf: Vec<Sample> = Vec::new();
        // The window in hand is held until the next series' first one (as
        // Prometheus holds its window buffer).
        let mut window = 0;
        for s in arg.series.iter() {
            self.stats.release(window);
            window = 0;
            let span = self.step_span(&s.samples, arg.offset, arg.at, arg.range);
            self.room_for(span.len())?;
            let mut points = Vec::with_capacity(span.len());
            for i in span.clone() {
                let hi = arg.at.unwrap_or_else(|| self.ts(i)) - arg.offset;
                let lo = hi - arg.range;
                // The left-open window (lo, hi]; staleness markers are
                // copied out only when the window has any.
                let a = s.samples.partition_point(|x| x.t <= lo);
                let b = s.samples.partition_point(|x| x.t <= hi).max(a);
                let raw = &s.samples[a..b];
                let w: &[Sample] = if raw.iter().any(|x| is_stale_nan(x.v)) {
                    buf.clear();
                    buf.extend(raw.iter().filter(|x| !is_stale_nan(x.v)));
                    &buf
                } else {
                    raw
                };
                if w.is_empty() {
                    continue;
                }
                self.tick(w.len())?;
                self.stats.queried(i, w.len());
                self.stats.release(window);
                window = w.len();
                self.stats.hold(window);
                if let Some(v) = f(self, &s.labels, w, lo, hi, i)? {
                    points.push((i as u32, v));
                }
            }
            points.shrink_to_fit();
            self.settle(span.len(), points.len());
            if !points.is_empty() {
                out.push(self.output_series(&s.labels, points, keep_name));
            }
        }
        self.stats.release(window);
        self.check_deadline()?;
        Ok(out)
    }

    pub(super) fn call(&mut self, c: &Call) -> Result<Val, QueryError> {
        let v = self.call_function(c)?;
        if self.delayed_name_removal {
            return Ok(v);
        }
        match v {
            // Without delayed name removal, a function over a range vector
            // fails when two of its output series share a label set, even
            // at different steps (Prometheus's `ContainsSameLabelset` on
            // the function's matrix); `absent_over_time` answers before.
            Val::Vector(v)
                if c.func.name != "absent_over_time"
                    && c.args.args.iter().any(|a| is_range_arg(a)) =>
            {
                let mut seen = std::collections::HashSet::with_capacity(v.len());
                if v.iter().any(|s| !seen.insert(&s.labels)) {
                    return Err(super::same_labelset());
                }
                Ok(Val::Vector(v))
            }
            // Any other function is evaluated step by step: series that
            // share a label set merge unless they meet at a step.
            Val::Vector(v) => super::merge_same_labels(v).map(Val::Vector),
            v => Ok(v),
        }
    }

    fn call_function(&mut self, c: &Call) -> Result<Val, QueryError> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| -> Result<&Expr, QueryError> {
            args.get(i)
                .map(|b| b.as_ref())
                .ok_or_else(|| QueryError::bad(format!("{name}: missing argument {}", i + 1)))
        };
        let steps = self.steps();
        match name {
            "rate" | "increase" | "delta" => {
                let a = self.range_arg(arg(0)?)?;
                let counter = name != "delta";
                let is_rate = name == "rate";
                let v = self.over_windows(&a, false, |ev, labels, w, lo, hi, _| {
                    if counter {
                        ev.counter_info(labels);
                    }
                    Ok(rf::extrapolated_rate(w, lo, hi, counter, is_rate))
                })?;
                Ok(Val::Vector(v))
            }
            "irate" | "idelta" => {
                let a = self.range_arg(arg(0)?)?;
                let is_rate = name == "irate";
                Ok(Val::Vector(self.over_windows(
                    &a,
                    false,
                    |_, _, w, _, _, _| Ok(rf::instant_value(w, is_rate)),
                )?))
            }
            "deriv" => {
                let a = self.range_arg(arg(0)?)?;
                Ok(Val::Vector(self.over_windows(
                    &a,
                    false,
                    |_, _, w, _, _, _| Ok(rf::deriv(w)),
                )?))
            }
            "predict_linear" => {
                let a = self.range_arg(arg(0)?)?;
                let d = self.scalar_arg(arg(1)?)?;
                let v = self.over_windows(&a, false, |ev, _, w, _, _, i| {
                    Ok(rf::predict_linear(w, ev.ts(i), d[i]))
                })?;
                Ok(Val::Vector(v))
            }
            "resets" | "changes" => {
                let a = self.range_arg(arg(0)?)?;
                let resets = name == "resets";
                let v = self.over_windows(&a, false, |_, _, w, _, _, _| {
                    Ok(Some(if resets {
                        rf::resets(w)
                    } else {
                        rf::changes(w)
                    }))
                })?;
                Ok(Val::Vector(v))
            }
            "count_over_time" if self.served_by_rollups(arg(0)?) => {
                // Each rollup point holds the count of its window.
                let a = self.range_arg(arg(0)?)?;
                Ok(Val::Vector(self.over_windows(
                    &a,
                    false,
                    |_, _, w, _, _, _| Ok(rf::sum_over_time(w)),
                )?))
            }
            "avg_over_time" | "sum_over_time" | "min_over_time" | "max_over_time"
            | "count_over_time" | "last_over_time" | "present_over_time" | "stddev_over_time"
            | "stdvar_over_time" | "mad_over_time" => {
                let a = self.range_arg(arg(0)?)?;
                let f: fn(&[Sample]) -> Option<f64> = match name {
                    "avg_over_time" => rf::avg_over_time,
                    "sum_over_time" => rf::sum_over_time,
                    "min_over_time" => rf::min_over_time,
                    "max_over_time" => rf::max_over_time,
                    "count_over_time" => rf::count_over_time,
                    "last_over_time" => rf::last_over_time,
                    "present_over_time" => rf::present_over_time,
                    "stddev_over_time" => rf::stddev_over_time,
                    "stdvar_over_time" => rf::stdvar_over_time,
                    _ => rf::mad_over_time,
                };
                let keep = name == "last_over_time";
                Ok(Val::Vector(self.over_windows(
                    &a,
                    keep,
                    |_, _, w, _, _, _| Ok(f(w)),
                )?))
            }
            "first_over_time" => {
                let a = self.range_arg(arg(0)?)?;
                Ok(Val::Vector(self.over_windows(
                    &a,
                    true,
                    |_, _, w, _, _, _| Ok(w.first().map(|s| s.v)),
                )?))
            }
            "quantile_over_time" => {
                let q = self.scalar_arg(arg(0)?)?;
                let a = self.range_arg(arg(1)?)?;
                self.check_quantiles(&q);
                let v = self.over_windows(&a, false, |_, _, w, _, _, i| {
                    Ok(rf::quantile_over_time(q[i], w))
                })?;
                Ok(Val::Vector(v))
            }
            "holt_winters" | "double_exponential_smoothing" => {
                let a = self.range_arg(arg(0)?)?;
                let sf = self.scalar_arg(arg(1)?)?;
                let tf = self.scalar_arg(arg(2)?)?;
                let v = self.over_windows(&a, false, |_, _, w, _, _, i| {
                    rf::double_exponential_smoothing(w, sf[i], tf[i])
                        .map_err(|e| QueryError::exec(e.to_string()))
                })?;
                Ok(Val::Vector(v))
            }
            "absent_over_time" => {
                let a = self.range_arg(arg(0)?)?;
                let present = self.over_windows(&a, false, |_, _, _, _, _, _| Ok(Some(1.0)))?;
                let labels = match arg(0)? {
                    Expr::MatrixSelector(ms) => absent_labels(&ms.vs),
                    _ => Labels::default(),
                };
                Ok(Val::Vector(absent(present, labels, steps)))
            }
            "absent" => {
                let v = self.vector_arg(arg(0)?)?;
                let labels = match strip_parens(arg(0)?) {
                    Expr::VectorSelector(vs) => absent_labels(vs),
                    _ => Labels::default(),
                };
                Ok(Val::Vector(absent(v, labels, steps)))
            }
            "timestamp" => {
                let mut v = match strip_parens(arg(0)?) {
                    Expr::VectorSelector(vs) => self.vector_selector_timestamps(vs)?,
                    e => {
                        let v = self.vector_arg(e)?;
                        v.into_iter()
                            .map(|mut s| {
                                let start = self.start;
                                let step = self.interval;
                                s.points.iter_mut().for_each(|p| {
                                    p.1 = (start + p.0 as i64 * step) as f64 / 1000.0
                                });
                                s
                            })
                            .collect()
                    }
                };
                v.iter_mut().for_each(|s| self.drop_name(s));
                Ok(Val::Vector(v))
            }
            "time" => {
                let (start, step) = (self.start, self.interval);
                Ok(Val::Scalar(self.scalar_grid(|i| {
                    (start + i as i64 * step) as f64 / 1000.0
                })?))
            }
            "pi" => Ok(Val::Scalar(self.scalar_grid(|_| std::f64::consts::PI)?)),
            "vector" => {
                let s = self.scalar_arg(arg(0)?)?;
                self.room_for(s.len())?;
                self.settle(s.len(), s.len());
                Ok(Val::Vector(vec![StepSeries::new(
                    Labels::default(),
                    s.into_iter()
                        .enumerate()
                        .map(|(i, v)| (i as u32, v))
                        .collect(),
                )]))
            }
            "scalar" => {
                let v = self.vector_arg(arg(0)?)?;
                let mut out = self.scalar_grid(|_| f64::NAN)?;
                let mut count = vec![0u32; steps];
                for s in &v {
                    for &(i, x) in &s.points {
                        out[i as usize] = x;
                        count[i as usize] += 1;
                    }
                }
                for (o, c) in out.iter_mut().zip(count) {
                    if c != 1 {
                        *o = f64::NAN;
                    }
                }
                Ok(Val::Scalar(out))
            }
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                // Ordering is applied to the final result of instant queries.
                let v = self.vector_arg(arg(0)?)?;
                Ok(Val::Vector(v))
            }
            "round" => {
                let mut v = self.vector_arg(arg(0)?)?;
                let to = match args.get(1) {
                    Some(e) => self.scalar_arg(e)?,
                    None => self.scalar_grid(|_| 1.0)?,
                };
                for s in &mut v {
                    s.points
                        .iter_mut()
                        .for_each(|p| p.1 = functions::instant::round(p.1, to[p.0 as usize]));
                    self.drop_name(s);
                }
                Ok(Val::Vector(v))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let mut v = self.vector_arg(arg(0)?)?;
                let (lo, hi) = match name {
                    "clamp" => (self.scalar_arg(arg(1)?)?, self.scalar_arg(arg(2)?)?),
                    "clamp_min" => (
                        self.scalar_arg(arg(1)?)?,
                        self.scalar_grid(|_| f64::INFINITY)?,
                    ),
                    _ => (
                        self.scalar_grid(|_| f64::NEG_INFINITY)?,
                        self.scalar_arg(arg(1)?)?,
                    ),
                };
                let mut out = Vec::new();
                for mut s in v.drain(..) {
                    s.points.retain_mut(|p| {
                        let (a, b) = (lo[p.0 as usize], hi[p.0 as usize]);
                        match name {
                            "clamp" => match functions::instant::clamp(p.1, a, b) {
                                Some(x) => {
                                    p.1 = x;
                                    true
                                }
                                None => false,
                            },
                            "clamp_min" => {
                                p.1 = functions::instant::clamp_min(p.1, a);
                                true
                            }
                            _ => {
                                p.1 = functions::instant::clamp_max(p.1, b);
                                true
                            }
                        }
                    });
                    if !s.points.is_empty() {
                        self.drop_name(&mut s);
                        out.push(s);
                    }
                }
                Ok(Val::Vector(out))
            }
            "label_replace" => {
                let v = self.vector_arg(arg(0)?)?;
                let dst = self.string_arg(arg(1)?)?;
                let repl = self.string_arg(arg(2)?)?;
                let src = self.string_arg(arg(3)?)?;
                let re = self.string_arg(arg(4)?)?;
                let mut out = Vec::with_capacity(v.len());
                for mut s in v {
                    s.labels = functions::labels::label_replace(&s.labels, &dst, &repl, &src, &re)
                        .map_err(|e| QueryError::exec(e.to_string()))?;
                    self.hold_bytes(crate::memory::labels_bytes(&s.labels))?;
                    self.tick(1)?;
                    if dst == METRIC_NAME {
                        s.drop_name = false;
                    }
                    out.push(s);
                }
                Ok(Val::Vector(out))
            }
            "label_join" => {
                let v = self.vector_arg(arg(0)?)?;
                let dst = self.string_arg(arg(1)?)?;
                let sep = self.string_arg(arg(2)?)?;
                let mut srcs = Vec::new();
                for e in &args[3.min(args.len())..] {
                    srcs.push(self.string_arg(e)?);
                }
                // The joined value's length is known before it is built.
                let joined_max: usize = sep.len().saturating_mul(srcs.len());
                let mut out = Vec::with_capacity(v.len());
                for mut s in v {
                    let values: usize = srcs
                        .iter()
                        .map(|n| s.labels.get(n).map_or(0, str::len))
                        .sum();
                    self.hold_bytes(
                        crate::memory::labels_bytes(&s.labels)
                            + (values + joined_max + dst.len()) as u64,
                    )?;
                    self.tick(1)?;
                    s.labels = functions::labels::label_join(&s.labels, &dst, &sep, &srcs)
                        .map_err(|e| QueryError::exec(e.to_string()))?;
                    if dst == METRIC_NAME {
                        s.drop_name = false;
                    }
                    out.push(s);
                }
                Ok(Val::Vector(out))
            }
            "histogram_quantile" => {
                let q = self.scalar_arg(arg(0)?)?;
                let v = self.vector_arg(arg(1)?)?;
                Ok(Val::Vector(self.histogram_quantile(&q, v)?))
            }
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_fraction"
            | "histogram_stddev" | "histogram_stdvar" => {
                // Native histograms are not stored yet; on float series
                // these functions return nothing, as in Prometheus.
                for a in args.iter().skip(1) {
                    let _ = self.eval(a)?;
                }
                let _ = self.vector_arg(arg(0)?)?;
                Ok(Val::Vector(Vec::new()))
            }
            _ => {
                if let Some(f) = functions::instant::simple_math(name)
                    .or_else(|| functions::time::date_function(name))
                {
                    let mut v = match args.first() {
                        Some(e) => self.vector_arg(e)?,
                        // Date functions default to vector(time()).
                        None => {
                            self.room_for(steps)?;
                            self.settle(steps, steps);
                            vec![StepSeries::new(
                                Labels::default(),
                                (0..steps)
                                    .map(|i| (i as u32, self.ts(i) as f64 / 1000.0))
                                    .collect(),
                            )]
                        }
                    };
                    for s in &mut v {
                        s.points.iter_mut().for_each(|p| p.1 = f(p.1));
                        self.drop_name(s);
                    }
                    return Ok(Val::Vector(v));
                }
                Err(QueryError::bad(format!(
                    "function {name}() is not supported yet"
                )))
            }
        }
    }

    /// True when a range argument's data came from rollups.
    fn served_by_rollups(&self, e: &Expr) -> bool {
        match strip_parens(e) {
            Expr::MatrixSelector(ms) => self.resolution(&ms.vs) > 0,
            _ => false,
        }
    }

    /// The warning for quantiles outside [0, 1] (NaN too), of `quantile`,
    /// `quantile_over_time` and `histogram_quantile`.
    pub(super) fn check_quantiles(&mut self, q: &[f64]) {
        for &q in q {
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                self.annotations.add(Annotation::InvalidQuantile { q });
            }
        }
    }

    /// The "might not be a counter" info of rate and increase.
    fn counter_info(&mut self, labels: &Labels) {
        let name = labels.metric_name().unwrap_or("");
        if !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            self.annotations.add(Annotation::PossibleNonCounter {
                metric_name: name.to_string(),
            });
        }
    }
}

fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// An argument that is a range vector: a range selector or a subquery.
fn is_range_arg(e: &Expr) -> bool {
    matches!(strip_parens(e), Expr::MatrixSelector(_) | Expr::Subquery(_))
}

/// Labels of `absent()`'s output: the equality matchers of the selector,
/// except the name and labels matched more than once.
fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &vs.matchers.matchers {
        *seen.entry(m.name.as_str()).or_default() += 1;
    }
    let labels: Vec<Label> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| {
            matches!(m.op, MatchOp::Equal)
                && m.name != METRIC_NAME
                && seen.get(m.name.as_str()) == Some(&1)
        })
        .map(|m| Label::new(m.name.clone(), m.value.clone()))
        .collect();
    Labels::new(labels).unwrap_or_default()
}

/// 1 at the steps where `v` has no point.
fn absent(v: Vec<StepSeries>, labels: Labels, steps: usize) -> Vec<StepSeries> {
    let mut present = vec![false; steps];
    for s in &v {
        for &(i, _) in &s.points {
            present[i as usize] = true;
        }
    }
    let points: Vec<(u32, f64)> = (0..steps)
        .filter(|&i| !present[i])
        .map(|i| (i as u32, 1.0))
        .collect();
    if points.is_empty() {
        return Vec::new();
    }
    vec![StepSeries::new(labels, points)]
}
