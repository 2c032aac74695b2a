//! What bounds a server's connections, and the open-files limit they
//! share with the rest of the process.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How [`crate::serve`] bounds connections and the phases of a request.
/// The defaults are Prometheus's (`--web.max-connections`,
/// `--web.read-timeout`) and Mimir's (idle timeout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeOptions {
    /// Connections served at once; more wait in the listen backlog until
    /// one closes.
    pub max_connections: usize,
    /// Longest time to read one request, head and body: from the accept
    /// for a connection's first request, from its first byte for the next
    /// ones. The handler's own work is not bounded by it.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub read_timeout: Duration,
    /// Longest time a keep-alive connection waits for its next request.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub idle_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 512,
            read_timeout: Duration::from_secs(5 * 60),
            idle_timeout: Duration::from_secs(2 * 60),
        }
    }
}

impl ServeOptions {
    pub fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::Zero {
                name: "max_connections",
                got: "0".into(),
            });
        }
        for (name, d) in [
            ("http_read_timeout", self.read_timeout),
            ("http_idle_timeout", self.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::Zero {
                    name,
                    got: stratus_model::time::format_std_duration(d).to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Descriptors kept free of connections for the bucket, the WAL, the
/// object cache's disk tier and the runtime.
pub const DESCRIPTOR_RESERVE: u64 = 256;

/// Raises the soft limit of open files to the hard limit, as the Go
/// runtime does at start (a server needs one descriptor per connection,
/// and 1 024, a common soft limit, is little). Returns the soft limit now
/// in effect.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The soft limit of open files, where there is one.
pub(crate) fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connections a server may hold when the process may open
/// `open_files` descriptors: `wanted`, or fewer so that
/// [`DESCRIPTOR_RESERVE`] stay free (at least one).
pub fn connection_limit(wanted: usize, open_files: u64) -> usize {
    let room = open_files.saturating_sub(DESCRIPTOR_RESERVE).max(1);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_the_reserve_free() {
        assert_eq!(connection_limit(512, 20_000), 512);
        assert_eq!(connection_limit(512, 768), 512);
        assert_eq!(connection_limit(512, 767), 511);
        assert_eq!(connection_limit(512, 1_000), 512);
        assert_eq!(connection_limit(512, 300), 44);
        assert_eq!(connection_limit(512, 100), 1);
        assert_eq!(connection_limit(512, u64::MAX), 512);
    }

    #[test]
    fn zero_bounds_are_refused() {
        assert!(ServeOptions::default().validate().is_ok());
        let e = ServeOptions {
            max_connections: 0,
            ..ServeOptions::default()
        }
        .validate()
        .expect_err("0 connections");
        assert_eq!(e.to_string(), "max_connections must be above 0, got 0");
        let e = ServeOptions {
            idle_timeout: Duration::ZERO,
            ..ServeOptions::default()
        }
        .validate()
        .expect_err("0s idle");
        assert_eq!(e.to_string(), "http_idle_timeout must be above 0, got 0s");
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let now = raise_open_files_limit().expect("raise");
        #[cfg(unix)]
        {
            let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
            assert_eq!(soft, now);
            // macOS caps the soft limit below an unlimited hard limit.
            assert!(soft == hard || cfg!(target_os = "macos"), "{soft} < {hard}");
        }
    }
}
