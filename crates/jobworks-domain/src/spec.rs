//! Validated job definitions: what a job file says once it has been checked.
//!
//! A `JobSpec` is stored as JSON with every job version; its canonical JSON (see
//! [`JobSpec::canonical_json`]) decides whether an `apply` changes anything. Durations are
//! whole milliseconds. Parsing and validating job files lives in [`crate::file`].

use crate::concurrency::ConcurrencyPolicy;
use crate::params::ParamSpec;
use crate::routing::RunOnPolicy;
use jobworks_schedule::{MisfirePolicy, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default output cap per run: 10 MiB.
pub const DEFAULT_OUTPUT_CAP_BYTES: u64 = 10 * 1024 * 1024;
/// Default bound on catch-up runs for misfire policy `fire_all`.
pub const DEFAULT_MAX_CATCHUP: u32 = 10;

/// A validated job definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Unique name: `[a-z0-9][a-z0-9_.-]{0,62}`.
    pub name: String,
    /// Free text shown in listings.
    #[serde(default)]
    pub description: String,
    /// Labels for filtering, e.g. `ops`, `team:data`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the job fires by itself; `None` = only when triggered.
    pub trigger: Option<TriggerSpec>,
    /// IANA time zone for cron schedules; `None` = the server's default zone.
    pub timezone: Option<String>,
    /// What one attempt runs.
    pub task: TaskSpec,
    /// Declared parameters, in file order.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// Extra environment variables for processes.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory for processes; `None` = the server's data directory.
    pub working_dir: Option<String>,
    /// Timeout per attempt in ms; `None` = no timeout.
    pub timeout_ms: Option<u64>,
    /// Retry policy (attempt count and backoff).
    #[serde(default)]
    pub retry: RetryPolicy,
    /// What happens when a run starts while an earlier one is active.
    #[serde(default)]
    pub concurrency: ConcurrencyPolicy,
    /// Higher runs first when workers are scarce; default 0.
    #[serde(default)]
    pub priority: i32,
    /// What happens to ticks missed while the server was down or overloaded.
    #[serde(default)]
    pub misfire: MisfirePolicy,
    /// Upper bound on catch-up runs for `fire_all`.
    pub max_catchup: u32,
    /// Per-run output cap in bytes.
    pub output_cap_bytes: u64,
    /// Disabled jobs keep their definition but never fire by schedule.
    pub enabled: bool,
    /// Where the job runs on the fleet (`run_on = { labels = { … }, strategy = "…" }`, issue
    /// 9 "Routing"); `None` = the server's own worker pool. Absent from stored specs when
    /// `None`, so specs stored before the field existed compare equal. Boxed: most jobs have
    /// none, and a spec is moved around a lot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on: Option<Box<RunOnPolicy>>,
}

/// What the scheduler reads of a definition, job or workflow: its name, schedule, time zone,
/// misfire policy and params (for defaults). Borrowed, so building one copies nothing.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleHeader<'a> {
    /// The definition's name.
    pub name: &'a str,
    /// When it fires by itself; `None` = only when triggered.
    pub trigger: Option<&'a TriggerSpec>,
    /// IANA time zone for cron schedules; `None` = the server's default zone.
    pub timezone: Option<&'a str>,
    /// What happens to missed ticks.
    pub misfire: MisfirePolicy,
    /// Upper bound on catch-up runs for `fire_all`.
    pub max_catchup: u32,
    /// Declared params, whose defaults fill a scheduled run's values.
    pub params: &'a [ParamSpec],
    /// Disabled definitions never fire by schedule.
    pub enabled: bool,
}

impl JobSpec {
    /// The fields the scheduler reads.
    pub fn schedule_header(&self) -> ScheduleHeader<'_> {
        ScheduleHeader {
            name: &self.name,
            trigger: self.trigger.as_ref(),
            timezone: self.timezone.as_deref(),
            misfire: self.misfire,
            max_catchup: self.max_catchup,
            params: &self.params,
            enabled: self.enabled,
        }
    }

    /// The JSON that identifies this definition: equal specs give equal bytes (struct fields
    /// are serialized in declaration order and maps are sorted), so an unchanged file applies
    /// as a no-op.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// When a job fires by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TriggerSpec {
    /// A cron expression (5 or 6 fields, or an `@` macro), validated.
    Cron {
        /// The expression as written.
        expr: String,
    },
    /// A fixed interval in ms, measured from when the schedule was (re)applied.
    Every {
        /// Interval length in ms.
        interval_ms: u64,
    },
}

/// Which shell runs an inline script.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShellKind {
    /// `/bin/sh -e -c` (`/bin/sh -c` with `errexit = false`).
    #[default]
    Sh,
    /// `bash -e -o pipefail -c` (`bash -c` with `errexit = false`).
    Bash,
}

/// Serde default of [`TaskSpec::Shell::errexit`]: on.
fn errexit_default() -> bool {
    true
}

/// Serde skip test of [`TaskSpec::Shell::errexit`]: the default is not written, so specs
/// stored before the field existed compare equal to new ones.
fn errexit_is_default(errexit: &bool) -> bool {
    *errexit
}

/// What one attempt runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TaskSpec {
    /// A shell script, or a program with arguments.
    Shell {
        /// Inline script (exclusive with `command`).
        script: Option<String>,
        /// Program and arguments, run without a shell (exclusive with `script`).
        command: Option<Vec<String>>,
        /// Shell for `script`.
        #[serde(default)]
        shell: ShellKind,
        /// Whether the shell stops at the first failing command (`-e`, plus `-o pipefail`
        /// for bash); `false` runs `sh -c` / `bash -c` exactly as cron does. Default `true`;
        /// meaningful only with `script`.
        #[serde(
            default = "errexit_default",
            skip_serializing_if = "errexit_is_default"
        )]
        errexit: bool,
        /// Bytes fed to standard input.
        stdin: Option<String>,
    },
    /// A Python 3 script, inline or from a file, run by `python3 -u`.
    Python {
        /// Inline script (exclusive with `file`).
        script: Option<String>,
        /// Path of a script file (exclusive with `script`).
        file: Option<String>,
    },
    /// A SQL query against a named datasource.
    Sql {
        /// Datasource name from the server config, or `jobworks` for the Jobworks store.
        datasource: String,
        /// The query: one statement unless `multi_statement`; placeholders are the driver's
        /// own (`?`, `$1`).
        query: String,
        /// Parameter names bound to the placeholders in order; never spliced.
        #[serde(default)]
        bind: Vec<String>,
        /// Run every statement of `query`, in order, in one transaction (outputs from the
        /// last); without it a query of several statements is refused (see
        /// [`crate::sql::split_statements`]). Absent from stored specs when false, so specs
        /// stored before the field existed compare equal.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        multi_statement: bool,
    },
}

impl TaskSpec {
    /// `shell`, `python` or `sql`.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskSpec::Shell { .. } => "shell",
            TaskSpec::Python { .. } => "python",
            TaskSpec::Sql { .. } => "sql",
        }
    }
}
