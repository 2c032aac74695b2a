//! The notifier Lambda function: groups, silences, inhibits, routes and
//! sends the alerts in the bucket, ticking for one scheduled invocation's
//! budget so group_wait and group_interval are kept between schedules.

use lambda_runtime::{service_fn, LambdaEvent};
use stratus_lambda::env;
use stratus_lambda::ruler_notifier::{notifier_handler, AlertmanagerConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (settings, bucket) = env::cold_start()?;
    let config = AlertmanagerConfig::load(&bucket, &settings).await?;
    let (settings, config, bucket) = (&settings, &config, &bucket);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            notifier_handler(config, bucket, settings, event).await
        },
    ))
    .await
}
