//! Settings of the server commands. One flat list of names, used the same
//! way everywhere: `--data-dir` on the command line, `STRATUS_DATA_DIR` in
//! the environment, `data_dir` in the config file. A flag or variable wins
//! over the file, the file over the default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use stratus_compactor::CompactorConfig;
use stratus_ingest::{CommitConfig, HttpLimits, Limits};
use stratus_model::NameValidation;
use stratus_query::EngineOptions;
use stratus_storage::{RetryPolicy, S3Config, StorageBackend, StorageConfig};

/// Every duration flag and variable: Prometheus's notation (`30s`, `1h30m`).
fn duration(s: &str) -> Result<Duration, stratus_model::time::DurationError> {
    stratus_model::time::parse_std_duration(s)
}

/// Every setting is optional here; [`Settings::resolve`] fills defaults.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Config file (TOML) with any of the settings below, named with
    /// underscores (data_dir = "./data").
    #[arg(long, env = "STRATUS_CONFIG_FILE", value_name = "FILE")]
    #[serde(skip)]
    pub config_file: Option<PathBuf>,

    /// Address the HTTP API listens on [default: 127.0.0.1:9494]
    #[arg(long, env = "STRATUS_LISTEN_ADDR", value_name = "HOST:PORT")]
    pub listen_addr: Option<SocketAddr>,

    /// HTTP connections served at once; more wait in the listen backlog.
    /// Lowered, with a warning, when the open-files limit would leave fewer
    /// than 256 descriptors for the rest of the process [default: 512]
    #[arg(long, env = "STRATUS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Longest time to read an HTTP request, head and body, counted from
    /// the accept for a connection's first request; the work of the
    /// handler is not bounded by it [default: 5m]
    #[arg(long, env = "STRATUS_HTTP_READ_TIMEOUT", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub http_read_timeout: Option<Duration>,

    /// How long a keep-alive HTTP connection may wait for its next request
    /// [default: 2m]
    #[arg(long, env = "STRATUS_HTTP_IDLE_TIMEOUT", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub http_idle_timeout: Option<Duration>,

    /// Origins allowed to call the API from a browser (CORS), a regular
    /// expression matched against the whole Origin header, as
    /// Prometheus's --web.cors.origin; `.*` answers every origin with
    /// `Access-Control-Allow-Origin: *` [default: .*]
    #[arg(long, env = "STRATUS_WEB_CORS_ORIGIN", value_name = "REGEX")]
    pub web_cors_origin: Option<String>,

    /// Folder that holds the bucket when no S3 bucket is given [default: ./data]
    #[arg(long, env = "STRATUS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Store data in this S3 bucket instead of a local folder. Credentials
    /// come from the AWS chain (AWS_ACCESS_KEY_ID..., web identity, ECS,
    /// instance metadata)
    #[arg(long, env = "STRATUS_S3_BUCKET", value_name = "NAME")]
    pub s3_bucket: Option<String>,

    /// S3 region [default: AWS_REGION, else us-east-1]
    #[arg(long, env = "STRATUS_S3_REGION")]
    pub s3_region: Option<String>,

    /// Endpoint of an S3-compatible store, e.g. http://127.0.0.1:4566
    #[arg(long, env = "STRATUS_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Path-style S3 addressing (most emulators and MinIO need it) [default: false]
    #[arg(long, env = "STRATUS_S3_PATH_STYLE", num_args = 0..=1, default_missing_value = "true")]
    pub s3_path_style: Option<bool>,

    /// Attempts per storage call, the first included [default: 4]
    #[arg(long, env = "STRATUS_STORAGE_MAX_ATTEMPTS")]
    pub storage_max_attempts: Option<u32>,

    /// Time limit of one storage call [default: 20s]
    #[arg(long, env = "STRATUS_STORAGE_TIMEOUT", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub storage_timeout: Option<Duration>,

    /// How long a write waits for others to share its segment; 0 writes
    /// each request alone [default: 200ms]
    #[arg(long, env = "STRATUS_COMMIT_WINDOW", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub commit_window: Option<Duration>,

    /// Samples older than this are rejected with 400, which Prometheus does
    /// not retry. The default takes the backlog a Prometheus resends from
    /// its WAL (at most ~3h) after an outage; lowering it drops that
    /// backlog for good, raising it (to backfill) lets clients with wrong
    /// clocks write into the past and makes the compactor merge older
    /// ranges again [default: 4h]
    #[arg(long, env = "STRATUS_MAX_SAMPLE_AGE", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub max_sample_age: Option<Duration>,

    /// Samples further than this in the future are rejected [default: 10m]
    #[arg(long, env = "STRATUS_MAX_FUTURE", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub max_future: Option<Duration>,

    /// Labels allowed per series [default: 30]
    #[arg(long, env = "STRATUS_MAX_LABEL_NAMES_PER_SERIES")]
    pub max_label_names_per_series: Option<usize>,

    /// Accept any UTF-8 metric and label names (Prometheus 3 style) instead
    /// of [a-zA-Z_:][a-zA-Z0-9_:]* [default: false]
    #[arg(long, env = "STRATUS_UTF8_NAMES", num_args = 0..=1, default_missing_value = "true")]
    pub utf8_names: Option<bool>,

    /// Largest request body in bytes, as sent [default: 16777216]
    #[arg(long, env = "STRATUS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Require X-Scope-OrgID on every request [default: false]
    #[arg(long, env = "STRATUS_MULTITENANCY", num_args = 0..=1, default_missing_value = "true")]
    pub multitenancy: Option<bool>,

    /// Acknowledge writes once fsynced to a local write-ahead log in this
    /// folder, and upload in the background (for hosts with a disk)
    #[arg(long, env = "STRATUS_WAL_DIR", value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,

    /// How far back an instant selector looks for a sample [default: 5m]
    #[arg(long, env = "STRATUS_LOOKBACK_DELTA", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub lookback_delta: Option<Duration>,

    /// Longest a query may run [default: 2m]
    #[arg(long, env = "STRATUS_QUERY_TIMEOUT", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub query_timeout: Option<Duration>,

    /// Most samples one query may hold in memory [default: 50000000]
    #[arg(long, env = "STRATUS_QUERY_MAX_SAMPLES")]
    pub query_max_samples: Option<usize>,

    /// Most series one selector may return [default: 500000]
    #[arg(long, env = "STRATUS_QUERY_MAX_SERIES")]
    pub query_max_series: Option<usize>,

    /// Queries (and rule evaluations) evaluated at once, each on a thread
    /// of its own off the threads that serve requests; more wait for a
    /// turn until their timeout (Prometheus's --query.max-concurrency)
    /// [default: 20]
    #[arg(long, env = "STRATUS_QUERY_MAX_CONCURRENCY")]
    pub query_max_concurrency: Option<usize>,

    /// Memory that running queries (and rules) may hold together: the
    /// series they load, what evaluation builds and the answers being
    /// encoded. A query that would pass it fails (422 when it alone is too
    /// big, 503 when others hold the memory); 0: no bound. The object and
    /// results caches are bounded separately [default: 2147483648]
    #[arg(long, env = "STRATUS_QUERY_MEMORY_BYTES")]
    pub query_memory_bytes: Option<u64>,

    /// Memory the querier's head of recent segments (those the compactor
    /// has not turned into blocks yet) may hold, estimated; a query that
    /// needs more fails with 503 until the compactor catches up. 0: no
    /// bound [default: 0]
    #[arg(long, env = "STRATUS_QUERY_HEAD_BYTES")]
    pub query_head_bytes: Option<u64>,

    /// How long the querier reuses a tenant's catalog and segment listing;
    /// new data becomes visible after at most this long [default: 1s]
    #[arg(long, env = "STRATUS_QUERY_LISTING_TTL", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub query_listing_ttl: Option<Duration>,

    /// Memory for cached results of range-query splits; 0 turns the
    /// results cache and splitting off [default: 268435456]
    #[arg(long, env = "STRATUS_QUERY_RESULTS_CACHE_BYTES")]
    pub query_results_cache_bytes: Option<u64>,

    /// Range queries are split at multiples of this (UTC), and the splits
    /// evaluated separately and cached [default: 24h]
    #[arg(long, env = "STRATUS_QUERY_SPLIT_INTERVAL", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub query_split_interval: Option<Duration>,

    /// Results with points newer than this are never cached: samples may
    /// still arrive for them [default: 10m]
    #[arg(long, env = "STRATUS_QUERY_CACHE_FRESHNESS", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub query_cache_freshness: Option<Duration>,

    /// Splits of one range query evaluated at once [default: 2]
    #[arg(long, env = "STRATUS_QUERY_SPLIT_CONCURRENCY")]
    pub query_split_concurrency: Option<usize>,

    /// Folder of the querier's disk cache of segments and block ranges
    /// (the hybrid cache's disk tier); unset: memory only
    #[arg(long, env = "STRATUS_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Memory for cached object bytes [default: 268435456]
    #[arg(long, env = "STRATUS_CACHE_MEMORY_BYTES")]
    pub cache_memory_bytes: Option<usize>,

    /// Disk for cached object bytes, with --cache-dir [default: 1073741824]
    #[arg(long, env = "STRATUS_CACHE_DISK_BYTES")]
    pub cache_disk_bytes: Option<usize>,

    /// Serve POST /api/v1/admin/tsdb/delete_series [default: false]
    #[arg(long, env = "STRATUS_ENABLE_ADMIN_API", num_args = 0..=1, default_missing_value = "true")]
    pub enable_admin_api: Option<bool>,

    /// Delete requests a tenant may have pending (not yet applied by the
    /// compactor) before more are refused with a 400; 0: no limit
    /// [default: 0]
    #[arg(long, env = "STRATUS_MAX_PENDING_DELETES")]
    pub max_pending_deletes: Option<usize>,

    /// Time between compaction passes [default: 1m]
    #[arg(long, env = "STRATUS_COMPACTION_INTERVAL", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub compaction_interval: Option<Duration>,

    /// Time between packing passes, which merge the newest segments into
    /// one indexed object so that a querier starting cold reads few
    /// objects; 0s: no packing [default: 5s for `stratus compactor`, 0s
    /// (off) for `stratus all`, whose own head is warm]
    #[arg(long, env = "STRATUS_PACK_INTERVAL", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub pack_interval: Option<Duration>,

    /// Segments younger than this are not compacted yet [default: 5m]
    #[arg(long, env = "STRATUS_SEGMENT_GRACE", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub segment_grace: Option<Duration>,

    /// Replaced objects are deleted this long after compaction [default: 15m]
    #[arg(long, env = "STRATUS_DELETE_DELAY", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub delete_delay: Option<Duration>,

    /// Raw data older than this is deleted; 0 keeps it [default: 0]
    #[arg(long, env = "STRATUS_RETENTION_RAW", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub retention_raw: Option<Duration>,

    /// 5m and 1h rollups older than this are deleted; 0 keeps them [default: 0]
    #[arg(long, env = "STRATUS_RETENTION_DOWNSAMPLED", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub retention_downsampled: Option<Duration>,

    /// Alertmanager configuration (YAML: route, receivers, inhibit_rules)
    /// of the built-in notifier; without it alerts are kept and shown but
    /// sent nowhere
    #[arg(long, env = "STRATUS_ALERTMANAGER_CONFIG", value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,

    /// How often the ruler looks for due rule groups and the notifier for
    /// due notifications [default: 5s]
    #[arg(long, env = "STRATUS_RULER_TICK", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub ruler_tick: Option<Duration>,

    /// Interval of rule groups that set none [default: 1m]
    #[arg(long, env = "STRATUS_RULER_EVALUATION_INTERVAL", value_parser = duration)]
    #[serde(default, with = "stratus_model::time::serde_duration")]
    pub ruler_evaluation_interval: Option<Duration>,

    /// Add an always-firing Watchdog alert to every tenant [default: false]
    #[arg(long, env = "STRATUS_RULER_WATCHDOG", num_args = 0..=1, default_missing_value = "true")]
    pub ruler_watchdog: Option<bool>,

    /// URL users reach Stratus at, for alert links [default: none]
    #[arg(long, env = "STRATUS_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,

    /// Log filter, e.g. info or stratus_ingest=debug [default: info]
    #[arg(long, env = "STRATUS_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// Features to turn on, as Prometheus's --enable-feature: repeat the
    /// flag or separate names with commas. promql-delayed-name-removal:
    /// Prometheus 3's experimental delayed __name__ removal (off, as in
    /// Prometheus, the name goes where it is dropped). Unknown names are
    /// logged and ignored
    #[arg(
        long = "enable-feature",
        env = "STRATUS_ENABLE_FEATURE",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub enable_feature: Option<Vec<String>>,
}

