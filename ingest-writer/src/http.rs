//! The ingest HTTP API: `POST /api/v1/write` (remote_write 1.0 and 2.0) and
//! `POST /api/v1/push` (JSON for scripts).

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::decode::{decode_v1, decode_v2, decompress};
use crate::metrics::{ProtocolLabel, RequestLabels};
use crate::request::{commit_decoded, read_body, Refusal};
pub use crate::request::{HttpLimits, IngestState};

pub const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
pub const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
pub const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";
#[cfg(test)]
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// Every route of [`router`], which is built from this table.
pub const ROUTES: stratus_http::Routes = &[("POST", "/api/v1/write"), ("POST", "/api/v1/push")];

/// The ingest routes, to be merged into the server's router.
pub fn router(state: IngestState) -> Router {
    stratus_http::router_from(ROUTES, |path| match path {
        "/api/v1/write" => post(remote_write),
        "/api/v1/push" => post(crate::push::push),
        other => unreachable!("ROUTES lists {other}, which has no handlers"),
    })
    .with_state(state)
    .layer(stratus_http::catch_panics(stratus_http::Component::Ingest))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl Version {
    fn label(self) -> &'static str {
        match self {
            Version::V1 => "remote_write_v1",
            Version::V2 => "remote_write_v2",
        }
    }
}

/// Content negotiation of the remote_write 2.0 spec: the `proto` parameter
/// of `application/x-protobuf` picks the message; no header means 1.0.
fn negotiate(headers: &HeaderMap) -> Result<Version, Refusal> {
    let enc = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("snappy");
    if !enc.trim().eq_ignore_ascii_case("snappy") {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Encoding {enc:?}: expected snappy"),
        ));
    }
    let Some(ct) = headers.get(http::header::CONTENT_TYPE) else {
        return Ok(Version::V1);
    };
    let ct = ct.to_str().unwrap_or_default();
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type {ct:?}: expected application/x-protobuf"),
        ));
    }
    let proto = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    match proto {
        None | Some("prometheus.WriteRequest") => Ok(Version::V1),
        Some("io.prometheus.write.v2.Request") => Ok(Version::V2),
        Some(other) => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported remote_write message {other:?}: expected prometheus.WriteRequest or io.prometheus.write.v2.Request"
            ),
        )),
    }
}

async fn remote_write(State(st): State<IngestState>, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let version = negotiate(&headers).unwrap_or(Version::V1);
    let (status, message, written) = match handle_write(&st, &headers, body).await {
        Ok((written, None)) => (StatusCode::NO_CONTENT, String::new(), written),
        Ok((written, Some(msg))) => (StatusCode::BAD_REQUEST, msg, written),
        Err(r) => (r.status, r.message, 0),
    };
    let protocol = version.label();
    st.metrics
        .requests
        .get_or_create(&RequestLabels {
            protocol,
            code: status.as_u16(),
        })
        .inc();
    st.metrics
        .request_duration
        .get_or_create(&ProtocolLabel { protocol })
        .observe(start.elapsed().as_secs_f64());
    let mut resp = if message.is_empty() {
        status.into_response()
    } else {
        (status, message + "\n").into_response()
    };
    if version == Version::V2 {
        let h = resp.headers_mut();
        h.insert(SAMPLES_WRITTEN, HeaderValue::from(written));
        h.insert(HISTOGRAMS_WRITTEN, HeaderValue::from(0u64));
        h.insert(EXEMPLARS_WRITTEN, HeaderValue::from(0u64));
    }
    resp
}

/// Returns the samples written and, if some were rejected, the message for
/// a 400. A failed commit is a 5xx [`Refusal`].
async fn handle_write(
    st: &IngestState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(u64, Option<String>), Refusal> {
    let tenant = st.tenants.write(headers)?.into_id();
    let version = negotiate(headers)?;
    let compressed = read_body(body, st.http.max_body_bytes).await?;
    let raw = decompress(&compressed, st.http.max_decompressed_bytes)?;
    let now = st.clock.now_ms();
    let decoded = match version {
        Version::V1 => decode_v1(&raw, &st.limits, now)?,
        Version::V2 => decode_v2(&raw, &st.limits, now)?,
    };
    commit_decoded(st, &tenant, decoded).await
}

#[cfg(test)]
mod tests;
