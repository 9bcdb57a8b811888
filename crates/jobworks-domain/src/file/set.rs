//! The one check of a set of job files that `jobworks validate` and the server's apply share:
//! each file parsed and validated, then across the files — names unique (jobs and workflows
//! share one namespace), calls of jobs and workflows that exist as the kind they are called
//! as, and no workflow calling itself through sub-workflow calls — every finding located at
//! a `file:line:column` and reported at once.
//!
//! The cross-file checks read names and calls from the raw tree of every file whose TOML
//! syntax is valid, so a semantic error elsewhere in a file does not hide them.

use super::diagnostic::{Diagnostic, LineIndex, item_path, key_path};
use super::raw::{self, Node, NodeKind};
use super::{FileContext, parse_file};
use crate::spec::JobSpec;
use crate::workflow::WorkflowSpec;
use std::collections::{BTreeMap, BTreeSet};

/// One file to check.
#[derive(Clone, Copy, Debug)]
pub struct FileInput<'a> {
    /// The name diagnostics give the file (usually its path).
    pub name: &'a str,
    /// Its TOML text.
    pub text: &'a str,
    /// What the validator may know beyond the file.
    pub ctx: &'a FileContext,
}

/// What a server already holds, for checking calls against it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredDefinitions {
    /// Names of stored jobs.
    pub jobs: BTreeSet<String>,
    /// Stored workflows by name, each with the workflows its tasks call.
    pub workflows: BTreeMap<String, Vec<String>>,
}

/// The definitions of a set of files that passed [`check_files`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckedFiles {
    /// Every job, in file order then position.
    pub jobs: Vec<JobSpec>,
    /// Every workflow, in file order then position.
    pub workflows: Vec<WorkflowSpec>,
}

/// Checks `files` as one set.
///
/// `stored` is what the server holds: with it, a name must not be the other kind's on the
/// server, a call must name a job or workflow of the files or of the server, and call cycles through stored workflows count (a file's
/// workflow replaces the stored one of its name). Without it (local validation) calls of
/// names the files do not define are not judged; everything else is checked alike.
///
/// Errors: every diagnostic, per file in the order given (each file's sorted by position),
/// then the cross-file findings in the same order.
pub fn check_files(
    files: &[FileInput<'_>],
    stored: Option<&StoredDefinitions>,
) -> Result<CheckedFiles, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut checked = CheckedFiles::default();
    let mut definitions = Vec::new();
    for file in files {
        match parse_file(file.name, file.text, file.ctx) {
            Ok(parsed) => {
                checked.jobs.extend(parsed.jobs);
                checked.workflows.extend(parsed.workflows);
            }
            Err(found) => diagnostics.extend(found),
        }
        definitions.extend(definitions_of(file));
    }
    diagnostics.extend(duplicate_names(&definitions));
    diagnostics.extend(stored_kind_clashes(&definitions, stored));
    diagnostics.extend(bad_calls(&definitions, stored));
    diagnostics.extend(call_cycles(&definitions, stored));
    if diagnostics.is_empty() {
        Ok(checked)
    } else {
        Err(diagnostics)
    }
}

/// `job` or `workflow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Job,
    Workflow,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Workflow => "workflow",
        }
    }
}

/// A place in a file.
#[derive(Clone, Debug)]
struct Place {
    file: String,
    line: usize,
    column: usize,
    field: String,
}

impl Place {
    fn diagnostic(&self, message: String, hint: &str) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            field: self.field.clone(),
            message,
            hint: Some(hint.to_owned()),
        }
    }
}

/// A job or workflow as the raw tree gives it.
#[derive(Clone, Debug)]
struct Definition {
    kind: Kind,
    name: String,
    /// The `name` value.
    place: Place,
    /// A workflow's `job = ".."` and `workflow = ".."` tasks.
    calls: Vec<Call>,
}

#[derive(Clone, Debug)]
struct Call {
    kind: Kind,
    target: String,
    /// The `job` or `workflow` value.
    place: Place,
}

