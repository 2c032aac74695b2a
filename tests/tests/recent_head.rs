//! The head of recent segments (ADR 0030): a querier reads each segment at
//! or above the catalog's watermark once, never one below it, and answers
//! later queries from memory.

use std::sync::Arc;
use std::time::Duration;

use stratus_codec::SegmentBuilder;
use stratus_model::{Clock, LabelMatcher, Labels, Sample, SystemClock, TenantId, TimeRange};
use stratus_query::{BucketSource, BucketSourceOptions, SeriesSource};
use stratus_storage::{catalog, Bucket, RequestCounts, RequestStats};

fn series(host: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "node_load1".to_string()),
        ("host", format!("host-{host:03}")),
    ])
    .expect("labels")
}

/// Segment `n`, written at `base + n` s, with one sample of each of 50
/// hosts at `base + n * 15 s`.
async fn put_segment(bucket: &Bucket, tenant: &TenantId, base: i64, n: i64) {
    let mut b = SegmentBuilder::new(tenant);
    let mut all: Vec<Labels> = (0..50).map(series).collect();
    all.sort();
    for l in &all {
        b.add_series(l, &[Sample::new(base + n * 15_000, n as f64)])
            .expect("series");
    }
    let id = ulid::Ulid::from_parts((base + n * 1_000) as u64, n as u128);
    stratus_tests::segments::put(bucket, tenant, id, b).await;
}

async fn counted<T>(f: impl std::future::Future<Output = T>) -> (T, RequestCounts) {
    let stats = Arc::new(RequestStats::default());
    let out = RequestStats::scope(stats.clone(), f).await;
    (out, stats.counts())
}

#[tokio::test]
async fn segments_are_read_once_and_never_below_the_watermark() {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let now = SystemClock.now_ms();
    let base = now - 3_600_000;
    for n in 0..20 {
        put_segment(&bucket, &tenant, base, n).await;
    }
    // Segments 0..10 are held by blocks (none here, so their samples must
    // not show up at all).
    let versioned = catalog::load(&bucket, &tenant).await.expect("catalog");
    let mut cat = versioned.catalog.clone();
    cat.segment_watermark_ms = base + 10 * 1_000;
    catalog::commit(&bucket, &tenant, &versioned, &cat)
        .await
        .expect("commit");

    let src = BucketSource::new(
        bucket.clone(),
        BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..BucketSourceOptions::default()
        },
    );
    let all = TimeRange::new(base - 1, now);
    let one = [
        LabelMatcher::equal("__name__", "node_load1"),
        LabelMatcher::equal("host", "host-007"),
    ];
    let (found, counts) = counted(src.select(&tenant, &one, all)).await;
    let found = found.expect("select");
    assert_eq!(found.len(), 1);
    let times: Vec<i64> = found[0].samples.iter().map(|s| s.t).collect();
    let expected: Vec<i64> = (10..20).map(|n| base + n * 15_000).collect();
    assert_eq!(times, expected, "only segments at or above the watermark");
    // The catalog and the ten segments above the watermark.
    assert_eq!(counts.gets, 11, "{counts:?}");

    // Again: only the catalog; nothing new to read.
    let (again, counts) = counted(src.select(&tenant, &one, all)).await;
    assert_eq!(again.expect("select"), found);
    assert_eq!(counts.gets, 1, "{counts:?}");

    // A new segment: read once, then seen by every lookup.
    put_segment(&bucket, &tenant, base, 20).await;
    let every = [LabelMatcher::equal("__name__", "node_load1")];
    let (found, counts) = counted(src.select(&tenant, &every, all)).await;
    let found = found.expect("select");
    assert_eq!(found.len(), 50);
    assert!(found.iter().all(|s| s.samples.len() == 11));
    assert_eq!(counts.gets, 2, "{counts:?}");
    let labels = src
        .series_labels(&tenant, &every, all)
        .await
        .expect("labels");
    assert_eq!(labels.len(), 50);

    // The watermark moves past segments 10..15: their samples go from the
    // head (blocks would hold them), nothing is read.
    let versioned = catalog::load(&bucket, &tenant).await.expect("catalog");
    let mut cat = versioned.catalog.clone();
    cat.segment_watermark_ms = base + 15 * 1_000;
    catalog::commit(&bucket, &tenant, &versioned, &cat)
        .await
        .expect("commit");
    let (found, counts) = counted(src.select(&tenant, &one, all)).await;
    let found = found.expect("select");
    assert_eq!(counts.gets, 1, "{counts:?}");
    // The series' one chunk holds samples of newer segments too, so it
    // stays whole; the blocks' copies of its older samples would be equal.
    assert_eq!(found[0].samples.len(), 11);
    assert_eq!(src.head_stats().series, 50);
}

/// `--query-head-bytes`: past it a query fails with a clear 503 cause
/// instead of growing without bound; with room it answers.
#[tokio::test]
async fn the_head_bound_refuses_what_does_not_fit() {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let base = SystemClock.now_ms() - 3_600_000;
    for n in 0..4 {
        put_segment(&bucket, &tenant, base, n).await;
    }
    let with_bound = |head_bytes| {
        BucketSource::new(
            bucket.clone(),
            BucketSourceOptions {
                head_bytes,
                ..BucketSourceOptions::default()
            },
        )
    };
    let every = [LabelMatcher::equal("__name__", "node_load1")];
    let all = TimeRange::new(base - 1, SystemClock.now_ms());
    let small = with_bound(20_000);
    match small.select(&tenant, &every, all).await {
        Err(stratus_query::SourceError::Unavailable(m)) => {
            assert!(m.contains("--query-head-bytes 20000"), "{m}");
        }
        other => panic!("expected the bound to refuse, got {other:?}"),
    }
    let roomy = with_bound(10 << 20);
    let found = roomy.select(&tenant, &every, all).await.expect("select");
    assert_eq!(found.len(), 50);
    let stats = roomy.head_stats();
    assert!(stats.bytes > 0 && stats.bytes <= stats.limit, "{stats:?}");
}
