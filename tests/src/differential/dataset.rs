//! The generated dataset: a few hundred series that look like scrapes of a
//! small fleet, deterministic for a seed and a base time.
//!
//! Every target is "scraped" every 15 s; a scrape's timestamp is
//! `base + slot * 15 s + jitter`, where the jitter (1..=999 ms, never 500)
//! is a fixed offset per target plus a little noise per scrape, shared by
//! every series of the target (so the buckets of one histogram carry the
//! same timestamps, as in a real scrape). No sample sits on a whole second,
//! and none at `.500`, the millisecond of every evaluation time.

mod values;

use crate::rw::SeriesData;
pub use values::Rng;
use values::{counter, histogram, long_running, walk, HistogramData};

/// Scrapes per series (when it lives the whole time).
pub const SLOTS: usize = 160;
/// The scrape interval.
pub const INTERVAL_MS: i64 = 15_000;
/// Prometheus's staleness marker, written after a series' last sample.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);
/// The millisecond (within a second) of every evaluation time; no sample
/// timestamp has it.
pub const EVAL_MS: i64 = 500;

/// Scrape targets: (job, instance, env), the labels all their series carry.
const TARGETS: [(&str, &str, &str); 9] = [
    ("api", "10.0.1.1:8080", "prod"),
    ("api", "10.0.1.2:8080", "prod"),
    ("api", "10.0.1.3:8080", "staging"),
    ("api", "10.0.1.4:8080", "staging"),
    ("web", "10.0.2.1:80", "prod"),
    ("web", "10.0.2.2:80", "prod"),
    ("web", "10.0.2.3:80", "staging"),
    ("db", "db-0.internal:5432", "prod"),
    ("db", "db-1.internal:5432", "staging"),
];

/// Buckets of `dt_request_duration_seconds` (api and web).
const REQUEST_BUCKETS: [(&str, f64); 8] = [
    ("0.01", 0.01),
    ("0.05", 0.05),
    ("0.1", 0.1),
    ("0.25", 0.25),
    ("0.5", 0.5),
    ("1", 1.0),
    ("2.5", 2.5),
    ("+Inf", f64::INFINITY),
];

/// Buckets of `dt_query_duration_seconds` (db).
const QUERY_BUCKETS: [(&str, f64); 6] = [
    ("0.001", 0.001),
    ("0.01", 0.01),
    ("0.1", 0.1),
    ("1", 1.0),
    ("10", 10.0),
    ("+Inf", f64::INFINITY),
];

/// Batch workers: (instance, env, first slot, end slot). A worker that ends
/// before [`SLOTS`] gets a staleness marker in its end slot.
const WORKERS: [(&str, &str, usize, usize); 6] = [
    ("worker-0", "prod", 20, 70),
    ("worker-1", "prod", 5, 110),
    ("worker-2", "staging", 40, SLOTS),
    ("worker-3", "staging", 60, 150),
    ("worker-4", "prod", 0, 90),
    ("worker-5", "prod", 100, SLOTS),
];

/// The lives of `dt_flapping_gauge`: it disappears (stale) and comes back.
const FLAPS: [(usize, usize); 3] = [(10, 40), (70, 100), (130, 150)];

/// Topics of `dt_messages_total`: dots (regex wildcards when unescaped)
/// and a newline in label values.
const TOPICS: [(&str, &str); 6] = [
    ("orders.eu.v1", "first\nsecond"),
    ("orders.us.v1", "plain"),
    ("ordersXeuXv1", "plain"),
    ("billing.eu.v2", "first\nsecond"),
    ("billing", "tab\there"),
    ("a.b.c.d", "plain"),
];

/// The generated data, one entry per series, samples in time order.
pub struct Dataset {
    pub base_ms: i64,
    pub series: Vec<SeriesData>,
}

/// Builds series one scrape slot at a time.
struct Builder {
    base_ms: i64,
    /// Jitter of each (scrape group, slot); a group is a target or a
    /// standalone job.
    jitter: Vec<Vec<i64>>,
    series: Vec<SeriesData>,
}

