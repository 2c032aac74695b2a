//! A deterministic node-exporter-like dataset: per host, CPU and network
//! counters, memory and filesystem gauges, a classic histogram, with a
//! 15 s scrape interval. The same seed gives the same samples.
//!
//! Every series has its own random stream (the buckets of one histogram
//! share theirs), so any series or time window can be generated on its
//! own and comes out the same as in a whole run ([`Dataset::generators`]).
//!
//! Gauge values have the form node exporter gives them: whole multiples
//! of 1024 bytes for `/proc/meminfo` (it reports kB), of the 4096-byte
//! block size for filesystem bytes, whole inode counts, two decimals for
//! `/proc/loadavg`, and whole nanoseconds in seconds for collector
//! durations (Go's `Duration.Seconds()`, which for durations below a
//! second is the nanoseconds over `1e9`). Counters are whole numbers, as
//! before; the gauges were random walks with full-precision float steps
//! until the compactor benchmark (still available,
//! [`Dataset::with_float_gauges`]).

mod wide;

pub use wide::HostShape;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Increases by a whole number from 0 up to `rate` per scrape.
    Counter { rate: f64 },
    /// Random walk of whole units around `level` (in the value's own
    /// terms), `step` units at most per scrape, never below zero; constant
    /// at exactly `level` when `step` is 0.
    Gauge { level: f64, step: i64, unit: Unit },
    /// Cumulative bucket `index` of `of` buckets of one histogram.
    Bucket { index: usize, of: usize },
}

/// How a gauge's whole number of units `k` becomes its value.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// `k * size` (bytes in kB or blocks, counts with size 1).
    Times(f64),
    /// `k / per`, as a decimal parser or Go's `Duration.Seconds()` gives it.
    Over(f64),
}

impl Unit {
    fn value(self, k: i64) -> f64 {
        match self {
            Unit::Times(size) => k as f64 * size,
            Unit::Over(per) => k as f64 / per,
        }
    }

    fn units(self, v: f64) -> f64 {
        match self {
            Unit::Times(size) => v / size,
            Unit::Over(per) => v * per,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    kind: Kind,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub series: Vec<Series>,
    pub interval_ms: i64,
    pub scrapes: usize,
    pub seed: u64,
    /// Gauges as full-precision float random walks instead of whole units
    /// (see [`Dataset::with_float_gauges`]).
    pub float_gauges: bool,
}

/// The value stream of one series: call [`SeriesGen::next`] once per
/// scrape.
#[derive(Debug, Clone)]
pub struct SeriesGen {
    rng: StdRng,
    kind: Kind,
    /// Counter and bucket value, the gauge's units, or with `float` the
    /// gauge's value.
    state: f64,
    float: bool,
}

impl SeriesGen {
    /// The value of the next scrape.
    pub fn next(&mut self) -> f64 {
        match self.kind {
            Kind::Counter { rate } => {
                self.state += self.rng.random_range(0.0..rate).round();
                self.state
            }
            Kind::Gauge { step, unit, .. } if self.float => {
                if step != 0 {
                    let step = unit.value(step);
                    self.state = (self.state + self.rng.random_range(-step..=step)).max(0.0);
                }
                self.state
            }
            Kind::Gauge { step, unit, .. } => {
                if step != 0 {
                    let k = self.state as i64 + self.rng.random_range(-step..=step);
                    self.state = k.max(0) as f64;
                }
                unit.value(self.state as i64)
            }
            Kind::Bucket { index, of } => {
                // Every bucket of the histogram draws the same
                // observations; bucket `index` counts its share of them.
                let observations = self.rng.random_range(0.0..40.0f64).round();
                let share = (index + 1) as f64 / of as f64;
                self.state += (observations * share).round();
                self.state
            }
        }
    }
}

/// SplitMix64: spreads (seed, stream) pairs over the seed space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const MEM: [&str; 30] = [
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SwapCached",
    "Active",
    "Inactive",
    "Active_anon",
    "Inactive_anon",
    "Active_file",
    "Inactive_file",
    "Unevictable",
    "Mlocked",
    "SwapTotal",
    "SwapFree",
    "Dirty",
    "Writeback",
    "AnonPages",
    "Mapped",
    "Shmem",
    "KReclaimable",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "CommitLimit",
    "Committed_AS",
    "VmallocTotal",
];
const MOUNTS: [(&str, &str, &str); 4] = [
    ("/dev/nvme0n1p1", "ext4", "/"),
    ("/dev/nvme0n1p2", "ext4", "/var"),
    ("tmpfs", "tmpfs", "/run"),
    ("/dev/nvme1n1", "xfs", "/data"),
];
const NETDEVS: [&str; 3] = ["eth0", "eth1", "lo"];
const DISKS: [&str; 2] = ["nvme0n1", "nvme1n1"];
const HANDLERS: [&str; 3] = ["/api/v1/query", "/api/v1/query_range", "/metrics"];
const LE: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
];
const COLLECTORS: [&str; 24] = [
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
];

