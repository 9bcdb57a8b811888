//! `[[workflow]]` tables of a job file: the walk over the raw tree that reports field
//! problems with their positions (like jobs), builds a [`WorkflowSpec`], then runs the
//! semantic checks ([`check_workflow`]) and places their problems at the spans recorded
//! during the walk. The format is documented in [`crate::workflow`].

use super::spec::{
    ApprovalOutcome, ApprovalSpec, BranchCase, BranchCondition, BranchSpec,
    DEFAULT_MAX_ACTIVE_RUNS, GroupPolicy, GroupSpec, TaskId, TaskKind, TaskNode, TriggerRule,
    WorkflowSpec,
};
use super::validate::{Problem, Site, check_workflow};
use crate::file::diagnostic::{Diagnostic, item_path, key_path};
use crate::file::raw::{Entry, Node, NodeKind};
use crate::file::suggest::hint;
use crate::file::task::{ANY_TASK_FIELDS, PYTHON_FIELDS, SHELL_FIELDS, SQL_FIELDS, TASK_TYPES};
use crate::file::validate::{Fields, Header, Headers, Validator, default_retry_policy, later_of};
use crate::params::{ParamSpec, ParamType};
use crate::spec::{ShellKind, TaskSpec};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

/// Keys allowed in a workflow table.
const WORKFLOW_FIELDS: &[&str] = &[
    "name",
    "description",
    "tags",
    "schedule",
    "every",
    "timezone",
    "enabled",
    "timeout",
    "misfire",
    "max_catchup",
    "max_active_runs",
    "params",
    "task",
];
/// Keys every task may have.
const TASK_COMMON: &[&str] = &[
    "id",
    "depends_on",
    "trigger_rule",
    "retries",
    "timeout",
    "env",
    "run_on",
];
/// The keys that say what a task does; exactly one per task.
const KIND_KEYS: &[&str] = &["type", "job", "workflow", "approval", "branch", "group"];
const APPROVAL_FIELDS: &[&str] = &["timeout", "default_outcome", "approvers", "message"];
const BRANCH_FIELDS: &[&str] = &["source", "case", "default"];
const CASE_FIELDS: &[&str] = &["exit_code", "output", "equals", "when", "then"];
const CONDITION_KEYS: &[&str] = &["exit_code", "output", "when"];
const GROUP_FIELDS: &[&str] = &["tasks", "policy", "min_success_percent", "max_parallelism"];
/// Range of `max_active_runs`.
const MAX_ACTIVE_RUNS_RANGE: (i64, i64) = (1, 1_000);
/// Range of a group's `max_parallelism`.
const MAX_PARALLELISM_RANGE: (i64, i64) = (1, 10_000);
/// Headers named in hints while walking a workflow.
const WORKFLOW_HEADERS: Headers = Headers {
    noun: "workflow",
    params: "workflow.params",
    retries: "workflow.task.retries",
};

/// Byte spans of the sites of one workflow, for placing semantic problems.
struct Spans {
    /// The workflow table: the fallback.
    workflow: Range<usize>,
    at: HashMap<Site, Range<usize>>,
    /// Sites already reported by the walk (a missing id, a missing name): semantic
    /// problems there would only repeat them.
    suppressed: HashSet<Site>,
    /// Whether `task` was missing or not an array (then "no tasks" is not news).
    tasks_reported: bool,
}

impl Spans {
    fn record(&mut self, site: Site, span: &Range<usize>) {
        self.at.insert(site, span.clone());
    }

    fn span(&self, site: &Site) -> &Range<usize> {
        self.at
            .get(site)
            .or_else(|| site.task().and_then(|task| self.at.get(&Site::Task(task))))
            .unwrap_or(&self.workflow)
    }
}

