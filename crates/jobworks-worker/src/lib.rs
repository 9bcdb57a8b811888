//! The Jobworks worker runtime: where work runs, separated from where it comes from.
//!
//! A worker holds a number of slots, claims at most that many [`Assignment`]s, runs each
//! through the executor (processes or SQL), renews their leases, forwards their log lines,
//! progress and checkpoints, and reports how each attempt ended. Everything it needs from the
//! outside goes through one interface, [`ControlPlane`]: the server's in-process pool
//! implements it directly on the store, and a remote agent implements it over the network.
//!
//! An [`Assignment`] carries exactly what its task needs (its spec, its params, its workflow
//! inputs, and only the datasource it uses), so it can be sent over a wire; nothing here
//! reads the server's configuration, a store or a file of job definitions. The decisions that
//! belong to the control plane stay there: when to retry (the report carries no retry time),
//! which run state follows, who else may hold a lease.

mod assignment;
mod attempt;
mod batch;
pub mod clock;
mod control;
pub mod fence;
mod mask;
mod pool;
mod running;
mod settings;

pub use assignment::{Assignment, DatasourceAccess, TaskKind};
pub use attempt::{attempt_tag, run_attempt};
pub use clock::{Clock, ManualClock};
pub use control::{
    AttemptReport, BatchAck, BatchUpdate, ControlError, ControlPlane, LeaseReply, LogLineKind,
    LogRecord,
};
pub use mask::SecretMask;
pub use pool::{Handoff, LOOKAHEAD, Pool, take_slots, wait_until};
pub use running::Running;
pub use settings::WorkerSettings;
