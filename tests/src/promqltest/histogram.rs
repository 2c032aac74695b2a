//! Native histogram literals in series descriptions, `{{key:value ...}}`,
//! as `lexHistogram` and the `histogram_desc_item` rules read them. Only
//! checked and kept raw: the conformance runner skips native histograms.

use super::cursor::{is_space, scan_number, Cursor};
use super::golang::parse_number;

/// Keys of a native histogram literal `{{key:value ...}}`.
const HISTOGRAM_KEYS: [&str; 11] = [
    "schema",
    "sum",
    "count",
    "z_bucket",
    "z_bucket_w",
    "custom_values",
    "buckets",
    "offset",
    "n_buckets",
    "n_offset",
    "counter_reset_hint",
];

/// A native histogram literal `{{key:value ...}}`, checked against the keys
/// and value shapes of the grammar; returns its raw text.
pub(super) fn scan_histogram(cur: &mut Cursor<'_>) -> Result<String, String> {
    let start = cur.pos;
    cur.bump();
    cur.bump();
    let mut seen: Vec<String> = Vec::new();
    if cur.rest().starts_with(" }}") {
        cur.skip_space();
    }
    loop {
        if cur.rest().starts_with("}}") {
            cur.bump();
            cur.bump();
            return Ok(cur.s[start..cur.pos].to_string());
        }
        let key = cur
            .take_while(|c| c.is_ascii_alphabetic() || c == '_')
            .to_ascii_lowercase();
        if !HISTOGRAM_KEYS.contains(&key.as_str()) {
            let found = if key.is_empty() {
                cur.found()
            } else {
                format!("{key:?}")
            };
            return Err(cur.error(&format!(
                "expected a histogram key like buckets:[5 10 7] or \"}}}}\", found {found}"
            )));
        }
        if cur.bump() != Some(':') {
            return Err(cur.error(&format!("missing \":\" after histogram key {key:?}")));
        }
        if seen.contains(&key) {
            return Err(cur.error(&format!("duplicate key {key:?} in histogram")));
        }
        match key.as_str() {
            "buckets" | "n_buckets" | "custom_values" => scan_bucket_list(cur)?,
            "counter_reset_hint" => {
                let hint = cur.take_while(|c| c.is_ascii_alphabetic() || c == '_');
                if !["unknown", "reset", "not_reset", "gauge"]
                    .contains(&hint.to_ascii_lowercase().as_str())
                {
                    let hint = hint.to_string();
                    return Err(cur.error(&format!("unknown counter_reset_hint {hint:?}")));
                }
            }
            "schema" | "offset" | "n_offset" => {
                if cur.peek() == Some('-') {
                    cur.bump();
                }
                let digits = cur.take_while(|c| c.is_ascii_digit());
                if digits.is_empty() {
                    return Err(
                        cur.error(&format!("expected an integer for histogram key {key:?}"))
                    );
                }
            }
            _ => {
                if cur.peek() == Some('-') && key != "z_bucket_w" {
                    cur.bump();
                }
                scan_histogram_number(cur)?;
            }
        }
        seen.push(key);
        if cur.rest().starts_with("}}") {
            continue;
        }
        if !cur.peek().is_some_and(is_space) {
            let found = cur.found();
            return Err(cur.error(&format!(
                "expected a space or \"}}}}\" in histogram, found {found}"
            )));
        }
        cur.skip_space();
    }
}

fn scan_histogram_number(cur: &mut Cursor<'_>) -> Result<(), String> {
    let text = match cur.peek() {
        Some(c) if c.is_ascii_digit() => scan_number(cur)?,
        Some(c) if c.is_ascii_alphabetic() => {
            cur.take_while(|c| c.is_ascii_alphabetic()).to_string()
        }
        _ => {
            let found = cur.found();
            return Err(cur.error(&format!("expected a number in histogram, found {found}")));
        }
    };
    parse_number(&text).map(|_| ()).map_err(|e| cur.error(&e))
}

/// `[n n ...]`, numbers optionally negative, a space allowed before `]`.
fn scan_bucket_list(cur: &mut Cursor<'_>) -> Result<(), String> {
    if cur.bump() != Some('[') {
        return Err(cur.error("expected \"[\" to start a bucket list"));
    }
    let mut first = true;
    loop {
        if !first && cur.peek().is_some_and(is_space) {
            cur.skip_space();
        }
        if cur.peek() == Some(']') && !first {
            cur.bump();
            return Ok(());
        }
        if cur.peek() == Some('-') {
            cur.bump();
        }
        scan_histogram_number(cur)?;
        first = false;
        if !matches!(cur.peek(), Some(']' | ' ' | '\t')) {
            let found = cur.found();
            return Err(cur.error(&format!(
                "expected a space or \"]\" in bucket list, found {found}"
            )));
        }
    }
}
