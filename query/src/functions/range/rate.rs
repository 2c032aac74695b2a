//! `rate`, `increase`, `delta`, `irate`, `idelta`, `resets`, `changes`.

use stratus_model::Sample;

/// `rate` (`is_counter`, `is_rate`), `increase` (`is_counter`) and `delta`
/// (neither) over the window `(range_start, range_end]` in milliseconds.
///
/// The window bounds must be the ones the samples were selected with, i.e.
/// `eval_time - offset - range` and `eval_time - offset`, where an `@`
/// modifier replaces the evaluation time. `None` with fewer than two
/// samples.
///
/// Counter resets (a value below its predecessor) add the predecessor back.
/// The result is extrapolated to the window edges when the first/last
/// sample lies within 1.1 average sample intervals of the edge, otherwise
/// by half an average interval; for counters the start extrapolation stops
/// where the counter would reach zero.
pub fn extrapolated_rate(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = match samples {
        [first, .., last] => (first, last),
        _ => return None,
    };
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for s in &samples[1..] {
            if s.v < prev {
                result += prev;
            }
            prev = s.v;
        }
    }

    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled / (samples.len() - 1) as f64;
    let threshold = average_interval * 1.1;

    if to_start >= threshold {
        to_start = average_interval / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // A counter cannot go below zero: stop where it would reach zero.
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average_interval / 2.0;
    }

    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= duration_seconds(range_end - range_start);
    }
    Some(result * factor)
}

/// Go's `time.Duration.Seconds()` for a duration given in milliseconds:
/// whole seconds plus the fraction, rounded the way Go rounds it.
fn duration_seconds(ms: i64) -> f64 {
    let secs = ms / 1000;
    let nanos = (ms % 1000) * 1_000_000;
    secs as f64 + nanos as f64 / 1e9
}

/// `irate` (`is_rate`) and `idelta`: the last two samples only. For `irate`
/// a decrease is a counter reset, so the result is the last value. `None`
/// with fewer than two samples.
pub fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    let [.., prev, last] = samples else {
        return None;
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    let mut result = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

#[cfg(test)]
pub fn irate(samples: &[Sample]) -> Option<f64> {
    instant_value(samples, true)
}

#[cfg(test)]
pub fn idelta(samples: &[Sample]) -> Option<f64> {
    instant_value(samples, false)
}

/// Number of decreases between consecutive samples (NaN compares false, so
/// a step to or from NaN is no reset). Always defined: 0 for one sample
/// (Prometheus does not call it for an empty window).
pub fn resets(samples: &[Sample]) -> f64 {
    samples.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

/// Number of value changes between consecutive samples; NaN followed by NaN
/// is no change, NaN next to a number is one. 0 for one sample.
pub fn changes(samples: &[Sample]) -> f64 {
    samples
        .windows(2)
        .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
        .count() as f64
}
