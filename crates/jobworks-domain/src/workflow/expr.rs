//! Branch expressions: a small, safe subset of the Common Expression Language (CEL, the
//! language of Kubernetes admission policies and Google IAM conditions), evaluated by the
//! `cel` crate. An expression reads values and computes a boolean; it cannot run programs,
//! touch files or loop.
//!
//! An expression sees two variables:
//!
//! - `params.<name>`: the run's workflow params, typed as declared (`int` params are CEL
//!   integers, `float` doubles, `bool` booleans, `string` and `enum` strings);
//! - `tasks.<id>.outputs.<name>` (always a string: convert with `int(...)` or
//!   `double(...)`), `tasks.<id>.exit_code` (an integer, absent when the task did not exit)
//!   and `tasks.<id>.state` (`"succeeded"`, `"failed"`, ...) of upstream tasks.
//!
//! Index syntax works too (`params['env']`, `tasks['load'].outputs['rows']`), and
//! `has(tasks.check.outputs.rows)` tests whether an output exists. Reading an output that
//! does not exist is an evaluation error, which fails the branch.
//!
//! Accepted: literals, lists and maps, `&&`, `||`, `!`, comparisons, arithmetic, `?:`,
//! `in`, and the functions `size`, `int`, `uint`, `double`, `string`, `contains`,
//! `startsWith`, `endsWith`. Refused: comprehension macros (`all`, `exists`,
//! `exists_one`, `map`, `filter`), which could loop over large data, message literals,
//! other functions, and other variable names. Expressions are at most
//! [`MAX_EXPRESSION_BYTES`] long, nest brackets at most [`MAX_EXPRESSION_NESTING`] deep and
//! use at most [`MAX_EXPRESSION_OPERATORS`] operators, so that parsing them stays within a
//! small thread stack.
//!
//! Example: `int(tasks.extract.outputs.rows) > 1000 && params.env == 'prod'`.

use super::engine::TaskInstanceState;
use super::spec::TaskId;
use crate::params::ParamValue;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::{Context, ExecutionError, Program, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Longest accepted expression, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 500;
/// Deepest accepted nesting of `(`, `[` and `{`.
pub const MAX_EXPRESSION_NESTING: usize = 8;
/// Most operators (and `.` selections) in one expression.
pub const MAX_EXPRESSION_OPERATORS: usize = 64;

/// Functions and operators an expression may call (CEL's internal operator names).
const ALLOWED_FUNCTIONS: &[&str] = &[
    "_&&_",
    "_||_",
    "!_",
    "-_",
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "_?_:_",
    "_[_]",
    "@in",
    "size",
    "int",
    "uint",
    "double",
    "string",
    "contains",
    "startsWith",
    "endsWith",
];

/// A value an expression or a call-param template reads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    /// `params.<name>`.
    Param(String),
    /// `tasks.<task>.outputs.<output>`.
    TaskOutput {
        /// The task id as written.
        task: String,
        /// The output name.
        output: String,
    },
    /// `tasks.<task>.exit_code`.
    TaskExitCode(String),
    /// `tasks.<task>.state`.
    TaskState(String),
}

impl Reference {
    /// The task a reference reads, if it reads one.
    pub fn task(&self) -> Option<&str> {
        match self {
            Reference::Param(_) => None,
            Reference::TaskOutput { task, .. }
            | Reference::TaskExitCode(task)
            | Reference::TaskState(task) => Some(task),
        }
    }
}

impl fmt::Display for Reference {
    /// As written in the dotted form: `params.env`, `tasks.load.outputs.rows`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Param(name) => write!(f, "params.{name}"),
            Reference::TaskOutput { task, output } => write!(f, "tasks.{task}.outputs.{output}"),
            Reference::TaskExitCode(task) => write!(f, "tasks.{task}.exit_code"),
            Reference::TaskState(task) => write!(f, "tasks.{task}.state"),
        }
    }
}

