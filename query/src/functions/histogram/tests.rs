//! Cases mirror Prometheus's `histograms.test` (classic buckets), worked
//! out by hand.

use proptest::prelude::*;

use super::*;

const INF: f64 = f64::INFINITY;

fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
    pairs
        .iter()
        .map(|&(upper_bound, count)| Bucket { upper_bound, count })
        .collect()
}

fn q(q: f64, pairs: &[(f64, f64)]) -> f64 {
    bucket_quantile(q, &mut buckets(pairs)).value
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1.0)
}

/// testhistogram at 50m: positive and negative start.
const POSITIVE: [(f64, f64); 4] = [(0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (INF, 120.0)];
const NEGATIVE: [(f64, f64); 4] = [(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)];

#[test]
fn interpolates_within_buckets() {
    assert_eq!(q(0.0, &POSITIVE), 0.0);
    assert!(close(q(0.2, &POSITIVE), 0.048));
    assert!(close(q(0.5, &POSITIVE), 0.15));
    assert!(close(q(0.8, &POSITIVE), 0.72));
    assert_eq!(
        q(1.0, &POSITIVE),
        1.0,
        "the +Inf bucket gives the next bound down"
    );
    // The lowest bucket has a negative bound: no interpolation from 0.
    assert_eq!(q(0.0, &NEGATIVE), -0.2);
    assert_eq!(q(0.2, &NEGATIVE), -0.2);
    assert!(close(q(0.5, &NEGATIVE), -0.15));
    assert_eq!(q(0.8, &NEGATIVE), 0.3);
    assert_eq!(q(1.0, &NEGATIVE), 0.3);
}

#[test]
fn quantile_outside_unit_interval() {
    assert_eq!(q(-0.1, &POSITIVE), f64::NEG_INFINITY);
    assert_eq!(q(1.01, &POSITIVE), INF);
    assert!(q(f64::NAN, &POSITIVE).is_nan());
    // Checked before the buckets: even a histogram without +Inf.
    assert_eq!(q(2.0, &[(1.0, 1.0)]), INF);
}

#[test]
fn sorts_and_merges_buckets() {
    // Unsorted input and the same bound written twice (0.2 and 2e-1).
    let mixed = [(INF, 4.0), (0.2, 1.0), (0.1, 1.0), (0.2, 1.0), (0.2, 1.0)];
    let mut b = buckets(&mixed);
    let r = bucket_quantile(0.5, &mut b);
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!(
        b[1],
        Bucket {
            upper_bound: 0.2,
            count: 3.0
        }
    );
    // Rank 2 of 4 falls in (0.1, 0.2] holding 2: 0.1 + 0.1 * 1/2.
    assert!(close(r.value, 0.15), "{}", r.value);
    assert!(!r.forced_monotonicity);
    assert!(
        q(0.5, &[(INF, 0.0), (INF, 0.0)]).is_nan(),
        "a single merged bucket"
    );
}

#[test]
fn needs_an_infinite_bucket_and_observations() {
    assert!(q(0.5, &[(0.1, 1.0), (1.0, 2.0)]).is_nan());
    assert!(q(0.5, &[(INF, 5.0)]).is_nan(), "fewer than two buckets");
    assert!(
        q(0.5, &[(0.1, 0.0), (INF, 0.0)]).is_nan(),
        "no observations"
    );
    assert!(bucket_quantile(0.5, &mut Vec::new()).value.is_nan());
}

#[test]
fn forces_monotonicity() {
    let nonmonotonic = [
        (0.1, 20.0),
        (1.0, 10.0),
        (10.0, 50.0),
        (100.0, 40.0),
        (1000.0, 90.0),
        (INF, 80.0),
    ];
    let r = bucket_quantile(0.5, &mut buckets(&nonmonotonic));
    assert!(r.forced_monotonicity);
    assert!(!r.fixed_precision);
    // After fixing: 20 20 50 50 90 90; rank 45 in (1, 10]: 1 + 9 * 25/30.
    assert!(close(r.value, 8.5), "{}", r.value);
    assert!(close(q(0.01, &nonmonotonic), 0.0045));
    assert!(close(q(0.99, &nonmonotonic), 979.75));
}

#[test]
fn ignores_tiny_deltas_without_flagging_monotonicity() {
    let noisy = [(1.0, 1e12), (2.0, 1e12 - 0.5), (INF, 2e12)];
    let r = bucket_quantile(0.25, &mut buckets(&noisy));
    assert!(r.fixed_precision);
    assert!(!r.forced_monotonicity);
    assert!(close(r.value, 0.5));
    // The flags are dropped when the result is NaN for lack of buckets.
    let r = bucket_quantile(0.5, &mut buckets(&[(INF, 1.0), (INF, 0.0)]));
    assert!(r.value.is_nan() && !r.forced_monotonicity && !r.fixed_precision);
}

#[test]
fn almost_equal_like_prometheus() {
    assert!(almost_equal(1.0, 1.0 + 1e-13, 1e-12));
    assert!(!almost_equal(1.0, 1.0 + 1e-11, 1e-12));
    assert!(!almost_equal(0.0, 1e-300, 1e-12));
    assert!(almost_equal(f64::NAN, f64::NAN, 1e-12));
}

#[test]
fn parses_le_like_go() {
    let ok = [
        ("0.1", 0.1),
        (".2", 0.2),
        ("1e0", 1.0),
        ("-0.1", -0.1),
        ("2.0e-1", 0.2),
        ("+Inf", INF),
        ("+inf", INF),
        ("Inf", INF),
        ("-Infinity", f64::NEG_INFINITY),
        ("0x1p-2", 0.25),
        ("0x1.8p1", 3.0),
        ("-0X_1_0p0", -16.0),
        ("5.", 5.0),
    ];
    for (s, want) in ok {
        assert_eq!(parse_bucket_bound(s), Some(want), "{s}");
    }
    assert!(parse_bucket_bound("NaN").is_some_and(f64::is_nan));
    for s in [
        "", "+", "abc", "1e400", "-nan", "0x10", "1_0", " 1", "infin", "0x1__0p0", ".",
    ] {
        assert_eq!(parse_bucket_bound(s), None, "{s:?}");
    }
}

proptest! {
    #[test]
    fn quantile_is_monotone_in_q(
        counts in prop::collection::vec(0.0f64..100.0, 1..10),
        a in 0.0f64..=1.0,
        b in 0.0f64..=1.0,
    ) {
        let mut cumulative = 0.0;
        let mut pairs: Vec<(f64, f64)> = counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cumulative += c;
                (i as f64 + 1.0, cumulative)
            })
            .collect();
        pairs.push((INF, cumulative + 1.0));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let (v_lo, v_hi) = (q(lo, &pairs), q(hi, &pairs));
        prop_assert!(v_lo <= v_hi + 1e-9, "q({lo}) = {v_lo} > q({hi}) = {v_hi}");
    }
}
