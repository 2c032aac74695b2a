//! The ruler's traits implemented over the query engine and the ingest
//! committer.

use std::time::Duration;

use async_trait::async_trait;
use stratus_ingest::Committer;
use stratus_model::{Labels, Sample, TenantId};
use stratus_query::{
    BucketSourceOptions, Engine, EngineOptions, Querier, QuerierConfig, QueryValue,
};
use stratus_ruler::{RuleAppender, RuleQuerier};
use stratus_storage::Bucket;

/// Instant queries for rules, on the engine.
#[derive(Clone)]
pub struct EngineQuerier {
    engine: Engine,
}

impl EngineQuerier {
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// An engine of its own over `bucket` that lists segments on every
    /// query: a recording rule must see what the rule before it wrote a
    /// moment ago, which a cached listing could hide.
    pub fn over_bucket(bucket: Bucket, opts: EngineOptions) -> Self {
        let config = QuerierConfig {
            source: BucketSourceOptions {
                listing_ttl: Duration::ZERO,
                ..BucketSourceOptions::default()
            },
            engine: opts,
            results_cache: None,
            ..QuerierConfig::default()
        };
        Self::new(Querier::new(bucket, config, None).engine().clone())
    }
}

#[async_trait]
impl RuleQuerier for EngineQuerier {
    async fn instant(
        &self,
        tenant: &TenantId,
        expr: &str,
        at_ms: i64,
    ) -> anyhow::Result<Vec<(Labels, f64)>> {
        let r = self
            .engine
            .instant(tenant, expr, at_ms)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(match r.value {
            QueryValue::Vector(v) => v.into_iter().map(|(l, s)| (l, s.v)).collect(),
            QueryValue::Scalar { v, .. } => vec![(Labels::default(), v)],
            QueryValue::String { .. } => {
                anyhow::bail!("rule expressions must yield a vector or a scalar, not a string")
            }
            QueryValue::Matrix(_) => {
                anyhow::bail!(
                    "rule expressions must yield a vector or a scalar, not a range vector"
                )
            }
        })
    }
}

/// Rule output through the ingest library: acknowledged once the segment
/// holding it is in the bucket, like any remote_write.
#[derive(Clone)]
pub struct CommitterAppender {
    committer: Committer,
}

impl CommitterAppender {
    pub fn new(committer: Committer) -> Self {
        Self { committer }
    }
}

#[async_trait]
impl RuleAppender for CommitterAppender {
    async fn append(&self, tenant: &TenantId, samples: &[(Labels, Sample)]) -> anyhow::Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let series = samples.iter().map(|(l, s)| (l.clone(), vec![*s])).collect();
        self.committer
            .commit_series(tenant, series, Vec::new())
            .await
            .map_err(|e| anyhow::anyhow!("writing rule output: {e}"))
    }
}
