//! Running a query: parse, fetch the data each selector needs, evaluate,
//! and shape the result as Prometheus does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, VectorSelector};
use stratus_model::{Labels, Sample, TenantId, TimeRange, METRIC_NAME};

use crate::annotations::{Annotation, Annotations};
use crate::error::QueryError;
use crate::eval::{selector_key, EvalLimits, Evaluator, Prefetched, StepSeries, Val};
use crate::matcher::LabelMatcher;
use crate::memory::{series_bytes, QueryMemory, Reservation};
use crate::pool::QueryPool;
use crate::source::{EvalGrid, SelectHints, Selection, Series, SeriesSource};
pub use crate::value::QueryValue;

/// Engine settings; defaults follow Prometheus.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub lookback_delta: Duration,
    pub max_samples: usize,
    pub timeout: Duration,
    /// Step of subqueries that give none.
    pub default_subquery_step: Duration,
    /// Most series a selector may return.
    pub max_series: usize,
    /// Rollups of at most this step (ms) may serve the query even where raw
    /// data is kept (`max_source_resolution`), where they give the raw
    /// answer; 0: only where raw data is gone.
    pub max_source_resolution_ms: i64,
    /// Rollups up to `max_source_resolution_ms` serve where they only
    /// approximate the raw answer too (the user asked for a resolution);
    /// such answers carry a warning.
    pub approximate_rollups: bool,
    /// The memory running queries may hold together; `None`: no bound.
    pub memory: Option<Arc<QueryMemory>>,
    /// The request's reservation of `memory`, shared by its evaluations
    /// (a range query's splits); `None`: each evaluation takes its own.
    pub request_memory: Option<Arc<Reservation>>,
    /// The threads evaluations run on (`--query-max-concurrency`).
    pub pool: Arc<QueryPool>,
    /// Prometheus 3's experimental delayed `__name__` removal
    /// (`--enable-feature=promql-delayed-name-removal`): operations that
    /// drop the metric name only mark it, and it is removed at the end of
    /// the query. Off by default, as in Prometheus: the name is removed
    /// where it is dropped (ADR 0024).
    pub delayed_name_removal: bool,
    /// Prometheus's `promql-per-step-stats`: `stats=all` answers also
    /// count the queried samples of each step. Off by default, as in
    /// Prometheus; the query API keeps it only for requests with
    /// `stats=all`.
    pub per_step_stats: bool,
}

/// The `--enable-feature` name of delayed `__name__` removal, as in
/// Prometheus.
pub const FEATURE_DELAYED_NAME_REMOVAL: &str = "promql-delayed-name-removal";

/// The `--enable-feature` name of per-step sample counts, as in Prometheus.
pub const FEATURE_PER_STEP_STATS: &str = "promql-per-step-stats";

impl EngineOptions {
    /// Turns on the features named in `names`, values of Prometheus's
    /// `--enable-feature` (each a comma-separated list; empty entries are
    /// skipped). Returns the names the engine does not know, which
    /// Prometheus logs and otherwise ignores.
    pub fn enable_features<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut unknown = Vec::new();
        for name in names.into_iter().flat_map(|n| n.split(',')).map(str::trim) {
            match name {
                "" => {}
                FEATURE_DELAYED_NAME_REMOVAL => self.delayed_name_removal = true,
                FEATURE_PER_STEP_STATS => self.per_step_stats = true,
                other => unknown.push(other.to_string()),
            }
        }
        unknown
    }

    /// A reservation for one evaluation (or an answer): part of the
    /// request's when there is one, else its own; `None` without a bound.
    pub fn reserve_memory(&self) -> Option<Reservation> {
        match (&self.request_memory, &self.memory) {
            (Some(request), _) => Some(request.child()),
            (None, Some(m)) => Some(m.reserve()),
            (None, None) => None,
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
            max_series: 500_000,
            max_source_resolution_ms: 0,
            approximate_rollups: false,
            memory: None,
            request_memory: None,
            pool: QueryPool::shared_default(),
            delayed_name_removal: false,
            per_step_stats: false,
        }
    }
}

mod selectors;
use selectors::collect_selectors;

#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: QueryValue,
    pub annotations: Annotations,
    /// Samples the selectors loaded.
    pub samples_loaded: usize,
    /// Prometheus's `totalQueryableSamples` and `peakSamples` of the
    /// evaluation (the `samples` of `stats=all`).
    pub sample_stats: crate::eval::SampleStats,
    /// The coarsest rollup step any selector was served at (0: raw data only).
    pub resolution_ms: i64,
}

