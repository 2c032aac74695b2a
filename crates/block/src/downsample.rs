//! Downsampling raw samples into per-window aggregates.
//!
//! The rules, also in `docs/format/block.md`:
//!
//! * Windows are `(e - step, e]` with `e` a multiple of `step` (counted
//!   from the Unix epoch, also for negative times): left-open and
//!   right-closed like PromQL's range windows, so a range `(T - r, T]` with
//!   `T` and `r` multiples of `step` covers exactly the windows whose points
//!   lie in it. A window's point has the timestamp of the window's last
//!   sample that is not a staleness marker, so a point never summarises
//!   samples later than its own timestamp and always lies inside the block
//!   its samples came from.
//! * Staleness markers are skipped entirely: they count for nothing, and a
//!   window holding only staleness markers has no point.
//! * `count` is the number of other samples, `sum` their sum (so any other
//!   NaN makes it NaN), `min`/`max` the smallest/largest value where a NaN
//!   loses against any number (as `min_over_time` in Prometheus), `last`
//!   the raw value of the window's last sample.
//! * `counter` is the reset-adjusted running counter at the window's last
//!   non-NaN sample: with `v_1, v_2, ...` the non-NaN values of the input in
//!   time order, `offset_1 = 0`, `offset_i = offset_{i-1} + v_{i-1}` when
//!   `v_i < v_{i-1}` (a counter reset: Prometheus assumes a restart from
//!   zero) and `offset_{i-1}` otherwise; `counter_i = v_i + offset_i`.
//!   So the counter starts at the first raw value, never decreases within a
//!   block, and `counter_last - counter_first_window` is exactly the
//!   increase Prometheus computes over the raw samples between those two
//!   points. Without resets it equals `last` bit for bit. A window whose
//!   samples are all NaN repeats the previous counter (NaN if there was
//!   none).
//! * The window's edges (block version 3): `first` the value of its first
//!   sample, `span` the time from that sample to the last (ms), and
//!   `drops` the sum of the value before each drop between consecutive
//!   samples of the window (`v_i < v_{i-1}`, NaN comparing false), in time
//!   order. With `last` and `count` these give what Prometheus's
//!   `extrapolatedRate` reads from the raw samples of a range made of whole
//!   windows: the first and last sample (time and value), the number of
//!   samples, and the reset correction, whose cross-window part compares
//!   one window's `last` with the next one's `first`.

use stratus_model::{is_stale_nan, Sample};

/// The aggregates of one downsampling window. Compares bit-exact, like
/// [`Sample`].
#[derive(Debug, Clone, Copy)]
pub struct AggrPoint {
    /// The timestamp of the window's last sample (staleness markers aside).
    pub t: i64,
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The raw value of the window's last sample.
    pub last: f64,
    /// The reset-adjusted counter at the window's last sample. Stored in
    /// blocks of version 2; version 3 derives it on read from `last` and
    /// the edges (offsets start at 0 at the first point read), which gives
    /// the same value where the series has no NaN values, up to the order
    /// of the offsets' summation.
    pub counter: f64,
    /// The window's first sample and drops; `None` in blocks of version 2.
    pub edges: Option<WindowEdges>,
}

/// What a window keeps besides its six aggregates (block version 3): enough
/// for `rate`, `increase` and `delta` over whole windows.
#[derive(Debug, Clone, Copy)]
pub struct WindowEdges {
    /// The time of the window's first sample (staleness markers aside).
    pub first_t: i64,
    /// Its value.
    pub first: f64,
    /// The sum of the value before each drop between consecutive samples
    /// of the window: `v_{i-1}` for every `v_i < v_{i-1}`.
    pub drops: f64,
}

impl AggrPoint {
    /// The values in the column order of block version 3 ([`AGGREGATES`]):
    /// count, sum, min, max, last, first, span (`t - first_t`, ms), drops;
    /// without edges, those of version 2 ([`AggrPoint::values_v2`]).
    ///
    /// [`AGGREGATES`]: crate::AGGREGATES
    pub fn values(&self) -> Vec<f64> {
        match self.edges {
            Some(e) => vec![
                self.count,
                self.sum,
                self.min,
                self.max,
                self.last,
                e.first,
                (self.t - e.first_t) as f64,
                e.drops,
            ],
            None => self.values_v2(),
        }
    }

    /// The values in the column order of block version 2
    /// ([`AGGREGATES_V2`]): count, sum, min, max, last, counter.
    ///
    /// [`AGGREGATES_V2`]: crate::AGGREGATES_V2
    pub fn values_v2(&self) -> Vec<f64> {
        vec![
            self.count,
            self.sum,
            self.min,
            self.max,
            self.last,
            self.counter,
        ]
    }

