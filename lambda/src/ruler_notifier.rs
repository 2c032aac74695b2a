//! The ruler and notifier functions: each scheduled invocation runs passes
//! for a bounded time, so groups with intervals shorter than the schedule
//! are evaluated on time and notifications go out between schedules.
//!
//! The Alertmanager configuration of the notifier is the bucket object
//! `STRATUS_ALERTMANAGER_CONFIG_KEY` (the Terraform module writes it from
//! its `alertmanager_config` variable); without one, alerts are kept and
//! shown but sent nowhere. The schedules keep the functions warm, so each
//! invocation looks at the object's ETag (one HEAD request) and rebuilds
//! the notifier (and the ruler that hands alerts to it) when it changed:
//! a new configuration takes effect at the next invocation
//! ([`AlertmanagerConfig`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use stratus_alerting::service::tick_all;
use stratus_alerting::{now_ms, Alerting};
use stratus_ingest::Committer;
use stratus_ingest::Writer;
use stratus_notifier::Notifier;
use stratus_ruler::store::RuleStore;
use stratus_storage::{Bucket, ObjectVersion, StorageError};

use crate::{deadline, ScheduledEvent, Settings};

/// The configuration object's text and version, `None` when there is none.
async fn read_config(
    bucket: &Bucket,
    key: &str,
) -> anyhow::Result<Option<(String, ObjectVersion)>> {
    match bucket.get(&key.into()).await {
        Ok((bytes, version)) => Ok(Some((
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                anyhow::anyhow!("the Alertmanager configuration {key} is not UTF-8 text")
            })?,
            version,
        ))),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "reading the Alertmanager configuration {key}: {e}"
        )),
    }
}

/// The notifier built from the Alertmanager configuration object, rebuilt
/// when the object changes. [`AlertmanagerConfig::refresh`], once per
/// invocation, is one HEAD request while the object stays as it is.
pub struct AlertmanagerConfig {
    bucket: Bucket,
    key: Option<String>,
    options: stratus_ruler::RulerOptions,
    current: Mutex<Loaded>,
}

struct Loaded {
    /// The object's version the notifier was built from; `None`: there
    /// was no object.
    version: Option<ObjectVersion>,
    notifier: Arc<Notifier>,
    /// How often a configuration was read and parsed.
    loads: u64,
}

impl AlertmanagerConfig {
    /// Reads and parses the configuration (cold start).
    pub async fn load(bucket: &Bucket, settings: &Settings) -> anyhow::Result<Self> {
        let (text, version) = match &settings.alertmanager_config_key {
            Some(key) => match read_config(bucket, key).await? {
                Some((text, version)) => (Some(text), Some(version)),
                None => (None, None),
            },
            None => (None, None),
        };
        let notifier = stratus_alerting::build::notifier(bucket, text.as_deref(), &settings.ruler)?;
        Ok(Self {
            bucket: bucket.clone(),
            key: settings.alertmanager_config_key.clone(),
            options: settings.ruler.clone(),
            current: Mutex::new(Loaded {
                version,
                notifier,
                loads: 1,
            }),
        })
    }

    /// The notifier of the configuration read last.
    pub fn notifier(&self) -> Arc<Notifier> {
        self.lock().notifier.clone()
    }

    /// How many times the configuration was read and parsed (1 after
    /// [`AlertmanagerConfig::load`]).
    pub fn loads(&self) -> u64 {
        self.lock().loads
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks at the object's version (one HEAD) and, when it is not the
    /// one the notifier was built from, reads and parses it again. True
    /// when the notifier was rebuilt. On an error (unreadable or invalid
    /// configuration) the notifier stays as it was, and the next call
    /// tries again.
    pub async fn refresh(&self) -> anyhow::Result<bool> {
        let Some(key) = &self.key else {
            return Ok(false);
        };
        let now = match self.bucket.head(&key.as_str().into()).await {
            Ok(info) => Some(info.version),
            Err(StorageError::NotFound { .. }) => None,
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "looking at the Alertmanager configuration {key}: {e}"
                ))
            }
        };
        let known = |v: &ObjectVersion| v.e_tag.is_some() || v.version.is_some();
        let unchanged = match (&self.lock().version, &now) {
            (None, None) => true,
            (Some(old), Some(new)) => known(new) && old == new,
            _ => false,
        };
        if unchanged {
            return Ok(false);
        }
        let (text, version) = match read_config(&self.bucket, key).await? {
            Some((text, version)) => (Some(text), Some(version)),
            None => (None, None),
        };
        let notifier =
            stratus_alerting::build::notifier(&self.bucket, text.as_deref(), &self.options)
                .map_err(|e| anyhow::anyhow!("the Alertmanager configuration {key}: {e}"))?;
        tracing::info!(%key, "Alertmanager configuration changed, notifier rebuilt");
        let mut current = self.lock();
        current.version = version;
        current.notifier = notifier;
        current.loads += 1;
        Ok(true)
    }
}

/// The ruler function's state across warm invocations: the configuration
/// and the ruler built over its notifier, rebuilt when it changes.
pub struct RulerFunction {
    pub config: AlertmanagerConfig,
    bucket: Bucket,
    settings: Settings,
    committer: Committer,
    alerting: Mutex<Arc<Alerting>>,
}

impl RulerFunction {
    /// Cold start: the configuration read, the writer started.
    pub async fn start(bucket: &Bucket, settings: &Settings) -> anyhow::Result<Self> {
        let config = AlertmanagerConfig::load(bucket, settings).await?;
        let writer = Writer::start(
            bucket.clone(),
            settings.writer(),
            &mut prometheus_client::registry::Registry::default(),
        )
        .await?;
        let committer = writer.committer().clone();
        let alerting = Arc::new(build_ruler(
            bucket,
            settings,
            committer.clone(),
            config.notifier(),
        ));
        Ok(Self {
            config,
            bucket: bucket.clone(),
            settings: settings.clone(),
            committer,
            alerting: Mutex::new(alerting),
        })
    }

