//! Blocks of the previous layout version stay readable: a version 2 rollup
//! (six aggregates per window, written by the writer of that version and
//! kept as a file) reads back without window edges, and rewriting its
//! points (as a delete request does) keeps version 2.

use stratus_block::*;
use stratus_model::{Labels, Sample, TenantId};

/// Written by `write_downsampled_block` of block version 2 from
/// [`samples`] in 5 m windows, block range `[0, 2 h)`, tenant `team-a`.
const V2_ROLLUP: &[u8] = include_bytes!("data/rollup_v2.parquet");

/// The counter the fixture was made from: every 60 s (at 53 s past the
/// minute), 3 per scrape, reset after 70 scrapes, then 2 per scrape.
fn samples() -> Vec<Sample> {
    (1..=120)
        .map(|i| {
            let v = if i <= 70 {
                i as f64 * 3.0
            } else {
                (i - 70) as f64 * 2.0
            };
            Sample::new(i * 60_000 - 7_000, v)
        })
        .collect()
}

fn labels() -> Labels {
    Labels::from_pairs([("__name__", "c_total"), ("job", "a")]).expect("labels")
}

#[test]
fn a_version_2_rollup_reads_without_edges() {
    let footer = BlockFooter::parse(V2_ROLLUP.len() as u64, V2_ROLLUP).expect("footer");
    assert_eq!(footer.info().version, 2);
    assert!(!footer.info().has_edges());
    let (info, read) = read_all_downsampled(V2_ROLLUP).expect("read");
    assert_eq!(info.version, 2);
    assert_eq!(
        info.resolution,
        Resolution::Downsampled { step_ms: 300_000 }
    );
    // The same six aggregates today's downsampling makes, and no edges.
    let six: Vec<AggrPoint> = downsample(&samples(), 300_000)
        .into_iter()
        .map(|p| AggrPoint { edges: None, ..p })
        .collect();
    assert_eq!(read, vec![(labels(), six.clone())]);

    // Rewritten (a delete request), the points stay version 2.
    let tenant = TenantId::new("team-a").expect("tenant");
    let o = BlockOptions::default();
    let again =
        write_downsampled_block(&tenant, 0, 7_200_000, 300_000, [(&labels(), &six[..])], &o)
            .expect("write");
    let (info, back) = read_all_downsampled(&again).expect("read");
    assert_eq!((info.version, back), (2, vec![(labels(), six)]));
}

#[test]
fn today_s_rollup_keeps_the_window_edges() {
    let tenant = TenantId::new("team-a").expect("tenant");
    let points = downsample(&samples(), 300_000);
    let file = write_downsampled_block(
        &tenant,
        0,
        7_200_000,
        300_000,
        [(&labels(), &points[..])],
        &BlockOptions::default(),
    )
    .expect("write");
    let (info, back) = read_all_downsampled(&file).expect("read");
    assert_eq!(info.version, 3);
    assert!(info.has_edges());
    assert_eq!(back, vec![(labels(), points.clone())]);
    // The reset falls between two windows (70 -> 71 is 210 -> 2): no
    // window drops inside, and the next window starts below the last.
    assert!(points
        .iter()
        .all(|p| p.edges.is_some_and(|e| e.drops == 0.0)));
    let at = points
        .iter()
        .position(|p| p.last == 210.0)
        .expect("before the reset");
    let next = points[at + 1].edges.expect("edges");
    assert_eq!(
        (next.first_t, next.first, points[at + 1].count),
        (71 * 60_000 - 7_000, 2.0, 5.0)
    );
}
