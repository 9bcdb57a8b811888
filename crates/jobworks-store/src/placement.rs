//! Records of routing (issue 9, "Routing"): who claims ([`ClaimScope`]), the task instances
//! the placer decides on ([`TaskToPlace`]), and what it writes back ([`NewPlacement`],
//! [`PlacementWait`], [`UnplacedFailure`]).
//!
//! A task instance whose spec has `run_on` is **targeted**: the store marks it when it is
//! queued, the server's own pool never claims it, and an agent claims it only once the
//! leader's placer has written it to that agent's name. Untargeted task instances never pass
//! through the placer.

use chrono::{DateTime, Utc};
use jobworks_domain::routing::RoutingMemory;
use jobworks_domain::{JobId, JobSpec, RunId, RunState, TaskInstanceId};
use serde::{Deserialize, Serialize};

/// Who calls `Store::claim`, which decides what it may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimScope {
    /// The server's own worker pool: untargeted task instances only.
    Pool,
    /// A remote agent: task instances placed on `name`, plus untargeted ones when
    /// `untargeted` (its server runs no pool of its own, `workers = 0`, so agents run
    /// everything as before routing existed).
    Agent {
        /// The agent's name (its worker id without the `-<UUID v7>`).
        name: String,
        /// Whether it also takes untargeted task instances.
        untargeted: bool,
    },
}

impl ClaimScope {
    /// An agent that takes only what is placed on it.
    pub fn agent(name: impl Into<String>) -> ClaimScope {
        ClaimScope::Agent {
            name: name.into(),
            untargeted: false,
        }
    }
}

/// A queued, ready, targeted task instance that needs an agent (see
/// `Store::tasks_to_place`), with what [`jobworks_domain::routing::place`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskToPlace {
    /// The task instance.
    pub task_instance_id: TaskInstanceId,
    /// Its run.
    pub run_id: RunId,
    /// The definition (job or workflow) the run is of; the routing memory is kept per
    /// definition and task.
    pub definition_id: JobId,
    /// Task key (`main` for a job run).
    pub task: String,
    /// The spec its attempts run (for a workflow task, the job-shaped spec); `run_on` is
    /// `Some`.
    pub spec: JobSpec,
    /// The run's parameter values (JSON object).
    pub params: serde_json::Value,
    /// The agent it is placed on now, when that agent is no longer in the live set.
    pub placed_agent: Option<String>,
    /// Since when it is ready to run (its not-before time, else when it was queued): the
    /// start of its `placement_timeout`.
    pub ready_since: DateTime<Utc>,
    /// The wait reason recorded last, if any.
    pub wait_reason: Option<String>,
    /// The routing memory of its definition and task (default when never placed).
    pub memory: RoutingMemory,
}

/// A placement to write (see `Store::write_placements`).
#[derive(Clone, Debug, PartialEq)]
pub struct NewPlacement {
    /// The task instance.
    pub task_instance_id: TaskInstanceId,
    /// The placement read with it (`TaskToPlace::placed_agent`): written only if unchanged.
    pub expected: Option<String>,
    /// The agent it goes to.
    pub agent: String,
    /// Recorded with the run's event: `placed on edge-1 (round_robin)`.
    pub reason: String,
    /// The routing memory of its definition and task after this placement.
    pub memory: RoutingMemory,
}

/// A wait to record (see `Store::record_waits`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementWait {
    /// The task instance.
    pub task_instance_id: TaskInstanceId,
    /// The placement read with it: the wait is written only if unchanged (and the stale
    /// placement is cleared).
    pub expected: Option<String>,
    /// Why it waits, for people: `no online agent matches site=bj`.
    pub reason: String,
}

/// What `Store::fail_unplaced` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnplacedFailure {
    /// The task instance's run.
    pub run_id: RunId,
    /// The run's state after it: `failed` for a job run; a workflow run's own state (its
    /// engine decides next).
    pub run_state: RunState,
    /// The workflow run to advance: the run itself for a workflow task, the parent of a job
    /// run a workflow called.
    pub advance: Option<RunId>,
}

/// Whether a definition version's stored spec (`job_versions.spec_json`) routes its job runs
/// to agents: a job spec with `run_on`. A workflow's runs are never targeted themselves
/// (each of its tasks is, when queued from a task spec with `run_on`). Unreadable JSON
/// counts as untargeted (the claim reports it when it reads the spec).
pub fn job_spec_json_is_targeted(kind: crate::DefinitionKind, spec_json: &str) -> bool {
    kind == crate::DefinitionKind::Job
        && serde_json::from_str::<serde_json::Value>(spec_json)
            .ok()
            .and_then(|spec| spec.get("run_on").map(|run_on| !run_on.is_null()))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DefinitionKind::{Job, Workflow};

    #[test]
    fn job_runs_are_targeted_when_their_spec_has_run_on() {
        for (kind, json, targeted) in [
            (Job, r#"{"name":"a","run_on":{"labels":{}}}"#, true),
            (Job, r#"{"name":"a"}"#, false),
            (Job, r#"{"name":"a","run_on":null}"#, false),
            (Job, "not json", false),
            // a workflow's own spec never routes: its tasks do, when queued
            (Workflow, r#"{"name":"w","run_on":{"labels":{}}}"#, false),
        ] {
            assert_eq!(
                job_spec_json_is_targeted(kind, json),
                targeted,
                "{kind:?} {json}"
            );
        }
    }
}
