//! Trigger rules: whether a task runs, is skipped, or is marked upstream_failed, given the
//! states of its direct upstream tasks. The rules and their meanings are Apache Airflow's
//! (its `TriggerRuleDep`), with Jobworks' extra states mapped onto Airflow's:
//!
//! - **succeeded** counts as success;
//! - **failed**, **timed_out** and **cancelled** count as failed (none of them completed);
//! - **upstream_failed** counts as upstream_failed and **skipped** as skipped;
//! - **pending**, **queued**, **running** and **waiting_approval** are not done yet.
//!
//! A task without upstream tasks always runs (Airflow does not evaluate the rule of a task
//! with no upstream). Decisions are taken as early as they are certain: `all_success` marks a
//! task upstream_failed as soon as one upstream failed, without waiting for the others.
//!
//! | rule | runs when | skipped when | upstream_failed when |
//! |---|---|---|---|
//! | `all_success` | all succeeded | none failed and one was skipped | one failed or was upstream_failed |
//! | `all_failed` | all failed or were upstream_failed | one succeeded or was skipped | never |
//! | `all_done` | all are done | never | never |
//! | `one_success` | one succeeded | all done, all skipped | all done, none succeeded, not all skipped |
//! | `one_failed` | one failed or was upstream_failed | all done, none failed | never |
//! | `none_failed` | all done, each succeeded or was skipped | never | one failed or was upstream_failed |
//! | `none_failed_min_one_success` | all done, none failed, one succeeded | all done, all skipped | one failed or was upstream_failed |
//! | `none_skipped` | all done, none skipped | one was skipped | never |
//! | `always` | at once | never | never |
//!
//! In every other case the task waits. The truth table over representative upstream mixes
//! (S = succeeded, F = failed, K = skipped, U = upstream_failed, R = running; `up_failed` =
//! upstream_failed); the tests check that this table is what [`evaluate`] does:
//!
//! <!-- truth table start -->
//! | upstream | all_success | all_failed | all_done | one_success | one_failed | none_failed | none_failed_min_one_success | none_skipped | always |
//! |---|---|---|---|---|---|---|---|---|---|
//! | (none) | run | run | run | run | run | run | run | run | run |
//! | S S | run | skip | run | run | skip | run | run | run | run |
//! | F F | up_failed | run | run | up_failed | run | up_failed | up_failed | run | run |
//! | K K | skip | skip | run | skip | skip | run | skip | skip | run |
//! | U U | up_failed | run | run | up_failed | run | up_failed | up_failed | run | run |
//! | S F | up_failed | skip | run | run | run | up_failed | up_failed | run | run |
//! | S K | skip | skip | run | run | skip | run | run | skip | run |
//! | F K | up_failed | skip | run | up_failed | run | up_failed | up_failed | skip | run |
//! | S R | wait | skip | wait | run | wait | wait | wait | wait | run |
//! | F R | up_failed | wait | wait | wait | run | up_failed | up_failed | wait | run |
//! | K R | skip | skip | wait | wait | wait | wait | wait | skip | run |
//! | R R | wait | wait | wait | wait | wait | wait | wait | wait | run |
//! <!-- truth table end -->

use super::spec::TriggerRule;
use crate::state::RunState;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// State of one task instance of a workflow run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Not started: no instance yet, or waiting for its upstream tasks.
    #[default]
    Pending,
    /// Started by the engine; waiting for a worker (also between retries).
    Queued,
    /// An attempt is running (for a group: its members are being run).
    Running,
    /// An approval task waiting for a decision.
    WaitingApproval,
    /// Completed successfully.
    Succeeded,
    /// Failed, with no retries left.
    Failed,
    /// Killed by its timeout, with no retries left; counts as failed.
    TimedOut,
    /// Never ran: a branch did not choose it, or its trigger rule skipped it.
    Skipped,
    /// Never ran because an upstream task failed (by its trigger rule).
    UpstreamFailed,
    /// Cancelled by a user, a group `any` policy, or the run's cancellation; counts as failed.
    Cancelled,
    /// Its run is paused: it was queued, or its attempt stopped at the pause; a resume queues
    /// it again (from its checkpoint).
    Paused,
}