/// The named definitions of a file whose syntax is valid (none otherwise: its syntax
/// errors are reported by the parser).
fn definitions_of(file: &FileInput<'_>) -> Vec<Definition> {
    let lines = LineIndex::new(file.text);
    let (root, syntax_errors) = raw::parse_toml(file.name, file.text, &lines);
    if !syntax_errors.is_empty() {
        return Vec::new();
    }
    let place = |node: &Node, field: String| {
        let (line, column) = lines.position(node.span.start);
        Place {
            file: file.name.to_owned(),
            line,
            column,
            field,
        }
    };
    let mut definitions = Vec::new();
    for entry in entries(&root) {
        let kind = match entry.key.as_str() {
            "job" => Kind::Job,
            "workflow" => Kind::Workflow,
            _ => continue,
        };
        for (index, table) in items(&entry.value).into_iter().enumerate() {
            let path = item_path(kind.noun(), index);
            let Some((name, name_node)) = string_field(table, "name") else {
                continue;
            };
            let mut calls = Vec::new();
            if kind == Kind::Workflow
                && let Some(tasks) = field(table, "task")
            {
                for (at, task) in items(tasks).into_iter().enumerate() {
                    for call_kind in [Kind::Job, Kind::Workflow] {
                        if let Some((target, node)) = string_field(task, call_kind.noun()) {
                            let task_path = item_path(&key_path(&path, "task"), at);
                            calls.push(Call {
                                kind: call_kind,
                                target: target.to_owned(),
                                place: place(node, key_path(&task_path, call_kind.noun())),
                            });
                        }
                    }
                }
            }
            definitions.push(Definition {
                kind,
                name: name.to_owned(),
                place: place(name_node, key_path(&path, "name")),
                calls,
            });
        }
    }
    definitions
}

fn entries(node: &Node) -> &[raw::Entry] {
    match &node.kind {
        NodeKind::Table(entries) => entries,
        _ => &[],
    }
}

/// The tables of an array of tables, or the one table.
fn items(node: &Node) -> Vec<&Node> {
    match &node.kind {
        NodeKind::Array(items) => items.iter().collect(),
        NodeKind::Table(_) => vec![node],
        _ => Vec::new(),
    }
}

fn field<'n>(table: &'n Node, key: &str) -> Option<&'n Node> {
    entries(table)
        .iter()
        .find(|entry| entry.key == key)
        .map(|entry| &entry.value)
}

fn string_field<'n>(table: &'n Node, key: &str) -> Option<(&'n str, &'n Node)> {
    let node = field(table, key)?;
    match &node.kind {
        NodeKind::String(text) if !text.is_empty() => Some((text.as_str(), node)),
        _ => None,
    }
}

/// A name defined twice, in two files or as a job and a workflow (two jobs or two
/// workflows of the same name in one file are the parser's to report).
fn duplicate_names(definitions: &[Definition]) -> Vec<Diagnostic> {
    let mut first: BTreeMap<&str, &Definition> = BTreeMap::new();
    let mut found = Vec::new();
    for definition in definitions {
        let Some(earlier) = first.get(definition.name.as_str()) else {
            first.insert(&definition.name, definition);
            continue;
        };
        if earlier.place.file == definition.place.file && earlier.kind == definition.kind {
            continue;
        }
        found.push(definition.place.diagnostic(
            format!(
                "`{}` is already defined as a {} at {}:{}:{}",
                definition.name,
                earlier.kind.noun(),
                earlier.place.file,
                earlier.place.line,
                earlier.place.column
            ),
            "jobs and workflows share one namespace: names must be unique across all files; rename one",
        ));
    }
    found
}

/// A job named like a stored workflow, or a workflow like a stored job: one namespace.
fn stored_kind_clashes(
    definitions: &[Definition],
    stored: Option<&StoredDefinitions>,
) -> Vec<Diagnostic> {
    let Some(stored) = stored else {
        return Vec::new();
    };
    definitions
        .iter()
        .filter_map(|definition| {
            let other = match definition.kind {
                Kind::Job if stored.workflows.contains_key(&definition.name) => Kind::Workflow,
                Kind::Workflow if stored.jobs.contains(&definition.name) => Kind::Job,
                _ => return None,
            };
            Some(definition.place.diagnostic(
                format!(
                    "`{}` is a {} on the server: a {} cannot take its name",
                    definition.name,
                    other.noun(),
                    definition.kind.noun()
                ),
                &format!(
                    "jobs and workflows share one namespace: rename this {}, or delete the {} first",
                    definition.kind.noun(),
                    other.noun()
                ),
            ))
        })
        .collect()
}

