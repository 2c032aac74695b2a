//! Shared test helpers: series generators and the naive reference filter.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stratus_block::{BlockFooter, Fetched, FOOTER_HINT};
use stratus_model::{matches_all, LabelMatcher, Labels, Sample, TimeRange};

pub const HOUR: i64 = 3_600_000;

/// Sorts series the way blocks want them: metric name, then label set.
pub fn sort_series<T>(series: &mut [(Labels, T)]) {
    series.sort_by(|a, b| {
        a.0.metric_name()
            .unwrap_or("")
            .cmp(b.0.metric_name().unwrap_or(""))
            .then_with(|| a.0.cmp(&b.0))
    });
}

/// The answer a block must give: series matching, samples in range.
pub fn naive(
    series: &[(Labels, Vec<Sample>)],
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> Vec<(Labels, Vec<Sample>)> {
    series
        .iter()
        .filter(|(l, _)| matches_all(matchers, l))
        .map(|(l, s)| {
            (
                l.clone(),
                s.iter()
                    .copied()
                    .filter(|s| range.contains(s.t))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

/// Reads a file the way a querier does: the tail first, then the plan.
pub struct Querier<'a> {
    pub file: &'a [u8],
    pub footer: BlockFooter,
    pub footer_fetches: usize,
}

impl<'a> Querier<'a> {
    pub fn open(file: &'a [u8]) -> Self {
        let len = file.len() as u64;
        let mut want = FOOTER_HINT.min(len);
        let mut fetches = 0;
        loop {
            fetches += 1;
            let tail = &file[(len - want) as usize..];
            match BlockFooter::parse(len, tail) {
                Ok(footer) => {
                    return Self {
                        file,
                        footer,
                        footer_fetches: fetches,
                    }
                }
                Err(stratus_block::BlockError::NeedMore { bytes, .. }) => {
                    assert!(bytes > want && bytes <= len, "need {bytes}, had {want}");
                    want = bytes;
                }
                Err(e) => panic!("footer: {e}"),
            }
        }
    }

    /// Two round trips: label pages, then the refined plan's missing
    /// ranges. Returns the series and the bytes fetched in each phase.
    pub fn two_phase(
        &self,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> (Vec<(Labels, Vec<Sample>)>, u64, u64) {
        let plan = self.footer.plan(matchers, range);
        let mut fetched = self.fetch(&plan.label_ranges);
        let phase1 = fetched.total_bytes();
        let refined = self
            .footer
            .refine(&plan, &fetched, matchers)
            .expect("refine");
        let missing = fetched.missing(&refined.ranges);
        for r in &missing {
            fetched
                .insert(
                    r.clone(),
                    self.file[r.start as usize..r.end as usize].to_vec(),
                )
                .expect("insert");
        }
        let phase2 = fetched.total_bytes() - phase1;
        let got = stratus_block::read_raw(&self.footer, &refined, &fetched, matchers, range)
            .expect("read");
        (got, phase1, phase2)
    }

    /// Fetches exactly the planned ranges.
    pub fn fetch(&self, ranges: &[std::ops::Range<u64>]) -> Fetched {
        let mut f = Fetched::new();
        for r in ranges {
            f.insert(
                r.clone(),
                self.file[r.start as usize..r.end as usize].to_vec(),
            )
            .expect("insert");
        }
        f
    }
}

/// A node-exporter-like host: 238 series, counters and gauges, as in
/// `cli/src/bench/dataset.rs` (same kinds, label shapes and value forms:
/// whole counters, memory in whole kB, filesystem bytes in 4096-byte
/// blocks, loads with two decimals, durations in whole nanoseconds; one
/// random stream for all series, so smaller code).
pub struct Dataset {
    pub series: Vec<(Labels, Vec<Sample>)>,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter(f64),
    /// Level, step in units, and the unit: `k * u` when `u >= 1`, else
    /// `k / (1 / u)`.
    Gauge(f64, i64, f64),
    Bucket(usize, usize),
}

fn unit_value(k: i64, unit: f64) -> f64 {
    if unit >= 1.0 {
        k as f64 * unit
    } else {
        k as f64 / (1.0 / unit).round()
    }
}

pub fn node_exporter(hosts: usize, scrapes: usize, start: i64, seed: u64) -> Dataset {
    let mut defs: Vec<(Vec<(String, String)>, Kind)> = Vec::new();
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let mounts = [
        ("/dev/nvme0n1p1", "ext4", "/"),
        ("/dev/nvme0n1p2", "ext4", "/var"),
        ("tmpfs", "tmpfs", "/run"),
        ("/dev/nvme1n1", "xfs", "/data"),
    ];
    let le = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ];
    for h in 0..hosts {
        let host = format!("host-{h:05}:9100");
        let mut push = |name: &str, extra: &[(&str, &str)], kind: Kind| {
            let mut l = vec![
                ("__name__".to_string(), name.to_string()),
                ("instance".to_string(), host.clone()),
                ("job".to_string(), "node".to_string()),
            ];
            l.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            defs.push((l, kind));
        };
        for cpu in 0..8 {
            for mode in modes {
                push(
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu.to_string()), ("mode", mode)],
                    Kind::Counter(15.0),
                );
            }
        }
        for m in 0..30 {
            push(
                &format!("node_memory_M{m:02}_bytes"),
                &[],
                Kind::Gauge(8e9, 256, 1024.0),
            );
        }
        for (device, fstype, mountpoint) in mounts {
            for f in [
                "avail_bytes",
                "free_bytes",
                "size_bytes",
                "files",
                "files_free",
            ] {
                push(
                    &format!("node_filesystem_{f}"),
                    &[
                        ("device", device),
                        ("fstype", fstype),
                        ("mountpoint", mountpoint),
                    ],
                    if f.ends_with("_bytes") {
                        Kind::Gauge(5e11, 16, 4096.0)
                    } else {
                        Kind::Gauge(3.2e7, 16, 1.0)
                    },
                );
            }
        }
        for dev in ["eth0", "eth1", "lo"] {
            for dir in ["receive", "transmit"] {
                for (f, rate) in [
                    ("bytes", 1.5e7),
                    ("packets", 1e4),
                    ("errs", 0.5),
                    ("drop", 0.5),
                ] {
                    push(
                        &format!("node_network_{dir}_{f}_total"),
                        &[("device", dev)],
                        Kind::Counter(rate),
                    );
                }
            }
        }
        for dev in ["nvme0n1", "nvme1n1"] {
            for f in [
                "reads_completed",
                "writes_completed",
                "read_bytes",
                "written_bytes",
                "io_time_seconds",
            ] {
                push(
                    &format!("node_disk_{f}_total"),
                    &[("device", dev)],
                    Kind::Counter(1e5),
                );
            }
        }
        for f in ["load1", "load5", "load15"] {
            push(&format!("node_{f}"), &[], Kind::Gauge(2.0, 5, 0.01));
        }
        for handler in ["/api/v1/query", "/api/v1/query_range", "/metrics"] {
            for (i, b) in le.iter().enumerate() {
                push(
                    "http_request_duration_seconds_bucket",
                    &[("handler", handler), ("le", b)],
                    Kind::Bucket(i, le.len()),
                );
            }
            push(
                "http_request_duration_seconds_sum",
                &[("handler", handler)],
                Kind::Counter(3.0),
            );
            push(
                "http_request_duration_seconds_count",
                &[("handler", handler)],
                Kind::Counter(40.0),
            );
        }
        for c in 0..24 {
            let c = format!("collector{c:02}");
            push(
                "node_scrape_collector_duration_seconds",
                &[("collector", &c)],
                Kind::Gauge(0.002, 100_000, 1e-9),
            );
            push(
                "node_scrape_collector_success",
                &[("collector", &c)],
                Kind::Gauge(1.0, 0, 1.0),
            );
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::with_capacity(defs.len());
    let mut state = Vec::with_capacity(defs.len());
    for (l, kind) in &defs {
        series.push((
            Labels::from_pairs(l.iter().map(|(a, b)| (a.as_str(), b.as_str()))).expect("labels"),
            Vec::with_capacity(scrapes),
        ));
        // Counters and buckets hold their value, gauges their units.
        state.push(match *kind {
            Kind::Counter(rate) => rng.random_range(0.0..rate * 1000.0f64).round(),
            Kind::Gauge(level, 0, unit) => (level / unit).round(),
            Kind::Gauge(level, _, unit) => (level / unit * rng.random_range(0.5..1.5)).round(),
            Kind::Bucket(..) => 0.0,
        });
    }
    for scrape in 0..scrapes {
        let t = start + scrape as i64 * 15_000;
        let mut observations = 0.0;
        for (i, (_, kind)) in defs.iter().enumerate() {
            let v = match *kind {
                Kind::Counter(rate) => {
                    state[i] += rng.random_range(0.0..rate).round();
                    state[i]
                }
                Kind::Gauge(_, step, unit) => {
                    if step != 0 {
                        let k = state[i] as i64 + rng.random_range(-step..=step);
                        state[i] = k.max(0) as f64;
                    }
                    unit_value(state[i] as i64, unit)
                }
                Kind::Bucket(index, of) => {
                    if index == 0 {
                        observations = rng.random_range(0.0..40.0f64).round();
                    }
                    state[i] += (observations * (index + 1) as f64 / of as f64).round();
                    state[i]
                }
            };
            series[i].1.push(Sample::new(t, v));
        }
    }
    sort_series(&mut series);
    Dataset { series }
}
