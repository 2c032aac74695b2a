//! Runs Prometheus's PromQL engine test scripts against Stratus: every
//! `load` is written as a segment to a bucket and read back through the
//! same reader the server uses; every core `eval` must give Prometheus's
//! answer. Non-core evals (native histograms, experimental functions, ...)
//! are skipped by their CLASSIFICATION.tsv tags; core evals that are known
//! not to pass yet are listed, with the reason, in
//! `tests/conformance/skip-<folder>.txt`. A listed eval that passes fails
//! the suite, so the lists only shrink. Upstream's scripts run with delayed
//! `__name__` removal, as upstream's test engine does.
//!
//! Stratus's own scripts (`tests/promqltest/`, same format) run the same
//! way, every eval core and none skipped: `default/` with default engine
//! settings, `delayed_name_removal/` with that feature on.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stratus_codec::SegmentBuilder;
use stratus_model::{Labels, Sample, TenantId, STALE_NAN};
use stratus_query::{
    BucketSource, BucketSourceOptions, Engine, EngineOptions, QueryError, QueryResult, QueryValue,
};
use stratus_storage::{Bucket, SegmentKey};
use stratus_tests::promqltest::{
    load_classification, load_dir_as, Command, Dialect, Eval, EvalKind, Expectation, Expected,
    ExpectedSeries, Load, MessageMatch, Value,
};

struct Stats {
    passed: usize,
    failed: Vec<String>,
    skipped_tag: usize,
    skipped_listed: usize,
    listed_but_passing: Vec<String>,
}

fn skip_list(path: &Path) -> BTreeMap<(String, usize), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let (loc, reason) = l.split_once('#').unwrap_or((l, ""));
            let (file, line) = loc.trim().rsplit_once(':')?;
            Some((
                (file.to_string(), line.trim().parse().ok()?),
                reason.trim().to_string(),
            ))
        })
        .collect()
}

/// How a folder of scripts is run.
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// Compact every load into blocks before evaluating.
    compact: bool,
    /// Prometheus 3's `promql-delayed-name-removal`: on for upstream's
    /// scripts, as in upstream's test engine (`promqltest.NewTestEngine`).
    delayed_name_removal: bool,
}

struct World {
    bucket: Bucket,
    engine: Engine,
    ids: ulid::Generator,
    /// Compact every load into blocks before evaluating.
    compact: bool,
}

fn world(settings: Settings) -> World {
    let bucket = Bucket::in_memory();
    let source = BucketSource::new(
        bucket.clone(),
        BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..BucketSourceOptions::default()
        },
    );
    let engine = Engine::new(
        Arc::new(source),
        EngineOptions {
            max_samples: 50_000_000,
            delayed_name_removal: settings.delayed_name_removal,
            ..EngineOptions::default()
        },
    );
    World {
        bucket,
        engine,
        ids: ulid::Generator::new(),
        compact: settings.compact,
    }
}

/// Writes a `load` block as one segment. Native histogram points are left
/// out (their evals are skipped by tag).
async fn load(w: &mut World, l: &Load) {
    let tenant = TenantId::anonymous();
    let mut b = SegmentBuilder::new(&tenant);
    let mut series: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in &l.series {
        let samples = series.entry(s.labels.clone()).or_default();
        for (t, v) in &s.points {
            match v {
                Value::Float(f) => samples.push(Sample::new(*t, *f)),
                Value::Stale => samples.push(Sample::new(*t, STALE_NAN)),
                Value::Histogram(_) => {}
            }
        }
    }
    for (labels, mut samples) in series {
        samples.sort_by_key(|s| s.t);
        samples.dedup_by_key(|s| s.t);
        if !samples.is_empty() {
            b.add_series(&labels, &samples).expect("valid series");
        }
    }
    let bytes = b.finish().expect("segment");
    let id = w.ids.generate().expect("ulid");
    w.bucket
        .put(&SegmentKey::new(tenant, id).path(), bytes.into())
        .await
        .expect("put");
    if w.compact {
        // As of a day from now, so every segment is past its grace and
        // every block range is settled: segments become blocks, blocks of
        // one range merge, days merge, rollups are made.
        let now = stratus_model::Clock::now_ms(&stratus_model::SystemClock) + 86_400_000;
        let c = stratus_compactor::Compactor::new(
            w.bucket.clone(),
            stratus_compactor::CompactorConfig::default(),
            stratus_compactor::CompactorMetrics::new(
                &mut prometheus_client::registry::Registry::default(),
            ),
        );
        c.run_once(now).await.expect("compaction pass");
    }
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-6 * a.abs().max(b.abs()) || diff < f64::MIN_POSITIVE
}

