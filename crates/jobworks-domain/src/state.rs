//! The run state machine: the states of runs and attempts and the transitions between them.
//!
//! A run is `queued` until a worker claims it, `running` while an attempt holds a lease, and
//! ends in one terminal state. A failed attempt with retries left sends the run back to
//! `queued` (with a not-before time), so every retry is a new attempt of the same run.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// State of a run (and of a task instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Accepted and durable; waiting for a worker (possibly until a retry's not-before time).
    Queued,
    /// An attempt is running under a lease.
    Running,
    /// The last attempt exited 0 (or the query succeeded).
    Succeeded,
    /// The last attempt failed and no retries are left.
    Failed,
    /// The last attempt was killed by its timeout and no retries are left.
    TimedOut,
    /// Cancelled by a user, or replaced by a newer run (concurrency policy `replace`).
    Cancelled,
    /// Never ran: a policy (concurrency `forbid`, misfire `skip`, paused job) decided so; the
    /// reason is recorded with the run.
    Skipped,
    /// Paused by a user (`jobworks pause`): its running attempts were asked to checkpoint and
    /// stop, its queued tasks are not claimed, until it is resumed. Not terminal, and not
    /// active: concurrency policies do not count it.
    Paused,
}

impl RunState {
    /// All states, in lifecycle order.
    pub const ALL: [RunState; 8] = [
        RunState::Queued,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::TimedOut,
        RunState::Cancelled,
        RunState::Skipped,
        RunState::Paused,
    ];

    /// The snake_case name used in the store, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Cancelled => "cancelled",
            RunState::Skipped => "skipped",
            RunState::Paused => "paused",
        }
    }

    /// True for states a run never leaves.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            RunState::Queued | RunState::Running | RunState::Paused
        )
    }

    /// Whether the state machine allows `self → to`. Terminal states allow nothing;
    /// `running → queued` is a retry; `paused` is left by a resume (to `queued` or, while an
    /// attempt is still stopping, `running`), a cancel, or an attempt that ended by itself;
    /// `queued → failed` is a task routed to agents that found none within its
    /// `placement_timeout` ([`crate::lifecycle::placement_timeout_reason`]).
    pub fn can_transition(self, to: RunState) -> bool {
        use RunState::*;
        match self {
            Queued => matches!(to, Running | Cancelled | Skipped | Paused | Failed),
            Running => matches!(
                to,
                Queued | Succeeded | Failed | TimedOut | Cancelled | Paused
            ),
            Paused => matches!(
                to,
                Queued | Running | Succeeded | Failed | TimedOut | Cancelled
            ),
            _ => false,
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown state name; carries the text that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for RunState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// State of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Claimed under a lease; the process may be starting or running.
    Running,
    /// Exited 0.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or could not start.
    Failed,
    /// Killed by its timeout.
    TimedOut,
    /// Killed because the run was cancelled or replaced.
    Cancelled,
    /// Its lease expired (the holder crashed or lost the store): the outcome is unknown, and any
    /// late result from the old holder is refused (fencing).
    Lost,
    /// Stopped by a pause of its run (asked to checkpoint and exit): not a failure, and it
    /// does not count against the retry policy.
    Paused,
}

impl AttemptState {
    /// All states.
    pub const ALL: [AttemptState; 7] = [
        AttemptState::Running,
        AttemptState::Succeeded,
        AttemptState::Failed,
        AttemptState::TimedOut,
        AttemptState::Cancelled,
        AttemptState::Lost,
        AttemptState::Paused,
    ];

    /// The snake_case name used in the store, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Running => "running",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::TimedOut => "timed_out",
            AttemptState::Cancelled => "cancelled",
            AttemptState::Lost => "lost",
            AttemptState::Paused => "paused",
        }
    }

    /// True when another attempt may follow under the retry policy: failures, time-outs and
    /// lost attempts are retried; success and cancellation are final.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            AttemptState::Failed | AttemptState::TimedOut | AttemptState::Lost
        )
    }

    /// The run state this attempt's outcome gives when no retry follows.
    pub fn final_run_state(self) -> RunState {
        match self {
            AttemptState::Running => RunState::Running,
            AttemptState::Succeeded => RunState::Succeeded,
            AttemptState::Failed | AttemptState::Lost => RunState::Failed,
            AttemptState::TimedOut => RunState::TimedOut,
            AttemptState::Cancelled => RunState::Cancelled,
            AttemptState::Paused => RunState::Paused,
        }
    }
}

impl fmt::Display for AttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttemptState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttemptState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// What created a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A cron or interval tick; the run carries its scheduled time.
    Schedule,
    /// A user, through the CLI or the API.
    Manual,
    /// A backfill over a time range.
    Backfill,
}

impl TriggerKind {
    /// The snake_case name used in the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Manual => "manual",
            TriggerKind::Backfill => "backfill",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "schedule" => Ok(TriggerKind::Schedule),
            "manual" => Ok(TriggerKind::Manual),
            "backfill" => Ok(TriggerKind::Backfill),
            other => Err(UnknownState(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in RunState::ALL {
            assert_eq!(state.as_str().parse::<RunState>(), Ok(state));
        }
        for state in AttemptState::ALL {
            assert_eq!(state.as_str().parse::<AttemptState>(), Ok(state));
        }
        assert!("done".parse::<RunState>().is_err());
    }

    #[test]
    fn transitions() {
        use RunState::*;
        let allowed = [
            (Queued, Running),
            (Queued, Cancelled),
            (Queued, Skipped),
            (Queued, Failed),
            (Running, Queued),
            (Running, Succeeded),
            (Running, Failed),
            (Running, TimedOut),
            (Running, Cancelled),
            (Queued, Paused),
            (Running, Paused),
            (Paused, Queued),
            (Paused, Running),
            (Paused, Succeeded),
            (Paused, Failed),
            (Paused, TimedOut),
            (Paused, Cancelled),
        ];
        for from in RunState::ALL {
            for to in RunState::ALL {
                assert_eq!(
                    from.can_transition(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn attempt_outcomes() {
        assert!(AttemptState::Lost.is_retryable());
        assert!(!AttemptState::Cancelled.is_retryable());
        assert_eq!(AttemptState::Lost.final_run_state(), RunState::Failed);
        assert_eq!(AttemptState::TimedOut.final_run_state(), RunState::TimedOut);
    }
}