/// The metric name, the host's labels, then `extra`.
fn labels(name: &str, host: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = vec![("__name__".to_string(), name.to_string())];
    l.extend(host.iter().cloned());
    l.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    l
}

/// The labels node_exporter's series of host `h` share.
fn node_host(h: usize) -> Vec<(String, String)> {
    vec![
        ("instance".to_string(), format!("host-{h:05}:9100")),
        ("job".to_string(), "node".to_string()),
    ]
}

/// The series of node_exporter's shape for one host with `host` labels
/// and `cpus` CPUs (8 modes each): `8 * cpus + 174` series.
fn host_series(
    host: &[(String, String)],
    cpus: usize,
    push: &mut impl FnMut(Vec<(String, String)>, Kind),
) {
    for cpu in 0..cpus {
        for mode in CPU_MODES {
            let c = cpu.to_string();
            push(
                labels(
                    "node_cpu_seconds_total",
                    host,
                    &[("cpu", &c), ("mode", mode)],
                ),
                Kind::Counter { rate: 15.0 },
            );
        }
    }
    for m in MEM {
        push(
            labels(&format!("node_memory_{m}_bytes"), host, &[]),
            Kind::Gauge {
                level: 8e9,
                step: 256,
                unit: Unit::Times(1024.0),
            },
        );
    }
    for (device, fstype, mountpoint) in MOUNTS {
        for f in [
            "avail_bytes",
            "free_bytes",
            "size_bytes",
            "files",
            "files_free",
        ] {
            let extra = [
                ("device", device),
                ("fstype", fstype),
                ("mountpoint", mountpoint),
            ];
            let kind = if f.ends_with("_bytes") {
                Kind::Gauge {
                    level: 5e11,
                    step: 16,
                    unit: Unit::Times(4096.0),
                }
            } else {
                Kind::Gauge {
                    level: 3.2e7,
                    step: 16,
                    unit: Unit::Times(1.0),
                }
            };
            push(labels(&format!("node_filesystem_{f}"), host, &extra), kind);
        }
    }
    for dev in NETDEVS {
        for dir in ["receive", "transmit"] {
            for f in ["bytes", "packets", "errs", "drop"] {
                let rate = if f == "bytes" {
                    1.5e7
                } else if f == "packets" {
                    1e4
                } else {
                    0.5
                };
                push(
                    labels(
                        &format!("node_network_{dir}_{f}_total"),
                        host,
                        &[("device", dev)],
                    ),
                    Kind::Counter { rate },
                );
            }
        }
    }
    for dev in DISKS {
        for f in [
            "reads_completed",
            "writes_completed",
            "read_bytes",
            "written_bytes",
            "io_time_seconds",
        ] {
            push(
                labels(&format!("node_disk_{f}_total"), host, &[("device", dev)]),
                Kind::Counter { rate: 1e5 },
            );
        }
    }
    for f in ["load1", "load5", "load15"] {
        push(
            labels(&format!("node_{f}"), host, &[]),
            Kind::Gauge {
                level: 2.0,
                step: 5,
                unit: Unit::Over(100.0),
            },
        );
    }
    for handler in HANDLERS {
        for (i, le) in LE.iter().enumerate() {
            let extra = [("handler", handler), ("le", le)];
            push(
                labels("http_request_duration_seconds_bucket", host, &extra),
                Kind::Bucket {
                    index: i,
                    of: LE.len(),
                },
            );
        }
        push(
            labels(
                "http_request_duration_seconds_sum",
                host,
                &[("handler", handler)],
            ),
            Kind::Counter { rate: 3.0 },
        );
        push(
            labels(
                "http_request_duration_seconds_count",
                host,
                &[("handler", handler)],
            ),
            Kind::Counter { rate: 40.0 },
        );
    }
    for c in COLLECTORS {
        push(
            labels(
                "node_scrape_collector_duration_seconds",
                host,
                &[("collector", c)],
            ),
            Kind::Gauge {
                level: 0.002,
                step: 100_000,
                unit: Unit::Over(1e9),
            },
        );
        push(
            labels("node_scrape_collector_success", host, &[("collector", c)]),
            Kind::Gauge {
                level: 1.0,
                step: 0,
                unit: Unit::Times(1.0),
            },
        );
    }
}

