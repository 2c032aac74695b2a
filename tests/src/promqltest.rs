//! A parser for the PromQL engine test scripts of the Prometheus project
//! (`promql/promqltest/testdata/*.test`), for the conformance runner.
//!
//! The format is defined by `promql/promqltest/test.go` and the series mode
//! of the PromQL lexer and grammar (`promql/parser/lex.go`,
//! `generated_parser.y`). This module follows them, for both the v3.0 dialect
//! (`eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`,
//! `expected_fail_message`, `expected_fail_regexp`) and the current one
//! (`expect fail|warn|info|no_warn|no_info|ordered [msg: ..|regex: ..]`,
//! `expect range vector ...`, `expect string "..."`, `@st` lines).
//!
//! Rules worth knowing, as upstream applies them:
//! - Every line is trimmed and a line starting with `#` counts as blank, so a
//!   comment ends a `load` or `eval` block just like an empty line.
//! - An `eval` block also ends right after a bare number (a scalar) or an
//!   `expected_fail_message`/`expected_fail_regexp` line; what follows is
//!   read as a new command.
//! - Times are Prometheus durations from the Unix epoch (`0`, `10s`,
//!   `1h30m`, no sign, no fractions).
//! - `axN` and `a+bxN` give N+1 values, `_xN` gives N blanks.
//! - The query text is kept as written; it is not parsed here.
//!
//! The two dialects differ in meaning in one point, see [`Dialect`]: parse
//! files of Prometheus v3.0 with [`Dialect::Legacy`].

mod classification;
mod cursor;
mod eval;
mod golang;
mod histogram;
mod load;
mod series;

use std::path::Path;

use anyhow::{anyhow, Context};

pub use classification::{load_classification, Classification};

/// Which version of the rules to read a file with. The syntax is the same
/// (this parser accepts both); what a plain `eval` means is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Prometheus before the `expect` lines (v3.0): warnings not asked for
    /// by `eval_warn` must be absent, so a plain `eval` and `eval_info` get
    /// [`Expectation::Absent`] for warnings. Infos are checked only when
    /// asked for (`eval_info`): v3.0's own data evaluates queries that emit
    /// the "might not be a counter" info with a plain `eval`.
    Legacy,
    /// Prometheus main: annotations are only checked when asked for.
    #[default]
    Current,
}

/// One `.test` file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// The file name, e.g. `aggregators.test`.
    pub name: String,
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Load(Load),
    /// Drops all loaded data.
    Clear {
        line: usize,
    },
    Eval(Eval),
}

/// `load <step>` or `load_with_nhcb <step>` and its series lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// 1-based line of the `load` command.
    pub line: usize,
    pub step_ms: i64,
    /// `load_with_nhcb`: classic histogram series (`_bucket`, `_count`,
    /// `_sum`) are also loaded converted to native histograms with custom
    /// buckets.
    pub with_nhcb: bool,
    /// In file order; a series given twice keeps its place and the later
    /// values, as upstream keeps one entry per label set.
    pub series: Vec<LoadSeries>,
}

/// One loaded series, its values expanded to samples.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSeries {
    pub labels: stratus_model::Labels,
    /// `(timestamp ms, value)`; value `i` of the line sits at `i * step_ms`
    /// and `_` entries produce no point.
    pub points: Vec<(i64, Value)>,
    /// The start timestamp (ms) of each point, parallel to `points`, from an
    /// `@st` line: `None` where none is given. Upstream's storage treats 0 as
    /// "no start timestamp".
    pub start_timestamps: Vec<Option<i64>>,
}

/// A sample value in a series description.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    /// `stale`: the Prometheus staleness marker.
    Stale,
    /// A native histogram literal, raw: `{{schema:0 sum:1 count:1}}`. Points
    /// derived from `{{a}}+{{b}}xN` or `{{a}}-{{b}}xN` after the first hold
    /// that whole expression.
    Histogram(String),
}

/// An `eval` command and what it expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// 1-based line of the eval command in the file.
    pub line: usize,
    /// The query as written.
    pub query: String,
    pub kind: EvalKind,
    /// `Some(MessageMatch::Any)` when a failure is expected without a message.
    pub expect_fail: Option<MessageMatch>,
    pub expect_warn: Expectation,
    pub expect_info: Expectation,
    /// Results must come in the order listed (`eval_ordered`, `expect ordered`).
    pub ordered: bool,
    pub expected: Expected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// Evaluated at `at_ms`. With `expect range vector`, upstream evaluates at
    /// the end of that range, and `at_ms` holds that end.
    Instant { at_ms: i64 },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// How an error, warning or info message must look. Upstream checks an