/// Calls of a name defined as the other kind, or (with `stored`) defined nowhere.
fn bad_calls(definitions: &[Definition], stored: Option<&StoredDefinitions>) -> Vec<Diagnostic> {
    let in_files = |name: &str| {
        definitions
            .iter()
            .find(|definition| definition.name == name)
            .map(|definition| definition.kind)
    };
    let on_server = |name: &str| {
        let stored = stored?;
        if stored.jobs.contains(name) {
            Some(Kind::Job)
        } else if stored.workflows.contains_key(name) {
            Some(Kind::Workflow)
        } else {
            None
        }
    };
    let mut found = Vec::new();
    for definition in definitions.iter().filter(|d| d.kind == Kind::Workflow) {
        for call in &definition.calls {
            let noun = call.kind.noun();
            match in_files(&call.target).or_else(|| on_server(&call.target)) {
                Some(kind) if kind == call.kind => {}
                Some(kind) => found.push(call.place.diagnostic(
                    format!("`{}` is a {}, not a {noun}", call.target, kind.noun()),
                    &format!("call it with `{} = \"{}\"`", kind.noun(), call.target),
                )),
                None if stored.is_some() => found.push(call.place.diagnostic(
                    format!("no {noun} named `{}`", call.target),
                    &format!("apply the {noun} in the same request or before this workflow"),
                )),
                None => {}
            }
        }
    }
    found
}

/// Each cycle of sub-workflow calls once, at the call in the files that starts it (the
/// first workflow of the cycle in file order).
fn call_cycles(definitions: &[Definition], stored: Option<&StoredDefinitions>) -> Vec<Diagnostic> {
    let mut calls: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    if let Some(stored) = stored {
        for (name, called) in &stored.workflows {
            calls.insert(name, called.iter().map(String::as_str).collect());
        }
    }
    let workflows: Vec<&Definition> = definitions
        .iter()
        .filter(|definition| definition.kind == Kind::Workflow)
        .collect();
    for workflow in &workflows {
        let called = workflow
            .calls
            .iter()
            .filter(|call| call.kind == Kind::Workflow)
            .map(|call| call.target.as_str())
            .collect();
        calls.insert(&workflow.name, called);
    }
    let mut seen_cycles: BTreeSet<Vec<&str>> = BTreeSet::new();
    let mut found = Vec::new();
    for workflow in &workflows {
        // A workflow calling itself directly is the parser's to report.
        let Some(cycle) = call_cycle(&calls, &workflow.name).filter(|cycle| cycle.len() > 2) else {
            continue;
        };
        let mut members: Vec<&str> = cycle[1..].to_vec();
        members.sort_unstable();
        if !seen_cycles.insert(members) {
            continue;
        }
        let Some(call) = workflow
            .calls
            .iter()
            .find(|call| call.kind == Kind::Workflow && call.target == cycle[1])
        else {
            continue;
        };
        found.push(call.place.diagnostic(
            format!("workflow call cycle: {}", cycle.join(" -> ")),
            "a workflow must not call itself, directly or through other workflows",
        ));
    }
    found
}

/// A shortest path of calls from `start` back to `start`, if there is one (breadth-first,
/// ties in call order).
fn call_cycle<'n>(calls: &BTreeMap<&'n str, Vec<&'n str>>, start: &'n str) -> Option<Vec<&'n str>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for &next in calls.get(at).into_iter().flatten() {
            if next == start {
                let mut ordered = vec![start];
                let mut hops = Vec::new();
                let mut back = at;
                while back != start {
                    hops.push(back);
                    back = came_from.get(back)?;
                }
                hops.reverse();
                ordered.extend(hops);
                ordered.push(start);
                return Some(ordered);
            }
            if !came_from.contains_key(next) && next != start {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
