//! The admin API: delete requests (`delete_series`).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::params;
use super::respond::*;
use super::state::QueryState;
use crate::error::QueryError;

/// Prometheus's `delete_series`: records a delete request (tombstone) per
/// `match[]` selector in the tenant's catalog
/// ([`stratus_storage::catalog::add_delete_requests`], which also applies
/// `--max-pending-deletes`). Readers hide the samples at once; the
/// compactor removes them from the blocks.
pub(super) async fn delete_series(
    State(st): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let run = async {
        let Some(bucket) = st.admin.clone() else {
            return Err(QueryError::Unavailable(
                "admin APIs disabled; start Stratus with --enable-admin-api".into(),
            ));
        };
        let (tenant, p) = request(&st, &Method::POST, &headers, raw, body).await?;
        let selectors = p.all("match[]");
        if selectors.is_empty() {
            return Err(QueryError::bad("no match[] parameter provided"));
        }
        check_selector_count(selectors.len())?;
        let min_time = time_or(&p, "start", params::MIN_TIME)?;
        let max_time = time_or(&p, "end", params::MAX_TIME)?;
        let now = st.clock.now_ms();
        let mut requests = Vec::new();
        for s in selectors {
            for group in parser_matchers(s)? {
                requests.push(stratus_codec::Tombstone {
                    id: ulid::Ulid::new().to_string(),
                    matchers: group,
                    min_time,
                    max_time,
                    created_ms: now,
                });
            }
        }
        stratus_storage::catalog::add_delete_requests(
            &bucket,
            &tenant,
            &requests,
            st.max_pending_deletes,
            now,
        )
        .await
        .map_err(delete_refused)?;
        Ok(())
    };
    match run.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => fail(e),
    }
}

/// The answer to a delete request that was not recorded.
pub(super) fn delete_refused(e: stratus_storage::catalog::DeleteRequestError) -> QueryError {
    use stratus_storage::catalog::{CommitError, DeleteRequestError};
    match e {
        DeleteRequestError::TooManyPending { .. } => QueryError::bad(e.to_string()),
        DeleteRequestError::Commit(CommitError::Storage(s)) => s.into(),
        DeleteRequestError::Commit(c @ CommitError::Corrupt { .. }) => {
            let key = match &c {
                CommitError::Corrupt { tenant, .. } => {
                    Some(stratus_storage::keys::catalog(tenant).to_string())
                }
                _ => None,
            };
            QueryError::corrupt(key, c.to_string())
        }
        DeleteRequestError::Commit(c) => {
            QueryError::Unavailable(format!("{c}; retry the delete request"))
        }
    }
}

/// The matchers of a selector as stored in a tombstone; one group per `or`.
pub(super) fn parser_matchers(
    s: &str,
) -> Result<Vec<Vec<stratus_codec::TombstoneMatcher>>, QueryError> {
    use promql_parser::label::MatchOp;
    crate::selector_param::selector_groups(s, "match[]", |m| {
        Ok(stratus_codec::TombstoneMatcher {
            name: m.name.clone(),
            op: match m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Re(_) => "=~",
                MatchOp::NotRe(_) => "!~",
            }
            .into(),
            value: m.value.clone(),
        })
    })
}