/// Settings with every default applied, in the shapes the libraries take.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub listen_addr: SocketAddr,
    pub serve: stratus_http::ServeOptions,
    /// Origins answered with CORS headers (`--web-cors-origin`).
    pub cors_origin: stratus_http::CorsOrigin,
    pub storage: StorageConfig,
    pub limits: Limits,
    pub http: HttpLimits,
    pub commit: CommitConfig,
    pub wal_dir: Option<PathBuf>,
    pub engine: EngineOptions,
    pub compactor: CompactorConfig,
    pub compaction_interval: Duration,
    /// Unset: the command's default (`compactor` 5 s, `all` off); zero:
    /// no packing.
    pub pack_interval: Option<Duration>,
    pub query_listing_ttl: Duration,
    /// The head's bound; 0: none.
    pub query_head_bytes: u64,
    pub cache: stratus_storage::RangeCacheConfig,
    /// None: no results cache and no splitting.
    pub results_cache: Option<stratus_query::ResultsCacheOptions>,
    pub enable_admin_api: bool,
    /// 0: no limit.
    pub max_pending_deletes: usize,
    pub alertmanager_config: Option<PathBuf>,
    pub ruler_tick: Duration,
    pub ruler: stratus_ruler::RulerOptions,
    pub log_level: String,
    /// Names given to `--enable-feature` that Stratus does not know.
    pub unknown_features: Vec<String>,
}

