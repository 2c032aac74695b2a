//! Round trips of raw and downsampled blocks, and reads with matchers and
//! time ranges against a naive filter of the input.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use stratus_block::*;
use stratus_model::{LabelMatcher, Labels, Sample, TenantId, TimeRange, STALE_NAN};

fn tenant() -> TenantId {
    TenantId::new("team-a").expect("tenant")
}

/// Values that must survive bit for bit.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e6,
        2 => (0u32..1000).prop_map(f64::from),
        1 => Just(STALE_NAN),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => any::<u64>().prop_map(f64::from_bits),
    ]
}

/// A label set from small alphabets, so matchers hit and miss. Includes
/// series without a metric name and a label name sorting before it.
fn labels() -> impl Strategy<Value = Labels> {
    (
        prop::option::weighted(0.9, prop::sample::select(vec!["up", "node_x", "a", "zz_ü"])),
        prop::option::of(prop::sample::select(vec!["j1", "j2"])),
        prop::option::of(prop::sample::select(vec!["i0", "i1", "i2", "i3", "i10"])),
        prop::option::weighted(0.3, prop::sample::select(vec!["eu", "us"])),
        prop::option::weighted(0.2, prop::sample::select(vec!["x", "y\nz"])),
    )
        .prop_map(|(name, job, inst, zone, upper)| {
            let mut pairs = Vec::new();
            if let Some(n) = name {
                pairs.push(("__name__", n));
            }
            if let Some(j) = job {
                pairs.push(("job", j));
            }
            if let Some(i) = inst {
                pairs.push(("instance", i));
            }
            if let Some(z) = zone {
                pairs.push(("zone", z));
            }
            if let Some(u) = upper {
                pairs.push(("Alpha", u));
            }
            Labels::from_pairs(pairs).expect("labels")
        })
}

const SPAN: i64 = 2 * HOUR;

/// Sorted, deduplicated series with 1 to 60 samples each, strictly
/// increasing times inside `[min, min + SPAN)`.
fn series(min: i64) -> impl Strategy<Value = Vec<(Labels, Vec<Sample>)>> {
    prop::collection::vec(
        (
            labels(),
            prop::collection::btree_map(0..SPAN, value(), 1..60),
        ),
        0..25,
    )
    .prop_map(move |v| {
        let mut by_labels: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for (l, samples) in v {
            by_labels.entry(l).or_insert_with(|| {
                samples
                    .into_iter()
                    .map(|(t, v)| Sample::new(min + t, v))
                    .collect()
            });
        }
        let mut out: Vec<_> = by_labels.into_iter().collect();
        sort_series(&mut out);
        out
    })
}

fn matcher() -> impl Strategy<Value = LabelMatcher> {
    let names = prop::sample::select(vec![
        "__name__", "job", "instance", "zone", "Alpha", "absent",
    ]);
    let values = prop::sample::select(vec![
        "",
        "up",
        "node_x",
        "j1",
        "i1",
        "i10",
        "eu",
        "x",
        "y\nz",
        "zz_ü",
        ".*",
        ".+",
        "i.",
        "j1|j2",
        "up|a",
        "i1|i2|nope",
        "(i|j)1",
    ]);
    (names, values, 0..4u8).prop_map(|(n, v, k)| match k {
        0 => LabelMatcher::equal(n, v),
        1 => LabelMatcher::not_equal(n, v),
        2 => LabelMatcher::regex(n, v, false).expect("regex"),
        _ => LabelMatcher::regex(n, v, true).expect("regex"),
    })
}

fn options() -> impl Strategy<Value = BlockOptions> {
    (
        prop::sample::select(vec![7 * 60_000, 30 * 60_000, SPAN, 3 * HOUR]),
        1usize..8,
        1usize..5,
        prop::sample::select(vec![64usize, 512, 32 * 1024]),
        any::<bool>(),
    )
        .prop_map(|(w, rg, pr, pb, zstd)| BlockOptions {
            chunk_width_ms: w,
            row_group_rows: rg,
            label_page_rows: pr,
            chunk_page_bytes: pb,
            compress_chunks: zstd,
            ..BlockOptions::default()
        })
}

fn time_range(min: i64) -> impl Strategy<Value = TimeRange> {
    (-HOUR..SPAN + HOUR, 0..SPAN + HOUR)
        .prop_map(move |(a, len)| TimeRange::new(min + a, min + a + len))
}

