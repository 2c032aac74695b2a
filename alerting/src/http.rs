//! The HTTP APIs of rules and alerts:
//!
//! - Prometheus's read APIs: `GET /api/v1/rules`, `GET /api/v1/alerts`;
//! - alert state history (Stratus's own): `GET /api/v1/alerts/history`
//!   with `start`, `end` (default: the last 24 h), and any of `alertname`,
//!   `namespace`, `group`, `state` (pending, firing, resolved, inactive;
//!   repeatable) and `label=<name>=<value>` (repeatable);
//! - the Mimir/Cortex ruler config API, YAML in and out:
//!   `GET /config/v1/rules`, `GET|POST|DELETE /api/v1/rules/{namespace}`
//!   (also under `/config/v1/rules/...`), `GET|DELETE
//!   /api/v1/rules/{namespace}/{group}`;
//! - Alertmanager's v2 API over Stratus's notifier: `GET|POST
//!   /api/v2/alerts`, `GET /api/v2/alerts/groups`, `GET|POST
//!   /api/v2/silences`, `GET|DELETE /api/v2/silence/{id}`,
//!   `GET /api/v2/status`, `GET /api/v2/receivers`.
//!
//! Everything is read from and written to the bucket, so any process
//! serving these routes answers the same.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;
use stratus_model::TenantId;
use stratus_notifier::{Notifier, NotifierError, PostableAlert, PostableSilence};
use stratus_ruler::api::{RuleKind, RulesFilter};
use stratus_ruler::store::{group_yaml, namespaces_yaml, RuleStore};
use stratus_ruler::{RulerError, RulerOptions};

use crate::service::now_ms;

/// What the routes need.
#[derive(Clone)]
pub struct AlertingApi {
    pub store: RuleStore,
    pub options: RulerOptions,
    pub notifier: Arc<Notifier>,
    /// How requests name their tenant (`X-Scope-OrgID`).
    pub tenants: stratus_http::TenantPolicy,
    /// When this API started serving (Unix ms): Alertmanager's `uptime`.
    pub started_ms: i64,
}

/// Every route of [`router`], which is built from this table: a path not
/// listed here is not served.
pub const ROUTES: stratus_http::Routes = &[
    ("GET", "/api/v1/rules"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/alerts/history"),
    ("GET", "/config/v1/rules"),
    ("GET", "/api/v1/rules/{namespace}"),
    ("POST", "/api/v1/rules/{namespace}"),
    ("DELETE", "/api/v1/rules/{namespace}"),
    ("GET", "/config/v1/rules/{namespace}"),
    ("POST", "/config/v1/rules/{namespace}"),
    ("DELETE", "/config/v1/rules/{namespace}"),
    ("GET", "/api/v1/rules/{namespace}/{group}"),
    ("DELETE", "/api/v1/rules/{namespace}/{group}"),
    ("GET", "/config/v1/rules/{namespace}/{group}"),
    ("DELETE", "/config/v1/rules/{namespace}/{group}"),
    ("GET", "/api/v2/alerts"),
    ("POST", "/api/v2/alerts"),
    ("GET", "/api/v2/alerts/groups"),
    ("GET", "/api/v2/silences"),
    ("POST", "/api/v2/silences"),
    ("GET", "/api/v2/silence/{id}"),
    ("DELETE", "/api/v2/silence/{id}"),
    ("GET", "/api/v2/status"),
    ("GET", "/api/v2/receivers"),
];

pub fn router(api: AlertingApi) -> Router {
    stratus_http::router_from(ROUTES, |path| match path {
        "/api/v1/rules" => get(prom_rules),
        "/api/v1/alerts" => get(prom_alerts),
        "/api/v1/alerts/history" => get(alert_history),
        "/config/v1/rules" => get(all_namespaces),
        "/api/v1/rules/{namespace}" | "/config/v1/rules/{namespace}" => {
            get(get_namespace).post(set_groups).delete(delete_namespace)
        }
        "/api/v1/rules/{namespace}/{group}" | "/config/v1/rules/{namespace}/{group}" => {
            get(get_group).delete(delete_group)
        }
        "/api/v2/alerts" => get(am_alerts).post(am_post_alerts),
        "/api/v2/alerts/groups" => get(am_groups),
        "/api/v2/silences" => get(list_silences).post(create_silence),
        "/api/v2/silence/{id}" => get(get_silence).delete(expire_silence),
        "/api/v2/status" => get(am_status),
        "/api/v2/receivers" => get(am_receivers),
        other => unreachable!("ROUTES lists {other}, which has no handlers"),
    })
    .with_state(Arc::new(api))
    .layer(stratus_http::catch_panics(
        stratus_http::Component::Alerting,
    ))
}

type Shared = State<Arc<AlertingApi>>;

/// An error in the shape its API uses: Prometheus JSON on `/api/v1`,
/// plain text elsewhere (Mimir's config API and Alertmanager answer text).
struct ApiError {
    status: StatusCode,
    message: String,
    prometheus: bool,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            prometheus: false,
        }
    }

    fn prometheus(mut self) -> Self {
        self.prometheus = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.prometheus {
            let error_type = match self.status {
                StatusCode::BAD_REQUEST => "bad_data",
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::UNAUTHORIZED => "unauthorized",
                StatusCode::FORBIDDEN => "forbidden",
                StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                _ => "internal",
            };
            let body = json!({"status": "error", "errorType": error_type, "error": self.message});
            (self.status, axum::Json(body)).into_response()
        } else {
            (self.status, format!("{}\n", self.message)).into_response()
        }
    }
}

