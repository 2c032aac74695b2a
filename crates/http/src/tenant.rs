//! Who is asking, and for which tenants: the one reading of `X-Scope-OrgID`
//! every HTTP surface shares (writer, querier, ruler and notifier APIs, the
//! Lambda functions).
//!
//! One status per case, on every route (ADR 0025):
//! - no header while multi-tenancy is on: 401 `no org id` (Mimir's answer);
//! - a header that is not a valid tenant id, or names several tenants on a
//!   route that takes one: 400;
//! - a tenant the principal may not use: 403 (decided by the policy's
//!   [`Authorize`]; today every principal may use every tenant).
//!
//! Read routes accept Mimir's federation syntax `a|b` and yield every
//! tenant named ([`Tenants`]); write routes take exactly one ([`Tenant`]).
//! Handlers get either as an axum extractor, with the [`TenantPolicy`]
//! taken from the router's state through `FromRef`.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use stratus_model::TenantId;

/// The header that names the tenant(s) of a request.
pub const ORG_ID_HEADER: &str = "X-Scope-OrgID";

/// Separates tenants in a federated read (`X-Scope-OrgID: a|b`).
pub const TENANT_SEPARATOR: char = '|';

/// Most tenants one header may name; more is a 400.
pub const MAX_TENANTS: usize = 100;

/// Who sent a request. Without authentication, the principal is the org id
/// the request names (or `anonymous`); an authenticating policy replaces it
/// with the identity it verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(String);

impl Principal {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn anonymous() -> Self {
        Self(stratus_model::ANONYMOUS_TENANT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides whether a principal may use a tenant (403 when not).
pub trait Authorize: Send + Sync + 'static {
    /// `Err(reason)` refuses the request with 403 and the reason.
    fn authorize(&self, principal: &Principal, tenant: &TenantId) -> Result<(), String>;
}

/// Every principal may use every tenant: the behaviour without
/// authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorize for AllowAll {
    fn authorize(&self, _: &Principal, _: &TenantId) -> Result<(), String> {
        Ok(())
    }
}

/// How a server reads tenants from requests.
#[derive(Clone)]
pub struct TenantPolicy {
    /// Require `X-Scope-OrgID`; when off, a request without it belongs to
    /// the `anonymous` tenant.
    pub multitenancy: bool,
    /// Whether read routes may name several tenants (`a|b`). Off until
    /// queries across tenants are supported: such a header is a 400.
    pub federation: bool,
    pub authorize: Arc<dyn Authorize>,
}

impl fmt::Debug for TenantPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPolicy")
            .field("multitenancy", &self.multitenancy)
            .field("federation", &self.federation)
            .finish_non_exhaustive()
    }
}

impl Default for TenantPolicy {
    fn default() -> Self {
        Self::new(false)
    }
}

impl TenantPolicy {
    /// No authentication, no federation.
    pub fn new(multitenancy: bool) -> Self {
        Self {
            multitenancy,
            federation: false,
            authorize: Arc::new(AllowAll),
        }
    }

    /// The tenants of a request on a read route.
    pub fn read(&self, headers: &HeaderMap) -> Result<Tenants, TenantRejection> {
        self.resolve(headers, self.federation)
    }

    /// The one tenant of a request on a write route.
    pub fn write(&self, headers: &HeaderMap) -> Result<Tenant, TenantRejection> {
        let t = self.resolve(headers, false)?;
        Ok(Tenant {
            principal: t.principal,
            tenant: t.tenants.into_iter().next().expect("one tenant"),
        })
    }

    fn resolve(&self, headers: &HeaderMap, several: bool) -> Result<Tenants, TenantRejection> {
        let Some(value) = headers.get(ORG_ID_HEADER) else {
            if self.multitenancy {
                return Err(TenantRejection::missing());
            }
            return Ok(Tenants {
                principal: Principal::anonymous(),
                tenants: vec![TenantId::anonymous()],
            });
        };
        let value = value
            .to_str()
            .map_err(|_| TenantRejection::invalid("X-Scope-OrgID is not valid ASCII"))?;
        let mut tenants = Vec::new();
        for part in value.split(TENANT_SEPARATOR) {
            if tenants.len() == MAX_TENANTS {
                return Err(TenantRejection::invalid(format!(
                    "X-Scope-OrgID names more than {MAX_TENANTS} tenants"
                )));
            }
            let id = TenantId::new(part)
                .map_err(|e| TenantRejection::invalid(format!("invalid X-Scope-OrgID: {e}")))?;
            tenants.push(id);
        }
        tenants.sort();
        tenants.dedup();
        if tenants.len() > 1 && !several {
            return Err(TenantRejection::several(tenants.len()));
        }
        let principal = Principal::new(value);
        for t in &tenants {
            self.authorize
                .authorize(&principal, t)
                .map_err(|reason| TenantRejection::forbidden(t, &reason))?;
        }
        Ok(Tenants { principal, tenants })
    }
}

