//! The subset of Go's `text/template` that alerting rules use, with
//! Prometheus's variables (`$labels`, `$value`, `$externalLabels`,
//! `$externalURL`) and functions (`humanize*`, `printf`, `toUpper`,
//! `toLower`, `index`). Anything else is a parse error, reported the way
//! Prometheus reports template errors.
//!
//! Bounds, as templates are user text: `{{if}}` blocks and parentheses
//! nest at most [`MAX_DEPTH`] levels (a parse error beyond; Go allows
//! 10,000, which the recursion of a 2 MiB thread stack cannot afford here
//! with room to spare), an expansion writes at most [`MAX_OUTPUT_BYTES`]
//! (an execution error beyond), and `printf` widths and precisions above
//! Go's 1,000,000 print `%!(NOVERB)` as in Go. `range`, `with`, `define`
//! and `template` are refused, so there are no loops or calls: execution
//! time is linear in the template's length.

mod exec;
mod gofmt;
mod parse;

use std::collections::BTreeMap;
use std::fmt;

/// The deepest nesting of `{{if}}` blocks and parentheses a template may
/// have (both count, as both recurse in parsing and execution).
pub const MAX_DEPTH: usize = 100;

/// The most one expansion may write (64 KiB): far above any label or
/// annotation, far below what could hurt the ruler or a receiver.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    /// Integer literals, which Go keeps apart from floats.
    Int(i64),
    Bool(bool),
    Map(BTreeMap<String, String>),
}

impl Value {
    fn go_type(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Num(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Map(_) => "map[string]string",
        }
    }
}

/// Prints like Go's `fmt.Print`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Num(n) => f.write_str(&gofmt::fmt_v(*n)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// What an alert template sees.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A function name.
    Func(String),
    /// `$name.field.field`.
    Var(String, Vec<String>),
    /// `.Field.field` (empty: the dot itself).
    Field(Vec<String>),
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Pipe(Pipeline),
}

type Command = Vec<Arg>;
type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    /// `if` / `else if` branches, then the `else` body.
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Parses `src`; errors are worded like Go's template parser.
    pub fn parse(src: &str) -> Result<Self, String> {
        parse::parse(src).map(|nodes| Self { nodes })
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &TemplateData) -> Result<String, String> {
        let mut out = String::new();
        exec::run(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// Expands an alert label or annotation template the way Prometheus does:
/// on error the result is `<error expanding template: ...>`.
pub fn expand_alert_template(rule_name: &str, text: &str, data: &TemplateData) -> String {
    let name = format!("__alert_{rule_name}");
    let result = Template::parse(text)
        .map_err(|e| format!("error parsing template {name}: template: {name}:1: {e}"))
        .and_then(|t| {
            t.execute(data)
                .map_err(|e| format!("error executing template {name}: template: {name}:1: {e}"))
        });
    result.unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

#[cfg(test)]
mod tests;
