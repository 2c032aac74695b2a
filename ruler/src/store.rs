//! Rule storage per tenant with the semantics of the Mimir/Cortex ruler
//! config API. A namespace is one object, a Prometheus rule file (`groups:`)
//! that `promtool check rules` accepts as is; a group is set, replaced or
//! deleted with a read-modify-write guarded by a conditional write, so
//! concurrent uploads to one namespace never lose each other.
//!
//! | Mimir endpoint | function |
//! |---|---|
//! | `GET /api/v1/rules` | [`RuleStore::namespaces`] |
//! | `GET /api/v1/rules/<namespace>` | [`RuleStore::namespace`] |
//! | `GET /api/v1/rules/<namespace>/<group>` | [`RuleStore::group`] |
//! | `POST /api/v1/rules/<namespace>` (one group as YAML) | [`RuleStore::set_group`] |
//! | `DELETE /api/v1/rules/<namespace>` | [`RuleStore::delete_namespace`] |
//! | `DELETE /api/v1/rules/<namespace>/<group>` | [`RuleStore::delete_group`] |

use std::collections::BTreeMap;

use stratus_model::TenantId;
use stratus_storage::{Bucket, ObjectVersion, StorageError};

use crate::error::{Result, RulerError};
use crate::keys;
use crate::rulefile::{parse_rule_file, parse_rule_group, RuleFile, RuleGroup};
use crate::state;

/// Longest namespace or group name, in bytes (escaped, both must fit an
/// S3 key of 1024 bytes).
pub const MAX_NAME_BYTES: usize = 200;

/// Namespaces starting with this are the ruler's own (the Watchdog).
pub const RESERVED_PREFIX: &str = "__";

/// Conditional-write attempts before giving up with [`RulerError::Contention`].
const MAX_ATTEMPTS: u32 = 10;

const HEADER: &str =
    "# Stratus rule namespace (format version 1), written through the ruler config API.\n";

/// Rule groups per namespace, as `GET /api/v1/rules` answers them.
pub type Namespaces = BTreeMap<String, Vec<RuleGroup>>;

/// The rules of every tenant, in one bucket.
#[derive(Debug, Clone)]
pub struct RuleStore {
    bucket: Bucket,
}

fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(RulerError::BadRequest(format!(
            "{kind} name must not be empty"
        )));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(RulerError::BadRequest(format!(
            "{kind} name is {} bytes long, at most {MAX_NAME_BYTES} are allowed",
            name.len()
        )));
    }
    Ok(())
}

impl RuleStore {
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Every tenant folder in the bucket, whether or not it has rules.
    pub async fn all_tenants(&self) -> Result<Vec<TenantId>> {
        Ok(self.bucket.tenants().await?)
    }

