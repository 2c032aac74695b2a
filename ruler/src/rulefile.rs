//! Prometheus rule files: the YAML shape and the checks `promtool check
//! rules` makes, with errors naming the file, group, rule and line.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use stratus_model::NameValidation;

use crate::duration::PromDuration;
use crate::template::Template;

/// One rule file: a list of groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated in order at one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    /// Evaluation interval; the ruler's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// Queries run this far in the past of the scheduled timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<PromDuration>,
    /// Maximum series a recording rule or alerts an alerting rule may
    /// produce; 0 is no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: usize,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// An alerting (`alert`) or recording (`record`) rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default)]
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .unwrap_or("")
    }
}

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    pub group: Option<String>,
    /// 1-based index and name of the rule.
    pub rule: Option<(usize, String)>,
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file)?;
        if let Some(line) = self.line {
            write!(f, " line {line}:")?;
        }
        if let Some(group) = &self.group {
            write!(f, " group {group:?}:")?;
        }
        if let Some((idx, name)) = &self.rule {
            write!(f, " rule {idx} {name:?}:")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every problem found in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileErrors(pub Vec<RuleFileError>);

impl fmt::Display for RuleFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleFileErrors {}

/// Parses and validates a rule file. `file` names it in errors.
pub fn parse_rule_file(file: &str, src: &str) -> Result<RuleFile, RuleFileErrors> {
    let parsed: RuleFile = serde_yaml::from_str(src).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let mut message = e.to_string();
        if let Some(l) = e.location() {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        RuleFileErrors(vec![RuleFileError {
            file: file.to_string(),
            line,
            group: None,
            rule: None,
            message,
        }])
    })?;
    let errors = validate(file, src, &parsed);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(RuleFileErrors(errors))
    }
}

/// The checks of `promtool check rules`.
pub fn validate(file: &str, src: &str, rf: &RuleFile) -> Vec<RuleFileError> {
    let lines = LineFinder::new(src);
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (gi, g) in rf.groups.iter().enumerate() {
        let group_err = |message: String| RuleFileError {
            file: file.to_string(),
            line: lines.group(gi),
            group: Some(g.name.clone()),
            rule: None,
            message,
        };
        if g.name.is_empty() {
            errors.push(group_err("group name must not be empty".into()));
        } else if !seen.insert(g.name.as_str()) {
            errors.push(group_err(format!(
                "group name {:?} is repeated in the same file",
                g.name
            )));
        }
        if g.interval.is_some_and(|d| d.as_millis() == 0) {
            errors.push(group_err("group interval must be greater than 0".into()));
        }
        for (ri, r) in g.rules.iter().enumerate() {
            for message in validate_rule(r) {
                errors.push(RuleFileError {
                    file: file.to_string(),
                    line: lines.rule(gi, ri),
                    group: Some(g.name.clone()),
                    rule: Some((ri + 1, r.name().to_string())),
                    message,
                });
            }
        }
    }
    errors
}

fn validate_rule(r: &Rule) -> Vec<String> {
    let names = NameValidation::Legacy;
    let mut errs = Vec::new();
    match (&r.record, &r.alert) {
        (Some(_), Some(_)) => errs.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => errs.push("one of 'record' or 'alert' must be set".into()),
        (Some(record), None) => {
            if record.is_empty() {
                errs.push("field 'record' must be set in rule".into());
            } else if !names.is_valid_metric_name(record) {
                errs.push(format!("invalid recording rule name: {record}"));
            }
            if !r.annotations.is_empty() {
                errs.push("invalid field 'annotations' in recording rule".into());
            }
            if r.for_.is_some_and(|d| d.as_millis() != 0) {
                errs.push("invalid field 'for' in recording rule".into());
            }
            if r.keep_firing_for.is_some_and(|d| d.as_millis() != 0) {
                errs.push("invalid field 'keep_firing_for' in recording rule".into());
            }
        }
        (None, Some(alert)) => {
            if alert.is_empty() {
                errs.push("field 'alert' must be set in rule".into());
            }
        }
    }
    if r.expr.is_empty() {
        errs.push("field 'expr' must be set in rule".into());
    } else if let Err(e) = promql_parser::parser::parse(&r.expr) {
        errs.push(format!("could not parse expression: {e}"));
    }
    for (name, value) in &r.labels {
        if name == stratus_model::METRIC_NAME || !names.is_valid_label_name(name) {
            errs.push(format!("invalid label name: {name}"));
        }
        if r.alert.is_some() {
            if let Err(e) = Template::parse(value) {
                errs.push(format!("label {name:?}: {e}"));
            }
        }
    }
    for (name, value) in &r.annotations {
        if !names.is_valid_label_name(name) {
            errs.push(format!("invalid annotation name: {name}"));
        }
        if let Err(e) = Template::parse(value) {
            errs.push(format!("annotation {name:?}: {e}"));
        }
    }
    errs
}

/// Finds the lines of groups and rules in block-style YAML, for errors the
/// YAML parser cannot place (it keeps no positions past parsing).
struct LineFinder<'a> {
    lines: Vec<&'a str>,
    groups: Vec<usize>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

impl<'a> LineFinder<'a> {
    fn new(src: &'a str) -> Self {
        let lines: Vec<&str> = src.lines().collect();
        let groups = lines
            .iter()
            .position(|l| indent(l) == 0 && l.trim_end() == "groups:")
            .map(|k| Self::items(&lines, k, lines.len()))
            .unwrap_or_default();
        Self { lines, groups }
    }