/// Why an expression text was refused; `message` is a lowercase fragment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpressionError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl ExpressionError {
    fn new(message: impl Into<String>, hint: Option<&str>) -> ExpressionError {
        ExpressionError {
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// Checks that `text` is an expression of the accepted subset (see the module docs) and
/// returns the values it reads, without repeats, sorted. Whether those params and tasks
/// exist is for the caller to check.
///
/// Errors: the first problem found: size limits, a syntax error (with its column), a
/// refused construct, or a name other than `params` and `tasks`.
pub fn check_expression(text: &str) -> Result<Vec<Reference>, ExpressionError> {
    compile(text).map(|(_, references)| references)
}

/// The inputs of an expression: the run's params and its tasks' states and outputs.
#[derive(Clone, Copy, Debug)]
pub struct ExpressionScope<'a> {
    /// The run's params (validated, defaults filled in).
    pub params: &'a BTreeMap<String, ParamValue>,
    /// Task instance states; an absent task is pending.
    pub states: &'a BTreeMap<TaskId, TaskInstanceState>,
    /// Published outputs per task.
    pub outputs: &'a BTreeMap<TaskId, BTreeMap<String, String>>,
}

/// Evaluates the condition `text` in `scope`.
///
/// Errors: a lowercase message when the text is refused (see [`check_expression`]), when
/// evaluation fails (a missing output, a type mismatch, a division by zero), or when the
/// result is not a boolean.
pub fn evaluate_expression(text: &str, scope: ExpressionScope<'_>) -> Result<bool, String> {
    let (program, references) = compile(text).map_err(|error| error.message)?;
    let mut context = Context::default();
    let params: HashMap<String, Value> = scope
        .params
        .iter()
        .map(|(name, value)| (name.clone(), param_value(value)))
        .collect();
    context.add_variable_from_value("params", params);
    let task_ids: BTreeSet<&str> = references.iter().filter_map(Reference::task).collect();
    let mut tasks: HashMap<String, Value> = HashMap::new();
    for id in task_ids {
        let mut fields: HashMap<String, Value> = HashMap::new();
        let outputs: HashMap<String, Value> = scope
            .outputs
            .get(id)
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
            .collect();
        fields.insert("outputs".to_owned(), Value::from(outputs));
        let instance = scope.states.get(id).copied().unwrap_or_default();
        fields.insert("state".to_owned(), Value::from(instance.state.as_str()));
        if let Some(code) = instance.exit_code {
            fields.insert("exit_code".to_owned(), Value::Int(code.into()));
        }
        tasks.insert(id.to_owned(), Value::from(fields));
    }
    context.add_variable_from_value("tasks", tasks);
    match program.execute(&context) {
        Ok(Value::Bool(result)) => Ok(result),
        Ok(other) => Err(format!(
            "the condition gave {}, not true or false",
            describe_value(&other)
        )),
        Err(error) => Err(describe_error(&error)),
    }
}

fn param_value(value: &ParamValue) -> Value {
    match value {
        ParamValue::Bool(flag) => Value::Bool(*flag),
        ParamValue::Int(int) => Value::Int(*int),
        ParamValue::Float(float) => Value::Float(*float),
        ParamValue::String(text) => Value::from(text.as_str()),
    }
}

/// Checks limits, parses, and walks the tree.
fn compile(text: &str) -> Result<(Program, Vec<Reference>), ExpressionError> {
    check_limits(text)?;
    let program = Program::compile(text).map_err(|errors| syntax_error(&errors.to_string()))?;
    let mut walk = Walk::default();
    walk.expr(program.expression())?;
    Ok((program, walk.references.into_iter().collect()))
}

/// Size, nesting and operator limits, checked on the text before the parser sees it.
fn check_limits(text: &str) -> Result<(), ExpressionError> {
    if text.trim().is_empty() {
        return Err(ExpressionError::new("expression is empty", None));
    }
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(ExpressionError::new(
            format!(
                "expression is {} bytes long, more than the limit of {MAX_EXPRESSION_BYTES}",
                text.len()
            ),
            Some("compute the value in a task and test its output instead"),
        ));
    }
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut operators = 0usize;
    let mut quote: Option<(char, bool)> = None; // (quote char, raw string)
    let mut previous = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some((open, raw)) = quote {
            if c == '\\' && !raw {
                chars.next();
            } else if c == open {
                quote = None;
            }
            previous = c;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some((c, matches!(previous, 'r' | 'R'))),
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '&' | '|' | '=' => {
                // `&&`, `||`, `==` count once
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                operators += 1;
            }
            '!' | '<' | '>' => {
                if chars.peek() == Some(&'=') {
                    chars.next();
                }
                operators += 1;
            }
            '+' | '-' | '*' | '/' | '%' | '?' | '.' => operators += 1,
            _ => {}
        }
        previous = c;
    }
    if deepest > MAX_EXPRESSION_NESTING {
        return Err(ExpressionError::new(
            format!(
                "expression nests brackets {deepest} deep, more than the limit of {MAX_EXPRESSION_NESTING}"
            ),
            None,
        ));
    }
    if operators > MAX_EXPRESSION_OPERATORS {
        return Err(ExpressionError::new(
            format!(
                "expression has {operators} operators, more than the limit of {MAX_EXPRESSION_OPERATORS}"
            ),
            Some("compute the value in a task and test its output instead"),
        ));
    }
    Ok(())
}

