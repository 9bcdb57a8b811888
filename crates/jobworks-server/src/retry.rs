//! When the next attempt of a failed run may start: the job's retry policy applied to the
//! attempt that just ended. The control plane decides this in one place,
//! [`next_attempt_at`], for ends reported by a worker and for attempts whose lease expired;
//! workers report outcomes only.

use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptState, JobSpec};

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

/// When the attempt after one that ended in `state` may start, or `None` for no retry:
/// an attempt the worker itself interrupted (it was shutting down) is requeued at `ended_at`
/// whatever the policy; a retryable end (`failed`, `timed_out`, `lost`) follows the policy
/// ([`retry_at`] for try `try_no`); any other end is not retried.
pub fn next_attempt_at(
    spec: &JobSpec,
    try_no: i64,
    state: AttemptState,
    interrupted: bool,
    ended_at: DateTime<Utc>,
    unit_random: f64,
) -> Option<DateTime<Utc>> {
    if interrupted {
        return Some(ended_at);
    }
    if !state.is_retryable() {
        return None;
    }
    retry_at(spec, try_no, ended_at, unit_random)
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

    #[test]
    fn one_decision_for_every_end() {
        let mut spec = jobworks_store::conformance::sample_spec("r");
        spec.retry = RetryPolicy {
            max_attempts: 2,
            backoff: Backoff::Fixed,
            initial_delay_ms: 5_000,
            max_delay_ms: 5_000,
            jitter: 0.0,
        };
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let later = now + chrono::Duration::seconds(5);
        use AttemptState::*;
        // (ended in, interrupted by the worker, try, expected next start)
        let cases = [
            (Failed, false, 1, Some(later)),
            (TimedOut, false, 1, Some(later)),
            (Lost, false, 1, Some(later)),
            (Failed, false, 2, None),
            (Lost, false, 2, None),
            (Succeeded, false, 1, None),
            (Cancelled, false, 1, None),
            (Paused, false, 1, None),
            (Lost, true, 2, Some(now)),
        ];
        for (state, interrupted, try_no, expected) in cases {
            assert_eq!(
                next_attempt_at(&spec, try_no, state, interrupted, now, 0.5),
                expected,
                "{state:?} interrupted={interrupted} try {try_no}"
            );
        }
    }
}
