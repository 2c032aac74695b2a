//! Rewriting Go regex syntax into the `regex` crate's.

use std::fmt::Write;

/// Go's POSIX class names.
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// Rewrites a Go pattern into the `regex` crate's syntax, collecting the
/// capture group names. `None` for patterns Go rejects.
pub(super) struct Translator {
    chars: Vec<char>,
    pos: usize,
    out: String,
    names: Vec<Option<String>>,
    /// The previous token was a repetition (`a**` is an error in Go).
    after_repeat: bool,
}

impl Translator {
    pub(super) fn new(pattern: &str) -> Self {
        Self {
            chars: pattern.chars().collect(),
            pos: 0,
            out: String::with_capacity(pattern.len() * 2),
            names: vec![None],
            after_repeat: false,
        }
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    pub(super) fn run(mut self) -> Option<(String, Vec<Option<String>>)> {
        while let Some(c) = self.peek(0) {
            let repeat = match c {
                '\\' => {
                    self.escape()?;
                    false
                }
                '[' => {
                    self.class()?;
                    false
                }
                '(' => {
                    self.group()?;
                    false
                }
                '*' | '+' | '?' => {
                    if self.after_repeat {
                        return None;
                    }
                    self.out.push(c);
                    self.pos += 1;
                    self.lazy_suffix();
                    true
                }
                '{' => self.brace()?,
                ')' | '|' | '^' | '$' | '.' => {
                    self.out.push(c);
                    self.pos += 1;
                    false
                }
                c => {
                    self.literal(c);
                    self.pos += 1;
                    false
                }
            };
            self.after_repeat = repeat;
        }
        Some((self.out, self.names))
    }

    fn literal(&mut self, c: char) {
        if c.is_alphanumeric() || c == '_' {
            self.out.push(c);
        } else {
            let _ = write!(self.out, "\\x{{{:x}}}", c as u32);
        }
    }

    /// Copies a non-greedy `?` after a repetition operator.
    fn lazy_suffix(&mut self) {
        if self.peek(0) == Some('?') {
            self.out.push('?');
            self.pos += 1;
        }
    }

    /// `{`: a repetition `{n}`, `{n,}` or `{n,m}`, else a literal brace.
    /// Returns whether it was a repetition.
    fn brace(&mut self) -> Option<bool> {
        let Some((min, max, len)) = self.parse_repeat() else {
            self.out.push_str("\\{");
            self.pos += 1;
            return Some(false);
        };
        if self.after_repeat || min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
            return None;
        }
        for c in &self.chars[self.pos..self.pos + len] {
            self.out.push(*c);
        }
        self.pos += len;
        self.lazy_suffix();
        Some(true)
    }

    /// Parses `{min[,[max]]}` at the cursor: (min, max (None = open),
    /// length in chars). Leading zeros make it a literal, as in Go.
    fn parse_repeat(&self) -> Option<(u32, Option<u32>, usize)> {
        let mut i = self.pos + 1;
        let min = self.parse_int(&mut i)?;
        let max = if self.chars.get(i) == Some(&',') {
            i += 1;
            if self.chars.get(i) == Some(&'}') {
                None
            } else {
                Some(self.parse_int(&mut i)?)
            }
        } else {
            Some(min)
        };
        (self.chars.get(i) == Some(&'}')).then_some((min, max, i + 1 - self.pos))
    }

    fn parse_int(&self, i: &mut usize) -> Option<u32> {
        let start = *i;
        while self.chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        let digits: String = self.chars[start..*i].iter().collect();
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        // Huge counts are a repeat-size error, not a literal: saturate.
        Some(digits.parse().unwrap_or(u32::MAX))
    }

    /// `(`: a capture group, a named group or a flag group.
    fn group(&mut self) -> Option<()> {
        self.pos += 1;
        if self.peek(0) != Some('?') {
            self.names.push(None);
            self.out.push('(');
            return Some(());
        }
        let named = match (self.peek(1), self.peek(2)) {
            (Some('P'), Some('<')) => Some(3),
            (Some('<'), _) => Some(2),
            _ => None,
        };
        if let Some(skip) = named {
            self.pos += skip;
            let end = self.chars[self.pos..].iter().position(|c| *c == '>')?;
            let name: String = self.chars[self.pos..self.pos + end].iter().collect();
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid
                || self
                    .names
                    .iter()
                    .any(|n| n.as_deref() == Some(name.as_str()))
            {
                return None;
            }
            self.pos += end + 1;
            self.names.push(Some(name));
            self.out.push('(');
            return Some(());
        }
        self.flags()
    }

