//! The PromQL evaluator. Data is fetched before evaluation (see
//! [`crate::engine`]); evaluation itself is synchronous. Like Prometheus's
//! engine, every expression is evaluated for all steps of the query at
//! once: an instant vector is a set of series with a point at some steps.

use std::collections::HashMap;
use std::time::Instant;

use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};
use stratus_model::{Labels, Sample, METRIC_NAME};

use crate::annotations::Annotations;
use crate::error::QueryError;
use crate::source::Series;

mod aggregate;
mod binary;
mod call;
mod histogram_quantile;
mod sample_stats;
mod step;

pub use sample_stats::SampleStats;
pub use step::*;

/// Settings and limits of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalLimits {
    pub max_samples: usize,
    pub deadline: Option<Instant>,
    /// The query's share of the querier's memory bound, grown by every
    /// sample evaluation builds.
    pub memory: Option<std::sync::Arc<crate::memory::Reservation>>,
    /// Set when the caller went away: evaluation stops at its next check.
    pub cancel: Option<crate::pool::Cancel>,
}

/// Units of work between two looks at the clock inside long loops.
const WORK_PER_CHECK: u64 = 1 << 16;

/// Prefetched series of every selector, keyed by the selector's address in
/// the expression tree.
pub type Prefetched = HashMap<usize, Vec<Series>>;

pub fn selector_key(vs: &VectorSelector) -> usize {
    std::ptr::from_ref(vs) as usize
}

pub struct Evaluator<'a> {
    pub start: i64,
    pub end: i64,
    /// Step between evaluation timestamps (ms, > 0).
    pub interval: i64,
    pub lookback: i64,
    /// Step of subqueries without one.
    pub default_subquery_step: i64,
    /// The query's own start and end, for `@ start()` and `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    pub data: &'a Prefetched,
    /// Rollup step of the selectors served from rollups (by selector key).
    pub resolutions: &'a HashMap<usize, i64>,
    pub limits: &'a EvalLimits,
    pub annotations: &'a mut Annotations,
    /// Samples held by values built so far, for the max-samples limit.
    pub samples: usize,
    /// Prometheus's `totalQueryableSamples` and `peakSamples`.
    pub stats: SampleStats,
    /// Work done since the deadline was last checked.
    pub work: u64,
    /// Prometheus 3's `promql-delayed-name-removal`: operations mark
    /// `__name__` for removal and it is removed at the end. Off (as by
    /// default in Prometheus): it is removed where it is dropped.
    pub delayed_name_removal: bool,
}

impl<'a> Evaluator<'a> {
    pub fn steps(&self) -> usize {
        ((self.end - self.start) / self.interval) as usize + 1
    }

