//! The agent protocol: how a remote `jobworks agent` runs the server's work over HTTP.
//!
//! An agent is a [`jobworks_worker::Pool`] on another host (or in another process) whose
//! control plane is this module. Every handler builds a [`LocalControl`] for the calling
//! agent's worker id and calls the same method the server's own pool calls, so claims, lease
//! fencing, the finisher's group commit, the log writer and the one retry decision
//! (`retry::next_attempt_at`) are shared with the in-process pool, not copied.
//!
//! All routes are `POST`, take and return JSON, and sit under `/api/v1/agent/`. They are an
//! internal protocol between the server and its own agents, kept out of the public OpenAPI
//! document (so the contract check and schemathesis never see them). Every body names the
//! agent's `worker`: `<agent name>-<UUID v7>`, made by the agent at each start (the name is
//! 1–63 characters of `A-Z a-z 0-9 . _ -`), checked by [`agent_name`].
//!
//! | route | body | answer |
//! |---|---|---|
//! | `hello` | `{worker}` | `{lease_ms, poll_ms, max_wait_ms, version, heartbeat_interval_ms}`: what the agent's pool needs (renewal every third of `lease_ms`) and how often to heartbeat |
//! | `claim` | `{worker, max, wait_ms}` | `[Assignment]`, at most `max` (≤ 256). **Long poll**: at once when work is ready, else the request is held until the dispatch wake-up fires (work was queued) and a claim finds work, or `wait_ms` (clamped to ≤ 25 000) passes: then `[]`. Ready work that no wake-up announces (a retry coming due) is found by a claim every `poll_ms` while held |
//! | `started` | `{worker, attempt_id, pid, at}` | 204; a hint (the finish carries it too) |
//! | `logs` | `{worker, lines: [LogRecord], flush}` | 204 once the lines are queued for the log writer; with `flush: true` only once they (and every line sent before) are stored, the barrier an agent passes before it reports an end |
//! | `batch` | `{worker, update: BatchUpdate}` | `BatchAck` |
//! | `renew` | `{worker, attempts: [attempt id]}` | `[LeaseReply]`; `held: false` for an attempt this worker no longer holds |
//! | `finish` | `{worker, assignment, report: AttemptReport}` | 202 once queued for the finisher; 409 when the attempt is not running under this worker (fenced: final, the agent drops the report) |
//!
//! Log lines and start hints are not fenced (as for the server's own pool: the log writer
//! takes what it is given); claims, renewals, batch reports and end reports are. A claim the
//! server commits while its agent goes away is left to its lease.
//!
//! Errors are problem+json as everywhere in the API: 503 when the store is busy or the
//! server is stopping (the agent retries), 400/422 for a malformed body or worker id.
//!
//! Authentication (`api::agent_auth`): every route but `enroll` takes the agent's own
//! credential (`jwa_…`, received at enrollment), never an API token; the worker id's name
//! part must be the credential's agent, and a revoked agent is refused (403) on every route.
//! A draining agent's claims are held as usual but claim nothing (its running attempts go
//! on: renewals, logs and ends are taken), so it finishes what it has and takes nothing new.
//! `enroll` and `heartbeat` are documented in `api::agent_auth`.

use super::agent_auth::{AgentIdentity, check_worker, current_admin_state, require_agent};
use super::extract::Json;
use super::{ApiError, AppState};
use crate::finisher::Record;
use crate::logs::LogSender;
use crate::worker::{Datasources, LocalControl, flush_logs};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use jobworks_domain::routing::AdminState;
use jobworks_domain::{AttemptId, AttemptState};
use jobworks_store::ClaimScope;
use jobworks_worker::{
    Assignment, AttemptReport, BatchAck, BatchUpdate, ControlError, ControlPlane, LeaseReply,
    LogRecord,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Longest a claim is held without work: 25 s, under common proxy idle timeouts (30 s+).
pub const MAX_WAIT: Duration = Duration::from_secs(25);

/// Most assignments one claim returns.
pub const MAX_CLAIM: u32 = 256;

/// Most characters of an agent's name.
const MAX_NAME: usize = 63;

/// `POST /api/v1/agent/hello` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloRequest {
    /// The agent's worker id.
    pub worker: String,
}

