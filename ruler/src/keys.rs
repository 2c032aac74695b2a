//! Every object key the ruler uses is built here, and only here.
//!
//! ```text
//! tenants/<tenant>/rules/<namespace>.yaml                       a namespace: a Prometheus rule file
//! tenants/<tenant>/ruler/state/<namespace>/<group>.json         a group's evaluation state
//! tenants/<tenant>/ruler/history/<YYYY-MM-DD>/<t>-<hash>.json   alert transitions of one evaluation
//! ```
//!
//! Namespace and group names are free text (Mimir allows `/` and spaces),
//! so they are escaped into characters that are safe in S3 keys and that
//! `object_store` leaves alone: letters, digits and `-_.'()` stay, every
//! other byte becomes `!XX` (upper-case hex), and a leading `.` is escaped
//! too so no name becomes `.` or `..`.

use stratus_model::TenantId;
use stratus_storage::{keys, ObjectPath};

use crate::timefmt;

const RULES: &str = "rules";
const RULES_SUFFIX: &str = ".yaml";
const RULER: &str = "ruler";
const STATE: &str = "state";
const STATE_SUFFIX: &str = ".json";
const HISTORY: &str = "history";
const HISTORY_SUFFIX: &str = ".json";

/// Escapes a namespace or group name into one key segment.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'\'' | b'(' | b')')
            || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("!{b:02X}"));
        }
    }
    out
}

/// Reverses [`escape`]; `None` for text `escape` never produces.
pub fn unescape(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'!' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `tenants/<tenant>/<parts...>`: under the tenant's folder, as
/// `stratus_storage::keys` names it (tenant ids are escaped there).
fn under(tenant: &TenantId, parts: &[&str]) -> ObjectPath {
    parts
        .iter()
        .fold(keys::tenant_root(tenant), |path, part| path.join(*part))
}

/// `tenants/<tenant>/rules/`
pub fn rules_prefix(tenant: &TenantId) -> ObjectPath {
    under(tenant, &[RULES])
}

/// `tenants/<tenant>/rules/<namespace>.yaml`
pub fn namespace(tenant: &TenantId, namespace: &str) -> ObjectPath {
    let file = format!("{}{RULES_SUFFIX}", escape(namespace));
    under(tenant, &[RULES, &file])
}

/// The namespace a key under [`rules_prefix`] holds.
pub fn namespace_of(path: &ObjectPath) -> Option<String> {
    let file = path.filename()?;
    unescape(file.strip_suffix(RULES_SUFFIX)?)
}

/// `tenants/<tenant>/ruler/state/<namespace>/`
pub fn state_namespace_prefix(tenant: &TenantId, namespace: &str) -> ObjectPath {
    let ns = escape(namespace);
    under(tenant, &[RULER, STATE, &ns])
}

/// `tenants/<tenant>/ruler/state/<namespace>/<group>.json`
pub fn state(tenant: &TenantId, namespace: &str, group: &str) -> ObjectPath {
    let ns = escape(namespace);
    let file = format!("{}{STATE_SUFFIX}", escape(group));
    under(tenant, &[RULER, STATE, &ns, &file])
}

/// `tenants/<tenant>/ruler/history/`
pub fn history_prefix(tenant: &TenantId) -> ObjectPath {
    under(tenant, &[RULER, HISTORY])
}

/// `tenants/<tenant>/ruler/history/<YYYY-MM-DD>/`
pub fn history_day_prefix(tenant: &TenantId, day_ms: i64) -> ObjectPath {
    let day = timefmt::date(day_ms);
    under(tenant, &[RULER, HISTORY, &day])
}

/// The history object of one group evaluation at scheduled time `t_ms`:
/// `<YYYY-MM-DD>/<t_ms, 15 digits>-<hash of namespace and group>.json`, so
/// a listing in key order is in evaluation-time order. The key depends
/// only on the evaluation, so writing it twice writes one object.
pub fn history(tenant: &TenantId, namespace: &str, group: &str, t_ms: i64) -> ObjectPath {
    let day = timefmt::date(t_ms);
    let file = format!(
        "{:015}-{:016x}{HISTORY_SUFFIX}",
        t_ms.max(0),
        fnv1a(&[namespace, group])
    );
    under(tenant, &[RULER, HISTORY, &day, &file])
}

/// The evaluation time a history key carries.
pub fn history_time_of(path: &ObjectPath) -> Option<i64> {
    let file = path.filename()?;
    let (t, _) = file.split_once('-')?;
    t.parse().ok()
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_escaping() {
        for name in [
            "simple", "a/b c", ".", "..", ".hidden", "ünï", "x!y", "%41", "a*b",
        ] {
            let e = escape(name);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.'()!".contains(&b)),
                "{e}"
            );
            assert!(e != "." && e != "..", "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(name), "{e}");
        }
        assert_eq!(escape("team/a"), "team!2Fa");
        assert_eq!(unescape("bad!Z1"), None);
    }

    #[test]
    fn keys_are_where_the_docs_say() {
        let t = TenantId::new("team-a").expect("tenant");
        assert_eq!(
            namespace(&t, "infra/db").as_ref(),
            "tenants/team-a/rules/infra!2Fdb.yaml"
        );
        assert_eq!(
            namespace_of(&namespace(&t, "infra/db")).as_deref(),
            Some("infra/db")
        );
        assert_eq!(
            state(&t, "ns", "my group").as_ref(),
            "tenants/team-a/ruler/state/ns/my!20group.json"
        );
        let h = history(&t, "ns", "g", 1_714_564_800_000);
        assert!(
            h.as_ref()
                .starts_with("tenants/team-a/ruler/history/2024-05-01/001714564800000-"),
            "{h}"
        );
        assert_eq!(history_time_of(&h), Some(1_714_564_800_000));
        assert!(h
            .as_ref()
            .starts_with(history_day_prefix(&t, 1_714_564_800_000).as_ref()));
    }
}