#[derive(Clone)]
pub struct Engine {
    source: Arc<dyn SeriesSource>,
    opts: EngineOptions,
}

/// Parses PromQL within [`stratus_promql`]'s bounds, with Prometheus's
/// error wording.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    parse_param(query, "query")
}

/// [`parse`] for another parameter (`match[]`).
pub fn parse_param(text: &str, param: &str) -> Result<Expr, QueryError> {
    stratus_promql::parse(text)
        .map_err(|e| QueryError::bad(format!("invalid parameter \"{param}\": {e}")))
}

impl Engine {
    pub fn new(source: Arc<dyn SeriesSource>, opts: EngineOptions) -> Self {
        Self { source, opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// The same engine with other options.
    pub fn with_options(&self, opts: EngineOptions) -> Self {
        Self {
            source: self.source.clone(),
            opts,
        }
    }

    /// Evaluates `query` at `t` (ms).
    pub async fn instant(
        &self,
        tenant: &TenantId,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_expr(tenant, &Arc::new(parse(query)?), t).await
    }

    /// Evaluates a parsed expression at `t` (ms): for callers that parse
    /// once and evaluate often, such as rules.
    pub async fn instant_expr(
        &self,
        tenant: &TenantId,
        expr: &Arc<Expr>,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        self.run(tenant, expr, t, t, 1, true).await
    }

    /// Evaluates `query` from `start` to `end` (ms) every `step` ms.
    pub async fn range(
        &self,
        tenant: &TenantId,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_expr(tenant, &Arc::new(parse(query)?), start, end, step)
            .await
    }

    /// [`Engine::range`] for a parsed expression.
    pub async fn range_expr(
        &self,
        tenant: &TenantId,
        expr: &Arc<Expr>,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(QueryError::bad(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(other)
            )))
            }
        }
        if step <= 0 {
            return Err(QueryError::bad(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end < start {
            return Err(QueryError::bad(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        self.run(tenant, expr, start, end, step, false).await
    }

    async fn run(
        &self,
        tenant: &TenantId,
        expr: &Arc<Expr>,
        start: i64,
        end: i64,
        step: i64,
        instant: bool,
    ) -> Result<QueryResult, QueryError> {
        let began = Instant::now();
        let deadline = began + self.opts.timeout;
        let lookback = self.opts.lookback_delta.as_millis() as i64;
        let sub_step = self.opts.default_subquery_step.as_millis() as i64;
        let mut wanted = Vec::new();
        let grid = EvalGrid {
            first_ms: start,
            step_ms: if instant { 0 } else { step },
        };
        collect_selectors(
            expr,
            (start, end),
            Some(grid),
            (start, end),
            lookback,
            &mut wanted,
        );
        let mut data = Prefetched::new();
        let mut resolutions: HashMap<usize, i64> = HashMap::new();
        let mut loaded = 0;
        let reservation = self.opts.reserve_memory().map(Arc::new);
        let held = &reservation;
        // Every selector's data is fetched at once.
        let fetches = wanted.iter().map(|w| async move {
            let (vs, range, func) = (w.vs, w.range, w.func);
            let hints = SelectHints {
                func: func.map(str::to_string),
                max_source_resolution_ms: self.opts.max_source_resolution_ms,
                approximate: self.opts.approximate_rollups,
                range_ms: w.range_ms,
                grid: w.grid,
            };
            let mut sel = self.select(tenant, vs, range, &hints).await?;
            // A plain selector over rollups looks back one rollup step.
            if func.is_none() && sel.resolution_ms > lookback {
                let wider = TimeRange::new(
                    range.max - (range.max - range.min) + lookback - sel.resolution_ms,
                    range.max,
                );
                sel = self.select(tenant, vs, wider, &hints).await?;
            }
            if sel.series.len() > self.opts.max_series {
                return Err(QueryError::TooManySeries {
                    limit: self.opts.max_series,
                });
            }
            if let Some(r) = held {
                r.grow(series_bytes(&sel.series))?;
            }
            Ok::<_, QueryError>(sel)
        });
        let selections = tokio_timeout(deadline, futures::future::try_join_all(fetches)).await??;
        let mut approximate = std::collections::BTreeMap::new();
        for (w, sel) in wanted.iter().zip(selections) {
            let key = selector_key(w.vs);
            if sel.approximate {
                let seen = approximate.entry(w.func.unwrap_or("")).or_insert(0);
                *seen = sel.resolution_ms.max(*seen);
            }
            loaded += sel.series.iter().map(|s| s.samples.len()).sum::<usize>();
            // A selector evaluated more than once (inside a subquery) keeps
            // the widest range fetched.
            let size = |v: &Vec<Series>| v.iter().map(|s| s.samples.len()).sum::<usize>();
            let keep = data
                .get(&key)
                .is_none_or(|old| size(old) < size(&sel.series));
            if keep {
                if sel.resolution_ms > 0 {
                    resolutions.insert(key, sel.resolution_ms);
                }
                data.insert(key, sel.series);
            }
        }
        let data = Arc::new(data);
        let expr = expr.clone();
        let pool = self.opts.pool.clone();
        let max_samples = self.opts.max_samples;
        let delayed_name_removal = self.opts.delayed_name_removal;
        let per_step_stats = self.opts.per_step_stats;
        // Evaluation runs on the query pool, never on the async runtime's
        // workers (ADR 0023).
        pool.run(deadline, move |cancel| {
            let limits = EvalLimits {
                max_samples,
                deadline: Some(deadline),
                memory: reservation.clone(),
                cancel: Some(cancel),
            };
            let mut annotations = Annotations::default();
            let mut ev = Evaluator {
                start,
                end,
                interval: step,
                lookback,
                default_subquery_step: sub_step,
                query_start: start,
                query_end: end,
                data: &data,
                resolutions: &resolutions,
                limits: &limits,
                annotations: &mut annotations,
                samples: 0,
                stats: Default::default(),
                work: 0,
                delayed_name_removal,
            };
            ev.check_grid(ev.steps())?;
            if per_step_stats {
                ev.stats = crate::eval::SampleStats::per_step(ev.steps());
            }
            let val = ev.eval(&expr)?;
            let sample_stats = std::mem::take(&mut ev.stats);
            for (func, step) in &approximate {
                annotations.add(Annotation::RollupApproximation {
                    function: func.to_string(),
                    step_ms: *step,
                });
            }
            if !instant && contains_sort(&expr) {
                annotations
                    .warn("PromQL warning: sort is ineffective for range queries since results are always ordered by labels");
            }
            let value = if instant {
                instant_value(val, start, &expr)?
            } else {
                range_value(val, start, step)?
            };
            Ok(QueryResult {
                value,
                annotations,
                samples_loaded: loaded,
                sample_stats,
                resolution_ms: resolutions.values().copied().max().unwrap_or(0),
            })
        })
        .await
    }

    async fn select(
        &self,
        tenant: &TenantId,
        vs: &VectorSelector,
        range: TimeRange,
        hints: &SelectHints,
    ) -> Result<Selection, QueryError> {
        let mut base = Vec::new();
        if let Some(name) = &vs.name {
            base.push(LabelMatcher::equal(METRIC_NAME, name));
        }
        let compile = |m: &promql_parser::label::Matcher| {
            crate::matcher::from_parser(m).map_err(|e| {
                QueryError::bad(format!("invalid regular expression {:?}: {e}", m.value))
            })
        };
        for m in &vs.matchers.matchers {
            base.push(compile(m)?);
        }
        let groups: Vec<Vec<LabelMatcher>> = if vs.matchers.or_matchers.is_empty() {
            vec![base]
        } else {
            let mut gs = Vec::new();
            for g in &vs.matchers.or_matchers {
                let mut all = base.clone();
                for m in g {
                    all.push(compile(m)?);
                }
                gs.push(all);
            }
            gs
        };
        let mut out = Selection::default();
        let mut seen = HashSet::new();
        for matchers in groups {
            let found = self
                .source
                .select_hinted(tenant, &matchers, range, hints)
                .await
                .map_err(QueryError::from)?;
            out.resolution_ms = out.resolution_ms.max(found.resolution_ms);
            out.approximate |= found.approximate;
            for s in found.series {
                if seen.insert(s.labels.clone()) {
                    out.series.push(s);
                }
            }
        }
        Ok(out)
    }
}

async fn tokio_timeout<F: std::future::Future>(
    deadline: Instant,
    f: F,
) -> Result<F::Output, QueryError> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, f)
        .await
        .map_err(|_| QueryError::Timeout)
}

/// True when a `sort*` function appears anywhere in `e`.
fn contains_sort(e: &Expr) -> bool {
    stratus_promql::stack_guard(|| match e {
        Expr::Call(c) => {
            c.func.name.starts_with("sort") || c.args.args.iter().any(|a| contains_sort(a))
        }
        Expr::Aggregate(a) => {
            contains_sort(&a.expr) || a.param.as_deref().is_some_and(contains_sort)
        }
        Expr::Unary(u) => contains_sort(&u.expr),
        Expr::Binary(b) => contains_sort(&b.lhs) || contains_sort(&b.rhs),
        Expr::Paren(p) => contains_sort(&p.expr),
        Expr::Subquery(s) => contains_sort(&s.expr),
        _ => false,
    })
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// A selector, the time range its evaluation reads, and the function whose
/// range argument it is.
/// Series labels with their (step, value) points.
type StepPoints = Vec<(Labels, Vec<(u32, f64)>)>;

/// Applies delayed name removal (names marked for removal go now) and
/// merges series that share a label set, or fails when they meet at a step.
fn finish_series(v: Vec<StepSeries>) -> Result<StepPoints, QueryError> {
    Ok(crate::eval::merge_same_labels(v)?
        .into_iter()
        .map(|s| (s.labels, s.points))
        .collect())
}

fn instant_value(val: Val, t: i64, expr: &Expr) -> Result<QueryValue, QueryError> {
    Ok(match val {
        Val::Scalar(v) => QueryValue::Scalar {
            t,
            v: v.first().copied().unwrap_or(f64::NAN),
        },
        Val::String(s) => QueryValue::String { t, s },
        Val::Matrix(m) => QueryValue::Matrix(m),
        Val::Vector(v) => {
            let mut out: Vec<(Labels, Sample)> = finish_series(v)?
                .into_iter()
                .filter_map(|(l, p)| p.first().map(|&(_, v)| (l, Sample::new(t, v))))
                .collect();
            sort_instant(&mut out, expr);
            QueryValue::Vector(out)
        }
    })
}

/// `sort`, `sort_desc` and `sort_by_label[_desc]` order an instant result.
fn sort_instant(out: &mut [(Labels, Sample)], expr: &Expr) {
    let mut e = expr;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    let Expr::Call(c) = e else { return };
    match c.func.name {
        // NaN last in both directions, as Prometheus.
        "sort" => out.sort_by(|a, b| nan_last(a.1.v, b.1.v, false)),
        "sort_desc" => out.sort_by(|a, b| nan_last(a.1.v, b.1.v, true)),
        "sort_by_label" | "sort_by_label_desc" => {
            let names: Vec<String> = c
                .args
                .args
                .iter()
                .skip(1)
                .filter_map(|a| match a.as_ref() {
                    Expr::StringLiteral(s) => Some(s.val.clone()),
                    _ => None,
                })
                .collect();
            let desc = c.func.name == "sort_by_label_desc";
            out.sort_by(|a, b| {
                let mut ord = std::cmp::Ordering::Equal;
                for n in &names {
                    ord = ord.then_with(|| a.0.get(n).unwrap_or("").cmp(b.0.get(n).unwrap_or("")));
                }
                let ord = ord.then_with(|| a.0.cmp(&b.0));
                if desc {
                    ord.reverse()
                } else {
                    ord
                }
            });
        }
        _ => {}
    }
}

fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if desc => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn range_value(val: Val, start: i64, step: i64) -> Result<QueryValue, QueryError> {
    let to_series = |labels: Labels, points: Vec<(u32, f64)>| Series {
        labels,
        samples: points
            .into_iter()
            .map(|(i, v)| Sample::new(start + i as i64 * step, v))
            .collect(),
    };
    let mut out: Vec<Series> = match val {
        Val::Scalar(v) => vec![to_series(
            Labels::default(),
            v.into_iter()
                .enumerate()
                .map(|(i, v)| (i as u32, v))
                .collect(),
        )],
        Val::Vector(v) => finish_series(v)?
            .into_iter()
            .map(|(l, p)| to_series(l, p))
            .collect(),
        Val::Matrix(_) | Val::String(_) => {
            return Err(QueryError::bad(
                "range queries must return a scalar or an instant vector",
            ))
        }
    };
    out.retain(|s| !s.samples.is_empty());
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(QueryValue::Matrix(out))
}

#[cfg(test)]
mod tests;
