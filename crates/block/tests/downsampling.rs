//! Downsampling: aggregates per window against a brute-force oracle, the
//! counter against raw `increase`, within a block and across blocks.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use stratus_block::*;
use stratus_model::{is_stale_nan, Labels, Sample, TenantId, TimeRange, STALE_NAN};

const STEP: i64 = 5 * 60_000;

/// Per window, straight from the definition: group, then aggregate.
fn oracle(samples: &[Sample], step: i64) -> Vec<(i64, f64, f64, f64, f64, f64)> {
    // Windows are (end - step, end]; a point takes its last sample's time.
    let mut windows: BTreeMap<i64, (i64, Vec<f64>)> = BTreeMap::new();
    for s in samples.iter().filter(|s| !is_stale_nan(s.v)) {
        let w = windows
            .entry((s.t + step - 1).div_euclid(step) * step)
            .or_default();
        w.0 = s.t;
        w.1.push(s.v);
    }
    windows
        .into_values()
        .map(|(t, vs)| {
            let nums: Vec<f64> = vs.iter().copied().filter(|v| !v.is_nan()).collect();
            let min = nums.iter().copied().fold(f64::NAN, f64::min);
            let max = nums.iter().copied().fold(f64::NAN, f64::max);
            (
                t,
                vs.len() as f64,
                vs.iter().sum(),
                min,
                max,
                *vs.last().unwrap_or(&f64::NAN),
            )
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

proptest! {
    #[test]
    fn aggregates_match_the_oracle(
        raw in prop::collection::btree_map(
            -3 * HOUR..3 * HOUR,
            prop_oneof![8 => -1e3f64..1e3, 1 => Just(STALE_NAN), 1 => Just(f64::NAN)],
            0..200,
        ),
        step in prop::sample::select(vec![1i64, 60_000, STEP, HOUR]),
    ) {
        let raw: Vec<Sample> = raw.into_iter().map(|(t, v)| Sample::new(t, v)).collect();
        let got = downsample(&raw, step);
        let want = oracle(&raw, step);
        prop_assert_eq!(got.len(), want.len());
        for (p, w) in got.iter().zip(&want) {
            prop_assert_eq!(p.t, w.0);
            prop_assert!(same(p.count, w.1) && same(p.min, w.3) && same(p.max, w.4) && same(p.last, w.5),
                "{:?} vs {:?}", p, w);
            // Summation order is the same (time order), so sums agree bit for bit.
            prop_assert!(same(p.sum, w.2), "{:?} vs {:?}", p, w);
        }
        // The counter never decreases and ends at the reset-adjusted total.
        let nums: Vec<Sample> = raw.iter().copied().filter(|s| !s.v.is_nan()).collect();
        if let (Some(first), Some(last)) = (nums.first(), got.last()) {
            let total = raw_increase(&raw);
            let from_counter = last.counter - first.v;
            prop_assert!((total - from_counter).abs() <= 1e-9 * total.abs().max(1.0),
                "{} vs {}", total, from_counter);
            if nums.iter().all(|s| s.v >= 0.0) {
                prop_assert!(got.windows(2).all(|w| w[0].counter.is_nan() || w[1].counter >= w[0].counter));
            }
        }
    }
}

/// A counter over `[start, end)` at 15 s with resets at the given times.
fn counter(start: i64, end: i64, resets: &[i64], seed: u64) -> Vec<Sample> {
    let mut v = 1000.0 + seed as f64;
    let mut out = Vec::new();
    let mut t = start;
    let mut i = 0u64;
    while t < end {
        if resets.iter().any(|r| *r > t - 15_000 && *r <= t) {
            v = (i % 7) as f64;
        } else {
            v += ((i * 7919 + seed) % 13) as f64;
        }
        out.push(Sample::new(t, v));
        t += 15_000;
        i += 1;
    }
    out
}

/// PromQL's reset-aware increase over a sequence of counter values.
fn promql_increase(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    for v in values {
        if let Some(p) = prev {
            total += if v >= p { v - p } else { v };
        }
        prev = Some(v);
    }
    total
}

fn block(
    series: &[(Labels, Vec<AggrPoint>)],
    min_time: i64,
    max_time: i64,
) -> Vec<(Labels, Vec<AggrPoint>)> {
    let file = write_downsampled_block(
        &TenantId::new("team-a").expect("tenant"),
        min_time,
        max_time,
        STEP,
        series.iter().map(|(l, p)| (l, p.as_slice())),
        &BlockOptions::default(),
    )
    .expect("write");
    let (info, back) = read_all_downsampled(&file).expect("read");
    assert_eq!(info.resolution, Resolution::Downsampled { step_ms: STEP });
    let q = Querier::open(&file);
    let range = TimeRange::new(min_time, max_time - 1);
    let plan = q.footer.plan(&[], range);
    let via_plan =
        read_downsampled(&q.footer, &plan, &q.fetch(&plan.ranges), &[], range).expect("read");
    assert_eq!(via_plan, back);
    back
}

#[test]
fn counter_increase_matches_raw_within_a_block() {
    let labels = Labels::from_pairs([("__name__", "requests_total")]).expect("labels");
    let raw = counter(
        0,
        2 * HOUR,
        &[17 * 60_000, 17 * 60_000 + 30_000, 95 * 60_000],
        3,
    );
    let points = downsample(&raw, STEP);
    let back = block(&[(labels, points.clone())], 0, 2 * HOUR);
    assert_eq!(back[0].1, points);

    // From the end of the first window to the end of the block, the
    // downsampled increase is exactly the raw one.
    let first_end = points[0].t;
    let tail: Vec<Sample> = raw
        .iter()
        .copied()
        .skip_while(|s| {
            s.t < raw
                .iter()
                .rev()
                .find(|s| s.t <= first_end)
                .map_or(0, |s| s.t)
        })
        .collect();
    let down = promql_increase(points.iter().map(|p| p.counter));
    assert_eq!(down, raw_increase(&tail));
    // Over the whole block it misses at most the first window's increase.
    let first_window: Vec<Sample> = raw.iter().copied().filter(|s| s.t <= first_end).collect();
    let all = raw_increase(&raw);
    assert!(all - down >= 0.0 && all - down <= raw_increase(&first_window));
    // The last raw values alone hide the increase before each reset.
    let naive = promql_increase(points.iter().map(|p| p.last));
    assert!(
        all - naive > all - down,
        "raw {all}, last {naive}, counter {down}"
    );
}

#[test]
fn counter_increase_matches_raw_across_blocks() {
    let labels = Labels::from_pairs([("__name__", "requests_total")]).expect("labels");
    // Resets in the first block only: its counters end above its raw values.
    let raw = counter(0, 4 * HOUR, &[20 * 60_000, 61 * 60_000], 5);
    let (a, b): (Vec<Sample>, Vec<Sample>) = raw.iter().partition(|s| s.t < 2 * HOUR);
    let pa = block(&[(labels.clone(), downsample(&a, STEP))], 0, 2 * HOUR);
    let pb = block(&[(labels, downsample(&b, STEP))], 2 * HOUR, 4 * HOUR);

    // Joining rule (docs/format/block.md): add to each block's counters the
    // counter offsets (counter - last of the final point) of all earlier
    // blocks of the series.
    let offset_a = pa[0].1.last().expect("points").counter_offset();
    assert!(offset_a > 0.0);
    let joined: Vec<f64> = pa[0]
        .1
        .iter()
        .map(|p| p.counter)
        .chain(pb[0].1.iter().map(|p| p.counter + offset_a))
        .collect();
    let first_end = pa[0].1[0].t;
    let first_window: Vec<Sample> = raw.iter().copied().filter(|s| s.t <= first_end).collect();
    let all = raw_increase(&raw);
    let down = promql_increase(joined);
    assert!(
        all - down >= 0.0 && all - down <= raw_increase(&first_window),
        "raw {all}, downsampled {down}"
    );
    // Without the offsets the join sees a false reset.
    let unjoined = promql_increase(pa[0].1.iter().chain(&pb[0].1).map(|p| p.counter));
    assert!((all - unjoined).abs() > raw_increase(&first_window));
}

#[test]
fn stale_markers_are_not_aggregated() {
    let labels = Labels::from_pairs([("__name__", "g")]).expect("labels");
    let raw = vec![
        Sample::new(15_000, 1.0),
        Sample::new(30_000, 2.0),
        Sample::new(45_000, STALE_NAN),
        // A window with only a staleness marker.
        Sample::new(STEP + 10, STALE_NAN),
        Sample::new(2 * STEP + 10, 4.0),
    ];
    let points = downsample(&raw, STEP);
    assert_eq!(points.len(), 2);
    assert_eq!(
        (points[0].count, points[0].sum, points[0].last),
        (2.0, 3.0, 2.0)
    );
    // A point takes the time of its window's last sample that is not a
    // staleness marker.
    assert_eq!((points[0].t, points[1].t), (30_000, 2 * STEP + 10));
    let back = block(&[(labels, points.clone())], 0, 2 * HOUR);
    assert_eq!(back[0].1, points);
}

#[test]
fn node_exporter_like_data_downsamples_into_a_much_smaller_block() {
    let d = node_exporter(4, 480, 0, 11);
    let points: Vec<(Labels, Vec<AggrPoint>)> = d
        .series
        .iter()
        .map(|(l, s)| (l.clone(), downsample(s, STEP)))
        .collect();
    // The scrape at 0 closes the window (-5m, 0]; 24 windows follow.
    assert!(points.iter().all(|(_, p)| p.len() == 25));
    let t = TenantId::new("team-a").expect("tenant");
    let opts = BlockOptions {
        chunk_width_ms: 2 * HOUR,
        ..BlockOptions::default()
    };
    let raw_file = write_raw_block(
        &t,
        0,
        2 * HOUR,
        d.series.iter().map(|(l, s)| (l, s.as_slice())),
        &opts,
    )
    .expect("raw");
    let file = write_downsampled_block(
        &t,
        0,
        2 * HOUR,
        STEP,
        points.iter().map(|(l, p)| (l, p.as_slice())),
        &opts,
    )
    .expect("downsampled");
    let (_, back) = read_all_downsampled(&file).expect("read");
    assert_eq!(back, points);
    println!(
        "raw {} bytes, 5m downsampled {} bytes ({:.1}%)",
        raw_file.len(),
        file.len(),
        file.len() as f64 * 100.0 / raw_file.len() as f64
    );
    // Version 3 keeps eight aggregates per window (the window edges for
    // rates: first, span, drops); drops cost most on gauges, whose every
    // window drops. Version 2's six took under half of the raw block.
    assert!(file.len() * 100 < raw_file.len() * 55);
}