/// `syntax error at column 5: mismatched input ...` from the parser's multi-line report.
fn syntax_error(report: &str) -> ExpressionError {
    let first = report.lines().next().unwrap_or_default();
    let rest = first
        .trim_start_matches("ERROR: ")
        .trim_start_matches("<input>:");
    // `1:5: Syntax error: ...`
    let mut parts = rest.splitn(3, ':');
    let (line, column, detail) = (parts.next(), parts.next(), parts.next());
    let detail = detail
        .unwrap_or(first)
        .trim()
        .trim_start_matches("Syntax error:")
        .trim();
    let position = match (line.map(str::trim), column.map(str::trim)) {
        (Some("1"), Some(column)) if column.parse::<u32>().is_ok() => {
            format!(" at column {column}")
        }
        (Some(line), Some(column))
            if line.parse::<u32>().is_ok() && column.parse::<u32>().is_ok() =>
        {
            format!(" at line {line}, column {column}")
        }
        _ => String::new(),
    };
    ExpressionError::new(format!("syntax error{position}: {detail}"), None)
}

/// Collects references while checking that every construct is accepted.
#[derive(Default)]
struct Walk {
    references: BTreeSet<Reference>,
}

const NAMES_HINT: &str = "expressions read `params.<name>` and `tasks.<id>.outputs.<name>` (also `.exit_code`, `.state`)";

