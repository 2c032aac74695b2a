//! Settings from environment variables, read once at cold start. The
//! names are those of the server's flags (`STRATUS_*`); each function's
//! list below is what `infra/terraform` must set for it, which a test
//! checks against the HCL.

use std::time::Duration;

use stratus_compactor::CompactorConfig;
use stratus_ingest::HttpLimits;
use stratus_query::EngineOptions;
use stratus_storage::{RangeCacheConfig, StorageBackend, StorageConfig};

/// Read by the ingest function.
pub const INGEST: &[&str] = &[
    "STRATUS_S3_BUCKET",
    "STRATUS_MULTITENANCY",
    "STRATUS_MAX_BODY_BYTES",
    "STRATUS_LOG_LEVEL",
];
/// Read by the query function.
pub const QUERY: &[&str] = &[
    "STRATUS_S3_BUCKET",
    "STRATUS_MULTITENANCY",
    "STRATUS_QUERY_TIMEOUT",
    "STRATUS_CACHE_DIR",
    "STRATUS_MAX_PENDING_DELETES",
    "STRATUS_ENABLE_FEATURE",
    "STRATUS_WEB_CORS_ORIGIN",
    "STRATUS_LOG_LEVEL",
];
/// Read by the compactor function.
pub const COMPACTOR: &[&str] = &[
    "STRATUS_S3_BUCKET",
    "STRATUS_COMPACTION_BUDGET",
    "STRATUS_RETENTION_RAW",
    "STRATUS_RETENTION_DOWNSAMPLED",
    "STRATUS_LOG_LEVEL",
];
/// Read by the ruler function.
pub const RULER: &[&str] = &[
    "STRATUS_S3_BUCKET",
    "STRATUS_RULER_BUDGET",
    "STRATUS_RULER_WATCHDOG",
    "STRATUS_EXTERNAL_URL",
    "STRATUS_QUERY_TIMEOUT",
    "STRATUS_ALERTMANAGER_CONFIG_KEY",
    "STRATUS_ENABLE_FEATURE",
    "STRATUS_LOG_LEVEL",
];
/// Read by the notifier function.
pub const NOTIFIER: &[&str] = &[
    "STRATUS_S3_BUCKET",
    "STRATUS_NOTIFIER_BUDGET",
    "STRATUS_NOTIFIER_TICK",
    "STRATUS_EXTERNAL_URL",
    "STRATUS_ALERTMANAGER_CONFIG_KEY",
    "STRATUS_LOG_LEVEL",
];
/// Read by the API Gateway authorizer.
pub const AUTHORIZER: &[&str] = &["STRATUS_BEARER_TOKEN_SHA256", "STRATUS_LOG_LEVEL"];

/// Every function and what it reads, by the name `functions/` and
/// `infra/terraform` give it.
pub const FUNCTIONS: &[(&str, &[&str])] = &[
    ("ingest", INGEST),
    ("query", QUERY),
    ("compactor", COMPACTOR),
    ("ruler", RULER),
    ("notifier", NOTIFIER),
    ("authorizer", AUTHORIZER),
];

/// Read when set, for S3-compatible emulators (LocalStack, moto); AWS
/// deployments leave them unset. Credentials and region come from the
/// Lambda environment (`AWS_*`), as for any AWS SDK.
pub const LOCAL_ONLY: &[&str] = &["STRATUS_S3_ENDPOINT", "STRATUS_S3_PATH_STYLE"];

