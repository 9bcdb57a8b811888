//! Concurrency policy: what happens when a job is triggered while an earlier run of it is
//! still queued or running (Kubernetes CronJob's `concurrencyPolicy`, extended with `queue`).

use crate::RunId;
use serde::{Deserialize, Serialize};

/// How a job treats overlapping runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyPolicy {
    /// Runs overlap freely.
    #[default]
    Allow,
    /// The new run is recorded as `skipped` while an earlier one is active.
    Forbid,
    /// The new run waits until earlier runs of the job finish (serial execution).
    Queue,
    /// Earlier active runs are cancelled and the new run starts.
    Replace,
}

impl ConcurrencyPolicy {
    /// The snake_case name used in job files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Allow => "allow",
            ConcurrencyPolicy::Forbid => "forbid",
            ConcurrencyPolicy::Queue => "queue",
            ConcurrencyPolicy::Replace => "replace",
        }
    }
}

/// The decision for a new run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Queue the run.
    Admit,
    /// Record the run as skipped with this reason.
    Skip(String),
    /// Cancel these runs (reason: replaced), then queue the new one.
    Replace(Vec<RunId>),
}

/// Decides whether a new run of a job may be queued, given the ids of its runs that are
/// still queued or running (`active`, oldest first). `queue` always admits: serial order is
/// enforced when runs are claimed, not here.
pub fn admit(policy: ConcurrencyPolicy, active: &[RunId]) -> Admission {
    match (policy, active.is_empty()) {
        (_, true) | (ConcurrencyPolicy::Allow, _) | (ConcurrencyPolicy::Queue, _) => {
            Admission::Admit
        }
        (ConcurrencyPolicy::Forbid, false) => Admission::Skip(format!(
            "concurrency policy forbid: run {} is still active",
            active[active.len() - 1]
        )),
        (ConcurrencyPolicy::Replace, false) => Admission::Replace(active.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let none: [RunId; 0] = [];
        let two = [RunId(4), RunId(7)];
        let cases = [
            (ConcurrencyPolicy::Allow, &none[..], Admission::Admit),
            (ConcurrencyPolicy::Allow, &two[..], Admission::Admit),
            (ConcurrencyPolicy::Queue, &two[..], Admission::Admit),
            (ConcurrencyPolicy::Forbid, &none[..], Admission::Admit),
            (
                ConcurrencyPolicy::Forbid,
                &two[..],
                Admission::Skip("concurrency policy forbid: run 7 is still active".into()),
            ),
            (ConcurrencyPolicy::Replace, &none[..], Admission::Admit),
            (
                ConcurrencyPolicy::Replace,
                &two[..],
                Admission::Replace(two.to_vec()),
            ),
        ];
        for (policy, active, want) in cases {
            assert_eq!(admit(policy, active), want, "{policy:?} {active:?}");
        }
    }
}