    /// `(?flags)` or `(?flags:`, cursor on the `?`. Go knows `i m s U` and
    /// one `-`; the last mention of a flag wins.
    fn flags(&mut self) -> Option<()> {
        self.pos += 1;
        let mut state: Vec<(char, bool)> = Vec::new();
        let mut negated = false;
        let mut saw_flag = false;
        loop {
            let c = self.peek(0)?;
            self.pos += 1;
            match c {
                'i' | 'm' | 's' | 'U' => {
                    state.retain(|(f, _)| *f != c);
                    state.push((c, !negated));
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        return None;
                    }
                    let on: String = state.iter().filter(|s| s.1).map(|s| s.0).collect();
                    let off: String = state.iter().filter(|s| !s.1).map(|s| s.0).collect();
                    let mut flags = on;
                    if !off.is_empty() {
                        flags.push('-');
                        flags.push_str(&off);
                    }
                    if c == ':' {
                        let _ = write!(self.out, "(?{flags}:");
                    } else if !flags.is_empty() {
                        let _ = write!(self.out, "(?{flags})");
                    }
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A backslash outside a class.
    fn escape(&mut self) -> Option<()> {
        let c = self.peek(1)?;
        match c {
            'A' | 'z' => {
                self.out.push('\\');
                self.out.push(c);
                self.pos += 2;
            }
            'b' | 'B' => {
                let _ = write!(self.out, "(?-u:\\{c})");
                self.pos += 2;
            }
            'Q' => {
                self.pos += 2;
                while self.pos < self.chars.len() {
                    if self.peek(0) == Some('\\') && self.peek(1) == Some('E') {
                        self.pos += 2;
                        break;
                    }
                    let lit = self.chars[self.pos];
                    self.literal(lit);
                    self.pos += 1;
                }
            }
            _ => {
                if let Some(class) = self.unicode_class()? {
                    self.out.push_str(&class);
                } else if let Some((perl, negated)) = perl_class(c) {
                    let caret = if negated { "^" } else { "" };
                    let _ = write!(self.out, "[{caret}{perl}]");
                    self.pos += 2;
                } else {
                    let lit = self.escaped_char()?;
                    self.literal(lit);
                }
            }
        }
        Some(())
    }

    /// `\pX`, `\p{Name}`, `\PX`, `\P{Name}` (Go also allows `{^Name}`) at
    /// the cursor, rewritten for the crate; `Some(None)` if not one.
    fn unicode_class(&mut self) -> Option<Option<String>> {
        let (Some('\\'), Some(p @ ('p' | 'P'))) = (self.peek(0), self.peek(1)) else {
            return Some(None);
        };
        let mut negated = p == 'P';
        let name: String = match self.peek(2)? {
            '{' => {
                let end = self.chars[self.pos + 3..].iter().position(|c| *c == '}')?;
                let name: String = self.chars[self.pos + 3..self.pos + 3 + end]
                    .iter()
                    .collect();
                self.pos += 4 + end;
                name
            }
            c => {
                self.pos += 3;
                c.to_string()
            }
        };
        let name = match name.strip_prefix('^') {
            Some(rest) => {
                negated = !negated;
                rest.to_owned()
            }
            None => name,
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let p = if negated { 'P' } else { 'p' };
        Some(Some(format!("\\{p}{{{name}}}")))
    }

    /// Go's `parseEscape`: the character a backslash sequence stands for
    /// (punctuation, octal, `\x`, C escapes), consuming it.
    fn escaped_char(&mut self) -> Option<char> {
        let c = self.peek(1)?;
        self.pos += 2;
        let octal = |c: Option<char>| c.and_then(|c| c.to_digit(8));
        match c {
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Some(c),
            '0'..='7' => {
                let first = c.to_digit(8)?;
                if first != 0 && octal(self.peek(0)).is_none() {
                    return None; // A lone \1-\7 is a backreference.
                }
                let mut r = first;
                for _ in 0..2 {
                    let Some(d) = octal(self.peek(0)) else { break };
                    r = r * 8 + d;
                    self.pos += 1;
                }
                char::from_u32(r)
            }
            'x' => {
                if self.peek(0)? == '{' {
                    let end = self.chars[self.pos + 1..].iter().position(|c| *c == '}')?;
                    let hex: String = self.chars[self.pos + 1..self.pos + 1 + end]
                        .iter()
                        .collect();
                    self.pos += end + 2;
                    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        return None;
                    }
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
                } else {
                    let hi = self.peek(0)?.to_digit(16)?;
                    let lo = self.peek(1)?.to_digit(16)?;
                    self.pos += 2;
                    char::from_u32(hi * 16 + lo)
                }
            }
            'a' => Some('\u{7}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            _ => None,
        }
    }

    /// A character class, cursor on `[`.
    fn class(&mut self) -> Option<()> {
        self.pos += 1;
        let mut body = String::new();
        if self.peek(0) == Some('^') {
            body.push('^');
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek(0)?;
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == '[' && self.peek(1) == Some(':') {
                if let Some(posix) = self.posix_class()? {
                    body.push_str(&posix);
                    continue;
                }
            }
            if let Some(class) = self.unicode_class()? {
                body.push_str(&class);
                continue;
            }
            if c == '\\' {
                if let Some((perl, negated)) = self.peek(1).and_then(perl_class) {
                    if negated {
                        let _ = write!(body, "[^{perl}]");
                    } else {
                        body.push_str(perl);
                    }
                    self.pos += 2;
                    continue;
                }
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.peek(0) == Some('-') && self.peek(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return None;
                }
            }
            let _ = write!(body, "\\x{{{:x}}}", lo as u32);
            if hi != lo {
                let _ = write!(body, "-\\x{{{:x}}}", hi as u32);
            }
        }
        let _ = write!(self.out, "[{body}]");
        Some(())
    }

    /// `[:name:]` or `[:^name:]` inside a class. `Some(None)` if there is
    /// no closing `:]` (then `[` is a literal); `None` for unknown names.
    fn posix_class(&mut self) -> Option<Option<String>> {
        let rest = &self.chars[self.pos + 2..];
        let Some(end) = rest.windows(2).position(|w| w == [':', ']']) else {
            return Some(None);
        };
        let name: String = rest[..end].iter().collect();
        if !POSIX_CLASSES.contains(&name.trim_start_matches('^')) || name.matches('^').count() > 1 {
            return None;
        }
        self.pos += end + 4;
        Some(Some(format!("[:{name}:]")))
    }

    /// One character inside a class, literal or escaped.
    fn class_char(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        if c == '\\' {
            self.escaped_char()
        } else {
            self.pos += 1;
            Some(c)
        }
    }
}

/// Go's Perl classes are ASCII-only: the crate's class body for `\d \s \w`
/// and whether the escape is the negated form.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        's' => Some(("\\t\\n\\x0C\\r ", false)),
        'S' => Some(("\\t\\n\\x0C\\r ", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}
