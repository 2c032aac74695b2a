use std::collections::BTreeMap;

use proptest::prelude::*;
use stratus_codec::SegmentBuilder;
use stratus_model::{
    matches_all, merge_newer, LabelMatcher, Labels, MetricMetadata, MetricType, Sample, TenantId,
    TimeRange,
};

use super::series::CHUNK_SAMPLES;
use super::TenantHead;

fn tenant() -> TenantId {
    TenantId::new("t").expect("tenant")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("labels")
}

fn segment(series: &[(Labels, Vec<Sample>)]) -> Vec<u8> {
    let mut b = SegmentBuilder::new(&tenant());
    let mut sorted: Vec<&(Labels, Vec<Sample>)> = series.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, s) in sorted {
        b.add_series(l, s).expect("series");
    }
    b.finish().expect("segment")
}

/// What the head must answer: every segment's series merged, later
/// segments winning on equal timestamps.
type Model = BTreeMap<Labels, Vec<Sample>>;

fn model_add(model: &mut Model, series: &[(Labels, Vec<Sample>)]) {
    for (l, s) in series {
        merge_newer(model.entry(l.clone()).or_default(), s);
    }
}

fn answer(head: &TenantHead, matchers: &[LabelMatcher], range: TimeRange) -> Model {
    let mut out: Model = head.select(matchers, range).into_iter().collect();
    out.retain(|_, s| !s.is_empty());
    out
}

