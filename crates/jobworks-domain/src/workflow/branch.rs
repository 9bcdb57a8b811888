//! Branch decisions: which downstream tasks a branch chooses, from its source task's exit
//! code or outputs, or from expressions over params and upstream outputs.
//!
//! A branch is decided by the engine when its trigger rule lets it run, and re-derived from
//! the same inputs on every later call (they no longer change), so nothing about the choice
//! needs storing beyond the branch's own state.

use super::expr::{ExpressionScope, evaluate_expression};
use super::spec::{BranchCondition, BranchSpec, TaskId};

/// What a branch chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchChoice {
    /// The chosen downstream tasks (may be empty).
    pub chosen: Vec<TaskId>,
    /// The 0-based index of the case that matched; `None` = no case matched, `default` was
    /// chosen.
    pub case: Option<usize>,
}

impl BranchChoice {
    /// A sentence fragment for the branch's state reason, e.g.
    /// `case 2 chose load, notify` or `no case matched: default chose nothing`.
    pub fn describe(&self) -> String {
        let tasks = if self.chosen.is_empty() {
            "nothing".to_owned()
        } else {
            self.chosen
                .iter()
                .map(TaskId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.case {
            Some(case) => format!("case {} chose {tasks}", case + 1),
            None => format!("no case matched: default chose {tasks}"),
        }
    }
}

/// The source task of a branch: `source`, or its only dependency when `source` is not set.
pub fn branch_source<'a>(branch: &'a BranchSpec, depends_on: &'a [TaskId]) -> Option<&'a TaskId> {
    branch.source.as_ref().or(match depends_on {
        [only] => Some(only),
        _ => None,
    })
}

/// Decides branch `branch` (whose `depends_on` is `depends_on`) in `scope`: the first
/// matching case's `then`, else `default`.
///
/// `exit_code` cases compare the source task's exit code (a task with none matches no
/// code); `output` cases compare the source's output text exactly (a missing output matches
/// nothing); `expr` cases evaluate their expression.
///
/// Errors: `case N: <problem>` when an expression fails to evaluate or is not a boolean;
/// the branch then fails.
pub fn choose_branch(
    branch: &BranchSpec,
    depends_on: &[TaskId],
    scope: ExpressionScope<'_>,
) -> Result<BranchChoice, String> {
    let source = branch_source(branch, depends_on);
    for (index, case) in branch.cases.iter().enumerate() {
        let matched = match &case.condition {
            BranchCondition::ExitCode { codes } => source
                .and_then(|source| scope.states.get(source))
                .and_then(|state| state.exit_code)
                .is_some_and(|code| codes.contains(&code)),
            BranchCondition::Output { output, values } => source
                .and_then(|source| scope.outputs.get(source))
                .and_then(|outputs| outputs.get(output))
                .is_some_and(|value| values.contains(value)),
            BranchCondition::Expr { expr } => evaluate_expression(expr, scope)
                .map_err(|error| format!("case {}: {error}", index + 1))?,
        };
        if matched {
            return Ok(BranchChoice {
                chosen: case.then.clone(),
                case: Some(index),
            });
        }
    }
    Ok(BranchChoice {
        chosen: branch.default.clone(),
        case: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamValue;
    use crate::workflow::spec::BranchCase;
    use crate::workflow::{TaskInstanceState, TaskState};
    use std::collections::BTreeMap;

    fn ids(list: &[&str]) -> Vec<TaskId> {
        list.iter().map(|id| TaskId::from(*id)).collect()
    }

    fn case(condition: BranchCondition, then: &[&str]) -> BranchCase {
        BranchCase {
            condition,
            then: ids(then),
        }
    }

    fn exit(codes: &[i32]) -> BranchCondition {
        BranchCondition::ExitCode {
            codes: codes.to_vec(),
        }
    }

    fn output(name: &str, values: &[&str]) -> BranchCondition {
        BranchCondition::Output {
            output: name.to_owned(),
            values: values.iter().map(|value| (*value).to_owned()).collect(),
        }
    }

    fn expr(text: &str) -> BranchCondition {
        BranchCondition::Expr {
            expr: text.to_owned(),
        }
    }

    /// Decides `branch` (source `check`) with `check` ended in `state`, `exit_code` and
    /// `outputs`, and renders the choice or the error.
    #[track_caller]
    fn check(
        branch: &BranchSpec,
        state: TaskState,
        exit_code: Option<i32>,
        outputs: &[(&str, &str)],
        expected: &str,
    ) {
        let params = BTreeMap::from([("env".to_owned(), ParamValue::String("prod".into()))]);
        let states = BTreeMap::from([(
            TaskId::from("check"),
            TaskInstanceState { state, exit_code },
        )]);
        let outputs = BTreeMap::from([(
            TaskId::from("check"),
            outputs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )]);
        let scope = ExpressionScope {
            params: &params,
            states: &states,
            outputs: &outputs,
        };
        let got = match choose_branch(branch, &ids(&["check"]), scope) {
            Ok(choice) => choice.describe(),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(got, expected, "{state} exit {exit_code:?} {outputs:?}");
    }

    #[test]
    fn by_exit_code() {
        let branch = BranchSpec {
            source: None,
            cases: vec![
                case(exit(&[0]), &["load"]),
                case(exit(&[3, 4]), &["notify", "wait"]),
                case(exit(&[5]), &[]),
            ],
            default: ids(&["alert"]),
        };
        use TaskState::*;
        let cases = [
            (Succeeded, Some(0), "case 1 chose load"),
            (Failed, Some(3), "case 2 chose notify, wait"),
            (Failed, Some(4), "case 2 chose notify, wait"),
            (Failed, Some(5), "case 3 chose nothing"),
            (Failed, Some(1), "no case matched: default chose alert"),
            // No exit code: timed out, cancelled, skipped.
            (TimedOut, None, "no case matched: default chose alert"),
            (Skipped, None, "no case matched: default chose alert"),
        ];
        for (state, code, expected) in cases {
            check(&branch, state, code, &[], expected);
        }
    }

    #[test]
    fn by_output_value() {
        let branch = BranchSpec {
            source: Some(TaskId::from("check")),
            cases: vec![
                case(output("status", &["fresh"]), &["load"]),
                case(output("status", &["stale", "old"]), &["refresh"]),
            ],
            default: Vec::new(),
        };
        let done = TaskState::Succeeded;
        check(
            &branch,
            done,
            Some(0),
            &[("status", "fresh")],
            "case 1 chose load",
        );
        check(
            &branch,
            done,
            Some(0),
            &[("status", "old")],
            "case 2 chose refresh",
        );
        // Exact text: no trimming, no case folding.
        check(
            &branch,
            done,
            Some(0),
            &[("status", "Fresh")],
            "no case matched: default chose nothing",
        );
        check(
            &branch,
            done,
            Some(0),
            &[],
            "no case matched: default chose nothing",
        );
    }

    #[test]
    fn by_expression() {
        let branch = BranchSpec {
            source: None,
            cases: vec![
                case(
                    expr("int(tasks.check.outputs.rows) > 1000 && params.env == 'prod'"),
                    &["big"],
                ),
                case(expr("int(tasks.check.outputs.rows) > 0"), &["small"]),
            ],
            default: ids(&["empty"]),
        };
        let done = TaskState::Succeeded;
        check(
            &branch,
            done,
            Some(0),
            &[("rows", "5000")],
            "case 1 chose big",
        );
        check(
            &branch,
            done,
            Some(0),
            &[("rows", "12")],
            "case 2 chose small",
        );
        check(
            &branch,
            done,
            Some(0),
            &[("rows", "0")],
            "no case matched: default chose empty",
        );
        // A failing expression fails the branch, naming the case.
        check(
            &branch,
            done,
            Some(0),
            &[],
            "error: case 1: no such key `rows`",
        );
        check(
            &branch,
            done,
            Some(0),
            &[("rows", "many")],
            "error: case 1: `int`: string parse error: invalid digit found in string",
        );
    }

    #[test]
    fn source_defaults_to_the_only_dependency() {
        let branch = BranchSpec {
            source: None,
            cases: Vec::new(),
            default: Vec::new(),
        };
        let one = ids(&["a"]);
        let two = ids(&["a", "b"]);
        assert_eq!(branch_source(&branch, &one), Some(&TaskId::from("a")));
        assert_eq!(branch_source(&branch, &two), None);
        let explicit = BranchSpec {
            source: Some(TaskId::from("b")),
            ..branch
        };
        assert_eq!(branch_source(&explicit, &two), Some(&TaskId::from("b")));
    }
}
