//! State shared by every handler.

use crate::config::ServerConfig;
use crate::health::Health;
use crate::metrics::Metrics;
use jobworks_store::Store;
use jobworks_worker::Running;
use std::sync::Arc;
use tokio::sync::Notify;

/// What handlers can reach: the store, configuration, health, metrics, and the wake-ups of
/// the scheduler and dispatcher.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Server configuration.
    pub config: Arc<ServerConfig>,
    /// Scheduler health.
    pub health: Arc<Health>,
    /// Metrics recorder.
    pub(crate) metrics: Arc<Metrics>,
    /// Attempts running on this server.
    pub(crate) running: Arc<Running>,
    /// Wakes the scheduler (schedules changed).
    pub(crate) schedule_wake: Arc<Notify>,
    /// Wakes the dispatcher (runs queued).
    pub(crate) dispatch_wake: Arc<Notify>,
    /// Asks the workflow advancer to move a run on.
    pub(crate) advance: crate::workflow::AdvanceSender,
    /// Committed log lines and outcomes, for live log followers.
    pub(crate) followers: crate::follow::LogHub,
    /// This server's side of the leader lease.
    pub(crate) leader: crate::leader::Leader,
    /// What the agent protocol's handlers feed (see `api::agent`).
    pub(crate) agents: super::agent::AgentPlane,
}
