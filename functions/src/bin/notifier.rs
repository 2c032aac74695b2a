//! The notifier Lambda function: groups, silences, inhibits, routes and
//! sends the alerts in the bucket, ticking for one scheduled invocation's
//! budget so group_wait and group_interval are kept between schedules.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use stratus_functions::alerting::{notifier, run_notifier};
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
    let notifier = notifier(&bucket, &settings).await?;
    let settings = &settings;
    let notifier = &notifier;
    let bucket = &bucket;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
            let r = run_notifier(
                notifier,
                bucket,
                settings,
                Some(deadline(event.context.deadline)),
            )
            .await;
            tracing::info!(execution = ?input.execution_id, result = ?r, "notifier invocation");
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(r)?)
        },
    ))
    .await
}
