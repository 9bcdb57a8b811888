//! Retry policy: how many attempts a run gets and how long to wait before each retry.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the delay grows from one retry to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Every retry waits `initial_delay_ms`.
    Fixed,
    /// Retry `r` (1-based; attempt `r + 1`) waits `r * initial_delay_ms`.
    Linear,
    /// Retry `r` waits `2^(r - 1) * initial_delay_ms` (1x, 2x, 4x, ...).
    #[default]
    Exponential,
}

/// Why a [`RetryPolicy`] is invalid; see [`RetryPolicy::validate`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RetryPolicyError {
    /// `max_attempts` was 0; the first attempt always counts.
    #[error("max_attempts must be at least 1 (it counts the first attempt)")]
    NoAttempts,
    /// `jitter` was outside `0.0..=1.0` or not a number.
    #[error("jitter must be between 0.0 and 1.0, found {0}")]
    JitterOutOfRange(f64),
}

/// How often a failed run is retried and how long to wait in between.
///
/// Serialized with every field optional (missing fields take the [`Default`] values):
/// `{"max_attempts":3,"backoff":"exponential","initial_delay_ms":10000,"max_delay_ms":3600000,"jitter":0.1}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 (the default) means no retries.
    pub max_attempts: u32,
    /// How the delay grows; exponential by default.
    pub backoff: Backoff,
    /// Delay before the first retry, in milliseconds (default 1 000 = 1 s, as in job files).
    pub initial_delay_ms: u64,
    /// Upper bound on any delay, in milliseconds, applied before and after jitter
    /// (default 3 600 000 = 1 h).
    pub max_delay_ms: u64,
    /// Random spread as a fraction: the delay is multiplied by a factor in
    /// `[1 - jitter, 1 + jitter]`; must be within `0.0..=1.0` (default 0.0, no spread).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff: Backoff::Exponential,
            initial_delay_ms: 1_000,
            max_delay_ms: 3_600_000,
            jitter: 0.0,
        }
    }
}