fn message_ok(m: &MessageMatch, got: &str) -> bool {
    match m {
        MessageMatch::Any => true,
        MessageMatch::Exact(s) => got == s || got.ends_with(s.as_str()),
        MessageMatch::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(got)),
    }
}

fn check_annotations(kind: &str, e: &Expectation, got: &[String]) -> Result<(), String> {
    match e {
        Expectation::Unspecified => Ok(()),
        Expectation::Absent if got.is_empty() => Ok(()),
        Expectation::Absent => Err(format!("expected no {kind}, got {got:?}")),
        Expectation::Expected(_) if got.is_empty() => Err(format!("expected {kind}, got none")),
        Expectation::Expected(m) => match got.iter().find(|g| !message_ok(m, g)) {
            None => Ok(()),
            Some(g) => Err(format!("{kind} {g:?} does not match {m:?}")),
        },
    }
}

/// Result series with their points as (step index -> value).
type StepMap = Vec<(Labels, HashMap<usize, f64>)>;

/// Actual series with their points as (step index -> value).
fn actual_series(r: &QueryResult, kind: &EvalKind) -> Result<StepMap, String> {
    let (start, step) = match kind {
        EvalKind::Instant { at_ms } => (*at_ms, 1),
        EvalKind::Range {
            start_ms, step_ms, ..
        } => (*start_ms, (*step_ms).max(1)),
    };
    match &r.value {
        QueryValue::Vector(v) => Ok(v
            .iter()
            .map(|(l, s)| (l.clone(), HashMap::from([(0usize, s.v)])))
            .collect()),
        QueryValue::Matrix(m) => Ok(m
            .iter()
            .map(|s| {
                let points = s
                    .samples
                    .iter()
                    .map(|p| (((p.t - start) / step) as usize, p.v))
                    .collect();
                (s.labels.clone(), points)
            })
            .collect()),
        QueryValue::Scalar { v, .. } => {
            Ok(vec![(Labels::default(), HashMap::from([(0usize, *v)]))])
        }
        QueryValue::String { .. } => Err("got a string".into()),
    }
}

fn compare_series(
    expected: &[ExpectedSeries],
    actual: &[(Labels, HashMap<usize, f64>)],
    ordered: bool,
) -> Result<(), String> {
    let mut by_labels: HashMap<&Labels, &HashMap<usize, f64>> = HashMap::new();
    for (l, p) in actual {
        if by_labels.insert(l, p).is_some() {
            return Err(format!("duplicate series {l} in result"));
        }
    }
    let expected_nonempty: Vec<&ExpectedSeries> = expected
        .iter()
        .filter(|e| e.values.iter().any(Option::is_some))
        .collect();
    if expected_nonempty.len() != actual.len() {
        let want: Vec<String> = expected_nonempty
            .iter()
            .map(|e| e.labels.to_string())
            .collect();
        let got: Vec<String> = actual
            .iter()
            .map(|(l, p)| format!("{l} {:?}", sorted(p)))
            .collect();
        return Err(format!(
            "expected {} series {want:?}, got {} {got:?}",
            want.len(),
            got.len()
        ));
    }
    for (i, e) in expected_nonempty.iter().enumerate() {
        let Some(points) = by_labels.get(&e.labels) else {
            let got: Vec<String> = actual.iter().map(|(l, _)| l.to_string()).collect();
            return Err(format!(
                "expected series {} not in result {got:?}",
                e.labels
            ));
        };
        if ordered && actual[i].0 != e.labels {
            return Err(format!(
                "expected {} at position {i}, got {}",
                e.labels, actual[i].0
            ));
        }
        for (step, want) in e.values.iter().enumerate() {
            match (want, points.get(&step)) {
                (None, None) => {}
                (Some(Value::Float(w)), Some(g)) if close(*w, *g) => {}
                (Some(Value::Stale), Some(g)) if g.is_nan() => {}
                (w, g) => {
                    return Err(format!(
                        "{} step {step}: expected {w:?}, got {g:?} (all: {:?})",
                        e.labels,
                        sorted(points)
                    ))
                }
            }
        }
        if let Some(extra) = points.keys().find(|k| **k >= e.values.len()) {
            return Err(format!("{}: unexpected point at step {extra}", e.labels));
        }
    }
    Ok(())
}

