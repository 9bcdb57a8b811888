//! Data passing between tasks: the environment variables a task receives from its upstream
//! tasks' outputs, and the `${...}` references of job and workflow call params.
//!
//! A task publishes outputs (name → text) while it runs; the runtime stores them with the
//! task instance. A downstream task receives the outputs of its upstream tasks as
//! `JOBWORKS_INPUT_<TASK>_<NAME>` variables ([`input_env_name`], [`task_inputs`]), from every
//! upstream task however far, the nearest winning a clash of variable names. Approval,
//! branch and group tasks publish nothing themselves and never stop data: a task after an
//! approval or a branch receives what came before it, a task after a group the outputs of
//! the group's members too, and a group member what its group receives.
//!
//! Scripts never contain references: params reach processes only as `JOBWORKS_PARAM_*`
//! variables, and nothing is spliced into script or query text. Call params of `job` and
//! `workflow` tasks are values, not scripts, so their strings may hold `${params.<name>}`
//! and `${tasks.<id>.outputs.<name>}` references ([`parse_template`],
//! [`resolve_call_params`]).

use super::engine::TaskInstanceState;
use super::expr::{ExpressionScope, Reference};
use super::graph::Graph;
use super::spec::{TaskId, WorkflowSpec};
use crate::params::ParamValue;
use std::collections::BTreeMap;

/// The environment variable carrying output `output` of task `task`:
/// A SQL bind name that refers to an upstream task's output: `tasks.<id>.outputs.<name>` →
/// `(id, name)`; any other name → `None`.
pub fn output_reference(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("tasks.")?;
    let (task, output) = rest.split_once(".outputs.")?;
    (!task.is_empty() && !output.is_empty()).then_some((task, output))
}

/// `JOBWORKS_INPUT_<TASK>_<OUTPUT>`, upper-cased, with every character other than ASCII
/// letters and digits replaced by `_`. Example: (`extract`, `row-count`) →
/// `JOBWORKS_INPUT_EXTRACT_ROW_COUNT`.
pub fn input_env_name(task: &str, output: &str) -> String {
    let mut name = String::from("JOBWORKS_INPUT_");
    for (index, part) in [task, output].into_iter().enumerate() {
        if index > 0 {
            name.push('_');
        }
        name.extend(part.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
    }
    name
}

/// The `(variable, value)` pairs task `task` receives from its upstream tasks' outputs,
/// sorted by variable name. Upstream means every transitive ancestor, however far: the
/// tasks of its `depends_on`, theirs, and so on, through tasks of every kind (approvals,
/// branches, groups and calls alike), plus the members of any group among them; a group
/// member's upstream tasks are its group's, plus those of its own `depends_on`. Skipped or
/// cleared ancestors have no outputs and give nothing; task outputs do not depend on which
/// path leads to them.
///
/// Task ids are unique, so two values can only meet under one variable name when names
/// map to it alike (`a_b.c` and `a.b_c` are both `JOBWORKS_INPUT_A_B_C`). Then the nearer
/// task wins (fewer `depends_on` steps away), and between tasks as near, the one reached
/// first in `depends_on` order; nothing is overwritten silently by a farther one. Unknown
/// tasks give nothing.
pub fn task_inputs(
    spec: &WorkflowSpec,
    task: &str,
    outputs: &BTreeMap<TaskId, BTreeMap<String, String>>,
) -> Vec<(String, String)> {
    let graph = Graph::new(spec);
    let Some(at) = graph.find(task) else {
        return Vec::new();
    };
    let mut inputs: BTreeMap<String, String> = BTreeMap::new();
    for source in graph.ancestors_nearest_first(at) {
        let id = graph.id(source);
        for (name, value) in outputs.get(id).into_iter().flatten() {
            inputs
                .entry(input_env_name(id, name))
                .or_insert_with(|| value.clone());
        }
    }
    inputs.into_iter().collect()
}

/// A task's outputs as text, from the JSON its attempt recorded: an object of strings (from
/// `::set-output` or `$JOBWORKS_OUTPUT`) is kept as is, other scalars become their JSON text.
/// A sql task's result (`{"columns", "rows", "rows_affected", "truncated"}`) becomes `rows`
/// (the rows as a JSON array of objects), `row_count` and `rows_affected`, plus one output
/// per column of the first row (its value as text, `""` for NULL), so that
/// `select count(*) as n ...` publishes `n`.
pub fn outputs_from_json(json: &serde_json::Value) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let Some(object) = json.as_object() else {
        return outputs;
    };
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    if let (Some(serde_json::Value::Array(columns)), Some(serde_json::Value::Array(rows))) =
        (object.get("columns"), object.get("rows"))
    {
        if let Some(first) = rows.first().and_then(|row| row.as_object()) {
            for column in columns.iter().filter_map(|c| c.as_str()) {
                if let Some(value) = first.get(column) {
                    outputs.insert(column.to_owned(), text(value));
                }
            }
        }
        outputs.insert(
            "rows".to_owned(),
            serde_json::Value::Array(rows.clone()).to_string(),
        );
        outputs.insert("row_count".to_owned(), rows.len().to_string());
        if let Some(affected) = object.get("rows_affected") {
            outputs.insert("rows_affected".to_owned(), text(affected));
        }
        return outputs;
    }
    for (name, value) in object {
        outputs.insert(name.clone(), text(value));
    }
    outputs
}