impl RetryPolicy {
    /// Checks the fields a user can get wrong.
    ///
    /// # Errors
    ///
    /// [`RetryPolicyError::NoAttempts`] when `max_attempts` is 0;
    /// [`RetryPolicyError::JitterOutOfRange`] when `jitter` is not within `0.0..=1.0`.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.max_attempts == 0 {
            return Err(RetryPolicyError::NoAttempts);
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(RetryPolicyError::JitterOutOfRange(self.jitter));
        }
        Ok(())
    }

    /// The wait before attempt number `attempt` (1 = the first attempt, 2 = the first
    /// retry), or `None` when `attempt` exceeds `max_attempts` (no more attempts).
    ///
    /// The first attempt waits zero. For `attempt = n >= 2` the base delay is
    /// `initial_delay_ms` (fixed), `initial_delay_ms * (n - 1)` (linear) or
    /// `initial_delay_ms * 2^(n - 2)` (exponential), saturating instead of overflowing
    /// and capped at `max_delay_ms`. Jitter `j` then multiplies it by
    /// `1 - j + 2 * j * unit_random` and the result is capped again, rounded to whole
    /// milliseconds. `unit_random` is a caller-supplied random number in `[0, 1)` so the
    /// computation stays deterministic; values outside are clamped, NaN counts as 0.5.
    /// Out-of-range `jitter` is clamped to `0.0..=1.0` (see [`RetryPolicy::validate`]);
    /// `max_attempts = 0` behaves as 1.
    pub fn delay_before_attempt(&self, attempt: u32, unit_random: f64) -> Option<Duration> {
        if attempt > self.max_attempts.max(1) {
            return None;
        }
        if attempt <= 1 {
            return Some(Duration::ZERO);
        }
        let retry = u64::from(attempt - 1);
        let base_ms = match self.backoff {
            Backoff::Fixed => self.initial_delay_ms,
            Backoff::Linear => self.initial_delay_ms.saturating_mul(retry),
            Backoff::Exponential => {
                let doublings = u32::try_from(retry - 1).unwrap_or(u32::MAX);
                match 1_u64.checked_shl(doublings) {
                    Some(factor) => self.initial_delay_ms.saturating_mul(factor),
                    None if self.initial_delay_ms == 0 => 0,
                    None => u64::MAX,
                }
            }
        }
        .min(self.max_delay_ms);
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let unit_random = if unit_random.is_nan() {
            0.5
        } else {
            unit_random.clamp(0.0, 1.0)
        };
        let factor = 1.0 - jitter + 2.0 * jitter * unit_random;
        // Float-to-int `as` saturates (no overflow); the `min` keeps the cap exact.
        let jittered_ms = ((base_ms as f64) * factor).round() as u64;
        Some(Duration::from_millis(jittered_ms.min(self.max_delay_ms)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Backoff, RetryPolicy, RetryPolicyError};

    fn policy(backoff: Backoff, max_attempts: u32, jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            backoff,
            initial_delay_ms: 1_000,
            max_delay_ms: 60_000,
            jitter,
        }
    }

    /// `delay_before_attempt(attempt, unit_random)` must be `expected_ms` (None = no attempt).
    fn check(policy: RetryPolicy, attempt: u32, unit_random: f64, expected_ms: Option<u64>) {
        assert_eq!(
            policy.delay_before_attempt(attempt, unit_random),
            expected_ms.map(Duration::from_millis),
            "{policy:?} attempt {attempt} random {unit_random}"
        );
    }

    #[test]
    fn delays_per_backoff() {
        use Backoff::{Exponential, Fixed, Linear};
        check(policy(Fixed, 5, 0.0), 1, 0.0, Some(0));
        check(policy(Fixed, 5, 0.0), 2, 0.0, Some(1_000));
        check(policy(Fixed, 5, 0.0), 5, 0.0, Some(1_000));
        check(policy(Fixed, 5, 0.0), 6, 0.0, None);
        check(policy(Linear, 5, 0.0), 2, 0.0, Some(1_000));
        check(policy(Linear, 5, 0.0), 3, 0.0, Some(2_000));
        check(policy(Linear, 5, 0.0), 5, 0.0, Some(4_000));
        check(policy(Exponential, 10, 0.0), 2, 0.0, Some(1_000));
        check(policy(Exponential, 10, 0.0), 3, 0.0, Some(2_000));
        check(policy(Exponential, 10, 0.0), 4, 0.0, Some(4_000));
        check(policy(Exponential, 10, 0.0), 7, 0.0, Some(32_000));
        check(policy(Exponential, 10, 0.0), 8, 0.0, Some(60_000));
        check(policy(Exponential, 10, 0.0), 10, 0.0, Some(60_000));
        check(policy(Exponential, 10, 0.0), 11, 0.0, None);
    }

    #[test]
    fn huge_attempts_saturate_at_the_cap() {
        use Backoff::{Exponential, Linear};
        check(policy(Exponential, u32::MAX, 0.0), 65, 0.0, Some(60_000));
        check(policy(Exponential, u32::MAX, 0.0), 66, 0.0, Some(60_000));
        check(
            policy(Exponential, u32::MAX, 0.0),
            u32::MAX,
            0.0,
            Some(60_000),
        );
        check(policy(Linear, u32::MAX, 0.0), u32::MAX, 0.0, Some(60_000));
        let uncapped = RetryPolicy {
            max_delay_ms: u64::MAX,
            ..policy(Exponential, u32::MAX, 1.0)
        };
        check(uncapped, u32::MAX, 0.999, Some(u64::MAX));
        let zero = RetryPolicy {
            initial_delay_ms: 0,
            ..policy(Exponential, u32::MAX, 0.0)
        };
        check(zero, u32::MAX, 0.0, Some(0));
    }

    #[test]
    fn jitter_spreads_then_caps() {
        use Backoff::{Exponential, Fixed};
        check(policy(Fixed, 3, 0.5), 2, 0.0, Some(500));
        check(policy(Fixed, 3, 0.5), 2, 0.5, Some(1_000));
        check(policy(Fixed, 3, 0.5), 2, 0.75, Some(1_250));
        check(policy(Fixed, 3, 1.0), 2, 0.0, Some(0));
        check(policy(Fixed, 3, 1.0), 2, 0.99, Some(1_980));
        check(policy(Exponential, 10, 0.5), 8, 0.99, Some(60_000));
        check(policy(Exponential, 10, 0.5), 8, 0.0, Some(30_000));
        check(policy(Fixed, 3, 0.5), 2, f64::NAN, Some(1_000));
        check(policy(Fixed, 3, 0.5), 2, 7.0, Some(1_500));
        check(policy(Fixed, 3, 0.5), 2, -1.0, Some(500));
        check(policy(Fixed, 3, 9.0), 2, 0.0, Some(0));
        check(policy(Fixed, 3, f64::NAN), 2, 0.0, Some(1_000));
    }

    #[test]
    fn defaults_and_zero_attempts() {
        let default = RetryPolicy::default();
        assert_eq!(default.max_attempts, 1);
        assert_eq!(default.backoff, Backoff::Exponential);
        assert_eq!(default.delay_before_attempt(1, 0.3), Some(Duration::ZERO));
        assert_eq!(default.delay_before_attempt(2, 0.3), None);
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(zero.delay_before_attempt(1, 0.3), Some(Duration::ZERO));
        assert_eq!(zero.delay_before_attempt(0, 0.3), Some(Duration::ZERO));
        assert_eq!(zero.validate(), Err(RetryPolicyError::NoAttempts));
        let jittery = RetryPolicy {
            jitter: 1.5,
            ..RetryPolicy::default()
        };
        assert_eq!(
            jittery.validate(),
            Err(RetryPolicyError::JitterOutOfRange(1.5))
        );
        assert_eq!(
            jittery.validate().map_err(|error| error.to_string()),
            Err("jitter must be between 0.0 and 1.0, found 1.5".to_owned())
        );
        assert_eq!(default.validate(), Ok(()));
    }

    #[test]
    fn serde_fills_defaults_and_uses_snake_case() {
        let parsed: RetryPolicy =
            serde_json::from_str(r#"{"max_attempts":3,"backoff":"linear"}"#).expect("valid json");
        assert_eq!(
            parsed,
            RetryPolicy {
                max_attempts: 3,
                backoff: Backoff::Linear,
                ..RetryPolicy::default()
            }
        );
        assert_eq!(
            serde_json::to_string(&Backoff::Exponential).expect("serializes"),
            "\"exponential\""
        );
    }
}
