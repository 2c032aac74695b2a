//! Series descriptions, the lines under `load` and the expected results of
//! `eval`: `name{label="value", ...} values...`. Follows the series mode of
//! the PromQL lexer (`lexValueSequence`, `lexInsideBraces`, `lexHistogram`
//! in `promql/parser/lex.go`) and the `series_description` grammar in
//! `promql/parser/generated_parser.y`.

use stratus_model::{Labels, METRIC_NAME};

use super::cursor::{is_alnum, is_alpha, is_space, read_string, scan_number, Cursor};
use super::golang::parse_number;
use super::histogram::scan_histogram;
use super::Value;

/// Upper bound for one `xN` repetition, so a typo cannot exhaust memory.
const MAX_REPEAT: u64 = 10_000_000;

/// Keywords the lexer turns into tokens that the `metric_identifier` rule
/// does not accept as a metric name.
const NOT_METRIC_NAMES: [&str; 6] = [
    "atan2",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
];

/// A parsed series description: its labels and the expanded values, `None`
/// for each `_`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<Option<Value>>,
}

/// Parses one series description line (already trimmed).
pub(crate) fn parse_series_desc(input: &str) -> Result<SeriesDesc, String> {
    let mut cur = Cursor::new(input);
    let labels = parse_metric(&mut cur)?;
    let tokens = lex_values(&mut cur)?;
    let values = parse_values(input, &tokens)?;
    Ok(SeriesDesc { labels, values })
}

/// Parses only the `name{labels}` part; the caller checks what follows.
pub(crate) fn parse_metric_only(input: &str) -> Result<Labels, String> {
    let mut cur = Cursor::new(input);
    let labels = parse_metric(&mut cur)?;
    if cur.pos != input.len() {
        return Err(cur.error(&format!("unexpected {:?} after the labels", cur.rest())));
    }
    Ok(labels)
}

/// `metric: metric_identifier label_set | label_set`.
fn parse_metric(cur: &mut Cursor<'_>) -> Result<Labels, String> {
    let mut name = None;
    match cur.peek() {
        Some(c) if is_alpha(c) || c == ':' => {
            let word = cur.take_while(|c| is_alnum(c) || c == ':').to_string();
            let lower = word.to_ascii_lowercase();
            if lower == "inf" || lower == "nan" || NOT_METRIC_NAMES.contains(&lower.as_str()) {
                return Err(cur.error(&format!("{word:?} cannot be a metric name")));
            }
            name = Some(word);
        }
        Some('{') => {}
        _ => {
            let found = cur.found();
            return Err(cur.error(&format!("expected a metric name or \"{{\", found {found}")));
        }
    }
    let mut pairs = Vec::new();
    if cur.peek() == Some('{') {
        parse_label_set(cur, &mut pairs)?;
    }
    if let Some(name) = name {
        // The grammar sets the identifier as `__name__` over the label set.
        pairs.retain(|(n, _)| n != METRIC_NAME);
        pairs.push((METRIC_NAME.to_string(), name));
    }
    Labels::from_pairs(pairs).map_err(|e| cur.error(&format!("invalid labels: {e}")))
}

/// `{}`, `{a="b", ...}` with an optional trailing comma; a lone quoted string
/// is the metric name, a quoted string before `=` a label name.
fn parse_label_set(cur: &mut Cursor<'_>, pairs: &mut Vec<(String, String)>) -> Result<(), String> {
    cur.bump(); // '{'
    cur.skip_space();
    if cur.peek() == Some('}') {
        cur.bump();
        return Ok(());
    }
    loop {
        match cur.peek() {
            Some(c) if is_alpha(c) => {
                let label = cur.take_while(is_alnum).to_string();
                cur.skip_space();
                expect_equals(cur)?;
                cur.skip_space();
                let value = read_string(cur)?;
                pairs.push((label, value));
            }
            Some('"' | '\'' | '`') => {
                let first = read_string(cur)?;
                cur.skip_space();
                if cur.peek() == Some('=') && cur.peek2() != Some('~') {
                    cur.bump();
                    cur.skip_space();
                    let value = read_string(cur)?;
                    pairs.push((first, value));
                } else {
                    pairs.push((METRIC_NAME.to_string(), first));
                }
            }
            _ => {
                let found = cur.found();
                return Err(cur.error(&format!("expected a label name or \"}}\", found {found}")));
            }
        }
        cur.skip_space();
        match cur.bump() {
            Some(',') => {
                cur.skip_space();
                if cur.peek() == Some('}') {
                    cur.bump();
                    return Ok(());
                }
            }
            Some('}') => return Ok(()),
            c => {
                let found = c.map_or("end of line".to_string(), |c| format!("{c:?}"));
                return Err(cur.error(&format!("expected \",\" or \"}}\", found {found}")));
            }
        }
    }
}