fn sorted(p: &HashMap<usize, f64>) -> Vec<(usize, f64)> {
    let mut v: Vec<(usize, f64)> = p.iter().map(|(a, b)| (*a, *b)).collect();
    v.sort_by_key(|x| x.0);
    v
}

async fn run_eval(w: &World, e: &Eval) -> Result<(), String> {
    let tenant = TenantId::anonymous();
    let result: Result<QueryResult, QueryError> = match &e.kind {
        EvalKind::Instant { at_ms } => w.engine.instant(&tenant, &e.query, *at_ms).await,
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            w.engine
                .range(&tenant, &e.query, *start_ms, *end_ms, *step_ms)
                .await
        }
    };
    let r = match (result, &e.expect_fail) {
        (Err(err), Some(m)) => {
            return if message_ok(m, &err.to_string()) {
                Ok(())
            } else {
                Err(format!("error {:?} does not match {m:?}", err.to_string()))
            }
        }
        (Ok(r), Some(_)) => return Err(format!("expected an error, got {:?}", r.value)),
        (Err(err), None) => return Err(format!("unexpected error: {err}")),
        (Ok(r), None) => r,
    };
    check_annotations("warnings", &e.expect_warn, &r.annotations.warnings)?;
    check_annotations("infos", &e.expect_info, &r.annotations.infos)?;
    check_expected(e, &r)?;
    range_mode(w, e, &r).await?;
    at_modifier_mode(w, e).await
}

/// Functions whose result depends on the evaluation time even when their
/// arguments do not (upstream's `AtModifierUnsafeFunctions`).
const AT_UNSAFE: [&str; 11] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// Sets `@ t` on every selector and subquery that has none, without
/// descending into subqueries (as upstream). Returns false when the
/// expression uses a function that is unsafe with `@`.
fn pin_at(e: &mut promql_parser::parser::Expr, t: std::time::SystemTime) -> bool {
    use promql_parser::parser::{AtModifier, Expr};
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(AtModifier::At(t));
            true
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert(AtModifier::At(t));
            true
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert(AtModifier::At(t));
            true
        }
        Expr::Call(c) => {
            let safe = !AT_UNSAFE.contains(&c.func.name);
            c.args
                .args
                .iter_mut()
                .fold(safe, |ok, a| pin_at(a, t) && ok)
        }
        Expr::Aggregate(a) => {
            let p = a.param.as_deref_mut().is_none_or(|p| pin_at(p, t));
            pin_at(&mut a.expr, t) && p
        }
        Expr::Binary(b) => {
            let l = pin_at(&mut b.lhs, t);
            pin_at(&mut b.rhs, t) && l
        }
        Expr::Unary(u) => pin_at(&mut u.expr, t),
        Expr::Paren(p) => pin_at(&mut p.expr, t),
        _ => true,
    }
}

/// As upstream: with every selector pinned to `@ t`, the query gives the
/// same answer at other evaluation times.
async fn at_modifier_mode(w: &World, e: &Eval) -> Result<(), String> {
    let EvalKind::Instant { at_ms } = e.kind else {
        return Ok(());
    };
    let Ok(mut expr) = stratus_query::engine::parse(&e.query) else {
        return Ok(());
    };
    let at = std::time::UNIX_EPOCH + Duration::from_millis(at_ms.max(0) as u64);
    if at_ms < 0 || !pin_at(&mut expr, at) {
        return Ok(());
    }
    let times: Vec<i64> = if at_ms == 0 {
        vec![0, 10, 100, 1000, 10_000, 100_000, 1_000_000]
    } else {
        vec![-10 * at_ms, 0, at_ms / 5, at_ms, 10 * at_ms]
    };
    let tenant = TenantId::anonymous();
    let expr = std::sync::Arc::new(expr);
    for t in times {
        let r = w
            .engine
            .instant_expr(&tenant, &expr, t)
            .await
            .map_err(|err| format!("@ {at_ms} evaluated at {t}: unexpected error: {err}"))?;
        check_expected(e, &r).map_err(|msg| format!("@ {at_ms} evaluated at {t}: {msg}"))?;
    }
    Ok(())
}

