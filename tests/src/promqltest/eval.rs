//! `eval` blocks (`parseEval` and `parseExpect` in `test.go`).

use super::golang::{parse_duration_ms, parse_number, unquote, SingleQuotes};
use super::series::parse_series_desc;
use super::{
    Dialect, Eval, EvalKind, Expectation, Expected, ExpectedSeries, LineError, MessageMatch,
    Patterns,
};

/// Upstream refuses range queries with more points per series than this, so
/// expected values are not padded beyond it.
const MAX_STEPS: i64 = 11_000;

/// Parses the eval command at `lines[start]` and its expectation lines;
/// returns it and the index of the next line to read as a command.
pub(super) fn parse_eval(
    lines: &[&str],
    start: usize,
    pats: &Patterns,
    dialect: Dialect,
) -> Result<(Eval, usize), LineError> {
    let line = lines[start];
    let err = |msg: String| LineError::new(start, msg);
    let (modifier, query, mut kind) = if let Some(c) = pats.eval_instant.captures(line) {
        let at = c.get(2).map_or("", |m| m.as_str());
        let at_ms = parse_duration_ms(at)
            .map_err(|e| err(format!("invalid timestamp definition {at:?}: {e}")))?;
        (c.get(1), c.get(3), EvalKind::Instant { at_ms })
    } else if let Some(c) = pats.eval_range.captures(line) {
        let get = |k| c.get(k).map_or("", |m| m.as_str());
        let (start_ms, end_ms, step_ms) = parse_range(get(2), get(3), get(4)).map_err(err)?;
        (
            c.get(1),
            c.get(5),
            EvalKind::Range {
                start_ms,
                end_ms,
                step_ms,
            },
        )
    } else {
        return Err(err(format!(
            "invalid evaluation command {line:?}, expected 'eval[_fail|_warn|_info|_ordered] instant [at <time>] <query>' \
             or 'eval[_fail|_warn|_info] range from <time> to <time> step <duration> <query>'"
        )));
    };
    let modifier = modifier.map_or("", |m| m.as_str());
    let mut b = Builder {
        fail: (modifier == "fail").then_some(MessageMatch::Any),
        warn: if modifier == "warn" {
            Expectation::Expected(MessageMatch::Any)
        } else {
            Expectation::Unspecified
        },
        info: if modifier == "info" {
            Expectation::Expected(MessageMatch::Any)
        } else {
            Expectation::Unspecified
        },
        ordered: modifier == "ordered",
        ..Builder::default()
    };
    let eval_fail = modifier == "fail";
    let is_instant = matches!(kind, EvalKind::Instant { .. });
    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let l = lines[i];
        let here = move |msg: String| LineError::new(i, msg);
        if eval_fail {
            if let Some(msg) = l.strip_prefix("expected_fail_message") {
                let msg = msg.trim();
                b.fail = Some(if msg.is_empty() {
                    MessageMatch::Any
                } else {
                    MessageMatch::Exact(msg.to_string())
                });
                i += 1;
                break;
            }
            if let Some(pattern) = l.strip_prefix("expected_fail_regexp") {
                let pattern = pattern.trim();
                check_regex(pattern).map_err(|e| {
                    here(format!(
                        "invalid regexp {pattern:?} for expected_fail_regexp: {e}"
                    ))
                })?;
                b.fail = Some(MessageMatch::Regex(pattern.to_string()));
                i += 1;
                break;
            }
        }
        if l.starts_with("expect range vector") {
            let c = pats
                .expect_range
                .captures(l)
                .ok_or_else(|| here(format!("invalid range vector definition {l:?}")))?;
            let get = |k| c.get(k).map_or("", |m| m.as_str());
            b.range_vector = Some(parse_range(get(1), get(2), get(3)).map_err(here)?);
        } else if l.starts_with("expect string") {
            b.string = Some(parse_string_literal(l).map_err(here)?);
        } else if l.split(' ').next() == Some("expect") {
            b.expect(l, pats).map_err(here)?;
        } else if let Ok(v) = parse_number(l) {
            b.scalar = Some((i, v));
            i += 1;
            break;
        } else {
            let desc = parse_series_desc(l).map_err(here)?;
            if desc.values.len() > 1 && is_instant && b.range_vector.is_none() {
                return Err(here(
                    "expecting multiple values in instant evaluation not allowed; \
                     use 'expect range vector' for a range vector result"
                        .to_string(),
                ));
            }
            if is_instant && b.range_vector.is_none() && desc.values.is_empty() {
                return Err(here(format!(
                    "expected series {} has no value",
                    desc.labels
                )));
            }
            let series = ExpectedSeries {
                labels: desc.labels,
                values: desc.values,
            };
            // Upstream keys expectations by label set: the last line wins.
            b.series.retain(|s| s.labels != series.labels);
            b.series.push(series);
        }
        i += 1;
    }
    let expected = b.expected(start, &mut kind)?;
    if dialect == Dialect::Legacy && b.warn == Expectation::Unspecified {
        // Before `expect` lines, warnings not asked for had to be absent.
        // Infos were not checked unless asked for: v3.0's engine emits the
        // "might not be a counter" info for `rate(http_requests[..])`,
        // which v3.0's files evaluate with a plain `eval`.
        b.warn = Expectation::Absent;
    }
    let eval = Eval {
        line: start + 1,
        query: query.map_or("", |m| m.as_str()).to_string(),
        kind,
        expect_fail: b.fail,
        expect_warn: b.warn,
        expect_info: b.info,
        ordered: b.ordered,
        expected,
    };
    Ok((eval, i))
}