/// `--query-memory-bytes` unless set: 2 GiB.
const DEFAULT_QUERY_MEMORY_BYTES: u64 = 2 << 30;

macro_rules! prefer {
    ($a:ident, $b:ident, $($f:ident),*) => {
        Settings { config_file: $a.config_file.or($b.config_file), $($f: $a.$f.or($b.$f)),* }
    };
}

impl Settings {
    /// Reads the config file if one is named, and lets flags and
    /// environment variables override it.
    pub fn load(self) -> anyhow::Result<Settings> {
        let file = match &self.config_file {
            Some(path) => Self::from_file(path)?,
            None => Settings::default(),
        };
        let cli = self;
        Ok(prefer!(
            cli,
            file,
            listen_addr,
            max_connections,
            http_read_timeout,
            http_idle_timeout,
            web_cors_origin,
            data_dir,
            s3_bucket,
            s3_region,
            s3_endpoint,
            s3_path_style,
            storage_max_attempts,
            storage_timeout,
            commit_window,
            max_sample_age,
            max_future,
            max_label_names_per_series,
            utf8_names,
            max_body_bytes,
            multitenancy,
            wal_dir,
            lookback_delta,
            query_timeout,
            query_max_samples,
            query_max_series,
            query_max_concurrency,
            query_memory_bytes,
            query_head_bytes,
            query_listing_ttl,
            query_results_cache_bytes,
            query_split_interval,
            query_cache_freshness,
            query_split_concurrency,
            cache_dir,
            cache_memory_bytes,
            cache_disk_bytes,
            enable_admin_api,
            max_pending_deletes,
            compaction_interval,
            pack_interval,
            segment_grace,
            delete_delay,
            retention_raw,
            retention_downsampled,
            alertmanager_config,
            ruler_tick,
            ruler_evaluation_interval,
            ruler_watchdog,
            external_url,
            log_level,
            enable_feature
        ))
    }

