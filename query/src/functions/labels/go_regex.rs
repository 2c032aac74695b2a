//! Go's regular expressions (RE2 syntax as Go's `regexp` parses it, with
//! Go's `Regexp.Expand`) on top of the `regex` crate.
//!
//! The crate and Go agree on matching (leftmost-first) but not on every
//! piece of syntax, so a Go pattern is rewritten before compiling:
//!
//! - `\d \s \w` (and negations) and `\b \B` are ASCII-only in Go;
//! - literals inside classes are written as `\x{..}` so that `[`, `&&`,
//!   `--`, `~~` keep Go's literal meaning;
//! - `{` that does not start a repetition is a literal in Go;
//! - octal escapes and `\Q...\E` exist in Go only;
//! - Go rejects stacked repetitions (`a**`), repeat counts above 1000,
//!   unknown escapes and flags other than `imsU`, which the crate accepts;
//! - capture names follow Go's rules (`[A-Za-z0-9_]+`) and are resolved
//!   here, so groups are compiled unnamed.

mod translate;

use std::sync::LazyLock;

use regex::{Captures, Regex};

use translate::Translator;

/// A compiled Go regular expression and the Go names of its capture
/// groups (index 0 is the whole match).
///
/// Also usable for PromQL's `=~`/`!~` matchers, which Prometheus compiles
/// the same way as `label_replace` ([`GoRegex::anchored`]).
#[derive(Debug, Clone)]
pub struct GoRegex {
    regex: Regex,
    names: Vec<Option<String>>,
}

impl GoRegex {
    /// Compiles `pattern` with Go's syntax; `None` where Go's
    /// `regexp.Compile` fails.
    pub fn compile(pattern: &str) -> Option<Self> {
        let (translated, names) = Translator::new(pattern).run()?;
        let regex = Regex::new(&translated).ok()?;
        (regex.captures_len() == names.len()).then_some(Self { regex, names })
    }

    /// Compiles `^(?s:pattern)$`: fully anchored, `.` matching newlines, as
    /// Prometheus compiles label regexes.
    pub fn anchored(pattern: &str) -> Option<Self> {
        Self::compile(&format!("^(?s:{pattern})$"))
    }

    #[cfg(test)]
    pub fn is_match(&self, haystack: &str) -> bool {
        self.regex.is_match(haystack)
    }

    pub fn captures<'h>(&self, haystack: &'h str) -> Option<Captures<'h>> {
        self.regex.captures(haystack)
    }

    /// Go's `Regexp.Expand`: `$name`, `${name}`, `$1`, `${1}` and `$$`.
    /// A name is the longest run of letters, digits and `_` (so `$1x` is
    /// the group named `1x`); a malformed reference stays literal `$`;
    /// unknown or non-participating groups expand to nothing.
    pub fn expand(&self, template: &str, captures: &Captures<'_>) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
                continue;
            }
            let Some((name, number, after)) = extract_reference(rest) else {
                out.push('$');
                continue;
            };
            rest = after;
            let group = match number {
                Some(n) => captures.get(n),
                None => self
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.as_deref() == Some(name))
                    .find_map(|(i, _)| captures.get(i)),
            };
            if let Some(m) = group {
                out.push_str(m.as_str());
            }
        }
        out.push_str(rest);
        out
    }
}

/// Parses the reference after a `$`: the name, its group number if it is
/// a decimal number without leading zeros (and below 10^8), and the rest
/// of the template.
fn extract_reference(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len = name_len(body);
    if len == 0 {
        return None;
    }
    let (name, mut rest) = body.split_at(len);
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    let mut number = Some(0usize);
    for b in name.bytes() {
        number = match number {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                Some(n * 10 + usize::from(b - b'0'))
            }
            _ => None,
        };
    }
    if name.len() > 1 && name.starts_with('0') {
        number = None;
    }
    Some((name, number, rest))
}

/// Length in bytes of the leading run of Unicode letters (L), decimal
/// digits (Nd) and underscores, Go's `unicode.IsLetter || IsDigit || '_'`.
fn name_len(s: &str) -> usize {
    static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[\p{L}\p{Nd}_]+").ok());
    match NAME.as_ref() {
        Some(re) => re.find(s).map_or(0, |m| m.end()),
        None => s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len()),
    }
}