#[derive(Default)]
struct Builder {
    fail: Option<MessageMatch>,
    warn: Expectation,
    info: Expectation,
    ordered: bool,
    /// Which of fail, warn, info came from `expect` lines.
    fail_line: bool,
    warn_line: bool,
    info_line: bool,
    range_vector: Option<(i64, i64, i64)>,
    string: Option<String>,
    scalar: Option<(usize, f64)>,
    series: Vec<ExpectedSeries>,
}

impl Builder {
    /// `expect <type> [msg: <text> | regex: <pattern>]`.
    fn expect(&mut self, line: &str, pats: &Patterns) -> Result<(), String> {
        let c = pats.expect.captures(line.trim()).ok_or_else(|| {
            format!(
                "invalid expect statement {line:?}, expected `expect <type> [msg|regex: <text>]`"
            )
        })?;
        let mode = c.get(1).map_or("", |m| m.as_str());
        let text = c.get(3).map_or("", |m| m.as_str().trim());
        let m = match c.get(2).map(|m| m.as_str()) {
            Some("msg") => MessageMatch::Exact(text.to_string()),
            Some(_) => {
                check_regex(text).map_err(|e| format!("invalid regex {text:?} for {mode}: {e}"))?;
                MessageMatch::Regex(text.to_string())
            }
            None => MessageMatch::Any,
        };
        match mode {
            "ordered" => self.ordered = true,
            "fail" => {
                if self.fail_line {
                    return Err(
                        "invalid expect lines, multiple expect fail lines are not allowed"
                            .to_string(),
                    );
                }
                self.fail_line = true;
                self.fail = Some(m);
            }
            "warn" | "no_warn" => set_annotation(&mut self.warn, &mut self.warn_line, mode, m)?,
            _ => set_annotation(&mut self.info, &mut self.info_line, mode, m)?,
        }
        Ok(())
    }

