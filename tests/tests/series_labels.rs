//! The series, labels and label-values APIs list series from the label and
//! time pages of blocks, without their chunks: the same series as reading
//! the samples, for a fraction of the bytes, and from a cache the second
//! time.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
use stratus_model::{LabelMatcher, Labels, TenantId, TimeRange};
use stratus_query::{BucketSource, SeriesSource};
use stratus_storage::{catalog, Bucket, RequestStats};

use stratus_tests::lookup_world::{delete_job, world, D, H, INSTANCES, MIN};

/// A source that keeps the catalog for an hour: nothing changes it here
/// unless a test says so.
fn source(bucket: &Bucket) -> BucketSource {
    stratus_tests::lookup_world::source(bucket, Duration::from_secs(3600))
}

/// Compares the lookup with the labels of the series `select` reads, for
/// every range and matcher set: equal but for flappy series, which may be
/// listed in a block where they skip the range.
async fn compare(src: &BucketSource, tenant: &TenantId, ranges: &[TimeRange]) {
    let matchers = [
        vec![],
        vec![LabelMatcher::equal("__name__", "up")],
        vec![
            LabelMatcher::equal("__name__", "node_load1"),
            LabelMatcher::not_equal("job", "steady"),
        ],
        vec![LabelMatcher::regex("job", "ea.*|late", false).expect("re")],
    ];
    for &r in ranges {
        for m in &matchers {
            let got = src.series_labels(tenant, m, r).await.expect("labels");
            let want: Vec<Labels> = src
                .select(tenant, m, r)
                .await
                .expect("select")
                .into_iter()
                .map(|s| s.labels)
                .collect();
            let extra: Vec<&Labels> = got.iter().filter(|l| !want.contains(l)).collect();
            assert!(
                extra.iter().all(|l| l.get("job") == Some("flappy")),
                "{m:?} {r:?}: listed without samples: {extra:?}"
            );
            assert!(
                want.iter().all(|l| got.contains(l)),
                "{m:?} {r:?}: missing; got {:?}, want {:?}",
                jobs(&got),
                jobs(&want)
            );
        }
    }
}

fn jobs(found: &[Labels]) -> Vec<String> {
    let mut out: Vec<String> = found
        .iter()
        .filter_map(|l| l.get("job").map(str::to_string))
        .collect();
    out.dedup();
    out
}

#[tokio::test]
async fn series_labels_match_the_series_that_have_samples() {
    let w = world().await;
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(
        cat.blocks.len() >= 2,
        "the data is in blocks: {:?}",
        cat.blocks
    );
    let src = source(&w.bucket);
    let b = w.base;
    let ranges = [
        // Everything, blocks and segments.
        TimeRange::new(b - D, b + 4 * D),
        // Whole blocks, and parts of blocks.
        TimeRange::new(b, b + D - 1),
        TimeRange::new(b + 19 * H, b + 21 * H),
        TimeRange::new(b + 30 * H + 7 * MIN, b + 36 * H),
        TimeRange::new(b + 2 * D + 5 * H, b + 3 * D),
        // flappy is off from minute 120 to 300 of each 5 hours.
        TimeRange::new(b + 2 * H + 10 * MIN, b + 4 * H + 50 * MIN),
    ];
    compare(&src, &w.tenant, &ranges).await;
    // Spot checks of who is there.
    let all = |r: TimeRange| {
        let src = &src;
        let t = w.tenant.clone();
        async move {
            let mut j = jobs(&src.series_labels(&t, &[], r).await.expect("labels"));
            j.sort();
            j.dedup();
            j
        }
    };
    assert_eq!(
        all(TimeRange::new(b, b + H)).await,
        ["early", "flappy", "steady"]
    );
    assert_eq!(
        all(TimeRange::new(b + 2 * D, b + 3 * D)).await,
        ["flappy", "late", "steady"]
    );
}

