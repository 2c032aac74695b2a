//! Plans fetch far less than the file for selective queries, and pruning
//! never loses a matching series.

mod common;

use common::*;
use stratus_block::*;
use stratus_model::{LabelMatcher, TenantId, TimeRange};

struct Fixture {
    data: Dataset,
    file: Vec<u8>,
}

fn fixture() -> Fixture {
    let data = node_exporter(10, 480, 0, 7);
    let opts = BlockOptions {
        row_group_rows: 1024,
        ..BlockOptions::default()
    };
    let file = write_raw_block(
        &TenantId::new("team-a").expect("tenant"),
        0,
        2 * HOUR,
        data.series.iter().map(|(l, s)| (l, s.as_slice())),
        &opts,
    )
    .expect("write");
    Fixture { data, file }
}

const ALL: TimeRange = TimeRange {
    min: 0,
    max: 2 * HOUR,
};

#[test]
fn metric_name_plan_fetches_a_small_part_of_the_file() {
    let f = fixture();
    let q = Querier::open(&f.file);
    assert_eq!(q.footer_fetches, 1, "footer fits the hint");
    let len = f.file.len() as u64;
    for name in [
        "node_load1",
        "node_cpu_seconds_total",
        "http_request_duration_seconds_sum",
    ] {
        let m = [LabelMatcher::equal("__name__", name)];
        let plan = q.footer.plan(&m, ALL);
        let want = naive(&f.data.series, &m, ALL);
        let got = read_raw(&q.footer, &plan, &q.fetch(&plan.ranges), &m, ALL).expect("read");
        assert_eq!(got, want);
        let (two, p1, p2) = q.two_phase(&m, ALL);
        assert_eq!(two, want);
        let share = want.len() as f64 / f.data.series.len() as f64;
        println!(
            "{name}: {} of {} series ({:.1}%), one phase {} bytes ({:.1}% of {len}), \
             two phases {p1} + {p2} bytes ({:.1}%)",
            want.len(),
            f.data.series.len(),
            share * 100.0,
            plan.total_bytes(),
            plan.total_bytes() as f64 * 100.0 / len as f64,
            (p1 + p2) as f64 * 100.0 / len as f64
        );
        // One phase: label pages of 1024 rows bound the candidate rows.
        assert!(
            plan.total_bytes() < len / 2,
            "{name}: one phase plan of {} bytes",
            plan.total_bytes()
        );
        // Two phases: the series' share of the file plus up to three pages
        // per chunk column (32 KiB each, rows straddle page boundaries)
        // and the label, fingerprint and checksum pages.
        let slack = (4 * 3 * 32 * 1024 + 64 * 1024) as f64;
        assert!(
            ((p1 + p2) as f64) < share * len as f64 + slack,
            "{name}: two phases fetched {p1} + {p2} bytes"
        );
    }
    let m = [LabelMatcher::equal("__name__", "node_load1")];
    let (_, p1, p2) = q.two_phase(&m, ALL);
    assert!(p1 + p2 < len / 8, "{p1} + {p2} of {len}");
}

#[test]
fn impossible_matchers_plan_nothing() {
    let f = fixture();
    let q = Querier::open(&f.file);
    for m in [
        // Outside the __name__ statistics.
        LabelMatcher::equal("__name__", "zzz"),
        // Inside the statistics of every page: only the bloom filters and
        // the dictionary know.
        LabelMatcher::equal("instance", "host-00003:9100x"),
        // A label no series has: it is "" everywhere.
        LabelMatcher::equal("absent", "x"),
        LabelMatcher::regex("absent", ".+", false).expect("re"),
        // Literal alternations use the bloom filters too.
        LabelMatcher::regex("instance", "nope|host-00003:91000", false).expect("re"),
    ] {
        let plan = q.footer.plan(std::slice::from_ref(&m), ALL);
        assert!(
            plan.is_empty(),
            "{m:?} planned {} bytes",
            plan.total_bytes()
        );
    }
    // Outside the block's time range.
    assert!(q
        .footer
        .plan(&[], TimeRange::new(2 * HOUR, 3 * HOUR))
        .is_empty());
    assert!(q.footer.plan(&[], TimeRange::new(-HOUR, -1)).is_empty());
}

