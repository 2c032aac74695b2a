//! The ruler and notifier functions: each scheduled invocation runs passes
//! for a bounded time, so groups with intervals shorter than the schedule
//! are evaluated on time and notifications go out between schedules.
//!
//! The Alertmanager configuration of the notifier is the bucket object
//! `STRATUS_ALERTMANAGER_CONFIG_KEY` (the Terraform module writes it from
//! its `alertmanager_config` variable); without one, alerts are kept and
//! shown but sent nowhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use stratus_alerting::service::tick_all;
use stratus_alerting::{now_ms, Alerting};
use stratus_ingest::Writer;
use stratus_notifier::Notifier;
use stratus_ruler::store::RuleStore;
use stratus_storage::{Bucket, StorageError};

use crate::{deadline, ScheduledEvent, Settings};

/// The notifier with the configuration in the bucket, if there is one.
pub async fn notifier(bucket: &Bucket, settings: &Settings) -> anyhow::Result<Arc<Notifier>> {
    let text = match &settings.alertmanager_config_key {
        Some(key) => match bucket.get(&key.as_str().into()).await {
            Ok((bytes, _)) => Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                anyhow::anyhow!("the Alertmanager configuration {key} is not UTF-8 text")
            })?),
            Err(StorageError::NotFound { .. }) => None,
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "reading the Alertmanager configuration {key}: {e}"
                ))
            }
        },
        None => None,
    };
    stratus_alerting::build::notifier(bucket, text.as_deref(), &settings.ruler)
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
    let ruler = stratus_alerting::build::ruler(
        bucket,
        settings.engine.clone(),
        settings.ruler.clone(),
        writer.committer().clone(),
        notifier,
    );
    Ok(Alerting {
        ruler: Arc::new(ruler),
        // The notifier function dispatches; the ruler only evaluates.
        notifier: None,
    })
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
/// [`AlertingResult`] out.
pub async fn ruler_handler(
    alerting: &Alerting,
    settings: &Settings,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
    let r = run_ruler(alerting, settings, Some(deadline(event.context.deadline))).await;
    tracing::info!(execution = ?input.execution_id, result = ?r, "ruler invocation");
    Ok(serde_json::to_value(r)?)
}

/// The notifier function's handler.
pub async fn notifier_handler(
    notifier: &Notifier,
    bucket: &Bucket,
    settings: &Settings,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
    let r = run_notifier(
        notifier,
        bucket,
        settings,
        Some(deadline(event.context.deadline)),
    )
    .await;
    tracing::info!(execution = ?input.execution_id, result = ?r, "notifier invocation");
    Ok(serde_json::to_value(r)?)
}
