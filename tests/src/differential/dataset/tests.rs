//! Tests of the dataset generator.

use super::*;

#[test]
fn timestamps_avoid_whole_seconds_and_the_evaluation_millisecond() {
    let d = Dataset::generate(7, 1_700_000_040_000);
    for (_, samples) in &d.series {
        assert!(samples.windows(2).all(|w| w[0].0 < w[1].0));
        for &(t, _) in samples {
            let ms = t.rem_euclid(1000);
            assert!(ms != 0 && ms != EVAL_MS, "{t}");
        }
    }
    assert!(d.series.len() > 200, "{} series", d.series.len());
}

#[test]
fn is_deterministic_and_batches_keep_every_sample_in_order() {
    let (a, b) = (Dataset::generate(3, 60_000), Dataset::generate(3, 60_000));
    assert_eq!(a.series.len(), b.series.len());
    for (x, y) in a.series.iter().zip(&b.series) {
        assert_eq!(x.0, y.0);
        let bits = |s: &[(i64, f64)]| s.iter().map(|p| (p.0, p.1.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&x.1), bits(&y.1));
    }
    let total: usize = a.series.iter().map(|s| s.1.len()).sum();
    let batches = a.batches(10);
    let in_batches: usize = batches.iter().flatten().map(|s| s.1.len()).sum();
    assert_eq!(total, in_batches);
    let mut last: std::collections::HashMap<&Vec<(String, String)>, i64> = Default::default();
    for (labels, samples) in batches.iter().flatten() {
        let prev = last.insert(labels, samples[samples.len() - 1].0);
        assert!(prev.is_none_or(|p| p < samples[0].0));
    }
}

#[test]
fn histograms_are_cumulative() {
    let d = Dataset::generate(11, 0);
    let buckets: Vec<_> = d
        .series
        .iter()
        .filter(|(l, _)| {
            l.iter()
                .any(|(n, v)| n == "instance" && v == "10.0.1.1:8080")
        })
        .filter(|(l, _)| l[0].1 == "dt_request_duration_seconds_bucket")
        .collect();
    assert_eq!(buckets.len(), REQUEST_BUCKETS.len());
    for w in buckets.windows(2) {
        for (a, b) in w[0].1.iter().zip(&w[1].1) {
            assert_eq!(a.0, b.0);
            assert!(a.1 <= b.1);
        }
    }
}
