//! Cases follow Prometheus's `aggregators.test`, worked out by hand.

use proptest::prelude::*;

use super::*;

const BIG: f64 = 9.988_465_674_311_58e307;
const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn mean(values: &[f64]) -> f64 {
    let mut acc = MeanAcc::default();
    for v in values {
        acc.add(*v);
    }
    acc.value()
}

fn variance(values: &[f64]) -> VarianceAcc {
    let mut acc = VarianceAcc::default();
    for v in values {
        acc.add(*v);
    }
    acc
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn kahan_sum_keeps_small_terms() {
    let mut sum = KahanSum::default();
    for v in [1e100, 1.0, -1e100] {
        sum.add(v);
    }
    assert_eq!(sum.value(), 1.0);
    let mut sum = KahanSum::starting_at(2.0);
    for v in [8.0, 1e100, -1e100] {
        sum.add(v);
    }
    assert_eq!(sum.value(), 10.0);
    let mut overflow = KahanSum::starting_at(BIG);
    overflow.add(BIG);
    overflow.add(-1.0);
    assert_eq!(overflow.value(), INF);
    // -0 + compensation 0 is +0, in Prometheus too.
    assert!(KahanSum::starting_at(-0.0).value().is_sign_positive());
}

#[test]
fn kahan_inc_resets_compensation_on_overflow() {
    assert_eq!(kahan_inc(BIG, BIG, 3.0), (INF, 0.0));
    // Neumaier: the smaller operand's lost low part goes to c.
    assert_eq!(kahan_inc(1.0, 1e100, 0.0), (1e100, 1.0));
    assert_eq!(kahan_inc(1e100, 1.0, 0.0), (1e100, 1.0));
}

#[test]
fn mean_matches_prometheus_avg() {
    let cases: [(&[f64], f64); 12] = [
        (&[8.0, 10.0, 12.0], 10.0),
        (&[0.0, INF, 0.0, INF], INF),
        (&[INF, 0.0, INF], INF),
        (&[INF, INF, -INF], NAN),
        (&[-INF, -INF, 0.0], -INF),
        (&[-INF, 0.0, -INF], -INF),
        (&[-INF, -INF, INF], NAN),
        (&[-INF, 0.0, INF], NAN),
        (&[BIG, BIG, BIG, BIG], BIG),
        (&[-BIG, -BIG, -BIG, -BIG], -BIG),
        (&[-BIG, -BIG, BIG, BIG], 0.0),
        // The direct Kahan sum keeps 2 + 8 through 1e100 - 1e100.
        (&[2.0, 8.0, 1e100, -1e100], 2.5),
    ];
    for (values, want) in cases {
        let got = mean(values);
        assert!(same(got, want), "avg{values:?} = {got}, want {want}");
    }
    assert_eq!(mean(&[INF, 2.0]), INF);
    assert!(mean(&[NAN, 2.0]).is_nan());
    assert!(MeanAcc::default().value().is_nan());
}

#[test]
fn variance_matches_prometheus_stddev() {
    assert_eq!(variance(&[1.0, 2.0]).stdvar(), 0.25);
    assert_eq!(variance(&[1.0, 2.0]).stddev(), 0.5);
    assert_eq!(variance(&[7.0]).stdvar(), 0.0);
    // 100..800: deviations ±50 ±150 ±250 ±350, mean square 52500.
    let requests: Vec<f64> = (1..=8).map(|i| f64::from(i) * 100.0).collect();
    assert_eq!(variance(&requests).stdvar(), 52500.0);
    assert_eq!(variance(&[13.3, 13.3, 13.3]).stddev(), 0.0);
    for values in [
        &[1.0, 2.0, NAN][..],
        &[NAN, 1.0, 2.0],
        &[NAN],
        &[INF],
        &[INF, 1.0],
        &[1.0, 2.0, INF],
    ] {
        assert!(variance(values).stdvar().is_nan(), "{values:?}");
    }
}

#[test]
fn min_max_steps_replace_nan() {
    assert_eq!(max_step(NAN, 1.0), 1.0);
    assert!(max_step(1.0, NAN) == 1.0);
    assert_eq!(min_step(NAN, -1.0), -1.0);
    assert_eq!(min_step(2.0, 1.0), 1.0);
    assert_eq!(max_step(2.0, 1.0), 2.0);
}

#[test]
fn quantile_special_cases() {
    assert!(quantile(0.5, &mut []).is_nan());
    assert!(quantile(NAN, &mut [1.0]).is_nan());
    assert_eq!(quantile(-0.1, &mut [1.0]), -INF);
    assert_eq!(quantile(1.1, &mut [1.0]), INF);
    assert_eq!(quantile(0.8, &mut [1.0, 0.0]), 0.8);
    assert_eq!(quantile(0.0, &mut [3.0, 1.0, 2.0]), 1.0);
    assert_eq!(quantile(1.0, &mut [3.0, 1.0, 2.0]), 3.0);
    // NaN sorts first.
    assert!(quantile(0.0, &mut [2.0, NAN, 1.0]).is_nan());
    assert_eq!(quantile(1.0, &mut [2.0, NAN, 1.0]), 2.0);
    // lower * (1 - w) + upper * w: with w = 0 an infinite upper neighbour
    // gives Inf * 0 = NaN, even when it is the selected value itself.
    assert!(quantile(0.0, &mut [1.0, INF]).is_nan());
    assert!(quantile(1.0, &mut [1.0, INF]).is_nan());
    assert_eq!(quantile(0.5, &mut [1.0, INF]), INF);
}

proptest! {
    #[test]
    fn quantile_is_monotone_in_q(
        values in prop::collection::vec(-1e6f64..1e6, 1..40),
        a in 0.0f64..=1.0,
        b in 0.0f64..=1.0,
    ) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let q_lo = quantile(lo, &mut values.clone());
        let q_hi = quantile(hi, &mut values.clone());
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Interpolation rounding may cost an ulp or so.
        let slack = 1e-9 * (max.abs() + min.abs() + 1.0);
        prop_assert!(q_lo <= q_hi + slack, "q({lo}) = {q_lo} > q({hi}) = {q_hi}");
        prop_assert!(q_lo >= min - slack && q_hi <= max + slack);
    }

    #[test]
    fn kahan_sum_of_integers_is_exact(values in prop::collection::vec(-1_000_000i64..1_000_000, 0..200)) {
        let mut sum = KahanSum::default();
        for v in &values {
            sum.add(*v as f64);
        }
        prop_assert_eq!(sum.value(), values.iter().sum::<i64>() as f64);
    }

    #[test]
    fn mean_of_integers_is_exact(v in -1_000_000i32..1_000_000, n in 1usize..100) {
        let v = f64::from(v);
        prop_assert_eq!(mean(&vec![v; n]), v);
    }
}
