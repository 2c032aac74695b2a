use super::*;

const H: i64 = 3_600_000;
const NOW: i64 = 1_000 * H;

fn cfg() -> CompactorConfig {
    CompactorConfig::default()
}

fn seg(n: usize, ulid_ms: i64) -> SegmentRef {
    SegmentRef {
        key: format!("tenants/t/segments/{ulid_ms:013}-{n:04}.seg"),
        ulid_ms,
        bytes: 100,
    }
}

fn block(id: &str, level: u8, min: i64, max: i64) -> BlockEntry {
    BlockEntry {
        id: id.into(),
        level,
        resolution_ms: 0,
        min_time: min,
        max_time: max,
        series: 1,
        samples: 1,
        bytes: 1,
        source: None,
        edges: false,
    }
}

fn merges(jobs: &[Job]) -> Vec<(Vec<String>, u8)> {
    jobs.iter()
        .filter_map(|j| match j {
            Job::Merge { blocks, level, .. } => Some((blocks.clone(), *level)),
            _ => None,
        })
        .collect()
}

#[test]
fn segments_older_than_the_grace_are_compacted_and_the_watermark_follows_them() {
    let segs = vec![
        seg(0, NOW - H),
        seg(1, NOW - 10 * 60_000),
        seg(2, NOW - 60_000),
    ];
    let jobs = plan(&Catalog::default(), &segs, &[], NOW, &cfg());
    let watermark = NOW - 10 * 60_000 + 1;
    assert_eq!(
        jobs,
        vec![Job::CompactSegments {
            segments: segs[..2].to_vec(),
            watermark_from: 0,
            watermark_to: watermark
        }],
        "the watermark stops just after the newest segment compacted, not at the cutoff"
    );
    let done = Catalog {
        segment_watermark_ms: watermark,
        ..Catalog::default()
    };
    assert!(
        plan(&done, &segs, &[], NOW, &cfg()).is_empty(),
        "nothing below the watermark again"
    );
}

#[test]
fn a_job_limit_never_splits_a_millisecond() {
    let c = CompactorConfig {
        max_segments_per_job: 2,
        ..cfg()
    };
    let segs = vec![seg(0, 100), seg(1, 200), seg(2, 200), seg(3, 300)];
    let jobs = plan(&Catalog::default(), &segs, &[], NOW, &c);
    let Some(Job::CompactSegments {
        segments,
        watermark_to,
        ..
    }) = jobs.first()
    else {
        panic!("{jobs:?}")
    };
    assert_eq!(segments.len(), 3, "both segments of ms 200");
    assert_eq!(
        *watermark_to, 300,
        "the next pass starts at the first segment left"
    );
}

#[test]
fn due_deletes_and_old_orphans_are_deleted() {
    let catalog = Catalog {
        blocks: vec![block("live", 1, 0, 2 * H)],
        pending_deletes: vec![
            PendingDelete::Block {
                id: "old".into(),
                due_ms: NOW - 1,
            },
            PendingDelete::Block {
                id: "later".into(),
                due_ms: NOW + 1,
            },
        ],
        ..Catalog::default()
    };
    let objects = [
        BlockObject {
            id: "live".into(),
            ulid_ms: 0,
        },
        BlockObject {
            id: "old".into(),
            ulid_ms: 0,
        },
        BlockObject {
            id: "later".into(),
            ulid_ms: 0,
        },
        BlockObject {
            id: "orphan".into(),
            ulid_ms: NOW - 2 * H,
        },
        BlockObject {
            id: "young-orphan".into(),
            ulid_ms: NOW - 60_000,
        },
    ];
    let jobs = plan(&catalog, &[], &objects, NOW, &cfg());
    assert!(jobs.contains(&Job::DeleteDue {
        entries: vec![PendingDelete::Block {
            id: "old".into(),
            due_ms: NOW - 1
        }]
    }));
    assert!(
        jobs.contains(&Job::DeleteOrphans {
            blocks: vec!["orphan".into()]
        }),
        "{jobs:?}"
    );
}

