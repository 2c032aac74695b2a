//! What the benchmarks share: the servers under test as child processes,
//! and remote_write encoding.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use prost::Message;
use stratus_ingest::proto::{LabelV1, TimeSeriesV1, WriteRequestV1};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stratus,
    Prometheus,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Stratus => "stratus",
            Target::Prometheus => "prometheus",
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A server under test; killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let url = self.url("/-/ready");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited during start: {status}");
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("server not ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts `stratus all` (this executable) with `stratus_args`, or
/// Prometheus with its remote_write receiver and `prometheus_yaml` as config.
pub fn start(
    target: Target,
    dir: &Path,
    stratus_args: &[&str],
    prometheus_bin: &Path,
    prometheus_yaml: &str,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = match target {
        Target::Stratus => {
            let mut c = Command::new(std::env::current_exe()?);
            c.arg("all")
                .arg("--listen-addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("--log-level")
                .arg("warn")
                .args(stratus_args);
            c
        }
        Target::Prometheus => {
            let cfg = dir.join("prometheus.yml");
            std::fs::write(&cfg, prometheus_yaml)?;
            let mut c = Command::new(prometheus_bin);
            c.arg(format!("--config.file={}", cfg.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .arg("--log.level=warn");
            c
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", target.name()))?;
    Ok(Server { child, port })
}

pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// The `p` quantile (0 to 1) of `v` by nearest rank; NaN when empty.
pub fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// A snappy-compressed `prometheus.WriteRequest`.
pub fn write_body(timeseries: Vec<TimeSeriesV1>) -> Bytes {
    let req = WriteRequestV1 {
        timeseries,
        metadata: vec![],
    };
    Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap_or_default(),
    )
}

/// Sends a query and times it to the last byte of the answer, in ms; an
/// answer other than 2xx is an error naming `expr`.
pub async fn timed_query(
    request: reqwest::RequestBuilder,
    expr: &str,
) -> anyhow::Result<(f64, Bytes)> {
    let t = Instant::now();
    let r = request.send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(500)]).to_string();
        bail!("{expr} answered {status}: {text}");
    }
    Ok((ms, body))
}

/// Posts a remote_write body; an answer other than 2xx is an error.
pub async fn post_write(client: &reqwest::Client, url: &str, body: Bytes) -> anyhow::Result<()> {
    let r = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    if !status.is_success() {
        let text = r.text().await.unwrap_or_default();
        bail!("write answered {status}: {text}");
    }
    Ok(())
}

/// Label pairs as remote_write label protos.
pub fn proto_labels<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Vec<LabelV1> {
    pairs
        .iter()
        .map(|(n, v)| LabelV1 {
            name: Bytes::copy_from_slice(n.as_ref().as_bytes()),
            value: Bytes::copy_from_slice(v.as_ref().as_bytes()),
        })
        .collect()
}
