//! Admission of new and queued runs beyond the concurrency policy's decision
//! ([`crate::admit`]): which policies need the active runs counted, which run serially,
//! and when a queued workflow run may start under `max_active_runs`.

use crate::ConcurrencyPolicy;

/// Whether [`crate::admit`] needs the ids of the job's active runs for `policy`: only
/// `forbid` and `replace` look at them (`allow` and `queue` always admit), so a store may
/// skip counting them otherwise.
pub fn needs_active_runs(policy: ConcurrencyPolicy) -> bool {
    matches!(
        policy,
        ConcurrencyPolicy::Forbid | ConcurrencyPolicy::Replace
    )
}

/// Whether runs under `policy` run one at a time: `queue` admits every run and a claim
/// takes a queued run only while no other run of the job is running.
pub fn runs_serially(policy: ConcurrencyPolicy) -> bool {
    policy == ConcurrencyPolicy::Queue
}

/// Whether a queued workflow run may start now: fewer than `max_active` runs of the
/// workflow are running, counting those `started` earlier in the same pass
/// (Airflow's `max_active_runs`; at least one always may).
pub fn workflow_run_may_start(max_active: i64, running: i64, started: i64) -> bool {
    running + started < max_active.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Admission, RunId, admit};

    #[test]
    fn policies() {
        // (policy, needs active runs, serial)
        let table = [
            (ConcurrencyPolicy::Allow, false, false),
            (ConcurrencyPolicy::Forbid, true, false),
            (ConcurrencyPolicy::Queue, false, true),
            (ConcurrencyPolicy::Replace, true, false),
        ];
        for (policy, needs, serial) in table {
            assert_eq!(needs_active_runs(policy), needs, "{policy:?}");
            assert_eq!(runs_serially(policy), serial, "{policy:?}");
            // a policy that does not look at the active runs admits whatever they are
            if !needs {
                assert_eq!(admit(policy, &[RunId(1)]), Admission::Admit);
            }
        }
    }

    #[test]
    fn workflow_admission() {
        // (max_active, running, started earlier in this pass, may start)
        let table = [
            (1, 0, 0, true),
            (1, 1, 0, false),
            (1, 0, 1, false),
            (3, 1, 1, true),
            (3, 2, 1, false),
            (0, 0, 0, true),
            (0, 1, 0, false),
        ];
        for (max, running, started, want) in table {
            assert_eq!(
                workflow_run_may_start(max, running, started),
                want,
                "max {max} running {running} started {started}"
            );
        }
    }
}
