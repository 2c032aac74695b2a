//! Every object key Stratus uses is built here, and only here.
//!
//! ```text
//! tenants/<tenant>/segments/<ULID>.seg      L0 segments written by ingest
//! tenants/<tenant>/blocks/<ULID>.parquet    blocks written by the compactor
//! tenants/<tenant>/catalog.stc              the tenant's catalog
//! ```
//!
//! Later formats (blocks, catalog, rules) add their keys to this module.

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

/// `tenants/<tenant>/catalog.stc`
pub fn catalog(tenant: &TenantId) -> Path {
    Path::from_iter([TENANTS, tenant.as_str(), CATALOG])
}

/// `tenants/<tenant>/blocks/`
pub fn blocks_prefix(tenant: &TenantId) -> Path {
    Path::from_iter([TENANTS, tenant.as_str(), BLOCKS])
}

/// The key of a block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockKey {
    tenant: TenantId,
    id: Ulid,
}

impl BlockKey {
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
        let file = format!("{}{BLOCK_SUFFIX}", self.id);
        Path::from_iter([TENANTS, self.tenant.as_str(), BLOCKS, file.as_str()])
    }

    /// Parses `tenants/<tenant>/blocks/<ULID>.parquet`.
    pub fn parse(path: &Path) -> Option<Self> {
        let parts: Vec<_> = path.parts().collect();
        let [root, tenant, dir, file] = parts.as_slice() else {
            return None;
        };
        if root.as_ref() != TENANTS || dir.as_ref() != BLOCKS {
            return None;
        }
        let id = file.as_ref().strip_suffix(BLOCK_SUFFIX)?;
        Some(Self {
            tenant: TenantId::new(tenant.as_ref()).ok()?,
            id: Ulid::from_string(id).ok()?,
        })
    }
}

/// `tenants/`: the parent of every tenant's objects.
pub fn tenants_root() -> Path {
    Path::from(TENANTS)
}

/// `tenants/<tenant>/`
pub fn tenant_root(tenant: &TenantId) -> Path {
    Path::from_iter([TENANTS, tenant.as_str()])
}

/// `tenants/<tenant>/segments/`
pub fn segments_prefix(tenant: &TenantId) -> Path {
    Path::from_iter([TENANTS, tenant.as_str(), SEGMENTS])
}

/// The tenant a `tenants/<tenant>/...` key belongs to.
pub fn tenant_of(path: &Path) -> Option<TenantId> {
    let mut parts = path.parts();
    if parts.next()?.as_ref() != TENANTS {
        return None;
    }
    TenantId::new(parts.next()?.as_ref()).ok()
}

/// The key of one L0 segment. ULIDs sort by creation time, so a listing in
/// key order is oldest first, and a later segment wins over an earlier one
/// for the same series and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKey {
    tenant: TenantId,
    id: Ulid,
}

impl SegmentKey {
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
        let file = format!("{}{SEGMENT_SUFFIX}", self.id);
        Path::from_iter([TENANTS, self.tenant.as_str(), SEGMENTS, file.as_str()])
    }

    /// Parses `tenants/<tenant>/segments/<ULID>.seg`; anything else is `None`.
    pub fn parse(path: &Path) -> Option<Self> {
        let parts: Vec<_> = path.parts().collect();
        let [root, tenant, dir, file] = parts.as_slice() else {
            return None;
        };
        if root.as_ref() != TENANTS || dir.as_ref() != SEGMENTS {
            return None;
        }
        let id = file.as_ref().strip_suffix(SEGMENT_SUFFIX)?;
        Some(Self {
            tenant: TenantId::new(tenant.as_ref()).ok()?,
            id: Ulid::from_string(id).ok()?,
        })
    }
}

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

    #[test]
    fn keys_sort_by_creation_time() {
        let t = TenantId::anonymous();
        let a = SegmentKey::new(t.clone(), Ulid::from_parts(1000, u128::MAX >> 48));
        let b = SegmentKey::new(t, Ulid::from_parts(1001, 0));
        assert!(a.path().as_ref() < b.path().as_ref());
    }
}
