//! `load <step>` blocks (`parseLoad` in `test.go`), including start
//! timestamp lines: `metric{labels}@st <offsets>` for the sample line that
//! follows, or a standalone `@st <offsets>` as the default for the lines
//! after it.

use stratus_model::Labels;

use super::golang::parse_duration_ms;
use super::series::{parse_metric_only, parse_series_desc};
use super::{LineError, Load, LoadSeries, Patterns};

/// Parses the load command at `lines[start]` and its series lines; returns
/// it and the index of the first line after the block.
pub(super) fn parse_load(
    lines: &[&str],
    start: usize,
    pats: &Patterns,
) -> Result<(Load, usize), LineError> {
    let caps = pats.load.captures(lines[start]).ok_or_else(|| {
        LineError::new(
            start,
            format!(
                "invalid load command {:?}, expected load[_with_nhcb] <step>",
                lines[start]
            ),
        )
    })?;
    let with_nhcb = caps.get(1).is_some();
    let step = caps.get(2).map_or("", |m| m.as_str());
    let step_ms = parse_duration_ms(step)
        .map_err(|e| LineError::new(start, format!("invalid step definition {step:?}: {e}")))?;
    let mut load = Load {
        line: start + 1,
        step_ms,
        with_nhcb,
        series: Vec::new(),
    };
    let mut default_st: Vec<Option<i64>> = Vec::new();
    // An `@st` line waiting for its sample line: (index, labels, offsets).
    let mut pending: Option<(usize, Labels, Vec<Option<i64>>)> = None;
    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let line = lines[i];
        if is_st_line(line) {
            if let Some((at, ..)) = pending {
                return Err(LineError::new(at, "@st line has no following sample line"));
            }
            let (labels, offsets) = parse_st_line(line).map_err(|e| LineError::new(i, e))?;
            if labels.is_empty() {
                default_st = offsets;
            } else {
                pending = Some((i, labels, offsets));
            }
            i += 1;
            continue;
        }
        let desc = parse_series_desc(line).map_err(|e| LineError::new(i, e))?;
        let st = match pending.take() {
            Some((at, labels, offsets)) => {
                if labels != desc.labels {
                    return Err(LineError::new(
                        at,
                        format!(
                            "@st metric {labels} does not match the following sample line metric {}",
                            desc.labels
                        ),
                    ));
                }
                if offsets.len() != desc.values.len() {
                    return Err(LineError::new(
                        at,
                        format!(
                            "@st line has {} values but sample line has {}",
                            offsets.len(),
                            desc.values.len()
                        ),
                    ));
                }
                StSource::Explicit(offsets)
            }
            None if default_st.is_empty() => StSource::None,
            None => StSource::Default(default_st.clone()),
        };
        let mut points = Vec::new();
        let mut start_timestamps = Vec::new();
        for (k, value) in desc.values.into_iter().enumerate() {
            let Some(value) = value else { continue };
            let t = i64::try_from(k)
                .ok()
                .and_then(|k| k.checked_mul(step_ms))
                .ok_or_else(|| LineError::new(i, "sample timestamp out of range"))?;
            let offset = match &st {
                StSource::None => None,
                StSource::Explicit(o) => o.get(k).copied().flatten(),
                StSource::Default(o) => o.get(k % o.len()).copied().flatten(),
            };
            points.push((t, value));
            start_timestamps.push(offset.map(|o| t.saturating_add(o)));
        }
        let series = LoadSeries {
            labels: desc.labels,
            points,
            start_timestamps,
        };
        // Upstream keys series by label set: a repeated series replaces the
        // earlier line.
        match load.series.iter_mut().find(|s| s.labels == series.labels) {
            Some(existing) => *existing = series,
            None => load.series.push(series),
        }
        i += 1;
    }
    if let Some((at, ..)) = pending {
        return Err(LineError::new(at, "@st line has no following sample line"));
    }
    Ok((load, i))
}

enum StSource {
    None,
    Explicit(Vec<Option<i64>>),
    Default(Vec<Option<i64>>),
}

/// A start timestamp line: its first field ends in `@st`.
fn is_st_line(line: &str) -> bool {
    line.find([' ', '\t'])
        .is_some_and(|idx| line[..idx].ends_with("@st"))
}