/// `POST /api/v1/agent/hello` answer: the settings an agent's pool takes from its server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HelloReply {
    /// Lease length of every claim, ms (renew every third of it).
    pub lease_ms: u64,
    /// How often a held claim looks for work no wake-up announced, ms.
    pub poll_ms: u64,
    /// Longest the server holds a claim, ms.
    pub max_wait_ms: u64,
    /// The server's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// How often the agent heartbeats, ms (it adds ±20 % jitter); 0 from a server that
    /// predates heartbeats.
    #[serde(default)]
    pub heartbeat_interval_ms: u64,
}

/// `POST /api/v1/agent/claim` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The agent's worker id.
    pub worker: String,
    /// Free slots: at most this many assignments (clamped to [`MAX_CLAIM`]).
    pub max: u32,
    /// How long to hold the request when no work is ready, ms (clamped to [`MAX_WAIT`]).
    pub wait_ms: u64,
}

/// `POST /api/v1/agent/started` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartedRequest {
    /// The agent's worker id.
    pub worker: String,
    /// The attempt whose process started.
    pub attempt_id: AttemptId,
    /// Its process id (= process group id).
    pub pid: u32,
    /// When it started.
    pub at: DateTime<Utc>,
}

/// `POST /api/v1/agent/logs` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsRequest {
    /// The agent's worker id.
    pub worker: String,
    /// Lines, oldest first, already masked.
    pub lines: Vec<LogRecord>,
    /// Answer only once these and every line sent before are stored.
    #[serde(default)]
    pub flush: bool,
}

/// `POST /api/v1/agent/batch` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The agent's worker id.
    pub worker: String,
    /// Progress and/or checkpoint of one attempt.
    pub update: BatchUpdate,
}

/// `POST /api/v1/agent/renew` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The agent's worker id.
    pub worker: String,
    /// The attempts running on the agent.
    pub attempts: Vec<AttemptId>,
}

/// `POST /api/v1/agent/finish` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishRequest {
    /// The agent's worker id.
    pub worker: String,
    /// The assignment as the agent received it.
    pub assignment: Assignment,
    /// How it ended.
    pub report: AttemptReport,
}

/// What the agent handlers reach beyond the store: the writers the server's own pool feeds,
/// the datasources claims resolve, and the wake-up of held claims.
#[derive(Clone)]
pub(crate) struct AgentPlane {
    /// Starts and ends go to the finisher.
    pub records: mpsc::Sender<Record>,
    /// Log lines go to the log writer.
    pub logs: LogSender,
    /// What SQL tasks may connect to.
    pub datasources: Datasources,
    /// Bumped at every dispatch wake-up (see [`relay_wakes`]).
    pub work: watch::Receiver<u64>,
    /// The server is stopping: held claims return at once and nothing more is claimed.
    pub stopping: CancellationToken,
    /// The fleet's size, for the heartbeat interval (`registry::scaled_interval`).
    pub fleet: Arc<crate::registry::FleetSize>,
    /// Agents also claim untargeted task instances: this server runs no pool of its own.
    pub untargeted: bool,
    /// Wakes the placer (an agent said hello: targeted work may now have a place).
    pub placer_wake: Arc<Notify>,
}

