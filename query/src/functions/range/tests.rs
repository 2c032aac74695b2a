//! Expectations are worked out by hand from the definitions, most of them
//! mirroring cases of Prometheus's `functions.test`.

use stratus_model::Sample;

use super::regression::linear_regression;
use super::*;
use crate::functions::FunctionError;

const MIN: i64 = 60_000;

/// Samples every `step_ms` from t=0.
fn series(step_ms: i64, values: &[f64]) -> Vec<Sample> {
    (0..)
        .zip(values)
        .map(|(i, v)| Sample::new(i * step_ms, *v))
        .collect()
}

/// The left-open window `(eval - offset - range, eval - offset]`.
fn window(samples: &[Sample], eval: i64, range: i64, offset: i64) -> (Vec<Sample>, i64, i64) {
    let end = eval - offset;
    let start = end - range;
    let w = samples
        .iter()
        .copied()
        .filter(|s| s.t > start && s.t <= end)
        .collect();
    (w, start, end)
}

/// `start+step x n` as in promqltest's load syntax (n+1 values).
fn expand(start: f64, step: f64, n: usize) -> Vec<f64> {
    (0..=n).map(|i| start + step * i as f64).collect()
}

fn concat(parts: &[Vec<f64>]) -> Vec<f64> {
    parts.concat()
}

fn rate_at(
    values: &[f64],
    step: i64,
    eval: i64,
    range: i64,
    offset: i64,
    counter: bool,
    per_s: bool,
) -> Option<f64> {
    let (w, start, end) = window(&series(step, values), eval, range, offset);
    extrapolated_rate(&w, start, end, counter, per_s)
}

fn assert_close(got: Option<f64>, want: f64) {
    let got = got.expect("a value");
    assert!(
        (got - want).abs() <= want.abs() * 1e-12,
        "got {got}, want {want}"
    );
}

#[test]
fn increase_extrapolates_to_the_window_edges() {
    let foo = expand(0.0, 10.0, 10);
    // 10..100 at 5m..50m: 90 over 45m, extrapolated by 5m to the start.
    assert_close(
        rate_at(&foo, 5 * MIN, 50 * MIN, 50 * MIN, 0, true, false),
        100.0,
    );
    let bar = concat(&[expand(0.0, 18.0, 5), expand(0.0, 18.0, 5)]);
    // 18..90, reset, 0..72: 54 + 90 = 144, times 50/45.
    assert_close(
        rate_at(&bar, 5 * MIN, 50 * MIN, 50 * MIN, 0, true, false),
        160.0,
    );
    // Over 100m the first sample (0) sits 50m after the window start:
    // extrapolation would go negative, so it stops at zero.
    assert_close(
        rate_at(&bar, 5 * MIN, 50 * MIN, 100 * MIN, 0, true, false),
        162.0,
    );
}

#[test]
fn increase_stops_extrapolating_where_the_counter_hits_zero() {
    // 10 at t=0, +10 per 5m: zero would be at -5m, beyond the half-interval
    // (2m30s) limit, so the limit applies: 100 * 3150/3000.
    let dings = expand(10.0, 10.0, 10);
    assert_close(
        rate_at(&dings, 5 * MIN, 50 * MIN, 100 * MIN, 0, true, false),
        105.0,
    );
    // 1 at t=0 reaches zero 30s earlier: 100 * 3030/3000.
    let bumms = expand(1.0, 10.0, 10);
    assert_close(
        rate_at(&bumms, 5 * MIN, 50 * MIN, 100 * MIN, 0, true, false),
        101.0,
    );
    // 1 2 3 2 3 4 in (0, 30m]: 3 + 3 (reset) = 6 over 25m; zero is 250s
    // before the first sample: 6 * 1750/1500 = 7.
    let reset = [0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0];
    assert_close(
        rate_at(&reset, 5 * MIN, 30 * MIN, 30 * MIN, 0, true, false),
        7.0,
    );
}