/// exact message for equality and a regex as an unanchored search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageMatch {
    Any,
    Exact(String),
    Regex(String),
}

/// What an eval says about warnings or infos.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expectation {
    /// Not checked.
    #[default]
    Unspecified,
    /// At least one annotation of this kind, and all of them must match.
    Expected(MessageMatch),
    /// `expect no_warn` / `expect no_info`: none of this kind.
    Absent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Instant vector or matrix results; empty means an empty result. For a
    /// range eval, `values` has one entry per step (padded with `None`
    /// when the line gives fewer); more values than steps make the eval fail
    /// upstream.
    Series(Vec<ExpectedSeries>),
    /// A bare number line: a scalar result.
    Scalar(f64),
    /// `expect string "..."`: a string result.
    String(String),
    /// `expect range vector from .. to .. step ..` on an instant eval: the
    /// query returns a range vector; `values` are per step as for a range
    /// eval.
    RangeVector {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        series: Vec<ExpectedSeries>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSeries {
    /// Empty for `{}`.
    pub labels: stratus_model::Labels,
    /// One per step, `None` for `_` (no point expected).
    pub values: Vec<Option<Value>>,
}

/// A parse error on a 1-based line, located in a file by [`parse_file`].
#[derive(Debug)]
struct LineError {
    line: usize,
    msg: String,
}

impl LineError {
    fn new(index: usize, msg: impl Into<String>) -> Self {
        Self {
            line: index + 1,
            msg: msg.into(),
        }
    }
}

/// The patterns of `test.go`, with `\s` spelled as Go's RE2 reads it.
struct Patterns {
    load: regex::Regex,
    eval_instant: regex::Regex,
    eval_range: regex::Regex,
    expect: regex::Regex,
    expect_range: regex::Regex,
}

impl Patterns {
    fn new() -> anyhow::Result<Self> {
        let re = |p: &str| regex::Regex::new(&p.replace(r"\s", r"[\t\n\f\r ]"));
        Ok(Self {
            load: re(r"^load(?:_(with_nhcb))?\s+(.+?)$")?,
            eval_instant: re(
                r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
            )?,
            eval_range: re(
                r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
            )?,
            expect: re(
                r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$",
            )?,
            expect_range: re(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")?,
        })
    }
}

/// Parses the text of one test file with the current rules; errors name
/// `name:line`.
pub fn parse_file(name: &str, text: &str) -> anyhow::Result<TestFile> {
    parse_file_as(name, text, Dialect::Current)
}

/// Parses the text of one test file with the rules of `dialect`.
pub fn parse_file_as(name: &str, text: &str, dialect: Dialect) -> anyhow::Result<TestFile> {
    let patterns = Patterns::new().context("compiling the promqltest patterns")?;
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let located = |e: LineError| anyhow!("{name}:{}: {}", e.line, e.msg);
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line
            .split([' ', '\t'])
            .next()
            .unwrap_or_default()
            .to_lowercase();
        if word == "clear" {
            commands.push(Command::Clear { line: i + 1 });
            i += 1;
        } else if word.starts_with("load") {
            let (load, next) = load::parse_load(&lines, i, &patterns).map_err(located)?;
            commands.push(Command::Load(load));
            i = next;
        } else if word.starts_with("eval") {
            let (eval, next) = eval::parse_eval(&lines, i, &patterns, dialect).map_err(located)?;
            commands.push(Command::Eval(eval));
            i = next;
        } else {
            return Err(located(LineError::new(
                i,
                format!("invalid command {line:?}, expected load, clear or eval"),
            )));
        }
    }
    Ok(TestFile {
        name: name.to_string(),
        commands,
    })
}

/// Parses every `*.test` file in `dir` with the current rules, sorted by
/// file name.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<TestFile>> {
    load_dir_as(dir, Dialect::Current)
}

/// Parses every `*.test` file in `dir` with the rules of `dialect`, sorted by
/// file name.
pub fn load_dir_as(dir: &Path, dialect: Dialect) -> anyhow::Result<Vec<TestFile>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "test") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            parse_file_as(&name, &text, dialect)
        })
        .collect()
}

#[cfg(test)]
mod tests;
