//! `run_on = { … }` on a job or a workflow task: read from the raw tree into a
//! [`RunOn`], checked by [`RunOn::validate_at`], each problem placed at the key or value it
//! is about (file:line:col), plus what this release does not run yet.

use super::diagnostic::key_path;
use super::raw::{Entry, NodeKind};
use super::validate::Validator;
use crate::params::ParamSpec;
use crate::routing::{HashKey, RunOn, RunOnPolicy, Strategy};
use std::collections::BTreeMap;
use std::ops::Range;

/// Hint of the parts of `run_on` that are later work (issue 9: sharding, offline schedules).
const NOT_YET: &str = "this release routes one task to one agent; leave it out";

impl Validator<'_> {
    /// Reads `run_on` (the `entry` of a job or workflow task table at `table_path`) into a
    /// checked policy. `params` are the declared parameters `hash_key = "params.NAME"` must
    /// name (the job's, or the workflow's for a task).
    ///
    /// Reports, each at its key or value: a value of the wrong type, every problem
    /// [`RunOn::validate_at`] finds (unknown keys with a suggestion, bad labels, unknown
    /// strategy, …), a `hash_key` naming an undeclared parameter, and `shards`,
    /// `strategy = "sharding_broadcast"` and `offline_schedule = true`, which are not
    /// supported yet. Returns `None` when anything was reported.
    pub(crate) fn run_on(
        &mut self,
        entry: &Entry,
        table_path: &str,
        params: &[ParamSpec],
    ) -> Option<RunOnPolicy> {
        let path = key_path(table_path, "run_on");
        let entries = self.table(&entry.value, &path)?;
        let errors_before = self.diagnostics.len();
        let mut raw = RunOn::default();
        for field in entries {
            match field.key.as_str() {
                "labels" => raw.labels = self.labels(field, &path),
                "strategy" => raw.strategy = self.string(field, &path).map(str::to_owned),
                "hash_key" => raw.hash_key = self.string(field, &path).map(str::to_owned),
                "shards" => raw.shards = self.integer_in(field, &path, (i64::MIN, i64::MAX)),
                "max_cpu_percent" => raw.max_cpu_percent = self.number(field, &path),
                "min_free_memory" => {
                    raw.min_free_memory = self.string(field, &path).map(str::to_owned);
                }
                "placement_timeout" => {
                    raw.placement_timeout = self.string(field, &path).map(str::to_owned);
                }
                "agent_lost_after" => {
                    raw.agent_lost_after = self.string(field, &path).map(str::to_owned);
                }
                "on_agent_lost" => {
                    raw.on_agent_lost = self.string(field, &path).map(str::to_owned);
                }
                "offline_schedule" => raw.offline_schedule = self.boolean(field, &path),
                unknown => {
                    raw.unknown
                        .insert(unknown.to_owned(), serde_json::Value::Null);
                }
            }
        }
        let policy = match raw.validate_at(&path) {
            Ok(policy) => Some(policy),
            Err(problems) => {
                for problem in problems {
                    let span = problem_span(&path, &problem.path, entries, &entry.value.span);
                    let (message, hint) = match problem.message.split_once("; ") {
                        Some((message, hint)) => (message.to_owned(), Some(hint.to_owned())),
                        None => (problem.message.clone(), None),
                    };
                    self.error(&span, &problem.path, message, hint);
                }
                None
            }
        };
        if let Some(policy) = &policy {
            self.run_on_scope(policy, entries, &path, params);
        }
        if self.diagnostics.len() > errors_before {
            return None;
        }
        policy
    }

    /// `labels = { site = "bj" }`: a table of strings.
    fn labels(&mut self, entry: &Entry, run_on_path: &str) -> BTreeMap<String, String> {
        let path = key_path(run_on_path, "labels");
        let mut labels = BTreeMap::new();
        let Some(entries) = self.table(&entry.value, &path) else {
            return labels;
        };
        for label in entries {
            if let Some(value) = self.string(label, &path) {
                labels.insert(label.key.clone(), value.to_owned());
            }
        }
        labels
    }

    /// What a valid policy may still not use: a parameter it does not declare, and the
    /// parts of `run_on` this release does not run.
    fn run_on_scope(
        &mut self,
        policy: &RunOnPolicy,
        entries: &[Entry],
        path: &str,
        params: &[ParamSpec],
    ) {
        let at = |key: &str| entries.iter().find(|entry| entry.key == key);
        if let HashKey::Param(name) = &policy.hash_key
            && !params.iter().any(|param| &param.name == name)
            && let Some(entry) = at("hash_key")
        {
            let declared: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
            let hint = if declared.is_empty() {
                format!(
                    "declare it in [{}.{name}], or hash on the name: hash_key = \"job\"",
                    self.headers.params
                )
            } else {
                format!("declared: {}", declared.join(", "))
            };
            self.error(
                &entry.value.span,
                &key_path(path, "hash_key"),
                format!("`params.{name}` is not a declared parameter"),
                Some(hint),
            );
        }
        if let Some(entry) = at("shards") {
            self.error(
                &entry.key_span,
                &key_path(path, "shards"),
                "`shards` is not supported yet",
                Some(NOT_YET.to_owned()),
            );
        }
        if policy.strategy == Strategy::ShardingBroadcast
            && let Some(entry) = at("strategy")
        {
            self.error(
                &entry.value.span,
                &key_path(path, "strategy"),
                "strategy \"sharding_broadcast\" is not supported yet",
                Some(format!("{NOT_YET}, or pick another strategy")),
            );
        }
        if policy.offline_schedule
            && let Some(entry) = at("offline_schedule")
        {
            self.error(
                &entry.key_span,
                &key_path(path, "offline_schedule"),
                "`offline_schedule` is not supported yet",
                Some(NOT_YET.to_owned()),
            );
        }
    }
}

/// Where a problem at `problem_path` (below `run_on_path`) is in the file: a label's key for
/// `labels.X`, the value of a known field, the key of an unknown one; else the whole table.
fn problem_span(
    run_on_path: &str,
    problem_path: &str,
    entries: &[Entry],
    table: &Range<usize>,
) -> Range<usize> {
    let Some(rest) = problem_path
        .strip_prefix(run_on_path)
        .and_then(|rest| rest.strip_prefix('.'))
    else {
        return table.clone();
    };
    let (field, below) = rest.split_once('.').unwrap_or((rest, ""));
    let Some(entry) = entries.iter().find(|entry| entry.key == field) else {
        return table.clone();
    };
    if field == "labels"
        && !below.is_empty()
        && let NodeKind::Table(labels) = &entry.value.kind
        && let Some(label) = labels
            .iter()
            .find(|label| label.key == below || format!("{:?}", label.key) == below)
    {
        return label.key_span.clone();
    }
    if crate::routing::RUN_ON_FIELDS.contains(&field) {
        entry.value.span.clone()
    } else {
        entry.key_span.clone()
    }
}
