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

/// One error about `file` as a whole (no group or rule named).
fn file_error(file: &str, message: String, line: Option<usize>) -> RuleFileErrors {
    RuleFileErrors(vec![RuleFileError {
        file: file.to_string(),
        line,
        group: None,
        rule: None,
        message,
    }])
}

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
        file_error(file, message, line)
    })?;
    let errors = validate(file, src, &parsed);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(RuleFileErrors(errors))
    }
}

/// Parses and validates the body of `POST /api/v1/rules/<namespace>`:
/// one rule group, as the Mimir/Cortex config API takes it, or a whole
/// Prometheus rule file (`groups:` at the top level, no group field
/// beside it), which no group can be mistaken for. An empty `groups:` is
/// refused: it would change nothing. Errors carry lines of `src`.
pub fn parse_rule_upload(file: &str, src: &str) -> Result<Vec<RuleGroup>, RuleFileErrors> {
    if !is_rule_file(src) {
        return parse_rule_group(file, src).map(|g| vec![g]);
    }
    let rf = parse_rule_file(file, src)?;
    if rf.groups.is_empty() {
        return Err(file_error(
            file,
            "expected at least one rule group in `groups`, got none".into(),
            None,
        ));
    }
    Ok(rf.groups)
}

/// Whether `src` is a whole rule file: a mapping whose only top-level key
/// is `groups`.
fn is_rule_file(src: &str) -> bool {
    match serde_yaml::from_str::<serde_yaml::Value>(src) {
        Ok(serde_yaml::Value::Mapping(m)) => {
            m.len() == 1 && m.keys().all(|k| k.as_str() == Some("groups"))
        }
        _ => false,
    }
}

/// Parses and validates ONE rule group on its own (`name:`, `rules:` at
/// the top level), as the Mimir/Cortex config API takes it in
/// `POST /api/v1/rules/<namespace>`. Errors carry lines of `src`.
pub fn parse_rule_group(file: &str, src: &str) -> Result<RuleGroup, RuleFileErrors> {
    if src.lines().all(is_blank) {
        return Err(file_error(
            file,
            "expected a rule group (name, interval, rules), got an empty body".into(),
            None,
        ));
    }
    // Nest the group under `groups:` so the rule-file parser and its line
    // finder apply; every line moves down by one, undone below.
    let mut wrapped = String::with_capacity(src.len() + src.lines().count() * 4 + 8);
    wrapped.push_str("groups:\n");
    for (i, line) in src.lines().enumerate() {
        let line = if i == 0 && line.trim_end() == "---" {
            ""
        } else {
            line
        };
        wrapped.push_str(if i == 0 { "  - " } else { "    " });
        wrapped.push_str(line);
        wrapped.push('\n');
    }
    let mut rf = parse_rule_file(file, &wrapped).map_err(|mut errs| {
        for e in &mut errs.0 {
            e.line = e.line.map(|l| l.saturating_sub(1).max(1));
            if e.message.contains("unknown field `groups`") {
                e.message = "expected one rule group (name, interval, rules) or a rule file \
                             with only `groups:`, got `groups:` beside other fields"
                    .into();
            }
        }
        errs
    })?;
    match rf.groups.len() {
        1 => Ok(rf.groups.remove(0)),
        n => Err(file_error(
            file,
            format!("expected one rule group, got {n}"),
            None,
        )),
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
    } else if let Err(e) = stratus_promql::parse(&r.expr) {
        // The bounds the query engine applies (length, depth): an
        // expression it would refuse can never be evaluated.
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

/// One group of a rule file read back from the bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedGroup {
    /// The group. One that is not even a group (a wrong field type, an
    /// unknown field) has its name, or `#<position>` when it has none, and
    /// no rules.
    pub group: RuleGroup,
    /// Why the group cannot be evaluated (every problem, one per line);
    /// `None` when it passes the checks of an upload.
    pub error: Option<String>,
    /// The group as stored, written back as it was while it is not
    /// replaced, so a read-modify-write of another group keeps it intact.
    pub raw: serde_yaml::Value,
}

/// Reads a rule file from the bucket group by group: a group that does
/// not pass the checks of an upload (written before a check existed, or by
/// hand) is returned with its error instead of failing the file, so the
/// other groups still load. `Err` only when the file is no rule file at
/// all (not YAML, no `groups` list, other top-level fields).
pub fn load_rule_file(file: &str, src: &str) -> Result<Vec<LoadedGroup>, String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(src).map_err(|e| format!("expected a YAML rule file, got {e}"))?;
    let items = match &doc {
        serde_yaml::Value::Null => return Ok(Vec::new()),
        serde_yaml::Value::Mapping(m) => {
            if let Some(other) = m.keys().find(|k| k.as_str() != Some("groups")) {
                return Err(format!(
                    "expected a rule file with only `groups`, got the field {other:?}"
                ));
            }
            match m.get("groups") {
                None | Some(serde_yaml::Value::Null) => return Ok(Vec::new()),
                Some(serde_yaml::Value::Sequence(items)) => items.clone(),
                Some(_) => return Err("expected `groups` to be a list of rule groups".into()),
            }
        }
        _ => return Err("expected a rule file (a mapping with `groups`)".into()),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, raw) in items.into_iter().enumerate() {
        let (group, mut problems) = match serde_yaml::from_value::<RuleGroup>(raw.clone()) {
            Ok(g) => {
                let one = RuleFile {
                    groups: vec![g.clone()],
                };
                let problems: Vec<String> = validate(file, "", &one)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                (g, problems)
            }
            Err(e) => {
                let name = raw
                    .get("name")
                    .and_then(serde_yaml::Value::as_str)
                    .map_or_else(|| format!("#{}", i + 1), str::to_string);
                let g = RuleGroup {
                    name: name.clone(),
                    ..RuleGroup::default()
                };
                (g, vec![format!("{file}: group {name:?}: {e}")])
            }
        };
        let mut group = group;
        if group.name.is_empty() {
            // Its state needs a key.
            group.name = format!("#{}", i + 1);
        }
        if !seen.insert(group.name.clone()) {
            problems.push(format!(
                "{file}: group {:?}: group name is repeated in the same file",
                group.name
            ));
        }
        let error = (!problems.is_empty()).then(|| problems.join("\n"));
        out.push(LoadedGroup { group, error, raw });
    }
    Ok(out)
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

/// An expression as Prometheus prints a parsed one; the text as written
/// when it does not parse within the bounds of `stratus_promql` (a group
/// stored before a check existed), so printing never recurses deeper than
/// those bounds allow.
pub fn display_expr(expr: &str) -> String {
    stratus_promql::parse(expr).map_or_else(|_| expr.to_string(), |e| e.to_string())
}

#[cfg(test)]
mod tests;