    /// The ruler for this invocation: rebuilt over a new notifier when the
    /// configuration changed. An error reading the configuration is
    /// returned beside the ruler of the configuration read last.
    pub async fn alerting(&self) -> (Arc<Alerting>, Option<String>) {
        let error = match self.config.refresh().await {
            Ok(true) => {
                let rebuilt = Arc::new(build_ruler(
                    &self.bucket,
                    &self.settings,
                    self.committer.clone(),
                    self.config.notifier(),
                ));
                *self
                    .alerting
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = rebuilt;
                None
            }
            Ok(false) => None,
            Err(e) => Some(format!("{e:#}")),
        };
        let alerting = self
            .alerting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (alerting, error)
    }
}

fn build_ruler(
    bucket: &Bucket,
    settings: &Settings,
    committer: Committer,
    notifier: Arc<Notifier>,
) -> Alerting {
    let ruler = stratus_alerting::build::ruler(
        bucket,
        settings.engine.clone(),
        settings.ruler.clone(),
        committer,
        notifier,
        None,
    );
    Alerting {
        ruler: Arc::new(ruler),
        // The notifier function dispatches; the ruler only evaluates.
        notifier: None,
    }
}

/// The ruler over `bucket`: rule output written as segments, alerts handed
/// to the notifier's store.
pub async fn ruler(
    bucket: &Bucket,
    settings: &Settings,
    notifier: Arc<Notifier>,
) -> anyhow::Result<Alerting> {
    let writer = Writer::start(
        bucket.clone(),
        settings.writer(),
        &mut prometheus_client::registry::Registry::default(),
    )
    .await?;
    Ok(build_ruler(
        bucket,
        settings,
        writer.committer().clone(),
        notifier,
    ))
}

/// What one ruler or notifier invocation answers (and logs).
#[derive(Debug, Default, Serialize)]
pub struct AlertingResult {
    pub passes: usize,
    pub evaluations: u64,
    pub missed_evaluations: u64,
    pub notifications_sent: usize,
    pub notifications_failed: usize,
    pub errors: Vec<String>,
}

/// When to stop: `budget` from now, and well before the invocation's own
/// deadline.
fn stop_at(budget: Duration, invocation_deadline: Option<Instant>) -> Instant {
    let mut stop = Instant::now() + budget;
    if let Some(d) = invocation_deadline {
        let left = d.saturating_duration_since(Instant::now());
        stop = stop.min(d - (left / 5).max(Duration::from_secs(5)).min(left));
    }
    stop
}

/// Ruler passes every `ruler_tick` until the budget is spent (at least one).
pub async fn run_ruler(
    alerting: &Alerting,
    settings: &Settings,
    invocation_deadline: Option<Instant>,
) -> AlertingResult {
    let stop = stop_at(settings.ruler_budget, invocation_deadline);
    let mut out = AlertingResult::default();
    loop {
        let r = alerting.run_once(now_ms(), stop).await;
        out.passes += 1;
        out.evaluations += r.ruler.evaluations;
        out.missed_evaluations += r.ruler.missed_evaluations;
        out.errors.extend(r.ruler.errors);
        if Instant::now() + settings.ruler_tick >= stop {
            return out;
        }
        tokio::time::sleep(settings.ruler_tick).await;
    }
}

/// Notifier ticks every `notifier_tick` until the budget is spent (at least one).
pub async fn run_notifier(
    notifier: &Notifier,
    bucket: &Bucket,
    settings: &Settings,
    invocation_deadline: Option<Instant>,
) -> AlertingResult {
    let stop = stop_at(settings.notifier_budget, invocation_deadline);
    let store = RuleStore::new(bucket.clone());
    let mut out = AlertingResult::default();
    loop {
        let (ticks, errors) = tick_all(notifier, &store, now_ms()).await;
        out.passes += 1;
        for (_, t) in ticks {
            out.notifications_sent += t.sent.len();
            out.notifications_failed += t.failed.len();
        }
        out.errors.extend(errors);
        if Instant::now() + settings.notifier_tick >= stop {
            return out;
        }
        tokio::time::sleep(settings.notifier_tick).await;
    }
}

/// The ruler function's handler: an EventBridge Scheduler event in, the
/// [`AlertingResult`] out. The Alertmanager configuration is looked at
/// first (see [`RulerFunction::alerting`]).
pub async fn ruler_handler(
    function: &RulerFunction,
    settings: &Settings,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
    let (alerting, config_error) = function.alerting().await;
    let mut r = run_ruler(&alerting, settings, Some(deadline(event.context.deadline))).await;
    r.errors.extend(config_error);
    tracing::info!(execution = ?input.execution_id, result = ?r, "ruler invocation");
    Ok(serde_json::to_value(r)?)
}

/// The notifier function's handler: the notifier of the configuration as
/// it is now (see [`AlertmanagerConfig::refresh`]) ticks for the budget.
pub async fn notifier_handler(
    config: &AlertmanagerConfig,
    bucket: &Bucket,
    settings: &Settings,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
    let config_error = config.refresh().await.err().map(|e| format!("{e:#}"));
    let notifier = config.notifier();
    let mut r = run_notifier(
        &notifier,
        bucket,
        settings,
        Some(deadline(event.context.deadline)),
    )
    .await;
    r.errors.extend(config_error);
    tracing::info!(execution = ?input.execution_id, result = ?r, "notifier invocation");
    Ok(serde_json::to_value(r)?)
}
