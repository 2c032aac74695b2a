//! Real Prometheus and node-exporter from Debian's packages, on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::{find_tool, ChildGuard};
use crate::stratus::http_ok;

pub const INSTALL_HINT: &str =
    "Prometheus is not installed: run scripts/install-test-deps.sh (apt-get install prometheus prometheus-node-exporter)";

pub fn prometheus_bin() -> anyhow::Result<PathBuf> {
    find_tool("STRATUS_PROMETHEUS", "prometheus", &["/usr/bin/prometheus"]).context(INSTALL_HINT)
}

pub struct NodeExporter {
    pub port: u16,
    _child: ChildGuard,
}

impl NodeExporter {
    pub fn start(log: &Path) -> anyhow::Result<Self> {
        let bin = find_tool(
            "STRATUS_NODE_EXPORTER",
            "prometheus-node-exporter",
            &["/usr/bin/prometheus-node-exporter"],
        )
        .context(INSTALL_HINT)?;
        let port = crate::free_port()?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut child = ChildGuard::spawn("node-exporter", cmd, log)?;
        child.wait_until(Duration::from_secs(20), || http_ok(port, "/metrics"))?;
        Ok(Self {
            port,
            _child: child,
        })
    }
}

pub struct Prometheus {
    pub port: u16,
    pub child: ChildGuard,
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML text) and its TSDB in `dir`.
    pub fn start(dir: &Path, config: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let bin = prometheus_bin()?;
        let cfg_path = dir.join("prometheus.yml");
        std::fs::write(&cfg_path, config)?;
        let port = crate::free_port()?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra);
        let mut child = ChildGuard::spawn("prometheus", cmd, &dir.join("prometheus.log"))?;
        child.wait_until(Duration::from_secs(60), || http_ok(port, "/-/ready"))?;
        Ok(Self { port, child })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Sums every sample of metric `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> anyhow::Result<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = line.rsplit(' ').next().unwrap_or_default();
        sum += value
            .parse::<f64>()
            .with_context(|| format!("parsing {line:?}"))?;
        found = true;
    }
    if !found {
        bail!("metric {name} not found in exposition");
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_labelled_series_of_one_metric_only() {
        let text = "# HELP x_total foo\nx_total{a=\"1\"} 2\nx_total{a=\"2\"} 3.5\nx_total_other 100\nx_totals 7\n";
        assert_eq!(metric_sum(text, "x_total").expect("found"), 5.5);
        assert!(metric_sum(text, "y").is_err());
    }
}
