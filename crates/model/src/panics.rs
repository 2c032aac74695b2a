//! Panics caught at a boundary (an HTTP request, a rule group, a
//! notification, a compaction pass), counted per component for
//! `stratus_panics_total{component}`. A caught panic fails only the work
//! it happened in; the process goes on.

use std::collections::BTreeMap;
use std::sync::Mutex;

static COUNTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Counts one panic caught in `component` (`ingest`, `query`, `ruler`, ...).
pub fn record(component: &'static str) {
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    *counts.entry(component).or_default() += 1;
}

/// Panics caught so far, by component.
pub fn counts() -> Vec<(&'static str, u64)> {
    let counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    counts.iter().map(|(k, v)| (*k, *v)).collect()
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a
/// `String`).
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_component_and_reads_messages() {
        record("test-a");
        record("test-a");
        record("test-b");
        let c = counts();
        assert!(
            c.contains(&("test-a", 2)) && c.contains(&("test-b", 1)),
            "{c:?}"
        );
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).err();
        assert_eq!(p.as_deref().map(message).as_deref(), Some("boom 1"));
        let p = std::panic::catch_unwind(|| panic!("static")).err();
        assert_eq!(p.as_deref().map(message).as_deref(), Some("static"));
    }
}
