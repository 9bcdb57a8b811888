//! Wire types of the agent registry: the management routes (`/api/v1/agents…`, admin tokens
//! only, in the OpenAPI document) and the enrollment and heartbeat bodies of the agent
//! protocol (`/api/v1/agent/enroll`, `/api/v1/agent/heartbeat`, kept out of it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What an agent reported in its last heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentReportView {
    /// The agent's version.
    pub version: String,
    /// Slots it offers (attempts at once).
    pub slots_total: u32,
    /// Slots in use.
    pub slots_used: u32,
    /// Logical CPUs.
    #[serde(default)]
    pub cpu_count: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    #[serde(default)]
    pub load: Option<[f64; 3]>,
    /// CPU in use since its previous heartbeat, percent of all CPUs (0–100).
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    /// Memory available, bytes.
    #[serde(default)]
    pub free_memory_bytes: Option<u64>,
    /// Free disk space of its data directory, bytes.
    #[serde(default)]
    pub free_disk_bytes: Option<u64>,
    /// Attempt ids running on it.
    #[serde(default)]
    pub running: Vec<i64>,
}

/// An agent of the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// Unique name.
    pub name: String,
    /// `online`, `suspect` (missed about 3 heartbeats: no new work), `offline` (missed more
    /// than 5), `draining` or `revoked`.
    pub state: String,
    /// What an operator set: `active`, `draining` or `revoked`.
    pub admin_state: String,
    /// Labels, from its enrollment token.
    pub labels: BTreeMap<String, String>,
    /// When it enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// The enrollment token it used (id).
    pub enrolled_with: String,
    /// When its last heartbeat arrived, if any.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The heartbeat interval it was asked to keep, ms.
    pub heartbeat_interval_ms: u64,
    /// Its last heartbeat's report, if any.
    pub report: Option<AgentReportView>,
}

/// An enrollment token as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentTokenView {
    /// Id (16 hex digits; the part after `jwe_` and before the dot).
    pub id: String,
    /// Labels of the agents it enrolls.
    pub labels: BTreeMap<String, String>,
    /// Enrollments left; `null` = unlimited.
    pub uses_left: Option<u32>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Who created it (`token:<name>`).
    pub created_by: String,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `used_up`, `expired` or `revoked`.
    pub state: String,
}

/// Body of `POST /agents/tokens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollmentTokenRequest {
    /// Labels every agent enrolling with it receives (names and values: 1–63 characters of
    /// `A-Z a-z 0-9 . _ -`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Enrollments allowed (at least 1); absent = unlimited.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub uses: Option<u32>,
    /// Lifetime in seconds from now (at least 1, at most 100 years); absent = never expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3_155_760_000_u64)]
    pub expires_in_s: Option<u64>,
}

/// Answer of `POST /agents/tokens` (201): the token, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedEnrollmentTokenView {
    /// `jwe_<id>.<secret>@sha256:<CA fingerprint>`: what `jobworks agent --token` takes.
    /// Only the SHA-256 of the secret is stored.
    pub token: String,
    /// The stored token.
    pub info: EnrollmentTokenView,
}

/// Body of `POST /api/v1/agent/enroll` (agent protocol).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token's secret part `jwe_<id>.<secret>` (or the whole printed token;
    /// the pin after `@` is ignored by the server). May be sent as the bearer instead.
    #[serde(default)]
    pub token: Option<String>,
    /// The agent's name (1–63 characters: lower-case letters, digits, `-`, `.`).
    pub name: String,
}

/// Answer of `POST /api/v1/agent/enroll`: the agent's identity, with its credential shown
/// this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollReply {
    /// The agent's name.
    pub name: String,
    /// Its labels (from the token).
    pub labels: BTreeMap<String, String>,
    /// Its bearer credential `jwa_<id>.<secret>` for every later call; only its SHA-256 is
    /// stored.
    pub credential: String,
    /// The heartbeat interval to keep, ms.
    pub heartbeat_interval_ms: u64,
}

/// Body of `POST /api/v1/agent/heartbeat` (agent protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The agent's worker id `<name>-<UUID v7>`.
    pub worker: String,
    /// What it reports.
    pub report: AgentReportView,
}

/// Answer of `POST /api/v1/agent/heartbeat`: the server's view of the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    /// Its effective state (`online`, `draining`, …): a draining agent gets no new work.
    pub state: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The heartbeat interval to keep from now on, ms.
    pub heartbeat_interval_ms: u64,
}
