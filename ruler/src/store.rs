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
//! | `POST /api/v1/rules/<namespace>` (one group, or a whole rule file, as YAML) | [`RuleStore::set_groups`] |
//! | `DELETE /api/v1/rules/<namespace>` | [`RuleStore::delete_namespace`] |
//! | `DELETE /api/v1/rules/<namespace>/<group>` | [`RuleStore::delete_group`] |

use std::collections::{BTreeMap, BTreeSet};

use stratus_model::TenantId;
use stratus_storage::mutate::{Mutate, Mutation};
use stratus_storage::{Bucket, ObjectPath, StorageError};

use crate::error::{Result, RulerError};
use crate::keys::{self, NamespaceKey};
use crate::rulefile::{load_rule_file, parse_rule_upload, LoadedGroup, RuleGroup};
use crate::state;

/// Longest namespace or group name, in bytes. Any name up to this long
/// has a key of bounded length ([`keys::segment`]), on S3 and on a local
/// disk alike.
pub const MAX_NAME_BYTES: usize = 200;

/// Namespaces starting with this are the ruler's own (the Watchdog).
pub const RESERVED_PREFIX: &str = "__";

/// Conditional-write attempts before giving up with [`RulerError::Contention`].
const MAX_ATTEMPTS: u32 = 10;

const HEADER: &str =
    "# Stratus rule namespace (format version 1), written through the ruler config API.\n";

/// The comment that records the namespace's name (JSON-quoted): a long
/// name's key is a hash and cannot be read back.
const NAME_LINE: &str = "# namespace: ";

/// Rule groups per namespace, as `GET /api/v1/rules` answers them.
pub type Namespaces = BTreeMap<String, Vec<RuleGroup>>;

/// Every namespace of a tenant as the ruler reads it: its groups, each
/// with what keeps it from being evaluated, or why the namespace cannot be
/// read at all.
pub type LoadedNamespaces = Vec<(String, Result<Vec<LoadedGroup>>)>;

/// The rules of every tenant, in one bucket.
#[derive(Debug, Clone)]
pub struct RuleStore {
    bucket: Bucket,
}

/// A namespace object as read.
struct Loaded {
    groups: Vec<LoadedGroup>,
    /// Where it was read: the namespace's key, or its legacy key.
    key: ObjectPath,
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

/// The name a namespace object records, if it records one.
fn recorded_name(text: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(NAME_LINE))
        .and_then(|quoted| serde_json::from_str(quoted).ok())
}

