use std::collections::BTreeMap;

use proptest::prelude::*;
use stratus_model::{Labels, MetricMetadata, MetricType, Sample, TenantId};

use super::*;
use crate::segment::decode_segment;

fn tenant() -> TenantId {
    TenantId::new("team-a").expect("valid tenant")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("valid labels")
}

fn segment(series: &[(Labels, Vec<(i64, f64)>)], md: Option<MetricMetadata>) -> Vec<u8> {
    let mut b = SegmentBuilder::new(&tenant());
    for (l, s) in series {
        let s: Vec<Sample> = s.iter().map(|&(t, v)| Sample::new(t, v)).collect();
        b.add_series(l, &s).expect("valid series");
    }
    if let Some(md) = md {
        b.add_metadata(md);
    }
    b.finish().expect("segment")
}

/// Series by labels, their (t, v) samples.
type Found = BTreeMap<Labels, Vec<(i64, f64)>>;

/// Every series of every group of a pack, by labels.
fn read_all(pack: &[u8]) -> (PackIndex, Found, Vec<MetricMetadata>) {
    let index = PackIndex::of_pack(pack).expect("index");
    let mut out = BTreeMap::new();
    let mut md = Vec::new();
    for g in &index.groups {
        let bytes = &pack[g.offset as usize..(g.offset + g.len) as usize];
        let seg = decode_segment(bytes).expect("group");
        assert_eq!(seg.series.len() as u64, g.series);
        for s in seg.series {
            assert_eq!(s.labels.get("__name__").unwrap_or(""), g.name);
            let samples = s.samples.iter().map(|x| (x.t, x.v)).collect();
            assert!(
                out.insert(s.labels, samples).is_none(),
                "a series in two groups"
            );
        }
        md.extend(seg.metadata);
    }
    (index, out, md)
}

#[test]
fn merges_series_by_name_with_the_later_segment_winning() {
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    let load = labels(&[("__name__", "node_load1"), ("host", "h1")]);
    let bare = labels(&[("job", "x")]);
    let md = MetricMetadata {
        metric_family: "up".into(),
        metric_type: MetricType::Gauge,
        help: "up".into(),
        unit: String::new(),
    };
    let s1 = segment(
        &[
            (up.clone(), vec![(1000, 1.0), (2000, 1.0)]),
            (load.clone(), vec![(1000, 0.5)]),
        ],
        Some(md.clone()),
    );
    // A late sample before the first segment's and a rewrite of t=2000.
    let s2 = segment(
        &[
            (up.clone(), vec![(500, 7.0), (2000, 0.0), (3000, 1.0)]),
            (bare.clone(), vec![(1500, 2.0)]),
        ],
        None,
    );
    let (pack, summary) = build_pack(&tenant(), &[(10, &s1), (20, &s2)]).expect("pack");
    let (index, series, metadata) = read_all(&pack);
    assert_eq!(index.segments, vec![10, 20]);
    let names: Vec<&str> = index.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["", "node_load1", "up"]);
    assert_eq!(
        series[&up],
        vec![(500, 7.0), (1000, 1.0), (2000, 0.0), (3000, 1.0)]
    );
    assert_eq!(series[&load], vec![(1000, 0.5)]);
    assert_eq!(series[&bare], vec![(1500, 2.0)]);
    assert_eq!(metadata, vec![md]);
    assert_eq!((summary.min_time, summary.max_time), (500, 3000));
    assert_eq!((summary.series, summary.samples), (3, 6));
    let hosts = index
        .labels
        .iter()
        .find(|(n, _)| n == "host")
        .expect("host");
    assert_eq!(hosts.1, vec!["h1".to_string()]);
    // The catalog's view: the index from its offset on.
    let tail = &pack[summary.index_offset as usize..];
    assert_eq!(tail.len() as u64, summary.index_len);
    assert_eq!(
        PackIndex::decode(tail, summary.index_offset).expect("tail"),
        index
    );
}