#[test]
fn matchers_that_match_empty_keep_series_without_the_label() {
    let f = fixture();
    let q = Querier::open(&f.file);
    let full = q.footer.plan(&[], ALL);
    for m in [
        LabelMatcher::equal("absent", ""),
        LabelMatcher::not_equal("absent", "x"),
        LabelMatcher::regex("absent", ".*", false).expect("re"),
    ] {
        assert_eq!(q.footer.plan(std::slice::from_ref(&m), ALL), full);
    }
    // `cpu=""` selects every series without a cpu label.
    let m = [
        LabelMatcher::equal("cpu", ""),
        LabelMatcher::regex("__name__", "node_(cpu|load).*", false).expect("re"),
    ];
    let plan = q.footer.plan(&m, ALL);
    let got = read_raw(&q.footer, &plan, &q.fetch(&plan.ranges), &m, ALL).expect("read");
    assert_eq!(got, naive(&f.data.series, &m, ALL));
    assert_eq!(got.len(), 30, "node_load1/5/15 of 10 hosts");
}

#[test]
fn time_ranges_select_chunk_columns() {
    let f = fixture();
    let q = Querier::open(&f.file);
    let full = q.footer.plan(&[], ALL);
    // 30 min chunk columns: this range cuts chunk 1 only.
    let r = TimeRange::new(40 * 60_000, 50 * 60_000 - 1);
    let plan = q.footer.plan(&[], r);
    assert!(
        plan.total_bytes() < full.total_bytes() / 3,
        "{} of {}",
        plan.total_bytes(),
        full.total_bytes()
    );
    let m = [LabelMatcher::regex("__name__", "node_network_.*", false).expect("re")];
    let plan = q.footer.plan(&m, r);
    let got = read_raw(&q.footer, &plan, &q.fetch(&plan.ranges), &m, r).expect("read");
    assert_eq!(got, naive(&f.data.series, &m, r));
}

#[test]
fn unfetched_ranges_are_reported() {
    let f = fixture();
    let q = Querier::open(&f.file);
    let m = [LabelMatcher::equal("__name__", "node_load1")];
    let plan = q.footer.plan(&m, ALL);
    let partial = q.fetch(&plan.ranges[..plan.ranges.len() / 2]);
    let err = read_raw(&q.footer, &plan, &partial, &m, ALL).expect_err("missing ranges");
    assert!(matches!(err, BlockError::RangeNotFetched { .. }), "{err}");
    assert!(err.is_retryable());
    // Coalesced ranges cover the plan.
    let coalesced = plan.coalesce(64 * 1024);
    assert!(coalesced.len() <= plan.ranges.len());
    let fetched = q.fetch(&coalesced);
    assert!(fetched.missing(&plan.ranges).is_empty());
    assert_eq!(
        read_raw(&q.footer, &plan, &fetched, &m, ALL).expect("read"),
        naive(&f.data.series, &m, ALL)
    );
}