impl From<RulerError> for ApiError {
    fn from(e: RulerError) -> Self {
        let status = match &e {
            RulerError::InvalidRules(_) | RulerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RulerError::NamespaceNotFound { .. } | RulerError::GroupNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            RulerError::Storage(s) => s.client_message(),
            other => other.to_string(),
        };
        ApiError::new(status, message)
    }
}

impl From<NotifierError> for ApiError {
    fn from(e: NotifierError) -> Self {
        let status = match &e {
            NotifierError::BadRequest(_) | NotifierError::Config(_) => StatusCode::BAD_REQUEST,
            NotifierError::SilenceNotFound(_) => StatusCode::NOT_FOUND,
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            NotifierError::Storage(s) => s.client_message(),
            other => other.to_string(),
        };
        ApiError::new(status, message)
    }
}

/// The one tenant of a request ([`stratus_http::tenant`]): rule files,
/// alerts and silences belong to one tenant at a time.
fn tenant(api: &AlertingApi, headers: &HeaderMap) -> Result<TenantId, ApiError> {
    let r = api.tenants.read(headers).and_then(|t| t.single().cloned());
    r.map_err(|r| ApiError::new(r.status(), r.message()))
}

fn success<T: Serialize>(data: T) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

fn yaml(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], text).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"status": "success", "data": null, "errorType": "", "error": ""})),
    )
        .into_response()
}

/// `name=v&name[]=v` pairs of a query string.
fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.trim_end_matches("[]").to_string(), v))
        .collect()
}

async fn prom_rules(
    State(api): Shared,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers).map_err(ApiError::prometheus)?;
    let mut filter = RulesFilter::default();
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "type" => {
                filter.kind = match v.as_str() {
                    "alert" => Some(RuleKind::Alert),
                    "record" => Some(RuleKind::Record),
                    other => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            format!("type must be alert or record, got {other:?}"),
                        )
                        .prometheus())
                    }
                }
            }
            "rule_name" => filter.rule_names.push(v),
            "rule_group" => filter.group_names.push(v),
            "file" => filter.files.push(v),
            "exclude_alerts" => filter.exclude_alerts = v == "true",
            "match" => {
                filter
                    .matchers
                    .extend(
                        stratus_query::selector_matchers(&v, "match[]").map_err(|e| {
                            ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).prometheus()
                        })?,
                    )
            }
            _ => {}
        }
    }
    let data = stratus_ruler::api::rules(&api.store, &t, &api.options, &filter)
        .await
        .map_err(|e| ApiError::from(e).prometheus())?;
    Ok(success(data))
}

