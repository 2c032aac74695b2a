//! `CLASSIFICATION.tsv`: one row per eval of the upstream test files, with
//! tags naming the features it needs.

use std::path::Path;

use anyhow::{bail, Context};

/// One row: `file`, `line`, `kind`, `tags`, `query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub file: String,
    pub line: usize,
    /// `instant` or `range`.
    pub kind: String,
    /// E.g. `nh`, `exp_func`; `core` (or nothing) for core PromQL.
    pub tags: Vec<String>,
    pub query: String,
}

impl Classification {
    /// Core PromQL: no tags, or exactly `core`.
    pub fn is_core(&self) -> bool {
        self.tags.is_empty() || (self.tags.len() == 1 && self.tags[0] == "core")
    }
}

/// Reads a classification file; the header row is skipped.
pub fn load_classification(path: &Path) -> anyhow::Result<Vec<Classification>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_classification(&path.display().to_string(), &text)
}

pub(super) fn parse_classification(name: &str, text: &str) -> anyhow::Result<Vec<Classification>> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.is_empty() || (index == 0 && line.starts_with("file\t")) {
            continue;
        }
        let fields: Vec<&str> = line.splitn(5, '\t').collect();
        let [file, line_field, kind, tags, query] = fields[..] else {
            bail!(
                "{name}:{line_no}: expected 5 tab-separated fields (file, line, kind, tags, query), found {}",
                fields.len()
            );
        };
        let eval_line = line_field.parse().with_context(|| {
            format!("{name}:{line_no}: expected a line number, found {line_field:?}")
        })?;
        if kind != "instant" && kind != "range" {
            bail!("{name}:{line_no}: expected kind instant or range, found {kind:?}");
        }
        rows.push(Classification {
            file: file.to_string(),
            line: eval_line,
            kind: kind.to_string(),
            tags: tags
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            query: query.to_string(),
        });
    }
    Ok(rows)
}
