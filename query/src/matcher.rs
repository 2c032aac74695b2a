//! Label matchers (defined in `stratus_model`) built from the parser's.

use promql_parser::label::{MatchOp, Matcher};
use regex::Regex;

pub use stratus_model::{matches_all, LabelMatcher};

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