    fn from_file(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid", path.display()))
    }

    pub fn resolve(self) -> anyhow::Result<Resolved> {
        let storage = StorageConfig {
            backend: if self.s3_bucket.is_some() {
                StorageBackend::S3
            } else {
                StorageBackend::Local
            },
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from("./data")),
            s3: S3Config {
                bucket: self.s3_bucket.unwrap_or_default(),
                region: self.s3_region,
                endpoint: self.s3_endpoint,
                path_style: self.s3_path_style.unwrap_or(false),
                ..S3Config::default()
            },
            retry: RetryPolicy {
                max_attempts: self
                    .storage_max_attempts
                    .unwrap_or(RetryPolicy::default().max_attempts),
                attempt_timeout: self
                    .storage_timeout
                    .unwrap_or(RetryPolicy::default().attempt_timeout),
                ..RetryPolicy::default()
            },
        };
        storage.validate()?;
        let d = Limits::default();
        let limits = Limits {
            max_sample_age: self.max_sample_age.unwrap_or(d.max_sample_age),
            max_future: self.max_future.unwrap_or(d.max_future),
            max_label_names_per_series: self
                .max_label_names_per_series
                .unwrap_or(d.max_label_names_per_series),
            name_validation: if self.utf8_names.unwrap_or(false) {
                NameValidation::Utf8
            } else {
                NameValidation::Legacy
            },
            ..d
        };
        let http = HttpLimits {
            max_body_bytes: self
                .max_body_bytes
                .unwrap_or(HttpLimits::default().max_body_bytes),
            multitenancy: self.multitenancy.unwrap_or(false),
            ..HttpLimits::default()
        };
        if http.max_body_bytes == 0 {
            bail!("max_body_bytes is 0; give the largest request body to accept, in bytes");
        }
        let commit = CommitConfig {
            window: self.commit_window.unwrap_or(CommitConfig::default().window),
            ..CommitConfig::default()
        };
        let mut engine = {
            let d = EngineOptions::default();
            EngineOptions {
                lookback_delta: self.lookback_delta.unwrap_or(d.lookback_delta),
                timeout: self.query_timeout.unwrap_or(d.timeout),
                max_samples: self.query_max_samples.unwrap_or(d.max_samples),
                max_series: self.query_max_series.unwrap_or(d.max_series),
                pool: match self.query_max_concurrency {
                    Some(n) => stratus_query::QueryPool::new(n),
                    None => d.pool.clone(),
                },
                memory: match self
                    .query_memory_bytes
                    .unwrap_or(DEFAULT_QUERY_MEMORY_BYTES)
                {
                    0 => None,
                    n => Some(stratus_query::QueryMemory::new(n)),
                },
                ..d
            }
        };
        let unknown_features =
            engine.enable_features(self.enable_feature.iter().flatten().map(String::as_str));
        Ok(Resolved {
            listen_addr: self
                .listen_addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9494))),
            serve: {
                let d = stratus_http::ServeOptions::default();
                let o = stratus_http::ServeOptions {
                    max_connections: self.max_connections.unwrap_or(d.max_connections),
                    read_timeout: self.http_read_timeout.unwrap_or(d.read_timeout),
                    idle_timeout: self.http_idle_timeout.unwrap_or(d.idle_timeout),
                };
                o.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                o
            },
            cors_origin: {
                let pattern = self
                    .web_cors_origin
                    .as_deref()
                    .unwrap_or(stratus_http::cors::DEFAULT_CORS_ORIGIN);
                stratus_http::CorsOrigin::new(pattern).map_err(|e| {
                    anyhow::anyhow!(
                        "web_cors_origin (--web-cors-origin) {pattern:?} is not a valid regular expression: {e}"
                    )
                })?
            },
            storage,
            limits,
            http,
            commit,
            wal_dir: self.wal_dir,
            engine,
            compactor: {
                let d = CompactorConfig::default();
                CompactorConfig {
                    segment_grace: self.segment_grace.unwrap_or(d.segment_grace),
                    delete_delay: self.delete_delay.unwrap_or(d.delete_delay),
                    retention_raw: self.retention_raw.unwrap_or(d.retention_raw),
                    retention_downsampled: self
                        .retention_downsampled
                        .unwrap_or(d.retention_downsampled),
                    ..d
                }
            },
            compaction_interval: self.compaction_interval.unwrap_or(Duration::from_secs(60)),
            pack_interval: self.pack_interval,
            query_listing_ttl: self.query_listing_ttl.unwrap_or(Duration::from_secs(1)),
            query_head_bytes: self.query_head_bytes.unwrap_or(0),
            cache: {
                let d = stratus_storage::RangeCacheConfig::default();
                stratus_storage::RangeCacheConfig {
                    memory_bytes: self.cache_memory_bytes.unwrap_or(d.memory_bytes),
                    disk_dir: self.cache_dir.clone(),
                    disk_bytes: self.cache_disk_bytes.unwrap_or(d.disk_bytes),
                }
            },
            results_cache: {
                let d = stratus_query::ResultsCacheOptions::default();
                let o = stratus_query::ResultsCacheOptions {
                    max_bytes: self.query_results_cache_bytes.unwrap_or(d.max_bytes),
                    split_interval: self.query_split_interval.unwrap_or(d.split_interval),
                    max_freshness: self.query_cache_freshness.unwrap_or(d.max_freshness),
                    concurrency: self.query_split_concurrency.unwrap_or(d.concurrency),
                };
                o.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                (o.max_bytes > 0).then_some(o)
            },
            enable_admin_api: self.enable_admin_api.unwrap_or(false),
            max_pending_deletes: self.max_pending_deletes.unwrap_or(0),
            alertmanager_config: self.alertmanager_config,
            ruler_tick: {
                let t = self.ruler_tick.unwrap_or(Duration::from_secs(5));
                if t.is_zero() {
                    bail!("ruler_tick must be above 0, got 0s");
                }
                t
            },
            ruler: {
                let r = stratus_ruler::RulerOptions {
                    evaluation_interval: self
                        .ruler_evaluation_interval
                        .unwrap_or(Duration::from_secs(60)),
                    watchdog: self.ruler_watchdog.unwrap_or(false),
                    external_url: self.external_url.unwrap_or_default(),
                    ..stratus_ruler::RulerOptions::default()
                };
                r.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                r
            },
            log_level: self.log_level.unwrap_or_else(|| "info".into()),
            unknown_features,
        })
    }
}

mod components;
mod status;

#[cfg(test)]
mod tests;
