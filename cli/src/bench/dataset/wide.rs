//! The recent-data benchmark's shape: node_exporter's series with 16 CPUs
//! and `node_interrupts_total` filling each host to a round number of
//! series (1,000 by default), for up to a million series. Only one host's
//! series are held ([`HostShape`]); the values come from a hash of (seed,
//! host, series, scrape) and the previous value, so a series costs the
//! generator one `f64` of state, not a random generator's.

use super::{host_series, mix, Kind, Series};

/// CPUs per host: 16 x 8 modes = 128 `node_cpu_seconds_total` series.
pub const WIDE_CPUS: usize = 16;

/// One host's series, without the labels that name the host.
#[derive(Debug, Clone)]
pub struct HostShape {
    pub series: Vec<Series>,
    seed: u64,
}

/// A uniform value in [0, 1) from a key.
fn unit(key: u64) -> f64 {
    (mix(key) >> 11) as f64 / (1u64 << 53) as f64
}

impl HostShape {
    /// `per_host` series per host (at least node_exporter's 302 with 16
    /// CPUs); the ones beyond are counters
    /// `node_interrupts_total{cpu, devices}`.
    pub fn new(per_host: usize, seed: u64) -> anyhow::Result<Self> {
        let mut series = Vec::new();
        let mut push = |labels, kind| series.push(Series { labels, kind });
        host_series(&[], WIDE_CPUS, &mut push);
        let base = series.len();
        if per_host < base {
            anyhow::bail!(
                "{per_host} series per host is fewer than the {base} of node_exporter's shape"
            );
        }
        for k in 0..per_host - base {
            let cpu = (k % WIDE_CPUS).to_string();
            let irq = format!("irq{}", k / WIDE_CPUS);
            series.push(Series {
                labels: vec![
                    ("__name__".to_string(), "node_interrupts_total".to_string()),
                    ("cpu".to_string(), cpu),
                    ("devices".to_string(), irq),
                ],
                kind: Kind::Counter { rate: 200.0 },
            });
        }
        Ok(Self { series, seed })
    }

    /// The labels of host `h`: `host` (`host-007`), `instance` and `job`.
    pub fn host_labels(h: usize) -> [(String, String); 3] {
        [
            ("host".to_string(), format!("host-{h:03}")),
            ("instance".to_string(), format!("host-{h:03}:9100")),
            ("job".to_string(), "node".to_string()),
        ]
    }

    /// The value of series `i` of host `host` at `scrape`, given its value
    /// at the scrape before (`None` at the first): counters grow by whole
    /// numbers, gauges walk in whole units of their kind, the buckets of
    /// one histogram stay cumulative.
    pub fn value(&self, host: usize, i: usize, scrape: u64, prev: Option<f64>) -> f64 {
        let kind = self.series[i].kind;
        // The buckets of one histogram share a stream.
        let stream = match kind {
            Kind::Bucket { index, .. } => i - index,
            _ => i,
        };
        let key = self.seed ^ mix((host * self.series.len() + stream) as u64) ^ mix(!scrape);
        let u = unit(key);
        match (kind, prev) {
            (Kind::Counter { rate }, None) => (u * rate * 1000.0).round(),
            (Kind::Counter { rate }, Some(p)) => p + (u * rate).round(),
            (Kind::Gauge { level, step, unit }, None) => {
                let units = unit.units(level);
                let k = if step == 0 { units } else { units * (0.5 + u) };
                unit.value(k.round() as i64)
            }
            (Kind::Gauge { step, unit, .. }, Some(p)) => {
                let k = unit.units(p).round() as i64;
                let d = (u * (2 * step + 1) as f64).floor() as i64 - step;
                unit.value((k + d).max(0))
            }
            (Kind::Bucket { index, of }, p) => {
                let observations = (u * 40.0).round();
                let share = (index + 1) as f64 / of as f64;
                p.unwrap_or(0.0) + (observations * share).round()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_has_the_asked_series_and_counters_grow() {
        let s = HostShape::new(1000, 1).expect("shape");
        assert_eq!(s.series.len(), 1000);
        let name = |i: usize| s.series[i].labels[0].1.as_str();
        let cpu = (0..1000)
            .filter(|&i| name(i) == "node_cpu_seconds_total")
            .count();
        assert_eq!(cpu, 128);
        assert_eq!((0..1000).filter(|&i| name(i) == "node_load1").count(), 1);
        assert!(HostShape::new(100, 1).is_err());
        for i in 0..1000 {
            let mut prev = None;
            for scrape in 0..5 {
                let v = s.value(3, i, scrape, prev);
                assert!(v >= 0.0 && v.is_finite());
                if let (Kind::Counter { .. } | Kind::Bucket { .. }, Some(p)) =
                    (s.series[i].kind, prev)
                {
                    assert!(v >= p, "series {i} decreased");
                }
                assert_eq!(v, s.value(3, i, scrape, prev), "deterministic");
                prev = Some(v);
            }
        }
        assert_eq!(HostShape::host_labels(7)[0].1, "host-007");
    }
}