fn expect_equals(cur: &mut Cursor<'_>) -> Result<(), String> {
    match (cur.peek(), cur.peek2()) {
        (Some('='), Some('~')) | (Some('!'), Some('=' | '~')) => {
            Err(cur.error("series descriptions take label values (\"=\"), not matchers"))
        }
        (Some('='), _) => {
            cur.bump();
            Ok(())
        }
        _ => {
            let found = cur.found();
            Err(cur.error(&format!("expected \"=\", found {found}")))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Space,
    Add,
    Sub,
    Times,
    Blank,
    Number(String),
    Word(String),
    Histogram(String),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Space => "space".to_string(),
            Tok::Add => "\"+\"".to_string(),
            Tok::Sub => "\"-\"".to_string(),
            Tok::Times => "\"x\"".to_string(),
            Tok::Blank => "\"_\"".to_string(),
            Tok::Number(s) | Tok::Word(s) | Tok::Histogram(s) => format!("{s:?}"),
        }
    }
}

/// A token and the byte range it covers in the line.
type Spanned = (Tok, usize, usize);

/// `lexValueSequence`: the tokens after the labels.
fn lex_values(cur: &mut Cursor<'_>) -> Result<Vec<Spanned>, String> {
    let mut toks = Vec::new();
    while let Some(c) = cur.peek() {
        let start = cur.pos;
        let tok = match c {
            '{' if cur.peek2() == Some('{') => Tok::Histogram(scan_histogram(cur)?),
            c if is_space(c) => {
                cur.skip_space();
                Tok::Space
            }
            '+' | '-' | 'x' | '_' => {
                cur.bump();
                match c {
                    '+' => Tok::Add,
                    '-' => Tok::Sub,
                    'x' => Tok::Times,
                    _ => Tok::Blank,
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && cur.peek2().is_some_and(|d| d.is_ascii_digit())) =>
            {
                Tok::Number(scan_number(cur)?)
            }
            c if is_alpha(c) => {
                let word = cur.take_while(|c| is_alnum(c) || c == ':').to_string();
                // The lexer turns `Inf` and `NaN`, in any case, into numbers.
                if matches!(word.to_ascii_lowercase().as_str(), "inf" | "nan") {
                    Tok::Number(word)
                } else {
                    Tok::Word(word)
                }
            }
            c => return Err(cur.error(&format!("unexpected character {c:?} in series values"))),
        };
        toks.push((tok, start, cur.pos));
    }
    Ok(toks)
}

/// `series_values`: items separated by spaces, each `_`, `_xN`, a value,
/// `vxN`, `v+dxN`, `v-dxN`, a histogram, `hxN`, `h+hxN` or `h-hxN`.
fn parse_values(line: &str, toks: &[Spanned]) -> Result<Vec<Option<Value>>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let err_at = |i: usize, msg: String| {
        let col = toks.get(i).map_or(line.len(), |t| t.1) + 1;
        format!("column {col}: {msg}")
    };
    let found = |i: usize| {
        toks.get(i)
            .map_or("end of line".to_string(), |t| t.0.describe())
    };
    while i < toks.len() {
        if toks[i].0 != Tok::Space {
            return Err(err_at(
                i,
                format!("expected a space before the next value, found {}", found(i)),
            ));
        }
        i += 1;
        let Some((tok, start, _)) = toks.get(i) else {
            break;
        };
        match tok {
            Tok::Blank => {
                i += 1;
                let mut n = 1;
                if toks.get(i).map(|t| &t.0) == Some(&Tok::Times) {
                    n = repeat_count(toks.get(i + 1)).map_err(|e| err_at(i + 1, e))?;
                    i += 2;
                }
                out.extend(std::iter::repeat_n(None, n));
            }
            Tok::Histogram(base) => {
                i += 1;
                match toks.get(i).map(|t| &t.0) {
                    Some(Tok::Times) => {
                        let n = repeat_count(toks.get(i + 1)).map_err(|e| err_at(i + 1, e))?;
                        out.extend(std::iter::repeat_n(
                            Some(Value::Histogram(base.clone())),
                            n + 1,
                        ));
                        i += 2;
                    }
                    Some(Tok::Add | Tok::Sub) => {
                        if !matches!(toks.get(i + 1).map(|t| &t.0), Some(Tok::Histogram(_)))
                            || toks.get(i + 2).map(|t| &t.0) != Some(&Tok::Times)
                        {
                            return Err(err_at(
                                i,
                                "expected {{...}}+{{...}}xN or {{...}}-{{...}}xN".to_string(),
                            ));
                        }
                        let n = repeat_count(toks.get(i + 3)).map_err(|e| err_at(i + 3, e))?;
                        let end = toks.get(i + 3).map_or(line.len(), |t| t.2);
                        let whole = line[*start..end].to_string();
                        out.push(Some(Value::Histogram(base.clone())));
                        out.extend(std::iter::repeat_n(Some(Value::Histogram(whole)), n));
                        i += 4;
                    }
                    _ => out.push(Some(Value::Histogram(base.clone()))),
                }
            }
            _ => {
                let (first, next) = series_value(toks, i).map_err(|e| err_at(i, e))?;
                i = next;
                match toks.get(i).map(|t| &t.0) {
                    Some(Tok::Times) => {
                        let n = repeat_count(toks.get(i + 1)).map_err(|e| err_at(i + 1, e))?;
                        out.extend(std::iter::repeat_n(Some(first), n + 1));
                        i += 2;
                    }
                    Some(Tok::Add | Tok::Sub) => {
                        let delta = signed_number(toks, i).map_err(|e| err_at(i, e))?;
                        if toks.get(i + 2).map(|t| &t.0) != Some(&Tok::Times) {
                            return Err(err_at(
                                i + 2,
                                format!(
                                    "expected \"x\" and a count after the increment, found {}",
                                    found(i + 2)
                                ),
                            ));
                        }
                        let n = repeat_count(toks.get(i + 3)).map_err(|e| err_at(i + 3, e))?;
                        i += 4;
                        match first {
                            Value::Float(mut v) => {
                                // Go adds the increment step by step; so do we.
                                for _ in 0..=n {
                                    out.push(Some(Value::Float(v)));
                                    v += delta;
                                }
                            }
                            other => out.extend(std::iter::repeat_n(Some(other), n + 1)),
                        }
                    }
                    _ => out.push(Some(first)),
                }
            }
        }
    }
    Ok(out)
}