/// As upstream: an instant eval must give the same answer as the middle
/// step of a range query from t-1m to t+1m, step 1m.
async fn range_mode(w: &World, e: &Eval, instant: &QueryResult) -> Result<(), String> {
    let EvalKind::Instant { at_ms } = e.kind else {
        return Ok(());
    };
    if e.ordered
        || !matches!(
            instant.value,
            QueryValue::Vector(_) | QueryValue::Scalar { .. }
        )
    {
        return Ok(());
    }
    let tenant = TenantId::anonymous();
    let r = w
        .engine
        .range(&tenant, &e.query, at_ms - 60_000, at_ms + 60_000, 60_000)
        .await
        .map_err(|err| format!("range mode: unexpected error: {err}"))?;
    let QueryValue::Matrix(m) = &r.value else {
        return Err(format!("range mode: expected a matrix, got {:?}", r.value));
    };
    let at_t: Vec<(Labels, Sample)> = m
        .iter()
        .filter_map(|s| {
            s.samples
                .iter()
                .find(|p| p.t == at_ms)
                .map(|p| (s.labels.clone(), *p))
        })
        .collect();
    let as_instant = QueryResult {
        value: match instant.value {
            QueryValue::Scalar { .. } => QueryValue::Scalar {
                t: at_ms,
                v: at_t.first().map_or(f64::NAN, |p| p.1.v),
            },
            _ => QueryValue::Vector(at_t),
        },
        annotations: r.annotations.clone(),
        samples_loaded: 0,
        sample_stats: Default::default(),
        resolution_ms: 0,
    };
    check_expected(e, &as_instant).map_err(|msg| format!("range mode: {msg}"))
}

fn check_expected(e: &Eval, r: &QueryResult) -> Result<(), String> {
    match &e.expected {
        Expected::Scalar(want) => match &r.value {
            QueryValue::Scalar { v, .. } if close(*want, *v) => Ok(()),
            other => Err(format!("expected scalar {want}, got {other:?}")),
        },
        Expected::String(want) => match &r.value {
            QueryValue::String { s, .. } if s == want => Ok(()),
            other => Err(format!("expected string {want:?}, got {other:?}")),
        },
        Expected::Series(want) => compare_series(want, &actual_series(r, &e.kind)?, e.ordered),
        Expected::RangeVector {
            start_ms,
            step_ms,
            series,
            ..
        } => {
            let kind = EvalKind::Range {
                start_ms: *start_ms,
                end_ms: *start_ms,
                step_ms: *step_ms,
            };
            compare_series(series, &actual_series(r, &kind)?, e.ordered)
        }
    }
}

/// Upstream's scripts of `folder` (`v3.0`, `main`): core evals by
/// CLASSIFICATION.tsv, known failures listed in `skip-<folder>.txt`.
async fn run_folder(folder: &str, dialect: Dialect, compact: bool) -> Stats {
    let data = stratus_tests::promqltest_data().join(folder);
    let classes = load_classification(&data.join("CLASSIFICATION.tsv")).expect("classification");
    let core: HashMap<(String, usize), bool> = classes
        .iter()
        .map(|c| ((c.file.clone(), c.line), c.is_core()))
        .collect();
    let skips = skip_list(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("conformance/skip-{folder}.txt")),
    );
    let settings = Settings {
        compact,
        delayed_name_removal: true,
    };
    run_dir(folder, &data, dialect, settings, Some(&core), &skips).await
}

/// Stratus's own scripts in `tests/promqltest/<folder>`: every eval must
/// pass.
async fn run_own(folder: &str, delayed_name_removal: bool) -> Stats {
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("promqltest")
        .join(folder);
    let settings = Settings {
        compact: false,
        delayed_name_removal,
    };
    let s = run_dir(
        &format!("own {folder}"),
        &data,
        Dialect::Current,
        settings,
        None,
        &BTreeMap::new(),
    )
    .await;
    assert!(s.passed > 0, "no eval ran in {}", data.display());
    s
}