/// What the functions are configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub storage: StorageConfig,
    pub http: HttpLimits,
    pub engine: EngineOptions,
    pub compactor: CompactorConfig,
    /// The query function's object cache: memory, and a disk tier in
    /// `/tmp` (`STRATUS_CACHE_DIR`), both kept across warm invocations.
    pub cache: RangeCacheConfig,
    /// What the query function's head of recent segments may hold
    /// (`STRATUS_QUERY_HEAD_BYTES`; 0: no bound).
    pub head_bytes: u64,
    /// Delete requests a tenant may have pending; 0: no limit.
    pub max_pending_deletes: usize,
    /// How long one scheduled compaction keeps starting jobs.
    pub compaction_budget: Duration,
    /// SHA-256 digests (lowercase hex) of the bearer tokens the authorizer
    /// accepts.
    pub token_sha256: Vec<String>,
    /// The ruler's options (`STRATUS_RULER_WATCHDOG`, `STRATUS_EXTERNAL_URL`).
    pub ruler: stratus_ruler::RulerOptions,
    /// How long one ruler / notifier invocation keeps running passes.
    pub ruler_budget: Duration,
    pub notifier_budget: Duration,
    /// Time between two passes within one invocation.
    pub ruler_tick: Duration,
    pub notifier_tick: Duration,
    /// Bucket key of the notifier's Alertmanager configuration (YAML).
    pub alertmanager_config_key: Option<String>,
    pub log_level: String,
    /// Origins answered with CORS headers (`STRATUS_WEB_CORS_ORIGIN`, as
    /// the server's `--web-cors-origin`).
    pub cors_origin: stratus_http::CorsOrigin,
    /// Names in `STRATUS_ENABLE_FEATURE` that are no feature of Stratus:
    /// logged by [`Settings::log_features`], otherwise ignored.
    pub unknown_features: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            storage: StorageConfig::default(),
            // What reaches a function at all: base64 in a 6 MiB event.
            http: HttpLimits {
                max_body_bytes: crate::LAMBDA_MAX_BODY_BYTES,
                ..HttpLimits::default()
            },
            engine: EngineOptions::default(),
            compactor: CompactorConfig::default(),
            cache: RangeCacheConfig {
                memory_bytes: 256 << 20,
                disk_dir: None,
                disk_bytes: 1 << 30,
            },
            head_bytes: 256 << 20,
            max_pending_deletes: 0,
            compaction_budget: Duration::from_secs(600),
            token_sha256: Vec::new(),
            ruler: stratus_ruler::RulerOptions::default(),
            ruler_budget: Duration::from_secs(50),
            notifier_budget: Duration::from_secs(50),
            ruler_tick: Duration::from_secs(5),
            notifier_tick: Duration::from_secs(10),
            alertmanager_config_key: None,
            log_level: "info".into(),
            cors_origin: stratus_http::CorsOrigin::default(),
            unknown_features: Vec::new(),
        }
    }
}

impl Settings {
    /// From the process environment.
    /// The writer these settings describe ([`stratus_ingest::Writer`]):
    /// each request written as its own segment before it is acknowledged
    /// (commit window 0: an invocation that returned has nothing left in
    /// memory), no WAL folder.
    pub fn writer(&self) -> stratus_ingest::WriterConfig {
        stratus_ingest::WriterConfig {
            commit: stratus_ingest::CommitConfig {
                window: std::time::Duration::ZERO,
                ..stratus_ingest::CommitConfig::default()
            },
            http: self.http.clone(),
            ..stratus_ingest::WriterConfig::default()
        }
    }

