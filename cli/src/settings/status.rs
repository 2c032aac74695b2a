//! The settings as `/api/v1/status/flags` and `/api/v1/status/config`
//! show them.

use std::path::{Path, PathBuf};

use stratus_model::NameValidation;
use stratus_storage::StorageBackend;

use super::Resolved;

impl Resolved {
    /// Every setting with its effective value, named as in the config
    /// file, in the order `--help` lists them: what `/api/v1/status/flags`
    /// and `/api/v1/status/config` show. Credentials are not settings (they
    /// come from the AWS chain), so nothing here is secret.
    pub fn settings(&self) -> Vec<(String, String)> {
        let d = stratus_model::time::format_std_duration;
        let path = |p: &Path| p.display().to_string();
        let opt_path = |p: &Option<PathBuf>| p.as_deref().map(path).unwrap_or_default();
        let s3 = &self.storage.s3;
        let s3_bucket = match self.storage.backend {
            StorageBackend::S3 => s3.bucket.clone(),
            StorageBackend::Local | StorageBackend::Memory => String::new(),
        };
        let rc = self
            .results_cache
            .clone()
            .unwrap_or_else(|| stratus_query::ResultsCacheOptions {
                max_bytes: 0,
                ..stratus_query::ResultsCacheOptions::default()
            });
        let mut features: Vec<String> = Vec::new();
        if self.engine.delayed_name_removal {
            features.push(stratus_query::engine::FEATURE_DELAYED_NAME_REMOVAL.to_string());
        }
        features.extend(self.unknown_features.iter().cloned());
        let c = &self.compactor;
        [
            ("listen_addr", self.listen_addr.to_string()),
            ("web_cors_origin", self.cors_origin.as_str().to_string()),
            ("max_connections", self.serve.max_connections.to_string()),
            ("http_read_timeout", d(self.serve.read_timeout)),
            ("http_idle_timeout", d(self.serve.idle_timeout)),
            ("data_dir", path(&self.storage.data_dir)),
            ("s3_bucket", s3_bucket),
            ("s3_region", s3.region.clone().unwrap_or_default()),
            ("s3_endpoint", s3.endpoint.clone().unwrap_or_default()),
            ("s3_path_style", s3.path_style.to_string()),
            (
                "storage_max_attempts",
                self.storage.retry.max_attempts.to_string(),
            ),
            ("storage_timeout", d(self.storage.retry.attempt_timeout)),
            ("commit_window", d(self.commit.window)),
            ("max_sample_age", d(self.limits.max_sample_age)),
            ("max_future", d(self.limits.max_future)),
            (
                "max_label_names_per_series",
                self.limits.max_label_names_per_series.to_string(),
            ),
            (
                "utf8_names",
                matches!(self.limits.name_validation, NameValidation::Utf8).to_string(),
            ),
            ("max_body_bytes", self.http.max_body_bytes.to_string()),
            ("multitenancy", self.http.multitenancy.to_string()),
            ("wal_dir", opt_path(&self.wal_dir)),
            ("lookback_delta", d(self.engine.lookback_delta)),
            ("query_timeout", d(self.engine.timeout)),
            ("query_max_samples", self.engine.max_samples.to_string()),
            ("query_max_series", self.engine.max_series.to_string()),
            (
                "query_max_concurrency",
                self.engine.pool.max_concurrency().to_string(),
            ),
            (
                "query_memory_bytes",
                self.engine
                    .memory
                    .as_ref()
                    .map_or(0, |m| m.limit())
                    .to_string(),
            ),
            ("query_listing_ttl", d(self.query_listing_ttl)),
            ("query_head_bytes", self.query_head_bytes.to_string()),
            ("query_results_cache_bytes", rc.max_bytes.to_string()),
            ("query_split_interval", d(rc.split_interval)),
            ("query_cache_freshness", d(rc.max_freshness)),
            ("query_split_concurrency", rc.concurrency.to_string()),
            ("cache_dir", opt_path(&self.cache.disk_dir)),
            ("cache_memory_bytes", self.cache.memory_bytes.to_string()),
            ("cache_disk_bytes", self.cache.disk_bytes.to_string()),
            ("enable_admin_api", self.enable_admin_api.to_string()),
            ("max_pending_deletes", self.max_pending_deletes.to_string()),
            ("compaction_interval", d(self.compaction_interval)),
            (
                "pack_interval",
                self.pack_interval.map_or_else(|| "default".to_string(), d),
            ),
            ("segment_grace", d(c.segment_grace)),
            ("delete_delay", d(c.delete_delay)),
            ("retention_raw", d(c.retention_raw)),
            ("retention_downsampled", d(c.retention_downsampled)),
            ("alertmanager_config", opt_path(&self.alertmanager_config)),
            ("ruler_tick", d(self.ruler_tick)),
            (
                "ruler_evaluation_interval",
                d(self.ruler.evaluation_interval),
            ),
            ("ruler_watchdog", self.ruler.watchdog.to_string()),
            ("external_url", self.ruler.external_url.clone()),
            ("log_level", self.log_level.clone()),
            ("enable_feature", features.join(",")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}
