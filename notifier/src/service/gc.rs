//! Garbage collection of the notification log: the entries of groups that
//! no longer exist are deleted once their last send is older than
//! `nflog_retention`, a bounded number per tick.
//!
//! Deleting an entry must never make a notifier send again what was sent.
//! The bucket has no conditional delete, so an entry is first *claimed* for
//! collection with a conditional write on the version that was judged
//! (no live claim, last send older than the retention, group gone). A
//! notifier that touched the entry since makes that write fail, and the
//! entry is kept; one that reads it afterwards sees a live claim and stays
//! away until it is deleted. Once it is gone, a returning group starts
//! afresh with `group_wait`, as it would after Alertmanager's retention.
//! The delete is skipped (the claim then simply expires) if the claim is no
//! longer comfortably live.

use std::collections::HashSet;

use rand::seq::SliceRandom;

use stratus_model::TenantId;
use stratus_storage::mutate::{Attempt, MutateError, Mutation};
use stratus_storage::{ObjectInfo, ObjectPath};
use tracing::{debug, warn};

use super::Notifier;
use crate::nflog::{Claim, LogEntry};
use crate::state;
use crate::{NotifierError, Result};

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether `entry` may be collected at `now` (its group being gone): no
/// live claim, and its last send older than `retention_ms`. An entry that
/// records no send says nothing a missing entry would not, so it goes too.
pub(crate) fn collectable(entry: &LogEntry, now: i64, retention_ms: i64) -> bool {
    let claimed = entry.claim.as_ref().is_some_and(|c| c.until_ms > now);
    !claimed
        && entry
            .sent_at_ms
            .is_none_or(|s| s < now.saturating_sub(retention_ms))
}

/// The at most `batch` candidates one tick reads: half of them the least
/// recently written (those most likely past the retention), the others
/// chosen at random among the rest, so entries that stay uncollectable at
/// the front (claimed, unreadable) never stop collection.
pub(crate) fn pick<R: rand::Rng>(
    mut candidates: Vec<ObjectInfo>,
    batch: usize,
    rng: &mut R,
) -> Vec<ObjectInfo> {
    if candidates.len() <= batch {
        return candidates;
    }
    candidates.sort_by(|a, b| (a.last_modified_ms, &a.key).cmp(&(b.last_modified_ms, &b.key)));
    let oldest = batch.div_ceil(2);
    let mut rest = candidates.split_off(oldest);
    let (chosen, _) = rest.partial_shuffle(rng, batch - oldest);
    candidates.extend_from_slice(chosen);
    candidates
}

impl Notifier {
    /// Deletes collectable entries not in `live` (the keys of the groups
    /// that exist now), reading at most `nflog_gc_per_tick` of them (see
    /// [`pick`]). Returns how many were deleted.
    pub(super) async fn collect_nflog(
        &self,
        tenant: &TenantId,
        live: &HashSet<ObjectPath>,
        now: i64,
    ) -> Result<usize> {
        let batch = self.options.nflog_gc_per_tick;
        if batch == 0 {
            return Ok(0);
        }
        let candidates: Vec<ObjectInfo> = self
            .bucket
            .list(&state::nflog_prefix(tenant))
            .await?
            .into_iter()
            .filter(|o| !live.contains(&o.key))
            .collect();
        let candidates = pick(candidates, batch, &mut rand::rng());
        let retention = millis(self.options.nflog_retention);
        let ttl = self.options.claim_ttl;
        let owner = format!("{}/gc", self.instance);
        let mut deleted = 0;
        for info in candidates {
            let key = &info.key;
            // Read, judge and claim in one attempt: an entry changed since
            // it was read is kept, not judged again.
            let attempt = state::object::<LogEntry>(&self.bucket, key)
                .once(|entry| {
                    let Some(entry) = entry.filter(|e| collectable(e, now, retention)) else {
                        return Ok(Mutation::Unchanged(None));
                    };
                    let claimed = LogEntry {
                        claim: Some(Claim {
                            owner: owner.clone(),
                            until_ms: now.saturating_add(millis(ttl)),
                        }),
                        ..entry
                    };
                    Ok(Mutation::Write(claimed, Some(tokio::time::Instant::now())))
                })
                .await;
            let started = match attempt {
                Ok(Attempt::Written {
                    output: Some(started),
                    ..
                }) => started,
                Ok(Attempt::Lost { .. }) => {
                    self.metrics.with(|m| m.nflog_conflicts_total += 1);
                    debug!(tenant = %tenant, key = %key, "notification-log entry changed while collecting, kept");
                    continue;
                }
                Ok(_) => continue,
                Err(MutateError::Failed(e @ NotifierError::Corrupt { .. })) => {
                    warn!(tenant = %tenant, key = %key, error = %e, "unreadable notification-log entry left in place");
                    continue;
                }
                Err(e) => return Err(state::mutate_error(e)),
            };
            if started.elapsed() > ttl / 2 {
                warn!(tenant = %tenant, key = %key, "claim for collection took too long, entry kept until a later tick");
                continue;
            }
            self.bucket.delete(key).await?;
            deleted += 1;
        }
        self.metrics
            .with(|m| m.nflog_collected_total += deleted as u64);
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unclaimed_entries_sent_before_the_retention_are_collectable() {
        let sent = |at: Option<i64>, claim_until: Option<i64>| LogEntry {
            sent_at_ms: at,
            claim: claim_until.map(|until_ms| Claim {
                owner: "other".into(),
                until_ms,
            }),
            ..LogEntry::default()
        };
        let (now, retention) = (10_000, 1_000);
        assert!(collectable(&sent(Some(8_999), None), now, retention));
        assert!(!collectable(&sent(Some(9_000), None), now, retention));
        assert!(!collectable(&sent(Some(0), Some(now + 1)), now, retention));
        assert!(
            collectable(&sent(Some(0), Some(now)), now, retention),
            "expired claim"
        );
        assert!(collectable(&sent(None, None), now, retention));
        assert!(!collectable(&sent(None, Some(now + 1)), now, retention));
    }

    #[test]
    fn picking_takes_the_oldest_half_and_samples_the_rest() {
        let info = |i: i64| ObjectInfo {
            key: ObjectPath::from(format!("nflog/{i:03}.json")),
            size: 1,
            last_modified_ms: 1_000 - i,
            version: stratus_storage::ObjectVersion {
                e_tag: None,
                version: None,
            },
        };
        let all: Vec<ObjectInfo> = (0..100).map(info).collect();
        let mut rng = rand::rng();
        assert_eq!(pick(all[..3].to_vec(), 5, &mut rng).len(), 3);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let picked = pick(all.clone(), 4, &mut rng);
            assert_eq!(picked.len(), 4);
            // The two least recently written (largest i) always come first.
            assert_eq!(picked[0].key, info(99).key);
            assert_eq!(picked[1].key, info(98).key);
            let distinct: HashSet<&ObjectPath> = picked.iter().map(|o| &o.key).collect();
            assert_eq!(distinct.len(), 4, "no candidate twice");
            seen.extend(picked.into_iter().map(|o| o.key));
        }
        assert!(seen.len() > 50, "the rest are sampled, got {}", seen.len());
    }
}
