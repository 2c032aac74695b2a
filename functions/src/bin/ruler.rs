//! The ruler Lambda function: evaluates the rule groups that fall due
//! during one scheduled invocation (its budget), writes recording-rule
//! output as segments and hands alerts to the notifier's store.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use stratus_functions::alerting::{notifier, ruler, run_ruler};
use stratus_functions::{env, ScheduledEvent, Settings};
use stratus_storage::Bucket;

fn deadline(unix_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now_ms))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    env::init_logging(&settings.log_level);
    settings.require_bucket()?;
    let bucket = Bucket::from_config(&settings.storage)?;
    let alerting = ruler(&bucket, &settings, notifier(&bucket, &settings).await?);
    let settings = &settings;
    let alerting = &alerting;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
            let r = run_ruler(alerting, settings, Some(deadline(event.context.deadline))).await;
            tracing::info!(execution = ?input.execution_id, result = ?r, "ruler invocation");
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(r)?)
        },
    ))
    .await
}
