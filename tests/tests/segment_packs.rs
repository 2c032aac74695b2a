//! Segment packs (ADR 0033): the compactor merges the newest segments into
//! one indexed object within seconds; a querier that starts cold reads the
//! packs' indexes and the groups of the metric names it selects, plus the
//! segments no pack holds (new ones, and one that became visible late
//! inside a pack's range), and answers exactly what the segments hold; a
//! head catching up reads each pack whole instead of its segments.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stratus_codec::SegmentBuilder;
use stratus_compactor::{Compactor, CompactorConfig, CompactorMetrics};
use stratus_model::{Clock, LabelMatcher, Labels, Sample, SystemClock, TenantId, TimeRange};
use stratus_query::{BucketSource, BucketSourceOptions, SeriesSource};
use stratus_storage::{catalog, Bucket, RequestCounts, RequestStats};

const HOSTS: usize = 20;

fn series(name: &str, host: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", name.to_string()),
        ("host", format!("host-{host:03}")),
    ])
    .expect("labels")
}

/// What the test wrote, per series: (t, v) in write order of segments,
/// later writes winning on equal times.
type Model = BTreeMap<Labels, BTreeMap<i64, f64>>;

/// A segment written at ULID (`ms`, `rand`) with one sample of every
/// host's `node_load1` and `node_cpu` at `t`, value `v`.
async fn put_segment(
    bucket: &Bucket,
    tenant: &TenantId,
    model: &mut Model,
    (ms, rand): (i64, u128),
    t: i64,
    v: f64,
) {
    let mut b = SegmentBuilder::new(tenant);
    let mut all: Vec<Labels> = (0..HOSTS)
        .flat_map(|h| [series("node_load1", h), series("node_cpu", h)])
        .collect();
    all.sort();
    for l in &all {
        b.add_series(l, &[Sample::new(t, v)]).expect("series");
        model.entry(l.clone()).or_default().insert(t, v);
    }
    let id = ulid::Ulid::from_parts(ms as u64, rand);
    stratus_tests::segments::put(bucket, tenant, id, b).await;
}

/// Segments `ns`: segment `n` written at `base + n` s with samples at
/// `base + n * 15 s`, value `n`.
async fn put_run(
    bucket: &Bucket,
    tenant: &TenantId,
    model: &mut Model,
    base: i64,
    ns: std::ops::Range<i64>,
) {
    for n in ns {
        let id = (base + n * 1_000, n as u128);
        put_segment(bucket, tenant, model, id, base + n * 15_000, n as f64).await;
    }
}

async fn counted<T>(f: impl std::future::Future<Output = T>) -> (T, RequestCounts) {
    let stats = Arc::new(RequestStats::default());
    let out = RequestStats::scope(stats.clone(), f).await;
    (out, stats.counts())
}

fn source(bucket: &Bucket) -> BucketSource {
    BucketSource::new(
        bucket.clone(),
        BucketSourceOptions {
            listing_ttl: Duration::ZERO,
            ..BucketSourceOptions::default()
        },
    )
}

