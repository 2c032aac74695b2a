//! Label matchers with Prometheus 3 semantics: regexes are fully anchored
//! and `.` matches newlines; a matcher on a missing label sees "".

use regex::Regex;

use crate::Labels;

#[derive(Debug, Clone)]
pub enum MatchKind {
    Equal,
    NotEqual,
    Regex(Regex),
    NotRegex(Regex),
}

impl MatchKind {
    /// The PromQL operator: `=`, `!=`, `=~` or `!~`.
    pub fn operator(&self) -> &'static str {
        match self {
            MatchKind::Equal => "=",
            MatchKind::NotEqual => "!=",
            MatchKind::Regex(_) => "=~",
            MatchKind::NotRegex(_) => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub value: String,
    pub kind: MatchKind,
}

impl LabelMatcher {
    pub fn equal(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            kind: MatchKind::Equal,
        }
    }

    /// A regex matcher; `re` is anchored and `.` matches newlines.
    pub fn regex(name: &str, re: &str, negate: bool) -> Result<Self, regex::Error> {
        let compiled = compile_regex(re)?;
        Ok(Self {
            name: name.into(),
            value: re.into(),
            kind: if negate {
                MatchKind::NotRegex(compiled)
            } else {
                MatchKind::Regex(compiled)
            },
        })
    }

    /// A regex matcher compiled from an already-built regex (when our own
    /// compilation of `value` is not possible).
    pub fn with_regex(name: &str, value: &str, compiled: Regex, negate: bool) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            kind: if negate {
                MatchKind::NotRegex(compiled)
            } else {
                MatchKind::Regex(compiled)
            },
        }
    }

    pub fn not_equal(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            kind: MatchKind::NotEqual,
        }
    }

    pub fn matches_value(&self, v: &str) -> bool {
        match &self.kind {
            MatchKind::Equal => v == self.value,
            MatchKind::NotEqual => v != self.value,
            MatchKind::Regex(r) => r.is_match(v),
            MatchKind::NotRegex(r) => !r.is_match(v),
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// True when the matcher also matches the empty string (so series
    /// without the label match).
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}

/// Compiles a PromQL regex: anchored, `.` matching newlines.
pub fn compile_regex(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("(?s)^(?:{re})$"))
}

/// True when every matcher matches.
pub fn matches_all(matchers: &[LabelMatcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(p: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(p.iter().copied()).expect("labels")
    }

    #[test]
    fn regexes_are_anchored_and_dot_matches_newline() {
        let m = LabelMatcher::regex("a", "fo.", false).expect("re");
        assert!(m.matches(&l(&[("a", "foo")])));
        assert!(!m.matches(&l(&[("a", "xfoo")])));
        assert!(m.matches(&l(&[("a", "fo\n")])));
    }

    #[test]
    fn missing_labels_are_empty() {
        assert!(LabelMatcher::equal("x", "").matches(&l(&[("a", "1")])));
        assert!(!LabelMatcher::equal("a", "").matches(&l(&[("a", "1")])));
        let ne = LabelMatcher::regex("x", ".+", true).expect("re");
        assert!(ne.matches(&l(&[("a", "1")])));
    }
}
