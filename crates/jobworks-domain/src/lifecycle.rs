//! What a store does at each step of a run's life, as plain functions, so every backend
//! applies the same rules: what an attempt's end (or a lost lease) does to its task instance
//! and to a job run, which states count as active or finished in queries, the transitions
//! the run state machine allows ([`RunState::can_transition`]) checked before a write, and
//! the one-line reasons recorded with each change.
//!
//! The rules come from the run model in `ARCHITECTURE.md`: a retry is a new attempt of the
//! same task instance, sent back to `queued` with a not-before time; a cancel that is
//! pending wins over a retry (the user asked the run to stop); a job run mirrors its single
//! task instance `main`; a lost attempt (expired lease) is retried like a failure, and fails
//! the task when no retry is left.

use crate::state::{AttemptState, RunState};
use crate::workflow::TaskState;

/// Run states that count as active: what concurrency policies and `max_active_runs` count.
/// Every state that is not [`RunState::is_terminal`] except `paused`: a paused run holds no
/// worker and is not counted until it is resumed (README, "Pause and resume").
pub const ACTIVE_RUN_STATES: [RunState; 2] = [RunState::Queued, RunState::Running];

/// Run states a run never leaves ([`RunState::is_terminal`]); retention deletes only runs
/// in these states.
pub const FINISHED_RUN_STATES: [RunState; 5] = [
    RunState::Succeeded,
    RunState::Failed,
    RunState::TimedOut,
    RunState::Cancelled,
    RunState::Skipped,
];

/// Task instance states an instance does not leave unless cleared
/// ([`TaskState::is_terminal`]); a call task whose child run reaches one of these ends too.
pub const FINISHED_TASK_STATES: [TaskState; 6] = [
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::TimedOut,
    TaskState::Skipped,
    TaskState::UpstreamFailed,
    TaskState::Cancelled,
];

/// `('a', 'b', ...)`: state names as an SQL list, for backends to check the lists they
/// keep in their query text against the ones above.
pub fn sql_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("'{n}'")).collect();
    format!("({})", quoted.join(", "))
}

/// Where a task instance (and a job run, which mirrors it) goes after one of its attempts
/// ended. `T` is the caller's time type for the retry's not-before time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptNext<T> {
    /// Back to `queued`, not before `at`: the next attempt is a retry.
    Retry {
        /// The retry's not-before time.
        at: T,
    },
    /// A terminal state: the task instance (and a job run) ends here.
    End(RunState),
}

impl<T> AttemptNext<T> {
    /// The state the task instance and a job run take: `queued` for a retry.
    pub fn run_state(&self) -> RunState {
        match self {
            AttemptNext::Retry { .. } => RunState::Queued,
            AttemptNext::End(state) => *state,
        }
    }

    /// The same state as a workflow task instance's state.
    pub fn task_state(&self) -> TaskState {
        TaskState::from(self.run_state())
    }

    /// The retry's not-before time, if it is a retry.
    pub fn retry_at(&self) -> Option<&T> {
        match self {
            AttemptNext::Retry { at } => Some(at),
            AttemptNext::End(_) => None,
        }
    }
}

/// An attempt end that is not an end: the attempt was reported `running`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "attempt reported as ending in state `running`: an attempt ends succeeded, failed, timed_out, cancelled or lost"
)]
pub struct NotAnEnd;

/// Decides where a task instance goes after an attempt ended in `ended`.
///
/// - a `cancelled` attempt, or any end while a cancel is pending (`cancel_pending`), ends
///   the task `cancelled`: the user asked the run to stop, and that wins over a retry and
///   even over a success reported at the same moment;
/// - a retryable end (failed, timed_out, lost: [`AttemptState::is_retryable`]) with a retry
///   time from the retry policy (`retry_at`) is a retry;
/// - anything else ends the task in [`AttemptState::final_run_state`] (a lost attempt with
///   no retry left fails).
///
/// Errors: [`NotAnEnd`] when `ended` is `running`.
pub fn after_attempt<T>(
    ended: AttemptState,
    cancel_pending: bool,
    retry_at: Option<T>,
) -> Result<AttemptNext<T>, NotAnEnd> {
    if ended == AttemptState::Running {
        return Err(NotAnEnd);
    }
    if ended == AttemptState::Cancelled || cancel_pending {
        return Ok(AttemptNext::End(RunState::Cancelled));
    }
    match retry_at {
        Some(at) if ended.is_retryable() => Ok(AttemptNext::Retry { at }),
        _ => Ok(AttemptNext::End(ended.final_run_state())),
    }
}