    pub fn ts(&self, step: usize) -> i64 {
        self.start + step as i64 * self.interval
    }

    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if self
            .limits
            .cancel
            .as_ref()
            .is_some_and(crate::pool::Cancel::is_cancelled)
        {
            return Err(QueryError::Timeout);
        }
        match self.limits.deadline {
            Some(d) if Instant::now() > d => Err(QueryError::Timeout),
            _ => Ok(()),
        }
    }

    /// Counts `n` units of work (samples scanned, points built) and checks
    /// the deadline every [`WORK_PER_CHECK`] of them: for long loops.
    #[inline]
    pub fn tick(&mut self, n: usize) -> Result<(), QueryError> {
        self.work += n as u64;
        if self.work >= WORK_PER_CHECK {
            self.work = 0;
            self.check_deadline()?;
        }
        Ok(())
    }

    /// Refuses a step grid that one series alone could not fill within
    /// `max_samples` (a subquery such as `[1y:1ms]`), before anything of
    /// that size is allocated.
    pub fn check_grid(&self, steps: usize) -> Result<(), QueryError> {
        if steps > self.limits.max_samples || steps > u32::MAX as usize {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// Makes room for a value of up to `max` points before it is built:
    /// fails when they would pass `max_samples` or the memory bound. Call
    /// [`Self::settle`] with what was built.
    pub fn room_for(&mut self, max: usize) -> Result<(), QueryError> {
        self.tick(max)?;
        if self.samples.saturating_add(max) > self.limits.max_samples {
            return Err(QueryError::TooManySamples);
        }
        if let Some(r) = &self.limits.memory {
            r.grow(points_bytes(max))?;
        }
        Ok(())
    }

    /// Counts the `used` points of a value built after [`Self::room_for`]`(max)`.
    pub fn settle(&mut self, max: usize, used: usize) {
        self.samples += used;
        self.stats.hold(used);
        if let Some(r) = &self.limits.memory {
            r.shrink(points_bytes(max.saturating_sub(used)));
        }
    }

    /// Counts `bytes` of memory a value holds besides its points (label
    /// sets, indexes), before they are allocated.
    pub fn hold_bytes(&mut self, bytes: u64) -> Result<(), QueryError> {
        match &self.limits.memory {
            Some(r) => r.grow(bytes),
            None => Ok(()),
        }
    }

    /// Counts `n` samples toward the max-samples limit only: samples used
    /// where they were loaded, already counted by the memory bound.
    pub fn count_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.samples += n;
        if self.samples > self.limits.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    pub fn eval(&mut self, expr: &Expr) -> Result<Val, QueryError> {
        let mark = self.stats.mark();
        let v = stratus_promql::stack_guard(|| self.eval_node(expr))?;
        self.stats.finish_node(mark, &v);
        Ok(v)
    }

    /// Drops the metric name of `s`: at once, or at the end of the query
    /// with delayed name removal.
    pub fn drop_name(&self, s: &mut StepSeries) {
        if self.delayed_name_removal {
            s.drop_name = true;
        } else if s.labels.get(METRIC_NAME).is_some() {
            s.labels = without_name(&s.labels);
        }
    }

    /// The labels of a new series made from `labels`, with the metric name
    /// dropped unless `keep_name`.
    pub fn output_series(
        &self,
        labels: &Labels,
        points: Vec<(u32, f64)>,
        keep_name: bool,
    ) -> StepSeries {
        if keep_name {
            StepSeries::new(labels.clone(), points)
        } else if self.delayed_name_removal {
            StepSeries {
                labels: labels.clone(),
                points,
                drop_name: true,
            }
        } else {
            StepSeries::new(without_name(labels), points)
        }
    }

    /// Without delayed name removal, series that now share a label set
    /// are merged (or fail the query) where they were made, as in
    /// Prometheus; with it, that happens once at the end.
    fn settle_names(&self, v: Val) -> Result<Val, QueryError> {
        match v {
            Val::Vector(vs) if !self.delayed_name_removal => merge_same_labels(vs).map(Val::Vector),
            v => Ok(v),
        }
    }

    fn eval_node(&mut self, expr: &Expr) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(self.scalar_grid(|_| n.val)?)),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(mut vs) => {
                    for s in &mut vs {
                        s.points.iter_mut().for_each(|p| p.1 = -p.1);
                        self.drop_name(s);
                    }
                    self.settle_names(Val::Vector(vs))
                }
                _ => Err(QueryError::bad(
                    "unary minus is only defined on scalars and instant vectors",
                )),
            },
            Expr::VectorSelector(vs) => self.vector_selector(vs).map(Val::Vector),
            Expr::MatrixSelector(ms) => {
                let t = self.start;
                let series = self.matrix_selector(ms)?;
                let w = ms_window(ms, t, self)?;
                let m = self.window_all(series, w)?;
                self.stats
                    .queried(0, m.iter().map(|s| s.samples.len()).sum());
                Ok(Val::Matrix(m))
            }
            Expr::Subquery(sq) => {
                let t = self.start;
                let SubqueryOut {
                    series,
                    range,
                    offset: off,
                    at,
                    queried,
                } = self.subquery(sq)?;
                // What the inner evaluation queried, at the last step (as
                // Prometheus's IncrementSamplesAtTimestamp(endTimestamp)).
                self.stats.queried(self.steps() - 1, queried);
                let r = (at.unwrap_or(t) - off - range, at.unwrap_or(t) - off);
                Ok(Val::Matrix(self.window_all(&series, r)?))
            }
            Expr::Call(c) => self.call(c),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => {
                let v = self.binary(b)?;
                self.settle_names(v)
            }
            Expr::Extension(_) => Err(QueryError::bad("extension expressions are not supported")),
        }
    }

    /// Each series' samples in the left-open window (lo, hi]: a copy,
    /// counted toward the memory bound.
    fn window_all(
        &mut self,
        series: &[Series],
        (lo, hi): (i64, i64),
    ) -> Result<Vec<Series>, QueryError> {
        let mut out = Vec::new();
        for s in series {
            let a = s.samples.partition_point(|x| x.t <= lo);
            let b = s.samples.partition_point(|x| x.t <= hi).max(a);
            self.hold_bytes(points_bytes(b - a))?;
            self.tick(b - a)?;
            let w = window(&s.samples, lo, hi);
            if !w.is_empty() {
                out.push(Series {
                    labels: s.labels.clone(),
                    samples: w,
                });
            }
        }
        Ok(out)
    }

    /// The steps at which a sample of `samples` can be seen: where the
    /// window `(t - reach, t]` of the step's time `t` (shifted by `off`,
    /// or pinned by `at`) holds the first or last sample or lies between
    /// them. Work and counting follow the data, not the whole step grid: a
    /// 30-day subquery at 1 s over an hour of data visits an hour of steps.
    pub fn step_span(
        &self,
        samples: &[Sample],
        off: i64,
        at: Option<i64>,
        reach: i64,
    ) -> std::ops::Range<usize> {
        let steps = self.steps();
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return 0..0;
        };
        if at.is_some() {
            return 0..steps;
        }
        // Step i sees the data when first.t <= ts(i) - off < last.t + reach.
        let lo = first.t.saturating_add(off).saturating_sub(self.start);
        let hi = last
            .t
            .saturating_add(reach)
            .saturating_add(off)
            .saturating_sub(self.start)
            .saturating_sub(1);
        let first_step = if lo <= 0 {
            0
        } else {
            lo.saturating_add(self.interval - 1) / self.interval
        };
        if hi < 0 {
            return 0..0;
        }
        let last_step = hi / self.interval;
        let a = usize::try_from(first_step).unwrap_or(usize::MAX).min(steps);
        let b = usize::try_from(last_step)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(steps);
        a..b.max(a)
    }

    /// One value per step, counted like the points of a series.
    pub fn scalar_grid(&mut self, f: impl Fn(usize) -> f64) -> Result<Vec<f64>, QueryError> {
        let steps = self.steps();
        self.room_for(steps)?;
        let v: Vec<f64> = (0..steps).map(f).collect();
        self.settle(steps, steps);
        Ok(v)
    }

    /// The prefetched series of a selector.
    fn series_of(&self, vs: &VectorSelector) -> &'a [Series] {
        self.data
            .get(&selector_key(vs))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// An instant-vector selector: at each step, the newest sample within
    /// the lookback window, unless it is a staleness marker.
    /// The rollup step a selector was served at (0: raw data).
    pub fn resolution(&self, vs: &VectorSelector) -> i64 {
        self.resolutions
            .get(&selector_key(vs))
            .copied()
            .unwrap_or(0)
    }

    pub fn vector_selector(&mut self, vs: &VectorSelector) -> Result<Vec<StepSeries>, QueryError> {
        let lookback = self.lookback.max(self.resolution(vs));
        let off = offset_ms(&vs.offset);
        let at = at_ms(&vs.at, self.query_start, self.query_end);
        let mut out = Vec::new();
        for s in self.series_of(vs) {
            let span = self.step_span(&s.samples, off, at, lookback);
            self.room_for(span.len())?;
            let mut points = Vec::with_capacity(span.len());
            for i in span.clone() {
                let r = at.unwrap_or_else(|| self.ts(i)) - off;
                if let Some(v) = lookback_value(&s.samples, r, lookback) {
                    points.push((i as u32, v.v));
                    self.stats.queried(i, 1);
                }
            }
            points.shrink_to_fit();
            self.settle(span.len(), points.len());
            if !points.is_empty() {
                out.push(StepSeries::new(s.labels.clone(), points));
            }
        }
        Ok(out)
    }

    /// Like [`Self::vector_selector`] but the values are the timestamps of
    /// the samples found, in seconds (for `timestamp()`).
    pub fn vector_selector_timestamps(
        &mut self,
        vs: &VectorSelector,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let off = offset_ms(&vs.offset);
        let at = at_ms(&vs.at, self.query_start, self.query_end);
        let mut out = Vec::new();
        for s in self.series_of(vs) {
            let span = self.step_span(&s.samples, off, at, self.lookback);
            self.room_for(span.len())?;
            let points: Vec<(u32, f64)> = span
                .clone()
                .filter_map(|i| {
                    let r = at.unwrap_or_else(|| self.ts(i)) - off;
                    lookback_value(&s.samples, r, self.lookback)
                        .map(|x| (i as u32, x.t as f64 / 1000.0))
                })
                .collect();
            self.settle(span.len(), points.len());
            for &(i, _) in &points {
                self.stats.queried(i as usize, 1);
            }
            if !points.is_empty() {
                out.push(StepSeries::new(s.labels.clone(), points));
            }
        }
        Ok(out)
    }

    /// The series of a range selector, where the prefetch put them.
    pub fn matrix_selector(&mut self, ms: &MatrixSelector) -> Result<&'a [Series], QueryError> {
        let series = self.series_of(&ms.vs);
        self.count_samples(series.iter().map(|s| s.samples.len()).sum())?;
        Ok(series)
    }

    /// Evaluates a subquery's inner expression over the steps it needs:
    /// its points as series (stale-free), the window parameters, and the
    /// samples the inner evaluation queried (not counted here).
    pub fn subquery(&mut self, sq: &SubqueryExpr) -> Result<SubqueryOut, QueryError> {
        let range = sq.range.as_millis() as i64;
        let off = offset_ms(&sq.offset);
        let at = at_ms(&sq.at, self.query_start, self.query_end);
        let step = sq
            .step
            .map(|d| d.as_millis() as i64)
            .filter(|&s| s > 0)
            .unwrap_or(self.default_subquery_step);
        let (first, last) = match at {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        let lo = first - off - range;
        // The first step is the first multiple of `step` inside the window
        // (lo, ...]: windows are left-open.
        let mut start = lo.div_euclid(step) * step;
        if start <= lo {
            start += step;
        }
        let end = last - off;
        if end < start {
            return Ok(SubqueryOut {
                series: Vec::new(),
                range,
                offset: off,
                at,
                queried: 0,
            });
        }
        // Steps of the subquery's grid, checked before anything of that
        // size exists.
        let grid = end.saturating_sub(start) / step;
        self.check_grid(
            usize::try_from(grid)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        )?;
        let mut inner = Evaluator {
            start,
            end,
            interval: step,
            lookback: self.lookback,
            default_subquery_step: self.default_subquery_step,
            query_start: self.query_start,
            query_end: self.query_end,
            data: self.data,
            resolutions: self.resolutions,
            limits: self.limits,
            annotations: &mut *self.annotations,
            samples: self.samples,
            // The inner steps are not the query's: no per-step counts.
            stats: self.stats.inner(),
            work: self.work,
            delayed_name_removal: self.delayed_name_removal,
        };
        let val = inner.eval(&sq.expr)?;
        self.samples = inner.samples;
        let queried = self.stats.end_inner(&inner.stats);
        self.work = inner.work;
        let series = match val {
            Val::Vector(vs) => {
                let mut out = Vec::with_capacity(vs.len());
                for s in vs {
                    // The points become samples: a copy, counted.
                    self.hold_bytes(points_bytes(s.points.len()))?;
                    out.push(Series {
                        labels: s.visible_labels(),
                        samples: s
                            .points
                            .iter()
                            .map(|&(i, v)| Sample::new(start + i as i64 * step, v))
                            .collect(),
                    });
                }
                out
            }
            Val::Scalar(v) => vec![Series {
                labels: Labels::default(),
                samples: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Sample::new(start + i as i64 * step, v))
                    .collect(),
            }],
            _ => {
                return Err(QueryError::bad(
                    "subquery is only allowed on instant vector or scalar expressions",
                ))
            }
        };
        Ok(SubqueryOut {
            series,
            range,
            offset: off,
            at,
            queried,
        })
    }
}

/// What [`Evaluator::subquery`] gives: the points as series, the window
/// parameters, and the samples the inner evaluation queried.
pub struct SubqueryOut {
    pub series: Vec<Series>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    pub queried: usize,
}

/// The window of a matrix selector evaluated at `t`.
fn ms_window(ms: &MatrixSelector, t: i64, ev: &Evaluator<'_>) -> Result<(i64, i64), QueryError> {
    let off = offset_ms(&ms.vs.offset);
    let at = at_ms(&ms.vs.at, ev.query_start, ev.query_end);
    let hi = at.unwrap_or(t) - off;
    Ok((hi - ms.range.as_millis() as i64, hi))
}
