//! The two clocks of `run_on`: how long an attempt survives a silent agent, and how long a
//! task may wait for one.

use super::run_on::{OnAgentLost, RunOnPolicy};
use serde::{Deserialize, Serialize};

/// What happens to an attempt running on an agent last heard from at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AgentLost {
    /// Not lost yet: the agent may still be running it (Mesos' `UNREACHABLE`). Decide again
    /// at `lost_at_ms` (Unix ms) if no heartbeat arrives before.
    NotYet {
        /// When the attempt becomes lost, Unix ms.
        lost_at_ms: i64,
    },
    /// Lost: mark it `lost` and let the retry policy place a new attempt elsewhere.
    Retry,
    /// Lost, but never re-dispatched automatically: wait for the agent or an operator.
    Wait,
    /// Lost: the attempt fails.
    Fail,
}

/// Decides an attempt's fate when its agent was last heard from at `last_heartbeat_ms` and
/// the server's clock says `now_ms` (both Unix ms): lost once the silence reaches
/// `agent_lost_after_ms`, then what `on_agent_lost` says (issue 9, "Failover with fencing").
/// A heartbeat stamped after `now_ms` counts as silence 0.
pub fn agent_lost(run_on: &RunOnPolicy, last_heartbeat_ms: i64, now_ms: i64) -> AgentLost {
    let after = i64::try_from(run_on.agent_lost_after_ms).unwrap_or(i64::MAX);
    let lost_at_ms = last_heartbeat_ms.saturating_add(after);
    if now_ms < lost_at_ms {
        return AgentLost::NotYet { lost_at_ms };
    }
    match run_on.on_agent_lost {
        OnAgentLost::Retry => AgentLost::Retry,
        OnAgentLost::Wait => AgentLost::Wait,
        OnAgentLost::Fail => AgentLost::Fail,
    }
}

/// Whether a task queued for placement since `waiting_since_ms` has waited its
/// `placement_timeout` by `now_ms` (both Unix ms) and should fail. Always `false` without
/// a `placement_timeout`.
pub fn placement_timed_out(run_on: &RunOnPolicy, waiting_since_ms: i64, now_ms: i64) -> bool {
    run_on.placement_timeout_ms.is_some_and(|timeout| {
        let timeout = i64::try_from(timeout).unwrap_or(i64::MAX);
        now_ms >= waiting_since_ms.saturating_add(timeout)
    })
}