/// Passes every dispatch wake-up on to the server's own pool (when it has one), the placer
/// (which places targeted task instances and then wakes agent claims itself) and every
/// held agent claim, until `shutdown`. `Notify::notify_one` wakes one waiter only, so held
/// claims watch a counter instead, which wakes them all and cannot be missed between a
/// claim that found nothing and the wait that follows (a receiver sees every bump made after
/// it last looked).
pub(crate) async fn relay_wakes(
    dispatch: Arc<Notify>,
    pool: Option<Arc<Notify>>,
    placer: Arc<Notify>,
    agents: Arc<watch::Sender<u64>>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = dispatch.notified() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Some(pool) = &pool {
            pool.notify_one();
        }
        placer.notify_one();
        agents.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The agent routes: `enroll` (authenticated by its enrollment token), and the others behind
/// [`require_agent`] (the agent's own credential).
pub(super) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/agent/heartbeat",
            post(super::agent_auth::heartbeat),
        )
        .route("/api/v1/agent/bye", post(super::agent_auth::bye))
        .route("/api/v1/agent/hello", post(hello))
        .route("/api/v1/agent/claim", post(claim))
        .route("/api/v1/agent/started", post(started))
        .route("/api/v1/agent/logs", post(logs))
        .route("/api/v1/agent/batch", post(batch))
        .route("/api/v1/agent/renew", post(renew))
        .route("/api/v1/agent/finish", post(finish))
        .route_layer(axum::middleware::from_fn_with_state(state, require_agent))
        .route("/api/v1/agent/enroll", post(super::agent_auth::enroll))
}

/// The name part of an agent's worker id `<name>-<UUID v7>`. Errors (as text, naming what is
/// wrong): no UUID v7 at the end, an empty or too long name, a character outside
/// `A-Z a-z 0-9 . _ -`.
pub fn agent_name(worker: &str) -> Result<&str, String> {
    let shape = || format!("worker id `{worker}` is not `<agent name>-<UUID v7>`");
    let split = worker.len().checked_sub(37).ok_or_else(shape)?;
    let (name, rest) = worker.split_at_checked(split).ok_or_else(shape)?;
    let uuid = rest.strip_prefix('-').ok_or_else(shape)?;
    let uuid = uuid::Uuid::try_parse(uuid).map_err(|_| shape())?;
    if uuid.get_version_num() != 7 {
        return Err(format!(
            "worker id `{worker}`: the UUID must be version 7 (time-ordered), not version {}",
            uuid.get_version_num()
        ));
    }
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "worker id `{worker}`: the agent name must have 1 to {MAX_NAME} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "worker id `{worker}`: the agent name may hold only A-Z a-z 0-9 . _ - (found `{bad}`)"
        ));
    }
    Ok(name)
}

/// How long a claim asking for `wait_ms` is held at most: `wait_ms`, clamped to [`MAX_WAIT`].
pub fn held_for(wait_ms: u64) -> Duration {
    Duration::from_millis(wait_ms).min(MAX_WAIT)
}

impl AppState {
    /// The control plane of agent `worker`, after checking its id names the calling
    /// `agent` (and is not this server's own).
    fn agent_control(&self, agent: &AgentIdentity, worker: &str) -> Result<LocalControl, ApiError> {
        check_worker(agent, worker)?;
        if worker == self.config.worker_id {
            return Err(ApiError::BadRequest(format!(
                "worker id `{worker}` is the server's own; an agent makes its own at start"
            )));
        }
        Ok(LocalControl {
            store: self.store.clone(),
            worker: worker.to_owned(),
            // routing: what is placed on this agent, and everything untargeted when the
            // server has no pool of its own
            scope: ClaimScope::Agent {
                name: agent.0.name.clone(),
                untargeted: self.agents.untargeted,
            },
            lease_ms: self.config.lease.as_millis() as u64,
            clock: self.config.clock.clone(),
            records: self.agents.records.clone(),
            logs: self.agents.logs.clone(),
            metrics: self.metrics.clone(),
            datasources: self.agents.datasources.clone(),
        })
    }

