//! Series, label names, label values and metadata: the lookups Grafana
//! makes to autocomplete.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::response::Response;
use stratus_model::{Labels, TenantId, TimeRange};

use super::json;
use super::params::{self, Params};
use super::respond::*;
use super::state::QueryState;
use crate::error::QueryError;

/// A lookup's parameters: what it returns at most (`limit`, 0 or none:
/// all), its deadline, the time range and the matcher sets of its
/// `match[]`s (`require`: at least one), one empty set without any.
struct Lookup {
    limit: usize,
    deadline: std::time::Instant,
    range: TimeRange,
    groups: Vec<Vec<crate::matcher::LabelMatcher>>,
}

fn lookup(st: &QueryState, p: &Params, require: bool) -> Result<Lookup, QueryError> {
    let limit = limit(p)?.unwrap_or(usize::MAX);
    let deadline = read_deadline(st, p)?;
    let selectors = p.all("match[]");
    if selectors.is_empty() && require {
        return Err(QueryError::bad("no match[] parameter provided"));
    }
    check_selector_count(selectors.len())?;
    let range = TimeRange::new(
        time_or(p, "start", params::MIN_TIME)?,
        time_or(p, "end", params::MAX_TIME)?,
    );
    let mut groups = Vec::new();
    for s in &selectors {
        groups.extend(crate::selector_param::selector_matchers(s, "match[]")?);
    }
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    Ok(Lookup {
        limit,
        deadline,
        range,
        groups,
    })
}

impl Lookup {
    /// The union of `find` over the matcher sets, each within the
    /// request's timeout. Between sets the task yields, so a request
    /// whose client went away stops there.
    async fn union<'a, T, F, Fut>(&'a self, mut find: F) -> Result<BTreeSet<T>, QueryError>
    where
        T: Ord,
        F: FnMut(&'a [crate::matcher::LabelMatcher]) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>, crate::source::SourceError>>,
    {
        let mut out = BTreeSet::new();
        for matchers in &self.groups {
            if std::time::Instant::now() > self.deadline {
                return Err(QueryError::Timeout);
            }
            let found = tokio::time::timeout_at(self.deadline.into(), find(matchers))
                .await
                .map_err(|_| QueryError::Timeout)??;
            out.extend(found);
            tokio::task::yield_now().await;
        }
        Ok(out)
    }
}

/// What a lookup returns at most, and the label sets of the series
/// matching any `match[]` in the time range (`require`: at least one
/// `match[]`), found within the request's timeout.
pub(super) async fn matching_series(
    st: &QueryState,
    tenant: &TenantId,
    p: &Params,
    require: bool,
) -> Result<(usize, BTreeSet<Labels>), QueryError> {
    let l = lookup(st, p, require)?;
    let found = l
        .union(|m| st.source.series_labels(tenant, m, l.range))
        .await?;
    Ok((l.limit, found))
}

pub(super) async fn series(
    State(st): State<QueryState>,
    ApiRequest { tenant, params: p }: ApiRequest,
) -> Response {
    let run = async {
        let (lim, found) = matching_series(&st, &tenant, &p, true).await?;
        let mut out = String::from("[");
        for (i, l) in found.iter().take(lim).enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_labels(&mut out, l);
        }
        out.push(']');
        Ok::<_, QueryError>(out)
    };
    answer(run.await)
}

pub(super) async fn labels(
    State(st): State<QueryState>,
    ApiRequest { tenant, params: p }: ApiRequest,
) -> Response {
    let run = async {
        let l = lookup(&st, &p, false)?;
        let names = l
            .union(|m| st.source.label_names(&tenant, m, l.range))
            .await?;
        Ok::<_, QueryError>(string_list(names.iter().map(String::as_str).take(l.limit)))
    };
    answer(run.await)
}

pub(super) async fn label_values(
    State(st): State<QueryState>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    ApiRequest { tenant, params: p }: ApiRequest,
) -> Response {
    let run = async {
        // A name that is not UTF-8 once percent-decoded is a bad label
        // name, answered in the API's JSON like any other.
        let Ok(Path(name)) = name else {
            return Err(QueryError::bad("invalid label name: not valid UTF-8"));
        };
        // Prometheus 3 accepts UTF-8 names escaped as `U__...`.
        let name = unescape_label_name(&name);
        if !stratus_model::NameValidation::Utf8.is_valid_label_name(&name) {
            return Err(QueryError::bad(format!(
                "invalid label name: {}",
                stratus_model::strutil::quote(&name)
            )));
        }
        let l = lookup(&st, &p, false)?;
        let values = l
            .union(|m| st.source.label_values(&tenant, &name, m, l.range))
            .await?;
        Ok::<_, QueryError>(string_list(values.iter().map(String::as_str).take(l.limit)))
    };
    answer(run.await)
}

/// Prometheus's `U__` escaping of label names in URL paths.
pub(super) fn unescape_label_name(s: &str) -> String {
    let Some(rest) = s.strip_prefix("U__") else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return s.to_string(),
        }
    }
    out
}

pub(super) async fn metadata(
    State(st): State<QueryState>,
    ApiRequest { tenant, params: p }: ApiRequest,
) -> Response {
    let run = async {
        let lim = limit(&p)?.unwrap_or(usize::MAX);
        let metric = p.get("metric").filter(|m| !m.is_empty());
        let deadline = read_deadline(&st, &p)?;
        let all = tokio::time::timeout_at(deadline.into(), st.source.metadata(&tenant))
            .await
            .map_err(|_| QueryError::Timeout)??;
        let mut by_name: BTreeMap<&str, Vec<&stratus_model::MetricMetadata>> = BTreeMap::new();
        for md in &all {
            if metric.is_none_or(|m| m == md.metric_family) {
                by_name.entry(&md.metric_family).or_default().push(md);
            }
        }
        let mut out = String::from("{");
        for (i, (name, mds)) in by_name.into_iter().take(lim).enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_str(&mut out, name);
            out.push_str(":[");
            for (j, md) in mds.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"type\":");
                json::write_str(&mut out, md.metric_type.as_str());
                out.push_str(",\"help\":");
                json::write_str(&mut out, &md.help);
                out.push_str(",\"unit\":");
                json::write_str(&mut out, &md.unit);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
        Ok::<_, QueryError>(out)
    };
    answer(run.await)
}