/// A piece of a call-param string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text kept as written (`$${` already turned into `${`).
    Text(String),
    /// A `${...}` reference.
    Reference(Reference),
}

/// Why a call-param string does not parse; `message` is a lowercase fragment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// Splits a call-param string into text and `${...}` references. A reference is
/// `${params.<name>}`, `${tasks.<id>.outputs.<name>}`, `${tasks.<id>.exit_code}` or
/// `${tasks.<id>.state}`; `$${` is a literal `${`.
///
/// Errors: an unclosed `${`, or a reference of another shape.
pub fn parse_template(text: &str) -> Result<Vec<TemplatePart>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            literal.push_str(&rest[..at - 1]);
            literal.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        literal.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(TemplateError {
                message: "`${` is not closed".to_owned(),
                hint: Some("write ${params.<name>}, or $${ for a literal ${".to_owned()),
            });
        };
        let inner = after[..end].trim();
        let reference = template_reference(inner).ok_or_else(|| TemplateError {
            message: format!("`${{{inner}}}` is not a reference"),
            hint: Some(
                "write ${params.<name>} or ${tasks.<id>.outputs.<name>}, or $${ for a literal ${"
                    .to_owned(),
            ),
        })?;
        if !literal.is_empty() {
            parts.push(TemplatePart::Text(std::mem::take(&mut literal)));
        }
        parts.push(TemplatePart::Reference(reference));
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(TemplatePart::Text(literal));
    }
    Ok(parts)
}

fn template_reference(inner: &str) -> Option<Reference> {
    let segments: Vec<&str> = inner.split('.').collect();
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    };
    if !segments.iter().all(|segment| name_ok(segment)) {
        return None;
    }
    match segments.as_slice() {
        ["params", name] => Some(Reference::Param((*name).to_owned())),
        ["tasks", task, "outputs", output] => Some(Reference::TaskOutput {
            task: (*task).to_owned(),
            output: (*output).to_owned(),
        }),
        ["tasks", task, "exit_code"] => Some(Reference::TaskExitCode((*task).to_owned())),
        ["tasks", task, "state"] => Some(Reference::TaskState((*task).to_owned())),
        _ => None,
    }
}

/// The values a `job` or `workflow` task passes to the run it starts: `params` with every
/// `${...}` reference replaced. A string that is exactly one reference takes the referenced
/// value with its type (`"${params.limit}"` passes the integer); references inside longer
/// strings are replaced by their text. Other values pass unchanged. The callee checks the
/// result against its declared params.
///
/// Errors: a lowercase message for a string that does not parse, a param without a value,
/// or a task output, exit code that does not exist.
pub fn resolve_call_params(
    params: &BTreeMap<String, serde_json::Value>,
    scope: ExpressionScope<'_>,
) -> Result<BTreeMap<String, serde_json::Value>, String> {
    let mut resolved = BTreeMap::new();
    for (name, value) in params {
        let serde_json::Value::String(text) = value else {
            resolved.insert(name.clone(), value.clone());
            continue;
        };
        let parts = parse_template(text).map_err(|error| format!("param `{name}`: {error}"))?;
        let value = match parts.as_slice() {
            [TemplatePart::Reference(reference)] => {
                lookup(reference, scope).map_err(|error| format!("param `{name}`: {error}"))?
            }
            _ => {
                let mut joined = String::new();
                for part in &parts {
                    match part {
                        TemplatePart::Text(text) => joined.push_str(text),
                        TemplatePart::Reference(reference) => {
                            let value = lookup(reference, scope)
                                .map_err(|error| format!("param `{name}`: {error}"))?;
                            match value {
                                serde_json::Value::String(text) => joined.push_str(&text),
                                other => joined.push_str(&other.to_string()),
                            }
                        }
                    }
                }
                serde_json::Value::String(joined)
            }
        };
        resolved.insert(name.clone(), value);
    }
    Ok(resolved)
}

fn lookup(reference: &Reference, scope: ExpressionScope<'_>) -> Result<serde_json::Value, String> {
    let state =
        |task: &str| -> TaskInstanceState { scope.states.get(task).copied().unwrap_or_default() };
    match reference {
        Reference::Param(name) => match scope.params.get(name) {
            Some(ParamValue::Bool(flag)) => Ok((*flag).into()),
            Some(ParamValue::Int(int)) => Ok((*int).into()),
            Some(ParamValue::Float(float)) => Ok(serde_json::Number::from_f64(*float)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)),
            Some(ParamValue::String(text)) => Ok(text.clone().into()),
            None => Err(format!("param `{name}` has no value")),
        },
        Reference::TaskOutput { task, output } => scope
            .outputs
            .get(task.as_str())
            .and_then(|outputs| outputs.get(output))
            .map(|value| value.clone().into())
            .ok_or_else(|| format!("task `{task}` has no output `{output}`")),
        Reference::TaskExitCode(task) => state(task)
            .exit_code
            .map(Into::into)
            .ok_or_else(|| format!("task `{task}` has no exit code")),
        Reference::TaskState(task) => Ok(state(task).state.as_str().into()),
    }
}

