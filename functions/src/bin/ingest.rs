//! The ingest Lambda function: remote_write and JSON push through a
//! Function URL or API Gateway, each request written as its own segment.

use stratus_functions::{env, ingest_app, Settings};
use stratus_storage::Bucket;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    env::init_logging(&settings.log_level);
    stratus_http::install_panic_hook();
    settings.require_bucket()?;
    let bucket = Bucket::from_config(&settings.storage)?;
    lambda_http::run(ingest_app(bucket, &settings)).await
}
