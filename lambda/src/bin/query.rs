//! The query Lambda function: the Prometheus HTTP API for Grafana through
//! a Function URL or API Gateway.

use std::sync::Arc;

use stratus_lambda::{env, query_app_with_cache};
use stratus_storage::RangeCache;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (settings, bucket) = env::cold_start()?;
    let cache = RangeCache::new(&settings.cache).await?;
    lambda_http::run(query_app_with_cache(
        bucket,
        &settings,
        Some(Arc::new(cache)),
    ))
    .await
}