impl Walk {
    fn expr(&mut self, node: &IdedExpr) -> Result<(), ExpressionError> {
        if let Some(path) = path(node) {
            return self.reference(&path);
        }
        match &node.expr {
            Expr::Ident(name) => Err(ExpressionError::new(
                format!("unknown name `{name}`"),
                Some(NAMES_HINT),
            )),
            Expr::Select(select) => {
                if select.test
                    && let Some(mut path) = path(&select.operand)
                {
                    path.push(select.field.clone());
                    return self.reference(&path);
                }
                self.expr(&select.operand)
            }
            Expr::Call(call) => {
                if !ALLOWED_FUNCTIONS.contains(&call.func_name.as_str()) {
                    return Err(ExpressionError::new(
                        format!("function `{}` is not available", call.func_name),
                        Some(
                            "available: size, int, uint, double, string, contains, startsWith, endsWith",
                        ),
                    ));
                }
                if let Some(target) = &call.target {
                    self.expr(target)?;
                }
                for arg in &call.args {
                    self.expr(arg)?;
                }
                Ok(())
            }
            Expr::Comprehension(_) => Err(ExpressionError::new(
                "comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) are not available",
                Some("compute the value in a task and test its output instead"),
            )),
            Expr::List(list) => {
                for element in &list.elements {
                    self.expr(element)?;
                }
                Ok(())
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(entry) => {
                            self.expr(&entry.key)?;
                            self.expr(&entry.value)?;
                        }
                        EntryExpr::StructField(_) => {
                            return Err(ExpressionError::new(
                                "message literals are not available",
                                None,
                            ));
                        }
                    }
                }
                Ok(())
            }
            Expr::Literal(_) => Ok(()),
            Expr::Struct(_) => Err(ExpressionError::new(
                "message literals are not available",
                None,
            )),
            Expr::Unspecified => Err(ExpressionError::new("incomplete expression", None)),
        }
    }

    fn reference(&mut self, path: &[String]) -> Result<(), ExpressionError> {
        let dotted = path.join(".");
        let reference = match path {
            [root, name] if root == "params" => Reference::Param(name.clone()),
            [root] if root == "params" => {
                return Err(ExpressionError::new(
                    "`params` needs a name",
                    Some("write `params.<name>`"),
                ));
            }
            [root, name, ..] if root == "params" => {
                return Err(ExpressionError::new(
                    format!("`{dotted}`: param `{name}` is a single value with no fields"),
                    None,
                ));
            }
            [root, task, outputs, output] if root == "tasks" && outputs == "outputs" => {
                Reference::TaskOutput {
                    task: task.clone(),
                    output: output.clone(),
                }
            }
            [root, task, field] if root == "tasks" && field == "exit_code" => {
                Reference::TaskExitCode(task.clone())
            }
            [root, task, field] if root == "tasks" && field == "state" => {
                Reference::TaskState(task.clone())
            }
            [root, ..] if root == "tasks" => {
                return Err(ExpressionError::new(
                    format!("`{dotted}` is not something a task has"),
                    Some(
                        "write `tasks.<id>.outputs.<name>`, `tasks.<id>.exit_code` or `tasks.<id>.state`",
                    ),
                ));
            }
            [root, ..] => {
                return Err(ExpressionError::new(
                    format!("unknown name `{root}`"),
                    Some(NAMES_HINT),
                ));
            }
            [] => return Err(ExpressionError::new("incomplete expression", None)),
        };
        self.references.insert(reference);
        Ok(())
    }
}

/// `a.b['c'].d` as `[a, b, c, d]` when the expression is such a chain from a name.
fn path(node: &IdedExpr) -> Option<Vec<String>> {
    match &node.expr {
        Expr::Ident(name) => Some(vec![name.clone()]),
        Expr::Select(select) if !select.test => {
            let mut path = path(&select.operand)?;
            path.push(select.field.clone());
            Some(path)
        }
        Expr::Call(call) if call.func_name == "_[_]" && call.target.is_none() => {
            let [operand, key] = call.args.as_slice() else {
                return None;
            };
            let Expr::Literal(LiteralValue::String(key)) = &key.expr else {
                return None;
            };
            let mut path = path(operand)?;
            path.push(key.to_string());
            Some(path)
        }
        _ => None,
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Int(int) => format!("integer {int}"),
        Value::UInt(int) => format!("unsigned integer {int}"),
        Value::Float(float) => format!("double {float}"),
        Value::String(text) => format!("string {:?}", text.as_str()),
        Value::Null => "null".to_owned(),
        Value::List(_) => "a list".to_owned(),
        Value::Map(_) => "a map".to_owned(),
        Value::Bytes(_) => "bytes".to_owned(),
        _ => "a value".to_owned(),
    }
}