/// `series_value`: `stale`, a number, or `+`/`-` and a number. Returns the
/// value and the index after it.
fn series_value(toks: &[Spanned], i: usize) -> Result<(Value, usize), String> {
    match toks.get(i).map(|t| &t.0) {
        Some(Tok::Word(w)) if w == "stale" => Ok((Value::Stale, i + 1)),
        Some(Tok::Add | Tok::Sub) => Ok((Value::Float(signed_number(toks, i)?), i + 2)),
        Some(Tok::Number(n)) => Ok((Value::Float(number(n)?), i + 1)),
        Some(t) => Err(format!(
            "expected a number, \"stale\", \"_\" or a histogram, found {}",
            t.describe()
        )),
        None => Err("expected a value, found end of line".to_string()),
    }
}

/// `signed_number`: `+` or `-` followed by a number token.
fn signed_number(toks: &[Spanned], i: usize) -> Result<f64, String> {
    let negative = toks.get(i).map(|t| &t.0) == Some(&Tok::Sub);
    match toks.get(i + 1).map(|t| &t.0) {
        Some(Tok::Number(n)) => number(n).map(|v| if negative { -v } else { v }),
        Some(t) => Err(format!(
            "expected a number after the sign, found {}",
            t.describe()
        )),
        None => Err("expected a number after the sign, found end of line".to_string()),
    }
}

/// A number token: digits, or the words `Inf`/`NaN` in any case.
fn number(text: &str) -> Result<f64, String> {
    parse_number(text)
}

/// The `uint` of `xN`: decimal digits only (`strconv.ParseUint(s, 10, 64)`).
fn repeat_count(tok: Option<&Spanned>) -> Result<usize, String> {
    match tok.map(|t| &t.0) {
        Some(Tok::Number(n)) if n.bytes().all(|b| b.is_ascii_digit()) => {
            let v: u64 = n
                .parse()
                .map_err(|e| format!("invalid repetition {n:?}: {e}"))?;
            if v > MAX_REPEAT {
                return Err(format!("repetition {v} is larger than {MAX_REPEAT}"));
            }
            usize::try_from(v).map_err(|e| format!("invalid repetition {n:?}: {e}"))
        }
        Some(t) => Err(format!(
            "expected a repetition count after \"x\", found {}",
            t.describe()
        )),
        None => Err("expected a repetition count after \"x\", found end of line".to_string()),
    }
}
