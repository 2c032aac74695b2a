//! Label names and values without matchers come from the blocks' footers
//! and the dictionary pages of their label columns (no data page), per
//! block as Prometheus answers them; they equal what the series path
//! lists, fall back to it under delete requests and, per block, where a
//! column is not wholly dictionary-encoded.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stratus_block::{BlockFooter, BlockOptions};
use stratus_codec::BlockEntry;
use stratus_model::{Clock, LabelMatcher, Labels, Sample, SystemClock, TenantId, TimeRange};
use stratus_query::{BucketSource, SeriesSource};
use stratus_storage::{catalog, BlockKey, Bucket, RequestStats};

use stratus_tests::lookup_world::{delete_job, world, World, D, H, INSTANCES, MIN};

fn source(bucket: &Bucket) -> BucketSource {
    stratus_tests::lookup_world::source(bucket, Duration::from_secs(3600))
}

fn names_of(series: &[Labels]) -> Vec<String> {
    let names: BTreeSet<&str> = series
        .iter()
        .flat_map(|l| l.iter().map(|x| x.name.as_str()))
        .collect();
    names.into_iter().map(String::from).collect()
}

fn values_of(series: &[Labels], name: &str) -> Vec<String> {
    let values: BTreeSet<&str> = series.iter().filter_map(|l| l.get(name)).collect();
    values.into_iter().map(String::from).collect()
}

const NAMES: [&str; 5] = ["__name__", "instance", "job", "zone", "absent"];

/// Names and values without matchers against the series path: equal
/// (`exact`, ranges made of whole blocks), or a superset (a block lists
/// its series where they skip part of the range, as Prometheus's index).
async fn compare(src: &BucketSource, t: &TenantId, r: TimeRange, exact: bool) {
    let series = src.series_labels(t, &[], r).await.expect("series");
    let check = |what: &str, got: Vec<String>, want: Vec<String>| {
        if exact {
            assert_eq!(got, want, "{what} over {r:?}");
        } else {
            assert!(
                want.iter().all(|w| got.contains(w)),
                "{what} over {r:?}: {got:?} misses some of {want:?}"
            );
        }
    };
    let names = src.label_names(t, &[], r).await.expect("names");
    check("names", names, names_of(&series));
    for name in NAMES {
        let got = src.label_values(t, name, &[], r).await.expect("values");
        check(name, got, values_of(&series, name));
    }
    // With a matcher, the series path answers.
    let m = [LabelMatcher::equal("job", "late")];
    let late = src.series_labels(t, &m, r).await.expect("series");
    assert_eq!(
        src.label_values(t, "zone", &m, r).await.expect("values"),
        values_of(&late, "zone")
    );
    assert_eq!(
        src.label_names(t, &m, r).await.expect("names"),
        names_of(&late)
    );
}

#[tokio::test]
async fn names_and_values_from_blocks_equal_the_series_path() {
    let w = world().await;
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    assert!(cat.blocks.len() >= 2, "blocks: {:?}", cat.blocks);
    let src = source(&w.bucket);
    let b = w.base;
    // Everything: blocks and segments.
    compare(&src, &w.tenant, TimeRange::new(b - D, b + 4 * D), true).await;
    // Whole blocks: day 0 only, then days 0 and 1.
    let day0 = TimeRange::new(b, b + D - 1);
    compare(&src, &w.tenant, day0, true).await;
    compare(&src, &w.tenant, TimeRange::new(b, b + 2 * D - 1), true).await;
    // Parts of blocks.
    for r in [
        TimeRange::new(b + 19 * H, b + 21 * H),
        TimeRange::new(b + 30 * H + 7 * MIN, b + 36 * H),
        TimeRange::new(b + 2 * H + 10 * MIN, b + 4 * H + 50 * MIN),
    ] {
        compare(&src, &w.tenant, r, false).await;
    }
    // Day 0 is one block, without the late job and so without `zone`.
    let names = src.label_names(&w.tenant, &[], day0).await.expect("names");
    assert_eq!(names, ["__name__", "instance", "job"]);
    let jobs = src
        .label_values(&w.tenant, "job", &[], day0)
        .await
        .expect("values");
    assert_eq!(jobs, ["early", "flappy", "steady"]);
    let all = TimeRange::new(b - D, b + 4 * D);
    let zones = src
        .label_values(&w.tenant, "zone", &[], all)
        .await
        .expect("values");
    assert_eq!(zones, ["z0", "z1", "z2"]);
}

/// The raw blocks a lookup over `r` reads, with their footers.
async fn raw_blocks(w: &World, r: TimeRange) -> Vec<(BlockEntry, BlockFooter)> {
    let cat = catalog::load(&w.bucket, &w.tenant)
        .await
        .expect("catalog")
        .catalog;
    let mut out = Vec::new();
    for b in cat.blocks_overlapping(0, r.min, r.max) {
        let id = ulid::Ulid::from_string(&b.id).expect("ulid");
        let (bytes, _) = w
            .bucket
            .get(&BlockKey::new(w.tenant.clone(), id).path())
            .await
            .expect("block");
        let footer = BlockFooter::parse(bytes.len() as u64, &bytes).expect("footer");
        out.push((b.clone(), footer));
    }
    out
}