/// Whether an attempt that ended in `ended` asks the retry policy for a retry time: only
/// retryable ends, and never while a cancel is pending (see [`after_attempt`]).
pub fn wants_retry(ended: AttemptState, cancel_pending: bool) -> bool {
    ended.is_retryable() && !cancel_pending
}

/// How an attempt ended, as recorded with the task and its event: `attempt 3 exited with
/// code 2: <error>`.
pub fn attempt_summary(
    attempt_no: i64,
    ended: AttemptState,
    exit_code: Option<i32>,
    signal: Option<i32>,
    error: Option<&str>,
) -> String {
    let how = match (ended, exit_code, signal) {
        (AttemptState::Succeeded, _, _) => "succeeded".to_string(),
        (AttemptState::TimedOut, _, _) => "timed out".to_string(),
        (AttemptState::Cancelled, _, _) => "cancelled".to_string(),
        (_, Some(code), _) => format!("exited with code {code}"),
        (_, None, Some(sig)) => format!("killed by signal {sig}"),
        (state, None, None) => state.as_str().to_string(),
    };
    match error {
        Some(err) => format!("attempt {attempt_no} {how}: {err}"),
        None => format!("attempt {attempt_no} {how}"),
    }
}

/// The reason recorded for `next`: the attempt's summary, plus `; retry at <when>` for a
/// retry (`when` is the retry time as the caller writes times, RFC 3339 in the stores).
pub fn end_reason<T>(
    summary: String,
    next: &AttemptNext<T>,
    when: impl Fn(&T) -> String,
) -> String {
    match next {
        AttemptNext::Retry { at } => format!("{summary}; retry at {}", when(at)),
        AttemptNext::End(_) => summary,
    }
}

/// Whether an attempt found lost (its lease expired) was being paused: its task instance had
/// a pause requested (`jobworks pause`) and no cancel. Such an attempt does not use a retry
/// and does not fail its task: the task is paused (or queued again, if the run was resumed
/// meanwhile; see [`after_pause_stop`]) and its next attempt starts from the last checkpoint,
/// exactly as if the task had stopped for the pause itself. A cancel wins over the pause.
pub fn lost_while_pausing(pause_pending: bool, cancel_pending: bool) -> bool {
    pause_pending && !cancel_pending
}

/// Where a task instance goes when its attempt stopped for a pause (or was lost while
/// pausing): `paused` while its run is paused, `queued` when the run was resumed before the
/// attempt stopped.
pub fn after_pause_stop(run_state: RunState) -> RunState {
    if run_state == RunState::Paused {
        RunState::Paused
    } else {
        RunState::Queued
    }
}

/// The error recorded with a lost attempt whose lease expired at `expired_at` (RFC 3339).
pub fn lost_error(expired_at: &str) -> String {
    format!("lease expired at {expired_at}: the worker stopped renewing it (crash or lost store)")
}

/// Whether `from → to` is a transition of the run state machine; the error a store
/// returns for one it refuses otherwise.
///
/// Errors: the refused transition, naming both states.
pub fn check_transition(run: i64, from: RunState, to: RunState) -> Result<(), String> {
    if from.can_transition(to) {
        Ok(())
    } else {
        Err(format!(
            "run {run} cannot go from {from} to {to}: the run state machine allows no such transition"
        ))
    }
}