#[test]
fn footer_asks_for_more_when_the_tail_is_short() {
    let f = fixture();
    let len = f.file.len() as u64;
    let err = BlockFooter::parse(len, &f.file[f.file.len() - 100..]).expect_err("short");
    let BlockError::NeedMore { bytes, got } = err else {
        panic!("expected NeedMore, got {err}");
    };
    assert_eq!(got, 100);
    let tail = &f.file[(len - bytes) as usize..];
    match BlockFooter::parse(len, tail) {
        Ok(footer) => assert_eq!(footer.tail_len(), bytes),
        // The metadata first, then the page index and bloom filters.
        Err(BlockError::NeedMore { bytes: more, .. }) => {
            assert!(more > bytes);
            let footer = BlockFooter::parse(len, &f.file[(len - more) as usize..]).expect("parse");
            assert_eq!(footer.tail_len(), more);
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_plan_from_another_block_is_rejected() {
    let f = fixture();
    let q = Querier::open(&f.file);
    let plan = q.footer.plan(&[], ALL);
    let small = node_exporter(1, 10, 0, 1);
    let other = write_raw_block(
        &TenantId::new("team-a").expect("tenant"),
        0,
        HOUR,
        small.series.iter().map(|(l, s)| (l, s.as_slice())),
        &BlockOptions::default(),
    )
    .expect("write");
    let o = Querier::open(&other);
    let fetched = Fetched::whole(other.clone());
    assert!(read_raw(&o.footer, &plan, &fetched, &[], ALL).is_err());
    assert!(o.footer.refine(&plan, &fetched, &[]).is_err());
}

#[test]
fn series_labels_are_listed_without_reading_chunks() {
    let f = fixture();
    let q = Querier::open(&f.file);
    let ranges = [
        ALL,
        TimeRange::new(40 * 60_000, 50 * 60_000 - 1),
        TimeRange::new(HOUR + 1, 3 * HOUR),
    ];
    let matchers = [
        vec![],
        vec![LabelMatcher::equal("__name__", "node_load1")],
        vec![LabelMatcher::regex("__name__", "node_network_.*", false).expect("re")],
        vec![LabelMatcher::not_equal("instance", "host-00003:9100")],
    ];
    for r in ranges {
        for m in &matchers {
            let plan = q.footer.labels_plan(m, r);
            let full = q.footer.plan(m, r);
            assert!(
                plan.total_bytes() * 4 < full.total_bytes(),
                "{m:?}: labels {} bytes, samples {} bytes",
                plan.total_bytes(),
                full.total_bytes()
            );
            let got = read_series_labels(&q.footer, &plan, &q.fetch(&plan.ranges), m, r)
                .expect("read labels");
            let want: Vec<_> = naive(&f.data.series, m, r)
                .into_iter()
                .map(|(l, _)| l)
                .collect();
            assert!(!want.is_empty());
            assert_eq!(got, want, "{m:?} over {r:?}");
        }
    }
    // Unfetched label pages are an error, not a short answer.
    let m = [LabelMatcher::equal("__name__", "node_load1")];
    let plan = q.footer.labels_plan(&m, ALL);
    let err = read_series_labels(&q.footer, &plan, &Fetched::new(), &m, ALL).expect_err("missing");
    assert!(matches!(err, BlockError::RangeNotFetched { .. }), "{err}");
}

/// A series is listed when the span of its samples in the block overlaps
/// the range, even if its samples skip the range.
#[test]
fn series_labels_follow_each_series_time_span() {
    let tenant = TenantId::new("team-a").expect("tenant");
    let at = |mins: &[i64]| -> Vec<stratus_model::Sample> {
        mins.iter()
            .map(|&m| stratus_model::Sample::new(m * 60_000, 1.0))
            .collect()
    };
    let mut series = vec![
        (
            stratus_model::Labels::from_pairs([("__name__", "gappy")]).expect("labels"),
            at(&[0, 5, 10, 100, 110]),
        ),
        (
            stratus_model::Labels::from_pairs([("__name__", "early")]).expect("labels"),
            at(&[0, 1, 2]),
        ),
    ];
    sort_series(&mut series);
    let file = write_raw_block(
        &tenant,
        0,
        2 * HOUR,
        series.iter().map(|(l, s)| (l, s.as_slice())),
        &BlockOptions::default(),
    )
    .expect("write");
    let q = Querier::open(&file);
    let names = |r: TimeRange| -> Vec<String> {
        let plan = q.footer.labels_plan(&[], r);
        read_series_labels(&q.footer, &plan, &q.fetch(&plan.ranges), &[], r)
            .expect("read")
            .iter()
            .filter_map(|l| l.metric_name().map(str::to_string))
            .collect()
    };
    let min = 60_000;
    assert_eq!(names(TimeRange::new(0, 2 * min)), ["early", "gappy"]);
    assert_eq!(names(TimeRange::new(30 * min, 60 * min)), ["gappy"]);
    assert_eq!(
        names(TimeRange::new(111 * min, 2 * HOUR)),
        Vec::<String>::new()
    );
    assert_eq!(names(TimeRange::new(3 * min, 4 * min)), ["gappy"]);
}