fn as_refs<T>(series: &[(Labels, Vec<T>)]) -> impl Iterator<Item = (&Labels, &[T])> {
    series.iter().map(|(l, s)| (l, s.as_slice()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn raw_blocks_round_trip_and_answer_queries(
        min in prop::sample::select(vec![0i64, -SPAN, 1_700_000_000_000]),
        input in series(0),
        opts in options(),
        mut queries in prop::collection::vec((prop::collection::vec(matcher(), 0..3), time_range(0)), 1..6),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0..3i64), 2),
    ) {
        // Ranges ending exactly on sample times and on chunk boundaries.
        let mut times: Vec<i64> = input.iter().flat_map(|s| s.1.iter().map(|s| s.t)).collect();
        times.extend((0..=SPAN / opts.chunk_width_ms).map(|k| k * opts.chunk_width_ms));
        times.sort_unstable();
        for (a, b, d) in picks {
            let (a, b) = (*a.get(&times), *b.get(&times));
            queries.push((Vec::new(), TimeRange::new(a.min(b) + d - 1, a.max(b))));
        }
        let input: Vec<(Labels, Vec<Sample>)> = input
            .into_iter()
            .map(|(l, s)| (l, s.into_iter().map(|s| Sample::new(s.t + min, s.v)).collect()))
            .collect();
        let file = write_raw_block(&tenant(), min, min + SPAN, as_refs(&input), &opts).expect("write");
        let (info, back) = read_all(&file).expect("read_all");
        prop_assert_eq!(info.num_series as usize, input.len());
        prop_assert_eq!(info.num_samples as usize, input.iter().map(|s| s.1.len()).sum::<usize>());
        prop_assert_eq!(&back, &input);

        let q = Querier::open(&file);
        for (matchers, range) in queries {
            let range = TimeRange::new(range.min + min, range.max + min);
            let want = naive(&input, &matchers, range);
            let plan = q.footer.plan(&matchers, range);
            let got = read_raw(&q.footer, &plan, &q.fetch(&plan.ranges), &matchers, range).expect("read");
            prop_assert_eq!(&got, &want, "one phase, matchers {:?} range {:?}", matchers, range);
            let (two, _, _) = q.two_phase(&matchers, range);
            prop_assert_eq!(&two, &want, "two phases");
            prop_assert!(plan.total_bytes() <= file.len() as u64);
        }
    }

    #[test]
    fn downsampled_blocks_round_trip_and_answer_queries(
        input in series(0),
        step in prop::sample::select(vec![60_000i64, 300_000, 3_600_000]),
        opts in options(),
        queries in prop::collection::vec((prop::collection::vec(matcher(), 0..3), time_range(0)), 1..4),
    ) {
        let points: Vec<(Labels, Vec<AggrPoint>)> = input
            .iter()
            .map(|(l, s)| (l.clone(), downsample(s, step)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let file = write_downsampled_block(&tenant(), 0, SPAN, step, as_refs(&points), &opts)
            .expect("write");
        let (info, back) = read_all_downsampled(&file).expect("read_all");
        prop_assert_eq!(info.resolution, Resolution::Downsampled { step_ms: step });
        prop_assert_eq!(&back, &points);

        let q = Querier::open(&file);
        for (matchers, range) in queries {
            let want: Vec<(Labels, Vec<AggrPoint>)> = points
                .iter()
                .filter(|(l, _)| stratus_model::matches_all(&matchers, l))
                .map(|(l, p)| (l.clone(), p.iter().copied().filter(|p| range.contains(p.t)).collect::<Vec<_>>()))
                .filter(|(_, p)| !p.is_empty())
                .collect();
            let plan = q.footer.plan(&matchers, range);
            let got = read_downsampled(&q.footer, &plan, &q.fetch(&plan.ranges), &matchers, range)
                .expect("read");
            prop_assert_eq!(&got, &want);
        }
    }
}

#[test]
fn empty_block() {
    let file = write_raw_block(
        &tenant(),
        0,
        SPAN,
        std::iter::empty(),
        &BlockOptions::default(),
    )
    .expect("write");
    let (info, series) = read_all(&file).expect("read");
    assert_eq!((info.num_series, series.len()), (0, 0));
    let q = Querier::open(&file);
    assert!(q.footer.plan(&[], TimeRange::new(0, SPAN)).is_empty());
}

#[test]
fn writer_rejects_bad_input() {
    let t = tenant();
    let o = BlockOptions::default();
    let a = Labels::from_pairs([("__name__", "a")]).expect("labels");
    let b = Labels::from_pairs([("__name__", "b")]).expect("labels");
    let ok = vec![Sample::new(1, 1.0)];
    let write = |series: Vec<(&Labels, &[Sample])>| write_raw_block(&t, 0, SPAN, series, &o);
    assert!(matches!(
        write(vec![(&b, &ok), (&a, &ok)]),
        Err(BlockError::SeriesOutOfOrder { .. })
    ));
    assert!(matches!(
        write(vec![(&a, &ok), (&a, &ok)]),
        Err(BlockError::SeriesOutOfOrder { .. })
    ));
    assert!(matches!(
        write(vec![(&a, &[])]),
        Err(BlockError::EmptySeries { .. })
    ));
    let twice = [Sample::new(5, 1.0), Sample::new(5, 2.0)];
    assert!(matches!(
        write(vec![(&a, &twice)]),
        Err(BlockError::NonIncreasingTimestamps { .. })
    ));
    let late = [Sample::new(SPAN, 1.0)];
    assert!(matches!(
        write(vec![(&a, &late)]),
        Err(BlockError::SampleOutsideBlock { .. })
    ));
    // Labels named like the block's own columns get escaped columns.
    let reserved = Labels::from_pairs([("__name__", "a"), ("__chunk_0", "x")]).expect("labels");
    let file = write(vec![(&reserved, &ok)]).expect("escaped label columns");
    let (_, back) = read_all(&file).expect("read");
    assert_eq!(back, vec![(reserved.clone(), ok.to_vec())]);
    assert!(matches!(
        write_raw_block(&t, 5, 5, std::iter::empty(), &o),
        Err(BlockError::EmptyTimeRange { .. })
    ));
    // Two downsampled points may not share a window.
    let p = AggrPoint {
        t: 10,
        count: 1.0,
        sum: 1.0,
        min: 1.0,
        max: 1.0,
        last: 1.0,
        counter: 1.0,
        edges: None,
    };
    let q = AggrPoint { t: 60_000, ..p };
    let r = AggrPoint { t: 60_001, ..p };
    assert!(matches!(
        write_downsampled_block(&t, 0, SPAN, 60_000, [(&a, &[p, q][..])], &o),
        Err(BlockError::InvalidOptions { .. })
    ));
    assert!(write_downsampled_block(&t, 0, SPAN, 60_000, [(&a, &[p, r][..])], &o).is_ok());
    // A window's first sample lies in its window, not after its point.
    for first_t in [11, 0, -5] {
        let e = AggrPoint {
            edges: Some(WindowEdges {
                first_t,
                first: 1.0,
                drops: 0.0,
            }),
            ..p
        };
        assert!(
            matches!(
                write_downsampled_block(&t, 0, SPAN, 60_000, [(&a, &[e][..])], &o),
                Err(BlockError::InvalidOptions { .. })
            ),
            "{first_t}"
        );
    }
}

#[test]
fn reading_a_raw_block_as_downsampled_fails() {
    let a = Labels::from_pairs([("__name__", "a")]).expect("labels");
    let s = [Sample::new(1, 1.0)];
    let file = write_raw_block(&tenant(), 0, SPAN, [(&a, &s[..])], &BlockOptions::default())
        .expect("write");
    assert!(read_all_downsampled(&file).is_err());
}

#[test]
fn streaming_writer_writes_the_same_bytes() {
    let d = node_exporter(2, 480, 0, 3);
    let opts = BlockOptions::default();
    let whole = write_raw_block(&tenant(), 0, SPAN, as_refs(&d.series), &opts).expect("write");
    let mut w = RawBlockWriter::new(&tenant(), 0, SPAN, &opts).expect("writer");
    for (l, s) in &d.series {
        // The writer keeps no reference to the samples.
        let copy = s.clone();
        w.push(l, &copy).expect("push");
    }
    assert_eq!(w.num_series(), d.series.len());
    assert_eq!(w.finish().expect("finish"), whole);

    // It checks each series as it comes.
    let a = Labels::from_pairs([("__name__", "a")]).expect("labels");
    let b = Labels::from_pairs([("__name__", "b")]).expect("labels");
    let mut w = RawBlockWriter::new(&tenant(), 0, SPAN, &opts).expect("writer");
    w.push(&b, &[Sample::new(1, 1.0)]).expect("push");
    assert!(matches!(
        w.push(&a, &[Sample::new(1, 1.0)]),
        Err(BlockError::SeriesOutOfOrder { .. })
    ));
    assert!(matches!(
        RawBlockWriter::new(&tenant(), 5, 5, &opts),
        Err(BlockError::EmptyTimeRange { .. })
    ));
}

#[test]
fn special_values_survive_in_integer_and_decimal_series() {
    // Cells that are packed with exceptions: stale markers, NaN payloads,
    // infinities and -0.0 among integers and two-decimal values.
    let mut series = Vec::new();
    for (name, scale) in [("ints", 1.0), ("loads", 100.0)] {
        let l = Labels::from_pairs([("__name__", name)]).expect("labels");
        let samples: Vec<Sample> = (0..480)
            .map(|i| {
                let v = match i % 97 {
                    13 => STALE_NAN,
                    14 => f64::from_bits(0x7ff8_0000_0000_beef),
                    40 => f64::NEG_INFINITY,
                    41 => -0.0,
                    _ => f64::from(i * 7 % 300) / scale,
                };
                Sample::new(i64::from(i) * 15_000, v)
            })
            .collect();
        series.push((l, samples));
    }
    let file = write_raw_block(
        &tenant(),
        0,
        SPAN,
        as_refs(&series),
        &BlockOptions::default(),
    )
    .expect("write");
    let (_, back) = read_all(&file).expect("read");
    assert_eq!(back, series);
    // The cells are packed: less than half the XOR chunks of the same
    // samples.
    let stats = inspect(&file).expect("inspect");
    let cells: u64 = stats
        .columns
        .iter()
        .filter(|c| c.name.starts_with("__chunk_"))
        .map(|c| c.uncompressed_bytes)
        .sum();
    let mut xor = Vec::new();
    for (_, s) in &series {
        for part in s.chunks(120) {
            stratus_codec::encode_chunk(part, &mut xor);
        }
    }
    println!("cells {cells} bytes, xor chunks {} bytes", xor.len());
    assert!(cells * 2 < xor.len() as u64, "{cells} vs {}", xor.len());
}