/// The interpreter's error as a lowercase fragment.
fn describe_error(error: &ExecutionError) -> String {
    match error {
        ExecutionError::NoSuchKey(key) => format!("no such key `{key}`"),
        ExecutionError::UndeclaredReference(name) => format!("unknown name `{name}`"),
        ExecutionError::DivisionByZero(_) => "division by zero".to_owned(),
        ExecutionError::RemainderByZero(_) => "remainder by zero".to_owned(),
        ExecutionError::Overflow(..) => "integer overflow".to_owned(),
        ExecutionError::NoSuchOverload(overload) => format!(
            "`{}` does not apply to {}",
            operator_name(overload.function()),
            overload.argument_types().join(" and ")
        ),
        ExecutionError::FunctionError { function, message } => {
            format!("`{function}`: {}", lowercase_first(message))
        }
        ExecutionError::ValuesNotComparable(left, right) => format!(
            "{} cannot be compared with {}",
            describe_value(left),
            describe_value(right)
        ),
        other => lowercase_first(&other.to_string()),
    }
}

/// `>` for CEL's `_>_`, `!` for `!_`.
fn operator_name(function: &str) -> &str {
    function.trim_matches('_').trim_start_matches('@')
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::TaskState;

    #[track_caller]
    fn check_refs(text: &str, expected: &str) {
        let got = match check_expression(text) {
            Ok(references) => references
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            Err(error) => match error.hint {
                Some(hint) => format!("error: {}\n  hint: {hint}", error.message),
                None => format!("error: {}", error.message),
            },
        };
        assert_eq!(got, expected.trim(), "{text}");
    }

    #[test]
    fn references_and_refusals() {
        let cases = [
            (
                "int(tasks.extract.outputs.rows) > 1000 && params.env == 'prod'",
                "params.env, tasks.extract.outputs.rows",
            ),
            ("params['env'] in ['a', 'b']", "params.env"),
            (
                "tasks['load'].outputs['rows'] == '3'",
                "tasks.load.outputs.rows",
            ),
            ("has(tasks.check.outputs.rows)", "tasks.check.outputs.rows"),
            (
                "tasks.check.exit_code == 3 || tasks.check.state == 'failed'",
                "tasks.check.exit_code, tasks.check.state",
            ),
            (
                "size(params.name) > 3 && params.name.startsWith('a')",
                "params.name",
            ),
            ("1 + 2 == 3", ""),
            (
                "tasks.check.rows > 1",
                "error: `tasks.check.rows` is not something a task has\n  hint: write `tasks.<id>.outputs.<name>`, `tasks.<id>.exit_code` or `tasks.<id>.state`",
            ),
            (
                "params",
                "error: `params` needs a name\n  hint: write `params.<name>`",
            ),
            (
                "params.a.b == 1",
                "error: `params.a.b`: param `a` is a single value with no fields",
            ),
            (
                "env == 'prod'",
                "error: unknown name `env`\n  hint: expressions read `params.<name>` and `tasks.<id>.outputs.<name>` (also `.exit_code`, `.state`)",
            ),
            (
                "[1, 2].exists(x, x > 1)",
                "error: comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) are not available\n  hint: compute the value in a task and test its output instead",
            ),
            (
                "params.name.matches('a+')",
                "error: function `matches` is not available\n  hint: available: size, int, uint, double, string, contains, startsWith, endsWith",
            ),
            (
                "1 +",
                "error: syntax error at column 4: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}",
            ),
            ("  ", "error: expression is empty"),
            (
                "((((((((((1))))))))))",
                "error: expression nests brackets 10 deep, more than the limit of 8",
            ),
            // Brackets inside strings do not count.
            ("params.x == '(((((((((((('", "params.x"),
            ("params.x == r'\\'", "params.x"),
        ];
        for (text, expected) in cases {
            check_refs(text, expected);
        }
        let long = format!("params.x == '{}'", "a".repeat(600));
        check_refs(
            &long,
            "error: expression is 614 bytes long, more than the limit of 500\n  hint: compute the value in a task and test its output instead",
        );
        let chain = vec!["1"; 70].join(" + ");
        check_refs(
            &chain,
            "error: expression has 69 operators, more than the limit of 64\n  hint: compute the value in a task and test its output instead",
        );
    }

    #[track_caller]
    fn check_eval(text: &str, expected: Result<bool, &str>) {
        let params = BTreeMap::from([
            ("env".to_owned(), ParamValue::String("prod".into())),
            ("limit".to_owned(), ParamValue::Int(1000)),
            ("ratio".to_owned(), ParamValue::Float(0.5)),
            ("dry_run".to_owned(), ParamValue::Bool(false)),
        ]);
        let states = BTreeMap::from([(
            TaskId::from("check"),
            TaskInstanceState {
                state: TaskState::Failed,
                exit_code: Some(3),
            },
        )]);
        let outputs = BTreeMap::from([(
            TaskId::from("extract"),
            BTreeMap::from([
                ("rows".to_owned(), "1500".to_owned()),
                ("status".to_owned(), "fresh".to_owned()),
            ]),
        )]);
        let scope = ExpressionScope {
            params: &params,
            states: &states,
            outputs: &outputs,
        };
        let got = evaluate_expression(text, scope);
        assert_eq!(got, expected.map_err(str::to_owned), "{text}");
    }

    #[test]
    fn evaluation() {
        let cases: &[(&str, Result<bool, &str>)] = &[
            ("int(tasks.extract.outputs.rows) > params.limit", Ok(true)),
            (
                "tasks.extract.outputs.status == 'fresh' && !params.dry_run",
                Ok(true),
            ),
            ("params.ratio * 2.0 == 1.0", Ok(true)),
            ("params.env in ['dev', 'staging']", Ok(false)),
            (
                "tasks.check.exit_code == 3 && tasks.check.state == 'failed'",
                Ok(true),
            ),
            (
                "has(tasks.extract.outputs.rows) && !has(tasks.extract.outputs.bytes)",
                Ok(true),
            ),
            // A task with no outputs still has an (empty) outputs map.
            ("has(tasks.check.outputs.rows)", Ok(false)),
            ("has(tasks.other.exit_code)", Ok(false)),
            ("tasks.other.state == 'pending'", Ok(true)),
            (
                "size(params.env) == 4 && params.env.startsWith('pr') && params.env.contains('ro') && params.env.endsWith('od')",
                Ok(true),
            ),
            (
                "string(params.limit) == '1000' && double(params.limit) > 1.5 && uint(params.limit) == 1000u",
                Ok(true),
            ),
            (
                "tasks.extract.outputs.bytes == '1'",
                Err("no such key `bytes`"),
            ),
            (
                "tasks.extract.outputs.rows > 1000",
                Err("`>` does not apply to string and int"),
            ),
            ("params.limit / 0 == 1", Err("division by zero")),
            (
                "int('x1') == 1",
                Err("`int`: string parse error: invalid digit found in string"),
            ),
            (
                "params.limit + 1",
                Err("the condition gave integer 1001, not true or false"),
            ),
            ("9223372036854775807 + 1 > 0", Err("integer overflow")),
            ("nope == 1", Err("unknown name `nope`")),
        ];
        for (text, expected) in cases {
            check_eval(text, *expected);
        }
    }

    /// The largest expressions the limits allow parse on a 2 MiB stack (tokio's default
    /// worker stack), without overflowing.
    #[test]
    fn worst_case_parses_on_a_small_stack() {
        let nested = format!("{}params.x{} == 1", "(".repeat(8), ")".repeat(8));
        let chain = format!("params.x == 1{}", " || params.x == 1".repeat(20));
        let mixed = format!(
            "{}{}{}",
            "[".repeat(4),
            vec!["-1"; 30].join(" + "),
            "]".repeat(4)
        );
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for text in [nested, chain, mixed] {
                    let _ = check_expression(&text);
                }
            })
            .expect("spawn a thread with a small stack");
        handle
            .join()
            .expect("parsing within the limits does not overflow the stack");
    }
}
