//! The components' configurations these settings describe: one mapping
//! from the server's settings to each component's constructor.

use std::time::Duration;

use super::Resolved;

impl Resolved {
    /// The writer these settings describe ([`stratus_ingest::Writer`]).
    pub fn writer(&self) -> stratus_ingest::WriterConfig {
        stratus_ingest::WriterConfig {
            commit: self.commit.clone(),
            limits: self.limits.clone(),
            http: self.http.clone(),
            wal_dir: self.wal_dir.clone(),
        }
    }

    /// The querier these settings describe ([`stratus_query::Querier`]).
    pub fn querier(&self) -> stratus_query::QuerierConfig {
        stratus_query::QuerierConfig {
            source: stratus_query::BucketSourceOptions {
                listing_ttl: self.query_listing_ttl,
                head_bytes: self.query_head_bytes,
                ..stratus_query::BucketSourceOptions::default()
            },
            engine: self.engine.clone(),
            tenants: stratus_http::TenantPolicy::new(self.http.multitenancy),
            max_body_bytes: self.http.max_body_bytes,
            admin_api: self.enable_admin_api,
            max_pending_deletes: self.max_pending_deletes,
            results_cache: self.results_cache.clone(),
            status: stratus_query::ServerStatus {
                settings: self.settings(),
                storage_retention: match self.compactor.retention_raw {
                    Duration::ZERO => String::new(),
                    r => stratus_model::time::format_std_duration(r),
                },
                ..stratus_query::ServerStatus::default()
            },
        }
    }

    /// Logs the features turned on and, as Prometheus does, the unknown
    /// names given to `--enable-feature` (which are otherwise ignored).
    pub fn log_features(&self) {
        if self.engine.delayed_name_removal {
            tracing::info!("Experimental PromQL delayed name removal enabled.");
        }
        for name in &self.unknown_features {
            tracing::warn!(option = %name, "Unknown option for --enable-feature");
        }
    }
}