    /// The counter reset offset reached at this point: `counter - last`.
    /// See `docs/format/block.md` on joining blocks.
    pub fn counter_offset(&self) -> f64 {
        self.counter - self.last
    }
}

impl PartialEq for AggrPoint {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.values(), other.values());
        self.t == other.t
            && a.len() == b.len()
            && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for AggrPoint {}

/// End of the window `(end - step, end]` holding `t`: the smallest multiple
/// of `step_ms` not before `t`. Saturates at `i64::MAX`.
pub fn window_end(t: i64, step_ms: i64) -> i64 {
    match t.rem_euclid(step_ms) {
        0 => t,
        r => t.saturating_add(step_ms - r),
    }
}

struct Window {
    end: i64,
    t: i64,
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
    first_t: i64,
    first: f64,
    drops: f64,
}

/// Downsamples the samples of one series (in time order) into one point per
/// `step_ms` window that holds samples other than staleness markers.
/// Returns nothing when `step_ms` is not positive.
pub fn downsample(samples: &[Sample], step_ms: i64) -> Vec<AggrPoint> {
    if step_ms <= 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut window: Option<Window> = None;
    let mut counter = f64::NAN;
    let mut offset = 0.0;
    let mut prev: Option<f64> = None;
    let flush = |w: Window, counter: f64, out: &mut Vec<AggrPoint>| {
        out.push(AggrPoint {
            t: w.t,
            count: w.count,
            sum: w.sum,
            min: w.min,
            max: w.max,
            last: w.last,
            counter,
            edges: Some(WindowEdges {
                first_t: w.first_t,
                first: w.first,
                drops: w.drops,
            }),
        });
    };
    for s in samples {
        if is_stale_nan(s.v) {
            continue;
        }
        let end = window_end(s.t, step_ms);
        match &mut window {
            Some(w) if w.end == end => {
                w.t = s.t;
                w.count += 1.0;
                w.sum += s.v;
                if s.v < w.min || w.min.is_nan() {
                    w.min = s.v;
                }
                if s.v > w.max || w.max.is_nan() {
                    w.max = s.v;
                }
                if s.v < w.last {
                    w.drops += w.last;
                }
                w.last = s.v;
            }
            _ => {
                if let Some(w) = window.take() {
                    flush(w, counter, &mut out);
                }
                window = Some(Window {
                    end,
                    t: s.t,
                    count: 1.0,
                    sum: s.v,
                    min: s.v,
                    max: s.v,
                    last: s.v,
                    first_t: s.t,
                    first: s.v,
                    drops: 0.0,
                });
            }
        }
        if !s.v.is_nan() {
            if let Some(p) = prev {
                if s.v < p {
                    offset += p;
                }
            }
            counter = s.v + offset;
            prev = Some(s.v);
        }
    }
    if let Some(w) = window {
        flush(w, counter, &mut out);
    }
    out
}