/// `metric{labels}@st <seq>` or `@st <seq>` (empty labels: the default).
fn parse_st_line(line: &str) -> Result<(Labels, Vec<Option<i64>>), String> {
    let idx = line
        .find([' ', '\t'])
        .ok_or_else(|| "invalid @st line: missing value sequence".to_string())?;
    let metric = line[..idx].strip_suffix("@st").unwrap_or(&line[..idx]);
    let offsets = parse_st_sequence(line[idx + 1..].trim())
        .map_err(|e| format!("invalid @st sequence: {e}"))?;
    if metric.is_empty() {
        return Ok((Labels::default(), offsets));
    }
    let labels = parse_metric_only(metric)
        .map_err(|e| format!("invalid @st line metric {metric:?}: {e}"))?;
    Ok((labels, offsets))
}

/// Start timestamp offsets (ms), one per sample position: `_`, `_xN` (N
/// blanks), `*` and `*xN` (repeat the last offset, N+1 times), `<dur>`,
/// `<dur>xN` and `<dur>±<dur>xN` (N+1 offsets), durations optionally
/// signed.
pub(super) fn parse_st_sequence(input: &str) -> Result<Vec<Option<i64>>, String> {
    let mut out: Vec<Option<i64>> = Vec::new();
    for item in input.split_whitespace() {
        let prev = out.iter().rev().find_map(|v| *v).unwrap_or(0);
        let vals =
            parse_st_item(item, prev).map_err(|e| format!("invalid ST item {item:?}: {e}"))?;
        out.extend(vals);
    }
    Ok(out)
}

fn parse_st_item(item: &str, prev: i64) -> Result<Vec<Option<i64>>, String> {
    if item == "_" {
        return Ok(vec![None]);
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n = st_count(n)?;
        if n == 0 {
            return Err("invalid repeat count".to_string());
        }
        return Ok(vec![None; n]);
    }
    if item == "*" {
        return Ok(vec![Some(prev)]);
    }
    if let Some(n) = item.strip_prefix("*x") {
        return Ok(vec![Some(prev); st_count(n)? + 1]);
    }
    let (base, rest) = parse_duration_prefix(item)?;
    if rest.is_empty() {
        return Ok(vec![Some(base)]);
    }
    if let Some(n) = rest.strip_prefix('x') {
        return Ok(vec![Some(base); st_count(n)? + 1]);
    }
    let negative = match rest.as_bytes()[0] {
        b'+' => false,
        b'-' => true,
        c => {
            return Err(format!(
                "unexpected character {:?} after duration",
                char::from(c)
            ))
        }
    };
    let (delta, rest) =
        parse_duration_prefix(&rest[1..]).map_err(|e| format!("invalid step duration: {e}"))?;
    let delta = if negative { -delta } else { delta };
    let n = rest
        .strip_prefix('x')
        .ok_or_else(|| "expected 'x<count>' after step duration".to_string())?;
    let n = st_count(n)?;
    let mut offset = base;
    let mut vals = Vec::with_capacity(n + 1);
    for _ in 0..=n {
        vals.push(Some(offset));
        offset = offset.saturating_add(delta);
    }
    Ok(vals)
}

fn st_count(s: &str) -> Result<usize, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid repeat count".to_string());
    }
    let n: usize = s.parse().map_err(|_| "invalid repeat count".to_string())?;
    if n > 10_000_000 {
        return Err(format!("repeat count {n} is too large"));
    }
    Ok(n)
}

/// An optionally signed duration at the start of `s`: digits, then letters
/// up to an `x`. Returns it in ms and the rest.
fn parse_duration_prefix(s: &str) -> Result<(i64, &str), String> {
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected digits in duration {s:?}"));
    }
    let unit = body[digits..]
        .bytes()
        .take_while(|b| b.is_ascii_alphabetic() && *b != b'x')
        .count();
    let end = digits + unit;
    let ms = parse_duration_ms(&body[..end])
        .map_err(|e| format!("invalid duration {:?}: {e}", &body[..end]))?;
    Ok((if negative { -ms } else { ms }, &body[end..]))
}
