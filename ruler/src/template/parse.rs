//! Parsing: splitting at `{{ }}`, lexing actions, building `if` trees.

use super::{Arg, Node, Pipeline, MAX_DEPTH};

const FUNCS: [&str; 21] = [
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
    "title",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "printf",
    "toUpper",
    "toLower",
    "index",
    "print",
];
const VARS: [&str; 5] = ["$", "$labels", "$value", "$externalLabels", "$externalURL"];

/// A piece of template source: text, or the inside of `{{ }}`.
enum Item<'a> {
    Text(&'a str),
    Action(&'a str),
}

/// Splits `src` at its actions, applying the `{{-` / `-}}` trims and
/// dropping comments.
fn items(src: &str) -> Result<Vec<Item<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[open + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            text = text.trim_end();
            inner = &inner[1..];
        }
        if !text.is_empty() {
            out.push(Item::Text(text));
        }
        let close = inner
            .find("}}")
            .ok_or_else(|| "unclosed action".to_string())?;
        let mut action = &inner[..close];
        trim_next = false;
        if action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-") {
            action = &action[..action.len() - 1];
            trim_next = true;
        }
        rest = &inner[close + 2..];
        let trimmed = action.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            out.push(Item::Action(trimmed));
        }
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push(Item::Text(text));
    }
    Ok(out)
}

fn too_deep() -> String {
    format!("template nests more than {MAX_DEPTH} levels deep ({{{{if}}}} blocks and parentheses)")
}

/// Parses the pipeline of an action at `depth` levels of nesting.
fn parse_pipeline(action: &str, depth: usize) -> Result<Pipeline, String> {
    let mut lexer = Lexer::new(action, depth);
    let pipe = lexer.pipeline()?;
    if let Some(tok) = lexer.next_token()? {
        return Err(format!("unexpected {tok:?} in command"));
    }
    if pipe.is_empty() {
        return Err("missing value for command".into());
    }
    Ok(pipe)
}

/// How a list of nodes ended.
enum Closer {
    Eof,
    End,
    Else,
    ElseIf(Pipeline),
}

fn keyword(action: &str) -> (&str, &str) {
    let word_end = action
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(action.len());
    (&action[..word_end], action[word_end..].trim_start())
}

