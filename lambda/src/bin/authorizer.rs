//! The bearer-token authorizer of the optional API Gateway HTTP API.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_runtime::{service_fn, LambdaEvent};
use stratus_lambda::{authorizer, env, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    env::init_logging(&settings.log_level);
    stratus_http::install_panic_hook();
    if settings.token_sha256.is_empty() {
        return Err("STRATUS_BEARER_TOKEN_SHA256 is empty: no token would ever be accepted".into());
    }
    let digests = &settings.token_sha256;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| async move {
            Ok::<_, lambda_runtime::Error>(authorizer::authorize(digests, &event.payload))
        },
    ))
    .await
}
