//! Task tables: `[job.task]` of type shell, python or sql.

use super::diagnostic::{item_path, key_path};
use super::raw::{Entry, Node, NodeKind};
use super::suggest::{closest, hint, list};
use super::validate::{Fields, Validator, later_of};
use crate::params::ParamSpec;
use crate::spec::{ShellKind, TaskSpec};

pub(crate) const TASK_TYPES: &[&str] = &["shell", "python", "sql"];
pub(crate) const SHELL_FIELDS: &[&str] =
    &["type", "script", "command", "shell", "errexit", "stdin"];
pub(crate) const PYTHON_FIELDS: &[&str] = &["type", "script", "file"];
pub(crate) const SQL_FIELDS: &[&str] = &["type", "datasource", "query", "bind", "multi_statement"];
/// Every task field, for unknown-type tasks.
pub(crate) const ANY_TASK_FIELDS: &[&str] = &[
    "type",
    "script",
    "command",
    "shell",
    "errexit",
    "stdin",
    "file",
    "datasource",
    "query",
    "bind",
    "multi_statement",
];

/// The datasource every server has: the Jobworks store itself.
const BUILTIN_DATASOURCE: &str = "jobworks";

impl Validator<'_> {
    pub(crate) fn task(
        &mut self,
        entry: &Entry,
        job_path: &str,
        params: &[ParamSpec],
    ) -> Option<TaskSpec> {
        let path = key_path(job_path, "task");
        let entries = self.table(&entry.value, &path)?;
        let type_entry = entries.iter().find(|field| field.key == "type");
        let task_type = match type_entry {
            None => {
                self.error(
                    &entry.value.span,
                    &path,
                    "missing field `type`",
                    Some(format!("task types: {}", list(TASK_TYPES.iter().copied()))),
                );
                None
            }
            Some(type_entry) => match &type_entry.value.kind {
                NodeKind::String(name) if TASK_TYPES.contains(&name.as_str()) => {
                    Some(name.as_str())
                }
                NodeKind::String(name) => {
                    self.error(
                        &type_entry.value.span,
                        &key_path(&path, "type"),
                        format!("unknown task type `{name}`"),
                        Some(hint(name, TASK_TYPES.iter().copied())),
                    );
                    None
                }
                _ => {
                    self.string(type_entry, &path);
                    None
                }
            },
        };
        let known = match task_type {
            Some("shell") => SHELL_FIELDS,
            Some("python") => PYTHON_FIELDS,
            Some("sql") => SQL_FIELDS,
            _ => ANY_TASK_FIELDS,
        };
        let fields = self.known_fields(entries, &path, known, |unknown| {
            let owner = [
                ("shell", SHELL_FIELDS),
                ("python", PYTHON_FIELDS),
                ("sql", SQL_FIELDS),
            ]
            .into_iter()
            .find(|(_, fields)| fields.contains(&unknown))?;
            Some(format!("`{unknown}` belongs to {} tasks", owner.0))
        });
        match task_type? {
            "shell" => self.shell_task(&fields, &entry.value, &path),
            "python" => self.python_task(&fields, &entry.value, &path),
            _ => self.sql_task(&fields, &entry.value, &path, Some(params)),
        }
    }

    pub(crate) fn shell_task(
        &mut self,
        fields: &Fields<'_>,
        task: &Node,
        path: &str,
    ) -> Option<TaskSpec> {
        let errors_before = self.diagnostics.len();
        let script_entry = fields.get("script");
        let command_entry = fields.get("command");
        let script = script_entry
            .and_then(|entry| self.non_empty_string(entry, path))
            .map(str::to_owned);
        let command = command_entry.and_then(|entry| self.command(entry, path));
        match (script_entry, command_entry) {
            (Some(script), Some(command)) => {
                let later = later_of(script, command);
                self.error(
                    &later.key_span,
                    &key_path(path, &later.key),
                    "`script` and `command` are both set",
                    Some("use `script` for a shell script or `command` for a program with arguments, not both".to_owned()),
                );
            }
            (None, None) => self.error(
                &task.span,
                path,
                "shell task needs `script` or `command`",
                Some("add script = \"...\" or command = [\"program\", \"arg\"]".to_owned()),
            ),
            _ => {}
        }
        let shell = match fields.get("shell") {
            Some(entry) if command_entry.is_some() && script_entry.is_none() => {
                self.error(
                    &entry.key_span,
                    &key_path(path, "shell"),
                    "`shell` has no effect with `command`",
                    Some(
                        "a command runs without a shell: remove `shell`, or use `script`"
                            .to_owned(),
                    ),
                );
                ShellKind::Sh
            }
            Some(entry) => self
                .choice(
                    entry,
                    path,
                    "shell",
                    &[("sh", ShellKind::Sh), ("bash", ShellKind::Bash)],
                )
                .unwrap_or_default(),
            None => ShellKind::Sh,
        };
        let errexit = match fields.get("errexit") {
            Some(entry) if command_entry.is_some() && script_entry.is_none() => {
                self.error(
                    &entry.key_span,
                    &key_path(path, "errexit"),
                    "`errexit` has no effect with `command`",
                    Some(
                        "a command runs without a shell: remove `errexit`, or use `script`"
                            .to_owned(),
                    ),
                );
                true
            }
            Some(entry) => self.boolean(entry, path).unwrap_or(true),
            None => true,
        };
        let stdin = fields
            .get("stdin")
            .and_then(|entry| self.string(entry, path))
            .map(str::to_owned);
        (self.diagnostics.len() == errors_before).then_some(TaskSpec::Shell {
            script,
            command,
            shell,
            errexit,
            stdin,
        })
    }

    pub(crate) fn command(&mut self, entry: &Entry, task_path: &str) -> Option<Vec<String>> {
        let path = key_path(task_path, "command");
        if let NodeKind::String(line) = &entry.value.kind {
            self.error(
                &entry.value.span,
                &path,
                format!("expected an array of strings, found {}", entry.value.describe()),
                Some(format!(
                    "split the program and its arguments: command = {}, or run a command line with script = {line:?}",
                    command_suggestion(line)
                )),
            );
            return None;
        }
        let items = self.array(&entry.value, &path)?;
        if items.is_empty() {
            self.error(
                &entry.value.span,
                &path,
                "command is empty",
                Some("command = [\"program\", \"arg\"]".to_owned()),
            );
            return None;
        }
        let mut command = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let item_path = item_path(&path, index);
            if let Some(arg) = self.string_node(item, &item_path) {
                if index == 0 && arg.trim().is_empty() {
                    self.error(&item.span, &item_path, "program name is empty", None);
                }
                command.push(arg.to_owned());
            }
        }
        (command.len() == items.len()).then_some(command)
    }

    pub(crate) fn python_task(
        &mut self,
        fields: &Fields<'_>,
        task: &Node,
        path: &str,
    ) -> Option<TaskSpec> {
        let errors_before = self.diagnostics.len();
        let script_entry = fields.get("script");
        let file_entry = fields.get("file");
        let script = script_entry
            .and_then(|entry| self.non_empty_string(entry, path))
            .map(str::to_owned);
        let file = file_entry
            .and_then(|entry| self.non_empty_string(entry, path))
            .map(|file| self.resolve(file));
        match (script_entry, file_entry) {
            (Some(script), Some(file)) => {
                let later = later_of(script, file);
                self.error(
                    &later.key_span,
                    &key_path(path, &later.key),
                    "`script` and `file` are both set",
                    Some(
                        "use `script` for inline code or `file` for a script file, not both"
                            .to_owned(),
                    ),
                );
            }
            (None, None) => self.error(
                &task.span,
                path,
                "python task needs `script` or `file`",
                Some("add script = \"...\" or file = \"scripts/job.py\"".to_owned()),
            ),
            _ => {}
        }
        (self.diagnostics.len() == errors_before).then_some(TaskSpec::Python { script, file })
    }

    /// A python file path: relative paths are joined to the context's base directory.
    pub(crate) fn resolve(&self, file: &str) -> String {
        let path = std::path::Path::new(file);
        match &self.ctx.base_dir {
            Some(base) if path.is_relative() => base.join(path).to_string_lossy().into_owned(),
            _ => file.to_owned(),
        }
    }

    /// An sql task; bind names must be among `params`, or anything when `params` is `None`
    /// (workflows check their bind names, which may also name upstream outputs, later).
    pub(crate) fn sql_task(
        &mut self,
        fields: &Fields<'_>,
        task: &Node,
        path: &str,
        params: Option<&[ParamSpec]>,
    ) -> Option<TaskSpec> {
        let errors_before = self.diagnostics.len();
        let datasource = match fields.get("datasource") {
            Some(entry) => self.datasource(entry, path),
            None => {
                self.error(
                    &task.span,
                    path,
                    "missing field `datasource`",
                    Some(format!(
                        "add datasource = \"{BUILTIN_DATASOURCE}\" to query the Jobworks store"
                    )),
                );
                None
            }
        };
        let query = match fields.get("query") {
            Some(entry) => self.non_empty_string(entry, path).map(str::to_owned),
            None => {
                self.error(
                    &task.span,
                    path,
                    "missing field `query`",
                    Some("add query = \"select ...\"".to_owned()),
                );
                None
            }
        };
        let multi_statement = fields
            .get("multi_statement")
            .and_then(|entry| self.boolean(entry, path))
            .unwrap_or(false);
        if let (Some(query), Some(entry), false) = (&query, fields.get("query"), multi_statement) {
            self.single_statement(query, entry, path);
        }
        let mut bind = Vec::new();
        if let Some(entry) = fields.get("bind") {
            let bind_path = key_path(path, "bind");
            if let Some(items) = self.array(&entry.value, &bind_path) {
                for (index, item) in items.iter().enumerate() {
                    let item_path = item_path(&bind_path, index);
                    let Some(name) = self.string_node(item, &item_path) else {
                        continue;
                    };
                    // Workflows check bind names with their own references later.
                    let Some(params) = params else {
                        bind.push(name.to_owned());
                        continue;
                    };
                    if params.iter().any(|param| param.name == name) {
                        bind.push(name.to_owned());
                        continue;
                    }
                    let names = params.iter().map(|param| param.name.as_str());
                    let hint = closest(name, names)
                        .map(|near| format!("did you mean `{near}`?"))
                        .unwrap_or_else(|| format!("declare it under [job.params.{name}]"));
                    self.error(
                        &item.span,
                        &item_path,
                        format!("bind name `{name}` is not a declared param"),
                        Some(hint),
                    );
                }
            }
        }
        if self.diagnostics.len() > errors_before {
            return None;
        }
        Some(TaskSpec::Sql {
            datasource: datasource?,
            query: query?,
            bind,
            multi_statement,
        })
    }

    /// Refuses a query of several statements, at the second statement's place in the file.
    fn single_statement(&mut self, query: &str, entry: &Entry, path: &str) {
        let Some(second) = crate::sql::second_statement(query) else {
            return;
        };
        let raw = self.lines.slice(&entry.value.span);
        let at = super::string_pos::source_offset(raw, second.offset)
            .map_or(entry.value.span.start, |offset| {
                entry.value.span.start + offset
            });
        let mut preview: String = second.text.chars().take(40).collect();
        if preview.len() < second.text.len() {
            preview.push('…');
        }
        self.error(
            &(at..at + 1),
            &key_path(path, "query"),
            format!(
                "`query` holds more than one statement: a second one starts here (`{preview}`)"
            ),
            Some(
                "a SQL task runs one statement; split it into tasks, or set multi_statement = true \
                 to run them all in one transaction"
                    .to_owned(),
            ),
        );
    }

    pub(crate) fn datasource(&mut self, entry: &Entry, task_path: &str) -> Option<String> {
        let name = self.non_empty_string(entry, task_path)?;
        let Some(known) = &self.ctx.known_datasources else {
            return Some(name.to_owned());
        };
        if name == BUILTIN_DATASOURCE || known.iter().any(|known| known == name) {
            return Some(name.to_owned());
        }
        let mut names: Vec<&str> = known.iter().map(String::as_str).collect();
        if !names.contains(&BUILTIN_DATASOURCE) {
            names.insert(0, BUILTIN_DATASOURCE);
        }
        let hint = match closest(name, names.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("known datasources: {}", list(names.iter().copied())),
        };
        self.error(
            &entry.value.span,
            &key_path(task_path, "datasource"),
            format!("unknown datasource `{name}`"),
            Some(hint),
        );
        None
    }
}

/// `["df", "-P", "/"]` for `df -P /`: whitespace-split, for a hint only.
fn command_suggestion(line: &str) -> String {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|word| format!("{word:?}"))
        .collect();
    format!("[{}]", words.join(", "))
}
