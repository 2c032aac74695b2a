//! Loading one dataset into Prometheus and Stratus alike: remote_write
//! requests in time order, then polling both until they hold all of it.
//! Shared by the differential test and the compliance-set test.

use std::time::{Duration, Instant};

use super::dataset::STALE_NAN;
use super::{get_answer, Evaluation};
use crate::rw::{self, SeriesData};

/// The series as remote_write requests in time order: each holds every
/// series' samples of `per` consecutive scrape slots (0 to `last_slot`), so
/// each series' samples arrive in order (Prometheus 2.42 rejects
/// out-of-order samples). `slot_of` gives a sample time's slot.
pub fn time_batches(
    series: &[SeriesData],
    slot_of: impl Fn(i64) -> usize,
    last_slot: usize,
    per: usize,
) -> Vec<Vec<SeriesData>> {
    let per = per.max(1);
    (0..=last_slot)
        .step_by(per)
        .map(|first| {
            let range = first..first + per;
            series
                .iter()
                .filter_map(|(labels, samples)| {
                    let part: Vec<(i64, f64)> = samples
                        .iter()
                        .copied()
                        .filter(|&(t, _)| range.contains(&slot_of(t)))
                        .collect();
                    (!part.is_empty()).then(|| (labels.clone(), part))
                })
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .collect()
}

/// Samples that are not staleness markers: what `count_over_time` sees.
pub fn sample_count(series: &[SeriesData]) -> usize {
    series
        .iter()
        .flat_map(|(_, s)| s)
        .filter(|(_, v)| v.to_bits() != STALE_NAN.to_bits())
        .count()
}

/// Sends every batch to `url`; panics on a failed or refused request.
pub async fn write_all(client: &reqwest::Client, url: &str, batches: &[Vec<SeriesData>]) {
    for (i, batch) in batches.iter().enumerate() {
        let status = rw::send(client, url, rw::encode_v1(batch))
            .await
            .unwrap_or_else(|e| panic!("remote_write {i} to {url}: {e}"));
        assert!(
            (200..300).contains(&status),
            "remote_write {i} to {url} answered {status}"
        );
    }
}

/// Polls both systems (`[stratus, prometheus]`) until, at `at_ms`, each
/// counts every series and every sample of `series` over `window` (a
/// PromQL range that covers the data); panics after `limit`. Returns
/// "N series, M samples". The Stratus reader caches segment listings for
/// up to 1 s, hence the polling.
pub async fn wait_for_data(
    client: &reqwest::Client,
    bases: [&str; 2],
    series: &[SeriesData],
    at_ms: i64,
    window: &str,
    limit: Duration,
) -> String {
    let (n_series, n_samples) = (series.len(), sample_count(series));
    // count_over_time drops the metric name, so different metrics with the
    // same labels would collide in one selector: count per metric name.
    let mut names: Vec<&str> = series
        .iter()
        .filter_map(|(l, _)| {
            l.iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let sample_query = names
        .iter()
        .map(|n| format!("sum(count_over_time({n}[{window}]))"))
        .collect::<Vec<_>>()
        .join(" + ");
    let checks = [
        (
            format!("count(last_over_time({{__name__=~\".+\"}}[{window}]))"),
            n_series,
        ),
        (sample_query, n_samples),
    ];
    let eval = Evaluation::Instant { time_ms: at_ms };
    let start = Instant::now();
    loop {
        let mut seen = Vec::new();
        for base in bases {
            for (q, _) in &checks {
                let a = get_answer(client, base, &eval.request_path(q))
                    .await
                    .expect("count query");
                let v = a.json["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok());
                seen.push(v);
            }
        }
        let want: Vec<Option<f64>> = checks.iter().map(|c| Some(c.1 as f64)).collect();
        if seen[..2] == want[..] && seen[2..] == want[..] {
            return format!("{n_series} series, {n_samples} samples");
        }
        assert!(
            start.elapsed() < limit,
            "data not complete after {limit:?}: want {want:?}, stratus {:?}, prometheus {:?}",
            &seen[..2],
            &seen[2..],
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
