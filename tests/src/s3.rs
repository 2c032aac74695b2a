//! A real S3 emulator (moto) on 127.0.0.1 for the storage and end-to-end
//! suites. `.ci/run` installs it; when it is missing the tests fail with the
//! command that installs it, they do not skip.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use stratus_storage::{S3Config, StorageBackend, StorageConfig};

use crate::process::{find_tool, port_open, ChildGuard};

pub const INSTALL_HINT: &str =
    "the S3 emulator (moto) is not installed: run scripts/install-test-deps.sh, \
     or set STRATUS_MOTO_SERVER to a moto_server executable";

pub struct S3Emulator {
    pub endpoint: String,
    _dir: tempfile::TempDir,
    _child: ChildGuard,
}

impl S3Emulator {
    /// Starts moto_server on a free port and waits until it answers.
    pub fn start() -> anyhow::Result<Self> {
        let bin = find_tool(
            "STRATUS_MOTO_SERVER",
            "moto_server",
            &[
                ".tools/moto/bin/moto_server",
                "../.tools/moto/bin/moto_server",
            ],
        )
        .context(INSTALL_HINT)?;
        let dir = tempfile::tempdir()?;
        let mut last_err = None;
        for _ in 0..3 {
            let port = crate::free_port()?;
            let mut cmd = Command::new(&bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            let mut child = ChildGuard::spawn("moto_server", cmd, &dir.path().join("moto.log"))?;
            match child.wait_until(Duration::from_secs(30), || port_open(port)) {
                Ok(()) => {
                    return Ok(Self {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        _dir: dir,
                        _child: child,
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("moto did not start")))
    }

    /// Creates a bucket (moto accepts unsigned requests).
    pub async fn create_bucket(&self, name: &str) -> anyhow::Result<()> {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "creating bucket {name}: {} {}",
                resp.status(),
                resp.text().await?
            );
        }
        Ok(())
    }

    /// A storage configuration pointing at `bucket` on this emulator.
    pub fn storage_config(&self, bucket: &str) -> StorageConfig {
        StorageConfig {
            backend: StorageBackend::S3,
            s3: S3Config {
                bucket: bucket.to_string(),
                region: Some("us-east-1".into()),
                endpoint: Some(self.endpoint.clone()),
                path_style: true,
                access_key_id: Some("test".into()),
                secret_access_key: Some("test".into()),
                ..S3Config::default()
            },
            ..StorageConfig::default()
        }
    }
}
