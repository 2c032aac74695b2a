//! `histogram_quantile` over classic histograms (series of `le` buckets),
//! as Prometheus v3.0's `BucketQuantile` in `promql/quantile.go`.

#[cfg(test)]
mod tests;

/// Relative difference between neighbouring cumulative bucket counts below
/// which Prometheus treats them as equal (floating point noise, e.g. from
/// sharded sums).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One classic-histogram bucket: the parsed `le` label and its cumulative
/// count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// The quantile and what had to be fixed to compute it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketQuantile {
    pub value: f64,
    /// A bucket count was lower than a bucket below it and was raised.
    /// Prometheus then adds the info annotation
    /// [`Annotation::HistogramQuantileForcedMonotonicity`](crate::Annotation).
    pub forced_monotonicity: bool,
    /// Counts differing by a relative 1e-12 or less were made equal. No
    /// annotation in Prometheus.
    pub fixed_precision: bool,
}

impl BucketQuantile {
    fn plain(value: f64) -> Self {
        Self {
            value,
            forced_monotonicity: false,
            fixed_precision: false,
        }
    }
}

/// The φ-quantile `q` of a classic histogram, interpolating linearly
/// within the bucket the rank falls into.
///
/// - `q` NaN gives NaN, `q < 0` -Inf, `q > 1` +Inf (checked before
///   anything else; the evaluator warns separately).
/// - Buckets are sorted by upper bound here; the highest must be +Inf,
///   otherwise NaN. Buckets with the same upper bound are merged (their
///   counts added).
/// - Counts are made monotonic: relative differences up to 1e-12 are
///   ignored in either direction, decreases are lifted to the running
///   maximum.
/// - Fewer than two buckets, or zero observations, give NaN (and clear
///   both flags).
/// - The lowest bucket starts at 0 if its upper bound is positive;
///   otherwise a rank in it returns its upper bound. A rank in the +Inf
///   bucket returns the second-highest upper bound.
///
/// `buckets` is left sorted and merged.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    if q.is_nan() {
        return BucketQuantile::plain(f64::NAN);
    }
    if q < 0.0 {
        return BucketQuantile::plain(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return BucketQuantile::plain(f64::INFINITY);
    }
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if buckets
        .last()
        .is_none_or(|b| b.upper_bound != f64::INFINITY)
    {
        return BucketQuantile::plain(f64::NAN);
    }
    coalesce(buckets);
    let (forced_monotonicity, fixed_precision) = ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE);

    let n = buckets.len();
    if n < 2 {
        return BucketQuantile::plain(f64::NAN);
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return BucketQuantile::plain(f64::NAN);
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].count >= rank);

    let value = if b == n - 1 {
        buckets[n - 2].upper_bound
    } else if b == 0 && buckets[0].upper_bound <= 0.0 {
        buckets[0].upper_bound
    } else {
        let end = buckets[b].upper_bound;
        let mut count = buckets[b].count;
        let mut start = 0.0;
        if b > 0 {
            start = buckets[b - 1].upper_bound;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    BucketQuantile {
        value,
        forced_monotonicity,
        fixed_precision,
    }
}

/// Go's `sort.Search`: the smallest index in [0, n) for which `pred`
/// holds, assuming it is monotone, or `n`. Kept as Go's bisection so
/// non-monotone predicates (NaN counts) land on the same index.
fn go_search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Merges neighbours with equal upper bounds (input sorted).
fn coalesce(buckets: &mut Vec<Bucket>) {
    buckets.dedup_by(|next, kept| {
        if next.upper_bound == kept.upper_bound {
            kept.count += next.count;
            true
        } else {
            false
        }
    });
}

/// Ignores numerically insignificant differences between neighbouring
/// counts, then removes decreases. Returns (forced monotonicity, ignored
/// small deltas).
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> (bool, bool) {
    let (mut forced, mut fixed) = (false, false);
    let Some(first) = buckets.first() else {
        return (false, false);
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, tolerance) {
            b.count = prev;
            fixed = true;
        } else if curr < prev {
            b.count = prev;
            forced = true;
        } else {
            prev = curr;
        }
    }
    (forced, fixed)
}

/// Prometheus's `almost.Equal`: relative difference below `epsilon`
/// (absolute, scaled by the smallest normal float, near zero).
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Parses an `le` label value as Go's `strconv.ParseFloat(s, 64)` does;
/// `None` where Prometheus reports a bad bucket label.
///
/// Accepts decimal floats, `inf`/`infinity` with optional sign and `nan`
/// (case-insensitive, no sign), and hexadecimal floats with a mandatory
/// `p` exponent and `_` digit separators. Decimal values that overflow
/// are rejected (Go returns a range error). Hexadecimal mantissas longer
/// than 16 digits may round differently from Go in the last bit.
pub fn parse_bucket_bound(s: &str) -> Option<f64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if body.eq_ignore_ascii_case("nan") {
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    if body.len() > 2 && body[..2].eq_ignore_ascii_case("0x") {
        return parse_hex_float(&body[2..]).map(|v| sign * v);
    }
    // Rust's parser would also take "infinity" spellings and the like;
    // only digits, '.', exponents are decimal syntax here.
    let decimal = body
        .bytes()
        .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
    if !decimal {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    Some(sign * v)
}

/// The part of a hexadecimal float after `0x`: mantissa digits with an
/// optional point, `_` only between digits, then `p` and a decimal
/// exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exponent) = s.split_once(['p', 'P'])?;
    let mut exp: i64 = exponent.replace('_', "").parse().ok()?;
    if !underscores_ok(mantissa) {
        return None;
    }
    let mut value: u64 = 0;
    let mut sticky = false;
    let mut seen_point = false;
    let mut digits = 0;
    for c in mantissa.chars().filter(|c| *c != '_') {
        if c == '.' {
            if seen_point {
                return None;
            }
            seen_point = true;
            continue;
        }
        let d = u64::from(c.to_digit(16)?);
        digits += 1;
        if value >> 60 == 0 {
            value = value << 4 | d;
            if seen_point {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_point {
                exp += 4;
            }
        }
    }
    if digits == 0 {
        return None;
    }
    // Keep lost low digits visible to the rounding of `as f64`.
    let mut v = (value | u64::from(sticky)) as f64;
    let mut exp = exp.clamp(-4000, 4000) as i32;
    while exp != 0 && v != 0.0 && v.is_finite() {
        let step = exp.clamp(-1000, 1000);
        v *= 2f64.powi(step);
        exp -= step;
    }
    (!v.is_infinite()).then_some(v)
}

/// Go accepts `_` in a based literal only between digits (or right after
/// the base prefix).
fn underscores_ok(mantissa: &str) -> bool {
    let bytes = mantissa.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'_'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && (i == 0 || bytes[i - 1].is_ascii_hexdigit()))
    })
}
