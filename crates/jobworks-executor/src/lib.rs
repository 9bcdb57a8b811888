//! Jobworks executor: runs one task — a process in its own process group, or one SQL statement
//! against a user datasource — and reports its outcome.
//!
//! This is the only Jobworks crate that spawns processes or connects to user datasources. It
//! knows nothing about the store, the scheduler or HTTP: callers hand it a [`ProcessTask`] or
//! [`SqlTask`], a cancellation token and a channel for [`LogLine`]s, and get back a
//! [`ProcessOutcome`] or [`SqlOutcome`]. Failing to even start is an [`ExecError`]; a non-zero
//! exit, a signal, a timeout, a cancellation or a failing query is an outcome. Linux only.

mod cgroup;
mod commands;
mod datasource;
mod directives;
mod end;
mod error;
mod isolation;
mod log;
mod orphans;
mod output;
mod outputs;
mod process;
mod rusage;
mod sql;
mod sql_driver;
mod sql_numeric;
mod sql_reuse;
mod sql_statements;
mod sql_table;
mod subreaper;
mod unix;

pub use commands::{ScriptOrFile, ShellKind, python_command, shell_command};
pub use directives::{
    BatchReports, CHECKPOINT_ENV, CHECKPOINT_OUT_ENV, Checkpoint, MAX_CHECKPOINT_BYTES, Progress,
};
pub use end::EndReason;
pub use error::ExecError;
pub use isolation::{Isolation, init_isolation};
pub use log::{LogLine, LogStream};
pub use orphans::{ATTEMPT_ID_ENV, sweep_orphans, tagged_processes};
pub use output::MAX_LINE_BYTES;
pub use outputs::{MAX_OUTPUT_FILE_BYTES, OUTPUT_FILE_ENV};
pub use process::{
    DEFAULT_KILL_GRACE, DEFAULT_OUTPUT_CAP_BYTES, ProcessOutcome, ProcessTask, run_process,
};
pub use sql::{
    CONNECT_TIMEOUT, DEFAULT_MAX_ROWS, SqlOutcome, SqlTask, SqlValue, run_sql, run_sql_with,
};
pub use sql_reuse::SqlConnections;
pub use sql_table::MAX_LOGGED_ROWS;
