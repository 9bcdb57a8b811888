//! The placer: on the leader, decides which agent runs each targeted task instance (a job or
//! workflow task with `run_on`, issue 9 "Routing") and writes it, so that agent's claims
//! take it. Untargeted task instances never pass through here: the server's own pool (or,
//! with `workers = 0`, any agent) claims them as before.
//!
//! One pass: the agents from an [`AgentSource`], the task instances that need placing
//! (`Store::tasks_to_place`: unplaced, or placed on an agent no longer online), the plain
//! decision [`plan`] (the domain's [`place`] per task with a fresh seed, the routing memory
//! carried from one task of a definition to the next), then the guarded writes: placements
//! with their memory, wait reasons ("no online agent matches site=bj"), and failures of
//! tasks whose `placement_timeout` passed. Held agent claims are woken after placements are
//! written. A pass runs at every dispatch wake-up and every [`SCAN_EVERY`] (agents come and
//! go without any store write).

use crate::workflow::AdvanceSender;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::lifecycle::placement_timeout_reason;
use jobworks_domain::routing::{
    AgentState, AgentView, Placement, RoutingMemory, place, placement_timed_out,
};
use jobworks_domain::{JobId, ParamValue, TaskInstanceId};
use jobworks_store::{NewPlacement, PlacementWait, Store, StoreError, TaskToPlace};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The safety scan: a pass at least this often while leading (agents appear, leave and free
/// slots without a store write that would wake the placer).
pub const SCAN_EVERY: Duration = Duration::from_millis(250);

/// Most task instances read per pass; a full page is followed at once by another pass.
pub const PAGE: u32 = 500;

/// Where the placer learns which agents exist: their names, labels, states and slots as
/// routing sees them ([`AgentView`]). The server's is the agent registry
/// ([`crate::registry_agents::RegistryAgents`]); tests pass fixed lists.
#[async_trait]
pub trait AgentSource: Send + Sync {
    /// Every known agent at `now` (any state; routing keeps the online ones that match).
    /// Errors: the source could not be read (the pass is skipped and tried again).
    async fn agents(&self, now: DateTime<Utc>) -> Result<Vec<AgentView>, StoreError>;
}

/// A task instance whose `placement_timeout` passed: fail it with `reason` if its placement
/// is still `expected`.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The task instance.
    pub task_instance_id: TaskInstanceId,
    /// Its placement when read.
    pub expected: Option<String>,
    /// Why it fails (`lifecycle::placement_timeout_reason`).
    pub reason: String,
}

/// What one pass writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Task instances placed on an agent, in the order read.
    pub placements: Vec<NewPlacement>,
    /// Task instances that wait, with why.
    pub waits: Vec<PlacementWait>,
    /// Task instances that waited past their `placement_timeout`.
    pub failures: Vec<Failure>,
}

/// The placements of one pass, a plain function of its inputs: `tasks` in the order read
/// (priority, then age), `agents` as the source gave them, `now`, and `seed` (fresh per pass;
/// task `i` places with a seed mixed from it and `i`).
///
/// Per task: [`place`] with its `run_on`, its consistent-hash key (the job name or the named
/// parameter's value, [`jobworks_domain::routing::RunOnPolicy::routing_key`]) and the
/// routing memory of its definition and task — the one read with it for the first such task
/// of the pass, then the one the previous placement returned. A task placed takes a slot of
/// its agent for the rest of the pass (so `busyover` and `least_loaded` see it). A task that
/// must wait fails instead once `placement_timeout` has passed since it became ready
/// ([`placement_timed_out`]); a wait whose reason is the one recorded (and no stale
/// placement to drop) is left out; sharded placements (refused when files are checked) fail
/// at once. A task without `run_on` is skipped.
pub fn plan(tasks: &[TaskToPlace], agents: &[AgentView], now: DateTime<Utc>, seed: u64) -> Plan {
    let mut agents = agents.to_vec();
    let mut memories: HashMap<(JobId, String), RoutingMemory> = HashMap::new();
    let mut out = Plan::default();
    let now_ms = now.timestamp_millis();
    for (index, task) in tasks.iter().enumerate() {
        let Some(run_on) = &task.spec.run_on else {
            continue;
        };
        let key = (task.definition_id, task.task.clone());
        let memory = memories
            .entry(key.clone())
            .or_insert_with(|| task.memory.clone())
            .clone();
        let params = param_values(&task.params);
        let routing_key = run_on.routing_key(&task.spec.name, &params);
        let seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match place(run_on, &agents, &routing_key, &memory, now_ms, seed) {
            Placement::One { agent, memory } => {
                if let Some(view) = agents.iter_mut().find(|view| view.name == agent) {
                    view.slots_used = view.slots_used.saturating_add(1);
                }
                memories.insert(key, memory.clone());
                out.placements.push(NewPlacement {
                    task_instance_id: task.task_instance_id,
                    expected: task.placed_agent.clone(),
                    reason: placed_reason(&agent, run_on.strategy.as_str(), task),
                    agent,
                    memory,
                });
            }
            Placement::Wait { reason } => {
                let reason = reason.to_string();
                if placement_timed_out(run_on, task.ready_since.timestamp_millis(), now_ms) {
                    let timeout = Duration::from_millis(run_on.placement_timeout_ms.unwrap_or(0));
                    out.failures.push(Failure {
                        task_instance_id: task.task_instance_id,
                        expected: task.placed_agent.clone(),
                        reason: placement_timeout_reason(
                            &jobworks_schedule::format_duration(timeout),
                            Some(&reason),
                        ),
                    });
                } else if task.placed_agent.is_some()
                    || task.wait_reason.as_deref() != Some(reason.as_str())
                {
                    // an unchanged wait writes nothing (no write transaction per scan)
                    out.waits.push(PlacementWait {
                        task_instance_id: task.task_instance_id,
                        expected: task.placed_agent.clone(),
                        reason,
                    });
                }
            }
            Placement::Broadcast { .. } | Placement::Shards { .. } => {
                out.failures.push(Failure {
                    task_instance_id: task.task_instance_id,
                    expected: task.placed_agent.clone(),
                    reason: "sharded placement is not supported yet".to_owned(),
                });
            }
        }
    }
    out
}

