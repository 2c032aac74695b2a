//! Label matchers (defined in `stratus_model`) built from the parser's.

use promql_parser::label::{MatchOp, Matcher};
use regex::Regex;

pub use stratus_model::{matches_all, LabelMatcher, MatchKind};

/// From the parser's matcher, recompiling regexes with Prometheus 3's flags
/// (anchored, `.` matching newlines). When our compilation fails, the
/// parser's (which rewrites some Go-only syntax) is used with the `s` flag.
pub fn from_parser(m: &Matcher) -> Result<LabelMatcher, regex::Error> {
    Ok(match &m.op {
        MatchOp::Equal => LabelMatcher::equal(&m.name, &m.value),
        MatchOp::NotEqual => LabelMatcher::not_equal(&m.name, &m.value),
        MatchOp::Re(parsed) => regex_or(&m.name, &m.value, parsed, false)?,
        MatchOp::NotRe(parsed) => regex_or(&m.name, &m.value, parsed, true)?,
    })
}

fn regex_or(
    name: &str,
    value: &str,
    parsed: &Regex,
    negate: bool,
) -> Result<LabelMatcher, regex::Error> {
    match LabelMatcher::regex(name, value, negate) {
        Ok(m) => Ok(m),
        Err(_) => {
            let compiled = Regex::new(&format!("(?s){}", parsed.as_str()))?;
            Ok(LabelMatcher::with_regex(name, value, compiled, negate))
        }
    }
}

/// The matcher sets of one series selector parameter (`match[]`): one set
/// per `or` branch, each with the metric name's matcher first.
pub fn selector_matchers(
    s: &str,
    param: &str,
) -> Result<Vec<Vec<LabelMatcher>>, crate::error::QueryError> {
    selector_groups(s, param, |m| {
        from_parser(m).map_err(|e| {
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
    let expr = crate::engine::parse_param(s, param)?;
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