impl Builder {
    fn new(base_ms: i64, groups: usize, rng: &mut Rng) -> Self {
        let jitter = (0..groups)
            .map(|_| {
                let offset = rng.int(40, 960);
                (0..=SLOTS)
                    .map(|_| {
                        let j = (offset + rng.int(-30, 30)).clamp(1, 999);
                        if j == EVAL_MS {
                            j - 1
                        } else {
                            j
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            base_ms,
            jitter,
            series: Vec::new(),
        }
    }

    fn t(&self, group: usize, slot: usize) -> i64 {
        self.base_ms + slot as i64 * INTERVAL_MS + self.jitter[group][slot]
    }

    /// Adds a series of `group` living in `slots` with `value(slot)`; a
    /// `None` value skips the scrape. A series that ends before [`SLOTS`]
    /// gets a staleness marker in its end slot.
    fn add(
        &mut self,
        group: usize,
        labels: &[(&str, &str)],
        slots: std::ops::Range<usize>,
        value: impl FnMut(usize) -> Option<f64>,
    ) {
        let labels = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.push(group, labels, slots, value);
    }

    fn push(
        &mut self,
        group: usize,
        labels: Vec<(String, String)>,
        slots: std::ops::Range<usize>,
        mut value: impl FnMut(usize) -> Option<f64>,
    ) {
        let end = slots.end;
        let mut samples: Vec<(i64, f64)> = slots
            .filter_map(|s| value(s).map(|v| (self.t(group, s), v)))
            .collect();
        if end < SLOTS {
            samples.push((self.t(group, end), STALE_NAN));
        }
        self.series.push((labels, samples));
    }

    /// Adds the `_bucket`, `_sum` and `_count` series of a histogram with
    /// the target labels `base`.
    fn add_histogram(
        &mut self,
        group: usize,
        base: &[(&str, &str)],
        name: &str,
        buckets: &[(&str, f64)],
        h: &HistogramData,
    ) {
        let series = |suffix: &str| format!("{name}{suffix}");
        let (bucket, sum, count) = (series("_bucket"), series("_sum"), series("_count"));
        let labels = |name: &str, le: Option<&str>| {
            let mut l = vec![("__name__", name)];
            l.extend_from_slice(base);
            l.extend(le.map(|le| ("le", le)));
            l.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        for ((le, _), v) in buckets.iter().zip(&h.buckets) {
            self.push(group, labels(&bucket, Some(le)), 0..SLOTS, |s| Some(v[s]));
        }
        self.push(group, labels(&sum, None), 0..SLOTS, |s| Some(h.sum[s]));
        self.push(group, labels(&count, None), 0..SLOTS, |s| Some(h.count[s]));
    }

    /// Like [`Builder::add`] for several lives of one series.
    fn add_lives(
        &mut self,
        group: usize,
        labels: &[(&str, &str)],
        lives: &[(usize, usize)],
        mut value: impl FnMut(usize) -> f64,
    ) {
        let mut samples = Vec::new();
        for &(start, end) in lives {
            samples.extend((start..end).map(|s| (self.t(group, s), value(s))));
            if end < SLOTS {
                samples.push((self.t(group, end), STALE_NAN));
            }
        }
        let labels = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.series.push((labels, samples));
    }
}

impl Dataset {
    /// The dataset for `seed`, its first scrape slot starting at `base_ms`.
    pub fn generate(seed: u64, base_ms: i64) -> Self {
        let mut rng = Rng::new(seed);
        // Groups: the targets, then batch workers, the flapper, the broker.
        let (batch_g, flap_g, broker_g) = (
            TARGETS.len(),
            TARGETS.len() + WORKERS.len(),
            TARGETS.len() + WORKERS.len() + 1,
        );
        let mut b = Builder::new(base_ms, broker_g + 1, &mut rng);
        let all = 0..SLOTS;

        for (g, &(job, instance, env)) in TARGETS.iter().enumerate() {
            let base = [("job", job), ("instance", instance), ("env", env)];
            let with = |name: &'static str, extra: &[(&'static str, &'static str)]| {
                let mut l = vec![("__name__", name)];
                l.extend_from_slice(&base);
                l.extend_from_slice(extra);
                l
            };

            // Even targets' histograms are fresh, odd ones long-running.
            let history = if g % 2 == 0 { 0 } else { 5000 };
            if job != "db" {
                for method in ["GET", "POST"] {
                    for code in ["200", "404", "500"] {
                        if method == "POST" && code == "404" {
                            continue;
                        }
                        let start = long_running(&mut rng);
                        let v = counter(&mut rng, start, 0.012, |r| r.int(1, 50) as f64);
                        let l = with(
                            "dt_http_requests_total",
                            &[("method", method), ("code", code)],
                        );
                        b.add(g, &l, all.clone(), |s| Some(v[s]));
                    }
                }
                let mean = if job == "api" { 0.3 } else { 0.8 };
                let h = histogram(&mut rng, &REQUEST_BUCKETS, mean, history);
                b.add_histogram(
                    g,
                    &base,
                    "dt_request_duration_seconds",
                    &REQUEST_BUCKETS,
                    &h,
                );
            } else {
                let h = histogram(&mut rng, &QUERY_BUCKETS, 0.05, history);
                b.add_histogram(g, &base, "dt_query_duration_seconds", &QUERY_BUCKETS, &h);
            }

            for mode in ["user", "system", "idle"] {
                let scale = if mode == "idle" { 14.0 } else { 3.0 };
                let start = long_running(&mut rng);
                let v = counter(&mut rng, start, 0.008, |r| r.range(0.0, scale));
                b.add(
                    g,
                    &with("dt_cpu_seconds_total", &[("mode", mode)]),
                    all.clone(),
                    |s| Some(v[s]),
                );
            }

            for sensor in ["a", "b"] {
                let mut v = walk(&mut rng, -15.0, 35.0, 1.5);
                if g == 2 && sensor == "b" {
                    for x in v.iter_mut() {
                        if rng.chance(0.05) {
                            *x = f64::NAN;
                        }
                    }
                }
                if g == 4 && sensor == "a" {
                    for s in [70, 71, 130] {
                        v[s] = f64::INFINITY;
                    }
                }
                b.add(
                    g,
                    &with("dt_temperature_celsius", &[("sensor", sensor)]),
                    all.clone(),
                    |s| Some(v[s]),
                );
            }

            let mut mem = rng.range(1e9, 8e9).round();
            let v: Vec<f64> = (0..SLOTS)
                .map(|_| {
                    mem = (mem + rng.range(-5e7, 5e7).round()).max(1e8);
                    mem
                })
                .collect();
            b.add(g, &with("dt_memory_bytes", &[]), all.clone(), |s| {
                Some(v[s])
            });

            let mut q = rng.int(0, 20);
            let v: Vec<f64> = (0..SLOTS)
                .map(|_| {
                    q = (q + rng.int(-3, 3)).clamp(0, 20);
                    q as f64
                })
                .collect();
            b.add(g, &with("dt_queue_length", &[]), all.clone(), |s| {
                Some(v[s])
            });

            let v: Vec<f64> = (0..SLOTS)
                .map(|_| if rng.chance(0.95) { 1.0 } else { 0.0 })
                .collect();
            b.add(g, &with("dt_up", &[]), all.clone(), |s| Some(v[s]));

            let v: Vec<f64> = (0..SLOTS).map(|_| rng.range(-1.2, 1.2)).collect();
            b.add(g, &with("dt_ratio", &[]), all.clone(), |s| Some(v[s]));

            let version = ["1.4.2", "1.5.0", "2.0.0-rc.1"][g % 3];
            let revision = ["a1b2c3", "d4e5f6"][g % 2];
            let l = with(
                "dt_build_info",
                &[("version", version), ("revision", revision)],
            );
            b.add(g, &l, all.clone(), |_| Some(1.0));
        }

        for (w, &(instance, env, start, end)) in WORKERS.iter().enumerate() {
            let g = batch_g + w;
            let base = [("job", "batch"), ("instance", instance), ("env", env)];
            let mut l = vec![("__name__", "dt_batch_records_processed_total")];
            l.extend_from_slice(&base);
            // A fresh process: the counter starts at 0.
            let v = counter(&mut rng, 0.0, 0.0, |r| r.int(10, 500) as f64);
            b.add(g, &l, start..end, |s| Some(v[s - start]));
            l[0] = ("__name__", "dt_batch_progress_ratio");
            let span = (end - start) as f64;
            b.add(g, &l, start..end, |s| Some((s - start) as f64 / span));
        }

        let v = walk(&mut rng, 0.0, 100.0, 5.0);
        let l = [
            ("__name__", "dt_flapping_gauge"),
            ("job", "flap"),
            ("instance", "flap-0"),
        ];
        b.add_lives(flap_g, &l, &FLAPS, |s| v[s]);

        for (topic, note) in TOPICS {
            let start = long_running(&mut rng);
            let v = counter(&mut rng, start, 0.0, |r| r.int(0, 10) as f64);
            let l = [
                ("__name__", "dt_messages_total"),
                ("job", "broker"),
                ("instance", "broker-0:9092"),
                ("topic", topic),
                ("note", note),
            ];
            b.add(broker_g, &l, all.clone(), |s| Some(v[s]));
        }

        Self {
            base_ms,
            series: b.series,
        }
    }

    /// Samples that are not staleness markers: what `count_over_time` sees.
    pub fn sample_count(&self) -> usize {
        super::load::sample_count(&self.series)
    }

    /// The data as remote_write requests in time order, `slots_per_batch`
    /// scrape slots each ([`super::time_batches`]).
    pub fn batches(&self, slots_per_batch: usize) -> Vec<Vec<SeriesData>> {
        let slot_of = |t: i64| ((t - self.base_ms) / INTERVAL_MS) as usize;
        super::load::time_batches(&self.series, slot_of, SLOTS, slots_per_batch)
    }
}

#[cfg(test)]
mod tests;
