//! The Jobworks store on embedded SQLite: one file, WAL mode, foreign keys on, migrations
//! embedded and applied at open.
//!
//! Writes go through a pool of one connection (SQLite has one writer; a single connection
//! avoids `SQLITE_BUSY` storms), reads through a separate pool.
//!
//! **Isolation.** Every write method is one transaction begun with `BEGIN IMMEDIATE`: it
//! holds the database's write lock from its first statement to its commit, so every method
//! is serializable against every other writer — other methods of this handle, other
//! `SqliteStore` handles on the same file, other processes. A check-then-act (the serial
//! claim, `forbid`/`replace` admission, `max_active_runs` admission, the leader lease, the
//! schedule's compare-and-set) decides on what it read and nothing can change in between.
//! A writer that finds the lock taken waits up to `busy_timeout` and then fails with the
//! transient `StoreError::Busy`; it never fails with `SQLITE_BUSY_SNAPSHOT` midway. Reads
//! on the reader pool see the last committed state (WAL snapshots) and never wait. `synchronous = NORMAL` in WAL
//! mode keeps every committed transaction across a process crash (`kill -9`); only a power
//! loss can drop the last commits, and `Durability::Full` closes that too at the cost of an
//! fsync per commit.

mod agents;
mod batch;
mod codec;
mod definitions;
mod enqueue;
mod finish;
mod leader;
mod logs;
mod lost_pause;
mod open;
mod queue;
mod retention;
mod rows;
mod run_filter;
mod runs;
mod store;
mod tokens;
mod transfer;
mod workflow;

pub use open::{Durability, SqliteStore, SqliteStoreOptions};
pub use retention::VacuumReport;