    /// The querier these settings describe ([`stratus_query::Querier`]):
    /// no admin API, and the results of old splits kept for warm
    /// invocations.
    pub fn querier(&self) -> stratus_query::QuerierConfig {
        stratus_query::QuerierConfig {
            source: stratus_query::BucketSourceOptions {
                head_bytes: self.head_bytes,
                ..stratus_query::BucketSourceOptions::default()
            },
            engine: self.engine.clone(),
            tenants: stratus_http::TenantPolicy::new(self.http.multitenancy),
            max_body_bytes: self.http.max_body_bytes,
            admin_api: false,
            max_pending_deletes: self.max_pending_deletes,
            results_cache: Some(stratus_query::ResultsCacheOptions::default()),
            // Nothing to show: the function's settings are its environment.
            status: stratus_query::ServerStatus::default(),
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From `get(name)`; unset or empty names keep their defaults. Errors
    /// name the variable, what it holds and what was expected.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut s = Settings::default();
        if let Some(bucket) = get("STRATUS_S3_BUCKET") {
            s.storage.backend = StorageBackend::S3;
            s.storage.s3.bucket = bucket;
        }
        s.storage.s3.endpoint = get("STRATUS_S3_ENDPOINT");
        if let Some(v) = get("STRATUS_S3_PATH_STYLE") {
            s.storage.s3.path_style = boolean("STRATUS_S3_PATH_STYLE", &v)?;
        }
        if let Some(v) = get("STRATUS_MULTITENANCY") {
            s.http.multitenancy = boolean("STRATUS_MULTITENANCY", &v)?;
        }
        if let Some(v) = get("STRATUS_MAX_BODY_BYTES") {
            s.http.max_body_bytes = v.parse().map_err(|_| {
                anyhow::anyhow!("STRATUS_MAX_BODY_BYTES must be a number of bytes, got {v:?}")
            })?;
        }
        if let Some(v) = get("STRATUS_QUERY_HEAD_BYTES") {
            s.head_bytes = v.parse().map_err(|_| {
                anyhow::anyhow!("STRATUS_QUERY_HEAD_BYTES must be a number of bytes, got {v:?}")
            })?;
        }
        // Set by Lambda itself: queries get what the caches and 256 MiB
        // for the runtime leave, and at least a quarter of the function's
        // memory.
        if let Some(v) = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
            let mib: u64 = v.parse().map_err(|_| {
                anyhow::anyhow!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a number of MB, got {v:?}")
            })?;
            let caches = s.cache.memory_bytes as u64
                + stratus_query::ResultsCacheOptions::default().max_bytes
                + s.head_bytes
                + stratus_query::bucket_source::LABEL_SET_CACHE_BYTES
                + stratus_query::bucket_source::LABEL_INDEX_CACHE_BYTES
                + (256 << 20);
            let total = mib << 20;
            let bytes = total.saturating_sub(caches).max(total / 4);
            s.engine.memory = (bytes > 0).then(|| stratus_query::QueryMemory::new(bytes));
        }
        if let Some(v) = get("STRATUS_QUERY_TIMEOUT") {
            s.engine.timeout = duration("STRATUS_QUERY_TIMEOUT", &v)?;
        }
        if let Some(v) = get("STRATUS_ENABLE_FEATURE") {
            // As the server's --enable-feature: comma-separated names.
            s.unknown_features = s.engine.enable_features([v.as_str()]);
        }
        if let Some(v) = get("STRATUS_WEB_CORS_ORIGIN") {
            s.cors_origin = stratus_http::CorsOrigin::new(&v).map_err(|e| {
                anyhow::anyhow!(
                    "STRATUS_WEB_CORS_ORIGIN {v:?} is not a valid regular expression: {e}"
                )
            })?;
        }
        if let Some(dir) = get("STRATUS_CACHE_DIR") {
            s.cache.disk_dir = Some(dir.into());
        }
        if let Some(v) = get("STRATUS_MAX_PENDING_DELETES") {
            s.max_pending_deletes = v.parse().map_err(|_| {
                anyhow::anyhow!(
                    "STRATUS_MAX_PENDING_DELETES must be a number of delete requests (0: no limit), got {v:?}"
                )
            })?;
        }
        if let Some(v) = get("STRATUS_COMPACTION_BUDGET") {
            s.compaction_budget = duration("STRATUS_COMPACTION_BUDGET", &v)?;
        }
        if let Some(v) = get("STRATUS_RETENTION_RAW") {
            s.compactor.retention_raw = duration("STRATUS_RETENTION_RAW", &v)?;
        }
        if let Some(v) = get("STRATUS_RETENTION_DOWNSAMPLED") {
            s.compactor.retention_downsampled = duration("STRATUS_RETENTION_DOWNSAMPLED", &v)?;
        }
        if let Some(v) = get("STRATUS_BEARER_TOKEN_SHA256") {
            s.token_sha256 = v
                .split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
            if let Some(bad) = s
                .token_sha256
                .iter()
                .find(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                anyhow::bail!(
                    "STRATUS_BEARER_TOKEN_SHA256 must hold SHA-256 digests as 64 hex digits, comma-separated; got {bad:?}"
                );
            }
        }
        if let Some(v) = get("STRATUS_RULER_BUDGET") {
            s.ruler_budget = duration("STRATUS_RULER_BUDGET", &v)?;
        }
        if let Some(v) = get("STRATUS_NOTIFIER_BUDGET") {
            s.notifier_budget = duration("STRATUS_NOTIFIER_BUDGET", &v)?;
        }
        if let Some(v) = get("STRATUS_NOTIFIER_TICK") {
            s.notifier_tick = duration("STRATUS_NOTIFIER_TICK", &v)?;
            anyhow::ensure!(
                !s.notifier_tick.is_zero(),
                "STRATUS_NOTIFIER_TICK must be above 0, got {v:?}"
            );
        }
        if let Some(v) = get("STRATUS_RULER_WATCHDOG") {
            s.ruler.watchdog = boolean("STRATUS_RULER_WATCHDOG", &v)?;
        }
        if let Some(v) = get("STRATUS_EXTERNAL_URL") {
            s.ruler.external_url = v;
        }
        s.alertmanager_config_key = get("STRATUS_ALERTMANAGER_CONFIG_KEY");
        if let Some(v) = get("STRATUS_LOG_LEVEL") {
            s.log_level = v;
        }
        Ok(s)
    }

