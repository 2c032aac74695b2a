//! The Lambda authorizer of the optional API Gateway HTTP API (payload
//! format 2.0, simple responses): a request is allowed when its
//! `Authorization: Bearer <token>` header carries a token whose SHA-256
//! digest is configured (`STRATUS_BEARER_TOKEN_SHA256`). Only digests are
//! stored, so the Terraform state and the function's environment never
//! hold a token.

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `token`.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request, from the identity source API Gateway
/// passes (the `Authorization` header) or the header itself.
fn bearer(req: &ApiGatewayV2CustomAuthorizerV2Request) -> Option<&str> {
    let header = req
        .identity_source
        .as_ref()
        .and_then(|s| s.first())
        .map(String::as_str)
        .or_else(|| {
            req.headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
        })?;
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Allows the request when its token's digest is one of `digests`.
pub fn authorize(
    digests: &[String],
    req: &ApiGatewayV2CustomAuthorizerV2Request,
) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
    let allowed = bearer(req).is_some_and(|t| {
        let d = token_digest(t);
        digests
            .iter()
            .fold(false, |hit, want| hit | same(d.as_bytes(), want.as_bytes()))
    });
    let mut resp = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    resp.is_authorized = allowed;
    resp
}
