//! Records of the agent registry: enrolled agents with their last heartbeat, and enrollment
//! tokens (issue 9, "Agents"). Secrets are never stored: only SHA-256 hashes of them (see
//! `jobworks_pki::hash_secret`).

use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use jobworks_domain::routing::{AdminState, AgentState, AgentView, effective_state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an agent reported in its last heartbeat. Every resource figure is optional: an agent
/// on a system without `/proc` reports what it can.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    /// The agent's version (`CARGO_PKG_VERSION` of its binary).
    pub version: String,
    /// Slots it offers (attempts at once).
    pub slots_total: u32,
    /// Slots in use (attempts running).
    pub slots_used: u32,
    /// Logical CPUs of its host.
    pub cpu_count: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes (`/proc/loadavg`).
    pub load: Option<[f64; 3]>,
    /// CPU in use since the previous heartbeat, percent of all CPUs (0–100).
    pub cpu_percent: Option<f64>,
    /// Memory available to new processes, bytes (`MemAvailable`).
    pub free_memory_bytes: Option<u64>,
    /// Free space of the agent's data directory's file system, bytes (for unprivileged use).
    pub free_disk_bytes: Option<u64>,
    /// Attempts running on it.
    pub running: Vec<AttemptId>,
}

/// One agent of the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Row id.
    pub id: i64,
    /// Unique name: the name part of its worker ids `<name>-<UUID v7>`.
    pub name: String,
    /// Labels, from the enrollment token it used (never from the agent).
    pub labels: BTreeMap<String, String>,
    /// What an operator set: active, draining or revoked.
    pub admin_state: AdminState,
    /// The enrollment token it enrolled with (its id).
    pub enrolled_with: String,
    /// When it enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// When its administrative state last changed (enrollment, drain, undrain, revoke).
    pub state_changed_at: DateTime<Utc>,
    /// When its last heartbeat arrived (server clock), if it sent one.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The heartbeat interval the server asked of it at its last heartbeat (or enrollment), ms.
    pub heartbeat_interval_ms: u64,
    /// Its last heartbeat's report; `None` before the first heartbeat.
    pub report: Option<AgentReport>,
    /// When it said it stopped cleanly (`Store::record_agent_stopped`), if it has since its
    /// last heartbeat: it is offline from then on (XXL-JOB's `registryRemove` on shutdown).
    #[serde(default)]
    pub stopped_at: Option<DateTime<Utc>>,
}

impl AgentRecord {
    /// When it was last heard from: its last heartbeat, or its enrollment.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.last_heartbeat_at.unwrap_or(self.enrolled_at)
    }

    /// The effective state at `now` ([`effective_state`]: administrative state, then
    /// silence against the heartbeat interval).
    pub fn state(&self, now: DateTime<Utc>) -> AgentState {
        if self.stopped_at.is_some() && self.admin_state == AdminState::Active {
            // it said goodbye: no silence to wait out
            return AgentState::Offline;
        }
        effective_state(
            self.admin_state,
            self.last_seen().timestamp_millis(),
            self.heartbeat_interval_ms,
            now.timestamp_millis(),
        )
    }

    /// What routing sees of it at `now` (`jobworks_domain::routing::AgentView`): the
    /// effective state, labels, slots and reported CPU and memory (none before its first
    /// heartbeat, with 0 slots: it takes no placed work until it reports).
    pub fn view(&self, now: DateTime<Utc>) -> AgentView {
        let report = self.report.clone().unwrap_or_default();
        AgentView {
            name: self.name.clone(),
            labels: self.labels.clone(),
            state: self.state(now),
            slots_total: report.slots_total,
            slots_used: report.slots_used,
            cpu_percent: report.cpu_percent,
            free_memory_bytes: report.free_memory_bytes,
            last_heartbeat_ms: self.last_seen().timestamp_millis(),
            heartbeat_interval_ms: self.heartbeat_interval_ms,
        }
    }
}

/// A new agent for [`Store::enroll_agent`](crate::Store::enroll_agent). Its labels are the
/// token's, set by the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgent {
    /// Name (checked by the caller: `jobworks_pki::check_agent_name`).
    pub name: String,
    /// SHA-256 of its bearer credential's secret, 64 lower-case hex digits.
    pub credential_sha256: String,
    /// The heartbeat interval asked of it, ms.
    pub heartbeat_interval_ms: u64,
}