    /// The heartbeat interval to ask of agents now, ms: `--agent-heartbeat`, longer in a
    /// large fleet (`registry::scaled_interval`).
    pub(crate) async fn agent_heartbeat_ms(&self) -> u64 {
        let store = self.store.clone();
        let agents = self
            .agents
            .fleet
            .get(|| async move { store.list_agents().await.ok().map(|a| a.len()) })
            .await;
        crate::registry::scaled_interval(self.config.agent_heartbeat, agents).as_millis() as u64
    }

    /// 503 while the server is stopping: the agent retries against the next start.
    fn refuse_if_stopping(&self) -> Result<(), ApiError> {
        if self.agents.stopping.is_cancelled() {
            return Err(stopping());
        }
        Ok(())
    }
}

fn stopping() -> ApiError {
    ApiError::Unavailable("the server is stopping; retry against its next start".into())
}

fn control_error(e: ControlError) -> ApiError {
    if e.transient {
        ApiError::Unavailable(e.message)
    } else {
        ApiError::Internal(e.message)
    }
}

async fn hello(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<HelloRequest>,
) -> Result<Json<HelloReply>, ApiError> {
    state.agent_control(&agent, &request.worker)?;
    state.agents.placer_wake.notify_one();
    tracing::info!(
        worker = %request.worker,
        labels = %jobworks_domain::routing::describe_labels(&agent.0.labels),
        "agent connected"
    );
    Ok(Json(HelloReply {
        lease_ms: state.config.lease.as_millis() as u64,
        poll_ms: state.config.poll_interval.as_millis() as u64,
        max_wait_ms: MAX_WAIT.as_millis() as u64,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        heartbeat_interval_ms: state.agent_heartbeat_ms().await,
    }))
}

async fn claim(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<ClaimRequest>,
) -> Result<Json<Vec<Assignment>>, ApiError> {
    let control = state.agent_control(&agent, &request.worker)?;
    let max = request.max.min(MAX_CLAIM);
    if max == 0 {
        return Ok(Json(Vec::new()));
    }
    let deadline = tokio::time::Instant::now() + held_for(request.wait_ms);
    let poll = state.config.poll_interval.max(Duration::from_millis(10));
    let mut work = state.agents.work.clone();
    let mut admin_state = agent.0.admin_state;
    let mut first = true;
    loop {
        // every bump from here on wakes the wait below, also one made during the claim
        work.mark_unchanged();
        if state.agents.stopping.is_cancelled() {
            return Ok(Json(Vec::new()));
        }
        if !first {
            // a drain, undrain or revoke while the claim is held takes effect at once
            admin_state = current_admin_state(&state, &agent).await?;
        }
        first = false;
        // a draining agent claims nothing: the request is held as usual (no busy loop)
        let claimed = if admin_state == AdminState::Active {
            control.claim(max).await.map_err(control_error)?
        } else {
            Vec::new()
        };
        let now = tokio::time::Instant::now();
        if !claimed.is_empty() || now >= deadline {
            return Ok(Json(claimed));
        }
        let until = deadline.min(now + poll);
        tokio::select! {
            changed = work.changed() => {
                if changed.is_err() {
                    return Ok(Json(Vec::new()));
                }
            }
            _ = tokio::time::sleep_until(until) => {}
            _ = state.agents.stopping.cancelled() => return Ok(Json(Vec::new())),
        }
    }
}

async fn started(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<StartedRequest>,
) -> Result<StatusCode, ApiError> {
    let control = state.agent_control(&agent, &request.worker)?;
    control.started(request.attempt_id, request.pid, request.at);
    Ok(StatusCode::NO_CONTENT)
}

