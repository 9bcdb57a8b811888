//! Parallel group decisions: whether a group's completion policy is met, and which members
//! to start next under its parallelism limit.

use super::rules::TaskState;
use super::spec::GroupPolicy;

/// Where a group stands, given its members' states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupDecision {
    /// The outcome is not certain yet: keep running members.
    Open,
    /// The policy is met; the reason names the deciding members.
    Succeeded(String),
    /// The policy can no longer be met.
    Failed(String),
}

/// Decides a group by `policy` over its members' `(id, state)` in member order, as soon as
/// the outcome is certain:
///
/// - `all`: fails at the first member that ended other than succeeded; succeeds when all
///   succeeded;
/// - `any`: succeeds at the first success; fails when every member ended and none
///   succeeded;
/// - `ratio`: succeeds once `ceil(n × percent / 100)` members succeeded; fails once that
///   many can no longer succeed.
///
/// A group without members succeeds (validation refuses such groups).
pub fn decide_group(policy: GroupPolicy, members: &[(&str, TaskState)]) -> GroupDecision {
    let total = members.len();
    if total == 0 {
        return GroupDecision::Succeeded("the group has no members".to_owned());
    }
    let succeeded = members
        .iter()
        .filter(|(_, state)| *state == TaskState::Succeeded)
        .count();
    let unfinished = members
        .iter()
        .filter(|(_, state)| !state.is_terminal())
        .count();
    match policy {
        GroupPolicy::All => {
            if let Some((id, state)) = members
                .iter()
                .find(|(_, state)| state.is_terminal() && *state != TaskState::Succeeded)
            {
                GroupDecision::Failed(format!("member `{id}` {}", ended(*state)))
            } else if succeeded == total {
                GroupDecision::Succeeded(format!("all {total} members succeeded"))
            } else {
                GroupDecision::Open
            }
        }
        GroupPolicy::Any => {
            if let Some((id, _)) = members
                .iter()
                .find(|(_, state)| *state == TaskState::Succeeded)
            {
                GroupDecision::Succeeded(format!("member `{id}` succeeded"))
            } else if unfinished == 0 {
                GroupDecision::Failed(format!("none of the {total} members succeeded"))
            } else {
                GroupDecision::Open
            }
        }
        GroupPolicy::Ratio {
            min_success_percent,
        } => {
            let needed = (total * usize::from(min_success_percent))
                .div_ceil(100)
                .max(1);
            if succeeded >= needed {
                GroupDecision::Succeeded(format!(
                    "{succeeded} of {total} members succeeded, {min_success_percent}% needs {needed}"
                ))
            } else if succeeded + unfinished < needed {
                GroupDecision::Failed(format!(
                    "at most {} of {total} members can succeed, {min_success_percent}% needs {needed}",
                    succeeded + unfinished
                ))
            } else {
                GroupDecision::Open
            }
        }
    }
}

/// How a member ended, for reasons: `failed`, `timed out`, `was cancelled`, ...
fn ended(state: TaskState) -> &'static str {
    match state {
        TaskState::Failed => "failed",
        TaskState::TimedOut => "timed out",
        TaskState::Cancelled => "was cancelled",
        TaskState::Skipped => "was skipped",
        TaskState::UpstreamFailed => "was upstream_failed",
        _ => "ended",
    }
}

