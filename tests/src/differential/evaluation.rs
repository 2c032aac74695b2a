//! The evaluations every query of the corpus gets, and how they are asked
//! for over HTTP.
//!
//! `{at}` in a query stands for a numeric `@` time (seconds, at the
//! evaluation millisecond), filled in by [`render`].

use std::fmt;

use super::dataset::{Dataset, EVAL_MS, INTERVAL_MS, SLOTS};

/// Steps of the range evaluations; none divides the 15 s scrape interval.
pub const RANGE_STEPS_MS: [i64; 3] = [17_000, 60_000, 89_000];

/// One evaluation of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    Instant {
        time_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// Seconds as the API takes them: `1700000000.5`.
pub fn seconds(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        format!("{s}")
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_string()
    }
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Evaluation {
    /// Path and query string of the HTTP API request for `query`.
    pub fn request_path(&self, query: &str) -> String {
        match *self {
            Self::Instant { time_ms } => format!(
                "/api/v1/query?query={}&time={}",
                encode(query),
                seconds(time_ms)
            ),
            Self::Range {
                start_ms,
                end_ms,
                step_ms,
            } => format!(
                "/api/v1/query_range?query={}&start={}&end={}&step={}",
                encode(query),
                seconds(start_ms),
                seconds(end_ms),
                seconds(step_ms)
            ),
        }
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Instant { time_ms } => write!(f, "instant at {}", seconds(time_ms)),
            Self::Range {
                start_ms,
                end_ms,
                step_ms,
            } => write!(
                f,
                "range {}..{} step {}s",
                seconds(start_ms),
                seconds(end_ms),
                step_ms / 1000
            ),
        }
    }
}

/// When the evaluations happen, relative to the data.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// Early (windows reach before the data), middle, and after the last
    /// scrape (within the 5 m lookback).
    pub instants: [i64; 3],
    pub range_start_ms: i64,
    pub range_end_ms: i64,
    /// The numeric `@` time.
    pub at_ms: i64,
}

impl Times {
    pub fn for_dataset(d: &Dataset) -> Self {
        let b = d.base_ms;
        let end = b + SLOTS as i64 * INTERVAL_MS;
        Self {
            instants: [
                b + 247_000 + EVAL_MS,
                b + 1_421_000 + EVAL_MS,
                end + 92_000 + EVAL_MS,
            ],
            range_start_ms: b + 10_000 + EVAL_MS,
            range_end_ms: end + 115_000 + EVAL_MS,
            at_ms: b + 1_009_000 + EVAL_MS,
        }
    }

    /// Three instant evaluations, then one range evaluation per step.
    pub fn evaluations(&self) -> Vec<Evaluation> {
        let mut out: Vec<Evaluation> = self
            .instants
            .iter()
            .map(|&time_ms| Evaluation::Instant { time_ms })
            .collect();
        out.extend(RANGE_STEPS_MS.iter().map(|&step_ms| Evaluation::Range {
            start_ms: self.range_start_ms,
            end_ms: self.range_end_ms,
            step_ms,
        }));
        out
    }
}

/// `query` with `{at}` replaced by the numeric `@` time.
pub fn render(query: &str, times: &Times) -> String {
    query.replace("{at}", &seconds(times.at_ms))
}

/// True when the result order is part of the answer: the outermost call
/// is `sort` or `sort_desc`.
pub fn is_ordered(query: &str) -> bool {
    let q = query.trim();
    let Some(rest) = q
        .strip_prefix("sort_desc(")
        .or_else(|| q.strip_prefix("sort("))
    else {
        return false;
    };
    // The opening parenthesis must close at the very end.
    let mut depth = 1usize;
    let mut in_str: Option<char> = None;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (in_str, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => in_str = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => in_str = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1 == rest.len();
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_only_when_sort_is_outermost() {
        assert!(is_ordered("sort(x)"));
        assert!(is_ordered("sort_desc(sum by (a) (rate(x[5m])))"));
        assert!(!is_ordered("sort(x) + 1"));
        assert!(!is_ordered("sum(sort(x))"));
        assert!(is_ordered(
            "sort(label_replace(x, \"a\", \")\", \"b\", \"c\"))"
        ));
    }

    #[test]
    fn seconds_are_formatted_for_the_api() {
        assert_eq!(seconds(1_700_000_000_500), "1700000000.5");
        assert_eq!(seconds(1_700_000_000_000), "1700000000");
        assert_eq!(seconds(17_000), "17");
        assert_eq!(seconds(1_250), "1.25");
    }
}