#[test]
fn rate_handles_resets_and_short_windows() {
    let middle = concat(&[expand(0.0, 27.0, 4), expand(0.0, 27.0, 5)]);
    assert_close(
        rate_at(&middle, 5 * MIN, 50 * MIN, 50 * MIN, 0, true, true),
        0.08,
    );
    let end = concat(&[expand(0.0, 10.0, 9), vec![0.0, 10.0]]);
    // A single sample in the window: no rate.
    assert_eq!(
        rate_at(&end, 5 * MIN, 50 * MIN, 5 * MIN, 0, true, true),
        None
    );
    // 90 -> 0 is a reset: increase 0.
    assert_eq!(
        rate_at(&end, 5 * MIN, 50 * MIN, 6 * MIN, 0, true, true),
        Some(0.0)
    );
    let window = expand(0.0, 80.0, 10);
    assert_close(
        rate_at(&window, 5 * MIN, 50 * MIN, 50 * MIN, 0, true, true),
        0.26666666666666666,
    );
    // Offset 5m: (35m, 45m] holds 80 and 90; 10 extrapolated to 10m.
    let a = expand(0.0, 10.0, 10);
    assert_close(
        rate_at(&a, 5 * MIN, 50 * MIN, 10 * MIN, 5 * MIN, true, true),
        0.03333333333333333,
    );
    assert_eq!(extrapolated_rate(&[], 0, 1000, true, true), None);
}

#[test]
fn rate_zero_cutoff_only_within_half_an_interval() {
    let cases = [
        (0.0, 0.5),
        (60.0, 0.55),
        (120.0, 0.6),
        (180.0, 0.6),
        (300.0, 0.6),
    ];
    for (start, want) in cases {
        let values = expand(start, 240.0, 10);
        assert_close(
            rate_at(&values, 4 * MIN, 10 * MIN, 20 * MIN, 0, true, true),
            want,
        );
        assert_close(
            rate_at(&values, 4 * MIN, 50 * MIN, 20 * MIN, 0, true, true),
            0.6,
        );
    }
}

#[test]
fn delta_is_not_clamped_at_zero() {
    let up = [0.0, 50.0, 100.0, 150.0, 200.0];
    assert_close(
        rate_at(&up, 5 * MIN, 20 * MIN, 20 * MIN, 0, false, false),
        200.0,
    );
    let down = [200.0, 150.0, 100.0, 50.0, 0.0];
    assert_close(
        rate_at(&down, 5 * MIN, 20 * MIN, 20 * MIN, 0, false, false),
        -200.0,
    );
}

