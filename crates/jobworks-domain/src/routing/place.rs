//! Placement: which agent (or agents) a task instance goes to.

use super::agent::{AgentState, AgentView, describe_labels, eligible, matches};
use super::hash::HashRing;
use super::memory::{RoutingMemory, USE_COUNTS_RESET_MS, mix};
use super::run_on::RunOnPolicy;
use super::strategy::Strategy;
use super::wait::{Rejection, WaitReason};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The outcome of [`place`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Placement {
    /// Run on this agent; store `memory` as the job's new [`RoutingMemory`] (unchanged for
    /// strategies that keep none).
    One {
        /// The chosen agent's name.
        agent: String,
        /// The job's routing memory after this placement.
        memory: RoutingMemory,
    },
    /// `sharding_broadcast`: one shard per agent; shard index = position in `agents`
    /// (ordered by name), shard total = `agents.len()`.
    Broadcast {
        /// Every agent of the group, by name.
        agents: Vec<String>,
    },
    /// `shards = N`: shard `i` runs on `agents[i]`; `agents.len() == N`. Agents may repeat.
    Shards {
        /// The agent of each shard, in shard order.
        agents: Vec<String>,
    },
    /// Nothing can be placed now; the task stays `queued` showing the reason.
    Wait {
        /// Why, for people (`Display`) and for the API (serialized).
        reason: WaitReason,
    },
}

/// Places a task instance of a job routed by `run_on` on the fleet `agents`.
///
/// - `agents`: the registry's view of every agent (any state, any labels, any order);
///   [`eligible`] makes the group. To retry a shard away from a lost agent, leave that
///   agent out.
/// - `key`: the consistent-hash key — the job name for [`super::HashKey::Job`], the
///   parameter's value as text for [`super::HashKey::Param`]. Ignored by other strategies.
/// - `memory`: the job's stored [`RoutingMemory`]; the new memory comes back in
///   [`Placement::One`].
/// - `now_ms`: the server's clock, Unix ms (last-use times, failover freshness, the 24 h
///   reset of use counts).
/// - `seed`: a fresh random number per call (e.g. `rand::random()`), used by `random`, the
///   first `round_robin` counter and the first `least_frequently_used` counts; fixed in
///   tests so results are exact.
///
/// Only `busyover` and `least_loaded` look at free slots: the other strategies choose as
/// XXL-JOB does, and a task sent to a full agent waits there for a slot (an agent takes at
/// most its free slots).
///
/// `shards = N` spreads N shards over the group, ignoring the strategy: shard `i` goes to
/// the `i mod n`-th agent ordered by most free slots, then name, so counts differ by at most
/// one and extra shards land on the freest agents. Each strategy is described on
/// [`Strategy`]. An empty group, and strategies that find no agent able to run the task
/// (`failover`, `busyover`, `least_loaded`), give [`Placement::Wait`]. Never panics.
pub fn place(
    run_on: &RunOnPolicy,
    agents: &[AgentView],
    key: &str,
    memory: &RoutingMemory,
    now_ms: i64,
    seed: u64,
) -> Placement {
    let group = eligible(agents, run_on);
    if group.is_empty() {
        return Placement::Wait {
            reason: no_match(agents, run_on),
        };
    }
    if let Some(shards) = run_on.shards {
        return Placement::Shards {
            agents: spread(&group, shards),
        };
    }
    let n = group.len() as u64;
    let unchanged = |agent: &AgentView| Placement::One {
        agent: agent.name.clone(),
        memory: memory.clone(),
    };
    let at = |index: u64| group[usize::try_from(index % n).unwrap_or(0)];
    match run_on.strategy {
        Strategy::First => unchanged(group[0]),
        Strategy::Last => unchanged(at(n - 1)),
        Strategy::Random => unchanged(at(seed)),
        Strategy::RoundRobin => {
            let counter = memory.round_robin.unwrap_or(seed % 100);
            Placement::One {
                agent: at(counter).name.clone(),
                memory: RoutingMemory {
                    round_robin: Some(counter.wrapping_add(1)),
                    ..memory.clone()
                },
            }
        }
        Strategy::ConsistentHash => {
            let ring = HashRing::new(group.iter().map(|agent| agent.name.as_str()));
            match ring.agent_for(key) {
                Some(name) => Placement::One {
                    agent: name.to_owned(),
                    memory: memory.clone(),
                },
                None => unchanged(group[0]),
            }
        }
        Strategy::LeastFrequentlyUsed => least_frequently_used(&group, memory, now_ms, seed),
        Strategy::LeastRecentlyUsed => least_recently_used(&group, memory, now_ms),
        Strategy::Failover => match group.iter().find(|agent| agent.heard_recently(now_ms)) {
            Some(agent) => unchanged(agent),
            None => Placement::Wait {
                reason: WaitReason::NoneHealthy {
                    matching: group.len(),
                },
            },
        },
        Strategy::Busyover => match group.iter().find(|agent| agent.free_slots() > 0) {
            Some(agent) => unchanged(agent),
            None => Placement::Wait {
                reason: WaitReason::AllBusy {
                    matching: group.len(),
                },
            },
        },
        Strategy::ShardingBroadcast => Placement::Broadcast {
            agents: group.iter().map(|agent| agent.name.clone()).collect(),
        },
        Strategy::LeastLoaded => least_loaded(&group, run_on, memory),
    }
}

/// The reason for an empty group: the labels, and which matching agents are not online.
fn no_match(agents: &[AgentView], run_on: &RunOnPolicy) -> WaitReason {
    let mut not_online: Vec<(String, AgentState)> = agents
        .iter()
        .filter(|agent| agent.state != AgentState::Online && matches(&run_on.labels, agent))
        .map(|agent| (agent.name.clone(), agent.state))
        .collect();
    not_online.sort_by(|a, b| a.0.cmp(&b.0));
    not_online.dedup_by(|a, b| a.0 == b.0);
    WaitReason::NoMatch {
        labels: describe_labels(&run_on.labels),
        not_online,
    }
}

/// `shards` shards over a non-empty group: round robin over the agents ordered by most free
/// slots, then name.
fn spread(group: &[&AgentView], shards: u32) -> Vec<String> {
    let mut order: Vec<&AgentView> = group.to_vec();
    order.sort_by(|a, b| {
        b.free_slots()
            .cmp(&a.free_slots())
            .then_with(|| a.name.cmp(&b.name))
    });
    order
        .iter()
        .cycle()
        .take(usize::try_from(shards).unwrap_or(usize::MAX))
        .map(|agent| agent.name.clone())
        .collect()
}

/// LFU over a non-empty group; see [`Strategy::LeastFrequentlyUsed`].
fn least_frequently_used(
    group: &[&AgentView],
    memory: &RoutingMemory,
    now_ms: i64,
    seed: u64,
) -> Placement {
    let mut memory = memory.clone();
    let expired = memory
        .use_counts_since_ms
        .is_none_or(|since| now_ms.saturating_sub(since) >= USE_COUNTS_RESET_MS);
    if expired {
        memory.use_counts.clear();
        memory.use_counts_since_ms = Some(now_ms);
    }
    memory
        .use_counts
        .retain(|name, _| group.iter().any(|agent| &agent.name == name));
    let n = group.len() as u64;
    let join_at = memory.use_counts.values().min().copied();
    for (index, agent) in group.iter().enumerate() {
        if !memory.use_counts.contains_key(&agent.name) {
            let start = join_at.unwrap_or_else(|| mix(seed.wrapping_add(index as u64)) % n);
            memory.use_counts.insert(agent.name.clone(), start);
        }
    }
    let chosen = group
        .iter()
        .min_by_key(|agent| memory.use_counts.get(&agent.name).copied().unwrap_or(0))
        .map_or_else(|| group[0].name.clone(), |agent| agent.name.clone());
    if let Some(count) = memory.use_counts.get_mut(&chosen) {
        *count = count.saturating_add(1);
    }
    Placement::One {
        agent: chosen,
        memory,
    }
}

/// LRU over a non-empty group; see [`Strategy::LeastRecentlyUsed`].
fn least_recently_used(group: &[&AgentView], memory: &RoutingMemory, now_ms: i64) -> Placement {
    let mut memory = memory.clone();
    memory
        .last_used_ms
        .retain(|name, _| group.iter().any(|agent| &agent.name == name));
    // `None` (never used) sorts before every time; `min_by_key` keeps the first of equals.
    let chosen = group
        .iter()
        .min_by_key(|agent| memory.last_used_ms.get(&agent.name).copied())
        .map_or_else(|| group[0].name.clone(), |agent| agent.name.clone());
    memory.last_used_ms.insert(chosen.clone(), now_ms);
    Placement::One {
        agent: chosen,
        memory,
    }
}

/// Why `least_loaded` turns `agent` down, or `None` when it fits.
fn rejection(agent: &AgentView, run_on: &RunOnPolicy) -> Option<Rejection> {
    if agent.free_slots() == 0 {
        return Some(Rejection::NoFreeSlot);
    }
    if let Some(max) = run_on.max_cpu_percent {
        match agent.cpu() {
            None => return Some(Rejection::CpuUnknown),
            Some(cpu) if cpu > max => {
                return Some(Rejection::CpuOver {
                    cpu_percent: cpu,
                    max_cpu_percent: max,
                });
            }
            Some(_) => {}
        }
    }
    if let Some(min) = run_on.min_free_memory_bytes {
        match agent.free_memory_bytes {
            None => return Some(Rejection::MemoryUnknown),
            Some(free) if free < min => {
                return Some(Rejection::MemoryUnder {
                    free_bytes: free,
                    min_bytes: min,
                });
            }
            Some(_) => {}
        }
    }
    None
}

/// Least loaded over a non-empty group; see [`Strategy::LeastLoaded`].
fn least_loaded(group: &[&AgentView], run_on: &RunOnPolicy, memory: &RoutingMemory) -> Placement {
    let mut fits = Vec::new();
    let mut rejected = Vec::new();
    for agent in group {
        match rejection(agent, run_on) {
            None => fits.push(*agent),
            Some(why) => rejected.push((agent.name.clone(), why)),
        }
    }
    fits.sort_by(|a, b| load_order(a, b));
    match fits.first() {
        Some(agent) => Placement::One {
            agent: agent.name.clone(),
            memory: memory.clone(),
        },
        None if rejected
            .iter()
            .all(|(_, why)| *why == Rejection::NoFreeSlot) =>
        {
            Placement::Wait {
                reason: WaitReason::AllBusy {
                    matching: rejected.len(),
                },
            }
        }
        None => Placement::Wait {
            reason: WaitReason::NoneFit { rejected },
        },
    }
}

/// Most free slots first, then lower CPU (unreported last), then more free memory
/// (unreported last), then name.
fn load_order(a: &AgentView, b: &AgentView) -> Ordering {
    let known_first = |x: bool, y: bool| y.cmp(&x);
    b.free_slots()
        .cmp(&a.free_slots())
        .then_with(|| match (a.cpu(), b.cpu()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => known_first(x.is_some(), y.is_some()),
        })
        .then_with(|| match (a.free_memory_bytes, b.free_memory_bytes) {
            (Some(x), Some(y)) => y.cmp(&x),
            (x, y) => known_first(x.is_some(), y.is_some()),
        })
        .then_with(|| a.name.cmp(&b.name))
}