async fn logs(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<LogsRequest>,
) -> Result<StatusCode, ApiError> {
    let control = state.agent_control(&agent, &request.worker)?;
    for line in request.lines {
        if !control.log(line).await {
            return Err(stopping());
        }
    }
    if request.flush {
        flush_logs(&state.agents.logs).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn batch(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<BatchRequest>,
) -> Result<Json<BatchAck>, ApiError> {
    let control = state.agent_control(&agent, &request.worker)?;
    let ack = control
        .report_batch(request.update)
        .await
        .map_err(control_error)?;
    Ok(Json(ack))
}

async fn renew(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<RenewRequest>,
) -> Result<Json<Vec<LeaseReply>>, ApiError> {
    let control = state.agent_control(&agent, &request.worker)?;
    let replies = control
        .renew(&request.attempts)
        .await
        .map_err(control_error)?;
    Ok(Json(replies))
}

/// Records an attempt's end through the finisher, as the server's own pool does.
///
/// The retry decision needs the attempt's spec and try number. They are taken from the
/// assignment the agent sends back rather than looked up: the spec of a workflow task is
/// built by the runtime at claim time (job-shaped, with its inputs), so rebuilding it here
/// would copy the claim's own construction, and the assignment is exactly what the attempt
/// ran. What the agent could get wrong or forge is checked against the store first: the
/// attempt must exist in the assignment's run with the same attempt number, be `running`,
/// and be held by this worker; otherwise the answer is 409 (fenced) and nothing is recorded.
/// The finisher fences again when it writes (the lease can still expire in between).
async fn finish(
    State(state): State<AppState>,
    Extension(agent): Extension<AgentIdentity>,
    Json(request): Json<FinishRequest>,
) -> Result<StatusCode, ApiError> {
    let control = state.agent_control(&agent, &request.worker)?;
    let FinishRequest {
        worker,
        assignment,
        report,
    } = request;
    if report.attempt_id != assignment.attempt_id {
        return Err(ApiError::BadRequest(format!(
            "the report is about attempt {} but the assignment is attempt {}",
            report.attempt_id, assignment.attempt_id
        )));
    }
    let run = match state.store.get_run(assignment.run_id).await {
        Ok(run) => run,
        Err(jobworks_store::StoreError::RunNotFound(_)) => {
            return Err(fenced(&assignment, "its run no longer exists"));
        }
        Err(e) => return Err(e.into()),
    };
    let held = run
        .attempts
        .iter()
        .find(|a| a.id == assignment.attempt_id)
        .ok_or_else(|| fenced(&assignment, "the run has no such attempt"))?;
    if let Some(why) = fence_reason(
        held.state,
        &held.worker,
        held.attempt_no,
        &worker,
        &assignment,
    ) {
        return Err(fenced(&assignment, &why));
    }
    state.refuse_if_stopping()?;
    if state.agents.records.is_closed() {
        return Err(stopping());
    }
    control.finish(&assignment, report).await;
    Ok(StatusCode::ACCEPTED)
}

/// Why an end report from `worker` for `assignment` must be refused, given the stored
/// attempt's state, holder and number; `None` when it may be recorded.
fn fence_reason(
    state: AttemptState,
    holder: &str,
    attempt_no: i64,
    worker: &str,
    assignment: &Assignment,
) -> Option<String> {
    if attempt_no != assignment.attempt_no {
        return Some(format!(
            "it is attempt number {attempt_no}, not {}",
            assignment.attempt_no
        ));
    }
    if holder != worker {
        return Some(format!("it is held by worker `{holder}`"));
    }
    if state != AttemptState::Running {
        return Some(format!("it is already `{}`", state.as_str()));
    }
    None
}

fn fenced(assignment: &Assignment, why: &str) -> ApiError {
    ApiError::Conflict(format!(
        "attempt {} of run {} is not running under this worker ({why}); its report is refused",
        assignment.attempt_id, assignment.run_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_a_name_and_a_uuid_v7() {
        let v7 = uuid::Uuid::now_v7().to_string();
        let v4 = "4f5c1b1e-8a3e-4c2b-9a51-0c7d2f1e3b4a";
        let long = "a".repeat(64);
        for (worker, expect) in [
            (format!("edge-1-{v7}"), Ok("edge-1")),
            (format!("db.bj_2-{v7}"), Ok("db.bj_2")),
            (
                format!("{}-{v7}", "a".repeat(63)),
                Ok("a".repeat(63).leak() as &str),
            ),
            (v7.clone(), Err("is not `<agent name>-<UUID v7>`")),
            (format!("-{v7}"), Err("1 to 63 characters")),
            (format!("{long}-{v7}"), Err("1 to 63 characters")),
            (format!("edge 1-{v7}"), Err("found ` `")),
            (format!("edge/1-{v7}"), Err("found `/`")),
            (format!("edge-{v4}"), Err("version 7")),
            (
                "edge-not-a-uuid-at-all-but-long-enough-xx".into(),
                Err("is not"),
            ),
            ("edge".into(), Err("is not")),
            ("".into(), Err("is not")),
        ] {
            match (agent_name(&worker), expect) {
                (Ok(name), Ok(want)) => assert_eq!(name, want, "{worker}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{worker}: {e}"),
                (got, want) => panic!("{worker}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn claims_are_held_at_most_25_seconds() {
        let ms = Duration::from_millis;
        for (asked, held) in [
            (0, ms(0)),
            (100, ms(100)),
            (25_000, ms(25_000)),
            (60_000, ms(25_000)),
            (u64::MAX, ms(25_000)),
        ] {
            assert_eq!(held_for(asked), held, "{asked}");
        }
    }

    fn assignment(attempt_no: i64) -> Assignment {
        let file = "[[job]]\nname = \"j\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n";
        let spec = jobworks_domain::file::parse_job_file("j.toml", file, &Default::default())
            .expect("job file")
            .remove(0);
        Assignment {
            attempt_id: AttemptId(5),
            run_id: jobworks_domain::RunId(2),
            task_instance_id: jobworks_domain::TaskInstanceId(3),
            kind: jobworks_worker::TaskKind::Job,
            attempt_no,
            try_no: 1,
            job_version: 1,
            spec,
            params: serde_json::json!({}),
            env: Default::default(),
            scheduled_at: None,
            not_before: None,
            lease_expires_at: Utc::now(),
            datasource: None,
        }
    }

    #[test]
    fn an_end_report_is_fenced_unless_its_worker_holds_the_running_attempt() {
        use AttemptState::*;
        let me = "edge-1";
        for (state, holder, number, refused) in [
            (Running, me, 1, None),
            (Running, "other", 1, Some("held by worker `other`")),
            (Lost, me, 1, Some("already `lost`")),
            (Succeeded, me, 1, Some("already `succeeded`")),
            (Running, me, 2, Some("attempt number 2, not 1")),
        ] {
            let got = fence_reason(state, holder, number, me, &assignment(1));
            match (got, refused) {
                (None, None) => {}
                (Some(why), Some(want)) => assert!(why.contains(want), "{why}"),
                (got, want) => panic!("{state:?} {holder} {number}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn wire_bodies_round_trip() {
        let finish = FinishRequest {
            worker: format!("edge-{}", uuid::Uuid::now_v7()),
            assignment: assignment(1),
            report: AttemptReport {
                attempt_id: AttemptId(5),
                state: AttemptState::Succeeded,
                interrupted: false,
                pid: Some(42),
                started_at: Some(Utc::now()),
                ended_at: Utc::now(),
                exit_code: Some(0),
                signal: None,
                user_cpu_ms: Some(1),
                system_cpu_ms: Some(2),
                max_rss_bytes: None,
                bytes_dropped: 0,
                error: None,
                outputs: serde_json::json!({"k": "v"}),
            },
        };
        let text = serde_json::to_string(&finish).expect("serialize");
        let back: FinishRequest = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back.assignment, finish.assignment);
        assert_eq!(back.report, finish.report);
        let unknown = serde_json::json!({"worker": "w", "max": 1, "wait_ms": 0, "extra": 1});
        assert!(serde_json::from_value::<ClaimRequest>(unknown).is_err());
    }
}