#[test]
fn irate_and_idelta_use_the_last_two_samples() {
    let foo = series(5 * MIN, &expand(0.0, 10.0, 10));
    assert_close(irate(&foo), 10.0 / 300.0);
    let bar = series(5 * MIN, &concat(&[expand(0.0, 10.0, 5), vec![0.0]]));
    assert_eq!(
        irate(&bar),
        Some(0.0),
        "after a reset the last value counts"
    );
    let gauge = series(5 * MIN, &[0.0, 50.0, 100.0, 50.0]);
    assert_eq!(idelta(&gauge), Some(-50.0));
    let nan = series(5 * MIN, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
    assert!(irate(&nan[..4]).is_some_and(f64::is_nan));
    assert_close(irate(&nan), 0.02);
    assert_eq!(irate(&foo[..1]), None);
    let same_time = [Sample::new(0, 1.0), Sample::new(0, 2.0)];
    assert_eq!(instant_value(&same_time, false), None);
}

#[test]
fn resets_and_changes_count_transitions() {
    let foo = series(5 * MIN, &[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]);
    let bar = series(5 * MIN, &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let biz = series(5 * MIN, &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    let at = |s: &[Sample], range| window(s, 50 * MIN, range, 0).0;
    assert_eq!(resets(&at(&foo, 20 * MIN)), 1.0);
    assert_eq!(resets(&at(&foo, 32 * MIN)), 2.0);
    assert_eq!(resets(&at(&bar, 32 * MIN)), 1.0);
    assert_eq!(resets(&at(&foo, 50 * MIN)), 3.0);
    assert_eq!(changes(&at(&foo, 20 * MIN)), 2.0);
    assert_eq!(changes(&at(&bar, 30 * MIN)), 4.0);
    assert_eq!(changes(&at(&foo, 50 * MIN)), 7.0);
    assert_eq!(changes(&at(&bar, 50 * MIN)), 8.0);
    assert_eq!(changes(&at(&biz, 50 * MIN)), 1.0);
    assert_eq!(changes(&at(&foo, 6 * MIN)), 0.0);
    let all_nan = series(5 * MIN, &[f64::NAN; 3]);
    assert_eq!(changes(&all_nan), 0.0);
    let around_nan = series(5 * MIN, &[0.0, f64::NAN, 0.0]);
    assert_eq!(changes(&around_nan), 2.0);
    assert_eq!(resets(&around_nan), 0.0, "NaN compares false");
    assert_eq!(samples_function("resets").map(|f| f(&[])), Some(None));
}

#[test]
fn deriv_and_predict_linear() {
    let middle = series(
        5 * MIN,
        &concat(&[expand(0.0, 10.0, 4), expand(0.0, 10.0, 5)]),
    );
    let (w, _, _) = window(&middle, 50 * MIN, 100 * MIN, 0);
    assert_close(deriv(&w), 0.010606060606060607);
    let requests = series(5 * MIN, &expand(0.0, 80.0, 10));
    let (w, _, _) = window(&requests, 50 * MIN, 50 * MIN, 0);
    assert_close(deriv(&w), 0.26666666666666666);

    // y = 0 10 20 30 40 0 10 20 30 40 50 at x = 0..3000s: slope 7/660,
    // intercept 6.8181... at t=0 (see functions.test).
    let (w, _, _) = window(&middle, 50 * MIN, 50 * MIN, 0);
    assert_close(predict_linear(&w, 50 * MIN, 3600.0), 70.0);
    // `@ 3000` fixes the window, the evaluation time still moves the
    // intercept.
    let (w, _, _) = window(&middle, 3_000_000, 55 * MIN, 0);
    assert_close(predict_linear(&w, 50 * MIN, 3600.0), 76.81818181818181);
    assert_close(predict_linear(&w, 10 * MIN, 3600.0), 51.36363636363637);
    assert_close(predict_linear(&w, 70 * MIN, 3600.0), 89.54545454545455);
    assert_eq!(deriv(&w[..1]), None);
    assert_eq!(predict_linear(&w[..1], 0, 1.0), None);
}

#[test]
fn linear_regression_of_constant_series_is_exact() {
    let constant = series(10_000, &[1.5990505637277868; 5]);
    assert_eq!(linear_regression(&constant, 0), (0.0, 1.5990505637277868));
    let inf = series(10_000, &[f64::INFINITY; 3]);
    assert!(deriv(&inf).is_some_and(f64::is_nan));
    let mixed = series(10_000, &[f64::NEG_INFINITY, 0.0, f64::INFINITY]);
    assert!(deriv(&mixed).is_some_and(f64::is_nan));
}

#[test]
fn double_exponential_smoothing_follows_linear_trends() {
    let cases = [(10.0, 8000.0), (-20.0, -16000.0), (40.0, 32000.0)];
    for (slope, want) in cases {
        let values: Vec<f64> = (0..=800).map(|i| slope * i as f64).collect();
        let (w, _, _) = window(&series(10_000, &values), 8_000_000, MIN, 0);
        assert_eq!(w.len(), 6);
        let got = double_exponential_smoothing(&w, 0.01, 0.1).expect("valid factors");
        assert_close(got, want);
    }
}

#[test]
fn double_exponential_smoothing_rejects_factors_outside_the_unit_interval() {
    let two = series(1000, &[1.0, 2.0]);
    assert_eq!(
        double_exponential_smoothing(&two, 1.0, 0.5),
        Err(FunctionError::InvalidSmoothingFactor(1.0))
    );
    assert_eq!(
        double_exponential_smoothing(&two[..1], 0.5, 0.0),
        Err(FunctionError::InvalidTrendFactor(0.0)),
        "checked before the sample count"
    );
    assert_eq!(double_exponential_smoothing(&two[..1], 0.5, 0.5), Ok(None));
    let nan = double_exponential_smoothing(&two, f64::NAN, 0.5).expect("NaN passes");
    assert!(nan.is_some_and(f64::is_nan));
    // s1 = 0.5*2 + 0.5*(1 + 1) = 2.
    assert_eq!(double_exponential_smoothing(&two, 0.5, 0.5), Ok(Some(2.0)));
}