fn expected(model: &Model, matchers: &[LabelMatcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
    model
        .iter()
        .filter(|(l, _)| matchers.iter().all(|m| m.matches(l)))
        .map(|(l, s)| (l.clone(), s.iter().map(|(&t, &v)| (t, v)).collect()))
        .collect()
}

fn answer(found: Vec<stratus_query::Series>) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out: Vec<_> = found
        .into_iter()
        .map(|s| (s.labels, s.samples.iter().map(|x| (x.t, x.v)).collect()))
        .collect();
    out.sort_by(|a: &(Labels, Vec<(i64, f64)>), b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn a_cold_querier_reads_pack_indexes_and_groups_and_a_warm_one_packs_whole() {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let now = SystemClock.now_ms();
    let base = now - 2_000_000;
    let mut model = Model::new();
    // 100 segments: more than a query reads one by one.
    put_run(&bucket, &tenant, &mut model, base, 0..100).await;
    let compactor = Compactor::new(
        bucket.clone(),
        CompactorConfig::default(),
        CompactorMetrics::new(&mut prometheus_client::registry::Registry::default()),
    );
    let packed = compactor.pack_once(now).await.expect("pack");
    assert_eq!((packed.packs_written, packed.segments_packed), (1, 100));
    let cat = catalog::load(&bucket, &tenant).await.expect("catalog");
    assert_eq!(cat.catalog.packs.len(), 1);
    assert_eq!(cat.catalog.packs[0].segments, 100);

    // Written after the pack: two new segments, and one that became
    // visible late with a ULID inside the pack's range (a rewrite of an
    // old timestamp and a new one).
    put_run(&bucket, &tenant, &mut model, base, 100..102).await;
    put_segment(
        &bucket,
        &tenant,
        &mut model,
        (base + 50_500, 5_000),
        base + 50 * 15_000 + 1,
        -1.0,
    )
    .await;

    let all = TimeRange::new(base - 1, now);
    let one = [
        LabelMatcher::equal("__name__", "node_load1"),
        LabelMatcher::equal("host", "host-007"),
    ];
    let cold = source(&bucket);
    let (found, counts) = counted(cold.select(&tenant, &one, all)).await;
    let found = answer(found.expect("cold select"));
    assert_eq!(found, expected(&model, &one));
    assert_eq!(found[0].1.len(), 103);
    // The catalog, the pack's index (its range shows one segment more
    // than it holds), its node_load1 group and the three segments no pack
    // holds: not 103 segments.
    assert_eq!(counts.gets, 6, "{counts:?}");

    // Lookups without matchers come from the index and those segments.
    let hosts = cold
        .label_values(&tenant, "host", &[], all)
        .await
        .expect("values");
    assert_eq!(hosts.len(), HOSTS);
    let names = cold
        .label_values(&tenant, "__name__", &[], all)
        .await
        .expect("names");
    assert_eq!(
        names,
        vec!["node_cpu".to_string(), "node_load1".to_string()]
    );

    // A head brought up to date at once (metadata syncs it) reads the pack
    // whole, not its segments, and answers the same.
    let warm = source(&bucket);
    let (synced, counts) = counted(warm.metadata(&tenant)).await;
    synced.expect("sync");
    // The catalog, the pack's index, the pack, the three other segments.
    assert_eq!(counts.gets, 6, "{counts:?}");
    let every = [LabelMatcher::regex("__name__", "node_.*", false).expect("regex")];
    let cold_all = answer(
        source(&bucket)
            .select(&tenant, &every, all)
            .await
            .expect("cold"),
    );
    let warm_all = answer(warm.select(&tenant, &every, all).await.expect("warm"));
    assert_eq!(cold_all, expected(&model, &every));
    assert_eq!(warm_all, cold_all);
    assert_eq!(warm.head_stats().series, 2 * HOSTS);
}

#[tokio::test]
async fn packs_are_retired_with_the_segments_blocks_hold() {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let now = SystemClock.now_ms();
    // Segments written three hours ago: old enough to compact into blocks.
    let base = now - 3 * 3_600_000;
    let mut model = Model::new();
    put_run(&bucket, &tenant, &mut model, base, 0..10).await;
    let compactor = Compactor::new(
        bucket.clone(),
        CompactorConfig {
            delete_delay: Duration::ZERO,
            ..CompactorConfig::default()
        },
        CompactorMetrics::new(&mut prometheus_client::registry::Registry::default()),
    );
    compactor.pack_once(now).await.expect("pack");
    let packs_prefix = stratus_storage::keys::packs_prefix(&tenant);
    assert_eq!(bucket.list(&packs_prefix).await.expect("list").len(), 1);
    // Nothing new: no second pack.
    let again = compactor.pack_once(now).await.expect("pack");
    assert_eq!(again.packs_written, 0);

    compactor.run_once(now).await.expect("compact");
    let cat = catalog::load(&bucket, &tenant).await.expect("catalog");
    assert!(cat.catalog.packs.is_empty(), "{:?}", cat.catalog.packs);
    assert!(cat.catalog.segment_watermark_ms > base + 9_000);
    // Deleted once due (no delay here), as the segments are.
    assert!(bucket.list(&packs_prefix).await.expect("list").is_empty());

    // Answers come from the blocks alone, unchanged.
    let every = [LabelMatcher::regex("__name__", "node_.*", false).expect("regex")];
    let found = answer(
        source(&bucket)
            .select(&tenant, &every, TimeRange::new(base - 1, now))
            .await
            .expect("select"),
    );
    assert_eq!(found, expected(&model, &every));
}