impl TaskState {
    /// Every state, in lifecycle order.
    pub const ALL: [TaskState; 11] = [
        TaskState::Pending,
        TaskState::Queued,
        TaskState::Running,
        TaskState::WaitingApproval,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::TimedOut,
        TaskState::Skipped,
        TaskState::UpstreamFailed,
        TaskState::Cancelled,
        TaskState::Paused,
    ];

    /// The snake_case name used in the store, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::WaitingApproval => "waiting_approval",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::TimedOut => "timed_out",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Paused => "paused",
        }
    }

    /// True for states a task instance does not leave (unless it is cleared).
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            TaskState::Pending
                | TaskState::Queued
                | TaskState::Running
                | TaskState::WaitingApproval
                | TaskState::Paused
        )
    }

    /// True while an instance exists and has not finished: queued, running or waiting for
    /// approval. Group parallelism counts these.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TaskState::Queued | TaskState::Running | TaskState::WaitingApproval | TaskState::Paused
        )
    }

    /// True for the states trigger rules count as failed: failed, timed_out, cancelled.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            TaskState::Failed | TaskState::TimedOut | TaskState::Cancelled
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = crate::state::UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| crate::state::UnknownState(s.to_owned()))
    }
}

impl From<RunState> for TaskState {
    /// A job-style run state as a task state: the names match one to one.
    fn from(state: RunState) -> TaskState {
        match state {
            RunState::Queued => TaskState::Queued,
            RunState::Running => TaskState::Running,
            RunState::Succeeded => TaskState::Succeeded,
            RunState::Failed => TaskState::Failed,
            RunState::TimedOut => TaskState::TimedOut,
            RunState::Cancelled => TaskState::Cancelled,
            RunState::Skipped => TaskState::Skipped,
            RunState::Paused => TaskState::Paused,
        }
    }
}

/// What a trigger rule decides for a pending task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Readiness {
    /// Not decided yet: upstream tasks are still to finish.
    Wait,
    /// Start the task.
    Run,
    /// Never run it: record it as skipped.
    Skip,
    /// Never run it: record it as upstream_failed.
    UpstreamFailed,
}

impl Readiness {
    /// `wait`, `run`, `skip` or `up_failed`, as in the truth table.
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Wait => "wait",
            Readiness::Run => "run",
            Readiness::Skip => "skip",
            Readiness::UpstreamFailed => "up_failed",
        }
    }
}

/// Counts of upstream states by the classes trigger rules look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    total: usize,
    succeeded: usize,
    /// failed, timed_out, cancelled
    failed: usize,
    upstream_failed: usize,
    skipped: usize,
}

impl Counts {
    fn of(states: &[TaskState]) -> Counts {
        let mut counts = Counts {
            total: states.len(),
            ..Counts::default()
        };
        for state in states {
            match state {
                TaskState::Succeeded => counts.succeeded += 1,
                TaskState::Skipped => counts.skipped += 1,
                TaskState::UpstreamFailed => counts.upstream_failed += 1,
                state if state.is_failure() => counts.failed += 1,
                _ => {}
            }
        }
        counts
    }

    fn done(&self) -> usize {
        self.succeeded + self.failed + self.upstream_failed + self.skipped
    }

    fn all_done(&self) -> bool {
        self.done() == self.total
    }

    fn any_failed(&self) -> bool {
        self.failed + self.upstream_failed > 0
    }
}