/// `placed on edge-1 (round_robin)`, or `… (round_robin; edge-0 is gone)` for a re-placement.
fn placed_reason(agent: &str, strategy: &str, task: &TaskToPlace) -> String {
    match &task.placed_agent {
        Some(old) => format!("placed on {agent} ({strategy}; {old} is not online)"),
        None => format!("placed on {agent} ({strategy})"),
    }
}

/// A run's parameter values by name; values that are not scalars are left out.
fn param_values(params: &serde_json::Value) -> BTreeMap<String, ParamValue> {
    params
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter_map(|(name, value)| {
                    serde_json::from_value::<ParamValue>(value.clone())
                        .ok()
                        .map(|value| (name.clone(), value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The placement actor (see the module doc). Cheap to clone.
#[derive(Clone)]
pub(crate) struct Placer {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where agents come from.
    pub agents: Arc<dyn AgentSource>,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    /// A pass now: every dispatch wake-up (task instances were queued) reaches it.
    pub wake: Arc<Notify>,
    /// Bumped after placements are written: wakes every held agent claim.
    pub agent_work: Arc<watch::Sender<u64>>,
    /// Workflow runs whose task failed by `placement_timeout` move on.
    pub advance: AdvanceSender,
    /// Runs that ended, for their log followers.
    pub followers: crate::follow::LogHub,
}

impl Placer {
    /// Passes until `stop` (run it under [`crate::leader::while_leading`]). Store errors are
    /// logged and the pass tried again at the next wake-up or scan.
    pub(crate) async fn run(self, stop: CancellationToken) {
        loop {
            let more = match self.pass().await {
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(error = %e, "placing tasks on agents failed");
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(SCAN_EVERY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One pass; `true` when a full page was read and placements were written (more may
    /// be placeable now; a full page of waiting tasks waits for the next wake-up).
    pub(crate) async fn pass(&self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let agents = self.agents.agents(now).await?;
        let online: Vec<String> = agents
            .iter()
            .filter(|agent| agent.state == AgentState::Online)
            .map(|agent| agent.name.clone())
            .collect();
        let tasks = self
            .store
            .tasks_to_place(&online, now + jobworks_worker::LOOKAHEAD, PAGE)
            .await?;
        if tasks.is_empty() {
            return Ok(false);
        }
        let full = tasks.len() == PAGE as usize;
        let plan = plan(&tasks, &agents, now, rand::random());
        let mut placed = false;
        if !plan.placements.is_empty() {
            let written = self.store.write_placements(plan.placements, now).await?;
            placed = written.iter().any(|placed| *placed);
            if placed {
                self.agent_work.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        if !plan.waits.is_empty() {
            self.store.record_waits(plan.waits, now).await?;
        }
        for failure in plan.failures {
            let failed = self
                .store
                .fail_unplaced(
                    failure.task_instance_id,
                    failure.expected.as_deref(),
                    &failure.reason,
                    now,
                )
                .await?;
            if let Some(failed) = failed {
                self.followers.changed(vec![failed.run_id]);
                if let Some(run) = failed.advance {
                    self.advance.advance(run);
                }
            }
        }
        Ok(full && placed)
    }
}

#[cfg(test)]
#[path = "placer_tests.rs"]
mod tests;
