//! The notifier Lambda function: groups, silences, inhibits, routes and
//! sends the alerts in the bucket, ticking for one scheduled invocation's
//! budget so group_wait and group_interval are kept between schedules.

use lambda_runtime::{service_fn, LambdaEvent};
use stratus_functions::ruler_notifier::{notifier, notifier_handler};
use stratus_functions::{env, Settings};
use stratus_storage::Bucket;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    env::init_logging(&settings.log_level);
    stratus_http::install_panic_hook();
    settings.require_bucket()?;
    let bucket = Bucket::from_config(&settings.storage)?;
    let notifier = notifier(&bucket, &settings).await?;
    let (settings, notifier, bucket) = (&settings, &notifier, &bucket);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            notifier_handler(notifier, bucket, settings, event).await
        },
    ))
    .await
}