/// The text of a namespace object, checksum checked.
fn open_text<'a>(key: &ObjectPath, bytes: &'a [u8]) -> Result<&'a str> {
    let corrupt = |reason: String| RulerError::Corrupt {
        key: key.to_string(),
        reason,
    };
    let bytes = stratus_storage::sealed::open(bytes).map_err(|e| corrupt(e.to_string()))?;
    std::str::from_utf8(bytes).map_err(|e| corrupt(format!("expected UTF-8 YAML, got {e}")))
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
    /// including emptied ones, which read as absent). A long name's key is
    /// a hash: its name is read from the object.
    pub async fn namespace_names(&self, tenant: &TenantId) -> Result<Vec<String>> {
        let objects = self.bucket.list(&keys::rules_prefix(tenant)).await?;
        let mut names = BTreeSet::new();
        for o in &objects {
            match keys::namespace_of(&o.key) {
                Some(NamespaceKey::Name(n)) => {
                    names.insert(n);
                }
                Some(NamespaceKey::Hashed) => {
                    let bytes = match self.bucket.get(&o.key).await {
                        Ok((bytes, _)) => bytes,
                        Err(StorageError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    match open_text(&o.key, &bytes).map(recorded_name) {
                        Ok(Some(n)) if keys::namespace(tenant, &n) == o.key => {
                            names.insert(n);
                        }
                        Ok(_) => tracing::warn!(%tenant, key = %o.key,
                            "rule namespace object does not record the name its key was made from, ignored"),
                        Err(e) => {
                            tracing::warn!(%tenant, error = %e, "unreadable rule namespace ignored")
                        }
                    }
                }
                None => {}
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Reads one namespace; `None` when absent.
    async fn load(&self, tenant: &TenantId, namespace: &str) -> Result<Option<Loaded>> {
        let mut key = keys::namespace(tenant, namespace);
        let mut got = self.bucket.get(&key).await;
        if let (Err(StorageError::NotFound { .. }), Some(legacy)) =
            (&got, keys::legacy_namespace(tenant, namespace))
        {
            // Only S3 can hold such a key; a local disk refuses the long
            // file name, which means the same: not there.
            match self.bucket.get(&legacy).await {
                Ok(found) => {
                    got = Ok(found);
                    key = legacy;
                }
                Err(e) => {
                    tracing::debug!(%tenant, namespace, error = %e, "no rule namespace at the legacy key");
                }
            }
        }
        let (bytes, _) = match got {
            Ok(r) => r,
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let groups = decode(namespace, &key, &bytes)?;
        Ok(Some(Loaded { groups, key }))
    }

    /// The groups of a namespace, as stored (groups that fail the checks
    /// included); [`RulerError::NamespaceNotFound`] when it does not exist
    /// or has no groups.
    pub async fn namespace(&self, tenant: &TenantId, namespace: &str) -> Result<Vec<RuleGroup>> {
        Ok(self
            .namespace_loaded(tenant, namespace)
            .await?
            .into_iter()
            .map(|g| g.group)
            .collect())
    }

    /// As [`RuleStore::namespace`], each group with what keeps it from
    /// being evaluated.
    pub async fn namespace_loaded(
        &self,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<Vec<LoadedGroup>> {
        match self.load(tenant, namespace).await? {
            Some(l) if !l.groups.is_empty() => Ok(l.groups),
            _ => Err(RulerError::NamespaceNotFound {
                namespace: namespace.to_string(),
            }),
        }
    }

    /// Every non-empty namespace of a tenant with its groups.
    pub async fn namespaces(&self, tenant: &TenantId) -> Result<Namespaces> {
        let mut out = Namespaces::new();
        for (ns, groups) in self.load_all(tenant).await? {
            let groups: Vec<RuleGroup> = groups?.into_iter().map(|g| g.group).collect();
            out.insert(ns, groups);
        }
        Ok(out)
    }

    /// Every non-empty namespace of a tenant, for the ruler and the rules
    /// API: one that cannot be read is there with its error, so it stops
    /// nothing else. `Err` only when the namespaces cannot be listed.
    pub async fn load_all(&self, tenant: &TenantId) -> Result<LoadedNamespaces> {
        let mut out = Vec::new();
        for ns in self.namespace_names(tenant).await? {
            match self.load(tenant, &ns).await {
                Ok(Some(l)) if !l.groups.is_empty() => out.push((ns, Ok(l.groups))),
                Ok(_) => {}
                Err(e) => out.push((ns, Err(e))),
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
            .map_err(|e| missing_namespace_as_group(e, namespace, group))?;
        groups
            .into_iter()
            .find(|g| g.name == group)
            .ok_or_else(|| group_not_found(namespace, group))
    }

    /// Validates `yaml` (one rule group, or a whole rule file: see
    /// [`parse_rule_upload`]) and stores its groups in `namespace`, each
    /// replacing the group of the same name or appended, in one write.
    /// Groups of the namespace that `yaml` does not name are kept. Returns
    /// the stored groups.
    pub async fn set_groups(
        &self,
        tenant: &TenantId,
        namespace: &str,
        yaml: &str,
    ) -> Result<Vec<RuleGroup>> {
        check_name("namespace", namespace)?;
        if namespace.starts_with(RESERVED_PREFIX) {
            return Err(RulerError::BadRequest(format!(
                "namespace {namespace:?} is reserved: names starting with {RESERVED_PREFIX:?} belong to the ruler"
            )));
        }
        let groups = parse_rule_upload(namespace, yaml).map_err(RulerError::InvalidRules)?;
        let mut loaded = Vec::with_capacity(groups.len());
        for group in &groups {
            check_name("group", &group.name)?;
            let raw = serde_yaml::to_value(group)
                .map_err(|e| RulerError::BadRequest(format!("cannot serialise rule group: {e}")))?;
            loaded.push(LoadedGroup {
                group: group.clone(),
                error: None,
                raw,
            });
        }
        self.update(tenant, namespace, |stored| {
            for new in &loaded {
                match stored.iter_mut().find(|g| g.group.name == new.group.name) {
                    Some(old) => *old = new.clone(),
                    None => stored.push(new.clone()),
                }
            }
            Ok(())
        })
        .await?;
        Ok(groups)
    }

    /// Deletes one group (and its evaluation state).
    pub async fn delete_group(
        &self,
        tenant: &TenantId,
        namespace: &str,
        group: &str,
    ) -> Result<()> {
        self.update(tenant, namespace, |groups| {
            let before = groups.len();
            groups.retain(|g| g.group.name != group);
            if groups.len() == before {
                return Err(group_not_found(namespace, group));
            }
            Ok(())
        })
        .await
        .map_err(|e| missing_namespace_as_group(e, namespace, group))?;
        state::delete(&self.bucket, tenant, namespace, group).await
    }

    /// Deletes a namespace with all its groups (and their state).
    pub async fn delete_namespace(&self, tenant: &TenantId, namespace: &str) -> Result<()> {
        let key = match self.load(tenant, namespace).await? {
            Some(l) if !l.groups.is_empty() => l.key,
            _ => {
                return Err(RulerError::NamespaceNotFound {
                    namespace: namespace.to_string(),
                })
            }
        };
        self.bucket.delete(&key).await?;
        state::delete_namespace(&self.bucket, tenant, namespace).await
    }

    /// Read, change, write back conditionally; reload and retry when
    /// another writer got there first ([`Mutate`]). An emptied namespace
    /// stays as an object with `groups: []` (an unconditional delete could
    /// drop a group added concurrently); it reads as absent. A namespace
    /// found at its legacy key moves to its key.
    async fn update<F>(&self, tenant: &TenantId, namespace: &str, mut change: F) -> Result<()>
    where
        F: FnMut(&mut Vec<LoadedGroup>) -> Result<()>,
    {
        let key = keys::namespace(tenant, namespace);
        // Only S3 can hold a legacy key; a local disk refuses the long file
        // name, which means the same: not there. It is used when nothing
        // is at the key, and then moved there.
        let legacy = match keys::legacy_namespace(tenant, namespace) {
            Some(old) => match self.bucket.get(&old).await {
                Ok((bytes, _)) => Some((old, bytes)),
                Err(e) => {
                    tracing::debug!(%tenant, namespace, error = %e, "no rule namespace at the legacy key");
                    None
                }
            },
            None => None,
        };
        let outcome = Mutate::new(
            &self.bucket,
            &key,
            |key, bytes| decode(namespace, key, bytes),
            |_, groups: &Vec<LoadedGroup>| {
                Ok(stratus_storage::sealed::seal(
                    render(namespace, groups)?.as_bytes(),
                ))
            },
        )
        .attempts(MAX_ATTEMPTS)
        .run(|current| {
            let (mut groups, from_legacy) = match (current, &legacy) {
                (Some(groups), _) => (groups, false),
                (None, Some((old, bytes))) => (decode(namespace, old, bytes)?, true),
                (None, None) => (Vec::new(), false),
            };
            let existed = !groups.is_empty();
            change(&mut groups).map_err(|e| match e {
                RulerError::GroupNotFound { .. } if !existed => RulerError::NamespaceNotFound {
                    namespace: namespace.to_string(),
                },
                other => other,
            })?;
            Ok(Mutation::Write(groups, from_legacy))
        })
        .await
        .map_err(|e| e.or_contention(|key, attempts| RulerError::Contention { key, attempts }))?;
        if outcome.output {
            if let Some((old, _)) = legacy {
                self.bucket.delete(&old).await?;
            }
        }
        Ok(())
    }
}

/// [`RulerError::GroupNotFound`] for `group` in `namespace`.
fn group_not_found(namespace: &str, group: &str) -> RulerError {
    RulerError::GroupNotFound {
        namespace: namespace.to_string(),
        group: group.to_string(),
    }
}

/// A call about one group of a namespace that does not exist reports the
/// group as not found; other errors pass through.
fn missing_namespace_as_group(e: RulerError, namespace: &str, group: &str) -> RulerError {
    match e {
        RulerError::NamespaceNotFound { .. } => group_not_found(namespace, group),
        other => other,
    }
}

/// The groups of the namespace object read at `key`, checksum checked;
/// [`RulerError::Corrupt`] when it is not a rule file or records another
/// namespace.
fn decode(namespace: &str, key: &ObjectPath, bytes: &[u8]) -> Result<Vec<LoadedGroup>> {
    let text = open_text(key, bytes)?;
    let corrupt = |reason: String| RulerError::Corrupt {
        key: key.to_string(),
        reason,
    };
    if let Some(recorded) = recorded_name(text) {
        if recorded != namespace {
            return Err(corrupt(format!(
                "expected the rules of namespace {namespace:?}, the object holds {recorded:?}"
            )));
        }
    }
    load_rule_file(namespace, text).map_err(corrupt)
}

/// A namespace as stored: comments naming the format and the namespace,
/// then the rule file; each group as it was stored unless it was replaced.
fn render(namespace: &str, groups: &[LoadedGroup]) -> Result<String> {
    let file = BTreeMap::from([(
        "groups",
        groups.iter().map(|g| g.raw.clone()).collect::<Vec<_>>(),
    )]);
    let body = serde_yaml::to_string(&file)
        .map_err(|e| RulerError::BadRequest(format!("cannot serialise rule group: {e}")))?;
    let name = serde_json::to_string(namespace)
        .map_err(|e| RulerError::BadRequest(format!("cannot quote the namespace name: {e}")))?;
    Ok(format!("{HEADER}{NAME_LINE}{name}\n{body}"))
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