    /// Tenants with at least one stored namespace.
    pub async fn tenants_with_rules(&self) -> Result<Vec<TenantId>> {
        let mut out = Vec::new();
        for t in self.all_tenants().await? {
            if !self.namespace_names(&t).await?.is_empty() {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The names of a tenant's stored namespaces, sorted (possibly
    /// including emptied ones, which read as absent).
    pub async fn namespace_names(&self, tenant: &TenantId) -> Result<Vec<String>> {
        let objects = self.bucket.list(&keys::rules_prefix(tenant)).await?;
        let mut names: Vec<String> = objects
            .iter()
            .filter_map(|o| keys::namespace_of(&o.key))
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// Reads one namespace with its version; `None` when absent.
    async fn load(
        &self,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<Option<(RuleFile, ObjectVersion)>> {
        let key = keys::namespace(tenant, namespace);
        let (bytes, version) = match self.bucket.get(&key).await {
            Ok(r) => r,
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |reason: String| RulerError::Corrupt {
            key: key.to_string(),
            reason,
        };
        let bytes = stratus_storage::sealed::open(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| corrupt(format!("expected UTF-8 YAML, got {e}")))?;
        let file = parse_rule_file(namespace, text).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some((file, version)))
    }

    /// The groups of a namespace; [`RulerError::NamespaceNotFound`] when it
    /// does not exist or has no groups.
    pub async fn namespace(&self, tenant: &TenantId, namespace: &str) -> Result<Vec<RuleGroup>> {
        match self.load(tenant, namespace).await? {
            Some((file, _)) if !file.groups.is_empty() => Ok(file.groups),
            _ => Err(RulerError::NamespaceNotFound {
                namespace: namespace.to_string(),
            }),
        }
    }

    /// Every non-empty namespace of a tenant with its groups.
    pub async fn namespaces(&self, tenant: &TenantId) -> Result<Namespaces> {
        let mut out = Namespaces::new();
        for ns in self.namespace_names(tenant).await? {
            if let Some((file, _)) = self.load(tenant, &ns).await? {
                if !file.groups.is_empty() {
                    out.insert(ns, file.groups);
                }
            }
        }
        Ok(out)
    }

    /// One group; [`RulerError::GroupNotFound`] when absent.
    pub async fn group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<RuleGroup> {
        let groups = self
            .namespace(tenant, namespace)
            .await
            .map_err(|e| match e {
                RulerError::NamespaceNotFound { .. } => RulerError::GroupNotFound {
                    namespace: namespace.to_string(),
                    group: group.to_string(),
                },
                other => other,
            })?;
        groups
            .into_iter()
            .find(|g| g.name == group)
            .ok_or_else(|| RulerError::GroupNotFound {
                namespace: namespace.to_string(),
                group: group.to_string(),
            })
    }

    /// Validates `yaml` (ONE rule group) and stores it in `namespace`,
    /// replacing the group of the same name or appending it. Returns the
    /// stored group.
    pub async fn set_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        yaml: &str,
    ) -> Result<RuleGroup> {
        check_name("namespace", namespace)?;
        if namespace.starts_with(RESERVED_PREFIX) {
            return Err(RulerError::BadRequest(format!(
                "namespace {namespace:?} is reserved: names starting with {RESERVED_PREFIX:?} belong to the ruler"
            )));
        }
        let group = parse_rule_group(namespace, yaml).map_err(RulerError::InvalidRules)?;
        check_name("group", &group.name)?;
        self.update(tenant, namespace, |file| {
            match file.groups.iter_mut().find(|g| g.name == group.name) {
                Some(old) => *old = group.clone(),
                None => file.groups.push(group.clone()),
            }
            Ok(())
        })
        .await?;
        Ok(group)
    }

    /// Deletes one group (and its evaluation state).
    pub async fn delete_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<()> {
        self.update(tenant, namespace, |file| {
            let before = file.groups.len();
            file.groups.retain(|g| g.name != group);
            if file.groups.len() == before {
                return Err(RulerError::GroupNotFound {
                    namespace: namespace.to_string(),
                    group: group.to_string(),
                });
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            RulerError::NamespaceNotFound { .. } => RulerError::GroupNotFound {
                namespace: namespace.to_string(),
                group: group.to_string(),
            },
            other => other,
        })?;
        state::delete(&self.bucket, tenant, namespace, group).await
    }

    /// Deletes a namespace with all its groups (and their state).
    pub async fn delete_namespace(&self, tenant: &TenantId, namespace: &str) -> Result<()> {
        match self.load(tenant, namespace).await? {
            Some((file, _)) if !file.groups.is_empty() => {}
            _ => {
                return Err(RulerError::NamespaceNotFound {
                    namespace: namespace.to_string(),
                })
            }
        }
        self.bucket
            .delete(&keys::namespace(tenant, namespace))
            .await?;
        state::delete_namespace(&self.bucket, tenant, namespace).await
    }

    /// Read, change, write back conditionally; reload and retry when
    /// another writer got there first. An emptied namespace stays as an
    /// object with `groups: []` (an unconditional delete could drop a
    /// group added concurrently); it reads as absent.
    async fn update<F>(&self, tenant: &TenantId, namespace: &str, mut change: F) -> Result<()>
    where
        F: FnMut(&mut RuleFile) -> Result<()>,
    {
        let key = keys::namespace(tenant, namespace);
        for _ in 0..MAX_ATTEMPTS {
            let (mut file, version) = match self.load(tenant, namespace).await? {
                Some(loaded) => (loaded.0, Some(loaded.1)),
                None => (RuleFile::default(), None),
            };
            let existed = !file.groups.is_empty();
            change(&mut file).map_err(|e| match e {
                RulerError::GroupNotFound { .. } if !existed => RulerError::NamespaceNotFound {
                    namespace: namespace.to_string(),
                },
                other => other,
            })?;
            let data = stratus_storage::sealed::seal(render(&file)?.as_bytes());
            let r = match &version {
                Some(v) => self.bucket.put_if_match(&key, data, v).await,
                None => self.bucket.put_if_absent(&key, data).await,
            };
            match r {
                Ok(_) => return Ok(()),
                Err(
                    StorageError::PreconditionFailed { .. } | StorageError::AlreadyExists { .. },
                ) => {
                    tracing::debug!(%tenant, namespace, "namespace changed concurrently, retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RulerError::Contention {
            key: key.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// A namespace as stored: a comment naming the format, then the rule file.
fn render(file: &RuleFile) -> Result<String> {
    let body = serde_yaml::to_string(file)
        .map_err(|e| RulerError::BadRequest(format!("cannot serialise rule group: {e}")))?;
    Ok(format!("{HEADER}{body}"))
}

/// YAML for `GET /api/v1/rules` and `GET /api/v1/rules/<namespace>`: a map
/// from namespace to its list of groups, as Mimir answers.
pub fn namespaces_yaml(namespaces: &Namespaces) -> String {
    serde_yaml::to_string(namespaces).unwrap_or_default()
}

/// YAML for `GET /api/v1/rules/<namespace>/<group>`: the group alone.
pub fn group_yaml(group: &RuleGroup) -> String {
    serde_yaml::to_string(group).unwrap_or_default()
}

#[cfg(test)]
mod tests;