impl Validator<'_> {
    /// The top-level `workflow` entry: an array of tables, or one table.
    pub(crate) fn workflow_entry(&mut self, entry: &Entry) {
        let parsed: Vec<WorkflowSpec> = match &entry.value.kind {
            NodeKind::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| self.workflow(item, &item_path("workflow", index)))
                .collect(),
            NodeKind::Table(_) => self
                .workflow(&entry.value, "workflow[1]")
                .into_iter()
                .collect(),
            NodeKind::Invalid => Vec::new(),
            _ => {
                self.error(
                    &entry.value.span,
                    "workflow",
                    format!("expected a table, found {}", entry.value.describe()),
                    Some("start each workflow with a [[workflow]] header".to_owned()),
                );
                Vec::new()
            }
        };
        if let Some(workflows) = &mut self.workflows {
            workflows.extend(parsed);
        }
    }

    fn workflow(&mut self, node: &Node, path: &str) -> Option<WorkflowSpec> {
        let saved = self.headers;
        self.headers = WORKFLOW_HEADERS;
        let spec = self.workflow_table(node, path);
        self.headers = saved;
        spec
    }

    fn workflow_table(&mut self, node: &Node, path: &str) -> Option<WorkflowSpec> {
        let entries = self.table(node, path)?;
        let fields = self.known_fields(entries, path, WORKFLOW_FIELDS, |unknown| match unknown {
            "concurrency" => {
                Some("workflows limit overlapping runs with max_active_runs = <n>".to_owned())
            }
            "tasks" | "job" | "step" | "steps" => {
                Some("start each task with a [[workflow.task]] header".to_owned())
            }
            "retries" | "env" | "working_dir" | "output_cap" | "priority" => Some(format!(
                "`{unknown}` is set per task, in its [[workflow.task]] table"
            )),
            _ => None,
        });
        let errors_before = self.diagnostics.len();
        let mut spans = Spans {
            workflow: node.span.clone(),
            at: HashMap::new(),
            suppressed: HashSet::new(),
            tasks_reported: false,
        };

        let name = match fields.get("name") {
            Some(entry) => self.workflow_name(entry, path, &mut spans),
            None => {
                self.error(
                    &node.span,
                    path,
                    "missing field `name`",
                    Some("add name = \"my-workflow\"".to_owned()),
                );
                None
            }
        };
        if name.is_none() {
            spans.suppressed.insert(Site::Field("name"));
        }
        let Header {
            description,
            tags,
            trigger,
            timezone,
            enabled,
        } = self.header(&fields, path);
        let timeout_ms = fields.get("timeout").and_then(|entry| {
            self.positive_duration_ms(entry, path, "leave `timeout` out for no run timeout")
        });
        let (misfire, max_catchup) = self.misfire(&fields, path);
        let max_active_runs = fields
            .get("max_active_runs")
            .and_then(|entry| self.integer_in(entry, path, MAX_ACTIVE_RUNS_RANGE))
            .and_then(|max| u32::try_from(max).ok())
            .unwrap_or(DEFAULT_MAX_ACTIVE_RUNS);
        let mut params = fields
            .get("params")
            .map(|entry| self.params(entry, path))
            .unwrap_or_default();
        // Params that failed their own checks still exist for the references to them.
        let checked_params = params.clone();
        if let Some(NodeKind::Table(declared)) = fields.get("params").map(|entry| &entry.value.kind)
        {
            for declared in declared {
                if !params.iter().any(|param| param.name == declared.key) {
                    params.push(ParamSpec::new(declared.key.clone(), ParamType::String));
                }
            }
        }
        let tasks = match fields.get("task") {
            Some(entry) => self.workflow_tasks(entry, path, &mut spans, &checked_params),
            None => {
                spans.tasks_reported = true;
                self.error(
                    &node.span,
                    path,
                    "missing field `task`",
                    Some("add tasks with [[workflow.task]] headers".to_owned()),
                );
                Vec::new()
            }
        };

        let spec = WorkflowSpec {
            name: name.unwrap_or_default(),
            description,
            tags,
            trigger,
            timezone,
            misfire,
            max_catchup,
            params,
            timeout_ms,
            max_active_runs,
            enabled,
            tasks,
        };
        for problem in check_workflow(&spec) {
            if spans.suppressed.contains(&problem.site)
                || (spans.tasks_reported && problem.site == Site::Workflow)
            {
                continue;
            }
            self.problem(path, &spans, problem);
        }
        if self.diagnostics.len() > errors_before {
            return None;
        }
        Some(WorkflowSpec {
            params: checked_params,
            ..spec
        })
    }

    /// Places a semantic problem at its recorded span.
    fn problem(&mut self, workflow_path: &str, spans: &Spans, problem: Problem) {
        let site_path = problem.site.path();
        let field = if site_path.is_empty() {
            workflow_path.to_owned()
        } else {
            format!("{workflow_path}.{site_path}")
        };
        let mut message = problem.message;
        if let Some(first) = &problem.first_used {
            let line = self.lines.line(spans.span(first));
            message.push_str(&format!(", first used on line {line}"));
        }
        let span = spans.span(&problem.site).clone();
        let (line, column) = self.lines.position(span.start);
        self.diagnostics.push(Diagnostic {
            file: self.source_name.to_owned(),
            line,
            column,
            field,
            message,
            hint: problem.hint,
        });
    }

    fn workflow_name(
        &mut self,
        entry: &Entry,
        workflow_path: &str,
        spans: &mut Spans,
    ) -> Option<String> {
        let name = self.string(entry, workflow_path)?;
        spans.record(Site::Field("name"), &entry.value.span);
        let line = self.lines.line(&entry.value.span);
        if let Some(first_line) = self.workflow_names.get(name) {
            self.error(
                &entry.value.span,
                &key_path(workflow_path, "name"),
                format!("duplicate workflow name `{name}`, first used on line {first_line}"),
                Some("workflow names must be unique".to_owned()),
            );
        } else {
            self.workflow_names.insert(name.to_owned(), line);
        }
        Some(name.to_owned())
    }

    fn workflow_tasks(
        &mut self,
        entry: &Entry,
        workflow_path: &str,
        spans: &mut Spans,
        params: &[ParamSpec],
    ) -> Vec<TaskNode> {
        let path = key_path(workflow_path, "task");
        match &entry.value.kind {
            NodeKind::Array(items) => items
                .iter()
                .enumerate()
                .map(|(at, item)| {
                    self.workflow_task(item, &item_path(&path, at), at, spans, params)
                })
                .collect(),
            NodeKind::Invalid => {
                spans.tasks_reported = true;
                Vec::new()
            }
            _ => {
                spans.tasks_reported = true;
                self.error(
                    &entry.value.span,
                    &path,
                    format!(
                        "expected an array of tables, found {}",
                        entry.value.describe()
                    ),
                    Some(
                        "start each task with a [[workflow.task]] header (two brackets)".to_owned(),
                    ),
                );
                Vec::new()
            }
        }
    }

    /// The one key among `present` (the keys of a table that exclude each other): with none,
    /// an error at the table (`missing`, `missing_hint`); with two or more, an error at the
    /// later one naming both (`both_hint`). `None` after an error.
    fn one_of<'e>(
        &mut self,
        present: &[&'e Entry],
        table_span: &Range<usize>,
        path: &str,
        missing: &str,
        missing_hint: &str,
        both_hint: &str,
    ) -> Option<&'e str> {
        match present {
            [] => {
                self.error(table_span, path, missing, Some(missing_hint.to_owned()));
                None
            }
            [only] => Some(only.key.as_str()),
            [first, second, ..] => {
                let later = later_of(first, second);
                let earlier = if std::ptr::eq(later, *first) {
                    second
                } else {
                    first
                };
                self.error(
                    &later.key_span,
                    &key_path(path, &later.key),
                    format!("`{}` and `{}` are both set", earlier.key, later.key),
                    Some(both_hint.to_owned()),
                );
                None
            }
        }
    }

    /// One task; always returns a node (with stand-ins for what did not parse) so that the
    /// graph checks still see every task.
    fn workflow_task(
        &mut self,
        node: &Node,
        path: &str,
        at: usize,
        spans: &mut Spans,
        params: &[ParamSpec],
    ) -> TaskNode {
        spans.record(Site::Task(at), &node.span);
        let stand_in_id = || TaskId::new(format!("\u{0}task{}", at + 1));
        let Some(entries) = self.table(node, path) else {
            spans.suppressed.insert(Site::TaskField(at, "id"));
            return stand_in(stand_in_id());
        };
        let kind_entries: Vec<&Entry> = entries
            .iter()
            .filter(|entry| KIND_KEYS.contains(&entry.key.as_str()))
            .collect();
        let kind_key = self.one_of(
            &kind_entries,
            &node.span,
            path,
            "task needs one of `type`, `job`, `workflow`, `approval`, `branch` or `group`",
            "for a script: type = \"shell\" with script = \"...\"",
            "a task does one thing: a script (`type`), a `job` or `workflow` call, an `approval`, a `branch` or a `group`",
        );
        let inline_type = kind_entries
            .iter()
            .find(|entry| entry.key == "type")
            .and_then(|entry| match &entry.value.kind {
                NodeKind::String(name) if TASK_TYPES.contains(&name.as_str()) => {
                    Some(name.as_str())
                }
                _ => None,
            });
        let mut known: Vec<&str> = TASK_COMMON.to_vec();
        match kind_key {
            Some("type") => known.extend(match inline_type {
                Some("shell") => SHELL_FIELDS,
                Some("python") => PYTHON_FIELDS,
                Some("sql") => SQL_FIELDS,
                _ => ANY_TASK_FIELDS,
            }),
            Some(call @ ("job" | "workflow")) => known.extend([call, "params"]),
            Some(other) => known.push(other),
            None => {
                known.extend(KIND_KEYS);
                known.extend(ANY_TASK_FIELDS);
                known.push("params");
            }
        }
        let fields = self.known_fields(entries, path, &known, |unknown| {
            task_field_hint(unknown, kind_key)
        });

        let id = match fields.get("id") {
            Some(entry) => match &entry.value.kind {
                NodeKind::String(id) => {
                    spans.record(Site::TaskField(at, "id"), &entry.value.span);
                    Some(TaskId::new(id.clone()))
                }
                _ => {
                    self.string(entry, path);
                    None
                }
            },
            None => {
                self.error(
                    &node.span,
                    path,
                    "missing field `id`",
                    Some("add id = \"extract\"".to_owned()),
                );
                None
            }
        };
        let id = id.unwrap_or_else(|| {
            spans.suppressed.insert(Site::TaskField(at, "id"));
            stand_in_id()
        });
        let depends_on = fields
            .get("depends_on")
            .map(|entry| self.id_list(entry, path, spans, |item| Site::DependsOn(at, item)))
            .unwrap_or_default();
        let trigger_rule = fields
            .get("trigger_rule")
            .and_then(|entry| {
                spans.record(Site::TaskField(at, "trigger_rule"), &entry.value.span);
                let names: Vec<(&str, TriggerRule)> = TriggerRule::ALL
                    .iter()
                    .map(|rule| (rule.as_str(), *rule))
                    .collect();
                self.choice(entry, path, "trigger rule", &names)
            })
            .unwrap_or_default();
        let runs_attempts = matches!(kind_key, Some("type" | "job" | "workflow"));
        let retry = match fields.get("retries") {
            Some(entry) if runs_attempts => self.retries(entry, path),
            Some(entry) => {
                self.not_for_kind(entry, path, kind_key);
                None
            }
            None => None,
        }
        .unwrap_or_else(default_retry_policy);
        let timeout_ms = match fields.get("timeout") {
            Some(entry) if runs_attempts => {
                self.positive_duration_ms(entry, path, "leave `timeout` out for no timeout")
            }
            Some(entry) => {
                self.not_for_kind(entry, path, kind_key);
                None
            }
            None => None,
        };
        let env = match fields.get("env") {
            Some(entry) if kind_key == Some("type") => self.env(entry, path),
            Some(entry) => {
                self.not_for_kind(entry, path, kind_key);
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        };
        // where the task runs: only inline tasks run on a worker of their own; a called job
        // or workflow routes by its own `run_on`
        let run_on = match fields.get("run_on") {
            Some(entry) if kind_key == Some("type") => self.run_on(entry, path, params),
            Some(entry) => {
                self.not_for_kind(entry, path, kind_key);
                None
            }
            None => None,
        };

        let kind = match kind_key {
            Some("type") => self.inline_task(&fields, node, path, at, spans),
            Some(call @ ("job" | "workflow")) => self.call_task(&fields, path, call, at, spans),
            Some("approval") => fields
                .get("approval")
                .and_then(|entry| self.approval(entry, path, at, spans)),
            Some("branch") => fields
                .get("branch")
                .and_then(|entry| self.branch(entry, path, at, spans, &depends_on)),
            Some("group") => fields
                .get("group")
                .and_then(|entry| self.group(entry, path, at, spans)),
            _ => None,
        };
        TaskNode {
            id,
            depends_on,
            trigger_rule,
            retry,
            timeout_ms,
            env,
            kind: kind.unwrap_or_else(stand_in_kind),
            run_on,
        }
    }

    /// `retries`, `timeout` or `env` on a task that does not run attempts or processes.
    fn not_for_kind(&mut self, entry: &Entry, task_path: &str, kind_key: Option<&str>) {
        let Some(kind) = kind_key else {
            return;
        };
        let hint = match (entry.key.as_str(), kind) {
            ("timeout", "approval") => {
                "an approval's timeout goes in its table: approval = { timeout = \"4h\" }"
            }
            ("env", "job" | "workflow") => "a called job or workflow uses its own env",
            ("env", _) => "`env` applies to tasks with `type` (shell, python, sql)",
            ("run_on", "job" | "workflow") => {
                "a called job or workflow runs where its own `run_on` says"
            }
            ("run_on", _) => "`run_on` applies to tasks with `type` (shell, python, sql)",
            _ => "it applies to tasks with `type` and to job and workflow calls",
        };
        self.error(
            &entry.key_span,
            &key_path(task_path, &entry.key),
            format!("`{}` does not apply to {kind} tasks", entry.key),
            Some(hint.to_owned()),
        );
    }

    /// An array of task ids; each item's span is recorded at `site(index)`.
    fn id_list(
        &mut self,
        entry: &Entry,
        table_path: &str,
        spans: &mut Spans,
        site: impl Fn(usize) -> Site,
    ) -> Vec<TaskId> {
        let path = key_path(table_path, &entry.key);
        if let NodeKind::String(id) = &entry.value.kind {
            self.error(
                &entry.value.span,
                &path,
                format!(
                    "expected an array of task ids, found {}",
                    entry.value.describe()
                ),
                Some(format!("{} = [{id:?}]", entry.key)),
            );
            return Vec::new();
        }
        let Some(items) = self.array(&entry.value, &path) else {
            return Vec::new();
        };
        let mut ids = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if let Some(id) = self.string_node(item, &item_path(&path, index)) {
                spans.record(site(ids.len()), &item.span);
                ids.push(TaskId::new(id));
            }
        }
        ids
    }

    fn inline_task(
        &mut self,
        fields: &Fields<'_>,
        node: &Node,
        path: &str,
        at: usize,
        spans: &mut Spans,
    ) -> Option<TaskKind> {
        let type_entry = fields.get("type")?;
        let name = self.string(type_entry, path)?;
        for field in ["script", "command", "query", "stdin"] {
            if let Some(entry) = fields.get(field) {
                spans.record(Site::TaskField(at, field), &entry.value.span);
            }
        }
        if let Some(NodeKind::Array(items)) = fields.get("bind").map(|entry| &entry.value.kind) {
            for (index, item) in items.iter().enumerate() {
                spans.record(Site::Bind(at, index), &item.span);
            }
        }
        let task = match name {
            "shell" => self.shell_task(fields, node, path),
            "python" => self.python_task(fields, node, path),
            "sql" => self.sql_task(fields, node, path, None),
            unknown => {
                self.error(
                    &type_entry.value.span,
                    &key_path(path, "type"),
                    format!("unknown task type `{unknown}`"),
                    Some(match unknown {
                        "job" | "workflow" | "approval" | "branch" | "group" => format!(
                            "`{unknown}` is a key of its own: {unknown} = ..., without `type`"
                        ),
                        _ => hint(unknown, TASK_TYPES.iter().copied()),
                    }),
                );
                None
            }
        }?;
        Some(TaskKind::Inline { task })
    }

    fn call_task(
        &mut self,
        fields: &Fields<'_>,
        path: &str,
        key: &str,
        at: usize,
        spans: &mut Spans,
    ) -> Option<TaskKind> {
        let entry = fields.get(key)?;
        let site_field = if key == "job" { "job" } else { "workflow" };
        spans.record(Site::TaskField(at, site_field), &entry.value.span);
        let name = self.non_empty_string(entry, path).map(str::to_owned);
        let params = match fields.get("params") {
            Some(entry) => self.call_params(entry, path, at, spans)?,
            None => BTreeMap::new(),
        };
        let name = name?;
        Some(if key == "job" {
            TaskKind::Job { job: name, params }
        } else {
            TaskKind::Workflow {
                workflow: name,
                params,
            }
        })
    }

    /// `params = { k = "v" }` of a call: scalars only.
    fn call_params(
        &mut self,
        entry: &Entry,
        task_path: &str,
        at: usize,
        spans: &mut Spans,
    ) -> Option<BTreeMap<String, serde_json::Value>> {
        let path = key_path(task_path, "params");
        let entries = self.table(&entry.value, &path)?;
        let mut params = BTreeMap::new();
        for param in entries {
            let param_path = key_path(&path, &param.key);
            spans.record(Site::CallParam(at, param.key.clone()), &param.value.span);
            let value = match &param.value.kind {
                NodeKind::String(text) => serde_json::Value::String(text.clone()),
                NodeKind::Integer(int) => serde_json::Value::from(*int),
                NodeKind::Float(float) if float.is_finite() => serde_json::Value::from(*float),
                NodeKind::Bool(flag) => serde_json::Value::Bool(*flag),
                NodeKind::Invalid => continue,
                _ => {
                    self.error(
                        &param.value.span,
                        &param_path,
                        format!(
                            "expected a string, number or boolean, found {}",
                            param.value.describe()
                        ),
                        Some("params are single values; pass lists as text".to_owned()),
                    );
                    continue;
                }
            };
            params.insert(param.key.clone(), value);
        }
        // Kept with errors too, so that the references of the good values are checked.
        Some(params)
    }

    fn approval(
        &mut self,
        entry: &Entry,
        task_path: &str,
        at: usize,
        spans: &mut Spans,
    ) -> Option<TaskKind> {
        let path = key_path(task_path, "approval");
        spans.record(Site::TaskField(at, "approval"), &entry.value.span);
        let entries = self.table(&entry.value, &path)?;
        let fields = self.known_fields(entries, &path, APPROVAL_FIELDS, |unknown| {
            matches!(unknown, "users" | "approver" | "who")
                .then(|| "did you mean `approvers`?".to_owned())
        });
        let errors_before = self.diagnostics.len();
        let timeout_ms = match fields.get("timeout") {
            Some(entry) => self.positive_duration_ms(
                entry,
                &path,
                "an approval needs a timeout; default_outcome applies when it passes",
            ),
            None => {
                self.error(
                    &entry.value.span,
                    &path,
                    "missing field `timeout`",
                    Some("add timeout = \"4h\"; default_outcome applies when it passes".to_owned()),
                );
                None
            }
        };
        let default_outcome = fields
            .get("default_outcome")
            .and_then(|entry| {
                self.choice(
                    entry,
                    &path,
                    "outcome",
                    &[
                        ("approve", ApprovalOutcome::Approve),
                        ("reject", ApprovalOutcome::Reject),
                    ],
                )
            })
            .unwrap_or_default();
        let mut approvers: Vec<String> = Vec::new();
        if let Some(entry) = fields.get("approvers") {
            let approvers_path = key_path(&path, "approvers");
            if let Some(items) = self.array(&entry.value, &approvers_path) {
                for (index, item) in items.iter().enumerate() {
                    let item_path = item_path(&approvers_path, index);
                    let Some(user) = self.string_node(item, &item_path) else {
                        continue;
                    };
                    if user.trim().is_empty() {
                        self.error(&item.span, &item_path, "approver is empty", None);
                    } else if approvers.iter().any(|seen| seen == user) {
                        self.error(
                            &item.span,
                            &item_path,
                            format!("`{user}` is listed twice"),
                            None,
                        );
                    } else {
                        approvers.push(user.to_owned());
                    }
                }
            }
        }
        let message = fields
            .get("message")
            .and_then(|entry| self.string(entry, &path))
            .unwrap_or_default()
            .to_owned();
        if self.diagnostics.len() > errors_before {
            return None;
        }
        Some(TaskKind::Approval(ApprovalSpec {
            timeout_ms: timeout_ms?,
            default_outcome,
            approvers,
            message,
        }))
    }

    fn branch(
        &mut self,
        entry: &Entry,
        task_path: &str,
        at: usize,
        spans: &mut Spans,
        depends_on: &[TaskId],
    ) -> Option<TaskKind> {
        let path = key_path(task_path, "branch");
        spans.record(Site::TaskField(at, "branch"), &entry.value.span);
        let entries = self.table(&entry.value, &path)?;
        let fields = self.known_fields(entries, &path, BRANCH_FIELDS, |unknown| match unknown {
            "cases" => Some(
                "did you mean `case`? each case is a [[workflow.task.branch.case]] table"
                    .to_owned(),
            ),
            "otherwise" | "else" => Some("did you mean `default`?".to_owned()),
            "exit_code" | "output" | "equals" | "when" | "then" => Some(format!(
                "`{unknown}` belongs to a case: [[workflow.task.branch.case]]"
            )),
            _ => None,
        });
        let source = fields.get("source").and_then(|entry| {
            spans.record(Site::BranchField(at, "source"), &entry.value.span);
            self.string(entry, &path).map(TaskId::new)
        });
        let default = fields
            .get("default")
            .map(|entry| self.id_list(entry, &path, spans, |item| Site::DefaultTarget(at, item)))
            .unwrap_or_default();
        let mut cases = Vec::new();
        if let Some(entry) = fields.get("case") {
            let case_path = key_path(&path, "case");
            match &entry.value.kind {
                NodeKind::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        spans.record(Site::BranchCase(at, index), &item.span);
                        let case = self
                            .branch_case(item, &item_path(&case_path, index), at, index, spans)
                            // A stand-in keeps case positions equal to those in the file.
                            .unwrap_or_else(|| BranchCase {
                                condition: BranchCondition::Expr {
                                    expr: "false".to_owned(),
                                },
                                then: Vec::new(),
                            });
                        cases.push(case);
                    }
                }
                NodeKind::Invalid => {}
                _ => self.error(
                    &entry.value.span,
                    &case_path,
                    format!("expected an array of tables, found {}", entry.value.describe()),
                    Some("start each case with a [[workflow.task.branch.case]] header (two brackets)".to_owned()),
                ),
            }
        }
        // Kept even with errors in it (they fail the workflow anyway), so that the rest of the
        // branch is still checked.
        let needs_source = cases
            .iter()
            .any(|case: &BranchCase| !matches!(case.condition, BranchCondition::Expr { .. }));
        let source = match (source, depends_on) {
            (None, [only]) if needs_source => Some(only.clone()),
            (source, _) => source,
        };
        Some(TaskKind::Branch(BranchSpec {
            source,
            cases,
            default,
        }))
    }

    fn branch_case(
        &mut self,
        node: &Node,
        path: &str,
        at: usize,
        case_at: usize,
        spans: &mut Spans,
    ) -> Option<BranchCase> {
        let entries = self.table(node, path)?;
        let fields = self.known_fields(entries, path, CASE_FIELDS, |unknown| match unknown {
            "exit" | "code" | "exit_codes" => Some("did you mean `exit_code`?".to_owned()),
            "if" | "expr" | "condition" => Some("did you mean `when`?".to_owned()),
            "value" | "is" => Some("did you mean `equals`?".to_owned()),
            "tasks" | "choose" | "run" => Some("did you mean `then`?".to_owned()),
            _ => None,
        });
        let errors_before = self.diagnostics.len();
        let conditions: Vec<&Entry> = CONDITION_KEYS
            .iter()
            .filter_map(|key| fields.get(key))
            .collect();
        let missing_hint = if fields.get("equals").is_some() {
            "`equals` compares an output: add output = \"<name>\""
        } else {
            "add exit_code = 0, output = \"<name>\" with equals = \"<value>\", or when = \"<expression>\""
        };
        let condition_key = self.one_of(
            &conditions,
            &node.span,
            path,
            "case needs a condition: `exit_code`, `output` with `equals`, or `when`",
            missing_hint,
            "a case tests one thing; write another case for the other",
        );
        if condition_key != Some("output")
            && condition_key.is_some()
            && let Some(equals) = fields.get("equals")
        {
            self.error(
                &equals.key_span,
                &key_path(path, "equals"),
                "`equals` applies only with `output`",
                None,
            );
        }
        let condition = match condition_key {
            Some("exit_code") => {
                let entry = fields.get("exit_code")?;
                spans.record(
                    Site::BranchCaseField(at, case_at, "exit_code"),
                    &entry.value.span,
                );
                self.exit_codes(entry, path)
                    .map(|codes| BranchCondition::ExitCode { codes })
            }
            Some("output") => {
                let entry = fields.get("output")?;
                spans.record(
                    Site::BranchCaseField(at, case_at, "output"),
                    &entry.value.span,
                );
                let output = self.non_empty_string(entry, path).map(str::to_owned);
                let values = match fields.get("equals") {
                    Some(equals) => {
                        spans.record(
                            Site::BranchCaseField(at, case_at, "equals"),
                            &equals.value.span,
                        );
                        self.strings(equals, path)
                    }
                    None => {
                        self.error(
                            &entry.key_span,
                            &key_path(path, "output"),
                            "`output` needs `equals`: the values that choose this case",
                            Some("add equals = \"<value>\" or equals = [\"a\", \"b\"]".to_owned()),
                        );
                        None
                    }
                };
                match (output, values) {
                    (Some(output), Some(values)) => {
                        Some(BranchCondition::Output { output, values })
                    }
                    _ => None,
                }
            }
            Some(_) => {
                let entry = fields.get("when")?;
                spans.record(
                    Site::BranchCaseField(at, case_at, "when"),
                    &entry.value.span,
                );
                self.non_empty_string(entry, path)
                    .map(|expr| BranchCondition::Expr {
                        expr: expr.to_owned(),
                    })
            }
            None => None,
        };
        let then = match fields.get("then") {
            Some(entry) => Some(self.id_list(entry, path, spans, |item| {
                Site::CaseTarget(at, case_at, item)
            })),
            None => {
                self.error(
                    &node.span,
                    path,
                    "missing field `then`",
                    Some("then = [\"task\"], or then = [] to choose nothing".to_owned()),
                );
                None
            }
        };
        if self.diagnostics.len() > errors_before {
            // A case whose condition did not parse still lists its targets, so that they do
            // not look never chosen; it matches nothing.
            return then.map(|then| BranchCase {
                condition: BranchCondition::Expr {
                    expr: "false".to_owned(),
                },
                then,
            });
        }
        Some(BranchCase {
            condition: condition?,
            then: then?,
        })
    }

    /// An exit code, or an array of them (0-255 are what processes exit with; any `i32`
    /// is accepted).
    fn exit_codes(&mut self, entry: &Entry, case_path: &str) -> Option<Vec<i32>> {
        let path = key_path(case_path, "exit_code");
        let one = |validator: &mut Self, node: &Node, path: &str| -> Option<i32> {
            match &node.kind {
                NodeKind::Integer(int) => match i32::try_from(*int) {
                    Ok(code) => Some(code),
                    Err(_) => {
                        validator.error(
                            &node.span,
                            path,
                            format!("exit code {int} is out of range"),
                            None,
                        );
                        None
                    }
                },
                NodeKind::Invalid => None,
                _ => {
                    let hint = match &node.kind {
                        NodeKind::String(text) if text.trim().parse::<i32>().is_ok() => {
                            Some(format!("remove the quotes: {}", text.trim()))
                        }
                        _ => None,
                    };
                    validator.error(
                        &node.span,
                        path,
                        format!("expected an integer, found {}", node.describe()),
                        hint,
                    );
                    None
                }
            }
        };
        match &entry.value.kind {
            NodeKind::Array(items) => {
                if items.is_empty() {
                    self.error(&entry.value.span, &path, "no exit codes listed", None);
                    return None;
                }
                let codes: Vec<Option<i32>> = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| one(self, item, &item_path(&path, index)))
                    .collect();
                codes.into_iter().collect()
            }
            _ => one(self, &entry.value, &path).map(|code| vec![code]),
        }
    }

    /// A string, or a non-empty array of strings.
    fn strings(&mut self, entry: &Entry, table_path: &str) -> Option<Vec<String>> {
        let path = key_path(table_path, &entry.key);
        match &entry.value.kind {
            NodeKind::String(text) => Some(vec![text.clone()]),
            NodeKind::Array(items) => {
                if items.is_empty() {
                    self.error(&entry.value.span, &path, "no values listed", None);
                    return None;
                }
                let values: Vec<Option<String>> = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        self.string_node(item, &item_path(&path, index))
                            .map(str::to_owned)
                    })
                    .collect();
                values.into_iter().collect()
            }
            NodeKind::Invalid => None,
            _ => {
                let hint = entry
                    .value
                    .scalar_text()
                    .map(|text| format!("outputs are text: quote it: \"{text}\""));
                self.error(
                    &entry.value.span,
                    &path,
                    format!(
                        "expected a string or an array of strings, found {}",
                        entry.value.describe()
                    ),
                    hint,
                );
                None
            }
        }
    }

    fn group(
        &mut self,
        entry: &Entry,
        task_path: &str,
        at: usize,
        spans: &mut Spans,
    ) -> Option<TaskKind> {
        let path = key_path(task_path, "group");
        spans.record(Site::TaskField(at, "group"), &entry.value.span);
        let entries = self.table(&entry.value, &path)?;
        let fields = self.known_fields(entries, &path, GROUP_FIELDS, |unknown| match unknown {
            "members" => Some("did you mean `tasks`?".to_owned()),
            "parallelism" | "concurrency" | "max_parallel" => {
                Some("did you mean `max_parallelism`?".to_owned())
            }
            "ratio" | "percent" | "min_success" => {
                Some("did you mean `min_success_percent`?".to_owned())
            }
            _ => None,
        });
        let tasks = match fields.get("tasks") {
            Some(entry) => {
                spans.record(Site::GroupField(at, "tasks"), &entry.value.span);
                Some(self.id_list(entry, &path, spans, |item| Site::GroupMember(at, item)))
            }
            None => {
                self.error(
                    &entry.value.span,
                    &path,
                    "missing field `tasks`",
                    Some("list the member tasks: tasks = [\"a\", \"b\"]".to_owned()),
                );
                None
            }
        };
        let policy_name = fields.get("policy").and_then(|entry| {
            self.choice(
                entry,
                &path,
                "group policy",
                &[("all", "all"), ("any", "any"), ("ratio", "ratio")],
            )
        });
        let percent = fields.get("min_success_percent").and_then(|entry| {
            if policy_name.is_some() && policy_name != Some("ratio") {
                self.error(
                    &entry.key_span,
                    &key_path(&path, "min_success_percent"),
                    "`min_success_percent` applies only to policy \"ratio\"",
                    Some("set policy = \"ratio\"".to_owned()),
                );
                return None;
            }
            self.integer_in(entry, &path, (1, 100))
                .and_then(|percent| u8::try_from(percent).ok())
        });
        let policy = match policy_name {
            Some("any") => GroupPolicy::Any,
            Some("ratio") => match percent {
                Some(min_success_percent) => GroupPolicy::Ratio {
                    min_success_percent,
                },
                None => {
                    if fields.get("min_success_percent").is_none() {
                        let policy_entry = fields.get("policy");
                        let span = policy_entry.map_or(&entry.value.span, |e| &e.value.span);
                        self.error(
                            span,
                            &key_path(&path, "policy"),
                            "policy \"ratio\" needs `min_success_percent`",
                            Some("add min_success_percent = 60 (1-100)".to_owned()),
                        );
                    }
                    GroupPolicy::All
                }
            },
            _ => GroupPolicy::All,
        };
        let max_parallelism = fields.get("max_parallelism").and_then(|entry| {
            spans.record(Site::GroupField(at, "max_parallelism"), &entry.value.span);
            self.integer_in(entry, &path, MAX_PARALLELISM_RANGE)
                .and_then(|max| u32::try_from(max).ok())
        });
        // Kept even with errors above, so that membership is still checked.
        Some(TaskKind::Group(GroupSpec {
            tasks: tasks?,
            policy,
            max_parallelism,
        }))
    }
}

