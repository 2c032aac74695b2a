//! The querier under test: a child process of this executable
//! (`stratus bench query --serve-querier <bucket>`) serving the same query
//! router as `stratus query`, over a local-folder bucket whose every
//! request waits `--latency-ms` first ([`FaultyStore`]), as object storage
//! does. `stratus query` has no flag for injected latency, hence this
//! mode; a child process gives a really cold start (empty memory and disk
//! caches) per measurement and its own peak RSS.
//!
//! Besides the API it serves `GET /bench/counts`: the process's bucket
//! requests and object-cache hits and misses, so the bench can tell data
//! GETs (every object-cache miss is one GET of a block range or segment)
//! from catalog GETs (the rest).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};
use stratus_query::EngineOptions;
use stratus_storage::{
    Bucket, FaultConfig, FaultyStore, LocalStore, RangeCache, RangeCacheConfig, RetryPolicy,
};

use super::super::procstat::peak_rss_bytes;
use super::super::servers::{free_port, Server};

/// How the querier child is set up.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    pub bucket_dir: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub port: u16,
    pub latency_ms: u64,
    pub limits: QuerierLimits,
}

/// The querier child's settings a bench passes on (the rest are `stratus
/// query`'s defaults).
#[derive(Debug, Clone, Copy)]
pub struct QuerierLimits {
    /// `--query-max-samples`
    pub max_samples: usize,
    /// `--query-results-cache-bytes`; 0: no results cache
    pub results_cache_bytes: u64,
    /// `--query-memory-bytes`; 0: no bound
    pub query_memory_bytes: u64,
    /// `--query-head-bytes`; 0: no bound
    pub head_bytes: u64,
}

/// Bucket requests and object-cache lookups of the querier so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub gets: u64,
    pub get_bytes: u64,
    pub lists: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            gets: self.gets - earlier.gets,
            get_bytes: self.get_bytes - earlier.get_bytes,
            lists: self.lists - earlier.lists,
            cache_hits: self.cache_hits - earlier.cache_hits,
            cache_misses: self.cache_misses - earlier.cache_misses,
        }
    }

    /// GETs of block ranges and segments: each object-cache miss is one.
    pub fn data_gets(&self) -> u64 {
        self.cache_misses
    }

    /// The other GETs: the catalog.
    pub fn catalog_gets(&self) -> u64 {
        self.gets.saturating_sub(self.cache_misses)
    }
}

/// The memory bounds a querier child started with these settings is
/// configured with (`querier::serve` keeps `stratus query`'s defaults for
/// the rest): the object cache's memory tier (`--cache-memory-bytes`),
/// the decoded segments and the blocks' label sets (fixed in the query
/// source), the results cache (`--query-results-cache-bytes`) and the
/// running queries' bound (`--query-memory-bytes`).
pub fn configured_bounds(l: &QuerierLimits) -> Vec<(&'static str, u64)> {
    vec![
        (
            "object cache",
            RangeCacheConfig::default().memory_bytes as u64,
        ),
        ("head of recent segments", l.head_bytes),
        (
            "label sets",
            stratus_query::bucket_source::LABEL_SET_CACHE_BYTES,
        ),
        (
            "label names and values",
            stratus_query::bucket_source::LABEL_INDEX_CACHE_BYTES,
        ),
        ("results cache", l.results_cache_bytes),
        ("queries", l.query_memory_bytes),
    ]
}

