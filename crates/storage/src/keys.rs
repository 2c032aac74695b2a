//! Every object key Stratus uses is built here, and only here.
//!
//! ```text
//! tenants/<tenant>/segments/<ULID>.seg      L0 segments written by ingest
//! tenants/<tenant>/blocks/<ULID>.parquet    blocks written by the compactor
//! tenants/<tenant>/packs/<ULID>.pack        segment packs written by the compactor
//! tenants/<tenant>/catalog.stc              the tenant's catalog
//! ```
//!
//! `<tenant>` is the tenant id escaped by [`tenant_dir`]: `*` becomes
//! `%2A` (the other characters of a tenant id stay as they are). That is
//! the form `object_store` gave those folders before the escaping was
//! written down, so folders written then are found by [`tenant_from_dir`]
//! too. Other components (ruler, notifier) put their keys under
//! [`tenant_root`]. Layout: `docs/format/keys.md`.

use std::fmt;

use object_store::path::Path;
use stratus_model::TenantId;
use ulid::Ulid;

const TENANTS: &str = "tenants";
const SEGMENTS: &str = "segments";
const SEGMENT_SUFFIX: &str = ".seg";
const BLOCKS: &str = "blocks";
const BLOCK_SUFFIX: &str = ".parquet";
const CATALOG: &str = "catalog.stc";
const PACKS: &str = "packs";
const PACK_SUFFIX: &str = ".pack";
/// `*` in a key segment. Object stores differ on it (Google Cloud Storage
/// advises against it, Windows forbids it in file names), so
/// `object_store` percent-encodes it, and so do we.
const ESCAPED_STAR: &str = "%2A";

/// The folder name of a tenant under `tenants/`: the id with `*` written
/// as `%2A`. Every other character a tenant id may hold (letters, digits,
/// `! - _ . ' ( )`) is kept, and `%` never occurs in an id, so the escaping
/// is reversible.
pub fn tenant_dir(tenant: &TenantId) -> String {
    tenant.as_str().replace('*', ESCAPED_STAR)
}

/// The tenant whose folder under `tenants/` is named `dir`: the reverse
/// of [`tenant_dir`]. `None` for names [`tenant_dir`] never produces.
pub fn tenant_from_dir(dir: &str) -> Option<TenantId> {
    let tenant = TenantId::new(&dir.replace(ESCAPED_STAR, "*")).ok()?;
    (tenant_dir(&tenant) == dir).then_some(tenant)
}

/// `tenants/<tenant>/catalog.stc`
pub fn catalog(tenant: &TenantId) -> Path {
    tenant_root(tenant).join(CATALOG)
}

/// `tenants/<tenant>/blocks/`
pub fn blocks_prefix(tenant: &TenantId) -> Path {
    tenant_root(tenant).join(BLOCKS)
}

/// A key type named `tenants/<tenant>/<dir>/<ULID><suffix>` (`$layout`):
/// a tenant and a ULID, built by `$prefix` and parsed by `parse_ulid_key`.
macro_rules! ulid_key {
    ($(#[$doc:meta])* $name:ident, $layout:literal, $prefix:ident, $dir:expr, $suffix:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            tenant: TenantId,
            id: Ulid,
        }

        impl $name {
            pub fn new(tenant: TenantId, id: Ulid) -> Self {
                Self { tenant, id }
            }

            pub fn tenant(&self) -> &TenantId {
                &self.tenant
            }

            pub fn id(&self) -> Ulid {
                self.id
            }

            pub fn path(&self) -> Path {
                $prefix(&self.tenant).join(format!("{}{}", self.id, $suffix))
            }

            #[doc = concat!("Parses `", $layout, "`; anything else is `None`.")]
            pub fn parse(path: &Path) -> Option<Self> {
                let (tenant, id) = parse_ulid_key(path, $dir, $suffix)?;
                Some(Self { tenant, id })
            }
        }
    };
}

ulid_key!(
    /// The key of a block.
    BlockKey,
    "tenants/<tenant>/blocks/<ULID>.parquet",
    blocks_prefix,
    BLOCKS,
    BLOCK_SUFFIX
);

/// `tenants/<tenant>/packs/`
pub fn packs_prefix(tenant: &TenantId) -> Path {
    tenant_root(tenant).join(PACKS)
}

ulid_key!(
    /// The key of a segment pack: segments merged into one indexed object
    /// (segment format version 2, ADR 0033).
    PackKey,
    "tenants/<tenant>/packs/<ULID>.pack",
    packs_prefix,
    PACKS,
    PACK_SUFFIX
);

/// The tenant and ULID of a `tenants/<tenant>/<dir>/<ULID><suffix>` key;
/// `None` for any other key.
fn parse_ulid_key(path: &Path, dir: &str, suffix: &str) -> Option<(TenantId, Ulid)> {
    let parts: Vec<_> = path.parts().collect();
    let [root, tenant, folder, file] = parts.as_slice() else {
        return None;
    };
    if root.as_ref() != TENANTS || folder.as_ref() != dir {
        return None;
    }
    let id = file.as_ref().strip_suffix(suffix)?;
    Some((
        tenant_from_dir(tenant.as_ref())?,
        Ulid::from_string(id).ok()?,
    ))
}

/// `tenants/`: the parent of every tenant's objects.
pub fn tenants_root() -> Path {
    Path::from(TENANTS)
}

