//! The two systems a differential test compares: `stratus all` and
//! Debian's Prometheus with its remote-write receiver, both empty, in one
//! temporary folder.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::prometheus::Prometheus;
use crate::stratus::StratusProcess;

/// Prometheus without scrapes or rules: it only receives remote_write.
const RECEIVER_CONFIG: &str = "
global:
  scrape_interval: 15s
  evaluation_interval: 1m
scrape_configs: []
";

/// The wall clock, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("clock after 1970")
}

/// Both systems, started and ready.
pub struct Pair {
    pub stratus: StratusProcess,
    pub prometheus: Prometheus,
    /// Stratus's data folder.
    pub data_dir: PathBuf,
}

/// Starts `stratus all` (writes committed every 50 ms, segments listed on
/// every query, then `stratus_args`) and Prometheus (`prometheus_args`
/// after the remote-write receiver flag) in `dir`.
pub fn start_pair(bin: &Path, dir: &Path, stratus_args: &[&str], prometheus_args: &[&str]) -> Pair {
    let data_dir = dir.join("data");
    let mut args = vec!["--commit-window", "50ms", "--query-listing-ttl", "0s"];
    args.extend_from_slice(stratus_args);
    let stratus =
        StratusProcess::start(bin, 0, &data_dir, &dir.join("stratus.log"), &args).expect("stratus");
    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("mkdir");
    let mut args = vec!["--web.enable-remote-write-receiver"];
    args.extend_from_slice(prometheus_args);
    let prometheus = Prometheus::start(&prom_dir, RECEIVER_CONFIG, &args).expect("prometheus");
    Pair {
        stratus,
        prometheus,
        data_dir,
    }
}
