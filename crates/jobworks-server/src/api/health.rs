//! `/healthz` (process alive), `/readyz` (store answers, scheduler ticking) and `/metrics`.

use super::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jobworks_domain::routing::AgentState;
use jobworks_protocol::{LeaderStatus, Readiness};

/// Liveness: answers 200 while the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the store answers, the last try at the leader lease got an answer,
/// and, on the leader, the scheduler's last tick succeeded within the last 10 s (a follower
/// does not tick); 503 otherwise, with the scheduler's or the lease's last error. Also shows
/// the leader lease (holder, epoch, since, whether this server leads).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store_ok = state.store.count_tokens().await.is_ok();
    let (last_tick, error) = state.health.snapshot();
    let view = state.leader.view();
    let now = state.config.clock.now();
    let ready = is_ready(
        store_ok,
        view.error.is_none(),
        view.epoch.is_some(),
        last_tick.map(|t| now - t),
        error.is_some(),
    );
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let leader = view.lease.map(|lease| LeaderStatus {
        this_server: view.epoch == Some(lease.epoch) && lease.holder == state.config.worker_id,
        holder: lease.holder,
        epoch: lease.epoch,
        since: lease.since,
        expires_at: lease.expires_at,
    });
    (
        status,
        Json(Readiness {
            ready,
            scheduler_last_tick_at: last_tick,
            scheduler_error: error,
            store_ok,
            worker_id: state.config.worker_id.clone(),
            leader,
            leader_error: view.error,
        }),
    )
}

/// The readiness decision: the store answers and the leader lease could be read; a leader
/// must also have ticked within the last 10 s (`since_tick`, the time since its last
/// successful tick) without a later error.
fn is_ready(
    store_ok: bool,
    lease_ok: bool,
    leading: bool,
    since_tick: Option<chrono::TimeDelta>,
    tick_failed: bool,
) -> bool {
    let ticking = since_tick.is_some_and(|d| d.num_seconds() < 10) && !tick_failed;
    store_ok && lease_ok && (!leading || ticking)
}

/// Prometheus text exposition: runs by state, queue depth, run duration and schedule lag
/// histograms, attempts finished, attempts running on this server, whether it leads, its
/// leadership changes, claim latency, store event (NOTIFY) lag, agents by effective state and
/// agent heartbeats received.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String)),
    security(("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.store.run_counts(state.config.clock.now()).await?;
    let mut text = String::from(
        "# HELP jobworks_runs Runs in the store, by state\n# TYPE jobworks_runs gauge\n",
    );
    for (s, n) in &counts.by_state {
        text.push_str(&format!("jobworks_runs{{state=\"{}\"}} {n}\n", s.as_str()));
    }
    text.push_str("# HELP jobworks_queue_depth Queued runs ready to start\n# TYPE jobworks_queue_depth gauge\n");
    text.push_str(&format!("jobworks_queue_depth {}\n", counts.ready));
    text.push_str("# HELP jobworks_running_attempts Attempts running on this server\n# TYPE jobworks_running_attempts gauge\n");
    text.push_str(&format!(
        "jobworks_running_attempts {}\n",
        state.running.attempts().len()
    ));
    text.push_str("# HELP jobworks_leader 1 when this server holds the leader lease\n# TYPE jobworks_leader gauge\n");
    text.push_str(&format!(
        "jobworks_leader {}\n",
        u8::from(state.leader.epoch().is_some())
    ));
    let now = state.config.clock.now();
    let agents = state.store.list_agents().await?;
    text.push_str("# HELP jobworks_agents Enrolled agents, by effective state\n# TYPE jobworks_agents gauge\n");
    for agent_state in [
        AgentState::Online,
        AgentState::Suspect,
        AgentState::Offline,
        AgentState::Draining,
        AgentState::Revoked,
    ] {
        let n = agents
            .iter()
            .filter(|a| a.state(now) == agent_state)
            .count();
        text.push_str(&format!("jobworks_agents{{state=\"{agent_state}\"}} {n}\n"));
    }
    for seconds in state.store.drain_event_lags() {
        state.metrics.notify_lag(seconds);
    }
    let body = state.metrics.render() + &text;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

#[cfg(test)]
mod tests {
    use super::is_ready;
    use chrono::TimeDelta;

    #[test]
    fn readiness_of_leaders_and_followers() {
        let recent = Some(TimeDelta::seconds(1));
        let stale = Some(TimeDelta::seconds(11));
        for (case, store_ok, lease_ok, leading, since_tick, failed, want) in [
            ("leader ticking", true, true, true, recent, false, true),
            ("leader, tick stale", true, true, true, stale, false, false),
            ("leader, never ticked", true, true, true, None, false, false),
            (
                "leader, last tick failed",
                true,
                true,
                true,
                recent,
                true,
                false,
            ),
            ("follower", true, true, false, None, false, true),
            ("follower, old error", true, true, false, stale, true, true),
            (
                "follower, lease unreadable",
                true,
                false,
                false,
                None,
                false,
                false,
            ),
            ("store down", false, true, true, recent, false, false),
        ] {
            assert_eq!(
                is_ready(store_ok, lease_ok, leading, since_tick, failed),
                want,
                "{case}"
            );
        }
    }
}
