//! What a worker is given to run: one attempt of one task, with everything it needs and
//! nothing more, in a shape that can travel over a wire (serde).

use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptId, JobSpec, RunId, TaskInstanceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether the task is a job run's only task or one task of a workflow run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskKind {
    /// The task (`main`) of a run of job `spec.name`.
    Job,
    /// Task `task` of a run of workflow `spec.name`.
    WorkflowTask {
        /// The task's id in the workflow.
        task: String,
    },
}

/// The one datasource a SQL task uses, resolved by the control plane: its name (as the task
/// refers to it) and its connection URL with credentials. Only SQL tasks receive one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasourceAccess {
    /// The name the task's `datasource` field gives.
    pub name: String,
    /// Connection URL (`postgres://…`, `mysql://…`, `sqlite:…`), credentials included.
    pub url: String,
}

impl std::fmt::Debug for DatasourceAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the URL may hold a password: never in debug output
        f.debug_struct("DatasourceAccess")
            .field("name", &self.name)
            .field("url", &"<redacted>")
            .finish()
    }
}

/// One claimed attempt, as the worker runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The attempt (and fencing token: every report names it).
    pub attempt_id: AttemptId,
    /// Its run.
    pub run_id: RunId,
    /// Its task instance.
    pub task_instance_id: TaskInstanceId,
    /// A job's task or a workflow's.
    pub kind: TaskKind,
    /// 1-based attempt number within the task instance.
    pub attempt_no: i64,
    /// 1-based attempt number within the current try (what retry policies count).
    pub try_no: i64,
    /// Version of the job or workflow the run executes.
    pub job_version: i64,
    /// What to run (for a workflow task, a job-shaped spec built from the task).
    pub spec: JobSpec,
    /// Validated parameter values (JSON object).
    pub params: serde_json::Value,
    /// Extra environment: a workflow task's inputs (`JOBWORKS_INPUT_*`), identity
    /// (`JOBWORKS_WORKFLOW`, `JOBWORKS_TASK`) and a batch task's last checkpoint.
    pub env: BTreeMap<String, String>,
    /// Tick time of a scheduled run.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The attempt must not start before this instant; `None` = at once.
    pub not_before: Option<DateTime<Utc>>,
    /// When the lease expires unless renewed.
    pub lease_expires_at: DateTime<Utc>,
    /// The datasource of a SQL task, when the control plane knows it (`None` for other
    /// tasks; a SQL task without one fails with "unknown datasource").
    pub datasource: Option<DatasourceAccess>,
}

impl Assignment {
    /// The task's id: `main` for a job run.
    pub fn task(&self) -> &str {
        match &self.kind {
            TaskKind::Job => "main",
            TaskKind::WorkflowTask { task } => task,
        }
    }

    /// Whether the task belongs to a workflow run.
    pub fn is_workflow_task(&self) -> bool {
        matches!(self.kind, TaskKind::WorkflowTask { .. })
    }
}