/// Decides what a pending task with trigger rule `rule` does, given the states of its
/// direct upstream tasks (in any order). See the module docs for the truth table; a task
/// with no upstream tasks always runs.
pub fn evaluate(rule: TriggerRule, upstream_states: &[TaskState]) -> Readiness {
    use Readiness::{Run, Skip, UpstreamFailed, Wait};
    let counts = Counts::of(upstream_states);
    if counts.total == 0 {
        return Run;
    }
    match rule {
        TriggerRule::AllSuccess => {
            if counts.any_failed() {
                UpstreamFailed
            } else if counts.skipped > 0 {
                Skip
            } else if counts.succeeded == counts.total {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::AllFailed => {
            if counts.succeeded + counts.skipped > 0 {
                Skip
            } else if counts.failed + counts.upstream_failed == counts.total {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::AllDone => {
            if counts.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::OneSuccess => {
            if counts.succeeded > 0 {
                Run
            } else if !counts.all_done() {
                Wait
            } else if counts.skipped == counts.total {
                Skip
            } else {
                UpstreamFailed
            }
        }
        TriggerRule::OneFailed => {
            if counts.any_failed() {
                Run
            } else if counts.all_done() {
                Skip
            } else {
                Wait
            }
        }
        TriggerRule::NoneFailed => {
            if counts.any_failed() {
                UpstreamFailed
            } else if counts.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::NoneFailedMinOneSuccess => {
            if counts.any_failed() {
                UpstreamFailed
            } else if !counts.all_done() {
                Wait
            } else if counts.skipped == counts.total {
                Skip
            } else {
                Run
            }
        }
        TriggerRule::NoneSkipped => {
            if counts.skipped > 0 {
                Skip
            } else if counts.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::Always => Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    /// The mixes of the doc table: (label, states).
    const MIXES: &[(&str, &[TaskState])] = &[
        ("(none)", &[]),
        ("S S", &[Succeeded, Succeeded]),
        ("F F", &[Failed, Failed]),
        ("K K", &[Skipped, Skipped]),
        ("U U", &[UpstreamFailed, UpstreamFailed]),
        ("S F", &[Succeeded, Failed]),
        ("S K", &[Succeeded, Skipped]),
        ("F K", &[Failed, Skipped]),
        ("S R", &[Succeeded, Running]),
        ("F R", &[Failed, Running]),
        ("K R", &[Skipped, Running]),
        ("R R", &[Running, Running]),
    ];

    fn render_table() -> String {
        let mut out = String::from("| upstream |");
        for rule in TriggerRule::ALL {
            out.push_str(&format!(" {rule} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(TriggerRule::ALL.len()));
        for (label, states) in MIXES {
            out.push_str(&format!("\n| {label} |"));
            for rule in TriggerRule::ALL {
                out.push_str(&format!(" {} |", evaluate(rule, states).as_str()));
            }
        }
        out
    }

    #[test]
    fn doc_truth_table_is_what_evaluate_does() {
        let source = include_str!("rules.rs");
        let start = source
            .find("<!-- truth table start -->\n")
            .expect("the doc has a truth table start marker");
        let end = source
            .find("//! <!-- truth table end -->")
            .expect("the doc has a truth table end marker");
        let documented: String = source[start..end]
            .lines()
            .skip(1)
            .map(|line| line.trim_start_matches("//! "))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(documented, render_table());
    }

    #[track_caller]
    fn check(rule: TriggerRule, cases: &[(&[TaskState], Readiness)]) {
        for (states, want) in cases {
            assert_eq!(evaluate(rule, states), *want, "{rule} over {states:?}");
            // Order of upstream tasks never matters.
            let mut reversed = states.to_vec();
            reversed.reverse();
            assert_eq!(evaluate(rule, &reversed), *want, "{rule} over {reversed:?}");
        }
    }

    use Readiness::{Run, Skip, UpstreamFailed as UpFailed, Wait};

    #[test]
    fn all_success() {
        check(
            TriggerRule::AllSuccess,
            &[
                (&[Succeeded], Run),
                (&[Succeeded, Succeeded, Succeeded], Run),
                (&[Succeeded, Queued], Wait),
                (&[Pending], Wait),
                (&[WaitingApproval, Succeeded], Wait),
                // Decided early: one failure is enough, whatever the others do.
                (&[Failed, Pending], UpFailed),
                (&[TimedOut, Succeeded], UpFailed),
                (&[Cancelled], UpFailed),
                (&[UpstreamFailed, Running], UpFailed),
                // Skip propagation (a branch not taken skips everything below it).
                (&[Skipped], Skip),
                (&[Skipped, Running], Skip),
                (&[Skipped, Succeeded], Skip),
                // A failure wins over a skip.
                (&[Skipped, Failed], UpFailed),
            ],
        );
    }

    #[test]
    fn all_failed() {
        check(
            TriggerRule::AllFailed,
            &[
                (&[Failed, TimedOut, Cancelled], Run),
                (&[UpstreamFailed, Failed], Run),
                (&[Failed, Running], Wait),
                (&[Succeeded, Running], Skip),
                (&[Skipped, Failed], Skip),
            ],
        );
    }

    #[test]
    fn all_done() {
        check(
            TriggerRule::AllDone,
            &[
                (
                    &[
                        Succeeded,
                        Failed,
                        Skipped,
                        UpstreamFailed,
                        TimedOut,
                        Cancelled,
                    ],
                    Run,
                ),
                (&[Succeeded, WaitingApproval], Wait),
                (&[Failed, Queued], Wait),
            ],
        );
    }

    #[test]
    fn one_success() {
        check(
            TriggerRule::OneSuccess,
            &[
                // Does not wait for the others.
                (&[Succeeded, Running, Pending], Run),
                (&[Failed, Running], Wait),
                (&[Failed, Skipped], UpFailed),
                (&[UpstreamFailed, UpstreamFailed], UpFailed),
                (&[Skipped, Skipped], Skip),
                (&[Skipped, Pending], Wait),
            ],
        );
    }

    #[test]
    fn one_failed() {
        check(
            TriggerRule::OneFailed,
            &[
                (&[Failed, Running], Run),
                (&[TimedOut, Pending], Run),
                (&[UpstreamFailed, Succeeded], Run),
                (&[Succeeded, Running], Wait),
                (&[Succeeded, Skipped], Skip),
            ],
        );
    }

    #[test]
    fn none_failed() {
        check(
            TriggerRule::NoneFailed,
            &[
                (&[Succeeded, Skipped], Run),
                (&[Skipped, Skipped], Run),
                (&[Succeeded, Running], Wait),
                (&[Cancelled, Running], UpFailed),
                (&[UpstreamFailed, Succeeded], UpFailed),
            ],
        );
    }

    #[test]
    fn none_failed_min_one_success() {
        check(
            TriggerRule::NoneFailedMinOneSuccess,
            &[
                (&[Succeeded, Skipped], Run),
                (&[Skipped, Skipped], Skip),
                (&[Skipped, Running], Wait),
                (&[Failed, Skipped], UpFailed),
            ],
        );
    }

    #[test]
    fn none_skipped() {
        check(
            TriggerRule::NoneSkipped,
            &[
                (&[Succeeded, Failed, UpstreamFailed], Run),
                (&[Succeeded, Running], Wait),
                (&[Skipped, Running], Skip),
            ],
        );
    }

    #[test]
    fn always_and_roots() {
        for states in [&[][..], &[Pending], &[Running, Failed], &[Skipped]] {
            assert_eq!(evaluate(TriggerRule::Always, states), Run, "{states:?}");
        }
        for rule in TriggerRule::ALL {
            assert_eq!(evaluate(rule, &[]), Run, "{rule} with no upstream");
        }
    }

    /// Every rule over every pair of states: once every upstream task finished, the rule
    /// decides; a task is never skipped or marked upstream_failed early while it could
    /// still have run, and a task started early would also have run once all finished.
    /// (An early skip may turn out an upstream_failed later, as in Airflow: the task has
    /// left pending by then.)
    #[test]
    fn early_decisions_never_lose_a_run() {
        let finals = [
            Succeeded,
            Failed,
            TimedOut,
            Skipped,
            UpstreamFailed,
            Cancelled,
        ];
        for rule in TriggerRule::ALL {
            if rule == TriggerRule::Always {
                continue;
            }
            for a in TaskState::ALL {
                for b in TaskState::ALL {
                    let now = evaluate(rule, &[a, b]);
                    let ends_a: Vec<TaskState> = if a.is_terminal() {
                        vec![a]
                    } else {
                        finals.to_vec()
                    };
                    let ends_b: Vec<TaskState> = if b.is_terminal() {
                        vec![b]
                    } else {
                        finals.to_vec()
                    };
                    for end_a in &ends_a {
                        for end_b in &ends_b {
                            let later = evaluate(rule, &[*end_a, *end_b]);
                            assert_ne!(later, Wait, "{rule} over final {end_a} {end_b}");
                            if now == Run || (now != Wait && later == Run) {
                                assert_eq!(now, later, "{rule}: {a} {b} then {end_a} {end_b}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(state));
        }
        assert!("done".parse::<TaskState>().is_err());
        for state in RunState::ALL {
            assert_eq!(TaskState::from(state).as_str(), state.as_str());
        }
    }
}
