//! Jobworks domain model: ids, job specs, parameters, and the run state machine.
//!
//! This crate does no I/O. It knows nothing about the store, HTTP or processes; every other
//! crate speaks in its types. Decisions (which state a run moves to, whether a new run may
//! start) are plain functions of their inputs, so they are unit-tested with tables.

pub mod admission;
pub mod call;
pub mod concurrency;
pub mod file;
pub mod ids;
pub mod lifecycle;
pub mod params;
pub mod routing;
pub mod spec;
pub mod sql;
pub mod state;
pub mod workflow;

pub use concurrency::{Admission, ConcurrencyPolicy, admit};
pub use ids::{AttemptId, JobId, RunId, TaskInstanceId};
pub use params::{ParamFormat, ParamSpec, ParamType, ParamValue};
pub use spec::{JobSpec, ScheduleHeader, ShellKind, TaskSpec, TriggerSpec};
pub use state::{AttemptState, RunState, TriggerKind};
