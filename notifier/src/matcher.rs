//! Alertmanager label matchers: `foo="bar"`, `foo!="bar"`, `foo=~"re"`,
//! `foo!~"re"` (values may also be unquoted), optionally several per string
//! inside `{...}` separated by commas, as in `matchers:` and `amtool`.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A label set as alerts carry it.
pub type LabelSet = BTreeMap<String, String>;

/// One matcher, with the JSON shape of Alertmanager's v2 API
/// (`{name, value, isRegex, isEqual}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "MatcherJson", into = "MatcherJson")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    pub is_equal: bool,
    regex: Option<Regex>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MatcherJson {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

impl TryFrom<MatcherJson> for Matcher {
    type Error = String;
    fn try_from(j: MatcherJson) -> Result<Self, String> {
        Matcher::new(&j.name, &j.value, j.is_regex, j.is_equal)
    }
}

impl From<Matcher> for MatcherJson {
    fn from(m: Matcher) -> Self {
        MatcherJson {
            name: m.name,
            value: m.value,
            is_regex: m.is_regex,
            is_equal: m.is_equal,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        (&self.name, &self.value, self.is_regex, self.is_equal)
            == (&o.name, &o.value, o.is_regex, o.is_equal)
    }
}

impl Matcher {
    pub fn new(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Result<Self, String> {
        if name.is_empty() {
            return Err("matcher has an empty label name".into());
        }
        let regex = if is_regex {
            Some(
                stratus_model::compile_regex(value)
                    .map_err(|e| format!("matcher {name}: invalid regex {value:?}: {e}"))?,
            )
        } else {
            None
        };
        Ok(Self {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
            regex,
        })
    }

    pub fn equal(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            is_regex: false,
            is_equal: true,
            regex: None,
        }
    }

    pub fn matches_value(&self, v: &str) -> bool {
        let hit = match &self.regex {
            Some(re) => re.is_match(v),
            None => v == self.value,
        };
        hit == self.is_equal
    }

    /// A missing label matches as the empty string, as in Alertmanager.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    fn op(&self) -> &'static str {
        match (self.is_regex, self.is_equal) {
            (false, true) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (true, false) => "!~",
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op(), self.value)
    }
}

/// True when every matcher matches.
pub fn matches_all(ms: &[Matcher], labels: &LabelSet) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

/// Prints matchers as `{a="b",c=~"d"}`, the way Alertmanager builds route keys.
pub fn format_matchers(ms: &[Matcher]) -> String {
    let inner: Vec<String> = ms.iter().map(ToString::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

/// Prints a label set as `{a="b", c="d"}` (Prometheus's `LabelSet.String`).
pub fn format_labels(ls: &LabelSet) -> String {
    let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Parses one or more matchers: `foo="bar"` or `{foo="bar", baz=~"q.*"}`.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let s = input.trim();
    let s = match s.strip_prefix('{') {
        Some(inner) => inner
            .strip_suffix('}')
            .ok_or_else(|| format!("matcher {input:?} opens {{ without closing it"))?,
        None => s,
    };
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (m, after) = parse_one(rest, input)?;
        out.push(m);
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!(
                "matcher {input:?}: expected ',' between matchers, got {rest:?}"
            ));
        }
    }
    if out.is_empty() {
        return Err(format!("matcher {input:?} is empty"));
    }
    Ok(out)
}

fn parse_one<'a>(s: &'a str, input: &str) -> Result<(Matcher, &'a str), String> {
    let name_end = s
        .find(|c: char| matches!(c, '=' | '!' | '~') || c.is_whitespace())
        .ok_or_else(|| {
            format!("matcher {input:?}: expected name=\"value\", name!=, =~ or !~, got no operator")
        })?;
    let name = s[..name_end].trim_matches('"');
    let rest = s[name_end..].trim_start();
    let (is_regex, is_equal, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (true, true, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (true, false, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (false, false, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (false, true, r)
    } else {
        return Err(format!(
            "matcher {input:?}: expected one of = != =~ !~ after {name:?}, got {rest:?}"
        ));
    };
    let rest = rest.trim_start();
    let (value, after) = if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        loop {
            match chars.next() {
                None => return Err(format!("matcher {input:?}: unterminated quoted value")),
                Some((i, '"')) => break (value, &quoted[i + 1..]),
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("matcher {input:?}: dangling escape")),
                },
                Some((_, c)) => value.push(c),
            }
        }
    } else {
        let end = rest.find(',').unwrap_or(rest.len());
        (rest[..end].trim().to_string(), &rest[end..])
    };
    let m = Matcher::new(name, &value, is_regex, is_equal)
        .map_err(|e| format!("matcher {input:?}: {e}"))?;
    Ok((m, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &[(&str, &str)]) -> LabelSet {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_all_operators_and_lists() {
        let ms = parse_matchers(r#"{a="1", b!="2",c=~"x|y" , d!~"z.*"}"#).expect("parse");
        assert_eq!(ms.len(), 4);
        let l = ls(&[("a", "1"), ("b", "3"), ("c", "y"), ("d", "q")]);
        assert!(matches_all(&ms, &l));
        assert!(!matches_all(&ms, &ls(&[("a", "1"), ("c", "xy")])));
        let unquoted = parse_matchers("severity = critical").expect("unquoted");
        assert_eq!(unquoted[0].value, "critical");
        assert_eq!(format_matchers(&ms), r#"{a="1",b!="2",c=~"x|y",d!~"z.*"}"#);
    }

    #[test]
    fn rejects_bad_matchers() {
        for bad in ["foo", r#"foo=~"(""#, r#"a="1" b="2""#, r#"a="open"#, "{a=1"] {
            assert!(parse_matchers(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn json_shape_is_alertmanagers() {
        let m = parse_matchers(r#"job=~"api.*""#).expect("parse").remove(0);
        let j = serde_json::to_value(&m).expect("json");
        assert_eq!(
            j,
            serde_json::json!({"name":"job","value":"api.*","isRegex":true,"isEqual":true})
        );
        let back: Matcher = serde_json::from_value(j).expect("back");
        assert!(back.matches(&ls(&[("job", "api-1")])));
    }
}