/// Runs every script of `data`. With `core`, evals not marked core are
/// skipped; `skips` are known failures.
async fn run_dir(
    name: &str,
    data: &Path,
    dialect: Dialect,
    settings: Settings,
    core: Option<&HashMap<(String, usize), bool>>,
    skips: &BTreeMap<(String, usize), String>,
) -> Stats {
    let files = load_dir_as(data, dialect).expect("test files parse");
    let compact = settings.compact;
    let mut stats = Stats {
        passed: 0,
        failed: Vec::new(),
        skipped_tag: 0,
        skipped_listed: 0,
        listed_but_passing: Vec::new(),
    };
    let mut per_file: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for f in &files {
        let mut w = world(settings);
        for c in &f.commands {
            match c {
                Command::Load(l) => load(&mut w, l).await,
                Command::Clear { .. } => w = world(settings),
                Command::Eval(e) => {
                    let key = (f.name.clone(), e.line);
                    let counts = per_file.entry(f.name.clone()).or_default();
                    if core.is_some_and(|c| !c.get(&key).copied().unwrap_or(false)) {
                        stats.skipped_tag += 1;
                        counts.2 += 1;
                        continue;
                    }
                    let outcome = run_eval(&w, e).await;
                    match (outcome, skips.contains_key(&key)) {
                        (Ok(()), false) => {
                            stats.passed += 1;
                            counts.0 += 1;
                        }
                        (Ok(()), true) => stats
                            .listed_but_passing
                            .push(format!("{}:{}", f.name, e.line)),
                        (Err(_), true) => {
                            stats.skipped_listed += 1;
                            counts.2 += 1;
                        }
                        (Err(msg), false) => {
                            counts.1 += 1;
                            stats
                                .failed
                                .push(format!("{}:{}: {}\n    {msg}", f.name, e.line, e.query));
                        }
                    }
                }
            }
        }
    }
    let mut report = format!(
        "PromQL conformance, {name}{}:\n",
        if compact {
            ", read from compacted blocks"
        } else {
            ""
        }
    );
    for (file, (p, fl, s)) in &per_file {
        let _ = writeln!(
            report,
            "  {file:<28} passed {p:>4}  failed {fl:>4}  skipped {s:>4}"
        );
    }
    let _ = writeln!(
        report,
        "  total: {} passed, {} failed, {} skipped by tag, {} skipped by list",
        stats.passed,
        stats.failed.len(),
        stats.skipped_tag,
        stats.skipped_listed
    );
    println!("{report}");
    stats
}

fn verdict(folder: &str, s: Stats) {
    let mut problems = String::new();
    for f in &s.failed {
        let _ = writeln!(problems, "FAIL {f}");
    }
    for p in &s.listed_but_passing {
        let _ = writeln!(
            problems,
            "PASSES BUT LISTED in skip-{folder}.txt (remove it): {p}"
        );
    }
    assert!(problems.is_empty(), "{}", problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_v3_0_core_evals() {
    let s = run_folder("v3.0", Dialect::Legacy, false).await;
    verdict("v3.0", s);
}

/// The same evals with every load compacted into Parquet blocks first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_v3_0_core_evals_from_blocks() {
    let s = run_folder("v3.0", Dialect::Legacy, true).await;
    verdict("v3.0", s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_main_core_evals() {
    let s = run_folder("main", Dialect::Current, false).await;
    verdict("main", s);
}

/// The same evals with every load compacted into Parquet blocks first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_main_core_evals_from_blocks() {
    let s = run_folder("main", Dialect::Current, true).await;
    verdict("main", s);
}

/// Stratus's own scripts with default engine settings, which are
/// Prometheus 3's defaults: no delayed name removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stratus_scripts_default_settings() {
    let s = run_own("default", false).await;
    verdict("default", s);
}

/// Stratus's own scripts with `--enable-feature=promql-delayed-name-removal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stratus_scripts_delayed_name_removal() {
    let s = run_own("delayed_name_removal", true).await;
    verdict("delayed_name_removal", s);
}
