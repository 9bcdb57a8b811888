//! The routing strategies a `run_on` may name, with XXL-JOB's semantics.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How one agent (or several) is chosen from the group of eligible agents.
///
/// Ten strategies come from XXL-JOB's `ExecutorRouteStrategyEnum`
/// (`xxl-job-admin/.../scheduler/route/ExecutorRouteStrategyEnum.java` and `strategy/*.java`);
/// `least_loaded` is Jobworks' own. "The group" is always the output of
/// [`super::eligible`]: online, not draining, labels matching, ordered by name — XXL-JOB's
/// sorted address list. Where a strategy differs from XXL-JOB, its variant says so.
/// Serialized in snake case (`round_robin`), the name written in job files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// XXL-JOB `FIRST`: the first agent of the group.
    First,
    /// XXL-JOB `LAST`: the last agent of the group.
    Last,
    /// XXL-JOB `ROUND`: a per-job counter modulo the group size, kept in
    /// [`super::RoutingMemory::round_robin`]. The first counter is `seed % 100`, as XXL-JOB
    /// starts at `random(100)` so jobs created together do not all hit the same agent.
    /// Differs: the counter is never cleared (XXL-JOB clears its cache every 24 h); it wraps
    /// at `u64::MAX`.
    RoundRobin,
    /// XXL-JOB `RANDOM`: the agent at `seed % group size`.
    Random,
    /// XXL-JOB `CONSISTENT_HASH`: a ring of 2^32 positions with 100 virtual nodes per agent
    /// (`"SHARD-{name}-NODE-{i}"`); the key's position takes the next node clockwise, so a key
    /// sticks to one agent while the group is stable. Differs: the hash is the first 4 bytes
    /// of SHA-256, big-endian (XXL-JOB truncates MD5), and the key is the job name or a
    /// parameter value (`hash_key`), not the numeric job id. See [`super::HashRing`].
    ConsistentHash,
    /// XXL-JOB `LEAST_FREQUENTLY_USED`: the agent with the smallest use count for this job
    /// (ties: name order), whose count then grows by one. Counts live in
    /// [`super::RoutingMemory::use_counts`]; on first use every agent starts at a value
    /// derived from the seed below the group size, as XXL-JOB seeds `random(n)`; counts are
    /// cleared after 24 h, as XXL-JOB's cache is. Differs (XXL-JOB #670): agents that left
    /// the group are dropped from the counts, and an agent joining later starts at the
    /// current minimum rather than near zero, so it does not take every run until it catches
    /// up.
    LeastFrequentlyUsed,
    /// XXL-JOB `LEAST_RECENTLY_USED`: an agent never used for this job first (name order),
    /// else the one used longest ago; its last use becomes `now`. Kept in
    /// [`super::RoutingMemory::last_used_ms`]. Differs (XXL-JOB #670): agents that left the
    /// group are dropped; a new agent is tried first (XXL-JOB appends it as most recent).
    LeastRecentlyUsed,
    /// XXL-JOB `FAILOVER`: the first agent of the group that is healthy. XXL-JOB calls
    /// `beat()` on each address in order; Jobworks has no call to the agent, so healthy means
    /// a heartbeat received within 1.5 of that agent's heartbeat intervals before `now`
    /// (one interval plus the ±20 % jitter plus slack): an agent still `online` but silent
    /// for a beat or more is skipped before the registry marks it `suspect`.
    Failover,
    /// XXL-JOB `BUSYOVER`: the first agent of the group with a free slot. XXL-JOB calls
    /// `idleBeat()` (not running this job); Jobworks uses the slots the agent reported. When
    /// every agent is full the task waits.
    Busyover,
    /// XXL-JOB `SHARDING_BROADCAST`: every agent of the group runs one shard, shard index =
    /// its position in the group, shard total = the group size.
    ShardingBroadcast,
    /// Jobworks: the agent with the most free slots among those with at least one, under
    /// `max_cpu_percent` and above `min_free_memory` when set; ties by lower CPU, then more
    /// free memory, then name. The default strategy: it never sends work to a full agent.
    #[default]
    LeastLoaded,
}

impl Strategy {
    /// Every strategy, in documentation order.
    pub const ALL: [Strategy; 11] = [
        Strategy::First,
        Strategy::Last,
        Strategy::RoundRobin,
        Strategy::Random,
        Strategy::ConsistentHash,
        Strategy::LeastFrequentlyUsed,
        Strategy::LeastRecentlyUsed,
        Strategy::Failover,
        Strategy::Busyover,
        Strategy::ShardingBroadcast,
        Strategy::LeastLoaded,
    ];

    /// The name written in job files: `first`, `round_robin`, `least_loaded`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::First => "first",
            Strategy::Last => "last",
            Strategy::RoundRobin => "round_robin",
            Strategy::Random => "random",
            Strategy::ConsistentHash => "consistent_hash",
            Strategy::LeastFrequentlyUsed => "least_frequently_used",
            Strategy::LeastRecentlyUsed => "least_recently_used",
            Strategy::Failover => "failover",
            Strategy::Busyover => "busyover",
            Strategy::ShardingBroadcast => "sharding_broadcast",
            Strategy::LeastLoaded => "least_loaded",
        }
    }

    /// The strategy named exactly `name` (case-sensitive, as written in job files); `None`
    /// for anything else — [`super::RunOn::validate`] then suggests the closest name.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// XXL-JOB's enum constant for this strategy (`ROUND`, `BUSYOVER`, …); `None` for
    /// `least_loaded`, which XXL-JOB does not have. For documentation and migration notes.
    pub fn xxl_job_name(self) -> Option<&'static str> {
        Some(match self {
            Strategy::First => "FIRST",
            Strategy::Last => "LAST",
            Strategy::RoundRobin => "ROUND",
            Strategy::Random => "RANDOM",
            Strategy::ConsistentHash => "CONSISTENT_HASH",
            Strategy::LeastFrequentlyUsed => "LEAST_FREQUENTLY_USED",
            Strategy::LeastRecentlyUsed => "LEAST_RECENTLY_USED",
            Strategy::Failover => "FAILOVER",
            Strategy::Busyover => "BUSYOVER",
            Strategy::ShardingBroadcast => "SHARDING_BROADCAST",
            Strategy::LeastLoaded => return None,
        })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
