//! The query Lambda function: the Prometheus HTTP API for Grafana through
//! a Function URL or API Gateway.

use std::sync::Arc;

use stratus_functions::{env, query_app_with_cache, Settings};
use stratus_storage::{Bucket, RangeCache};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    env::init_logging(&settings.log_level);
    settings.log_features();
    stratus_http::install_panic_hook();
    settings.require_bucket()?;
    let bucket = Bucket::from_config(&settings.storage)?;
    let cache = RangeCache::new(&settings.cache).await?;
    lambda_http::run(query_app_with_cache(
        bucket,
        &settings,
        Some(Arc::new(cache)),
    ))
    .await
}