#[tokio::test]
async fn label_values_read_only_footers_and_dictionary_pages() {
    let w = world().await;
    let r = TimeRange::new(w.base, w.base + 2 * D - 1);
    let blocks = raw_blocks(&w, r).await;
    assert!(!blocks.is_empty());
    let src = source(&w.bucket);
    // The catalog, the segments and the footers: label names need nothing
    // else.
    let stats = Arc::new(RequestStats::default());
    let names = RequestStats::scope(stats.clone(), src.label_names(&w.tenant, &[], r))
        .await
        .expect("names");
    assert_eq!(names, ["__name__", "instance", "job", "zone"]);
    let footer_bytes: u64 = blocks.iter().map(|(_, f)| f.tail_len()).sum();
    let first = stats.counts();
    println!("label names, cold: {first:?}; block footers {footer_bytes} bytes");

    // Values: the dictionary pages of the column and nothing else.
    let stats = Arc::new(RequestStats::default());
    let values = RequestStats::scope(
        stats.clone(),
        src.label_values(&w.tenant, "instance", &[], r),
    )
    .await
    .expect("values");
    assert_eq!(values.len(), INSTANCES as usize);
    let ranges: Vec<_> = blocks
        .iter()
        .flat_map(|(_, f)| f.label_values_ranges("instance").expect("dictionary"))
        .collect();
    let dictionary_bytes: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let counts = stats.counts();
    println!(
        "label values: {counts:?}; dictionary pages: {} ranges, {dictionary_bytes} bytes",
        ranges.len()
    );
    assert_eq!(counts.gets, ranges.len() as u64, "{counts:?}");
    assert_eq!(counts.get_bytes, dictionary_bytes, "{counts:?}");

    // The series path reads the label and time pages: more bytes.
    let other = source(&w.bucket);
    other.label_names(&w.tenant, &[], r).await.expect("warm up");
    let stats = Arc::new(RequestStats::default());
    let series = RequestStats::scope(stats.clone(), other.series_labels(&w.tenant, &[], r))
        .await
        .expect("series");
    assert_eq!(values_of(&series, "instance"), values);
    let series_bytes = stats.counts().get_bytes;
    println!("series path: {series_bytes} bytes");
    assert!(dictionary_bytes < series_bytes);

    // Again: cached per block, nothing read.
    let stats = Arc::new(RequestStats::default());
    let again = RequestStats::scope(
        stats.clone(),
        src.label_values(&w.tenant, "instance", &[], r),
    )
    .await
    .expect("values");
    assert_eq!(again, values);
    assert_eq!(stats.counts().gets, 0, "{:?}", stats.counts());
}

#[tokio::test]
async fn delete_requests_fall_back_to_the_samples() {
    let w = world().await;
    let r = TimeRange::new(w.base, w.base + 2 * D - 1);
    let src = stratus_tests::lookup_world::source(&w.bucket, Duration::ZERO);
    let before = src
        .label_values(&w.tenant, "job", &[], r)
        .await
        .expect("values");
    assert!(before.contains(&"early".to_string()));
    delete_job(&w, "late").await;
    let after = src
        .label_values(&w.tenant, "job", &[], r)
        .await
        .expect("values");
    assert!(!after.contains(&"late".to_string()), "{after:?}");
    assert_eq!(after.len(), before.len() - 1);
    let names = src.label_names(&w.tenant, &[], r).await.expect("names");
    assert!(!names.contains(&"zone".to_string()), "{names:?}");
}

/// Writes a raw block of `series` at `[min, min + 2 h)` and adds it to the
/// catalog.
async fn put_block(
    bucket: &Bucket,
    tenant: &TenantId,
    min: i64,
    series: &[(Labels, Vec<Sample>)],
    opts: &BlockOptions,
) -> BlockFooter {
    let bytes = stratus_block::write_raw_block(
        tenant,
        min,
        min + 2 * H,
        series.iter().map(|(l, s)| (l, s.as_slice())),
        opts,
    )
    .expect("block");
    let id = ulid::Ulid::new();
    let len = bytes.len() as u64;
    let footer = BlockFooter::parse(len, &bytes).expect("footer");
    bucket
        .put(&BlockKey::new(tenant.clone(), id).path(), bytes.into())
        .await
        .expect("put");
    let base = catalog::load(bucket, tenant).await.expect("catalog");
    let mut cat = base.catalog.clone();
    cat.blocks.push(BlockEntry {
        id: id.to_string(),
        level: 1,
        resolution_ms: 0,
        min_time: min,
        max_time: min + 2 * H,
        series: series.len() as u64,
        samples: series.iter().map(|(_, s)| s.len() as u64).sum(),
        bytes: len,
        source: None,
        edges: false,
    });
    catalog::commit(bucket, tenant, &base, &cat)
        .await
        .expect("commit");
    footer
}

