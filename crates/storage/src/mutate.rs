//! The one read-modify-write of an object in the bucket: read it with its
//! version, apply a pure change, write the result back only if the object
//! is still at that version, and on a lost write read again and redo the
//! change, after a jittered backoff, a bounded number of times
//! (ADR 0026).
//!
//! Every conditional write in Stratus goes through [`put_at_version`],
//! which is also what [`Mutate::run`] uses: the only place that calls
//! [`Bucket::put_if_absent`] and [`Bucket::put_if_match`] and turns their
//! `AlreadyExists` / `PreconditionFailed` into "lost".
//!
//! Each caller has its own format (and checksum), so decoding and encoding
//! are passed in. A caller for which a lost write is an answer, not a
//! reason to try again (a claim: losing means someone else owns the
//! object), makes one attempt with [`Mutate::once`], which answers
//! [`Attempt::Lost`] instead of retrying.
//!
//! There is no `Delete` mutation: the bucket has no conditional delete,
//! and an unconditional one after a read could drop a concurrent write.
//! Callers that empty an object write an empty document instead.

use std::fmt;

use bytes::Bytes;
use object_store::path::Path;
use tracing::debug;

use crate::{Bucket, ObjectVersion, StorageError};

/// Attempts of a [`Mutate`] unless [`Mutate::attempts`] says otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 10;

/// What a change decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation<T, R = ()> {
    /// Write this value (only if the object is still as read); `R` is
    /// handed back in the [`Outcome`].
    Write(T, R),
    /// Write nothing; `R` is handed back.
    Unchanged(R),
}

impl<T> Mutation<T> {
    /// [`Mutation::Write`] with nothing to hand back.
    pub fn write(value: T) -> Self {
        Mutation::Write(value, ())
    }

    /// [`Mutation::Unchanged`] with nothing to hand back.
    pub fn unchanged() -> Self {
        Mutation::Unchanged(())
    }
}

/// How a [`Mutate::run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<T, R> {
    /// What the change handed back, from the attempt that ended the run.
    pub output: R,
    /// The value written, `None` when the change left the object alone.
    pub written: Option<T>,
    /// The object's version now: the one written, or the one read when
    /// nothing was written (`None`: there is no object).
    pub version: Option<ObjectVersion>,
    /// Conditional writes lost to other writers before this outcome.
    pub lost: u32,
}

/// How the single attempt of [`Mutate::once`] went.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt<T, R> {
    /// The change's value was written.
    Written {
        value: T,
        version: ObjectVersion,
        output: R,
    },
    /// The change left the object alone; `version` is the one read
    /// (`None`: there is no object).
    Unchanged {
        version: Option<ObjectVersion>,
        output: R,
    },
    /// Another writer changed the object between our read and our write;
    /// nothing was written.
    Lost { output: R },
}

/// Why a [`Mutate::run`] did not finish. Nothing was written by the
/// attempt that ended it.
#[derive(Debug)]
pub enum MutateError<E> {
    /// The bucket failed (reading or writing).
    Storage(StorageError),
    /// Decoding, the change or encoding returned an error (the change's
    /// own refusals included).
    Failed(E),
    /// Every attempt lost its conditional write to another writer.
    Contention { key: String, attempts: u32 },
}

impl<E: From<StorageError>> MutateError<E> {
    /// The caller's error: a storage error converted, [`MutateError::Failed`]
    /// as is, a contention as `contention(key, attempts)` makes it.
    pub fn or_contention(self, contention: impl FnOnce(String, u32) -> E) -> E {
        match self {
            MutateError::Storage(e) => e.into(),
            MutateError::Failed(e) => e,
            MutateError::Contention { key, attempts } => contention(key, attempts),
        }
    }
}

impl<E: fmt::Display> fmt::Display for MutateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MutateError::Storage(e) => e.fmt(f),
            MutateError::Failed(e) => e.fmt(f),
            MutateError::Contention { key, attempts } => write!(
                f,
                "{key} kept changing: {attempts} conditional writes in a row lost to other writers"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for MutateError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MutateError::Storage(e) => std::error::Error::source(e),
            MutateError::Failed(e) => e.source(),
            MutateError::Contention { .. } => None,
        }
    }
}

/// How one conditional write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; the version to pass to the next conditional write.
    Written(ObjectVersion),
    /// The object was not at the expected version (or, expected absent,
    /// existed): another writer got there first. Nothing was written.
    Lost,
}

