//! The ruler Lambda function: evaluates the rule groups that fall due
//! during one scheduled invocation (its budget), writes recording-rule
//! output as segments and hands alerts to the notifier's store.

use lambda_runtime::{service_fn, LambdaEvent};
use stratus_lambda::env;
use stratus_lambda::ruler_notifier::{ruler_handler, RulerFunction};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (settings, bucket) = env::cold_start()?;
    let function = RulerFunction::start(&bucket, &settings).await?;
    let (settings, function) = (&settings, &function);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            ruler_handler(function, settings, event).await
        },
    ))
    .await
}
