//! What routing sees of an agent, label matching, and the eligible group.

use super::run_on::RunOnPolicy;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An agent's state in the registry (REFERENCE §1.8; issue 9 "Heartbeat and state").
/// Only `online` agents receive new work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Heartbeating on time; takes new work.
    Online,
    /// Missed heartbeats (about three): no new work is placed on it, its attempts still run.
    Suspect,
    /// Not heard from for longer; its attempts are decided by `on_agent_lost`.
    Offline,
    /// Finishing what it has, taking nothing new (`jobworks agents drain NAME`).
    Draining,
    /// Cut off by an operator (`jobworks agents revoke NAME`).
    Revoked,
}

impl AgentState {
    /// The snake-case name: `online`, `suspect`, `offline`, `draining`, `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Online => "online",
            AgentState::Suspect => "suspect",
            AgentState::Offline => "offline",
            AgentState::Draining => "draining",
            AgentState::Revoked => "revoked",
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One agent as the registry last saw it: the input of every routing decision.
///
/// Built by the caller from the registry (heartbeats); routing never changes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// Unique agent name; the group is ordered by it.
    pub name: String,
    /// Labels set by the enrollment token and the server, e.g. `site = "bj"`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Registry state; only [`AgentState::Online`] agents are eligible.
    pub state: AgentState,
    /// Slots the agent offers (concurrent attempts).
    pub slots_total: u32,
    /// Slots in use (running or assigned attempts). May exceed `slots_total` after the
    /// agent lowered its slots; then it has no free slot.
    pub slots_used: u32,
    /// Reported CPU use, percent of all cores (0–100); `None` when not reported.
    /// Non-finite values count as not reported.
    pub cpu_percent: Option<f64>,
    /// Reported free memory in bytes; `None` when not reported.
    pub free_memory_bytes: Option<u64>,
    /// When the last heartbeat arrived, Unix milliseconds (server clock).
    pub last_heartbeat_ms: i64,
    /// The heartbeat interval the server asked this agent to keep, in ms (15 000 by default,
    /// larger in big fleets). [`super::Strategy::Failover`] judges freshness against it.
    pub heartbeat_interval_ms: u64,
}

impl AgentView {
    /// Slots not in use: `slots_total - slots_used`, never below 0.
    pub fn free_slots(&self) -> u32 {
        self.slots_total.saturating_sub(self.slots_used)
    }

    /// Reported CPU percent when it is a finite number.
    pub fn cpu(&self) -> Option<f64> {
        self.cpu_percent.filter(|cpu| cpu.is_finite())
    }

    /// Whether a heartbeat arrived within 1.5 heartbeat intervals before `now_ms` (one
    /// interval, its ±20 % jitter, and slack for delay): the health check of
    /// [`super::Strategy::Failover`]. A heartbeat stamped after `now_ms` (clock step) counts
    /// as fresh.
    pub fn heard_recently(&self, now_ms: i64) -> bool {
        let window =
            i64::try_from(self.heartbeat_interval_ms.saturating_mul(3) / 2).unwrap_or(i64::MAX);
        now_ms.saturating_sub(self.last_heartbeat_ms) <= window
    }
}

/// Whether `agent` carries every wanted label with the same value (exact, case-sensitive).
/// No wanted labels matches every agent. The agent's state is not looked at.
pub fn matches(labels_wanted: &BTreeMap<String, String>, agent: &AgentView) -> bool {
    labels_wanted
        .iter()
        .all(|(key, value)| agent.labels.get(key) == Some(value))
}

/// The group a task is routed in: agents that are [`AgentState::Online`] and [`matches()`]
/// the wanted labels, ordered by name (so every decision is deterministic). Suspect,
/// offline, draining and revoked agents are left out. A name given twice keeps its first
/// entry.
pub fn eligible<'a>(agents: &'a [AgentView], run_on: &RunOnPolicy) -> Vec<&'a AgentView> {
    group(agents, &run_on.labels)
}

/// [`eligible`] for a bare label set.
pub(crate) fn group<'a>(
    agents: &'a [AgentView],
    labels: &BTreeMap<String, String>,
) -> Vec<&'a AgentView> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<&AgentView> = agents
        .iter()
        .filter(|agent| agent.state == AgentState::Online && matches(labels, agent))
        .filter(|agent| seen.insert(agent.name.as_str()))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `site=bj,role=db`: a label set as written on the command line, keys in order; empty for
/// no labels.
pub fn describe_labels(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}
