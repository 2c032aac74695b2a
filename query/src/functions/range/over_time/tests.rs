//! Hand-worked expectations, many mirroring Prometheus's `functions.test`.

use stratus_model::Sample;

use super::*;
use crate::functions::range::SamplesFn;

const BIG: f64 = 9.988_465_674_311_58e307;
const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn samples(values: &[f64]) -> Vec<Sample> {
    (0..)
        .zip(values)
        .map(|(i, v)| Sample::new(i * 10_000, *v))
        .collect()
}

fn avg(values: &[f64]) -> f64 {
    avg_over_time(&samples(values)).expect("a value")
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn empty_windows_have_no_output() {
    let none: [Sample; 0] = [];
    let fns: [SamplesFn; 10] = [
        avg_over_time,
        sum_over_time,
        count_over_time,
        last_over_time,
        present_over_time,
        max_over_time,
        min_over_time,
        stddev_over_time,
        stdvar_over_time,
        mad_over_time,
    ];
    for f in fns {
        assert_eq!(f(&none), None);
    }
    assert_eq!(quantile_over_time(0.5, &none), None);
}

#[test]
fn avg_over_time_handles_infinities_and_overflow() {
    let cases: [(&[f64], f64); 13] = [
        (&[1.0, 2.0, 3.0, 4.0, 5.0], 3.0),
        (&[1.0, 2.0, 3.0, 4.0, INF], INF),
        (&[1.0, 2.0, 3.0, 4.0, -INF], -INF),
        (&[1.0, 2.0, 3.0, INF, -INF], NAN),
        (&[INF, 0.0, INF], INF),
        (&[INF, INF, INF, -INF], NAN),
        (&[1.0, 2.0, 3.0, -INF, -INF], -INF),
        (&[-INF, 0.0, -INF], -INF),
        (&[-INF, -INF, -INF, INF], NAN),
        (&[1.0, 2.0, -INF, -INF, INF], NAN),
        // The sum overflows; the incremental mean does not.
        (&[BIG, BIG], BIG),
        (&[-BIG, -BIG, -BIG], -BIG),
        (&[-BIG, BIG], 0.0),
    ];
    for (values, want) in cases {
        assert!(
            same(avg(values), want),
            "avg_over_time{values:?} = {}",
            avg(values)
        );
    }
}

#[test]
fn avg_and_sum_over_time_are_compensated() {
    // Kahan: 1 + 1e100 + 1 - 1e100 keeps the two ones.
    assert_eq!(avg(&[1.0, 1e100, 1.0, -1e100]), 0.5);
    assert_eq!(
        sum_over_time(&samples(&[1.0, 1e100, 1.0, -1e100])),
        Some(2.0)
    );
    assert_eq!(sum_over_time(&samples(&[1e100, 1.0, -1e100])), Some(1.0));
    assert_eq!(sum_over_time(&samples(&[BIG, BIG])), Some(INF));
    assert_eq!(
        sum_over_time(&samples(&[INF, -INF])).map(f64::is_nan),
        Some(true)
    );
    // Summing starts at +0, so a lone -0 becomes +0.
    assert!(sum_over_time(&samples(&[-0.0])).is_some_and(|v| v.is_sign_positive()));
    let ones = samples(&[52.0; 13]);
    assert_eq!(avg_over_time(&ones), Some(52.0));
}

#[test]
fn min_max_skip_nan_unless_all_nan() {
    let mixed = samples(&[NAN, 1.0, NAN, 2.0, 0.5]);
    assert_eq!(max_over_time(&mixed), Some(2.0));
    assert_eq!(min_over_time(&mixed), Some(0.5));
    assert_eq!(max_over_time(&samples(&[1.0, NAN])), Some(1.0));
    assert!(max_over_time(&samples(&[NAN, NAN])).is_some_and(f64::is_nan));
    assert_eq!(min_over_time(&samples(&[3.0, -INF, 1.0])), Some(-INF));
}

#[test]
fn count_last_present() {
    let s = samples(&[3.0, NAN, 7.0]);
    assert_eq!(count_over_time(&s), Some(3.0));
    assert_eq!(last_over_time(&s), Some(7.0));
    assert_eq!(present_over_time(&s), Some(1.0));
}

#[test]
fn variance_over_time() {
    let s = samples(&[0.0, 8.0, 8.0, 2.0, 3.0]);
    // Mean 4.2; squared deviations 17.64 14.44 14.44 4.84 1.44 sum to 52.8.
    let var = stdvar_over_time(&s).expect("a value");
    assert!((var - 10.56).abs() < 1e-12, "{var}");
    let dev = stddev_over_time(&s).expect("a value");
    assert!((dev - 10.56f64.sqrt()).abs() < 1e-12);
    let constant = samples(&[1.5990505637277868; 3]);
    assert_eq!(stdvar_over_time(&constant), Some(0.0));
    assert_eq!(stddev_over_time(&samples(&[5.0])), Some(0.0));
    assert!(stdvar_over_time(&samples(&[1.0, INF])).is_some_and(f64::is_nan));
}

#[test]
fn quantile_and_mad_over_time() {
    let two = samples(&[0.0, 1.0]);
    let three = samples(&[0.0, 1.0, 2.0]);
    let uneven = samples(&[0.0, 1.0, 4.0]);
    assert_eq!(quantile_over_time(0.8, &two), Some(0.8));
    assert_eq!(quantile_over_time(0.75, &three), Some(1.5));
    assert_eq!(quantile_over_time(0.5, &uneven), Some(1.0));
    assert_eq!(quantile_over_time(0.75, &uneven), Some(2.5));
    assert_eq!(quantile_over_time(-1.0, &two), Some(-INF));
    assert_eq!(quantile_over_time(2.0, &two), Some(INF));
    assert!(quantile_over_time(NAN, &two).is_some_and(f64::is_nan));
    // (0, 70s] of 4 6 2 1 999 1 2: median 2, deviations 4 0 1 997 1 0.
    let mad = samples(&[6.0, 2.0, 1.0, 999.0, 1.0, 2.0]);
    assert_eq!(mad_over_time(&mad), Some(1.0));
}
