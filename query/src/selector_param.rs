//! Series selectors given as request parameters (`match[]` of the series,
//! label and delete APIs and of the rules API): parsed once, here, into one
//! matcher set per `or` branch.

use promql_parser::label::{MatchOp, Matcher};

use crate::matcher::LabelMatcher;

/// The matcher sets of one series selector parameter (`match[]`): one set
/// per `or` branch, each with the metric name's matcher first.
pub fn selector_matchers(
    s: &str,
    param: &str,
) -> Result<Vec<Vec<LabelMatcher>>, crate::error::QueryError> {
    selector_groups(s, param, |m| {
        crate::matcher::from_parser(m).map_err(|e| {
            crate::error::QueryError::bad(format!("invalid regular expression {:?}: {e}", m.value))
        })
    })
}

/// The matcher sets of a series selector parameter, each parser matcher
/// turned into a `T` by `conv`: one set per `or` branch, the metric name's
/// `=` matcher first.
pub(crate) fn selector_groups<T: Clone>(
    s: &str,
    param: &str,
    conv: impl Fn(&Matcher) -> Result<T, crate::error::QueryError>,
) -> Result<Vec<Vec<T>>, crate::error::QueryError> {
    use crate::error::QueryError;
    use promql_parser::parser::Expr;
    let expr = stratus_promql::parse(s)
        .map_err(|e| QueryError::bad(format!("invalid parameter \"{param}\": {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(QueryError::bad(format!(
            "invalid parameter \"{param}\": {s:?} is not a series selector"
        )));
    };
    let mut base = Vec::new();
    if let Some(n) = &vs.name {
        base.push(conv(&Matcher::new(
            MatchOp::Equal,
            stratus_model::METRIC_NAME,
            n,
        ))?);
    }
    for m in &vs.matchers.matchers {
        base.push(conv(m)?);
    }
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![base]);
    }
    vs.matchers
        .or_matchers
        .iter()
        .map(|g| {
            let mut all = base.clone();
            for m in g {
                all.push(conv(m)?);
            }
            Ok(all)
        })
        .collect()
}
