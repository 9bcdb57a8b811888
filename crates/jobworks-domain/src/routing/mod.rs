//! Routing: which agent of the fleet runs a task instance (issue 9, "Routing").
//!
//! A job or workflow task says where it runs with `run_on = { labels = { … },
//! strategy = "…", … }` ([`RunOn`], checked into a [`RunOnPolicy`]). Agents that are online
//! and carry the labels form the group ([`eligible`], ordered by name — XXL-JOB's executor
//! group); a [`Strategy`] picks from it ([`place`]), with XXL-JOB's ten strategies
//! (`ExecutorRouteStrategyEnum`) plus `least_loaded`. What a strategy must remember between
//! runs of a job (round-robin counter, use counts, last uses) is a [`RoutingMemory`] value
//! the caller stores and passes back: there is no hidden state.
//!
//! Pure: no I/O, no clock (callers pass `now_ms`, Unix milliseconds), no global state, and
//! randomness comes in as a `seed: u64` drawn fresh by the caller, so every decision is a
//! function of its inputs and tested by tables (`tests*.rs`).

mod agent;
mod hash;
mod liveness;
mod lost;
mod memory;
mod place;
mod run_on;
mod strategy;
mod wait;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hash;
#[cfg(test)]
mod tests_run_on;
#[cfg(test)]
mod tests_wait;

pub use agent::{AgentState, AgentView, describe_labels, eligible, matches};
pub use hash::{HashRing, VIRTUAL_NODES, stable_hash};
pub use liveness::{AdminState, OFFLINE_AFTER_INTERVALS, SUSPECT_AFTER_INTERVALS, effective_state};
pub use lost::{AgentLost, agent_lost, placement_timed_out};
pub use memory::{RoutingMemory, USE_COUNTS_RESET_MS};
pub use place::{Placement, place};
pub use run_on::{
    DEFAULT_AGENT_LOST_AFTER_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, HashKey, MAX_LABEL_LEN, MAX_SHARDS,
    MIN_AGENT_LOST_AFTER_MS, OnAgentLost, RUN_ON_FIELDS, RunOn, RunOnPolicy, RunOnProblem,
};
pub use strategy::Strategy;
pub use wait::{Rejection, WaitReason, human_bytes};
