//! Why a task cannot be placed yet: the reason shown while it waits `queued`.

use super::agent::AgentState;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why no agent was chosen. The task stays `queued` with this reason shown (its `Display`,
/// e.g. `no online agent matches site=bj`) until a later placement succeeds or
/// `placement_timeout` fails it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WaitReason {
    /// The group is empty.
    NoMatch {
        /// The wanted labels as `k=v,k=v`; empty when `run_on` names none.
        labels: String,
        /// Agents that match the labels but are not online, by name, with their state.
        not_online: Vec<(String, AgentState)>,
    },
    /// `busyover` or `least_loaded`: every agent of the group has all its slots in use.
    AllBusy {
        /// Size of the group.
        matching: usize,
    },
    /// `failover`: no agent of the group has heartbeated within 1.5 of its intervals.
    NoneHealthy {
        /// Size of the group.
        matching: usize,
    },
    /// `least_loaded`: every agent was turned down, each for the reason given.
    NoneFit {
        /// Each agent of the group (by name) and why it was turned down.
        rejected: Vec<(String, Rejection)>,
    },
}

/// Why `least_loaded` turned an agent down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Rejection {
    /// All its slots are in use.
    NoFreeSlot,
    /// `max_cpu_percent` is set and the agent reported no CPU figure.
    CpuUnknown,
    /// It reported more CPU than `max_cpu_percent`.
    CpuOver {
        /// Reported CPU, percent.
        cpu_percent: f64,
        /// The ceiling, percent.
        max_cpu_percent: f64,
    },
    /// `min_free_memory` is set and the agent reported no memory figure.
    MemoryUnknown,
    /// It reported less free memory than `min_free_memory`.
    MemoryUnder {
        /// Reported free memory, bytes.
        free_bytes: u64,
        /// The floor, bytes.
        min_bytes: u64,
    },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::NoMatch { labels, not_online } => {
                if labels.is_empty() {
                    f.write_str("no agent is online")?;
                } else {
                    write!(f, "no online agent matches {labels}")?;
                }
                if !not_online.is_empty() {
                    let listed: Vec<String> = not_online
                        .iter()
                        .map(|(name, state)| format!("{name} is {state}"))
                        .collect();
                    write!(f, " ({})", listed.join(", "))?;
                }
                Ok(())
            }
            WaitReason::AllBusy { matching } => match matching {
                1 => f.write_str("the only matching agent is busy"),
                n => write!(f, "all {n} matching agents are busy"),
            },
            WaitReason::NoneHealthy { matching } => write!(
                f,
                "no heartbeat within 1.5 intervals from any of the {matching} matching \
                 agent{}",
                if *matching == 1 { "" } else { "s" }
            ),
            WaitReason::NoneFit { rejected } => {
                let listed: Vec<String> = rejected
                    .iter()
                    .map(|(name, why)| format!("{name} {why}"))
                    .collect();
                let n = rejected.len();
                let agents = if n == 1 { "agent" } else { "agents" };
                write!(
                    f,
                    "none of the {n} matching {agents} fits: {}",
                    listed.join(", ")
                )
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NoFreeSlot => f.write_str("has no free slot"),
            Rejection::CpuUnknown => f.write_str("reports no CPU use"),
            Rejection::CpuOver {
                cpu_percent,
                max_cpu_percent,
            } => write!(f, "is at CPU {cpu_percent}% (max {max_cpu_percent}%)"),
            Rejection::MemoryUnknown => f.write_str("reports no free memory"),
            Rejection::MemoryUnder {
                free_bytes,
                min_bytes,
            } => write!(
                f,
                "has {} free memory (min {})",
                human_bytes(*free_bytes),
                human_bytes(*min_bytes)
            ),
        }
    }
}

/// `512MiB`, `1GiB`, `1.5GiB`, `900B`: bytes in the largest binary unit that leaves at least
/// 1, with one decimal when it is not whole.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, size) in UNITS {
        if bytes >= size {
            if bytes.is_multiple_of(size) {
                return format!("{}{name}", bytes / size);
            }
            // Display only: the f64 rounding is far below the one decimal shown.
            let value = bytes as f64 / size as f64;
            return format!("{value:.1}{name}");
        }
    }
    format!("{bytes}B")
}
