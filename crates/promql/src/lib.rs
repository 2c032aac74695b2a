//! PromQL text in and out with bounds: every query, rule expression and
//! `match[]` selector Stratus reads is parsed here, and every recursive
//! walk over a parsed expression runs inside [`stack_guard`].
//!
//! The parser (`promql-parser`, an LR parser) has no limits of its own, and
//! its AST is a tree of boxes: dropping, cloning, printing or evaluating a
//! deep tree recurses once per level. Two bounds make that safe on any
//! thread (ADR 0023):
//! - the text is at most [`MAX_QUERY_BYTES`] long, and it is parsed on a
//!   stack sized for that length, so no text can overflow the parser;
//! - the tree nests at most [`MAX_DEPTH`] levels, measured without
//!   recursion, so what the parser crate does recursively (drop, clone,
//!   `Display`, `prettify`) fits in a default 2 MiB thread stack;
//! - Stratus's own walks call [`stack_guard`] at each level, which moves to
//!   a fresh stack segment when the current one runs low.

mod durations;

use promql_parser::parser::Expr;

/// The longest query text accepted, in bytes (256 KiB: far above what
/// Grafana or a rule file produces).
pub const MAX_QUERY_BYTES: usize = 256 * 1024;

/// The deepest expression accepted: nodes on the longest path from the
/// root, so `1+1+1` is 3 levels and `((1))` is 3.
pub const MAX_DEPTH: usize = 1_000;

/// Bounds of one parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_QUERY_BYTES,
            max_depth: MAX_DEPTH,
        }
    }
}

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("query is {len} bytes long, more than the {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("expression nests {depth} levels deep, more than the {max} allowed")]
    TooDeep { depth: usize, max: usize },
    /// The parser's own message, with its position (`1:5: parse error: ...`).
    #[error("{0}")]
    Syntax(String),
}

/// Parses PromQL within the default [`Limits`].
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    parse_with(text, Limits::default())
}

/// Expressions whose depth bound is at most this are parsed on the
/// caller's stack.
const SMALL_DEPTH: usize = 256;

/// Stack for parsing anything deeper: the parser's own recursion and the
/// drop of a refused tree stay far below it.
const PARSE_STACK: usize = 64 * 1024 * 1024;

/// Parses PromQL within `limits`.
///
/// The parser's cost grows with the text's size times its depth, so the
/// depth is bounded before parsing, from the tokens alone
/// ([`depth_bound`]); a text whose bound is more than twice the limit is
/// refused unparsed, one within it is parsed and then measured exactly.
pub fn parse_with(text: &str, limits: Limits) -> Result<Expr, ParseError> {
    if text.len() > limits.max_bytes {
        return Err(ParseError::TooLong {
            len: text.len(),
            max: limits.max_bytes,
        });
    }
    let bound = depth_bound(text);
    if bound > limits.max_depth.saturating_mul(2) {
        return Err(ParseError::TooDeep {
            depth: bound,
            max: limits.max_depth,
        });
    }
    let run = || {
        // Durations Go's time.Duration does not hold: the crate reads some
        // as zero, accepts others (300y) and panics on numbers of seconds
        // past what std's Duration holds (offset 1e20), so they are
        // refused before it sees them.
        if let Some(m) = durations::out_of_range(text) {
            return Err(ParseError::Syntax(m));
        }
        let expr = promql_parser::parser::parse(text)
            .map_err(|m| ParseError::Syntax(with_position(text, prometheus_wording(m))))?;
        let d = depth(&expr);
        if d > limits.max_depth {
            // Dropped here, on the large stack, not by the caller.
            drop(expr);
            return Err(ParseError::TooDeep {
                depth: d,
                max: limits.max_depth,
            });
        }
        Ok(expr)
    };
    if bound <= SMALL_DEPTH {
        run()
    } else {
        stacker::grow(PARSE_STACK, run)
    }
}