/// The increase PromQL's `increase()` sees over `samples` (without
/// extrapolation): the sum of non-negative deltas, a drop counting as a
/// restart from zero. NaN values are skipped. Used by tests and by
/// whoever checks downsampled answers against raw ones.
pub fn raw_increase(samples: &[Sample]) -> f64 {
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    for s in samples.iter().filter(|s| !s.v.is_nan()) {
        if let Some(p) = prev {
            total += if s.v >= p { s.v - p } else { s.v };
        }
        prev = Some(s.v);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_model::STALE_NAN;

    fn s(t: i64, v: f64) -> Sample {
        Sample::new(t, v)
    }

    fn p(t: i64, count: f64, sum: f64, min: f64, max: f64, last: f64, counter: f64) -> AggrPoint {
        AggrPoint {
            t,
            count,
            sum,
            min,
            max,
            last,
            counter,
            edges: None,
        }
    }

    /// The points without their edges, for the tests of the six aggregates.
    fn six(points: Vec<AggrPoint>) -> Vec<AggrPoint> {
        points
            .into_iter()
            .map(|p| AggrPoint { edges: None, ..p })
            .collect()
    }

    fn edges(points: &[AggrPoint]) -> Vec<(i64, f64, f64)> {
        points
            .iter()
            .map(|p| {
                let e = p.edges.expect("edges");
                (e.first_t, e.first, e.drops)
            })
            .collect()
    }

    #[test]
    fn aggregates_per_window() {
        // Windows of 100 ms: (0,100], (100,200], (300,400].
        let raw = [
            s(1, 3.0),
            s(50, 1.0),
            s(99, 2.0),
            s(100, 10.0),
            s(150, -4.0),
            s(200, 7.5),
            s(301, 8.0),
        ];
        assert_eq!(
            edges(&downsample(&raw, 100)),
            // 1 < 3 drops from 3; -4 < 10 drops from 10.
            [(1, 3.0, 3.0), (150, -4.0, 0.0), (301, 8.0, 0.0)]
        );
        assert_eq!(
            six(downsample(&raw, 100)),
            vec![
                p(100, 4.0, 16.0, 1.0, 10.0, 10.0, 13.0),
                p(200, 2.0, 3.5, -4.0, 7.5, 7.5, 20.5),
                p(301, 1.0, 8.0, 8.0, 8.0, 8.0, 21.0),
            ]
        );
        // counter: 3; 1 < 3 is a reset (offset 3): 4; 2: 5; 10: 13 |
        // -4 < 10 is a reset (offset 3 + 10): 9; 7.5: 20.5 | 8: 21.
    }

    #[test]
    fn counter_with_resets_by_hand() {
        // A counter 10, 20, reset to 5, 15 | 25, reset to 2 | 4.
        let raw = [
            s(1, 10.0),
            s(11, 20.0),
            s(21, 5.0),
            s(31, 15.0),
            s(41, 25.0),
            s(51, 2.0),
            s(61, 4.0),
        ];
        let pts = downsample(&raw, 40);
        assert_eq!(edges(&pts), [(1, 10.0, 20.0), (41, 25.0, 25.0)]);
        let pts = six(pts);
        // offsets: 0, 0, 20, 20, 20, 45, 45
        // counters: 10, 20, 25, 35, 45, 47, 49
        assert_eq!(
            pts,
            vec![
                p(31, 4.0, 50.0, 5.0, 20.0, 15.0, 35.0),
                p(61, 3.0, 31.0, 2.0, 25.0, 4.0, 49.0),
            ]
        );
        // Prometheus's increase over all raw samples: 10 + 5 + 10 + 10 + 2 + 2.
        assert_eq!(raw_increase(&raw), 39.0);
        // counter_last - counter_first_sample (= the first raw value).
        assert_eq!(pts[1].counter - raw[0].v, 39.0);
        assert_eq!(pts[1].counter_offset(), 45.0);
    }

    #[test]
    fn counter_without_resets_equals_last_bit_for_bit() {
        let raw: Vec<Sample> = (1..=100).map(|i| s(i * 15_000, 0.1 * i as f64)).collect();
        for pt in downsample(&raw, 300_000) {
            assert_eq!(pt.counter.to_bits(), pt.last.to_bits());
            assert_eq!(pt.count, 20.0);
        }
    }

    #[test]
    fn stale_markers_are_skipped() {
        let raw = [
            s(1, 1.0),
            s(11, STALE_NAN),
            s(21, 3.0),
            // A window with only a staleness marker has no point.
            s(111, STALE_NAN),
            s(221, 0.5),
            // The point takes the time of the last sample that is not a
            // staleness marker.
            s(231, STALE_NAN),
        ];
        assert_eq!(
            six(downsample(&raw, 100)),
            vec![
                p(21, 2.0, 4.0, 1.0, 3.0, 3.0, 3.0),
                // 0.5 < 3: a reset, offset 3.
                p(221, 1.0, 0.5, 0.5, 0.5, 0.5, 3.5),
            ]
        );
    }

    #[test]
    fn other_nans_count_but_do_not_move_the_counter() {
        let raw = [s(1, f64::NAN), s(10, 2.0), s(101, f64::NAN)];
        let pts = downsample(&raw, 100);
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].count, 2.0);
        assert!(pts[0].sum.is_nan());
        assert_eq!((pts[0].min, pts[0].max, pts[0].counter), (2.0, 2.0, 2.0));
        // Only NaN in the second window: min/max/last NaN, counter carried.
        assert!(pts[1].min.is_nan() && pts[1].last.is_nan());
        assert_eq!(pts[1].counter, 2.0);
        // No non-NaN value yet: counter NaN.
        assert!(downsample(&[s(0, f64::NAN)], 100)[0].counter.is_nan());
    }

    #[test]
    fn windows_are_aligned_for_negative_times() {
        let raw = [s(-100, 1.0), s(-99, 2.0), s(0, 3.0), s(1, 4.0)];
        let pts = downsample(&raw, 100);
        assert_eq!(pts.iter().map(|p| p.t).collect::<Vec<_>>(), [-100, 0, 1]);
        assert_eq!(
            pts.iter().map(|p| p.count).collect::<Vec<_>>(),
            [1.0, 2.0, 1.0]
        );
        assert_eq!(window_end(-150, 100), -100);
        assert_eq!(window_end(-100, 100), -100);
        assert_eq!(window_end(1, 100), 100);
        assert_eq!(window_end(i64::MAX - 1, 100), i64::MAX);
        assert!(downsample(&[s(0, 1.0)], 0).is_empty());
        assert!(downsample(&[], 100).is_empty());
    }
}
