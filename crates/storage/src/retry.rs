//! Bounded retries with exponential backoff and jitter.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How [`crate::Bucket`] retries retryable failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub max_backoff: Duration,
    /// Time limit of one attempt.
    #[serde(with = "stratus_model::time::serde_duration")]
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before attempt `attempt + 1` (`attempt` counts from 1):
    /// `initial * 2^(attempt-1)`, capped at `max_backoff`, of which a random
    /// half is taken away ("equal jitter"), so concurrent writers do not
    /// retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b2 = p.backoff(2);
            assert!(b2 >= Duration::from_millis(100) && b2 <= Duration::from_millis(200));
            let b9 = p.backoff(9);
            assert!(b9 >= Duration::from_millis(175) && b9 <= Duration::from_millis(350));
        }
    }
}
