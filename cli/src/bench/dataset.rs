//! A deterministic node-exporter-like dataset: per host, CPU and network
//! counters, memory and filesystem gauges, a classic histogram, with a
//! 15 s scrape interval. The same seed gives the same samples.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Increases by up to `rate` per scrape.
    Counter { rate: f64 },
    /// Random walk around a level.
    Gauge { level: f64, step: f64 },
    /// Cumulative bucket `index` of `of` buckets of one histogram.
    Bucket { index: usize, of: usize },
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

fn labels(name: &str, host: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = vec![
        ("__name__".to_string(), name.to_string()),
        ("instance".to_string(), format!("{host}:9100")),
        ("job".to_string(), "node".to_string()),
    ];
    l.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    l
}

impl Dataset {
    /// 238 series per host.
    pub fn node_exporter(hosts: usize, scrapes: usize, seed: u64) -> Self {
        let mut series = Vec::new();
        let mut push = |labels, kind| series.push(Series { labels, kind });
        for h in 0..hosts {
            let host = format!("host-{h:05}");
            for cpu in 0..8 {
                for mode in CPU_MODES {
                    let c = cpu.to_string();
                    push(
                        labels(
                            "node_cpu_seconds_total",
                            &host,
                            &[("cpu", &c), ("mode", mode)],
                        ),
                        Kind::Counter { rate: 15.0 },
                    );
                }
            }
            for m in MEM {
                push(
                    labels(&format!("node_memory_{m}_bytes"), &host, &[]),
                    Kind::Gauge {
                        level: 8e9,
                        step: 4096.0 * 64.0,
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
                    push(
                        labels(&format!("node_filesystem_{f}"), &host, &extra),
                        Kind::Gauge {
                            level: 5e11,
                            step: 4096.0 * 16.0,
                        },
                    );
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
                                &host,
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
                        labels(&format!("node_disk_{f}_total"), &host, &[("device", dev)]),
                        Kind::Counter { rate: 1e5 },
                    );
                }
            }
            for f in ["load1", "load5", "load15"] {
                push(
                    labels(&format!("node_{f}"), &host, &[]),
                    Kind::Gauge {
                        level: 2.0,
                        step: 0.05,
                    },
                );
            }
            for handler in HANDLERS {
                for (i, le) in LE.iter().enumerate() {
                    let extra = [("handler", handler), ("le", le)];
                    push(
                        labels("http_request_duration_seconds_bucket", &host, &extra),
                        Kind::Bucket {
                            index: i,
                            of: LE.len(),
                        },
                    );
                }
                push(
                    labels(
                        "http_request_duration_seconds_sum",
                        &host,
                        &[("handler", handler)],
                    ),
                    Kind::Counter { rate: 3.0 },
                );
                push(
                    labels(
                        "http_request_duration_seconds_count",
                        &host,
                        &[("handler", handler)],
                    ),
                    Kind::Counter { rate: 40.0 },
                );
            }
            for c in COLLECTORS {
                push(
                    labels(
                        "node_scrape_collector_duration_seconds",
                        &host,
                        &[("collector", c)],
                    ),
                    Kind::Gauge {
                        level: 0.002,
                        step: 0.0001,
                    },
                );
                push(
                    labels("node_scrape_collector_success", &host, &[("collector", c)]),
                    Kind::Gauge {
                        level: 1.0,
                        step: 0.0,
                    },
                );
            }
        }
        Self {
            series,
            interval_ms: 15_000,
            scrapes,
            seed,
        }
    }

    pub fn samples(&self) -> usize {
        self.series.len() * self.scrapes
    }

    /// Calls `f(series_index, timestamp, value)` for every sample, scrape by
    /// scrape, series in order. Timestamps start at `start_ms`.
    pub fn generate(&self, start_ms: i64, mut f: impl FnMut(usize, i64, f64)) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut state: Vec<f64> = self
            .series
            .iter()
            .map(|s| match s.kind {
                Kind::Counter { rate } => rng.random_range(0.0..rate * 1000.0).round(),
                Kind::Gauge { level, .. } => level * rng.random_range(0.5..1.5),
                Kind::Bucket { .. } => 0.0,
            })
            .collect();
        for scrape in 0..self.scrapes {
            let t = start_ms + scrape as i64 * self.interval_ms;
            let mut observations = 0.0;
            for (i, s) in self.series.iter().enumerate() {
                let v = match s.kind {
                    Kind::Counter { rate } => state[i] + rng.random_range(0.0..rate).round(),
                    Kind::Gauge { step, .. } => {
                        if step == 0.0 {
                            state[i]
                        } else {
                            (state[i] + rng.random_range(-step..=step)).max(0.0)
                        }
                    }
                    Kind::Bucket { index, of } => {
                        // Buckets of one histogram are consecutive: new
                        // observations land in bucket `index` or above.
                        if index == 0 {
                            observations = rng.random_range(0.0..40.0f64).round();
                        }
                        let share = (index + 1) as f64 / of as f64;
                        state[i] + (observations * share).round()
                    }
                };
                state[i] = v;
                f(i, t, v);
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
        assert!(d.series.len() > 400, "{}", d.series.len());
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
}
