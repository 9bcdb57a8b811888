//! The Jobworks store on PostgreSQL: one database (optionally one schema of it) shared by
//! several servers.
//!
//! The semantics are those of `jobworks-store-sqlite`, method for method; what differs is how
//! they stay correct with several writers at once. Every method runs at PostgreSQL's default
//! isolation (`READ COMMITTED`) and takes explicit locks where it checks and then acts:
//! claims lock their candidate task instances with `FOR UPDATE SKIP LOCKED` (and a
//! per-job advisory lock for serial jobs), admission under `forbid`/`replace` and of
//! `(job, scheduled_at)` ticks locks the definition row, and a workflow run is advanced under
//! a lock on its run row (plus its definition row while it waits for `max_active_runs`).
//! Deadlocks and serialization failures are retried inside the method a few times before
//! they surface as [`jobworks_store::StoreError::Busy`].
//!
//! Writes send `NOTIFY jobworks_events` inside their transaction (delivered only on commit);
//! [`PostgresStore`]'s `subscribe()` hands them out as [`jobworks_store::StoreEvent`]s.

mod agents;
mod batch;
mod codec;
mod definitions;
mod enqueue;
mod finish;
mod leader;
mod logs;
mod lost_pause;
mod notify;
mod open;
mod queue;
mod retention;
mod rows;
mod run_filter;
mod runs;
mod store;
mod tokens;
mod transfer;
mod tx;
mod workflow_runs;

pub use open::{PostgresStore, PostgresStoreOptions};