/// Indexes (into `members`) of the pending members to start now: in member order, as many
/// as keep the active (queued, running, waiting for approval) members within
/// `max_parallelism` (`None` = all of them).
pub fn members_to_start(max_parallelism: Option<u32>, members: &[TaskState]) -> Vec<usize> {
    let active = members.iter().filter(|state| state.is_active()).count();
    let room = match max_parallelism {
        Some(max) => usize::try_from(max)
            .unwrap_or(usize::MAX)
            .saturating_sub(active),
        None => usize::MAX,
    };
    members
        .iter()
        .enumerate()
        .filter(|(_, state)| **state == TaskState::Pending)
        .map(|(index, _)| index)
        .take(room)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    /// `states` is one letter per member: S succeeded, F failed, T timed out, C cancelled,
    /// P pending, R running, Q queued.
    #[track_caller]
    fn check(policy: GroupPolicy, states: &str, expected: &str) {
        let names = ["m1", "m2", "m3", "m4", "m5"];
        let members: Vec<(&str, TaskState)> = states
            .chars()
            .zip(names)
            .map(|(letter, name)| {
                let state = match letter {
                    'S' => Succeeded,
                    'F' => Failed,
                    'T' => TimedOut,
                    'C' => Cancelled,
                    'P' => Pending,
                    'R' => Running,
                    'Q' => Queued,
                    other => panic!("unknown state letter {other}"),
                };
                (name, state)
            })
            .collect();
        let got = match decide_group(policy, &members) {
            GroupDecision::Open => "open".to_owned(),
            GroupDecision::Succeeded(reason) => format!("succeeded: {reason}"),
            GroupDecision::Failed(reason) => format!("failed: {reason}"),
        };
        assert_eq!(got, expected, "{policy:?} {states}");
    }

    #[test]
    fn all() {
        let cases = [
            ("SSS", "succeeded: all 3 members succeeded"),
            ("SSR", "open"),
            ("PPP", "open"),
            // Decided at the first failure, while others still run.
            ("SRF", "failed: member `m3` failed"),
            ("TRP", "failed: member `m1` timed out"),
            ("SCS", "failed: member `m2` was cancelled"),
        ];
        for (states, expected) in cases {
            check(GroupPolicy::All, states, expected);
        }
    }

    #[test]
    fn any() {
        let cases = [
            ("FRS", "succeeded: member `m3` succeeded"),
            ("RRP", "open"),
            ("FFR", "open"),
            ("FTC", "failed: none of the 3 members succeeded"),
        ];
        for (states, expected) in cases {
            check(GroupPolicy::Any, states, expected);
        }
    }

    #[test]
    fn ratio() {
        let sixty = GroupPolicy::Ratio {
            min_success_percent: 60,
        };
        let cases = [
            // 60% of 5 is 3.
            ("SSSRR", "succeeded: 3 of 5 members succeeded, 60% needs 3"),
            ("SSRRR", "open"),
            ("SSFFR", "open"),
            ("SFFRR", "open"),
            (
                "SFFFR",
                "failed: at most 2 of 5 members can succeed, 60% needs 3",
            ),
        ];
        for (states, expected) in cases {
            check(sixty, states, expected);
        }
        // Rounded up to whole members: 50% of 3 is 2; 1% of 3 is 1; 100% is all.
        let half = GroupPolicy::Ratio {
            min_success_percent: 50,
        };
        check(half, "SRR", "open");
        check(
            half,
            "SSR",
            "succeeded: 2 of 3 members succeeded, 50% needs 2",
        );
        let one = GroupPolicy::Ratio {
            min_success_percent: 1,
        };
        check(
            one,
            "FRS",
            "succeeded: 1 of 3 members succeeded, 1% needs 1",
        );
        let hundred = GroupPolicy::Ratio {
            min_success_percent: 100,
        };
        check(
            hundred,
            "SSF",
            "failed: at most 2 of 3 members can succeed, 100% needs 3",
        );
    }

    #[test]
    fn empty_group_succeeds() {
        for policy in [GroupPolicy::All, GroupPolicy::Any] {
            check(policy, "", "succeeded: the group has no members");
        }
    }

    #[test]
    fn parallelism() {
        let cases: &[(Option<u32>, &[TaskState], &[usize])] = &[
            (None, &[Pending, Pending, Pending], &[0, 1, 2]),
            (Some(2), &[Pending, Pending, Pending], &[0, 1]),
            (Some(2), &[Running, Pending, Pending], &[1]),
            (Some(2), &[Running, WaitingApproval, Pending], &[]),
            (Some(2), &[Succeeded, Queued, Pending, Pending], &[2]),
            (Some(1), &[Failed, Succeeded, Pending], &[2]),
            (Some(0), &[Pending], &[]),
        ];
        for (max, states, want) in cases {
            assert_eq!(members_to_start(*max, states), *want, "{max:?} {states:?}");
        }
    }
}