/// The tenants of a read request: one or more, sorted, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenants {
    principal: Principal,
    tenants: Vec<TenantId>,
}

impl Tenants {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn all(&self) -> &[TenantId] {
        &self.tenants
    }

    /// The only tenant, for handlers that do not federate; a 400 when the
    /// request names several.
    pub fn single(&self) -> Result<&TenantId, TenantRejection> {
        match self.tenants.as_slice() {
            [one] => Ok(one),
            more => Err(TenantRejection::several(more.len())),
        }
    }
}

/// The tenant of a write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    principal: Principal,
    tenant: TenantId,
}

impl Tenant {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn id(&self) -> &TenantId {
        &self.tenant
    }

    pub fn into_id(self) -> TenantId {
        self.tenant
    }
}

/// Why a request has no usable tenant: a status and a message. Each API
/// wraps it in its own error body (Prometheus JSON, Alertmanager text...);
/// as a response by itself it is plain text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TenantRejection {
    status: StatusCode,
    message: String,
}

impl TenantRejection {
    fn missing() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "no org id: multi-tenancy is on and the request has no X-Scope-OrgID header"
                .into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn several(n: usize) -> Self {
        Self::invalid(format!(
            "X-Scope-OrgID names {n} tenants; this route takes exactly one"
        ))
    }

    fn forbidden(tenant: &TenantId, reason: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: format!("access to tenant {tenant:?} is forbidden: {reason}"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        (self.status, self.message).into_response()
    }
}

impl<S> FromRequestParts<S> for Tenants
where
    S: Send + Sync,
    TenantPolicy: FromRef<S>,
{
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        TenantPolicy::from_ref(state).read(&parts.headers)
    }
}

impl<S> FromRequestParts<S> for Tenant
where
    S: Send + Sync,
    TenantPolicy: FromRef<S>,
{
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        TenantPolicy::from_ref(state).write(&parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(ORG_ID_HEADER, v.parse().expect("a header value"));
        }
        h
    }

    struct OnlyTeamA;
    impl Authorize for OnlyTeamA {
        fn authorize(&self, _: &Principal, t: &TenantId) -> Result<(), String> {
            (t.as_str() == "team-a")
                .then_some(())
                .ok_or_else(|| "only team-a is allowed".into())
        }
    }

    #[test]
    fn one_status_per_case() {
        let on = TenantPolicy::new(true);
        let off = TenantPolicy::new(false);
        assert_eq!(on.write(&headers(None)).expect_err("refused").status(), 401);
        assert_eq!(on.read(&headers(None)).expect_err("refused").status(), 401);
        assert_eq!(
            off.write(&headers(None)).expect("accepted").id(),
            &TenantId::anonymous()
        );
        for bad in ["", "a/b", "..", "__mimir_cluster", "a||b"] {
            assert_eq!(
                off.read(&headers(Some(bad))).expect_err("refused").status(),
                400
            );
            assert_eq!(
                on.write(&headers(Some(bad))).expect_err("refused").status(),
                400
            );
        }
        let mut auth = TenantPolicy::new(true);
        auth.authorize = Arc::new(OnlyTeamA);
        assert_eq!(
            auth.read(&headers(Some("team-b")))
                .expect_err("refused")
                .status(),
            403
        );
        assert_eq!(
            auth.write(&headers(Some("team-a")))
                .expect("accepted")
                .id()
                .as_str(),
            "team-a"
        );
    }

    #[test]
    fn federation_only_on_reads_and_when_enabled() {
        let mut p = TenantPolicy::new(true);
        assert_eq!(
            p.read(&headers(Some("b|a"))).expect_err("refused").status(),
            400
        );
        p.federation = true;
        let t = p.read(&headers(Some("b|a|b"))).expect("accepted");
        let ids: Vec<_> = t.all().iter().map(|t| t.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(t.single().expect_err("refused").status(), 400);
        assert_eq!(t.principal().as_str(), "b|a|b");
        let w = p.write(&headers(Some("a|b"))).expect_err("refused");
        assert_eq!(w.status(), 400);
        assert!(w.message().contains("exactly one"), "{}", w.message());
        let many = vec!["t"; MAX_TENANTS + 1].join("|");
        assert_eq!(
            p.read(&headers(Some(&many))).expect_err("refused").status(),
            400
        );
    }

    #[test]
    fn invalid_ids_say_what_is_wrong() {
        let e = TenantPolicy::new(true)
            .read(&headers(Some("a b")))
            .expect_err("refused");
        assert!(e.message().starts_with("invalid X-Scope-OrgID: "), "{e}");
        assert!(e.message().contains("' '"), "{e}");
    }
}
