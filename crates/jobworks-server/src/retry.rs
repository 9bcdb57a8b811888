//! When the next attempt of a failed run may start: the job's retry policy applied to the
//! attempt that just ended.

use chrono::{DateTime, Utc};
use jobworks_domain::JobSpec;

/// The not-before time of attempt `ended_attempt + 1`, or `None` when the policy has no
/// attempts left. `unit_random` in [0, 1) drives the jitter (passed in so tests are exact).
pub fn retry_at(
    spec: &JobSpec,
    ended_attempt: i64,
    now: DateTime<Utc>,
    unit_random: f64,
) -> Option<DateTime<Utc>> {
    let next = u32::try_from(ended_attempt + 1).ok()?;
    let delay = spec.retry.delay_before_attempt(next, unit_random)?;
    let delay = chrono::Duration::from_std(delay).ok()?;
    Some(now + delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use jobworks_schedule::{Backoff, RetryPolicy};

    #[test]
    fn follows_the_policy() {
        let mut spec = jobworks_store::conformance::sample_spec("r");
        spec.retry = RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::Exponential,
            initial_delay_ms: 1_000,
            max_delay_ms: 60_000,
            jitter: 0.0,
        };
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let s = chrono::Duration::seconds;
        assert_eq!(retry_at(&spec, 1, now, 0.5), Some(now + s(1)));
        assert_eq!(retry_at(&spec, 2, now, 0.5), Some(now + s(2)));
        assert_eq!(retry_at(&spec, 3, now, 0.5), None, "three attempts in all");
    }
}