#[test]
fn blocks_of_one_range_merge_when_settled_or_numerous() {
    let start = NOW - 10 * H - (NOW - 10 * H).rem_euclid(2 * H);
    let two = Catalog {
        blocks: vec![
            block("a", 1, start, start + 2 * H),
            block("b", 1, start, start + 2 * H),
        ],
        ..Catalog::default()
    };
    assert_eq!(
        merges(&plan(&two, &[], &[], NOW, &cfg())),
        vec![(vec!["a".into(), "b".into()], 2)]
    );
    let recent = NOW - NOW.rem_euclid(2 * H);
    let fresh = Catalog {
        blocks: vec![
            block("a", 1, recent, recent + 2 * H),
            block("b", 1, recent, recent + 2 * H),
        ],
        ..Catalog::default()
    };
    assert!(
        merges(&plan(&fresh, &[], &[], NOW, &cfg())).is_empty(),
        "two fresh blocks wait"
    );
    let many = Catalog {
        blocks: (0..4)
            .map(|i| block(&format!("b{i}"), 1, recent, recent + 2 * H))
            .collect(),
        ..Catalog::default()
    };
    assert_eq!(
        merges(&plan(&many, &[], &[], NOW, &cfg())).len(),
        1,
        "four fresh blocks merge"
    );
}

#[test]
fn settled_days_become_one_block_and_get_rollups() {
    let day = NOW - 3 * 24 * H - (NOW - 3 * 24 * H).rem_euclid(24 * H);
    let blocks: Vec<BlockEntry> = (0..12)
        .map(|i| {
            block(
                &format!("r{i:02}"),
                2,
                day + i * 2 * H,
                day + (i + 1) * 2 * H,
            )
        })
        .collect();
    let catalog = Catalog {
        blocks,
        ..Catalog::default()
    };
    let m = merges(&plan(&catalog, &[], &[], NOW, &cfg()));
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].0.len(), m[0].1), (12, 3));

    let day_block = Catalog {
        blocks: vec![block("d", 3, day, day + 24 * H)],
        ..Catalog::default()
    };
    let jobs = plan(&day_block, &[], &[], NOW, &cfg());
    assert_eq!(
        jobs,
        vec![
            Job::Downsample {
                block: "d".into(),
                step_ms: 300_000
            },
            Job::Downsample {
                block: "d".into(),
                step_ms: 3_600_000
            },
        ]
    );
}

#[test]
fn retention_retires_expired_blocks_and_stale_rollups() {
    let c = CompactorConfig {
        retention_raw: std::time::Duration::from_secs(7 * 24 * 3600),
        downsample: false,
        ..cfg()
    };
    let old = NOW - 30 * 24 * H - (NOW - 30 * 24 * H).rem_euclid(24 * H);
    let recent = NOW - 3 * 24 * H - (NOW - 3 * 24 * H).rem_euclid(24 * H);
    let mut kept_rollup = block("kept-rollup", 3, old, old + 24 * H);
    kept_rollup.resolution_ms = 300_000;
    kept_rollup.source = Some("expired-raw".into());
    let mut stale_rollup = block("stale-rollup", 3, recent, recent + 24 * H);
    stale_rollup.resolution_ms = 300_000;
    stale_rollup.source = Some("replaced".into());
    let catalog = Catalog {
        blocks: vec![
            block("old-raw", 3, old, old + 24 * H),
            block("new-raw", 3, recent, recent + 24 * H),
            kept_rollup,
            stale_rollup,
        ],
        ..Catalog::default()
    };
    let jobs = plan(&catalog, &[], &[], NOW, &c);
    assert!(
        jobs.contains(&Job::Retire {
            blocks: vec!["old-raw".into(), "stale-rollup".into()]
        }),
        "{jobs:?}"
    );
}

#[test]
fn a_compactor_clock_ahead_does_not_hide_later_segments() {
    // Run "a day from now": the watermark must not jump to tomorrow.
    let segs = vec![seg(0, NOW)];
    let jobs = plan(&Catalog::default(), &segs, &[], NOW + 24 * H, &cfg());
    let Some(Job::CompactSegments { watermark_to, .. }) = jobs.first() else {
        panic!("{jobs:?}")
    };
    assert_eq!(*watermark_to, NOW + 1);
}

#[test]
fn a_pass_run_as_an_earlier_time_still_compacts_segments_written_before_the_clock() {
    // Backfill: the data is days old, the segments were written just now
    // (wall clock NOW), and the pass runs as of the day after the data.
    let segs = vec![seg(0, NOW - 10 * 60_000)];
    let as_of = NOW - 48 * H;
    assert!(plan(&Catalog::default(), &segs, &[], as_of, &cfg()).is_empty());
    let jobs = plan_at(&Catalog::default(), &segs, &[], as_of, NOW, &cfg());
    assert!(
        matches!(jobs.first(), Some(Job::CompactSegments { segments, .. }) if segments.len() == 1),
        "{jobs:?}"
    );
}