impl Dataset {
    /// Labels of the series `idx`, and the order the block writer wants
    /// them in (metric name, then labels).
    pub fn labels_and_order(
        &self,
        idx: &[usize],
    ) -> anyhow::Result<(Vec<stratus_model::Labels>, Vec<usize>)> {
        let labels: Vec<stratus_model::Labels> = idx
            .iter()
            .map(|&i| {
                stratus_model::Labels::from_pairs(
                    self.series[i]
                        .labels
                        .iter()
                        .map(|(a, b)| (a.as_str(), b.as_str())),
                )
            })
            .collect::<Result<_, _>>()?;
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&labels[a], &labels[b]);
            a.metric_name()
                .unwrap_or("")
                .cmp(b.metric_name().unwrap_or(""))
                .then_with(|| a.cmp(b))
        });
        Ok((labels, order))
    }

    /// 238 series per host.
    pub fn node_exporter(hosts: usize, scrapes: usize, seed: u64) -> Self {
        let mut series = Vec::new();
        let mut push = |labels, kind| series.push(Series { labels, kind });
        for h in 0..hosts {
            host_series(&node_host(h), 8, &mut push);
        }
        Self {
            series,
            interval_ms: 15_000,
            scrapes,
            seed,
            float_gauges: false,
        }
    }

    /// The same series with the gauges of the first version of this
    /// generator: random walks with uniformly random float steps of the
    /// same size (memory ±262 144 bytes, filesystem ±65 536 bytes, loads
    /// ±0.05, durations ±0.0001 s), so every value has a full 52-bit
    /// mantissa, which node exporter never reports.
    pub fn with_float_gauges(mut self) -> Self {
        self.float_gauges = true;
        self
    }

    pub fn samples(&self) -> usize {
        self.series.len() * self.scrapes
    }

    /// The value stream of series `i`, from its first scrape.
    pub fn generator(&self, i: usize) -> SeriesGen {
        let s = &self.series[i];
        // The buckets of one histogram share a stream.
        let stream = match s.kind {
            Kind::Bucket { index, .. } => i - index,
            _ => i,
        };
        let mut rng = StdRng::seed_from_u64(mix(self.seed ^ mix(stream as u64)));
        let state = match s.kind {
            Kind::Counter { rate } => rng.random_range(0.0..rate * 1000.0).round(),
            Kind::Gauge { level, step, .. } if self.float_gauges => {
                if step == 0 {
                    level
                } else {
                    level * rng.random_range(0.5..1.5)
                }
            }
            Kind::Gauge {
                level, step, unit, ..
            } => {
                let units = unit.units(level);
                if step == 0 {
                    units.round()
                } else {
                    (units * rng.random_range(0.5..1.5)).round()
                }
            }
            Kind::Bucket { .. } => 0.0,
        };
        SeriesGen {
            rng,
            kind: s.kind,
            state,
            float: self.float_gauges,
        }
    }

    /// The value streams of all series, in series order.
    pub fn generators(&self) -> Vec<SeriesGen> {
        (0..self.series.len()).map(|i| self.generator(i)).collect()
    }

    /// Calls `f(series_index, timestamp, value)` for every sample, scrape by
    /// scrape, series in order. Timestamps start at `start_ms`.
    pub fn generate(&self, start_ms: i64, mut f: impl FnMut(usize, i64, f64)) {
        let mut gens = self.generators();
        for scrape in 0..self.scrapes {
            let t = start_ms + scrape as i64 * self.interval_ms;
            for (i, g) in gens.iter_mut().enumerate() {
                f(i, t, g.next());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_counters_never_decrease() {
        let d = Dataset::node_exporter(2, 5, 7);
        assert_eq!(d.series.len(), 2 * 238);
        let mut a = Vec::new();
        d.generate(0, |i, t, v| a.push((i, t, v)));
        let mut b = Vec::new();
        d.generate(0, |i, t, v| b.push((i, t, v)));
        assert_eq!(a, b);
        assert_eq!(a.len(), d.samples());
        let n = d.series.len();
        for (k, &(i, _, v)) in a.iter().enumerate().skip(n) {
            if matches!(d.series[i].kind, Kind::Counter { .. } | Kind::Bucket { .. }) {
                assert!(v >= a[k - n].2, "series {i} decreased");
            }
        }
    }

    #[test]
    fn series_streams_match_the_whole_run() {
        let d = Dataset::node_exporter(1, 12, 3);
        let mut whole = vec![Vec::new(); d.series.len()];
        d.generate(0, |i, _, v| whole[i].push(v));
        // Two windows of 6 scrapes from persistent generators.
        let mut gens = d.generators();
        for (i, g) in gens.iter_mut().enumerate() {
            let first: Vec<f64> = (0..6).map(|_| g.next()).collect();
            assert_eq!(first, whole[i][..6]);
        }
        for (i, g) in gens.iter_mut().enumerate() {
            let second: Vec<f64> = (0..6).map(|_| g.next()).collect();
            assert_eq!(second, whole[i][6..]);
        }
    }

    #[test]
    fn values_have_node_exporter_shapes() {
        let d = Dataset::node_exporter(1, 50, 11);
        let mut values = vec![Vec::new(); d.series.len()];
        d.generate(0, |i, _, v| values[i].push(v));
        let name = |i: usize| d.series[i].labels[0].1.clone();
        let mut buckets: Vec<&Vec<f64>> = Vec::new();
        for (i, vs) in values.iter().enumerate() {
            let n = name(i);
            for &v in vs {
                if n.starts_with("node_memory_") {
                    assert_eq!(v % 1024.0, 0.0, "{n} {v}");
                } else if n.ends_with("_bytes") && n.starts_with("node_filesystem_") {
                    assert_eq!(v % 4096.0, 0.0, "{n} {v}");
                } else if n.starts_with("node_load") {
                    let text = v.to_string();
                    assert!(text.split('.').nth(1).is_none_or(|f| f.len() <= 2), "{v}");
                } else if n == "node_scrape_collector_duration_seconds" {
                    assert_eq!((v * 1e9).round() / 1e9, v);
                } else if n == "node_scrape_collector_success" {
                    assert_eq!(v, 1.0);
                } else {
                    assert_eq!(v.fract(), 0.0, "{n} {v}");
                }
            }
            if n == "http_request_duration_seconds_bucket" {
                buckets.push(vs);
            }
        }
        // Buckets of one histogram are cumulative at every scrape.
        for w in buckets[..11].windows(2) {
            assert!(w[0].iter().zip(w[1]).all(|(a, b)| a <= b));
        }
    }

    #[test]
    fn float_gauges_change_only_gauges() {
        let d = Dataset::node_exporter(1, 20, 5);
        let f = d.clone().with_float_gauges();
        let mut a = vec![Vec::new(); d.series.len()];
        d.generate(0, |i, _, v| a[i].push(v));
        let mut b = vec![Vec::new(); d.series.len()];
        f.generate(0, |i, _, v| b[i].push(v));
        for (i, s) in d.series.iter().enumerate() {
            match s.kind {
                Kind::Gauge { step: 0, .. } => assert_eq!(a[i], b[i]),
                Kind::Gauge { .. } => assert!(b[i].iter().any(|v| v.fract() != 0.0)),
                _ => assert_eq!(a[i], b[i]),
            }
        }
    }
}