/// `tenants/<tenant>/`: every object of a tenant is under it.
pub fn tenant_root(tenant: &TenantId) -> Path {
    let dir = tenant_dir(tenant);
    // `tenant_dir` yields only characters a key segment holds as they are
    // (no `/`, no control characters, never `.` or `..`), so this parses;
    // the fallback builds the same key through `object_store`'s escaping.
    Path::parse(format!("{TENANTS}/{dir}"))
        .unwrap_or_else(|_| Path::from_iter([TENANTS, tenant.as_str()]))
}

/// `tenants/<tenant>/segments/`
pub fn segments_prefix(tenant: &TenantId) -> Path {
    tenant_root(tenant).join(SEGMENTS)
}

/// The tenant a `tenants/<tenant>/...` key belongs to.
pub fn tenant_of(path: &Path) -> Option<TenantId> {
    let mut parts = path.parts();
    if parts.next()?.as_ref() != TENANTS {
        return None;
    }
    tenant_from_dir(parts.next()?.as_ref())
}

ulid_key!(
    /// The key of one L0 segment. ULIDs sort by creation time, so a listing
    /// in key order is oldest first, and a later segment wins over an
    /// earlier one for the same series and timestamp.
    SegmentKey,
    "tenants/<tenant>/segments/<ULID>.seg",
    segments_prefix,
    SEGMENTS,
    SEGMENT_SUFFIX
);

impl fmt::Display for SegmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_round_trip() {
        let tenant = TenantId::new("team-a").expect("valid");
        let id = Ulid::from_parts(1_700_000_000_000, 42);
        let key = SegmentKey::new(tenant.clone(), id);
        let path = key.path();
        assert_eq!(path.as_ref(), format!("tenants/team-a/segments/{id}.seg"));
        assert_eq!(SegmentKey::parse(&path), Some(key));
        assert_eq!(tenant_of(&path), Some(tenant));
    }

    #[test]
    fn foreign_keys_are_not_segments() {
        for p in [
            "tenants/a/segments/not-a-ulid.seg",
            "tenants/a/blocks/01HZZZZZZZZZZZZZZZZZZZZZZZ.seg",
            "tenants/a/segments/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp",
            "other/a/segments/01HZZZZZZZZZZZZZZZZZZZZZZZ.seg",
            "tenants/../segments/01HZZZZZZZZZZZZZZZZZZZZZZZ.seg",
        ] {
            assert_eq!(SegmentKey::parse(&Path::from(p)), None, "{p}");
        }
    }

    #[test]
    fn block_and_catalog_keys() {
        let t = TenantId::new("t1").expect("tenant");
        let id = Ulid::from_parts(5, 6);
        let k = BlockKey::new(t.clone(), id);
        assert_eq!(k.path().as_ref(), format!("tenants/t1/blocks/{id}.parquet"));
        assert_eq!(BlockKey::parse(&k.path()), Some(k));
        assert_eq!(
            SegmentKey::parse(&BlockKey::new(t.clone(), id).path()),
            None
        );
        assert_eq!(catalog(&t).as_ref(), "tenants/t1/catalog.stc");
    }

    /// Every character Mimir allows in a tenant id.
    pub(crate) const MIMIR_ALPHABET: &str =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!-_.*'()";

    /// Tenant ids over the whole alphabet: each character alone (but `.`),
    /// in pairs with `*` and `.`, and the alphabet cycled to every length
    /// up to 150 bytes.
    pub(crate) fn mimir_ids() -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for c in MIMIR_ALPHABET.chars() {
            ids.push(c.to_string());
            ids.push(format!("{c}*"));
            ids.push(format!("*{c}."));
        }
        for len in 2..=150 {
            ids.push(MIMIR_ALPHABET.chars().cycle().skip(len).take(len).collect());
        }
        ids.retain(|id| id != "." && id != "..");
        ids
    }

    #[test]
    fn every_mimir_tenant_id_round_trips_through_its_folder_name() {
        let ids = mimir_ids();
        for id in ids.iter().chain(&["*".repeat(150), "%2A".to_string()]) {
            let Ok(t) = TenantId::new(id) else {
                assert_eq!(id, "%2A", "{id:?} is a valid Mimir tenant id");
                continue;
            };
            let dir = tenant_dir(&t);
            assert!(!dir.contains('*') && dir != "." && dir != "..", "{dir}");
            assert_eq!(
                tenant_from_dir(&dir).as_ref(),
                Some(&t),
                "{id:?} -> {dir:?}"
            );
            // Keys are built with the folder name as it is.
            assert_eq!(tenant_root(&t).as_ref(), format!("tenants/{dir}"));
            let key = SegmentKey::new(t.clone(), Ulid::from_parts(7, 7));
            assert_eq!(SegmentKey::parse(&key.path()), Some(key.clone()));
            assert_eq!(tenant_of(&key.path()), Some(t.clone()));
            // The form `object_store` gave these folders before: the same.
            assert_eq!(
                Path::from_iter([TENANTS, id.as_str()]),
                tenant_root(&t),
                "{id:?}"
            );
        }
        assert_eq!(tenant_dir(&TenantId::new("a*b").expect("tenant")), "a%2Ab");
        // Names no tenant has: not tenants.
        for dir in ["a%2ab", "a*b", "a%2Fb", "%2E", "", "a b"] {
            assert_eq!(tenant_from_dir(dir), None, "{dir:?}");
        }
    }

    #[test]
    fn keys_sort_by_creation_time() {
        let t = TenantId::anonymous();
        let a = SegmentKey::new(t.clone(), Ulid::from_parts(1000, u128::MAX >> 48));
        let b = SegmentKey::new(t, Ulid::from_parts(1001, 0));
        assert!(a.path().as_ref() < b.path().as_ref());
    }
}