async fn prom_alerts(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers).map_err(ApiError::prometheus)?;
    let data = stratus_ruler::api::alerts(&api.store, &t, &api.options)
        .await
        .map_err(|e| ApiError::from(e).prometheus())?;
    Ok(success(data))
}

async fn all_namespaces(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let ns = api.store.namespaces(&t).await?;
    if ns.is_empty() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no rule groups found"));
    }
    Ok(yaml(namespaces_yaml(&ns)))
}

async fn get_namespace(
    State(api): Shared,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let groups = api.store.namespace(&t, &namespace).await?;
    Ok(yaml(namespaces_yaml(&BTreeMap::from([(
        namespace, groups,
    )]))))
}

async fn set_groups(
    State(api): Shared,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "the rule group or file is not UTF-8 YAML",
        )
    })?;
    api.store.set_groups(&t, &namespace, text).await?;
    Ok(accepted())
}

async fn delete_namespace(
    State(api): Shared,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    api.store.delete_namespace(&t, &namespace).await?;
    Ok(accepted())
}

async fn get_group(
    State(api): Shared,
    headers: HeaderMap,
    Path((namespace, group)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let g = api.store.group(&t, &namespace, &group).await?;
    Ok(yaml(group_yaml(&g)))
}

async fn delete_group(
    State(api): Shared,
    headers: HeaderMap,
    Path((namespace, group)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    api.store.delete_group(&t, &namespace, &group).await?;
    Ok(accepted())
}

async fn am_alerts(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let alerts = api.notifier.alerts(&t, now_ms()).await?;
    Ok(axum::Json(alerts).into_response())
}

async fn am_post_alerts(
    State(api): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let alerts: Vec<PostableAlert> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expected a JSON array of alerts (Alertmanager API v2): {e}"),
        )
    })?;
    // As Alertmanager: the valid alerts are stored, and any invalid one
    // makes the answer a 400 whose body lists why.
    let report = api.notifier.receive(&t, alerts, now_ms()).await?;
    if !report.rejected.is_empty() {
        return Ok((
            StatusCode::BAD_REQUEST,
            axum::Json(report.rejected.join("; ")),
        )
            .into_response());
    }
    Ok(StatusCode::OK.into_response())
}

async fn am_groups(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let groups = api.notifier.groups(&t, now_ms()).await?;
    Ok(axum::Json(groups).into_response())
}

async fn list_silences(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let s = api.notifier.list_silences(&t, now_ms()).await?;
    Ok(axum::Json(s).into_response())
}

async fn create_silence(
    State(api): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let s: PostableSilence = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expected a silence (Alertmanager API v2: matchers, startsAt, endsAt, createdBy, comment): {e}"),
        )
    })?;
    let id = api.notifier.create_silence(&t, s, now_ms()).await?;
    Ok(axum::Json(json!({"silenceID": id})).into_response())
}

async fn get_silence(
    State(api): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    let s = api.notifier.list_silences(&t, now_ms()).await?;
    match s.into_iter().find(|s| s.id == id) {
        Some(s) => Ok(axum::Json(s).into_response()),
        None => Err(NotifierError::SilenceNotFound(id).into()),
    }
}

async fn expire_silence(
    State(api): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = tenant(&api, &headers)?;
    api.notifier.expire_silence(&t, &id, now_ms()).await?;
    Ok(StatusCode::OK.into_response())
}

/// The Alertmanager version `/api/v2/status` reports: the API Stratus's
/// notifier answers as. amtool compares it with its own version and warns
/// on every command when they differ, so it is amtool 0.25's (the release
/// this API is tested against).
pub const ALERTMANAGER_VERSION: &str = "0.25.0";

