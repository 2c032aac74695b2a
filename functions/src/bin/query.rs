//! The query Lambda function: the Prometheus HTTP API for Grafana through
//! a Function URL or API Gateway.

use stratus_functions::{env, query_app, Settings};
use stratus_storage::Bucket;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    env::init_logging(&settings.log_level);
    settings.require_bucket()?;
    let bucket = Bucket::from_config(&settings.storage)?;
    lambda_http::run(query_app(bucket, &settings)).await
}
