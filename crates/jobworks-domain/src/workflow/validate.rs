//! Semantic checks of a workflow: ids, dependencies, cycles, groups, branches, references
//! to params and task outputs, and tasks that can never run. Each problem names the place
//! in the spec it is about as a [`Site`]; the file parser turns sites into lines and
//! columns, and specs from elsewhere (the API) get field paths.
//!
//! Cycles (strongly connected components of the known dependencies) are looked for whatever
//! else is wrong, so every error comes at once; the "can never run" analysis needs a sound
//! graph and runs only when the ids and dependencies are sound and there is no cycle.

use super::data::{TemplatePart, parse_template};
use super::expr::{Reference, check_expression};
use super::graph::Graph;
use super::spec::{
    BranchCondition, GroupPolicy, TaskKind, TriggerRule, WorkflowSpec, is_valid_task_id,
};
use crate::file::is_valid_job_name;
use crate::file::suggest::{closest, list};
use crate::spec::TaskSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A place in a workflow spec; indexes are 0-based positions in the spec's lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    /// The workflow as a whole.
    Workflow,
    /// A workflow-level field, e.g. `name`.
    Field(&'static str),
    /// A task.
    Task(usize),
    /// A field of a task: `id`, `trigger_rule`, `job`, `workflow`, `script`, `command`,
    /// `query`, `stdin`, `branch`, `group`, `approval`.
    TaskField(usize, &'static str),
    /// Item `.1` of a task's `depends_on`.
    DependsOn(usize, usize),
    /// A call param of a `job` or `workflow` task, by name.
    CallParam(usize, String),
    /// Item `.1` of an inline sql task's `bind`.
    Bind(usize, usize),
    /// A field of a branch: `source`, `default`, `case`.
    BranchField(usize, &'static str),
    /// Case `.1` of a branch.
    BranchCase(usize, usize),
    /// A field of a branch case: `exit_code`, `output`, `equals`, `when`, `then`.
    BranchCaseField(usize, usize, &'static str),
    /// Item `.2` of case `.1`'s `then`.
    CaseTarget(usize, usize, usize),
    /// Item `.1` of a branch's `default`.
    DefaultTarget(usize, usize),
    /// A field of a group: `tasks`, `policy`, `min_success_percent`, `max_parallelism`.
    GroupField(usize, &'static str),
    /// Item `.1` of a group's `tasks`.
    GroupMember(usize, usize),
}

impl Site {
    /// The field path within the workflow, as in file diagnostics without the
    /// `workflow[n].` prefix: `task[2].depends_on[1]`, `task[3].branch.case[1].then[2]`;
    /// empty for [`Site::Workflow`]. Positions count from 1.
    pub fn path(&self) -> String {
        let task = |at: &usize| format!("task[{}]", at + 1);
        match self {
            Site::Workflow => String::new(),
            Site::Field(field) => (*field).to_owned(),
            Site::Task(at) => task(at),
            Site::TaskField(at, field) => format!("{}.{field}", task(at)),
            Site::DependsOn(at, item) => format!("{}.depends_on[{}]", task(at), item + 1),
            Site::CallParam(at, name) => {
                crate::file::diagnostic::key_path(&format!("{}.params", task(at)), name)
            }
            Site::Bind(at, item) => format!("{}.bind[{}]", task(at), item + 1),
            Site::BranchField(at, field) => format!("{}.branch.{field}", task(at)),
            Site::BranchCase(at, case) => format!("{}.branch.case[{}]", task(at), case + 1),
            Site::BranchCaseField(at, case, field) => {
                format!("{}.branch.case[{}].{field}", task(at), case + 1)
            }
            Site::CaseTarget(at, case, item) => {
                format!("{}.branch.case[{}].then[{}]", task(at), case + 1, item + 1)
            }
            Site::DefaultTarget(at, item) => {
                format!("{}.branch.default[{}]", task(at), item + 1)
            }
            Site::GroupField(at, field) => format!("{}.group.{field}", task(at)),
            Site::GroupMember(at, item) => format!("{}.group.tasks[{}]", task(at), item + 1),
        }
    }

    /// The task a site belongs to, if any.
    pub fn task(&self) -> Option<usize> {
        match self {
            Site::Workflow | Site::Field(_) => None,
            Site::Task(at)
            | Site::TaskField(at, _)
            | Site::DependsOn(at, _)
            | Site::CallParam(at, _)
            | Site::Bind(at, _)
            | Site::BranchField(at, _)
            | Site::BranchCase(at, _)
            | Site::BranchCaseField(at, _, _)
            | Site::CaseTarget(at, _, _)
            | Site::DefaultTarget(at, _)
            | Site::GroupField(at, _)
            | Site::GroupMember(at, _) => Some(*at),
        }
    }
}

/// One problem with a workflow spec.
///
/// Displays as `task[2].depends_on[1]: unknown task `lod``, then `, first used at ...` when
/// `first_used` is set, then `\n  hint: ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub site: Site,
    /// What is wrong: a lowercase fragment without a trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// For duplicates: where the name was first used.
    pub first_used: Option<Site>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.site.path();
        if !path.is_empty() {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(first) = &self.first_used {
            write!(f, ", first used at {}", first.path())?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Checks a workflow spec as a whole and returns every problem found, in spec order:
/// task ids (valid, unique), dependencies (known, no self or repeated entries, no cycle,
/// reported with its path like `extract -> load -> extract`), groups (known members that
/// belong to one group, are neither groups nor branches, have no dependencies of their own,
/// and nothing outside depends on), branches (a source among the dependencies, targets that
/// depend on the branch, cases that can match, downstream tasks it can choose), references
/// to params and upstream outputs in expressions, call params and sql binds, `${...}`
/// references in scripts (never expanded there), and tasks that can never run because they
/// need branch targets a branch never chooses together.
///
/// Empty when the spec is sound. Field-level rules (durations, names of params) are the
/// file parser's; this function assumes nothing and never panics.
pub fn check_workflow(spec: &WorkflowSpec) -> Vec<Problem> {
    let graph = Graph::new(spec);
    let mut checker = Checker {
        spec,
        graph: &graph,
        problems: Vec::new(),
    };
    checker.run();
    checker.problems
}

struct Checker<'a, 's> {
    spec: &'s WorkflowSpec,
    graph: &'a Graph<'s>,
    problems: Vec<Problem>,
}

const PARAMS_HINT_PREFIX: &str = "declare it under [workflow.params.";

impl Checker<'_, '_> {
    fn report(&mut self, site: Site, message: impl Into<String>, hint: Option<String>) {
        self.problems.push(Problem {
            site,
            message: message.into(),
            hint,
            first_used: None,
        });
    }

    fn run(&mut self) {
        if !is_valid_job_name(&self.spec.name) {
            self.report(
                Site::Field("name"),
                format!("invalid workflow name `{}`", self.spec.name),
                Some("use 1-63 characters from a-z, 0-9, `_`, `.` and `-`, starting with a letter or digit".to_owned()),
            );
        }
        if self.spec.tasks.is_empty() {
            self.report(
                Site::Workflow,
                "workflow has no tasks",
                Some("add tasks with [[workflow.task]] headers".to_owned()),
            );
            return;
        }
        let ids_sound = self.ids();
        let (deps_known, no_self_deps) = self.dependencies();
        let groups_sound = self.groups();
        // The graph drops unknown ids and resolves duplicates to their first task, so
        // cycles among the known dependencies are found (and reported) whatever else is
        // wrong.
        let cycles = self.cycles();
        for at in 0..self.spec.tasks.len() {
            self.kind(at);
        }
        if ids_sound && deps_known && no_self_deps && groups_sound && !cycles {
            self.never_run();
        }
    }

    /// Task ids are valid and unique. Returns whether they are unique.
    fn ids(&mut self) -> bool {
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unique = true;
        for (at, task) in self.spec.tasks.iter().enumerate() {
            let id = task.id.as_str();
            if !is_valid_task_id(id) {
                let slug = slugify(id);
                let hint = if is_valid_task_id(&slug) {
                    format!("try `{slug}`")
                } else {
                    "use 1-63 characters from a-z, 0-9 and `_`, starting with a letter".to_owned()
                };
                self.report(
                    Site::TaskField(at, "id"),
                    format!("invalid task id `{id}`"),
                    Some(hint),
                );
            }
            if let Some(&earlier) = first.get(id) {
                unique = false;
                self.problems.push(Problem {
                    site: Site::TaskField(at, "id"),
                    message: format!("duplicate task id `{id}`"),
                    hint: Some("task ids must be unique within a workflow".to_owned()),
                    first_used: Some(Site::TaskField(earlier, "id")),
                });
            } else {
                first.insert(id, at);
            }
        }
        unique
    }

    /// A hint for an unknown task id: the closest id, or the list of ids.
    fn unknown_task_hint(&self, id: &str) -> String {
        let ids = self.spec.tasks.iter().map(|task| task.id.as_str());
        match closest(id, ids.clone()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if self.spec.tasks.len() <= 12 => format!("tasks: {}", list(ids)),
            None => "no task has this id".to_owned(),
        }
    }

    /// `depends_on` names known tasks, not itself, each once. Returns whether all resolve,
    /// and whether no task depends on itself.
    fn dependencies(&mut self) -> (bool, bool) {
        let mut known = true;
        let mut no_self = true;
        for (at, task) in self.spec.tasks.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for (item, dep) in task.depends_on.iter().enumerate() {
                let site = Site::DependsOn(at, item);
                if self.graph.find(dep.as_str()).is_none() {
                    known = false;
                    let hint = self.unknown_task_hint(dep.as_str());
                    self.report(site, format!("unknown task `{dep}`"), Some(hint));
                } else if dep == &task.id {
                    no_self = false;
                    self.report(
                        site,
                        format!("task `{dep}` depends on itself"),
                        Some("remove it from its own depends_on".to_owned()),
                    );
                } else if !seen.insert(dep.as_str()) {
                    self.report(site, format!("`{dep}` is listed twice"), None);
                }
            }
        }
        (known, no_self)
    }

    /// Reports each dependency cycle once, at the `depends_on` item that closes it.
    /// Returns whether there is one.
    fn cycles(&mut self) -> bool {
        let cycles = self.graph.cycles();
        for cycle in &cycles {
            let (Some(&first), Some(&closing)) = (cycle.first(), cycle.iter().rev().nth(1)) else {
                continue;
            };
            let closing_id = self.graph.id(closing);
            let item = self.spec.tasks[first]
                .depends_on
                .iter()
                .position(|dep| dep.as_str() == closing_id)
                .unwrap_or(0);
            let path = cycle
                .iter()
                .map(|&at| self.graph.id(at))
                .collect::<Vec<_>>()
                .join(" -> ");
            self.report(
                Site::DependsOn(first, item),
                format!("dependency cycle: {path}"),
                Some("a workflow must be acyclic: remove one of these dependencies".to_owned()),
            );
        }
        !cycles.is_empty()
    }

    /// Group membership rules. Returns whether membership is sound.
    fn groups(&mut self) -> bool {
        let mut sound = true;
        let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
        for (at, task) in self.spec.tasks.iter().enumerate() {
            let TaskKind::Group(group) = &task.kind else {
                continue;
            };
            if group.tasks.is_empty() {
                sound = false;
                self.report(
                    Site::GroupField(at, "tasks"),
                    "group has no member tasks",
                    Some("list the tasks it runs: tasks = [\"a\", \"b\"]".to_owned()),
                );
            }
            if group.max_parallelism == Some(0) {
                self.report(
                    Site::GroupField(at, "max_parallelism"),
                    "must be at least 1",
                    Some("leave `max_parallelism` out for no limit".to_owned()),
                );
            }
            if let GroupPolicy::Ratio {
                min_success_percent,
            } = group.policy
                && !(1..=100).contains(&min_success_percent)
            {
                self.report(
                    Site::GroupField(at, "min_success_percent"),
                    format!("must be between 1 and 100, found {min_success_percent}"),
                    None,
                );
            }
            let mut seen = BTreeSet::new();
            for (item, member) in group.tasks.iter().enumerate() {
                let site = Site::GroupMember(at, item);
                let Some(m) = self.graph.find(member.as_str()) else {
                    sound = false;
                    let hint = self.unknown_task_hint(member.as_str());
                    self.report(site, format!("unknown task `{member}`"), Some(hint));
                    continue;
                };
                if m == at {
                    sound = false;
                    self.report(site, "a group cannot contain itself", None);
                    continue;
                }
                if !seen.insert(m) {
                    self.report(site, format!("`{member}` is listed twice"), None);
                    continue;
                }
                if let Some(&other) = owner.get(member.as_str()) {
                    sound = false;
                    self.report(
                        site,
                        format!(
                            "task `{member}` is already a member of group `{}`",
                            self.graph.id(other)
                        ),
                        Some("a task belongs to at most one group".to_owned()),
                    );
                    continue;
                }
                owner.insert(member.as_str(), at);
                let member_task = &self.spec.tasks[m];
                match &member_task.kind {
                    TaskKind::Group(_) => {
                        sound = false;
                        self.report(
                            site,
                            format!("`{member}` is a group: groups do not nest"),
                            Some(
                                "run the inner group after this one, or merge their members"
                                    .to_owned(),
                            ),
                        );
                    }
                    TaskKind::Branch(_) => {
                        sound = false;
                        self.report(
                            site,
                            format!("`{member}` is a branch: a branch cannot be a group member"),
                            Some("put the branch after the group".to_owned()),
                        );
                    }
                    _ => {}
                }
                if !member_task.depends_on.is_empty() {
                    sound = false;
                    self.report(
                        Site::DependsOn(m, 0),
                        format!("group member `{member}` has depends_on"),
                        Some(format!(
                            "members start when their group starts: put the dependencies on group `{}`",
                            task.id
                        )),
                    );
                }
                if member_task.trigger_rule != TriggerRule::AllSuccess {
                    self.report(
                        Site::TaskField(m, "trigger_rule"),
                        format!("trigger_rule has no effect on group member `{member}`"),
                        Some(format!(
                            "members start when their group starts: set the trigger rule on group `{}`",
                            task.id
                        )),
                    );
                }
            }
        }
        // Nothing outside a group depends on its members.
        for (at, task) in self.spec.tasks.iter().enumerate() {
            for (item, dep) in task.depends_on.iter().enumerate() {
                let Some(&group) = owner.get(dep.as_str()) else {
                    continue;
                };
                sound = false;
                let group_id = self.graph.id(group);
                if group == at {
                    self.report(
                        Site::DependsOn(at, item),
                        format!("group `{group_id}` depends on its own member `{dep}`"),
                        None,
                    );
                } else if owner.get(task.id.as_str()) != Some(&group) {
                    self.report(
                        Site::DependsOn(at, item),
                        format!("`{dep}` is a member of group `{group_id}`"),
                        Some(format!(
                            "depend on the group instead: a member's outcome reaches the workflow through `{group_id}`"
                        )),
                    );
                }
            }
        }
        sound
    }

    /// Kind-specific checks of task `at`.
    fn kind(&mut self, at: usize) {
        let task = &self.spec.tasks[at];
        match &task.kind {
            TaskKind::Inline { task: inline } => self.inline(at, inline),
            TaskKind::Job { job, params } => {
                if !is_valid_job_name(job) {
                    self.report(
                        Site::TaskField(at, "job"),
                        format!("invalid job name `{job}`"),
                        None,
                    );
                }
                self.call_params(at, params);
            }
            TaskKind::Workflow { workflow, params } => {
                if !is_valid_job_name(workflow) {
                    self.report(
                        Site::TaskField(at, "workflow"),
                        format!("invalid workflow name `{workflow}`"),
                        None,
                    );
                } else if workflow == &self.spec.name {
                    self.report(
                        Site::TaskField(at, "workflow"),
                        format!("workflow `{workflow}` calls itself"),
                        Some("a sub-workflow must be another workflow".to_owned()),
                    );
                }
                self.call_params(at, params);
            }
            TaskKind::Approval(approval) => {
                if approval.timeout_ms == 0 {
                    self.report(
                        Site::TaskField(at, "approval"),
                        "approval timeout must be longer than zero",
                        None,
                    );
                }
            }
            TaskKind::Branch(_) => self.branch(at),
            TaskKind::Group(_) => {}
        }
    }

    /// `${...}` and `{{ ... }}` references are never expanded in scripts; sql binds name
    /// params or upstream outputs.
    fn inline(&mut self, at: usize, task: &TaskSpec) {
        let mut texts: Vec<(&'static str, &str)> = Vec::new();
        match task {
            TaskSpec::Shell {
                script,
                command,
                stdin,
                ..
            } => {
                texts.extend(script.as_deref().map(|text| ("script", text)));
                texts.extend(
                    command
                        .iter()
                        .flatten()
                        .map(|arg| ("command", arg.as_str())),
                );
                texts.extend(stdin.as_deref().map(|text| ("stdin", text)));
            }
            TaskSpec::Python { script, .. } => {
                texts.extend(script.as_deref().map(|text| ("script", text)));
            }
            TaskSpec::Sql { query, bind, .. } => {
                texts.push(("query", query.as_str()));
                for (item, name) in bind.iter().enumerate() {
                    self.bind(at, item, name);
                }
            }
        }
        let mut reported = BTreeSet::new();
        for (field, text) in texts {
            if reported.contains(field) {
                continue;
            }
            if let Some((written, hint)) = script_reference(text, field == "query") {
                reported.insert(field);
                self.report(
                    Site::TaskField(at, field),
                    format!("`{written}` is not expanded in `{field}`"),
                    Some(hint),
                );
            }
        }
    }

    fn bind(&mut self, at: usize, item: usize, name: &str) {
        let site = Site::Bind(at, item);
        if name.starts_with("tasks.") {
            let parsed = parse_template(&format!("${{{name}}}"));
            match parsed.as_deref() {
                Ok([TemplatePart::Reference(reference @ Reference::TaskOutput { .. })]) => {
                    self.reference(at, reference, site);
                }
                _ => self.report(
                    site,
                    format!("bind name `{name}` is not an output reference"),
                    Some("write tasks.<id>.outputs.<name>".to_owned()),
                ),
            }
            return;
        }
        if !self.spec.params.iter().any(|param| param.name == name) {
            let names = self.spec.params.iter().map(|param| param.name.as_str());
            let hint = closest(name, names)
                .map(|near| format!("did you mean `{near}`?"))
                .unwrap_or_else(|| format!("{PARAMS_HINT_PREFIX}{name}]"));
            self.report(
                site,
                format!("bind name `{name}` is not a declared param"),
                Some(hint),
            );
        }
    }

    fn call_params(&mut self, at: usize, params: &BTreeMap<String, serde_json::Value>) {
        for (name, value) in params {
            let serde_json::Value::String(text) = value else {
                continue;
            };
            let site = Site::CallParam(at, name.clone());
            match parse_template(text) {
                Ok(parts) => {
                    for part in parts {
                        if let TemplatePart::Reference(reference) = part {
                            self.reference(at, &reference, site.clone());
                        }
                    }
                }
                Err(error) => self.report(site, error.message, error.hint),
            }
        }
    }

    /// A reference read by task `at`: a declared param, or a task upstream of `at` that
    /// publishes outputs.
    fn reference(&mut self, at: usize, reference: &Reference, site: Site) {
        match reference {
            Reference::Param(name) => {
                if self.spec.params.iter().any(|param| &param.name == name) {
                    return;
                }
                let names = self.spec.params.iter().map(|param| param.name.as_str());
                let hint = closest(name, names)
                    .map(|near| format!("did you mean `{near}`?"))
                    .unwrap_or_else(|| format!("{PARAMS_HINT_PREFIX}{name}]"));
                self.report(site, format!("unknown param `{name}`"), Some(hint));
            }
            _ => {
                let Some(task) = reference.task() else {
                    return;
                };
                let Some(source) = self.graph.find(task) else {
                    let hint = self.unknown_task_hint(task);
                    self.report(site, format!("unknown task `{task}`"), Some(hint));
                    return;
                };
                let reader = self.graph.id(at);
                if !self.graph.ancestors(at).contains(&source) {
                    self.report(
                        site,
                        format!("`{reference}` is not upstream of `{reader}`"),
                        Some(format!(
                            "a task's outputs exist once it has run: make `{reader}` depend on `{task}`, directly or through other tasks"
                        )),
                    );
                    return;
                }
                if let Reference::TaskOutput { .. } = reference {
                    let kind = &self.spec.tasks[source].kind;
                    if matches!(
                        kind,
                        TaskKind::Branch(_) | TaskKind::Group(_) | TaskKind::Approval(_)
                    ) {
                        self.report(
                            site,
                            format!("{} `{task}` publishes no outputs", kind.name()),
                            Some("read the outputs of the tasks that ran before it".to_owned()),
                        );
                    }
                }
            }
        }
    }

    fn branch(&mut self, at: usize) {
        let graph = self.graph;
        let task = &self.spec.tasks[at];
        let TaskKind::Branch(branch) = &task.kind else {
            return;
        };
        let id = task.id.as_str();
        // The source.
        let needs_source = branch.cases.iter().any(|case| {
            matches!(
                case.condition,
                BranchCondition::ExitCode { .. } | BranchCondition::Output { .. }
            )
        });
        let source = match &branch.source {
            Some(source) => {
                if graph.find(source.as_str()).is_none() {
                    let hint = self.unknown_task_hint(source.as_str());
                    self.report(
                        Site::BranchField(at, "source"),
                        format!("unknown task `{source}`"),
                        Some(hint),
                    );
                } else if !task.depends_on.contains(source) {
                    self.report(
                        Site::BranchField(at, "source"),
                        format!("source `{source}` is not in the depends_on of branch `{id}`"),
                        Some(format!("add \"{source}\" to depends_on")),
                    );
                }
                Some(source)
            }
            None if task.depends_on.len() == 1 => task.depends_on.first(),
            None => {
                if needs_source {
                    self.report(
                        Site::TaskField(at, "branch"),
                        format!(
                            "branch `{id}` needs a `source`: its exit_code and output cases test one task, and it has {} upstream tasks",
                            task.depends_on.len()
                        ),
                        Some("set source = \"<task id>\" in the branch".to_owned()),
                    );
                }
                None
            }
        };
        if branch.cases.is_empty() {
            self.report(
                Site::TaskField(at, "branch"),
                format!("branch `{id}` has no cases"),
                Some(
                    "add [[workflow.task.branch.case]] tables with a condition and `then`"
                        .to_owned(),
                ),
            );
        }
        let dependents: BTreeSet<usize> = graph.dependents[at].iter().copied().collect();
        if dependents.is_empty() {
            self.report(
                Site::TaskField(at, "branch"),
                format!("branch `{id}` has no downstream tasks"),
                Some(format!(
                    "the tasks a branch chooses list it in depends_on: depends_on = [\"{id}\"]"
                )),
            );
        }
        // Targets.
        let mut chosen_somewhere = BTreeSet::new();
        let lists = branch
            .cases
            .iter()
            .enumerate()
            .map(|(case, branch_case)| (Some(case), &branch_case.then))
            .chain(std::iter::once((None, &branch.default)));
        for (case, targets) in lists {
            let mut seen = BTreeSet::new();
            for (item, target) in targets.iter().enumerate() {
                let site = match case {
                    Some(case) => Site::CaseTarget(at, case, item),
                    None => Site::DefaultTarget(at, item),
                };
                let Some(t) = graph.find(target.as_str()) else {
                    let hint = self.unknown_task_hint(target.as_str());
                    self.report(site, format!("unknown task `{target}`"), Some(hint));
                    continue;
                };
                if !seen.insert(t) {
                    self.report(site, format!("`{target}` is listed twice"), None);
                } else if !dependents.contains(&t) {
                    self.report(
                        site,
                        format!("`{target}` does not depend on branch `{id}`, so the branch cannot choose it"),
                        Some(format!("add \"{id}\" to the depends_on of `{target}`")),
                    );
                } else {
                    chosen_somewhere.insert(t);
                }
            }
        }
        // Downstream tasks the branch never chooses.
        for &down in &dependents {
            if chosen_somewhere.contains(&down) {
                continue;
            }
            let down_task = &self.spec.tasks[down];
            let item = down_task
                .depends_on
                .iter()
                .position(|dep| dep.as_str() == id)
                .unwrap_or(0);
            self.report(
                Site::DependsOn(down, item),
                format!("task `{}` can never run: branch `{id}` never chooses it", down_task.id),
                Some(format!(
                    "add `{}` to a case's `then` or to `default`, or remove \"{id}\" from its depends_on",
                    down_task.id
                )),
            );
        }
        // Cases.
        let sees_only_success = match task.trigger_rule {
            TriggerRule::AllSuccess
            | TriggerRule::NoneFailed
            | TriggerRule::NoneFailedMinOneSuccess => true,
            TriggerRule::OneSuccess => task.depends_on.len() == 1,
            _ => false,
        };
        let mut codes_seen: BTreeMap<i32, usize> = BTreeMap::new();
        let mut values_seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (case, branch_case) in branch.cases.iter().enumerate() {
            match &branch_case.condition {
                BranchCondition::ExitCode { codes } => {
                    let site = Site::BranchCaseField(at, case, "exit_code");
                    for code in codes {
                        if let Some(&earlier) = codes_seen.get(code) {
                            self.report(
                                site.clone(),
                                format!(
                                    "exit code {code} is already matched by case {}",
                                    earlier + 1
                                ),
                                Some("the first matching case wins: remove it here".to_owned()),
                            );
                            continue;
                        }
                        codes_seen.insert(*code, case);
                        if *code != 0 && sees_only_success {
                            let source = source.map_or("the source", |source| source.as_str());
                            self.report(
                                site.clone(),
                                format!(
                                    "exit code {code} can never be seen: with trigger_rule {} the branch decides only after `{source}` succeeded (exit code 0)",
                                    task.trigger_rule
                                ),
                                Some("set trigger_rule = \"all_done\" on the branch to decide on failures too".to_owned()),
                            );
                        }
                    }
                }
                BranchCondition::Output { output, values } => {
                    let site = Site::BranchCaseField(at, case, "equals");
                    for value in values {
                        if let Some(&earlier) = values_seen.get(&(output.as_str(), value.as_str()))
                        {
                            self.report(
                                site.clone(),
                                format!(
                                    "value \"{value}\" of output `{output}` is already matched by case {}",
                                    earlier + 1
                                ),
                                Some("the first matching case wins: remove it here".to_owned()),
                            );
                        } else {
                            values_seen.insert((output.as_str(), value.as_str()), case);
                        }
                    }
                }
                BranchCondition::Expr { expr } => {
                    let site = Site::BranchCaseField(at, case, "when");
                    match check_expression(expr) {
                        Ok(references) => {
                            for reference in references {
                                self.reference(at, &reference, site.clone());
                            }
                        }
                        Err(error) => self.report(
                            site,
                            format!("invalid expression: {}", error.message),
                            error.hint,
                        ),
                    }
                }
            }
        }
    }

    /// Tasks that can never run because, with trigger rule `all_success`, they need
    /// several targets of one branch that the branch never chooses together. Reported once,
    /// at the first such task; tasks after it are not reported again.
    fn never_run(&mut self) {
        let graph = self.graph;
        let Some(order) = graph.topological_order() else {
            return;
        };
        // For each task: branch index → its targets that must all be chosen for the task to
        // run. `impossible` marks tasks already known (or reported) never to run.
        let mut required: Vec<BTreeMap<usize, BTreeSet<usize>>> =
            vec![BTreeMap::new(); graph.len()];
        let mut impossible = vec![false; graph.len()];
        for &at in &order {
            let task = &self.spec.tasks[at];
            let mut needs: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
            let mut inherited_impossible = false;
            if let Some(group) = graph.group_of[at] {
                needs = required[group].clone();
                inherited_impossible = impossible[group];
            }
            for &up in &graph.deps[at] {
                if let TaskKind::Branch(branch) = &self.spec.tasks[up].kind {
                    needs.entry(up).or_default().insert(at);
                    let chosen_ever = branch
                        .cases
                        .iter()
                        .map(|case| &case.then)
                        .chain(std::iter::once(&branch.default))
                        .any(|targets| targets.iter().any(|t| t == &task.id));
                    if !chosen_ever {
                        // Reported by the branch check.
                        inherited_impossible = true;
                    }
                }
                if task.trigger_rule == TriggerRule::AllSuccess {
                    inherited_impossible |= impossible[up];
                    for (branch, targets) in &required[up] {
                        needs.entry(*branch).or_default().extend(targets);
                    }
                }
            }
            if inherited_impossible {
                impossible[at] = true;
            } else if let Some((branch, targets)) = needs
                .iter()
                .find(|(branch, targets)| !self.chosen_together(**branch, targets))
            {
                impossible[at] = true;
                let names: Vec<String> = targets
                    .iter()
                    .map(|&t| format!("`{}`", graph.id(t)))
                    .collect();
                let site = if task.trigger_rule == TriggerRule::AllSuccess {
                    Site::TaskField(at, "id")
                } else {
                    Site::TaskField(at, "trigger_rule")
                };
                self.report(
                    site,
                    format!(
                        "task `{}` can never run: it needs {} to run, but branch `{}` never chooses them together",
                        task.id,
                        names.join(" and "),
                        graph.id(*branch)
                    ),
                    Some("with trigger_rule all_success a task runs only when all its upstream tasks ran; a join after a branch usually wants trigger_rule = \"none_failed_min_one_success\"".to_owned()),
                );
            }
            required[at] = needs;
        }
    }

    /// Whether some case of branch `branch` (or its default) chooses all of `targets`.
    fn chosen_together(&self, branch: usize, targets: &BTreeSet<usize>) -> bool {
        let TaskKind::Branch(spec) = &self.spec.tasks[branch].kind else {
            return true;
        };
        spec.cases
            .iter()
            .map(|case| &case.then)
            .chain(std::iter::once(&spec.default))
            .any(|choice| {
                targets
                    .iter()
                    .all(|&t| choice.iter().any(|id| id.as_str() == self.graph.id(t)))
            })
    }
}

/// The first `${params.x}`, `${tasks.…}` or `{{ params.x }}` in a script, with a hint
/// saying how the value reaches the process instead.
fn script_reference(text: &str, sql: bool) -> Option<(String, String)> {
    let patterns = [
        "${params.",
        "${tasks.",
        "{{ params.",
        "{{params.",
        "{{ tasks.",
        "{{tasks.",
    ];
    let (at, pattern) = patterns
        .iter()
        .filter_map(|pattern| text.find(pattern).map(|at| (at, *pattern)))
        .min_by_key(|(at, _)| *at)?;
    let close = if pattern.starts_with('$') { "}" } else { "}}" };
    let end = text[at..]
        .find(close)
        .map_or(text.len(), |end| at + end + close.len());
    let written: String = text[at..end].chars().take(60).collect();
    let inner = written
        .trim_start_matches("${")
        .trim_start_matches("{{")
        .trim_end_matches('}')
        .trim();
    let segments: Vec<&str> = inner.split('.').collect();
    let hint = match segments.as_slice() {
        ["params", name, ..] if sql => format!(
            "bind it instead: bind = [\"{name}\"] with a placeholder in the query"
        ),
        ["params", name, ..] => format!(
            "params reach the process as environment variables: use ${}",
            crate::params::env_var_name(name)
        ),
        ["tasks", task, "outputs", output, ..] if sql => format!(
            "bind it instead: bind = [\"tasks.{task}.outputs.{output}\"] with a placeholder in the query"
        ),
        ["tasks", task, "outputs", output, ..] => format!(
            "upstream outputs reach the process as environment variables: use ${}",
            super::data::input_env_name(task, output)
        ),
        _ => "params and upstream outputs reach the process as JOBWORKS_PARAM_* and JOBWORKS_INPUT_* environment variables".to_owned(),
    };
    Some((written, hint))
}

/// A valid task id close to `id`: lower case, other characters as `_`.
fn slugify(id: &str) -> String {
    let mut slug = String::new();
    for c in id.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    let slug = slug.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    slug.chars().take(63).collect()
}