    /// Logs the features turned on and, as Prometheus does, the unknown
    /// names in `STRATUS_ENABLE_FEATURE`. Call once logging is set up.
    pub fn log_features(&self) {
        if self.engine.delayed_name_removal {
            tracing::info!("Experimental PromQL delayed name removal enabled.");
        }
        for name in &self.unknown_features {
            tracing::warn!(option = %name, "Unknown option for STRATUS_ENABLE_FEATURE");
        }
    }

    /// Fails with the variable to set when no bucket was configured.
    pub fn require_bucket(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.storage.backend == StorageBackend::S3,
            "STRATUS_S3_BUCKET is not set: the function needs the name of the bucket that holds the data"
        );
        Ok(())
    }
}

fn boolean(name: &str, v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => anyhow::bail!("{name} must be true or false, got {v:?}"),
    }
}

fn duration(name: &str, v: &str) -> anyhow::Result<Duration> {
    stratus_model::time::parse_std_duration(v.trim())
        .map_err(|e| anyhow::anyhow!("{name} must be a duration such as 30s, 10m or 30d: {e}"))
}

/// Logs as JSON-less plain lines at `level` (Lambda adds the timestamp
/// and request id in CloudWatch).
pub fn init_logging(level: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(stratus_http::log_filter(level))
        .with_ansi(false)
        .without_time()
        .try_init();
}