#[test]
fn refuses_segments_out_of_order_and_other_tenants() {
    let s = segment(&[(labels(&[("__name__", "up")]), vec![(1, 1.0)])], None);
    assert!(build_pack(&tenant(), &[(2, &s), (1, &s)]).is_err());
    let other = TenantId::new("team-b").expect("tenant");
    assert!(build_pack(&other, &[(1, &s)]).is_err());
}

#[test]
fn a_version_1_reader_refuses_a_pack_and_the_pack_reader_a_segment() {
    let s = segment(&[(labels(&[("__name__", "up")]), vec![(1, 1.0)])], None);
    let (pack, _) = build_pack(&tenant(), &[(1, &s)]).expect("pack");
    assert!(matches!(
        decode_segment(&pack),
        Err(CodecError::UnsupportedSegmentVersion { found: 2, .. })
    ));
    assert!(PackIndex::of_pack(&s).is_err());
}

proptest! {
    /// Any byte changed, any prefix cut: the index is refused or, when the
    /// change is in a group, that group's own checksum refuses it; never a
    /// panic and never a different answer.
    #[test]
    fn corruption_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<prop::sample::Index>()) {
        let up = labels(&[("__name__", "up"), ("job", "a")]);
        let load = labels(&[("__name__", "node_load1"), ("host", "h1")]);
        let s1 = segment(&[(up.clone(), vec![(1000, 1.0)]), (load, vec![(1000, 0.5)])], None);
        let s2 = segment(&[(up, vec![(2000, 1.0)])], None);
        let (pack, _) = build_pack(&tenant(), &[(1, &s1), (2, &s2)]).expect("pack");
        let good = read_all(&pack);
        let mut bad = pack.clone();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        if let Ok(index) = PackIndex::of_pack(&bad) {
            prop_assert_eq!(&index, &good.0);
            let mut all_ok = true;
            for g in &index.groups {
                all_ok &= decode_segment(&bad[g.offset as usize..(g.offset + g.len) as usize]).is_ok();
            }
            prop_assert!(!all_ok, "a flipped bit at {} went unnoticed", i);
        }
        let cut = cut.index(pack.len());
        let _ = PackIndex::of_pack(&pack[..cut]);
        let _ = PackIndex::decode(&pack[cut..], cut as u64);
    }
}

/// How long packing takes at scale: `cargo test --release -p stratus-codec
/// packing_speed -- --ignored --nocapture` (a figure to compare, not a
/// check).
#[test]
#[ignore]
fn packing_speed() {
    let hosts = 100;
    let per_host = 1_000;
    let mut segments = Vec::new();
    // Ten segments, each holding one sample of a tenth of the hosts' series.
    for seg in 0..10usize {
        let mut b = SegmentBuilder::new(&tenant());
        for h in (seg * hosts / 10)..((seg + 1) * hosts / 10) {
            for i in 0..per_host {
                let l = labels(&[
                    ("__name__", &format!("node_metric_{}", i % 300)),
                    ("cpu", &format!("{}", i % 16)),
                    ("host", &format!("host-{h:04}")),
                    ("instance", &format!("10.0.{}.{}:9100", h / 256, h % 256)),
                    ("job", "node"),
                    ("mode", &format!("m{}", i / 300)),
                ]);
                b.add_series(&l, &[Sample::new(1_000 + seg as i64, i as f64 * 1.5)])
                    .expect("series");
            }
        }
        segments.push(b.finish().expect("segment"));
    }
    let refs: Vec<(u128, &[u8])> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u128, &s[..]))
        .collect();
    let bytes: usize = segments.iter().map(Vec::len).sum();
    let mut times = Vec::new();
    for _ in 0..5 {
        let began = std::time::Instant::now();
        let (pack, summary) = build_pack(&tenant(), &refs).expect("pack");
        times.push(began.elapsed().as_secs_f64());
        assert_eq!(summary.series, (hosts * per_host) as u64);
        assert!(!pack.is_empty());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "packing: {} series in {} segments ({bytes} bytes): median {:.3} s, {:.0} series/s",
        hosts * per_host,
        segments.len(),
        times[2],
        (hosts * per_host) as f64 / times[2]
    );
}
