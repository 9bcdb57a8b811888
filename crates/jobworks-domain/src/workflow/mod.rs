//! Workflows: DAGs of tasks with trigger rules, branches, parallel groups, data passing,
//! sub-workflows and approvals. This module is the pure core: definitions
//! ([`WorkflowSpec`]), their file format and checks, trigger rules ([`evaluate`]), the
//! engine's decisions ([`next_actions`], [`rerun_from`], [`rerun_failed`],
//! [`clear_task`]), data passing helpers and drawings. No I/O, no clock, no store: the runtime applies the decisions.
//!
//! # File format
//!
//! Workflows live in the same files as jobs, in `[[workflow]]` tables, and are read by
//! [`crate::file::parse_file`]. Each task is a `[[workflow.task]]` table with an `id`, its
//! `depends_on`, and exactly one key saying what it does: `type` (an inline shell, python
//! or sql task, with the same fields as a job's `[job.task]`), `job` or `workflow` (a call,
//! with `params`), `approval`, `branch` or `group`.
//!
//! ```toml
//! [[workflow]]
//! name = "nightly-etl"
//! description = "Extract, check, load, report"
//! tags = ["etl"]
//! schedule = "0 2 * * *"          # or every = "1h"
//! timezone = "Europe/London"
//! misfire = "fire_once"            # skip | fire_once | fire_all
//! max_catchup = 10
//! timeout = "2h"                   # the whole run
//! max_active_runs = 1
//! enabled = true
//!
//! [workflow.params.env]            # as [job.params.*]; reach scripts as JOBWORKS_PARAM_ENV
//! type = "enum"
//! values = ["dev", "prod"]
//! default = "dev"
//!
//! [[workflow.task]]
//! id = "extract"
//! type = "shell"
//! script = "./extract.sh --env \"$JOBWORKS_PARAM_ENV\""   # never ${params.env}
//! timeout = "30m"
//! env = { LANG = "C.UTF-8" }
//! [workflow.task.retries]
//! max_attempts = 3
//!
//! [[workflow.task]]
//! id = "check"
//! depends_on = ["extract"]
//! type = "python"
//! file = "scripts/check.py"        # prints ::set-output rows=1234, exits 0 or 3
//!
//! [[workflow.task]]
//! id = "route"                     # a branch runs nothing: the engine decides it
//! depends_on = ["check"]
//! trigger_rule = "all_done"        # decide on check's failures too
//! [workflow.task.branch]
//! source = "check"                 # defaults to the only upstream task
//! default = ["alert"]              # when no case matches; [] skips every target
//! [[workflow.task.branch.case]]
//! exit_code = 0
//! then = ["gate"]
//! [[workflow.task.branch.case]]
//! exit_code = [3, 4]
//! then = ["notify"]
//! # other conditions: output = "status" with equals = "stale" (or ["a", "b"]),
//! # or when = "int(tasks.check.outputs.rows) > 1000 && params.env == 'prod'"
//!
//! [[workflow.task]]
//! id = "gate"
//! depends_on = ["route"]
//! approval = { timeout = "4h", default_outcome = "reject", approvers = ["alice"], message = "Load into prod?" }
//!
//! [[workflow.task]]
//! id = "load"
//! depends_on = ["gate"]
//! group = { tasks = ["load_eu", "load_us"], policy = "all", max_parallelism = 2 }
//! # policy = "any" (the first success cancels the rest) or "ratio" with min_success_percent = 60
//!
//! [[workflow.task]]
//! id = "load_eu"                   # members have no depends_on: they start with their group
//! type = "sql"
//! datasource = "warehouse"
//! query = "insert into facts select * from staging where rows <= ?"
//! bind = ["tasks.check.outputs.rows"]   # or a param name
//!
//! [[workflow.task]]
//! id = "load_us"
//! job = "load-region"              # an existing job, run and waited for
//! params = { region = "us", rows = "${tasks.check.outputs.rows}", env = "${params.env}" }
//!
//! [[workflow.task]]
//! id = "notify"
//! depends_on = ["route"]
//! workflow = "notify-oncall"       # a sub-workflow; cancelling this task cancels its run
//! params = { text = "check exited ${tasks.check.exit_code}" }
//!
//! [[workflow.task]]
//! id = "alert"
//! depends_on = ["route"]
//! type = "shell"
//! command = ["./page.sh"]
//!
//! [[workflow.task]]
//! id = "report"
//! depends_on = ["load", "notify", "alert"]
//! trigger_rule = "none_failed_min_one_success"   # a join after a branch
//! type = "shell"
//! script = "./report.sh \"$JOBWORKS_INPUT_CHECK_ROWS\""
//! ```
//!
//! Durations are strings with a unit (`"30s"`, `"1h30m"`). A task's `retries` and
//! `timeout` apply to inline tasks and calls, `env` to inline tasks. Trigger rules are
//! Airflow's ([`rules`]). References (`${params.x}`, `${tasks.<id>.outputs.<name>}`) are
//! allowed only in call params; branch expressions are CEL ([`expr`]); scripts receive
//! params and upstream outputs as environment variables only ([`data`]).
//!
//! # Checks
//!
//! Besides field types and values (reported like jobs', with file, line, column, field path
//! and hint), [`check_workflow`] reports: invalid or duplicate task ids; unknown ids in
//! `depends_on`, branches and groups (with did-you-mean); dependency cycles with their path
//! (`dependency cycle: extract -> load -> extract`); group members that do not exist, are
//! in two groups, are groups or branches, have their own `depends_on`, or that tasks
//! outside depend on; branch targets that do not depend on their branch; downstream tasks a
//! branch never chooses, and tasks that can never run because they need branch targets
//! that are never chosen together; exit codes a branch can never see by its trigger rule;
//! unknown params and non-upstream tasks in expressions, call params and sql binds; and
//! `${...}` references in scripts, which are never expanded.

pub mod branch;
pub mod data;
pub mod engine;
pub mod expr;
mod file;
mod graph;
pub mod group;
pub mod render;
pub mod rules;
pub mod spec;
pub mod validate;

pub use branch::{BranchChoice, branch_source, choose_branch};
pub use data::{
    TemplateError, TemplatePart, input_env_name, outputs_from_json, parse_template,
    resolve_call_params, task_inputs,
};
pub use engine::{
    Action, ClearError, RunOutcome, TaskInstanceState, clear_task, next_actions, rerun_failed,
    rerun_from,
};
pub use expr::{
    ExpressionError, ExpressionScope, MAX_EXPRESSION_BYTES, MAX_EXPRESSION_NESTING,
    MAX_EXPRESSION_OPERATORS, Reference, check_expression, evaluate_expression,
};
pub use group::{GroupDecision, decide_group, members_to_start};
pub use render::{to_dot, to_mermaid, to_text};
pub use rules::{Readiness, TaskState, evaluate};
pub use spec::{
    ApprovalOutcome, ApprovalSpec, BranchCase, BranchCondition, BranchSpec,
    DEFAULT_MAX_ACTIVE_RUNS, GroupPolicy, GroupSpec, TaskId, TaskKind, TaskNode, TriggerRule,
    WorkflowSpec, is_valid_task_id,
};
pub use validate::{Problem, Site, check_workflow};

#[cfg(test)]
pub(crate) mod tests;
