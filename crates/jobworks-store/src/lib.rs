//! The Jobworks store interface: every durable fact (jobs, versions, runs, attempts, leases,
//! logs, tokens) goes through the [`Store`] trait.
//!
//! Backends (SQLite today, PostgreSQL next) implement the trait and must pass the
//! conformance suite in [`conformance`] through the [`store_conformance_tests!`] macro, so the
//! scheduler and executor never learn which database they run on.

pub mod agents;
pub mod batch;
pub mod cluster;
pub mod conformance;
pub mod error;
pub mod records;
pub mod store;
pub mod transfer;

pub use agents::{AgentRecord, AgentReport, EnrollmentTokenRecord, NewAgent, NewEnrollmentToken};
pub use batch::{BatchReport, BatchSync, PauseOutcome, TaskBatchState, TaskProgress};
pub use cluster::{Leadership, StoreEvent};
pub use error::StoreError;
pub use records::*;
pub use store::{Planner, RetryDecider, Store};
pub use transfer::{TableChecksum, TableInfo, TableTransfer, Value};
