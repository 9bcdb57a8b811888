//! An agent's effective state: what an operator set (active, draining, revoked) combined with
//! how long the agent has been silent, judged against the heartbeat interval the server asked
//! it to keep.
//!
//! The figures, in missed intervals (`silence / interval`):
//! - more than [`SUSPECT_AFTER_INTERVALS`] (3) → [`AgentState::Suspect`]: no new work is
//!   placed on it. Three beats is XXL-JOB's `DEAD_TIMEOUT = BEAT_TIMEOUT * 3` (90 s for a
//!   30 s beat) and the reference design's "suspect after 3 misses" (REFERENCE §1.3, §1.8);
//!   with the agent's ±20 % jitter a healthy agent never comes near it.
//! - more than [`OFFLINE_AFTER_INTERVALS`] (5) → [`AgentState::Offline`]: Airflow's Edge
//!   Executor makes a worker `unknown` after `5 × heartbeat_interval` (REFERENCE §1.1).
//!
//! With the default interval of 15 s that is suspect after 45 s and offline after 75 s.
//! An operator's state wins over silence: a revoked agent is `revoked` and a draining one
//! `draining` whatever its heartbeats (a silent draining agent's attempts are judged by the
//! attempt leases, a separate clock).

use super::agent::AgentState;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Missed intervals after which an agent is [`AgentState::Suspect`] (see the module docs).
pub const SUSPECT_AFTER_INTERVALS: u64 = 3;
/// Missed intervals after which an agent is [`AgentState::Offline`] (see the module docs).
pub const OFFLINE_AFTER_INTERVALS: u64 = 5;

/// What an operator decided about an agent (stored in the registry), as opposed to what its
/// heartbeats say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminState {
    /// Takes work while it heartbeats (the state after enrollment and after `undrain`).
    Active,
    /// Finishes what it runs, takes nothing new (`jobworks agents drain NAME`).
    Draining,
    /// Cut off: every call with its credential is refused (`jobworks agents revoke NAME`).
    Revoked,
}

impl AdminState {
    /// `active`, `draining` or `revoked` (the stored text).
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Draining => "draining",
            AdminState::Revoked => "revoked",
        }
    }
}

impl fmt::Display for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdminState {
    type Err = String;

    /// Parses `active`, `draining` or `revoked`. Errors: any other text, named.
    fn from_str(text: &str) -> Result<AdminState, String> {
        match text {
            "active" => Ok(AdminState::Active),
            "draining" => Ok(AdminState::Draining),
            "revoked" => Ok(AdminState::Revoked),
            other => Err(format!(
                "unknown agent state `{other}` (expected active, draining or revoked)"
            )),
        }
    }
}

/// The effective state of an agent whose operator state is `admin`, last heard from at
/// `last_seen_ms` (its last heartbeat, or its enrollment if it never sent one; Unix ms,
/// server clock), asked to heartbeat every `interval_ms`, at `now_ms`.
///
/// Revoked and draining win; otherwise `online` up to 3 intervals of silence, `suspect` up to
/// 5, then `offline` (the boundaries belong to the fresher state). A `last_seen_ms` after
/// `now_ms` (the clock stepped back) counts as no silence. An interval of 0 is taken as 1 ms.
pub fn effective_state(
    admin: AdminState,
    last_seen_ms: i64,
    interval_ms: u64,
    now_ms: i64,
) -> AgentState {
    match admin {
        AdminState::Revoked => return AgentState::Revoked,
        AdminState::Draining => return AgentState::Draining,
        AdminState::Active => {}
    }
    let silence = u64::try_from(now_ms.saturating_sub(last_seen_ms)).unwrap_or(0);
    let interval = interval_ms.max(1);
    if silence > interval.saturating_mul(OFFLINE_AFTER_INTERVALS) {
        AgentState::Offline
    } else if silence > interval.saturating_mul(SUSPECT_AFTER_INTERVALS) {
        AgentState::Suspect
    } else {
        AgentState::Online
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AdminState::Active;
    use AgentState::{Offline, Online, Suspect};

    #[test]
    fn silence_makes_an_active_agent_suspect_then_offline() {
        let s = 1_000_i64;
        for (admin, silence_ms, interval_ms, want) in [
            (Active, 0, 15_000, Online),
            (Active, 15 * s, 15_000, Online),
            (Active, 45 * s, 15_000, Online),
            (Active, 45 * s + 1, 15_000, Suspect),
            (Active, 75 * s, 15_000, Suspect),
            (Active, 75 * s + 1, 15_000, Offline),
            (Active, 3_600 * s, 15_000, Offline),
            (Active, 3 * s + 1, 1_000, Suspect),
            (Active, 5 * s + 1, 1_000, Offline),
            // clock stepped back: the heartbeat is in the future
            (Active, -10 * s, 15_000, Online),
            // interval 0 is 1 ms
            (Active, 4, 0, Suspect),
            (Active, 6, 0, Offline),
            // an operator's state wins over silence
            (AdminState::Draining, 0, 15_000, AgentState::Draining),
            (
                AdminState::Draining,
                3_600 * s,
                15_000,
                AgentState::Draining,
            ),
            (AdminState::Revoked, 0, 15_000, AgentState::Revoked),
            (AdminState::Revoked, 3_600 * s, 15_000, AgentState::Revoked),
        ] {
            let now = 1_700_000_000_000_i64;
            assert_eq!(
                effective_state(admin, now - silence_ms, interval_ms, now),
                want,
                "{admin} silent {silence_ms} ms, interval {interval_ms} ms"
            );
        }
    }

    #[test]
    fn admin_states_round_trip_as_text() {
        for state in [Active, AdminState::Draining, AdminState::Revoked] {
            assert_eq!(state.as_str().parse::<AdminState>(), Ok(state));
        }
        let e = "paused".parse::<AdminState>().expect_err("unknown");
        assert!(e.contains("`paused`"), "{e}");
    }
}