    /// Resolves what the eval expects; may move a range eval's range to the
    /// one of `expect range vector`.
    fn expected(&mut self, start: usize, kind: &mut EvalKind) -> Result<Expected, LineError> {
        let mut series = std::mem::take(&mut self.series);
        if let Some(s) = self.string.take() {
            if !series.is_empty() || self.scalar.is_some() {
                return Err(LineError::new(
                    start,
                    "eval expects a string and also series or a scalar",
                ));
            }
            return Ok(Expected::String(s));
        }
        if let Some((at, v)) = self.scalar {
            if !series.is_empty() || self.range_vector.is_some() {
                return Err(LineError::new(
                    at,
                    "eval expects a scalar and also series or a range vector",
                ));
            }
            return Ok(Expected::Scalar(v));
        }
        match (*kind, self.range_vector) {
            (EvalKind::Instant { .. }, Some((start_ms, end_ms, step_ms))) => {
                pad(&mut series, start_ms, end_ms, step_ms);
                *kind = EvalKind::Instant { at_ms: end_ms };
                Ok(Expected::RangeVector {
                    start_ms,
                    end_ms,
                    step_ms,
                    series,
                })
            }
            (EvalKind::Range { .. }, Some((start_ms, end_ms, step_ms))) => {
                pad(&mut series, start_ms, end_ms, step_ms);
                *kind = EvalKind::Range {
                    start_ms,
                    end_ms,
                    step_ms,
                };
                Ok(Expected::Series(series))
            }
            (
                EvalKind::Range {
                    start_ms,
                    end_ms,
                    step_ms,
                },
                None,
            ) => {
                pad(&mut series, start_ms, end_ms, step_ms);
                Ok(Expected::Series(series))
            }
            (EvalKind::Instant { .. }, None) => Ok(Expected::Series(series)),
        }
    }
}

fn set_annotation(
    slot: &mut Expectation,
    from_line: &mut bool,
    mode: &str,
    m: MessageMatch,
) -> Result<(), String> {
    let (kind, absent) = match mode.strip_prefix("no_") {
        Some(kind) => (kind, true),
        None => (mode, false),
    };
    match (&*slot, absent) {
        (Expectation::Absent, false) | (Expectation::Expected(_), true) => Err(format!(
            "invalid expect lines, {kind} and no_{kind} cannot be used together"
        )),
        (Expectation::Expected(_), false) if *from_line => Err(format!(
            "more than one expect {kind} line: this parser keeps a single {kind} expectation"
        )),
        (_, true) => {
            *slot = Expectation::Absent;
            Ok(())
        }
        (_, false) => {
            *from_line = true;
            *slot = Expectation::Expected(m);
            Ok(())
        }
    }
}

/// Pads each series with `None` up to the number of steps in the range.
fn pad(series: &mut [ExpectedSeries], start_ms: i64, end_ms: i64, step_ms: i64) {
    if step_ms <= 0 || end_ms < start_ms {
        return;
    }
    let steps = (end_ms - start_ms) / step_ms + 1;
    if steps > MAX_STEPS {
        return;
    }
    let steps = usize::try_from(steps).unwrap_or(0);
    for s in series {
        if s.values.len() < steps {
            s.values.resize(steps, None);
        }
    }
}

/// `from`, `to` and `step` durations; `to` must not be before `from`.
fn parse_range(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let from_ms = parse_duration_ms(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let to_ms = parse_duration_ms(to)
        .map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if to_ms < from_ms {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step_ms =
        parse_duration_ms(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((from_ms, to_ms, step_ms))
}

/// `expect string "<Go string literal>"` (also raw `` `...` `` strings).
fn parse_string_literal(line: &str) -> Result<String, String> {
    let literal = line.strip_prefix("expect string ").unwrap_or(line);
    if line == "expect string" || literal.is_empty() {
        return Err(
            "expected string literal not valid - a quoted string literal is required".to_string(),
        );
    }
    unquote(literal, SingleQuotes::OneChar).map_err(|e| {
        format!(
            "expected string literal not valid - check that the string is correctly quoted: {e}"
        )
    })
}

/// Upstream compiles patterns with Go's RE2; the Rust `regex` syntax is
/// close enough to reject what RE2 would.
fn check_regex(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