/// Alertmanager's status: the configuration the notifier runs with
/// (`amtool config show` prints `config.original`), when it started, and
/// its version.
async fn am_status(State(api): Shared) -> Response {
    let uptime =
        stratus_model::time::format_rfc3339(api.started_ms, stratus_model::time::Fraction::Millis);
    axum::Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "config": {"original": api.notifier.config().original},
        "uptime": uptime,
        "versionInfo": {
            "version": ALERTMANAGER_VERSION,
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": concat!("stratus-", env!("CARGO_PKG_VERSION")),
        },
    }))
    .into_response()
}

/// The configuration's receivers, as Alertmanager lists them.
async fn am_receivers(State(api): Shared) -> Response {
    let names: Vec<_> = api
        .notifier
        .config()
        .receivers
        .iter()
        .map(|r| json!({"name": r.name}))
        .collect();
    axum::Json(names).into_response()
}

async fn alert_history(
    State(api): Shared,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    use stratus_ruler::history::{HistoryFilter, Transition};
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m).prometheus();
    let t = tenant(&api, &headers).map_err(ApiError::prometheus)?;
    let mut filter = HistoryFilter::default();
    let (mut start, mut end) = (None, None);
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "start" | "end" => {
                let ms = stratus_query::api::parse_time(&v, &k).map_err(|e| bad(e.to_string()))?;
                if k == "start" {
                    start = Some(ms);
                } else {
                    end = Some(ms);
                }
            }
            "alertname" => filter.rule = Some(v),
            "namespace" => filter.namespace = Some(v),
            "group" => filter.group = Some(v),
            "state" => filter.states.push(match v.as_str() {
                "pending" => Transition::Pending,
                "firing" => Transition::Firing,
                "resolved" => Transition::Resolved,
                "inactive" => Transition::Inactive,
                other => {
                    return Err(bad(format!(
                        "state must be pending, firing, resolved or inactive, got {other:?}"
                    )))
                }
            }),
            "label" => {
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| bad(format!("label must be <name>=<value>, got {v:?}")))?;
                filter.labels.insert(name.to_string(), value.to_string());
            }
            other => return Err(bad(format!("unknown parameter {other:?}"))),
        }
    }
    let end = end.unwrap_or_else(now_ms);
    let start = start.unwrap_or(end - 24 * 3_600_000);
    let events = stratus_ruler::history::history(api.store.bucket(), &t, start, end, &filter)
        .await
        .map_err(|e| ApiError::from(e).prometheus())?;
    Ok(success(events))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stratus_storage::{
        Bucket, FaultConfig, FaultyStore, InjectedFailure, ObjectPath, RetryPolicy,
    };

    use super::*;

    fn failing(kind: InjectedFailure) -> Bucket {
        let store = FaultyStore::new(
            Arc::new(stratus_storage::InMemory::new()),
            FaultConfig {
                fail_ratio: 1.0,
                fail_with: kind,
                ..FaultConfig::default()
            },
        );
        Bucket::new(Arc::new(store), RetryPolicy::no_retries())
    }

    /// Rule and silence APIs word storage failures like every other
    /// answer: what failed, never the backend's text.
    #[tokio::test]
    async fn storage_errors_are_answered_in_stratus_terms() {
        let err = failing(InjectedFailure::Full)
            .put(
                &ObjectPath::from("tenants/t/rules/x.yaml"),
                bytes::Bytes::from_static(b"x"),
            )
            .await
            .expect_err("full");
        let ruler = ApiError::from(RulerError::Storage(err));
        assert_eq!(ruler.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ruler.message,
            "a write to the bucket failed: the bucket is full"
        );
        let err = failing(InjectedFailure::Denied)
            .get(&ObjectPath::from("tenants/t/notifier/silences.json"))
            .await
            .expect_err("denied");
        let notifier = ApiError::from(NotifierError::Storage(err));
        assert_eq!(notifier.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            notifier.message,
            "a read from the bucket failed: the bucket refused the request"
        );
    }
}
