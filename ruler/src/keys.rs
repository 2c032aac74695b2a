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
//!
//! Escaping can triple a name, and a file name on a local disk is at most
//! 255 bytes, so a name whose escaped form is longer than
//! [`MAX_SEGMENT_BYTES`] becomes the start of its escaped form, `!!`, and
//! 16 hex digits of the SHA-256 of the name ([`segment`]). Short names keep
//! their readable key; every name a rule upload accepts has a key that fits.
//! A hashed namespace key cannot be read back into its name, so the rule
//! file records the name (see `store.rs`).

use sha2::{Digest, Sha256};
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

/// The longest key segment a namespace or group name becomes, before the
/// `.yaml` / `.json` suffix: with the suffix and the local bucket's staging
/// suffix (`#<n>`) a file name stays far below the 255 bytes of local file
/// systems.
pub const MAX_SEGMENT_BYTES: usize = 200;

/// Separates the readable start of a long name from its hash; `escape`
/// never writes two `!` in a row.
const HASH_MARK: &str = "!!";
/// Hex digits of the hash in a long name's segment (64 bits).
const HASH_HEX: usize = 16;

/// A namespace or group name as one key segment of at most
/// [`MAX_SEGMENT_BYTES`]: [`escape`]d when that fits, otherwise the escaped
/// name cut to fit (never inside a `!XX`), `!!` and 16 hex digits of the
/// name's SHA-256.
pub fn segment(name: &str) -> String {
    let escaped = escape(name);
    if escaped.len() <= MAX_SEGMENT_BYTES {
        return escaped;
    }
    let room = MAX_SEGMENT_BYTES - HASH_MARK.len() - HASH_HEX;
    let bytes = escaped.as_bytes();
    let mut cut = 0;
    while cut < bytes.len() {
        let step = if bytes[cut] == b'!' { 3 } else { 1 };
        if cut + step > room {
            break;
        }
        cut += step;
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(MAX_SEGMENT_BYTES);
    out.push_str(&escaped[..cut]);
    out.push_str(HASH_MARK);
    for b in &digest[..HASH_HEX / 2] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `segment` came from a name too long to escape in full.
fn is_hashed(segment: &str) -> bool {
    segment.contains(HASH_MARK)
}

/// Escapes a namespace or group name into one key segment of any length
/// (see [`segment`] for the bounded one keys use).
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
    let file = format!("{}{RULES_SUFFIX}", segment(namespace));
    under(tenant, &[RULES, &file])
}

/// Where a namespace whose escaped name is longer than
/// [`MAX_SEGMENT_BYTES`] was written before keys were bounded (possible on
/// S3, never on a local disk); `None` when that is [`namespace`] itself.
pub fn legacy_namespace(tenant: &TenantId, namespace: &str) -> Option<ObjectPath> {
    let escaped = escape(namespace);
    (escaped.len() > MAX_SEGMENT_BYTES).then(|| {
        let file = format!("{escaped}{RULES_SUFFIX}");
        under(tenant, &[RULES, &file])
    })
}

/// What a key under [`rules_prefix`] tells of its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceKey {
    /// The key is the escaped name.
    Name(String),
    /// The key holds a hash: the name is recorded in the object.
    Hashed,
}

/// The namespace a key under [`rules_prefix`] holds; `None` for keys the
/// ruler never writes.
pub fn namespace_of(path: &ObjectPath) -> Option<NamespaceKey> {
    let file = path.filename()?;
    let segment = file.strip_suffix(RULES_SUFFIX)?;
    if is_hashed(segment) {
        return Some(NamespaceKey::Hashed);
    }
    unescape(segment).map(NamespaceKey::Name)
}

/// `tenants/<tenant>/ruler/state/<namespace>/`
pub fn state_namespace_prefix(tenant: &TenantId, namespace: &str) -> ObjectPath {
    let ns = segment(namespace);
    under(tenant, &[RULER, STATE, &ns])
}

/// `tenants/<tenant>/ruler/state/<namespace>/<group>.json`
pub fn state(tenant: &TenantId, namespace: &str, group: &str) -> ObjectPath {
    let ns = segment(namespace);
    let file = format!("{}{STATE_SUFFIX}", segment(group));
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
            namespace_of(&namespace(&t, "infra/db")),
            Some(NamespaceKey::Name("infra/db".into()))
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

    #[test]
    fn long_names_get_bounded_readable_hashed_segments() {
        let t = TenantId::new("team-a").expect("tenant");
        // At the bound: kept as escaped.
        let fits = "a".repeat(MAX_SEGMENT_BYTES);
        assert_eq!(segment(&fits), fits);
        assert_eq!(legacy_namespace(&t, &fits), None);
        for name in [
            " ".repeat(200),
            "/".repeat(200),
            "%".repeat(200),
            "é".repeat(100),
            "a".repeat(201),
            format!("team {}", "x/".repeat(100)),
        ] {
            let s = segment(&name);
            assert!(s.len() <= MAX_SEGMENT_BYTES, "{} bytes: {s}", s.len());
            assert!(is_hashed(&s), "{s}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.'()!".contains(&b)),
                "{s}"
            );
            // The readable start is whole escapes of the name's start.
            let start = s.split("!!").next().expect("start");
            let back = unescape(start).expect("the start unescapes");
            assert!(name.starts_with(&back), "{back:?}");
            assert_eq!(segment(&name), s, "stable");
            assert_eq!(
                namespace_of(&namespace(&t, &name)),
                Some(NamespaceKey::Hashed)
            );
            assert!(legacy_namespace(&t, &name).is_some());
        }
        assert_ne!(segment(&"/".repeat(200)), segment(&"/".repeat(199)));
        assert!(segment(&format!("{}a", " ".repeat(200))).starts_with("!20!20"));
    }
}