/// Writes `data` at `key` only if the object is still at `expected`
/// (`If-Match`), or, with `None`, only if there is none
/// (`If-None-Match: *`). A lost race is [`Put::Lost`], not an error.
///
/// This is the single conditional write: [`Mutate::run`] uses it, and so
/// do the writes fenced by a version held across a longer step (a claim
/// written before an evaluation or a send, a catalog read before a
/// compaction job).
pub async fn put_at_version(
    bucket: &Bucket,
    key: &Path,
    expected: Option<&ObjectVersion>,
    data: Bytes,
) -> Result<Put, StorageError> {
    let r = match expected {
        Some(v) => bucket.put_if_match(key, data, v).await,
        None => bucket.put_if_absent(key, data).await,
    };
    match r {
        Ok(v) => Ok(Put::Written(v)),
        Err(StorageError::PreconditionFailed { .. } | StorageError::AlreadyExists { .. }) => {
            Ok(Put::Lost)
        }
        Err(e) => Err(e),
    }
}

type Decode<'a, T, E> = Box<dyn Fn(&Path, &[u8]) -> Result<T, E> + Send + Sync + 'a>;
type Encode<'a, T, E> = Box<dyn Fn(&Path, &T) -> Result<Bytes, E> + Send + Sync + 'a>;

/// One object, its format, and how often a change of it may lose.
pub struct Mutate<'a, T, E> {
    bucket: &'a Bucket,
    key: &'a Path,
    decode: Decode<'a, T, E>,
    encode: Encode<'a, T, E>,
    attempts: u32,
}

impl<T, E> fmt::Debug for Mutate<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutate")
            .field("key", &self.key.as_ref())
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl<'a, T, E> Mutate<'a, T, E> {
    /// The object at `key`, read with `decode` and written with `encode`
    /// (both get the key, for their errors), with [`DEFAULT_ATTEMPTS`].
    pub fn new(
        bucket: &'a Bucket,
        key: &'a Path,
        decode: impl Fn(&Path, &[u8]) -> Result<T, E> + Send + Sync + 'a,
        encode: impl Fn(&Path, &T) -> Result<Bytes, E> + Send + Sync + 'a,
    ) -> Self {
        Self {
            bucket,
            key,
            decode: Box::new(decode),
            encode: Box::new(encode),
            attempts: DEFAULT_ATTEMPTS,
        }
    }

    /// At most `attempts` conditional writes (at least 1) in
    /// [`Mutate::run`].
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Reads the object (`None`: there is none), decides with `change`,
    /// and writes what it returns if the object is still as read. On a
    /// lost write: a jittered backoff ([`crate::RetryPolicy::backoff`] of
    /// the bucket), then read and decide again, up to the attempts; then
    /// [`MutateError::Contention`]. `change` runs once per attempt, so it
    /// must not have effects beyond its return value.
    pub async fn run<R, F>(&self, mut change: F) -> Result<Outcome<T, R>, MutateError<E>>
    where
        F: FnMut(Option<T>) -> Result<Mutation<T, R>, E>,
    {
        for attempt in 1..=self.attempts {
            let lost = attempt - 1;
            match self.once(&mut change).await? {
                Attempt::Written {
                    value,
                    version,
                    output,
                } => {
                    return Ok(Outcome {
                        output,
                        written: Some(value),
                        version: Some(version),
                        lost,
                    })
                }
                Attempt::Unchanged { version, output } => {
                    return Ok(Outcome {
                        output,
                        written: None,
                        version,
                        lost,
                    })
                }
                Attempt::Lost { .. } if attempt < self.attempts => {
                    let backoff = self.bucket.retry_policy().backoff(attempt);
                    debug!(key = %self.key, attempt, ?backoff, "object changed since it was read; reading it again");
                    tokio::time::sleep(backoff).await;
                }
                Attempt::Lost { .. } => {}
            }
        }
        Err(MutateError::Contention {
            key: self.key.to_string(),
            attempts: self.attempts,
        })
    }

    /// One attempt of [`Mutate::run`], for callers to whom a lost write is
    /// the answer ([`Attempt::Lost`], with what `change` handed back):
    /// nothing is retried.
    pub async fn once<R, F>(&self, change: F) -> Result<Attempt<T, R>, MutateError<E>>
    where
        F: FnOnce(Option<T>) -> Result<Mutation<T, R>, E>,
    {
        let (current, version) = match self.bucket.get(self.key).await {
            Ok((bytes, version)) => (
                Some((self.decode)(self.key, &bytes).map_err(MutateError::Failed)?),
                Some(version),
            ),
            Err(StorageError::NotFound { .. }) => (None, None),
            Err(e) => return Err(MutateError::Storage(e)),
        };
        let (value, output) = match change(current).map_err(MutateError::Failed)? {
            Mutation::Unchanged(output) => return Ok(Attempt::Unchanged { version, output }),
            Mutation::Write(value, output) => (value, output),
        };
        let data = (self.encode)(self.key, &value).map_err(MutateError::Failed)?;
        Ok(
            match put_at_version(self.bucket, self.key, version.as_ref(), data)
                .await
                .map_err(MutateError::Storage)?
            {
                Put::Written(version) => Attempt::Written {
                    value,
                    version,
                    output,
                },
                Put::Lost => Attempt::Lost { output },
            },
        )
    }
}

#[cfg(test)]
mod tests;