#[cfg(test)]
mod outputs_tests {
    use super::outputs_from_json;
    use serde_json::json;

    #[test]
    fn set_output_values_are_kept() {
        let got = outputs_from_json(&json!({"rows": "12", "ok": true}));
        assert_eq!(got["rows"], "12");
        assert_eq!(got["ok"], "true");
    }

    #[test]
    fn sql_results_publish_rows_and_first_row_columns() {
        let got = outputs_from_json(&json!({
            "columns": ["n", "name", "gone"],
            "rows": [{"n": 42, "name": "a", "gone": null}, {"n": 7, "name": "b", "gone": null}],
            "rows_affected": 0,
            "truncated": false
        }));
        assert_eq!(got["n"], "42");
        assert_eq!(got["name"], "a");
        assert_eq!(got["gone"], "");
        assert_eq!(got["row_count"], "2");
        assert_eq!(got["rows_affected"], "0");
        let rows: serde_json::Value = serde_json::from_str(&got["rows"]).unwrap();
        assert_eq!(rows[1]["name"], "b");
    }

    #[test]
    fn non_objects_publish_nothing() {
        assert!(outputs_from_json(&json!([1, 2])).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::TaskState;

    #[test]
    fn env_names() {
        let cases = [
            ("extract", "rows", "JOBWORKS_INPUT_EXTRACT_ROWS"),
            ("extract", "row-count", "JOBWORKS_INPUT_EXTRACT_ROW_COUNT"),
            ("load_users", "max.id", "JOBWORKS_INPUT_LOAD_USERS_MAX_ID"),
            ("t1", "Größe", "JOBWORKS_INPUT_T1_GR__E"),
            ("t", "", "JOBWORKS_INPUT_T_"),
            ("t", "a b/c", "JOBWORKS_INPUT_T_A_B_C"),
        ];
        for (task, output, want) in cases {
            assert_eq!(input_env_name(task, output), want, "{task} {output}");
        }
    }

    #[test]
    fn templates() {
        let render = |text: &str| -> String {
            match parse_template(text) {
                Ok(parts) => parts
                    .iter()
                    .map(|part| match part {
                        TemplatePart::Text(text) => format!("text({text})"),
                        TemplatePart::Reference(reference) => format!("ref({reference})"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(error) => format!("error: {error}"),
            }
        };
        let cases = [
            ("plain", "text(plain)"),
            ("${params.day}", "ref(params.day)"),
            (
                "s3://b/${ params.day }/x",
                "text(s3://b/) ref(params.day) text(/x)",
            ),
            (
                "${tasks.extract.outputs.path}-${tasks.extract.exit_code}",
                "ref(tasks.extract.outputs.path) text(-) ref(tasks.extract.exit_code)",
            ),
            ("cost: $$${params.x}", "text(cost: $${params.x})"),
            ("$${literal}", "text(${literal})"),
            ("${params.x", "error: `${` is not closed"),
            ("${env.HOME}", "error: `${env.HOME}` is not a reference"),
            (
                "${tasks.x.outputs}",
                "error: `${tasks.x.outputs}` is not a reference",
            ),
            ("${}", "error: `${}` is not a reference"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(render(text), want, "{text}");
        }
    }

    #[test]
    fn call_params_resolve() {
        let params = BTreeMap::from([
            ("limit".to_owned(), ParamValue::Int(5)),
            ("day".to_owned(), ParamValue::String("2024-05-01".into())),
        ]);
        let states = BTreeMap::from([(
            TaskId::from("extract"),
            TaskInstanceState {
                state: TaskState::Succeeded,
                exit_code: Some(0),
            },
        )]);
        let outputs = BTreeMap::from([(
            TaskId::from("extract"),
            BTreeMap::from([("path".to_owned(), "/tmp/x".to_owned())]),
        )]);
        let scope = ExpressionScope {
            params: &params,
            states: &states,
            outputs: &outputs,
        };
        let call: BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"limit": "${params.limit}", "label": "day ${params.day} n=${params.limit}",
                "path": "${tasks.extract.outputs.path}", "code": "${tasks.extract.exit_code}",
                "fixed": 3, "flag": true}"#,
        )
        .expect("test JSON parses");
        let resolved = resolve_call_params(&call, scope).expect("every reference resolves");
        assert_eq!(
            serde_json::to_string(&resolved).expect("serializes"),
            r#"{"code":0,"fixed":3,"flag":true,"label":"day 2024-05-01 n=5","limit":5,"path":"/tmp/x"}"#
        );
        let missing: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(r#"{"rows": "${tasks.extract.outputs.rows}"}"#)
                .expect("test JSON parses");
        assert_eq!(
            resolve_call_params(&missing, scope),
            Err("param `rows`: task `extract` has no output `rows`".to_owned())
        );
    }
}
