//! When a group is due: evaluation slots aligned like Prometheus's
//! (`t - (t + offset) % interval`, the offset spreading groups over the
//! interval), and missed slots counted rather than silently skipped. Pure:
//! the caller passes "now" and the last evaluated slot from the group state.

/// The slot to evaluate now, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueSlot {
    /// Scheduled timestamp to evaluate at (ms).
    pub t_ms: i64,
    /// Slots between the last evaluation and this one that were never
    /// evaluated (a late or crashed ruler); Prometheus skips them too, and
    /// counts them in `prometheus_rule_group_iterations_missed_total`.
    pub missed: u64,
}

/// A stable offset in `[0, interval)` for a group, from its tenant,
/// namespace and name (FNV-1a, so every ruler process agrees).
pub fn group_offset_ms(key: &str, interval_ms: i64) -> i64 {
    if interval_ms <= 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // interval_ms > 0, so the remainder fits an i64.
    i64::try_from(h % interval_ms.unsigned_abs()).unwrap_or(0)
}

/// The latest slot `<= now_ms`.
pub fn slot_at_or_before(now_ms: i64, interval_ms: i64, offset_ms: i64) -> i64 {
    now_ms - (now_ms - offset_ms).rem_euclid(interval_ms)
}

/// The slot due at `now_ms` given the last evaluated slot, or None when the
/// latest slot was already evaluated.
pub fn due(last_ms: Option<i64>, now_ms: i64, interval_ms: i64, offset_ms: i64) -> Option<DueSlot> {
    let interval_ms = interval_ms.max(1);
    let t = slot_at_or_before(now_ms, interval_ms, offset_ms);
    match last_ms {
        Some(last) if last >= t => None,
        Some(last) => {
            let skipped = (t - last) / interval_ms - 1;
            Some(DueSlot {
                t_ms: t,
                missed: u64::try_from(skipped.max(0)).unwrap_or(0),
            })
        }
        None => Some(DueSlot { t_ms: t, missed: 0 }),
    }
}

/// The slots an invocation running from `start_ms` to `deadline_ms`
/// should evaluate, for groups whose interval is shorter than the
/// invocation schedule: the due slot, then each later slot before the
/// deadline.
pub fn slots_until(
    last_ms: Option<i64>,
    start_ms: i64,
    deadline_ms: i64,
    interval_ms: i64,
    offset_ms: i64,
) -> Vec<DueSlot> {
    let interval_ms = interval_ms.max(1);
    let mut out: Vec<DueSlot> = due(last_ms, start_ms, interval_ms, offset_ms)
        .into_iter()
        .collect();
    let mut next = slot_at_or_before(start_ms, interval_ms, offset_ms) + interval_ms;
    while next < deadline_ms {
        out.push(DueSlot {
            t_ms: next,
            missed: 0,
        });
        next += interval_ms;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_aligned_with_the_offset() {
        assert_eq!(slot_at_or_before(125_000, 60_000, 0), 120_000);
        assert_eq!(slot_at_or_before(125_000, 60_000, 10_000), 70_000);
        assert_eq!(slot_at_or_before(130_000, 60_000, 10_000), 130_000);
        let off = group_offset_ms("tenant/ns/group", 60_000);
        assert!((0..60_000).contains(&off));
        assert_eq!(off, group_offset_ms("tenant/ns/group", 60_000), "stable");
        assert_ne!(off, group_offset_ms("tenant/ns/other", 60_000));
    }

    #[test]
    fn due_once_per_slot_and_counts_missed() {
        assert_eq!(
            due(None, 61_000, 60_000, 0),
            Some(DueSlot {
                t_ms: 60_000,
                missed: 0
            })
        );
        assert_eq!(due(Some(60_000), 119_999, 60_000, 0), None);
        assert_eq!(
            due(Some(60_000), 120_000, 60_000, 0),
            Some(DueSlot {
                t_ms: 120_000,
                missed: 0
            })
        );
        // The ruler was away for three slots.
        assert_eq!(
            due(Some(60_000), 305_000, 60_000, 0),
            Some(DueSlot {
                t_ms: 300_000,
                missed: 3
            })
        );
    }

    #[test]
    fn one_invocation_covers_short_intervals() {
        let slots = slots_until(Some(0), 60_500, 120_000, 15_000, 0);
        let times: Vec<i64> = slots.iter().map(|s| s.t_ms).collect();
        assert_eq!(times, [60_000, 75_000, 90_000, 105_000]);
        assert_eq!(slots[0].missed, 3);
        assert!(slots[1..].iter().all(|s| s.missed == 0));
    }
}