    /// Line indices of the list items under the key on line `key`.
    fn items(lines: &[&str], key: usize, end: usize) -> Vec<usize> {
        let key_indent = indent(lines[key]);
        let mut out = Vec::new();
        let mut item_indent = None;
        for (i, l) in lines.iter().enumerate().take(end).skip(key + 1) {
            if is_blank(l) {
                continue;
            }
            let ind = indent(l);
            let dash = l.trim_start().starts_with('-');
            match item_indent {
                None if dash && ind >= key_indent => {
                    item_indent = Some(ind);
                    out.push(i);
                }
                None => break,
                Some(it) if ind == it && dash => out.push(i),
                Some(it) if ind <= it => break,
                Some(_) => {}
            }
        }
        out
    }

    fn group(&self, gi: usize) -> Option<usize> {
        self.groups.get(gi).map(|l| l + 1)
    }

    fn rule(&self, gi: usize, ri: usize) -> Option<usize> {
        let start = *self.groups.get(gi)?;
        let end = self.groups.get(gi + 1).copied().unwrap_or(self.lines.len());
        let first = self.lines[start].trim_start().trim_start_matches('-');
        let key = if first.trim_start().starts_with("rules:") {
            start
        } else {
            (start + 1..end).find(|&i| self.lines[i].trim_start().starts_with("rules:"))?
        };
        // `- rules:` on the item line itself: items are indented past the dash.
        Self::items(&self.lines, key, end).get(ri).map(|l| l + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"groups:
  - name: example
    interval: 30s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: a
      - alert: InstanceDown
        expr: up == 0
        for: 1m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} down ({{ $value }})"
  - name: other
    query_offset: 1m
    rules: []
"#;

    #[test]
    fn parses_a_valid_file() {
        let rf = parse_rule_file("good.yml", GOOD).expect("valid");
        assert_eq!(rf.groups.len(), 2);
        let g = &rf.groups[0];
        assert_eq!(g.interval, Some(PromDuration(30_000)));
        assert_eq!(g.limit, 10);
        assert_eq!(g.rules[0].record.as_deref(), Some("job:up:sum"));
        assert_eq!(g.rules[1].for_, Some(PromDuration(60_000)));
        assert_eq!(g.rules[1].keep_firing_for, Some(PromDuration(300_000)));
        assert_eq!(rf.groups[1].query_offset, Some(PromDuration(60_000)));
    }

    fn errors(src: &str) -> Vec<RuleFileError> {
        parse_rule_file("bad.yml", src).expect_err("invalid").0
    }

    #[test]
    fn bad_expression_names_file_group_rule_and_line() {
        let src = "groups:\n- name: g\n  rules:\n  - record: ok\n    expr: up\n  - alert: Broken\n    expr: sum(up\n";
        let e = errors(src);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, Some(6));
        assert_eq!(e[0].group.as_deref(), Some("g"));
        assert_eq!(e[0].rule, Some((2, "Broken".to_string())));
        let text = e[0].to_string();
        assert!(
            text.starts_with(
                "bad.yml: line 6: group \"g\": rule 2 \"Broken\": could not parse expression"
            ),
            "{text}"
        );
    }

    #[test]
    fn yaml_errors_carry_the_line() {
        let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 1x\n");
        assert_eq!(e.len(), 1);
        // serde_yaml places errors from custom types at the enclosing mapping.
        assert_eq!(e[0].line, Some(4), "{}", e[0]);
        assert!(e[0].message.contains("not a valid duration"), "{}", e[0]);
        let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    exp: up\n");
        assert!(e[0].message.contains("unknown field `exp`"), "{}", e[0]);
        assert_eq!(e[0].line, Some(5));
    }

    #[test]
    fn promtool_checks() {
        let cases = [
            (
                "- record: a\n    alert: b\n    expr: up",
                "only one of 'record' and 'alert'",
            ),
            ("- expr: up", "one of 'record' or 'alert' must be set"),
            ("- alert: A\n    expr: ''", "field 'expr' must be set"),
            (
                "- record: 1bad\n    expr: up",
                "invalid recording rule name: 1bad",
            ),
            (
                "- record: r\n    expr: up\n    for: 1m",
                "invalid field 'for' in recording rule",
            ),
            (
                "- record: r\n    expr: up\n    annotations:\n      a: b",
                "invalid field 'annotations'",
            ),
            (
                "- alert: A\n    expr: up\n    labels:\n      bad-name: x",
                "invalid label name: bad-name",
            ),
            (
                "- alert: A\n    expr: up\n    annotations:\n      s: '{{ $value'",
                "annotation \"s\"",
            ),
        ];
        for (rule, want) in cases {
            let src = format!("groups:\n- name: g\n  rules:\n  {rule}\n");
            let e = errors(&src);
            assert!(
                e.iter().any(|e| e.message.contains(want)),
                "{rule:?}: want {want:?}, got {e:?}"
            );
            assert!(e.iter().all(|e| e.line == Some(4)), "{e:?}");
        }
    }

    #[test]
    fn duplicate_groups_are_rejected() {
        let e = errors("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(4));
        assert!(e[0].message.contains("repeated"), "{}", e[0]);
    }

    #[test]
    fn round_trips_through_yaml() {
        let rf = parse_rule_file("good.yml", GOOD).expect("valid");
        let text = serde_yaml::to_string(&rf).expect("serialise");
        assert_eq!(parse_rule_file("again.yml", &text).expect("valid"), rf);
    }
}
