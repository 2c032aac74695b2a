//! Engine settings that change answers: delayed `__name__` removal.

use super::*;
use crate::source::MemorySource;

const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("valid labels")
}

/// A series and its value at the i-th sample.
type Generated = (Labels, fn(i64) -> f64);

/// Two counters that differ only by name (growing 60 and 120 a sample)
/// and an `up` series at 1; a sample every 5 minutes for an hour.
fn engine(opts: EngineOptions) -> Engine {
    let mem = MemorySource::new();
    let t = TenantId::anonymous();
    let series: [Generated; 3] = [
        (labels(&[("__name__", "metric_total"), ("env", "1")]), |i| {
            i as f64 * 60.0
        }),
        (
            labels(&[("__name__", "another_metric_total"), ("env", "1")]),
            |i| i as f64 * 120.0,
        ),
        (
            labels(&[("__name__", "up"), ("instance", "a"), ("job", "api")]),
            |_| 1.0,
        ),
    ];
    for (l, value) in series {
        let samples: Vec<Sample> = (0..=12)
            .map(|i| Sample::new(i * 5 * MIN, value(i)))
            .collect();
        mem.add(&t, l, &samples);
    }
    Engine::new(Arc::new(mem), opts)
}

/// An instant query at 52m, off the sample grid.
async fn instant(e: &Engine, q: &str) -> Result<Vec<(Labels, f64)>, QueryError> {
    let r = e.instant(&TenantId::anonymous(), q, 52 * MIN).await?;
    match r.value {
        QueryValue::Vector(v) => Ok(v.into_iter().map(|(l, s)| (l, s.v)).collect()),
        other => panic!("{q}: not a vector: {other:?}"),
    }
}

fn delayed() -> EngineOptions {
    EngineOptions {
        delayed_name_removal: true,
        ..EngineOptions::default()
    }
}

#[tokio::test]
async fn delayed_name_removal_is_off_by_default_and_on_with_the_option() {
    assert!(!EngineOptions::default().delayed_name_removal);
    let default = engine(EngineOptions::default());
    let delayed = engine(delayed());

    // By default rate() removes the name at once: label_replace finds none.
    let q = r#"label_replace(rate(metric_total[10m]), "src", "$1", "__name__", "(.+)")"#;
    let got = instant(&default, q).await.expect("answers");
    assert_eq!(got, [(labels(&[("env", "1")]), 0.2)]);
    let got = instant(&delayed, q).await.expect("answers");
    assert_eq!(
        got,
        [(labels(&[("env", "1"), ("src", "metric_total")]), 0.2)]
    );

    // Two metrics whose names rate() drops collide where it is evaluated;
    // with delayed removal the sum still tells them apart.
    let q = r#"sum by (env) (rate({env="1"}[10m]))"#;
    let err = instant(&default, q).await.expect_err("same label set");
    assert!(
        err.to_string()
            .ends_with("vector cannot contain metrics with the same labelset"),
        "{err}"
    );
    let got = instant(&delayed, q).await.expect("answers");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, labels(&[("env", "1")]));
    assert!((got[0].1 - 0.6).abs() < 1e-9, "{got:?}");

    // Either way the answer carries no name where the name was dropped.
    for e in [&default, &delayed] {
        let got = instant(e, "rate(metric_total[10m])")
            .await
            .expect("answers");
        assert_eq!(got, [(labels(&[("env", "1")]), 0.2)]);
    }
}

#[tokio::test]
async fn one_to_one_matching_on_keeps_only_the_on_labels() {
    for opts in [EngineOptions::default(), delayed()] {
        let e = engine(opts);
        let on = labels(&[("instance", "a"), ("job", "api")]);
        for q in [
            "up == on(instance, job) up",
            "up == bool on(instance, job) up",
            "up + on(instance, job) up",
        ] {
            let got = instant(&e, q).await.expect("answers");
            assert_eq!(got.len(), 1, "{q}: {got:?}");
            assert_eq!(got[0].0, on, "{q}");
        }
        // A name listed in on(...) stays for a filtering comparison.
        let got = instant(&e, "up == on(__name__, instance) up")
            .await
            .expect("answers");
        assert_eq!(
            got,
            [(labels(&[("__name__", "up"), ("instance", "a")]), 1.0)]
        );
    }
}

#[test]
fn features_are_enabled_by_their_prometheus_names() {
    let mut o = EngineOptions::default();
    let unknown = o.enable_features(["exemplar-storage,promql-delayed-name-removal", "", " x "]);
    assert!(o.delayed_name_removal);
    assert_eq!(unknown, ["exemplar-storage", "x"]);
    let mut o = EngineOptions::default();
    assert!(o.enable_features(["promql-per-step-stats"]).is_empty());
    assert!(o.per_step_stats);
    assert!(!o.delayed_name_removal);
}
