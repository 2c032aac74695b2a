//! The query text itself: `format_query`, `parse_query`, and
//! `query_exemplars` (no exemplars are stored yet).

use axum::extract::State;
use axum::response::Response;

use super::json;
use super::respond::*;
use super::state::QueryState;
use crate::engine::parse;
use crate::error::QueryError;

pub(super) async fn exemplars(ApiRequest { params: p, .. }: ApiRequest) -> Response {
    let run = async {
        parse(required(&p, "query")?)?;
        // Exemplars are not stored yet: always an empty list.
        Ok::<_, QueryError>("[]".to_string())
    };
    answer(run.await)
}

pub(super) async fn format_query(
    State(st): State<QueryState>,
    ApiRequest { params: p, .. }: ApiRequest,
) -> Response {
    let run = async {
        let expr = parse(required(&p, "query")?)?;
        // Printing is quadratic in the depth (indentation): on the query
        // pool, not on a thread that serves requests.
        let opts = st.engine.options();
        let pretty = opts
            .pool
            .run(read_deadline(&st, &p)?, move |_| Ok(expr.prettify()))
            .await?;
        let mut out = String::new();
        json::write_str(&mut out, &pretty);
        Ok::<_, QueryError>(out)
    };
    answer(run.await)
}

pub(super) async fn parse_query(ApiRequest { params: p, .. }: ApiRequest) -> Response {
    let run = async {
        let expr = parse(required(&p, "query")?)?;
        let mut out = String::from("{\"type\":");
        json::write_str(&mut out, &format!("{:?}", expr.value_type()).to_lowercase());
        out.push_str(",\"expr\":");
        json::write_str(&mut out, &expr.to_string());
        out.push('}');
        Ok::<_, QueryError>(out)
    };
    answer(run.await)
}