/// What every function does at cold start: its settings from the
/// environment, logging, the panic hook, and the bucket the settings name
/// (an error when they name none).
pub fn cold_start() -> anyhow::Result<(Settings, stratus_storage::Bucket)> {
    let settings = Settings::from_env()?;
    init_logging(&settings.log_level);
    settings.log_features();
    stratus_http::install_panic_hook();
    settings.require_bucket()?;
    let bucket = stratus_storage::Bucket::from_config(&settings.storage)?;
    Ok((settings, bucket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn reads_every_variable() {
        let s = from(&[
            ("STRATUS_S3_BUCKET", "metrics"),
            ("STRATUS_MULTITENANCY", "true"),
            ("STRATUS_MAX_BODY_BYTES", "1024"),
            ("STRATUS_QUERY_TIMEOUT", "30s"),
            ("STRATUS_MAX_PENDING_DELETES", "1000"),
            ("STRATUS_COMPACTION_BUDGET", "5m"),
            ("STRATUS_RETENTION_RAW", "30d"),
            ("STRATUS_RETENTION_DOWNSAMPLED", "0s"),
            ("STRATUS_BEARER_TOKEN_SHA256", &"A".repeat(64)),
            ("STRATUS_LOG_LEVEL", "debug"),
            (
                "STRATUS_ENABLE_FEATURE",
                "promql-delayed-name-removal,no-such-feature",
            ),
        ])
        .expect("settings");
        assert!(s.engine.delayed_name_removal);
        assert_eq!(s.unknown_features, ["no-such-feature"]);
        assert_eq!(s.storage.backend, StorageBackend::S3);
        assert_eq!(s.storage.s3.bucket, "metrics");
        assert!(s.http.multitenancy);
        assert_eq!(s.http.max_body_bytes, 1024);
        assert_eq!(s.engine.timeout, Duration::from_secs(30));
        assert_eq!(s.max_pending_deletes, 1000);
        assert_eq!(s.compaction_budget, Duration::from_secs(300));
        assert_eq!(s.compactor.retention_raw, Duration::from_secs(30 * 86_400));
        assert_eq!(s.token_sha256, vec!["a".repeat(64)]);
        assert_eq!(s.log_level, "debug");
        s.require_bucket().expect("bucket");
    }

    #[test]
    fn delayed_name_removal_is_off_unless_enabled() {
        let s = from(&[]).expect("settings");
        assert!(!s.engine.delayed_name_removal);
        assert!(s.unknown_features.is_empty());
    }

    #[test]
    fn query_memory_follows_the_function_memory() {
        let bound = |mb: &str| {
            from(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb)])
                .expect("settings")
                .engine
                .memory
                .map(|m| m.limit() >> 20)
        };
        // 256 MiB objects + 256 MiB results + 256 MiB head + 64 MiB
        // label sets + 32 MiB label names and values + 256 MiB runtime =
        // 1120 MiB.
        assert_eq!(bound("1769"), Some(649));
        // The head's bound is the function's to set, and counted.
        let s = from(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769"),
            ("STRATUS_QUERY_HEAD_BYTES", "134217728"),
        ])
        .expect("settings");
        assert_eq!(s.head_bytes, 128 << 20);
        assert_eq!(s.engine.memory.map(|m| m.limit() >> 20), Some(777));
        let e = from(&[("STRATUS_QUERY_HEAD_BYTES", "lots")]).expect_err("not a number");
        assert!(
            e.to_string()
                .contains("STRATUS_QUERY_HEAD_BYTES must be a number of bytes"),
            "{e}"
        );
        assert_eq!(bound("1024"), Some(256));
        assert_eq!(bound("512"), Some(128));
        assert_eq!(bound("0"), None);
        assert_eq!(
            from(&[])
                .expect("settings")
                .engine
                .memory
                .map(|m| m.limit()),
            None
        );
        let e = from(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots")]).expect_err("bad");
        assert!(e.to_string().contains("number of MB"), "{e}");
    }

    #[test]
    fn the_cors_origin_defaults_to_any_and_an_invalid_one_names_the_variable() {
        assert!(from(&[]).expect("settings").cors_origin.allows_any());
        let s =
            from(&[("STRATUS_WEB_CORS_ORIGIN", r"https://grafana\.example")]).expect("settings");
        assert!(s.cors_origin.matches("https://grafana.example"));
        assert!(!s.cors_origin.matches("https://grafana.example.evil"));
        let e = from(&[("STRATUS_WEB_CORS_ORIGIN", "(")]).expect_err("bad");
        assert!(e.to_string().starts_with("STRATUS_WEB_CORS_ORIGIN"), "{e}");
    }

    #[test]
    fn errors_name_the_variable_and_what_was_expected() {
        let e = from(&[("STRATUS_QUERY_TIMEOUT", "soon")]).expect_err("bad");
        assert!(
            e.to_string()
                .contains("STRATUS_QUERY_TIMEOUT must be a duration"),
            "{e}"
        );
        let e = from(&[("STRATUS_MULTITENANCY", "maybe")]).expect_err("bad");
        assert!(e.to_string().contains("true or false"), "{e}");
        let e = from(&[("STRATUS_BEARER_TOKEN_SHA256", "abc")]).expect_err("bad");
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        let e = from(&[])
            .expect("defaults")
            .require_bucket()
            .expect_err("no bucket");
        assert!(e.to_string().contains("STRATUS_S3_BUCKET"), "{e}");
    }
}