#[tokio::test]
async fn series_labels_read_a_fraction_of_the_bytes_and_are_cached() {
    let w = world().await;
    let r = TimeRange::new(w.base, w.base + 2 * D - 1);
    let cost = |labels: bool| {
        let bucket = w.bucket.clone();
        let tenant = w.tenant.clone();
        async move {
            let src = source(&bucket);
            // Footers, the catalog and the segments read first: only
            // what the lookup itself reads counts.
            let none = [LabelMatcher::equal("__name__", "absent")];
            src.select(&tenant, &none, r).await.expect("warm up");
            let stats = Arc::new(RequestStats::default());
            let n = RequestStats::scope(stats.clone(), async {
                if labels {
                    src.series_labels(&tenant, &[], r)
                        .await
                        .expect("labels")
                        .len()
                } else {
                    src.select(&tenant, &[], r).await.expect("select").len()
                }
            })
            .await;
            (n, stats.counts().get_bytes, src)
        }
    };
    let (n_labels, labels_bytes, src) = cost(true).await;
    let (n_select, select_bytes, _) = cost(false).await;
    println!("series lookup: {labels_bytes} bytes; reading the samples: {select_bytes} bytes");
    assert_eq!(n_labels, n_select);
    assert!(
        labels_bytes * 3 < select_bytes,
        "labels {labels_bytes} bytes, samples {select_bytes} bytes"
    );
    // The same lookup again: the blocks' label sets are cached.
    let stats = Arc::new(RequestStats::default());
    let again = RequestStats::scope(stats.clone(), src.series_labels(&w.tenant, &[], r))
        .await
        .expect("labels");
    assert_eq!(again.len(), n_labels);
    assert_eq!(stats.counts().get_bytes, 0, "{:?}", stats.counts());
}

/// Where raw blocks are gone (retention), the rollup blocks' label pages
/// answer, as rollups answer queries there.
#[tokio::test]
async fn series_labels_come_from_rollups_where_raw_data_is_gone() {
    let w = world().await;
    Compactor::new(
        w.bucket.clone(),
        CompactorConfig {
            retention_raw: Duration::from_secs(2 * 24 * 3600),
            ..CompactorConfig::default()
        },
        CompactorMetrics::new(&mut Registry::default()),
    )
    .run_once(w.base + 3 * D + H)
    .await
    .expect("compaction pass");
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    let day0 = TimeRange::new(w.base, w.base + D - 1);
    assert!(
        !cat.blocks
            .iter()
            .any(|b| b.resolution_ms == 0 && b.min_time < day0.max && b.max_time > day0.min),
        "raw blocks of day 0 are gone"
    );
    assert!(cat
        .blocks
        .iter()
        .any(|b| b.resolution_ms > 0 && b.min_time <= day0.min));
    let src = source(&w.bucket);
    compare(
        &src,
        &w.tenant,
        &[
            day0,
            TimeRange::new(w.base + 19 * H, w.base + 21 * H),
            TimeRange::new(w.base + 22 * H, w.base + 26 * H),
        ],
    )
    .await;
    let mut day0_jobs = jobs(
        &src.series_labels(&w.tenant, &[], day0)
            .await
            .expect("labels"),
    );
    day0_jobs.sort();
    day0_jobs.dedup();
    assert_eq!(day0_jobs, ["early", "flappy", "steady"]);
}

/// With a delete request over the range, the samples decide: a series
/// whose samples there are all deleted is not listed, even by a source
/// that has the blocks' label sets cached.
#[tokio::test]
async fn deleted_series_are_not_listed() {
    let w = world().await;
    let r = TimeRange::new(w.base, w.base + 2 * D - 1);
    // Reads the catalog every time.
    let src = stratus_tests::lookup_world::source(&w.bucket, Duration::ZERO);
    let before = src.series_labels(&w.tenant, &[], r).await.expect("labels");
    assert!(jobs(&before).contains(&"early".to_string()));
    delete_job(&w, "early").await;
    let after = src.series_labels(&w.tenant, &[], r).await.expect("labels");
    assert!(
        !jobs(&after).contains(&"early".to_string()),
        "{:?}",
        jobs(&after)
    );
    assert_eq!(after.len(), before.len() - 2 * INSTANCES as usize);
}
