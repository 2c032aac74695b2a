//! Differential testing of the PromQL engine against a real Prometheus:
//! the same generated data goes to both through remote_write, a corpus of
//! queries runs against both over HTTP, and the answers must agree within
//! a relative tolerance of 1e-6.
//!
//! # Deliberate differences
//!
//! Stratus follows Prometheus 3.x; the Prometheus here is Debian's 2.42.
//! These 2.x/3.x differences apply, and this is how the test keeps them from
//! deciding the comparison ([`DIFFERENCES`] holds the same list, and
//! [`EXCLUDED`] the queries kept out of the corpus because of them):
//!
//! 1. Range selectors and the lookback window are left-open in 3.0,
//!    `(t-r, t]`, and closed in 2.x, `[t-r, t]`. No sample timestamp is on a
//!    whole second or at `.500`, and every evaluation time (instant times,
//!    range starts, numeric `@`) is at `.500` with whole-second steps, offsets
//!    and ranges, so no sample and no subquery step is ever on a boundary.
//!    A nested subquery runs at multiples of its outer step, so its range is
//!    chosen not to be a multiple of gcd(outer step, inner step).
//! 2. `holt_winters` was renamed `double_exponential_smoothing` in 3.0 (and
//!    put behind a feature flag): neither is queried.
//! 3. In 3.0 the regex `.` matches a newline: regexes that meet label values
//!    with a newline contain no `.`.
//! 4. Prometheus 3 with `--enable-feature=promql-delayed-name-removal`
//!    removes `__name__` at the end of the query; 2.x, and 3.x by default,
//!    where an operation drops it. Stratus runs here with its defaults,
//!    which are 3.x's (ADR 24), so queries that read `__name__` after it is
//!    dropped, or make metrics collide by dropping it, are compared too.
//! 5. Functions and syntax that 2.42 lacks (`limitk`, `limit_ratio`,
//!    `sort_by_label`, `mad_over_time`, `first_over_time`, `ts_of_*`, `info`,
//!    duration arithmetic, `step()`, native histogram functions) are not
//!    queried; no native histograms are written.
//! 6. 3.x sums with Kahan compensation (`sum`, `avg`, `sum_over_time`,
//!    `avg_over_time`, `stddev`, `stdvar`, ...): the last bits differ, which
//!    the 1e-6 relative tolerance covers.
//! 7. 3.x emits more warnings and infos, and error texts differ: only the
//!    status of an error and the data of a success are compared.
//! 8. 3.0 normalises `le` and `quantile` label values ("1" to "1.0") when
//!    scraping; remote_write stores them as sent, in both.
//! 9. `rate`/`increase` extrapolation at the start of a series (Prometheus
//!    PR #13725, 2024): 3.x first replaces a too-long gap to the window start
//!    by half an interval and then clamps at the counter's zero point; 2.42
//!    clamps first, and then extrapolates by the clamped duration whenever it
//!    is under 1.1 intervals. They disagree when a window starts before a
//!    series and the first value lies between 0.5 and 1.1 scrapes' worth of
//!    increase above zero. The dataset's counters start at 0 (fresh
//!    processes) or far above one scrape's increase (long-running ones),
//!    where both give the same answer, and do not reset in their first two
//!    minutes, so a subquery over a counter also first sees that value.
//! 10. `atan2` keeps `__name__` in 2.42 and drops it in 3.x (Prometheus PR
//!     #12595, 2023), like every other arithmetic operator: the corpus
//!     multiplies `atan2` results by 1, which drops the name in both.
//! 11. Prometheus 2.42 evaluates `predict_linear(v[r] @ t, d)` in a range
//!     query with the `@` turned into an offset from the range start, so its
//!     range answers differ from its own instant answers at the same times
//!     (known upstream as prometheus/prometheus#11708; whether a 3.x release
//!     changed it was not checked here). Stratus answers every step the way
//!     Prometheus answers the instant query. The query is kept out.

mod compare;
mod corpus;
mod dataset;
mod evaluation;
mod load;
mod pair;

use std::time::Duration;

use anyhow::Context;
pub use compare::{compare, format_labels, trim, values_equal, REL_TOLERANCE};
pub use corpus::{MUST_FAIL, QUERIES};
pub use dataset::{Dataset, Rng, EVAL_MS, INTERVAL_MS, SLOTS, STALE_NAN};
pub use evaluation::{is_ordered, render, seconds, Evaluation, Times, RANGE_STEPS_MS};
pub use load::{sample_count, time_batches, wait_for_data, write_all};
pub use pair::{now_ms, start_pair, Pair};

/// A 2.x/3.x difference that applies to the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Difference {
    pub what: &'static str,
    pub handling: &'static str,
}

