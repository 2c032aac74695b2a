//! Character-level scanning shared by the series description parser, after
//! the PromQL lexer (`promql/parser/lex.go`): the cursor, strings and
//! numbers.

use super::golang::{unquote, SingleQuotes};

/// A position in one line.
pub(super) struct Cursor<'a> {
    pub(super) s: &'a str,
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    pub(super) fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(super) fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(super) fn take_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.s[start..self.pos]
    }

    pub(super) fn skip_space(&mut self) {
        self.take_while(is_space);
    }

    pub(super) fn error(&self, msg: &str) -> String {
        format!("column {}: {msg}", self.pos + 1)
    }

    pub(super) fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("{c:?}"),
            None => "end of line".to_string(),
        }
    }
}

pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

pub(super) fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

pub(super) fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// A quoted string as the PromQL lexer scans it, unquoted like Prometheus's
/// `strutil.Unquote`.
pub(super) fn read_string(cur: &mut Cursor<'_>) -> Result<String, String> {
    let start = cur.pos;
    let quote = match cur.peek() {
        Some(q @ ('"' | '\'' | '`')) => q,
        _ => {
            let found = cur.found();
            return Err(cur.error(&format!("expected a quoted string, found {found}")));
        }
    };
    cur.bump();
    loop {
        match cur.bump() {
            None => return Err(cur.error("unterminated quoted string")),
            Some('\n') if quote != '`' => return Err(cur.error("unterminated quoted string")),
            Some('\\') if quote != '`' => {
                cur.bump();
            }
            Some(c) if c == quote => break,
            Some(_) => {}
        }
    }
    let raw = &cur.s[start..cur.pos];
    unquote(raw, SingleQuotes::AnyLength).map_err(|e| cur.error(&e))
}

/// The lexer's `scanNumber` in series mode: `[.][d][d._eE]*` with no hex,
/// followed by a non-alphanumeric rune or the `x` of a repetition.
pub(super) fn scan_number(cur: &mut Cursor<'_>) -> Result<String, String> {
    let start = cur.pos;
    let bad =
        |cur: &Cursor<'_>| cur.error(&format!("bad number syntax: {:?}", &cur.s[start..cur.pos]));
    let eat = |cur: &mut Cursor<'_>, set: &str| {
        if cur.peek().is_some_and(|c| set.contains(c)) {
            cur.bump();
            true
        } else {
            false
        }
    };
    eat(cur, ".");
    eat(cur, "0123456789");
    let (mut dot, mut exp) = (false, false);
    while cur.peek().is_some_and(|c| "0123456789._eE".contains(c)) {
        if eat(cur, ".") {
            if dot || eat(cur, "_.") {
                return Err(bad(cur));
            }
            dot = true;
        } else if eat(cur, "eE") {
            if exp {
                return Err(bad(cur));
            }
            exp = true;
            eat(cur, "+-");
            if eat(cur, "._eE") || cur.peek().is_none() {
                return Err(bad(cur));
            }
        } else if eat(cur, "_") {
            if eat(cur, "._eE") || cur.peek().is_none() {
                return Err(bad(cur));
            }
        } else {
            cur.take_while(|c| c.is_ascii_digit());
        }
    }
    if cur.pos == start {
        return Err(bad(cur));
    }
    match cur.peek() {
        Some(c) if c != 'x' && is_alnum(c) => {
            cur.bump();
            Err(bad(cur))
        }
        _ => Ok(cur.s[start..cur.pos].to_string()),
    }
}