/// Hints for unknown keys of a task table.
fn task_field_hint(unknown: &str, kind_key: Option<&str>) -> Option<String> {
    match unknown {
        "upstream" | "after" | "needs" | "requires" | "deps" | "dependencies" | "depends" => {
            return Some("did you mean `depends_on`?".to_owned());
        }
        "name" => return Some("tasks have an `id`: id = \"extract\"".to_owned()),
        "rule" | "trigger" => return Some("did you mean `trigger_rule`?".to_owned()),
        "params" => {
            return Some(
                "`params` passes values to a job or workflow call; the workflow's params reach scripts as JOBWORKS_PARAM_* variables"
                    .to_owned(),
            );
        }
        "source" | "case" | "default" => {
            return Some(format!(
                "`{unknown}` belongs in the branch table: [workflow.task.branch]"
            ));
        }
        "tasks" | "policy" | "max_parallelism" | "min_success_percent" => {
            return Some(format!(
                "`{unknown}` belongs in the group table: [workflow.task.group]"
            ));
        }
        "approvers" | "default_outcome" => {
            return Some(format!(
                "`{unknown}` belongs in the approval table: [workflow.task.approval]"
            ));
        }
        _ => {}
    }
    let owners: Vec<&str> = [
        ("shell", SHELL_FIELDS),
        ("python", PYTHON_FIELDS),
        ("sql", SQL_FIELDS),
    ]
    .into_iter()
    .filter(|(_, fields)| fields.contains(&unknown))
    .map(|(name, _)| name)
    .collect();
    if owners.is_empty() {
        return None;
    }
    let types = owners.join(" and ");
    Some(match kind_key {
        Some("type") => format!("`{unknown}` belongs to {types} tasks"),
        _ => format!(
            "`{unknown}` belongs to {types} tasks (type = \"{}\")",
            owners[0]
        ),
    })
}

/// A task that stands in for one whose kind did not parse: it runs nothing and has no
/// kind-specific checks, so only graph problems are reported about it.
fn stand_in(id: TaskId) -> TaskNode {
    TaskNode {
        id,
        depends_on: Vec::new(),
        trigger_rule: TriggerRule::AllSuccess,
        retry: default_retry_policy(),
        timeout_ms: None,
        env: BTreeMap::new(),
        kind: stand_in_kind(),
        run_on: None,
    }
}

fn stand_in_kind() -> TaskKind {
    TaskKind::Inline {
        task: TaskSpec::Shell {
            script: Some("true".to_owned()),
            command: None,
            shell: ShellKind::Sh,
            errexit: true,
            stdin: None,
        },
    }
}