/// The parser's message in Prometheus's words where they differ: a bad
/// duration is quoted as Go's `%q` quotes it (`not a valid duration
/// string: "1m1h"`), as `model.ParseDuration` says everywhere else.
fn prometheus_wording(message: String) -> String {
    const BAD_DURATION: &str = "not a valid duration string: ";
    let Some(at) = message.find(BAD_DURATION) else {
        return message;
    };
    let start = at + BAD_DURATION.len();
    let rest = &message[start..];
    if rest.starts_with('"') {
        return message;
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    format!(
        "{}{}{}",
        &message[..start],
        stratus_model::strutil::quote(&rest[..end]),
        &rest[end..]
    )
}

/// Lexer errors at `line:column` as Prometheus gives them
/// (`1:16: parse error: unclosed left parenthesis`): the parser crate says
/// what is wrong but not where. Errors at the end of the text (an unclosed
/// parenthesis, brace or bracket) are placed after its last character,
/// errors at one character (`unexpected character: '~'`) at that
/// character. Other messages (the grammar's `invalid promql query`, type
/// errors) are left as the crate words them: it keeps no position for them.
fn with_position(text: &str, message: String) -> String {
    const AT_END: [(&str, &str); 3] = [
        ("unclosed left parenthesis", "unclosed left parenthesis"),
        (
            "unexpected end of input inside braces",
            "unexpected end of input inside braces",
        ),
        (
            "unexpected end of input inside brackets",
            "unclosed left bracket",
        ),
    ];
    const AT_CHAR: [&str; 3] = [
        "unexpected character: ",
        "unexpected character inside braces: ",
        "unexpected right bracket ",
    ];
    if let Some((_, said)) = AT_END.iter().find(|(crate_says, _)| message == *crate_says) {
        return format!(
            "{}: parse error: {said}",
            durations::position(text, text.len())
        );
    }
    if !AT_CHAR.iter().any(|p| message.starts_with(p)) {
        return message;
    }
    // The lexer reads left to right and stops at the first error, so the
    // shortest prefix that fails with the same message ends with the
    // character at fault; shorter ones lex or fail otherwise.
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let fails = |end: usize| {
        promql_parser::parser::lex::lexer(&text[..end])
            .err()
            .is_some_and(|e| e == message)
    };
    let first = ends.partition_point(|&end| !fails(end));
    match ends.get(first) {
        Some(&end) if fails(end) => {
            let at = text[..end].char_indices().next_back().map_or(0, |(i, _)| i);
            format!("{}: parse error: {message}", durations::position(text, at))
        }
        _ => message,
    }
}

/// An upper bound of the depth of `text`'s expression, from its tokens
/// alone and in one pass: every node of the tree above a leaf comes from an
/// operator (binary, unary, a subquery's `[`) or a parenthesis (a
/// parenthesised expression, a call, an aggregation), so a group between
/// parentheses is at most its operators plus two deeper than its deepest
/// inner group. Strings, comments and `{...}` matchers are skipped.
pub fn depth_bound(text: &str) -> usize {
    // (operators, deepest inner group) of each open group.
    let mut groups: Vec<(usize, usize)> = vec![(0, 0)];
    let close = |groups: &mut Vec<(usize, usize)>| {
        if groups.len() > 1 {
            if let Some((ops, inner)) = groups.pop() {
                let d = ops.saturating_add(inner).saturating_add(2);
                if let Some(parent) = groups.last_mut() {
                    parent.1 = parent.1.max(d);
                }
            }
        }
    };
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' | b'`' => {
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'{' => {
                // Matchers: strings inside may hold `}`.
                while i < b.len() && b[i] != b'}' {
                    if b[i] == b'"' || b[i] == b'\'' || b[i] == b'`' {
                        let q = b[i];
                        i += 1;
                        while i < b.len() && b[i] != q {
                            if b[i] == b'\\' && q != b'`' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            b'(' => groups.push((0, 0)),
            b')' => close(&mut groups),
            b'[' => {
                // A subquery (or a range, a leaf): one node at most.
                if let Some(g) = groups.last_mut() {
                    g.0 += 1;
                }
                while i < b.len() && b[i] != b']' {
                    i += 1;
                }
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' | b'!' | b'=' => {
                if matches!(b.get(i), Some(b'=')) {
                    i += 1;
                }
                if let Some(g) = groups.last_mut() {
                    g.0 += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i - 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &text[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    if let Some(g) = groups.last_mut() {
                        g.0 += 1;
                    }
                }
            }
            _ => {}
        }
    }
    while groups.len() > 1 {
        close(&mut groups);
    }
    let (ops, inner) = groups[0];
    ops.saturating_add(inner).saturating_add(1)
}

/// The number of nodes on the longest path from `expr` to a leaf, counted
/// without recursion.
pub fn depth(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut todo: Vec<(&Expr, usize)> = vec![(expr, 1)];
    while let Some((e, d)) = todo.pop() {
        deepest = deepest.max(d);
        for_each_child(e, |c| todo.push((c, d + 1)));
    }
    deepest
}

/// Calls `f` with each direct sub-expression of `e`.
pub fn for_each_child<'e>(e: &'e Expr, mut f: impl FnMut(&'e Expr)) {
    match e {
        Expr::Aggregate(a) => {
            f(&a.expr);
            if let Some(p) = &a.param {
                f(p);
            }
        }
        Expr::Unary(u) => f(&u.expr),
        Expr::Binary(b) => {
            f(&b.lhs);
            f(&b.rhs);
        }
        Expr::Paren(p) => f(&p.expr),
        Expr::Subquery(s) => f(&s.expr),
        Expr::Call(c) => c.args.args.iter().for_each(|a| f(a)),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => {}
    }
}

/// Stack left below which [`stack_guard`] moves to a new segment.
const RED_ZONE: usize = 256 * 1024;
/// Size of each new stack segment.
const SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f`, first moving to a fresh stack segment if less than a red zone
/// of the current one is left. Every recursive walk over an expression
/// calls it once per level, so no depth of expression overflows the stack
/// of whatever thread the walk runs on.
#[inline]
pub fn stack_guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

#[cfg(test)]
mod tests;