/// An enrollment token as stored: its id and the SHA-256 of its secret, never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentTokenRecord {
    /// The token's id (16 lower-case hex digits; not secret).
    pub id: String,
    /// Labels every agent enrolling with it receives.
    pub labels: BTreeMap<String, String>,
    /// Enrollments left; `None` = unlimited.
    pub uses_left: Option<u32>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Who created it (`token:<name>` of the admin token).
    pub created_by: String,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl EnrollmentTokenRecord {
    /// Why the token cannot enroll an agent at `now` (revoked, used up, expired), as a
    /// sentence that says what to do; `None` when it can.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<String> {
        let id = &self.id;
        if self.revoked_at.is_some() {
            return Some(format!(
                "enrollment token {id} was revoked; create a new one with `jobworks agents token create`"
            ));
        }
        if self.uses_left == Some(0) {
            return Some(format!(
                "enrollment token {id} is used up; create a new one with `jobworks agents token create` (--uses N for more agents)"
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Some(format!(
                "enrollment token {id} expired; create a new one with `jobworks agents token create` (--ttl for a longer life)"
            ));
        }
        None
    }
}

/// A new enrollment token (see [`EnrollmentTokenRecord`] for the fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEnrollmentToken {
    /// Id (16 lower-case hex digits); a second token with the same id is a `Conflict`.
    pub id: String,
    /// SHA-256 of the secret, 64 lower-case hex digits.
    pub secret_sha256: String,
    /// Labels of the agents it enrolls.
    pub labels: BTreeMap<String, String>,
    /// Enrollments allowed; `None` = unlimited.
    pub uses: Option<u32>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who creates it.
    pub created_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms)
            .single()
            .expect("valid")
    }

    fn agent(admin_state: AdminState, last: Option<i64>) -> AgentRecord {
        AgentRecord {
            id: 1,
            name: "edge-1".into(),
            labels: BTreeMap::from([("site".into(), "bj".into())]),
            admin_state,
            enrolled_with: "0123456789abcdef".into(),
            enrolled_at: at(0),
            state_changed_at: at(0),
            last_heartbeat_at: last.map(at),
            heartbeat_interval_ms: 1_000,
            report: last.map(|_| AgentReport {
                version: "0.1.0".into(),
                slots_total: 4,
                slots_used: 1,
                cpu_percent: Some(12.5),
                free_memory_bytes: Some(1 << 30),
                ..AgentReport::default()
            }),
            stopped_at: None,
        }
    }

    #[test]
    fn an_agent_that_said_goodbye_is_offline_until_it_heartbeats() {
        let mut gone = agent(AdminState::Active, Some(10_000));
        gone.stopped_at = Some(at(10_100));
        assert_eq!(
            gone.state(at(10_200)),
            AgentState::Offline,
            "no silence to wait out"
        );
        assert_eq!(gone.view(at(10_200)).state, AgentState::Offline);
        // an operator's state still wins
        gone.admin_state = AdminState::Draining;
        assert_eq!(gone.state(at(10_200)), AgentState::Draining);
        gone.admin_state = AdminState::Revoked;
        assert_eq!(gone.state(at(10_200)), AgentState::Revoked);
    }

    #[test]
    fn the_view_carries_state_slots_and_resources() {
        for (admin, last, now, state, slots) in [
            (
                AdminState::Active,
                Some(10_000),
                10_500,
                AgentState::Online,
                4,
            ),
            (
                AdminState::Active,
                Some(10_000),
                13_001,
                AgentState::Suspect,
                4,
            ),
            (
                AdminState::Active,
                Some(10_000),
                15_001,
                AgentState::Offline,
                4,
            ),
            // never heartbeated: judged from enrollment, no slots
            (AdminState::Active, None, 500, AgentState::Online, 0),
            (AdminState::Active, None, 6_000, AgentState::Offline, 0),
            (
                AdminState::Draining,
                Some(10_000),
                10_500,
                AgentState::Draining,
                4,
            ),
            (
                AdminState::Revoked,
                Some(10_000),
                10_500,
                AgentState::Revoked,
                4,
            ),
        ] {
            let view = agent(admin, last).view(at(now));
            assert_eq!(view.state, state, "{admin} {last:?} {now}");
            assert_eq!(view.slots_total, slots);
            assert_eq!(
                view.last_heartbeat_ms,
                at(last.unwrap_or(0)).timestamp_millis()
            );
            assert_eq!(view.labels["site"], "bj");
            assert_eq!(view.heartbeat_interval_ms, 1_000);
        }
        let view = agent(AdminState::Active, Some(0)).view(at(0));
        assert_eq!(
            (view.free_slots(), view.cpu(), view.free_memory_bytes),
            (3, Some(12.5), Some(1 << 30))
        );
    }

    #[test]
    fn enrollment_tokens_are_refused_revoked_used_up_or_expired() {
        let token = |uses_left, expires: Option<i64>, revoked: bool| EnrollmentTokenRecord {
            id: "0123456789abcdef".into(),
            labels: BTreeMap::new(),
            uses_left,
            expires_at: expires.map(at),
            created_at: at(0),
            created_by: "token:admin".into(),
            revoked_at: revoked.then(|| at(1)),
        };
        for (uses_left, expires, revoked, refused) in [
            (None, None, false, None),
            (Some(1), Some(100), false, None),
            (Some(0), None, false, Some("used up")),
            (None, Some(50), false, Some("expired")),
            (None, Some(49), false, Some("expired")),
            (Some(3), None, true, Some("revoked")),
        ] {
            let got = token(uses_left, expires, revoked).refusal(at(50));
            match (got, refused) {
                (None, None) => {}
                (Some(why), Some(want)) => {
                    assert!(why.contains(want), "{why}");
                    assert!(why.contains("jobworks agents token create"), "{why}");
                }
                (got, want) => panic!("{uses_left:?} {expires:?} {revoked}: {got:?} vs {want:?}"),
            }
        }
    }
}
