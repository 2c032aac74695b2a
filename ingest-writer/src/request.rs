//! What every ingest handler shares: the settings and state of the
//! routes, the refusal a request gets before anything is stored, the
//! bounded reading of a body and the commit of what passed validation.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use stratus_model::{Clock, TenantId};

use crate::commit::Committer;
use crate::decode::{DecodeError, Decoded};
use crate::metrics::IngestMetrics;
use crate::validate::Limits;

/// HTTP-level settings of the ingest API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// Largest request body as sent (compressed), else 413.
    pub max_body_bytes: usize,
    /// Largest body after snappy decompression, else 413.
    pub max_decompressed_bytes: usize,
    /// When on, requests must carry `X-Scope-OrgID`; when off, requests
    /// without it go to the `anonymous` tenant.
    pub multitenancy: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 128 << 20,
            multitenancy: false,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct IngestState {
    pub committer: Committer,
    pub limits: Arc<Limits>,
    pub http: Arc<HttpLimits>,
    pub metrics: IngestMetrics,
    pub clock: Arc<dyn Clock>,
    /// How requests name their tenant (`X-Scope-OrgID`).
    pub tenants: stratus_http::TenantPolicy,
}

/// A failure answered before or instead of a commit.
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Self {
        let status = match e {
            DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Refusal::new(status, e.to_string())
    }
}

impl From<stratus_http::TenantRejection> for Refusal {
    fn from(r: stratus_http::TenantRejection) -> Self {
        Refusal::new(r.status(), r.message())
    }
}

/// Reads the body up to `limit` bytes, else 413.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit} bytes"),
            )
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("reading the request body failed: {e}"),
            )
        }
    })
}

/// Commits what passed validation. 5xx if the commit failed (nothing of the
/// request was stored); otherwise the count written and the messages of
/// what was rejected, if anything.
pub(crate) async fn commit_decoded(
    st: &IngestState,
    tenant: &TenantId,
    decoded: Decoded<'_>,
) -> Result<(u64, Option<String>), Refusal> {
    let Decoded { batch, report } = decoded;
    st.metrics.record_report(&report);
    if let Err(e) = st.committer.commit(tenant, &batch).await {
        st.metrics.rejected(e.reason()).inc_by(report.samples_valid);
        return Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()));
    }
    let written = report.samples_valid;
    if report.rejected.is_empty() {
        Ok((written, None))
    } else {
        Ok((written, Some(report.message_text())))
    }
}
