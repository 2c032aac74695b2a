//! The ingest Lambda function: remote_write and JSON push through a
//! Function URL or API Gateway, each request written as its own segment.

use stratus_lambda::{env, ingest_app};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (settings, bucket) = env::cold_start()?;
    lambda_http::run(ingest_app(bucket, &settings).await?).await
}
