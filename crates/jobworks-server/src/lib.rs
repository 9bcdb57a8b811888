//! The Jobworks server: the control loops (scheduler, dispatcher, lease keeper, finisher, log
//! writer) and the HTTP API, wired around one [`jobworks_store::Store`].
//!
//! Each loop is an actor: one task owns its state, waits on a closed set of events, and stops
//! on the shared cancellation token. Decisions (what to fire, when to retry) are plain
//! functions in `plan` modules; the loops only do the I/O.

pub mod api;
pub use jobworks_worker::clock;
pub mod config;
mod finisher;
mod follow;
mod health;
pub mod janitor;
pub mod leader;
mod leases;
mod logs;
mod metrics;
mod orphans;
pub mod placer;
pub mod registry;
pub mod registry_agents;
mod retry;
mod scheduler;
mod server;
pub mod tls;
pub mod tokens;
mod wakeups;
mod worker;
mod workflow;

pub use clock::{Clock, ManualClock};
pub use config::{Datasource, ServerConfig, default_worker_id};
pub use health::Health;
pub use server::{RunningServer, Server, ServerError, bind};
