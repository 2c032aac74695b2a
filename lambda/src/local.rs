//! The functions on one machine, without Lambda: an HTTP front that turns
//! each request into the event a Lambda Function URL sends (payload 2.0,
//! body base64-encoded), runs the handler exactly as `lambda_http::run`
//! does, and turns its response back into HTTP. Used by `localstack/`
//! (LocalStack cannot run Lambda functions without Docker) and by the
//! emulator end-to-end test.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

/// The largest request payload a Function URL accepts (6 MB).
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// The Function URL event (payload format 2.0) AWS would send for
/// `method path?query` with `headers` and `body`.
pub fn function_url_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Value {
    let mut h = Map::new();
    for name in headers.keys() {
        let joined: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        h.insert(name.as_str().to_string(), Value::String(joined.join(",")));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": agent,
            },
            "requestId": format!("local-{now}"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": now,
        },
        "isBase64Encoded": !body.is_empty(),
    });
    if !body.is_empty() {
        event["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(body));
    }
    event
}

/// Runs `app` on one Lambda HTTP event as `lambda_http::run` does and
/// returns the JSON Lambda would get back.
pub async fn invoke(app: Router, event: Value) -> anyhow::Result<Value> {
    let req: LambdaRequest = serde_json::from_value(event)?;
    let resp = lambda_http::Adapter::from(app)
        .oneshot(LambdaEvent::new(req, Context::default()))
        .await?;
    Ok(serde_json::to_value(resp)?)
}

/// The HTTP response a Function URL makes of the function's answer.
pub fn http_response(answer: &Value) -> anyhow::Result<Response> {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .ok_or_else(|| anyhow::anyhow!("the answer has no valid statusCode: {answer}"))?;
    let body = match answer["body"].as_str() {
        None => Vec::new(),
        Some(b) if answer["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD.decode(b)?
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    if let Some(headers) = answer["headers"].as_object() {
        for (k, v) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                resp.headers_mut().insert(name, value);
            }
        }
    }
    Ok(resp)
}

/// A router that serves every request through `app` as a Function URL
/// would: event in, answer out.
pub fn function_url(app: Router) -> Router {
    Router::new().fallback(front).with_state(app)
}

async fn front(State(app): State<Router>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        )
            .into_response();
    };
    let event = function_url_event(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &body,
    );
    // lambda_http's adapter future is not `Send` (it holds the response
    // body across an await), so it runs on a blocking thread of its own.
    let handle = tokio::runtime::Handle::current();
    let answer = tokio::task::spawn_blocking(move || handle.block_on(invoke(app, event)))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
    match answer.and_then(|a| http_response(&a)) {
        Ok(resp) => resp,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("function failed: {e}")).into_response(),
    }
}
