//! Silences in Alertmanager's v2 API shape, and the pure rules for
//! creating, updating and expiring them. The bucket IO is in `state.rs`.

use serde::{Deserialize, Serialize};

use crate::matcher::{LabelSet, Matcher};
use crate::time::rfc3339;
use crate::{NotifierError, Result};

/// How long expired silences are kept (Alertmanager's default retention).
pub const SILENCE_RETENTION_MS: i64 = 120 * 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// A silence as `GET /api/v2/silences` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    #[serde(with = "rfc3339")]
    pub starts_at: i64,
    #[serde(with = "rfc3339")]
    pub ends_at: i64,
    #[serde(with = "rfc3339")]
    pub updated_at: i64,
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    pub status: SilenceStatus,
}

/// A silence as `POST /api/v2/silences` takes it; with an `id` it updates
/// that silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub matchers: Vec<Matcher>,
    #[serde(with = "rfc3339")]
    pub starts_at: i64,
    #[serde(with = "rfc3339")]
    pub ends_at: i64,
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

impl PostableSilence {
    pub fn new(
        matchers: Vec<Matcher>,
        starts_at: i64,
        ends_at: i64,
        created_by: &str,
        comment: &str,
    ) -> Self {
        Self {
            id: None,
            matchers,
            starts_at,
            ends_at,
            created_by: created_by.into(),
            comment: comment.into(),
        }
    }
}

pub fn state_at(starts_at: i64, ends_at: i64, now: i64) -> SilenceState {
    if now < starts_at {
        SilenceState::Pending
    } else if now < ends_at {
        SilenceState::Active
    } else {
        SilenceState::Expired
    }
}

impl Silence {
    pub fn state(&self, now: i64) -> SilenceState {
        state_at(self.starts_at, self.ends_at, now)
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        crate::matcher::matches_all(&self.matchers, labels)
    }

    fn refresh(&mut self, now: i64) {
        self.status = SilenceStatus {
            state: self.state(now),
        };
    }
}

fn validate(p: &PostableSilence, now: i64) -> Result<()> {
    let bad = |m: String| Err(NotifierError::BadRequest(m));
    if p.matchers.is_empty() {
        return bad("silence has no matchers; at least one is required".into());
    }
    if p.matchers.iter().all(|m| m.matches_value("")) {
        return bad("silence matchers all match the empty string; at least one must not".into());
    }
    if p.ends_at <= p.starts_at {
        return bad("silence endsAt must be after startsAt".into());
    }
    if p.ends_at <= now {
        return bad("silence endsAt is in the past".into());
    }
    Ok(())
}