fn tombstone(id: usize, min: i64, max: i64, created_ms: i64) -> stratus_codec::Tombstone {
    stratus_codec::Tombstone {
        id: format!("t{id:05}"),
        matchers: vec![stratus_codec::TombstoneMatcher {
            name: "job".into(),
            op: "=".into(),
            value: "a".into(),
        }],
        min_time: min,
        max_time: max,
        created_ms,
    }
}

/// A backlog of delete requests is two jobs, whatever its size: one
/// rewrite of every block any request needs rewritten, then one job that
/// forgets every applied request. (One job per request made a pass of
/// 1 500 requests give up after its 1 000 rounds.)
#[test]
fn a_backlog_of_delete_requests_is_one_rewrite_then_one_drop() {
    let old = ulid::Ulid::from_parts((NOW - 50 * H) as u64, 1).to_string();
    let other = ulid::Ulid::from_parts((NOW - 50 * H) as u64, 2).to_string();
    let mut cat = Catalog {
        segment_watermark_ms: NOW - H,
        blocks: vec![
            block(&old, 3, NOW - 48 * H, NOW - 24 * H),
            block(&other, 3, NOW - 72 * H, NOW - 48 * H),
        ],
        ..Catalog::default()
    };
    cat.tombstones = (0..1500)
        .map(|i| {
            tombstone(
                i,
                NOW - 48 * H + i as i64,
                NOW - 48 * H + i as i64,
                NOW - 2 * H,
            )
        })
        .collect();
    cat.tombstones
        .push(tombstone(9999, NOW - 60 * H, NOW - 60 * H, NOW - 2 * H));
    let jobs = plan(
        &cat,
        &[],
        &[],
        NOW,
        &CompactorConfig {
            downsample: false,
            ..cfg()
        },
    );
    let rewrites: Vec<&Vec<String>> = jobs
        .iter()
        .filter_map(|j| match j {
            Job::Rewrite { blocks } => Some(blocks),
            _ => None,
        })
        .collect();
    assert_eq!(
        rewrites,
        vec![&vec![old.clone(), other.clone()]],
        "{jobs:?}"
    );
    assert!(!jobs.iter().any(|j| matches!(j, Job::DropTombstones { .. })));

    // Once rewritten (the new blocks are younger than the requests), every
    // request is forgotten by one job.
    let new = ulid::Ulid::from_parts((NOW - H) as u64, 3).to_string();
    let newer = ulid::Ulid::from_parts((NOW - H) as u64, 4).to_string();
    cat.blocks = vec![
        block(&new, 3, NOW - 48 * H, NOW - 24 * H),
        block(&newer, 3, NOW - 72 * H, NOW - 48 * H),
    ];
    let jobs = plan(
        &cat,
        &[],
        &[],
        NOW,
        &CompactorConfig {
            downsample: false,
            ..cfg()
        },
    );
    let drops: Vec<usize> = jobs
        .iter()
        .filter_map(|j| match j {
            Job::DropTombstones { ids } => Some(ids.len()),
            _ => None,
        })
        .collect();
    assert_eq!(drops, vec![1501], "{jobs:?}");
    assert!(!jobs.iter().any(|j| matches!(j, Job::Rewrite { .. })));
}

/// Late samples (a Prometheus resending its WAL after an outage) land in
/// segments whose level-1 blocks fall into ranges already merged: they are
/// merged with them, and a day that had its day block is merged again.
#[test]
fn late_blocks_are_merged_into_ranges_already_merged() {
    let start = NOW - 10 * H - (NOW - 10 * H).rem_euclid(2 * H);
    let two_h = Catalog {
        blocks: vec![
            block("01merged", 2, start, start + 2 * H),
            block("02late", 1, start, start + 2 * H),
        ],
        ..Catalog::default()
    };
    assert_eq!(
        merges(&plan(&two_h, &[], &[], NOW, &cfg())),
        vec![(vec!["01merged".into(), "02late".into()], 2)]
    );
    let day = NOW - 3 * 24 * H - (NOW - 3 * 24 * H).rem_euclid(24 * H);
    let late_day = Catalog {
        blocks: vec![
            block("01day", 3, day, day + 24 * H),
            block("02late", 1, day + 4 * H, day + 6 * H),
        ],
        ..Catalog::default()
    };
    let m = merges(&plan(&late_day, &[], &[], NOW, &cfg()));
    assert!(
        m.iter().any(|(ids, _)| ids.contains(&"02late".to_string())),
        "the late block is merged: {m:?}"
    );
}
