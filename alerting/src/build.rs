//! The ruler and the notifier, each built in one place for `stratus all`,
//! the split servers and the Lambda functions.

use std::sync::Arc;

use stratus_ingest::Committer;
use stratus_notifier::{Notifier, NotifierOptions};
use stratus_query::EngineOptions;
use stratus_ruler::store::RuleStore;
use stratus_ruler::{Ruler, RulerOptions};
use stratus_storage::Bucket;

use crate::adapters::{CommitterAppender, EngineQuerier};
use crate::http::AlertingApi;
use crate::service::{notifier_config, NotifierSender};

/// The notifier over `bucket`, configured by Alertmanager YAML (`None`:
/// one receiver that sends nowhere, so alerts are kept and shown).
pub fn notifier(
    bucket: &Bucket,
    config_yaml: Option<&str>,
    options: &RulerOptions,
) -> anyhow::Result<Arc<Notifier>> {
    let config = notifier_config(config_yaml)?;
    let n = Notifier::new(
        bucket.clone(),
        config,
        NotifierOptions {
            external_url: options.external_url.clone(),
            ..NotifierOptions::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Arc::new(n))
}

/// The ruler over `bucket`: rules query `querier`'s engine when given (the
/// server's, so rules and dashboards share one head of recent data; its
/// writers must hand their segments to it, so a recording rule sees what
/// the rule before it wrote), else an engine of their own that lists
/// segments on every query; their output goes through `committer`, their
/// alerts to `notifier`.
pub fn ruler(
    bucket: &Bucket,
    engine: EngineOptions,
    options: RulerOptions,
    committer: Committer,
    notifier: Arc<Notifier>,
    querier: Option<&stratus_query::Querier>,
) -> Ruler {
    let rules_query = match querier {
        Some(q) => EngineQuerier::new(q.engine().clone()),
        None => EngineQuerier::over_bucket(bucket.clone(), engine),
    };
    Ruler::new(
        RuleStore::new(bucket.clone()),
        Arc::new(rules_query),
        Arc::new(CommitterAppender::new(committer)),
        Arc::new(NotifierSender::new(notifier)),
        options,
    )
}

impl AlertingApi {
    /// The rules, alerts and silences API over `bucket`; `multitenancy`
    /// as for every route (`X-Scope-OrgID` required when on).
    pub fn new(
        bucket: &Bucket,
        options: RulerOptions,
        notifier: Arc<Notifier>,
        multitenancy: bool,
    ) -> Self {
        AlertingApi {
            store: RuleStore::new(bucket.clone()),
            options,
            notifier,
            tenants: stratus_http::TenantPolicy::new(multitenancy),
            started_ms: crate::service::now_ms(),
        }
    }
}
