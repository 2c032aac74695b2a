//! The upstream test files in `tests/conformance/promqltest` (or
//! `$PROMQLTEST_DATA`): every file parses, and the evals agree with the
//! folder's `CLASSIFICATION.tsv`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::promqltest::*;

fn dialect(folder: &str) -> Dialect {
    if folder == "v3.0" {
        Dialect::Legacy
    } else {
        Dialect::Current
    }
}

fn data_dir() -> PathBuf {
    crate::promqltest_data()
}

#[test]
fn parses_every_upstream_file() {
    for folder in ["v3.0", "main"] {
        let dir = data_dir().join(folder);
        let files = load_dir_as(&dir, dialect(folder))
            .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        assert!(
            files.len() >= 15,
            "{}: only {} files",
            dir.display(),
            files.len()
        );
        let evals: usize = files
            .iter()
            .flat_map(|f| &f.commands)
            .filter(|c| matches!(c, Command::Eval(_)))
            .count();
        assert!(evals > 1000, "{folder}: only {evals} evals");
        if dialect(folder) == Dialect::Legacy {
            // Legacy rules check warnings on every eval.
            let unchecked = files
                .iter()
                .flat_map(|f| &f.commands)
                .filter(
                    |c| matches!(c, Command::Eval(e) if e.expect_warn == Expectation::Unspecified),
                )
                .count();
            assert_eq!(unchecked, 0, "{folder}");
        }
    }
}

#[test]
fn evals_match_the_classification() {
    for folder in ["v3.0", "main"] {
        let dir = data_dir().join(folder);
        let files = load_dir_as(&dir, dialect(folder))
            .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        let rows = load_classification(&dir.join("CLASSIFICATION.tsv")).expect("test input");
        let mut want: BTreeMap<&str, Vec<(usize, &str, &str)>> = BTreeMap::new();
        for r in &rows {
            want.entry(&r.file)
                .or_default()
                .push((r.line, r.kind.as_str(), r.query.as_str()));
        }
        let mut got: BTreeMap<&str, Vec<(usize, &str, &str)>> = BTreeMap::new();
        for f in &files {
            let evals = got.entry(&f.name).or_default();
            for c in &f.commands {
                if let Command::Eval(e) = c {
                    let kind = match e.kind {
                        EvalKind::Instant { .. } => "instant",
                        EvalKind::Range { .. } => "range",
                    };
                    evals.push((e.line, kind, e.query.as_str()));
                }
            }
        }
        got.retain(|_, v| !v.is_empty());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{folder}: files with evals"
        );
        for (file, want_evals) in &want {
            let got_evals = &got[file];
            for (g, w) in got_evals.iter().zip(want_evals) {
                assert_eq!(g, w, "{folder}/{file}");
            }
            assert_eq!(
                got_evals.len(),
                want_evals.len(),
                "{folder}/{file}: eval count"
            );
        }
        assert_eq!(
            rows.len(),
            got.values().map(Vec::len).sum::<usize>(),
            "{folder}"
        );
    }
}

#[test]
fn upstream_data_uses_every_form() {
    let files = load_dir_as(&data_dir().join("main"), Dialect::Current).expect("test input");
    let evals: Vec<(&str, &Eval)> = files
        .iter()
        .flat_map(|f| f.commands.iter().map(move |c| (f.name.as_str(), c)))
        .filter_map(|(n, c)| match c {
            Command::Eval(e) => Some((n, e)),
            _ => None,
        })
        .collect();
    let count = |f: &dyn Fn(&Eval) -> bool| evals.iter().filter(|(_, e)| f(e)).count();
    assert!(count(&|e| matches!(e.expected, Expected::Scalar(_))) > 10);
    assert!(count(&|e| matches!(e.expected, Expected::String(_))) >= 5);
    assert!(count(&|e| matches!(e.expected, Expected::RangeVector { .. })) >= 5);
    assert!(count(&|e| matches!(e.expect_fail, Some(MessageMatch::Exact(_)))) > 10);
    assert!(count(&|e| e.expect_warn == Expectation::Absent) > 100);
    assert!(count(&|e| e.ordered) > 10);

    // main/range_queries.test:80, an instant query returning a range vector.
    let (_, e) = evals
        .iter()
        .find(|(n, e)| *n == "range_queries.test" && e.line == 80)
        .expect("test input");
    assert_eq!(e.query, "some_metric[1m]");
    let Expected::RangeVector {
        start_ms,
        end_ms,
        step_ms,
        series,
    } = &e.expected
    else {
        panic!("{e:?}")
    };
    assert_eq!((*start_ms, *end_ms, *step_ms), (10_000, 60_000, 10_000));
    assert_eq!(series.len(), 2);
    assert_eq!(series[1].values[0], Some(Value::Float(4.0)));

    let loads: Vec<&Load> = files
        .iter()
        .flat_map(|f| &f.commands)
        .filter_map(|c| match c {
            Command::Load(l) => Some(l),
            _ => None,
        })
        .collect();
    let series = || loads.iter().flat_map(|l| &l.series);
    assert!(loads.iter().any(|l| l.with_nhcb));
    assert!(series().any(|s| s.points.iter().any(|p| p.1 == Value::Stale)));
    assert!(series().any(|s| s.points.iter().any(|p| matches!(p.1, Value::Histogram(_)))));
    assert!(series().any(|s| s.start_timestamps.iter().any(Option::is_some)));
}
