//! The Jobworks store on embedded SQLite: one file, WAL mode, foreign keys on, migrations
//! embedded and applied at open.
//!
//! Writes go through a pool of one connection (SQLite has one writer; a single connection
//! avoids `SQLITE_BUSY` storms), reads through a separate pool. `synchronous = NORMAL` in WAL
//! mode keeps every committed transaction across a process crash (`kill -9`); only a power
//! loss can drop the last commits, and `Durability::Full` closes that too at the cost of an
//! fsync per commit.

mod batch;
mod codec;
mod definitions;
mod enqueue;
mod finish;
mod leader;
mod logs;
mod open;
mod queue;
mod retention;
mod rows;
mod run_filter;
mod runs;
mod store;
mod tokens;
mod workflow;

pub use open::{Durability, SqliteStore, SqliteStoreOptions};
pub use retention::VacuumReport;