/// The deliberate differences, as in the module documentation.
pub const DIFFERENCES: &[Difference] = &[
    // Prometheus 3.0 "range selectors and lookback are left-open".
    Difference {
        what: "range selectors and lookback are left-open (t-r, t] in 3.x, closed [t-r, t] in 2.x",
        handling: "sample timestamps never on a whole second nor at .500; evaluation times at .500",
    },
    // Prometheus 3.0 renamed the function.
    Difference {
        what: "holt_winters (2.x) is double_exponential_smoothing (3.x, experimental)",
        handling: "neither name is queried",
    },
    // Prometheus 3.0: regexes are compiled with (?s).
    Difference {
        what: "the regex `.` matches a newline in 3.x, not in 2.x",
        handling: "no regex with `.` meets a label value containing a newline",
    },
    // Prometheus 3 with --enable-feature=promql-delayed-name-removal.
    Difference {
        what:
            "3.x with delayed name removal drops __name__ at the end of the query, 2.x (and 3.x by default) at once",
        handling: "Stratus runs with its defaults, which drop it at once (ADR 24): nothing to avoid",
    },
    // New in 3.x (or after 2.42).
    Difference {
        what: "functions and syntax that 2.42 does not have",
        handling: "not queried; no native histograms written",
    },
    // Kahan summation came after 2.42 (for sum() in 2.54).
    Difference {
        what: "3.x sums with Kahan compensation",
        handling: "last-bit differences fall within the 1e-6 relative tolerance",
    },
    // Annotation and message texts.
    Difference {
        what: "3.x has more warnings/infos; error messages differ",
        handling: "annotations are not compared; for errors only the status is",
    },
    // Prometheus 3.0 scrape-time label normalisation.
    Difference {
        what: "3.x normalises le/quantile label values when scraping",
        handling: "does not apply to remote_write; le values are sent as written",
    },
    // Prometheus PR #13725: zero-point clamp after the gap check.
    Difference {
        what: "rate/increase clamp a series' start at the counter's zero point after (3.x) or before (2.42) replacing a long gap by half an interval",
        handling: "counters start at 0 or far above one scrape's increase, where both agree",
    },
    // Prometheus PR #12595: atan2 drops the metric name.
    Difference {
        what: "atan2 keeps __name__ in 2.42, drops it in 3.x",
        handling: "atan2 results are multiplied by 1 in the corpus",
    },
    // prometheus/prometheus#11708: @ emulated as an offset for @-unsafe functions.
    Difference {
        what: "2.42 range queries of predict_linear(v[r] @ t, d) disagree with its own instant queries",
        handling: "predict_linear with @ is not queried",
    },
];

/// A query deliberately kept out of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Excluded {
    pub query: &'static str,
    pub reason: &'static str,
}

pub const EXCLUDED: &[Excluded] = &[
    Excluded {
        query: "holt_winters(dt_temperature_celsius[10m], 0.5, 0.5)",
        reason: "renamed double_exponential_smoothing in 3.0 (difference 2)",
    },
    Excluded {
        query: "dt_messages_total{note=~\"first.+\"}",
        reason: "`.` meets a newline: no match in 2.x, a match in 3.x (difference 3)",
    },
    Excluded {
        query: "label_replace(dt_messages_total, \"n\", \"$1\", \"note\", \"(.*)\")",
        reason: "`.` meets a newline in label_replace's regex (difference 3)",
    },
    Excluded {
        query: "dt_ratio atan2 0.5",
        reason: "keeps __name__ in 2.42 only; queried as (dt_ratio atan2 0.5) * 1 (difference 10)",
    },
    Excluded {
        query: "dt_temperature_celsius atan2 ignoring(sensor) group_left dt_ratio",
        reason: "keeps __name__ in 2.42 only; queried multiplied by 1 (difference 10)",
    },
    Excluded {
        query: "max_over_time(deriv(rate(dt_cpu_seconds_total[2m])[6m:30s])[12m:1m])",
        reason: "the inner subquery's first step sits on its window boundary at every outer step (difference 1); queried with [6m15s:30s]",
    },
    Excluded {
        query: "topk(2, rate(dt_http_requests_total[5m]))",
        reason: "rates of integer counters of different targets tie now and then, and which tied series topk keeps is unspecified",
    },
    Excluded {
        query: "predict_linear(dt_memory_bytes[10m] @ {at}, 60)",
        reason: "2.42 range queries move the @ window with the step (prometheus/prometheus#11708, difference 11)",
    },
    Excluded {
        query: "year(dt_temperature_celsius)",
        reason: "date functions of NaN and Inf convert with Go's int64(float), whose result is platform-defined",
    },
];

/// One answer of the query API: the body as text and parsed.
pub struct Answer {
    pub body: String,
    pub json: serde_json::Value,
}

/// GETs `base` + `path` and parses the JSON answer (any HTTP status: the
/// API answers errors with JSON too).
pub async fn get_answer(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<Answer> {
    let url = format!("{base}{path}");
    let mut last = None;
    for _ in 0..3 {
        match client.get(&url).send().await {
            Ok(resp) => {
                let body = resp
                    .text()
                    .await
                    .with_context(|| format!("reading {url}"))?;
                let json = serde_json::from_str(&body)
                    .with_context(|| format!("{url} answered no JSON: {}", trim(&body, 300)))?;
                return Ok(Answer { body, json });
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(anyhow::anyhow!("GET {url} failed: {last:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_queries_are_not_in_the_corpus() {
        for e in EXCLUDED {
            assert!(!QUERIES.contains(&e.query), "{} is excluded", e.query);
        }
    }
}
