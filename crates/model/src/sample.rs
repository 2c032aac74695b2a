//! Samples and time ranges. Timestamps are Unix milliseconds.

/// Bit pattern of Prometheus's staleness marker, a NaN that never results
/// from arithmetic. It is stored and returned bit-exact.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as an `f64`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is exactly the staleness marker (not any other NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: a timestamp in milliseconds and a value.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Self {
        Self { t, v }
    }
}

/// Samples compare bit-exact: NaN payloads matter, `-0.0 != 0.0`.
impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

impl Eq for Sample {}

/// An inclusive range of milliseconds `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub min: i64,
    pub max: i64,
}

impl TimeRange {
    pub fn new(min: i64, max: i64) -> Self {
        Self { min, max }
    }

    pub fn contains(&self, t: i64) -> bool {
        self.min <= t && t <= self.max
    }

    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// Merges `newer` (sorted) into `into` (sorted): on equal timestamps the
/// newer sample wins.
pub fn merge_newer(into: &mut Vec<Sample>, newer: &[Sample]) {
    if newer.is_empty() {
        return;
    }
    if into.last().is_none_or(|last| last.t < newer[0].t) {
        into.extend_from_slice(newer);
        return;
    }
    let old = std::mem::take(into);
    into.reserve(old.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < newer.len() {
        match old[i].t.cmp(&newer[j].t) {
            std::cmp::Ordering::Less => {
                into.push(old[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                into.push(newer[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                into.push(newer[j]);
                i += 1;
                j += 1;
            }
        }
    }
    into.extend_from_slice(&old[i..]);
    into.extend_from_slice(&newer[j..]);
}

/// Samples of `samples` (sorted) inside `range`, inclusive.
pub fn in_range(samples: &[Sample], range: TimeRange) -> &[Sample] {
    let lo = samples.partition_point(|s| s.t < range.min);
    let hi = samples.partition_point(|s| s.t <= range.max);
    &samples[lo..hi.max(lo)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample::new(t, v)
    }

    #[test]
    fn newer_samples_win_on_equal_timestamps() {
        let mut a = vec![s(1, 1.0), s(3, 1.0), s(5, 1.0)];
        merge_newer(&mut a, &[s(2, 2.0), s(3, 2.0), s(6, 2.0)]);
        assert_eq!(
            a,
            vec![s(1, 1.0), s(2, 2.0), s(3, 2.0), s(5, 1.0), s(6, 2.0)]
        );
        let mut b = vec![s(1, 1.0)];
        merge_newer(&mut b, &[s(2, 2.0)]);
        assert_eq!(b, vec![s(1, 1.0), s(2, 2.0)]);
    }

    #[test]
    fn range_is_inclusive() {
        let v = vec![s(1, 0.0), s(2, 0.0), s(3, 0.0), s(4, 0.0)];
        assert_eq!(in_range(&v, TimeRange::new(2, 3)).len(), 2);
        assert!(in_range(&v, TimeRange::new(5, 9)).is_empty());
    }

    #[test]
    fn stale_marker_is_recognised_exactly() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(STALE_NAN.is_nan());
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(1.0));
    }

    #[test]
    fn samples_compare_bitwise() {
        assert_eq!(Sample::new(1, f64::NAN), Sample::new(1, f64::NAN));
        assert_ne!(Sample::new(1, f64::NAN), Sample::new(1, STALE_NAN));
        assert_ne!(Sample::new(1, 0.0), Sample::new(1, -0.0));
    }

    #[test]
    fn ranges_overlap_inclusively() {
        let r = TimeRange::new(10, 20);
        assert!(r.overlaps(&TimeRange::new(20, 30)));
        assert!(!r.overlaps(&TimeRange::new(21, 30)));
        assert!(r.contains(10) && r.contains(20) && !r.contains(21));
    }
}