fn expected(model: &Model, matchers: &[LabelMatcher], range: TimeRange) -> Model {
    model
        .iter()
        .filter(|(l, _)| matches_all(matchers, l))
        .map(|(l, s)| (l.clone(), stratus_model::in_range(s, range).to_vec()))
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

fn matcher_sets() -> Vec<Vec<LabelMatcher>> {
    let re = |n: &str, v: &str, neg: bool| LabelMatcher::regex(n, v, neg).expect("regex");
    vec![
        vec![LabelMatcher::equal("__name__", "cpu")],
        vec![LabelMatcher::equal("__name__", "load")],
        vec![
            LabelMatcher::equal("__name__", "cpu"),
            LabelMatcher::equal("host", "h1"),
        ],
        vec![re("host", "h[02]", false)],
        vec![
            re("__name__", ".+", false),
            LabelMatcher::not_equal("host", "h1"),
        ],
        vec![LabelMatcher::not_equal("mode", "idle")],
        vec![re("mode", "", false)],
        vec![LabelMatcher::equal("host", "nope")],
        vec![
            re("mode", "idle|user", true),
            LabelMatcher::equal("__name__", "cpu"),
        ],
    ]
}

fn host_series(host: &str, name: &str, mode: Option<&str>) -> Labels {
    match mode {
        Some(m) => labels(&[("__name__", name), ("host", host), ("mode", m)]),
        None => labels(&[("__name__", name), ("host", host)]),
    }
}

fn all_series() -> Vec<Labels> {
    let mut out = Vec::new();
    for h in ["h0", "h1", "h2"] {
        out.push(host_series(h, "load", None));
        for m in ["idle", "user", "system"] {
            out.push(host_series(h, "cpu", Some(m)));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Segments of any series subsets, times overlapping, out of order and
    /// repeated across segments: the head answers every matcher set and
    /// range as the merge of the decoded segments does.
    #[test]
    fn the_head_answers_as_the_decoded_segments(
        segments in prop::collection::vec(
            prop::collection::vec((0usize..12, 0i64..400, 0u32..5, 1usize..4), 1..12),
            1..8,
        ),
        lo in 0i64..400,
        len in 0i64..400,
    ) {
        let names = all_series();
        let head = TenantHead::new();
        let mut model = Model::new();
        for (n, picks) in segments.iter().enumerate() {
            let mut by_series: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
            for &(i, t, v, count) in picks {
                let s = by_series.entry(names[i].clone()).or_default();
                for k in 0..count as i64 {
                    s.push(Sample::new(t * 10 + k, f64::from(v) + n as f64));
                }
            }
            let series: Vec<(Labels, Vec<Sample>)> = by_series
                .into_iter()
                .map(|(l, mut s)| {
                    s.sort_by_key(|x| x.t);
                    s.dedup_by_key(|x| x.t);
                    (l, s)
                })
                .collect();
            head.ingest(&segment(&series), 1_000 + n as i64).expect("ingest");
            model_add(&mut model, &series);
        }
        let range = TimeRange::new(lo * 10, (lo + len) * 10);
        for matchers in matcher_sets() {
            prop_assert_eq!(
                answer(&head, &matchers, range),
                expected(&model, &matchers, range),
                "matchers {:?}", matchers
            );
        }
    }
}

#[test]
fn long_series_span_several_chunks_and_truncation_drops_whole_segments() {
    let head = TenantHead::new();
    let l = host_series("h0", "cpu", Some("idle"));
    let per = CHUNK_SAMPLES / 2 + 7;
    let mut model = Model::new();
    for n in 0..6i64 {
        let samples: Vec<Sample> = (0..per as i64)
            .map(|k| Sample::new(n * 1_000 + k, k as f64))
            .collect();
        let series = vec![(l.clone(), samples)];
        head.ingest(&segment(&series), 10 + n).expect("ingest");
        model_add(&mut model, &series);
    }
    let all = TimeRange::new(i64::MIN, i64::MAX);
    assert_eq!(answer(&head, &[], all), model);
    assert_eq!(head.stats().series, 1);

    // Segments 10..=12 are in blocks now. The first chunk (segment 10 and
    // the start of 11) goes; the second (the rest of 11, 12, the start of
    // 13) also holds samples of a segment above the watermark and stays
    // whole (the blocks' copies of its older samples are the same).
    head.truncate(13);
    let kept = answer(&head, &[], all);
    let samples = &kept[&l];
    assert_eq!(samples[0].t, 1_000 + (CHUNK_SAMPLES - per) as i64);
    let from_later: Vec<Sample> = model[&l].iter().copied().filter(|s| s.t >= 3_000).collect();
    assert_eq!(
        samples
            .iter()
            .copied()
            .filter(|s| s.t >= 3_000)
            .collect::<Vec<_>>(),
        from_later
    );

    // A segment below the watermark is not added.
    let old = vec![(
        host_series("h9", "cpu", Some("idle")),
        vec![Sample::new(5, 1.0)],
    )];
    head.ingest(&segment(&old), 12).expect("ingest");
    assert!(answer(&head, &[LabelMatcher::equal("host", "h9")], all).is_empty());

    // Everything below: the index is rebuilt empty.
    head.truncate(100);
    assert!(answer(&head, &[], all).is_empty());
    assert_eq!(head.stats().series, 0);
}

#[test]
fn a_rebuild_keeps_the_series_left_and_their_index() {
    let head = TenantHead::new();
    let names = all_series();
    let mut model = Model::new();
    // Segment 1: every series; segment 2: only host h2's.
    let first: Vec<(Labels, Vec<Sample>)> = names
        .iter()
        .map(|l| (l.clone(), vec![Sample::new(1, 1.0)]))
        .collect();
    let second: Vec<(Labels, Vec<Sample>)> = names
        .iter()
        .filter(|l| l.get("host") == Some("h2"))
        .map(|l| (l.clone(), vec![Sample::new(2, 2.0)]))
        .collect();
    head.ingest(&segment(&first), 1).expect("ingest");
    head.ingest(&segment(&second), 2).expect("ingest");
    // h2's series keep their first sample: it shares a chunk with the
    // second.
    let h2: Vec<(Labels, Vec<Sample>)> = first
        .iter()
        .filter(|(l, _)| l.get("host") == Some("h2"))
        .cloned()
        .collect();
    model_add(&mut model, &h2);
    model_add(&mut model, &second);
    head.truncate(2);
    assert_eq!(head.stats().series, second.len());
    let all = TimeRange::new(i64::MIN, i64::MAX);
    for matchers in matcher_sets() {
        assert_eq!(
            answer(&head, &matchers, all),
            expected(&model, &matchers, all),
            "{matchers:?}"
        );
    }
    assert_eq!(head.label_values("host", all), vec!["h2".to_string()]);
    let mut names = head.label_names(all);
    names.sort();
    assert_eq!(names, ["__name__", "host", "mode"]);
    assert_eq!(
        head.label_sets(&[LabelMatcher::equal("host", "h0")], all),
        Vec::<Labels>::new()
    );
}

#[test]
fn a_corrupt_segment_adds_nothing() {
    let head = TenantHead::new();
    let series = vec![(host_series("h0", "load", None), vec![Sample::new(1, 1.0)])];
    let mut bytes = segment(&series);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    assert!(head.ingest(&bytes, 1).is_err());
    assert!(answer(&head, &[], TimeRange::new(i64::MIN, i64::MAX)).is_empty());
    assert_eq!(head.stats().series, 0);
}

#[test]
fn metadata_is_the_newest_per_family() {
    let head = TenantHead::new();
    let md = |help: &str| MetricMetadata {
        metric_family: "load".into(),
        metric_type: MetricType::Gauge,
        help: help.into(),
        unit: String::new(),
    };
    for (ulid, help) in [(2, "newer"), (1, "older")] {
        let mut b = SegmentBuilder::new(&tenant());
        b.add_metadata(md(help));
        head.ingest(&b.finish().expect("segment"), ulid)
            .expect("ingest");
    }
    assert_eq!(head.metadata(), vec![md("newer")]);
}