/// Parses nodes up to a closing action; `depth` is the number of `{{if}}`
/// blocks around them, at most [`MAX_DEPTH`], so the recursion here and in
/// execution stays small.
fn parse_list<'a>(
    items: &mut std::slice::Iter<'_, Item<'a>>,
    depth: usize,
) -> Result<(Vec<Node>, Closer), String> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let mut nodes = Vec::new();
    while let Some(item) = items.next() {
        let action = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t.to_string()));
                continue;
            }
            Item::Action(a) => *a,
        };
        match keyword(action) {
            ("end", "") => return Ok((nodes, Closer::End)),
            ("else", "") => return Ok((nodes, Closer::Else)),
            ("else", rest) => match keyword(rest) {
                ("if", cond) => return Ok((nodes, Closer::ElseIf(parse_pipeline(cond, depth)?))),
                _ => return Err(format!("unexpected {rest:?} in else")),
            },
            ("if", cond) => {
                let mut branches = vec![(parse_pipeline(cond, depth)?, Vec::new())];
                let mut otherwise = Vec::new();
                loop {
                    let (body, end) = parse_list(items, depth + 1)?;
                    match end {
                        Closer::Eof => return Err("unexpected EOF".into()),
                        Closer::End => {
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                            break;
                        }
                        Closer::ElseIf(next) => {
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                            branches.push((next, Vec::new()));
                        }
                        Closer::Else => {
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                            let (body, end) = parse_list(items, depth + 1)?;
                            if !matches!(end, Closer::End) {
                                return Err("expected end after else".into());
                            }
                            otherwise = body;
                            break;
                        }
                    }
                }
                nodes.push(Node::If(branches, otherwise));
            }
            (
                kw @ ("range" | "with" | "define" | "template" | "block" | "break" | "continue"),
                _,
            ) => {
                return Err(format!("unsupported action {kw:?}"));
            }
            _ => nodes.push(Node::Action(parse_pipeline(action, depth)?)),
        }
    }
    Ok((nodes, Closer::Eof))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Open,
    Close,
    Arg(Arg),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    peeked: Option<Token>,
    /// Nesting of the pipeline being parsed: `{{if}}` blocks around the
    /// action, then parentheses.
    depth: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, depth: usize) -> Self {
        Self {
            src,
            pos: 0,
            peeked: None,
            depth,
        }
    }

    fn peek(&mut self) -> Result<Option<&Token>, String> {
        if self.peeked.is_none() {
            self.peeked = self.lex()?;
        }
        Ok(self.peeked.as_ref())
    }

    fn next_token(&mut self) -> Result<Option<Token>, String> {
        match self.peeked.take() {
            Some(t) => Ok(Some(t)),
            None => self.lex(),
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.src[self.pos..].chars().next().filter(|c| f(*c)) {
            self.pos += c.len_utf8();
        }
        &self.src[start..self.pos]
    }

    fn lex(&mut self) -> Result<Option<Token>, String> {
        self.take_while(char::is_whitespace);
        let Some(c) = self.src[self.pos..].chars().next() else {
            return Ok(None);
        };
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let tok = match c {
            '|' => {
                self.pos += 1;
                Token::Pipe
            }
            '(' => {
                self.pos += 1;
                Token::Open
            }
            ')' => {
                self.pos += 1;
                Token::Close
            }
            '"' => Token::Arg(Arg::Str(self.string()?)),
            '`' => {
                self.pos += 1;
                let s = self.take_while(|c| c != '`');
                if self.pos >= self.src.len() {
                    return Err("unterminated raw quoted string".into());
                }
                self.pos += 1;
                Token::Arg(Arg::Str(s.to_string()))
            }
            '$' => {
                self.pos += 1;
                let name = format!("${}", self.take_while(ident));
                if !VARS.contains(&name.as_str()) {
                    return Err(format!("undefined variable {name:?}"));
                }
                Token::Arg(Arg::Var(name, self.fields()))
            }
            '.' => {
                let fields = self.fields();
                if fields.is_empty() {
                    self.pos += 1;
                }
                Token::Arg(Arg::Field(fields))
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let s = self.take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
                match s.parse::<i64>() {
                    Ok(i) => Token::Arg(Arg::Int(i)),
                    Err(_) => Token::Arg(Arg::Num(
                        s.parse::<f64>()
                            .map_err(|_| format!("bad number syntax: {s:?}"))?,
                    )),
                }
            }
            c if ident(c) => {
                let name = self.take_while(ident);
                if let Ok(b) = name.parse::<bool>() {
                    return Ok(Some(Token::Arg(Arg::Bool(b))));
                }
                if !FUNCS.contains(&name) {
                    return Err(format!("function {name:?} not defined"));
                }
                Token::Arg(Arg::Func(name.to_string()))
            }
            c => return Err(format!("unexpected {c:?} in command")),
        };
        Ok(Some(tok))
    }

    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while self.src[self.pos..].starts_with('.') {
            let rest = &self.src[self.pos + 1..];
            if !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                break;
            }
            self.pos += 1;
            out.push(
                self.take_while(|c| c.is_alphanumeric() || c == '_')
                    .to_string(),
            );
        }
        out
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c @ ('"' | '\\')) => out.push(c),
                    _ => return Err("invalid escape in quoted string".into()),
                },
                c => out.push(c),
            }
        }
        Err("unterminated quoted string".into())
    }

    fn pipeline(&mut self) -> Result<Pipeline, String> {
        let mut pipe = Vec::new();
        let mut cmd = Vec::new();
        loop {
            match self.peek()? {
                None | Some(Token::Close) => break,
                Some(Token::Pipe) => {
                    self.next_token()?;
                    if cmd.is_empty() {
                        return Err("missing command".into());
                    }
                    pipe.push(std::mem::take(&mut cmd));
                }
                Some(Token::Open) => {
                    self.next_token()?;
                    if self.depth >= MAX_DEPTH {
                        return Err(too_deep());
                    }
                    self.depth += 1;
                    let inner = self.pipeline()?;
                    self.depth -= 1;
                    if self.next_token()? != Some(Token::Close) {
                        return Err("unclosed left paren".into());
                    }
                    cmd.push(Arg::Pipe(inner));
                }
                Some(Token::Arg(_)) => {
                    if let Some(Token::Arg(a)) = self.next_token()? {
                        cmd.push(a);
                    }
                }
            }
        }
        if !cmd.is_empty() {
            pipe.push(cmd);
        } else if !pipe.is_empty() {
            return Err("missing command".into());
        }
        Ok(pipe)
    }
}

/// Parses a whole template into nodes.
pub(super) fn parse(src: &str) -> Result<Vec<Node>, String> {
    let items = items(src)?;
    let (nodes, end) = parse_list(&mut items.iter(), 0)?;
    match end {
        Closer::Eof => Ok(nodes),
        Closer::End => Err("unexpected {{end}}".into()),
        Closer::Else | Closer::ElseIf(_) => Err("unexpected {{else}}".into()),
    }
}
