//! The `stratus` binary as a child process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::process::ChildGuard;

pub struct StratusProcess {
    pub child: ChildGuard,
    pub port: u16,
}

impl StratusProcess {
    /// Starts `bin all --listen-addr 127.0.0.1:<port> --data-dir <dir> <extra>`
    /// and waits until `/-/ready` answers. `port` 0 picks a free one.
    pub fn start(
        bin: &Path,
        port: u16,
        data_dir: &Path,
        log: &Path,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        Self::start_with_env(bin, port, data_dir, log, extra, &[])
    }

    /// As [`StratusProcess::start`], with extra environment variables
    /// (credentials for an S3 emulator, say).
    pub fn start_with_env(
        bin: &Path,
        port: u16,
        data_dir: &Path,
        log: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = if port == 0 { crate::free_port()? } else { port };
        let mut cmd = Command::new(bin);
        cmd.arg("all")
            .arg("--listen-addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("STRATUS_LOG_LEVEL", "info");
        let mut child = ChildGuard::spawn("stratus", cmd, log)?;
        child
            .wait_until(Duration::from_secs(30), || http_ok(port, "/-/ready"))
            .context("waiting for stratus to be ready")?;
        Ok(Self { child, port })
    }

    /// As [`StratusProcess::start`], run in the folder `dir` with its
    /// `./data` as the data folder, as a user who follows the README.
    pub fn start_in(bin: &Path, dir: &Path, log: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let port = crate::free_port()?;
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir)
            .arg("all")
            .arg("--listen-addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .env("STRATUS_LOG_LEVEL", "info");
        let mut child = ChildGuard::spawn("stratus", cmd, log)?;
        child
            .wait_until(Duration::from_secs(30), || http_ok(port, "/-/ready"))
            .context("waiting for stratus to be ready")?;
        Ok(Self { child, port })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A blocking GET that returns true on a 2xx answer.
pub fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 2")
}