/// `hosts` × `metrics` series, one sample each at `t`.
fn node_like(hosts: usize, metrics: usize, t: i64, extra: &str) -> Vec<(Labels, Vec<Sample>)> {
    let mut out: Vec<(Labels, Vec<Sample>)> = Vec::with_capacity(hosts * metrics);
    for m in 0..metrics {
        let name = format!("node_metric_{m:03}");
        for h in 0..hosts {
            let host = format!("host-{h:05}");
            let mut pairs = vec![
                ("__name__", name.as_str()),
                ("host", host.as_str()),
                ("job", "node"),
            ];
            if !extra.is_empty() && h % 7 == 0 {
                pairs.push(("extra", extra));
            }
            let l = Labels::from_pairs(pairs).expect("labels");
            out.push((l, vec![Sample::new(t, (m * h) as f64)]));
        }
    }
    out.sort_by(|a, b| {
        a.0.metric_name()
            .cmp(&b.0.metric_name())
            .then_with(|| a.0.cmp(&b.0))
    });
    out
}

#[tokio::test]
async fn a_block_not_wholly_dictionary_encoded_answers_from_its_label_pages() {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let base = SystemClock.now_ms().div_euclid(D) * D - 2 * D;
    let first = node_like(300, 3, base + MIN, "");
    let second = node_like(200, 3, base + 2 * H + MIN, "yes");
    put_block(&bucket, &tenant, base, &first, &BlockOptions::default()).await;
    // A tiny dictionary: the host column continues in plain pages.
    let tiny = BlockOptions {
        label_dictionary_page_bytes: 64,
        row_group_rows: 256,
        // Small write batches: the fallback comes within a row group.
        label_page_rows: 16,
        ..BlockOptions::default()
    };
    let footer = put_block(&bucket, &tenant, base + 2 * H, &second, &tiny).await;
    assert_eq!(footer.label_values_ranges("host"), None, "falls back");
    assert!(footer.label_values_ranges("job").is_some());
    let src = source(&bucket);
    let r = TimeRange::new(base, base + 4 * H - 1);
    let series = src.series_labels(&tenant, &[], r).await.expect("series");
    // The second block's hosts without `extra` are series of the first.
    let with_extra = (0..200).filter(|h| h % 7 == 0).count();
    assert_eq!(series.len(), 900 + 3 * with_extra);
    for name in ["host", "job", "extra", "__name__"] {
        let got = src
            .label_values(&tenant, name, &[], r)
            .await
            .expect("values");
        assert_eq!(got, values_of(&series, name), "{name}");
    }
    assert_eq!(
        src.label_names(&tenant, &[], r).await.expect("names"),
        ["__name__", "extra", "host", "job"]
    );
    assert_eq!(
        src.label_values(&tenant, "host", &[], r)
            .await
            .expect("values")
            .len(),
        300
    );
    // Only the second block: `extra` is there.
    let second_only = TimeRange::new(base + 2 * H, base + 4 * H - 1);
    assert_eq!(
        src.label_values(&tenant, "extra", &[], second_only)
            .await
            .expect("values"),
        ["yes"]
    );
    assert_eq!(
        src.label_values(&tenant, "host", &[], second_only)
            .await
            .expect("values")
            .len(),
        200
    );
}

/// Before and after at ~100k series in one block: `label values` without
/// matchers through the series path (what the API did before) and through
/// the dictionary pages, cold (a new source) and warm. Timings are
/// printed, not asserted: `cargo test -p stratus-tests --release --test
/// label_lookups -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_label_values_at_100k_series() {
    let bucket = Bucket::in_memory();
    let tenant = TenantId::anonymous();
    let base = SystemClock.now_ms().div_euclid(D) * D - 2 * D;
    let series = node_like(1000, 100, base + MIN, "");
    put_block(&bucket, &tenant, base, &series, &BlockOptions::default()).await;
    let r = TimeRange::new(base, base + 2 * H - 1);
    for round in 0..3 {
        for (what, dictionary) in [("series path", false), ("dictionary", true)] {
            let src = source(&bucket);
            // The catalog and footer first: both paths need them.
            src.label_names(&tenant, &[], TimeRange::new(base - 3 * D, base - 2 * D))
                .await
                .expect("warm up");
            let mut times = Vec::new();
            let mut n = 0;
            for _ in 0..2 {
                let stats = Arc::new(RequestStats::default());
                let t0 = Instant::now();
                let values = RequestStats::scope(stats.clone(), async {
                    if dictionary {
                        src.label_values(&tenant, "host", &[], r)
                            .await
                            .expect("values")
                    } else {
                        values_of(
                            &src.series_labels(&tenant, &[], r).await.expect("series"),
                            "host",
                        )
                    }
                })
                .await;
                times.push((t0.elapsed(), stats.counts().get_bytes));
                n = values.len();
            }
            println!(
                "round {round}: {what}: {n} values; cold {:?} ({} bytes read), warm {:?}",
                times[0].0, times[0].1, times[1].0
            );
        }
    }
}