/// Alertmanager's `canUpdate`: same matchers, and only the changes the
/// silence's state allows (an active one keeps its start and must not end
/// in the past, a pending one must not start in the past).
fn can_update(old: &Silence, new: &PostableSilence, now: i64) -> bool {
    if old.matchers != new.matchers {
        return false;
    }
    match old.state(now) {
        SilenceState::Active => new.starts_at == old.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// Creates or updates a silence in `set`, returning its id. An update that
/// Alertmanager would not do in place expires the old silence and creates a
/// new one with `new_id`.
pub fn upsert(
    set: &mut Vec<Silence>,
    p: PostableSilence,
    now: i64,
    new_id: String,
) -> Result<String> {
    validate(&p, now)?;
    let mut id = new_id;
    if let Some(old_id) = &p.id {
        let old = set
            .iter_mut()
            .find(|s| &s.id == old_id)
            .ok_or_else(|| NotifierError::SilenceNotFound(old_id.clone()))?;
        if can_update(old, &p, now) {
            old.starts_at = p.starts_at;
            old.ends_at = p.ends_at;
            old.comment = p.comment;
            old.created_by = p.created_by;
            old.updated_at = now;
            old.refresh(now);
            return Ok(old.id.clone());
        }
        expire_in_place(old, now);
    }
    if set.iter().any(|s| s.id == id) {
        id = format!("{id}-{}", set.len());
    }
    let mut s = Silence {
        id: id.clone(),
        matchers: p.matchers,
        starts_at: p.starts_at.max(now),
        ends_at: p.ends_at,
        updated_at: now,
        created_by: p.created_by,
        comment: p.comment,
        status: SilenceStatus {
            state: SilenceState::Active,
        },
    };
    s.refresh(now);
    set.push(s);
    Ok(id)
}

fn expire_in_place(s: &mut Silence, now: i64) {
    if s.state(now) == SilenceState::Pending {
        s.starts_at = now;
    }
    s.ends_at = s.ends_at.min(now);
    s.updated_at = now;
    s.refresh(now);
}

/// Expires silence `id` now; an already expired one is an error, as in Alertmanager.
pub fn expire(set: &mut [Silence], id: &str, now: i64) -> Result<()> {
    let s = set
        .iter_mut()
        .find(|s| s.id == id)
        .ok_or_else(|| NotifierError::SilenceNotFound(id.into()))?;
    if s.state(now) == SilenceState::Expired {
        return Err(NotifierError::BadRequest(format!(
            "silence {id} is already expired"
        )));
    }
    expire_in_place(s, now);
    Ok(())
}

/// Drops silences that expired more than the retention ago; true if any went.
pub fn gc(set: &mut Vec<Silence>, now: i64) -> bool {
    let before = set.len();
    set.retain(|s| s.ends_at + SILENCE_RETENTION_MS > now);
    set.len() != before
}

/// The ids of the active silences that match `labels`.
pub fn silenced_by(set: &[Silence], labels: &LabelSet, now: i64) -> Vec<String> {
    set.iter()
        .filter(|s| s.state(now) == SilenceState::Active && s.matches(labels))
        .map(|s| s.id.clone())
        .collect()
}

/// The silences with their status as of `now`.
pub fn with_status(mut set: Vec<Silence>, now: i64) -> Vec<Silence> {
    set.iter_mut().for_each(|s| s.refresh(now));
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::parse_matchers;

    fn post(m: &str, start: i64, end: i64) -> PostableSilence {
        PostableSilence::new(
            parse_matchers(m).expect("matchers"),
            start,
            end,
            "me",
            "why",
        )
    }

    #[test]
    fn lifecycle_pending_active_expired() {
        let mut set = Vec::new();
        let id = upsert(&mut set, post(r#"job="api""#, 100, 200), 50, "a".into()).expect("create");
        assert_eq!(set[0].state(50), SilenceState::Pending);
        assert_eq!(set[0].state(150), SilenceState::Active);
        assert_eq!(set[0].state(200), SilenceState::Expired);
        let labels: LabelSet = [("job".to_string(), "api".to_string())].into();
        assert_eq!(silenced_by(&set, &labels, 150), vec![id.clone()]);
        assert!(silenced_by(&set, &labels, 50).is_empty());
        expire(&mut set, &id, 150).expect("expire");
        assert!(silenced_by(&set, &labels, 150).is_empty());
        assert!(expire(&mut set, &id, 160).is_err());
        assert!(matches!(
            expire(&mut set, "nope", 160),
            Err(NotifierError::SilenceNotFound(_))
        ));
    }

    #[test]
    fn updates_in_place_or_replace_like_alertmanager() {
        let mut set = Vec::new();
        let id = upsert(&mut set, post(r#"a="1""#, 0, 100), 10, "a".into()).expect("create");
        let mut longer = post(r#"a="1""#, 10, 500);
        longer.id = Some(id.clone());
        assert_eq!(
            upsert(&mut set, longer, 20, "b".into()).expect("update"),
            id
        );
        assert_eq!((set.len(), set[0].ends_at), (1, 500));
        let mut other = post(r#"a="2""#, 20, 500);
        other.id = Some(id.clone());
        let new_id = upsert(&mut set, other, 30, "c".into()).expect("replace");
        assert_eq!(new_id, "c");
        assert_eq!(set[0].state(30), SilenceState::Expired);
    }

    #[test]
    fn rejects_invalid_silences() {
        let mut set = Vec::new();
        assert!(upsert(&mut set, post(r#"a="""#, 0, 100), 10, "x".into()).is_err());
        assert!(upsert(&mut set, post(r#"a="1""#, 0, 5), 10, "x".into()).is_err());
        assert!(upsert(&mut set, post(r#"a="1""#, 50, 40), 10, "x".into()).is_err());
    }
}
