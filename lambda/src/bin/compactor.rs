//! The compactor Lambda function: one bounded compaction pass per
//! EventBridge Scheduler invocation.

use lambda_runtime::{service_fn, LambdaEvent};
use stratus_lambda::{compact, deadline, env, CompactionResult, ScheduledEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (settings, bucket) = env::cold_start()?;
    let settings = &settings;
    let bucket = &bucket;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let input: ScheduledEvent = serde_json::from_value(event.payload).unwrap_or_default();
            let r: CompactionResult = compact(
                bucket.clone(),
                settings,
                &input,
                Some(deadline(event.context.deadline)),
            )
            .await?;
            tracing::info!(execution = ?input.execution_id, result = ?r, "compaction pass");
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(r)?)
        },
    ))
    .await
}