/// The bounds as one line: `object cache 256 MiB + ... = 3168 MiB`.
pub fn describe_bounds(parts: &[(&'static str, u64)]) -> String {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let each: Vec<String> = parts
        .iter()
        .map(|(n, b)| format!("{n} {:.0} MiB", mib(*b)))
        .collect();
    format!("{} = {:.0} MiB", each.join(" + "), mib(total))
}

/// Serves the query API until the process is killed.
pub async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let local = LocalStore::new(&a.bucket_dir)
        .with_context(|| format!("opening the bucket folder {}", a.bucket_dir.display()))?;
    let store = FaultyStore::new(
        Arc::new(local),
        FaultConfig {
            latency: Duration::from_millis(a.latency_ms),
            ..FaultConfig::default()
        },
    );
    let bucket = Bucket::new(Arc::new(store), RetryPolicy::default());
    // `stratus query`'s defaults, with a disk tier when a folder is given.
    let cache = Arc::new(
        RangeCache::new(&RangeCacheConfig {
            disk_dir: a.cache_dir.clone(),
            ..RangeCacheConfig::default()
        })
        .await
        .context("setting up the object cache")?,
    );
    // `stratus query`'s defaults but the flags of the bench.
    let querier = stratus_query::Querier::new(
        bucket,
        stratus_query::QuerierConfig {
            source: stratus_query::BucketSourceOptions {
                head_bytes: a.limits.head_bytes,
                ..stratus_query::BucketSourceOptions::default()
            },
            engine: EngineOptions {
                max_samples: a.limits.max_samples,
                memory: (a.limits.query_memory_bytes > 0)
                    .then(|| stratus_query::QueryMemory::new(a.limits.query_memory_bytes)),
                ..EngineOptions::default()
            },
            results_cache: (a.limits.results_cache_bytes > 0).then(|| {
                stratus_query::ResultsCacheOptions {
                    max_bytes: a.limits.results_cache_bytes,
                    ..Default::default()
                }
            }),
            ..stratus_query::QuerierConfig::default()
        },
        Some(cache.clone()),
    );
    let counts = move || {
        let p = stratus_storage::process_counts();
        let c = cache.counts();
        Json(Counts {
            gets: p.gets,
            get_bytes: p.get_bytes,
            lists: p.lists,
            cache_hits: c.hits,
            cache_misses: c.misses,
        })
    };
    let app = querier
        .router()
        .route("/bench/counts", get(move || async move { counts() }))
        .route("/-/ready", get(|| async { "Stratus is Ready.\n" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", a.port))?;
    axum::serve(listener, app)
        .await
        .context("querier http server failed")
}

/// A running querier child; killed when dropped.
pub struct Querier {
    pub server: Server,
    /// Its disk cache, removed with it.
    _cache: tempfile::TempDir,
}

impl Querier {
    /// Starts a querier over `bucket_dir` with empty caches (memory and a
    /// fresh disk-tier folder under `work`) and waits until it answers.
    pub async fn start(
        client: &reqwest::Client,
        bucket_dir: &Path,
        work: &Path,
        latency_ms: u64,
        limits: &QuerierLimits,
    ) -> anyhow::Result<Self> {
        let cache = tempfile::tempdir_in(work)?;
        let port = free_port()?;
        let log = std::fs::File::create(work.join("querier.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .args(["bench", "query", "--serve-querier"])
            .arg(bucket_dir)
            .arg("--querier-cache-dir")
            .arg(cache.path())
            .arg("--querier-port")
            .arg(port.to_string())
            .arg("--latency-ms")
            .arg(latency_ms.to_string())
            .arg("--query-max-samples")
            .arg(limits.max_samples.to_string())
            .arg("--results-cache-bytes")
            .arg(limits.results_cache_bytes.to_string())
            .arg("--query-memory-bytes")
            .arg(limits.query_memory_bytes.to_string())
            .arg("--head-bytes")
            .arg(limits.head_bytes.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the querier process")?;
        let mut server = Server { child, port };
        server.wait_ready(client).await?;
        Ok(Self {
            server,
            _cache: cache,
        })
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub async fn counts(&self, client: &reqwest::Client) -> anyhow::Result<Counts> {
        let r = client.get(self.url("/bench/counts")).send().await?;
        let body = r.error_for_status()?.bytes().await?;
        serde_json::from_slice(&body)
            .context("the querier's /bench/counts is not the expected JSON")
    }

    /// Peak resident memory of the querier process so far (VmHWM).
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        peak_rss_bytes(self.server.child.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_gets_are_cache_misses_and_the_rest_is_the_catalog() {
        let before = Counts {
            gets: 10,
            get_bytes: 1000,
            lists: 2,
            cache_hits: 5,
            cache_misses: 8,
        };
        let after = Counts {
            gets: 14,
            get_bytes: 1500,
            lists: 3,
            cache_hits: 9,
            cache_misses: 11,
        };
        let d = after.since(&before);
        assert_eq!(d.data_gets(), 3);
        assert_eq!(d.catalog_gets(), 1);
        assert_eq!(d.get_bytes, 500);
        assert_eq!(d.lists, 1);
    }
}