/// Whether a person may decide the outcome of task `task` in `state`: an approval
/// (`approval`: approve or reject) only while it waits for approval; a mark (succeeded or
/// failed by hand) only once it is not active (`TaskState::is_active`).
///
/// Errors: why not, with what to do instead, for a `Conflict`.
pub fn check_decision(task: &str, state: TaskState, approval: bool) -> Result<(), String> {
    if approval && state != TaskState::WaitingApproval {
        return Err(format!(
            "task `{task}` is {state}, not waiting for approval"
        ));
    }
    if !approval && state.is_active() {
        let hint = if state == TaskState::WaitingApproval {
            "approve or reject it instead"
        } else {
            "wait for it to end, or cancel the run first"
        };
        return Err(format!("task `{task}` is {state}: {hint}"));
    }
    Ok(())
}

/// Whether clearing task `task` in `state` (so it runs again) changes it: `false` for a
/// task still `pending`, `true` for one that ended.
///
/// Errors: an active task cannot be cleared (it would run twice), for a `Conflict`.
pub fn check_clear(task: &str, state: TaskState) -> Result<bool, String> {
    if state.is_active() {
        return Err(format!(
            "task `{task}` is {state}: wait for it to end, or cancel the run first"
        ));
    }
    Ok(state != TaskState::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptState as A;
    use RunState as R;

    #[test]
    fn attempt_ends() {
        // (ended, cancel pending, retry time, expected)
        type Row = (
            AttemptState,
            bool,
            Option<u32>,
            Result<AttemptNext<u32>, NotAnEnd>,
        );
        let table: [Row; 14] = [
            (
                A::Succeeded,
                false,
                None,
                Ok(AttemptNext::End(R::Succeeded)),
            ),
            (
                A::Succeeded,
                false,
                Some(5),
                Ok(AttemptNext::End(R::Succeeded)),
            ),
            (A::Succeeded, true, None, Ok(AttemptNext::End(R::Cancelled))),
            (A::Failed, false, None, Ok(AttemptNext::End(R::Failed))),
            (A::Failed, false, Some(5), Ok(AttemptNext::Retry { at: 5 })),
            (A::Failed, true, Some(5), Ok(AttemptNext::End(R::Cancelled))),
            (A::TimedOut, false, None, Ok(AttemptNext::End(R::TimedOut))),
            (
                A::TimedOut,
                false,
                Some(5),
                Ok(AttemptNext::Retry { at: 5 }),
            ),
            (
                A::Cancelled,
                false,
                Some(5),
                Ok(AttemptNext::End(R::Cancelled)),
            ),
            (
                A::Cancelled,
                false,
                None,
                Ok(AttemptNext::End(R::Cancelled)),
            ),
            (A::Lost, false, None, Ok(AttemptNext::End(R::Failed))),
            (A::Lost, false, Some(5), Ok(AttemptNext::Retry { at: 5 })),
            (A::Lost, true, Some(5), Ok(AttemptNext::End(R::Cancelled))),
            (A::Running, false, None, Err(NotAnEnd)),
        ];
        for (ended, cancel, retry, want) in table {
            assert_eq!(
                after_attempt(ended, cancel, retry),
                want,
                "{ended} cancel={cancel} retry={retry:?}"
            );
        }
    }

    #[test]
    fn every_end_is_a_transition_from_running() {
        for ended in AttemptState::ALL {
            for cancel in [false, true] {
                for retry in [None, Some(1)] {
                    if let Ok(next) = after_attempt(ended, cancel, retry) {
                        assert!(
                            R::Running.can_transition(next.run_state()),
                            "{ended} -> {}",
                            next.run_state()
                        );
                        assert_eq!(next.task_state().as_str(), next.run_state().as_str());
                    }
                }
            }
        }
    }

    #[test]
    fn retry_is_asked_only_when_it_can_apply() {
        let table = [
            (A::Succeeded, false, false),
            (A::Failed, false, true),
            (A::Failed, true, false),
            (A::TimedOut, false, true),
            (A::Lost, false, true),
            (A::Lost, true, false),
            (A::Cancelled, false, false),
        ];
        for (ended, cancel, want) in table {
            assert_eq!(wants_retry(ended, cancel), want, "{ended} cancel={cancel}");
        }
    }

    #[test]
    fn summaries_and_reasons() {
        let table = [
            (
                (1, A::Succeeded, Some(0), None, None),
                "attempt 1 succeeded",
            ),
            (
                (2, A::Failed, Some(3), None, None),
                "attempt 2 exited with code 3",
            ),
            (
                (2, A::Failed, None, Some(9), None),
                "attempt 2 killed by signal 9",
            ),
            (
                (3, A::Failed, None, None, Some("no shell")),
                "attempt 3 failed: no shell",
            ),
            (
                (1, A::TimedOut, None, Some(15), None),
                "attempt 1 timed out",
            ),
            (
                (1, A::Cancelled, None, Some(15), None),
                "attempt 1 cancelled",
            ),
            (
                (4, A::Lost, None, None, Some("gone")),
                "attempt 4 lost: gone",
            ),
        ];
        for ((no, ended, code, signal, error), want) in table {
            assert_eq!(attempt_summary(no, ended, code, signal, error), want);
        }
        let retry = AttemptNext::Retry { at: 7 };
        assert_eq!(
            end_reason("attempt 1 failed".into(), &retry, |t| format!("t{t}")),
            "attempt 1 failed; retry at t7"
        );
        let end: AttemptNext<u32> = AttemptNext::End(R::Failed);
        assert_eq!(end_reason("x".into(), &end, |t| t.to_string()), "x");
        assert!(lost_error("2026-01-01T00:00:00+00:00").starts_with("lease expired at 2026"));
    }

    #[test]
    fn state_lists_agree_with_the_state_machine() {
        for state in RunState::ALL {
            assert_eq!(
                ACTIVE_RUN_STATES.contains(&state),
                !state.is_terminal() && state != RunState::Paused,
                "{state:?}"
            );
            assert_eq!(FINISHED_RUN_STATES.contains(&state), state.is_terminal());
        }
        for state in TaskState::ALL {
            assert_eq!(FINISHED_TASK_STATES.contains(&state), state.is_terminal());
        }
        assert_eq!(
            sql_list(ACTIVE_RUN_STATES.iter().map(|s| s.as_str())),
            "('queued', 'running')"
        );
    }

    #[test]
    fn transitions_are_checked() {
        assert_eq!(check_transition(1, R::Queued, R::Running), Ok(()));
        let refused = check_transition(1, R::Succeeded, R::Running).unwrap_err();
        assert!(refused.contains("succeeded to running"), "{refused}");
    }

    #[test]
    fn decisions_by_people() {
        use TaskState as T;
        // (state, approval allowed, mark allowed, clear)
        let table = [
            (T::Pending, false, true, Ok(false)),
            (T::Queued, false, false, Err(())),
            (T::Running, false, false, Err(())),
            (T::WaitingApproval, true, false, Err(())),
            (T::Succeeded, false, true, Ok(true)),
            (T::Failed, false, true, Ok(true)),
            (T::TimedOut, false, true, Ok(true)),
            (T::Skipped, false, true, Ok(true)),
            (T::UpstreamFailed, false, true, Ok(true)),
            (T::Cancelled, false, true, Ok(true)),
        ];
        for (state, approve, mark, clear) in table {
            assert_eq!(
                check_decision("t", state, true).is_ok(),
                approve,
                "approve {state}"
            );
            assert_eq!(
                check_decision("t", state, false).is_ok(),
                mark,
                "mark {state}"
            );
            assert_eq!(
                check_clear("t", state).map_err(|_| ()),
                clear,
                "clear {state}"
            );
        }
        let hint = check_decision("t", T::WaitingApproval, false).unwrap_err();
        assert!(hint.contains("approve or reject"), "{hint}");
    }

    #[test]
    fn an_attempt_lost_while_pausing_pauses_its_task() {
        for (pause, cancel, want) in [
            (true, false, true),
            (true, true, false),
            (false, false, false),
            (false, true, false),
        ] {
            assert_eq!(
                lost_while_pausing(pause, cancel),
                want,
                "pause {pause}, cancel {cancel}"
            );
        }
        for (run, want) in [
            (RunState::Paused, RunState::Paused),
            (RunState::Running, RunState::Queued),
            (RunState::Queued, RunState::Queued),
        ] {
            assert_eq!(after_pause_stop(run), want, "{run}");
        }
    }
}
