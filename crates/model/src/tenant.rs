//! Tenant ids, validated before they ever become part of an object key.

use std::fmt;

/// The tenant used when multi-tenancy is off and no `X-Scope-OrgID` is sent.
pub const ANONYMOUS_TENANT: &str = "anonymous";

const MAX_TENANT_LEN: usize = 150;

/// The one id Mimir reserves for itself.
const MIMIR_RESERVED: &str = "__mimir_cluster";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant id is empty")]
    Empty,
    #[error("tenant id is {0} bytes long, at most {MAX_TENANT_LEN} are allowed")]
    TooLong(usize),
    #[error("tenant id {0:?} is not allowed")]
    Reserved(String),
    #[error("tenant id {id:?} contains {ch:?}; allowed are letters, digits and ! - _ . * ' ( )")]
    InvalidChar { id: String, ch: char },
}

/// A validated tenant id. Follows Mimir's rules: 1 to 150 bytes from
/// `[a-zA-Z0-9!-_.*'()]`, neither `.` nor `..`, and not `__mimir_cluster`
/// (which Mimir uses itself). How an id becomes part of an object key:
/// `stratus_storage::keys::tenant_dir`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: &str) -> Result<Self, TenantError> {
        if id.is_empty() {
            return Err(TenantError::Empty);
        }
        if id.len() > MAX_TENANT_LEN {
            return Err(TenantError::TooLong(id.len()));
        }
        if id == "." || id == ".." || id == MIMIR_RESERVED {
            return Err(TenantError::Reserved(id.to_string()));
        }
        if let Some(ch) = id.chars().find(|c| !is_allowed(*c)) {
            return Err(TenantError::InvalidChar {
                id: id.to_string(),
                ch,
            });
        }
        Ok(Self(id.to_string()))
    }

    pub fn anonymous() -> Self {
        Self(ANONYMOUS_TENANT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = TenantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mimir_style_ids() {
        let longest = "x".repeat(150);
        for ok in [
            "anonymous",
            "team-a",
            "org_1.prod",
            "a(b)*'!",
            "*",
            "...",
            ".a",
            "__tenant",
            longest.as_str(),
        ] {
            assert_eq!(TenantId::new(ok).map(|t| t.to_string()), Ok(ok.to_string()));
        }
    }

    #[test]
    fn rejects_ids_that_could_escape_a_key() {
        assert_eq!(TenantId::new(""), Err(TenantError::Empty));
        assert!(matches!(TenantId::new(".."), Err(TenantError::Reserved(_))));
        assert!(matches!(
            TenantId::new("__mimir_cluster"),
            Err(TenantError::Reserved(_))
        ));
        assert!(matches!(
            TenantId::new("a|b"),
            Err(TenantError::InvalidChar { ch: '|', .. })
        ));
        assert!(matches!(
            TenantId::new("a/b"),
            Err(TenantError::InvalidChar { ch: '/', .. })
        ));
        assert!(matches!(
            TenantId::new("a b"),
            Err(TenantError::InvalidChar { .. })
        ));
        assert!(matches!(
            TenantId::new(&"x".repeat(151)),
            Err(TenantError::TooLong(151))
        ));
    }
}
