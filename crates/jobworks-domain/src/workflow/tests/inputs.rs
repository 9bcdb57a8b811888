//! Data passing: the `JOBWORKS_INPUT_*` variables a task receives from its upstream tasks.

use super::fixtures::spec_from_toml;
use crate::workflow::{TaskId, task_inputs};
use std::collections::BTreeMap;

#[test]
fn inputs_pass_through_branches_and_groups() {
    let spec = spec_from_toml(
        r#"
[[workflow.task]]
id = "extract"
type = "shell"
script = "true"
[[workflow.task]]
id = "a_b"
type = "shell"
script = "true"
[[workflow.task]]
id = "a"
type = "shell"
script = "true"
[[workflow.task]]
id = "route"
depends_on = ["extract"]
branch = { default = ["load"], case = [{ when = "true", then = ["load"] }] }
[[workflow.task]]
id = "load"
depends_on = ["route", "a_b", "a"]
type = "shell"
script = "true"
[[workflow.task]]
id = "shards"
depends_on = ["load"]
group = { tasks = ["s1", "s2"] }
[[workflow.task]]
id = "s1"
type = "shell"
script = "true"
[[workflow.task]]
id = "s2"
type = "shell"
script = "true"
[[workflow.task]]
id = "report"
depends_on = ["shards"]
type = "shell"
script = "true"
"#,
    );
    let outputs: BTreeMap<TaskId, BTreeMap<String, String>> = [
        ("extract", "rows", "10"),
        ("a_b", "c", "from a_b"),
        ("a", "b_c", "from a"),
        ("load", "max-id", "7"),
        ("s1", "part", "one"),
        ("s2", "part", "two"),
        ("report", "url", "x"),
    ]
    .into_iter()
    .fold(BTreeMap::new(), |mut map, (task, name, value)| {
        map.entry(TaskId::from(task))
            .or_insert_with(BTreeMap::new)
            .insert(name.to_owned(), value.to_owned());
        map
    });
    let rendered = |task: &str| -> String {
        task_inputs(&spec, task, &outputs)
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cases = [
        ("extract", ""),
        // Through the branch to `extract`; `a_b` is listed before `a`, so it wins.
        (
            "load",
            "JOBWORKS_INPUT_A_B_C=from a_b JOBWORKS_INPUT_EXTRACT_ROWS=10",
        ),
        // Members receive what their group receives: every task before it.
        (
            "s1",
            "JOBWORKS_INPUT_A_B_C=from a_b JOBWORKS_INPUT_EXTRACT_ROWS=10 \
             JOBWORKS_INPUT_LOAD_MAX_ID=7",
        ),
        // After a group: its members' outputs, and everything before the group.
        (
            "report",
            "JOBWORKS_INPUT_A_B_C=from a_b JOBWORKS_INPUT_EXTRACT_ROWS=10 \
             JOBWORKS_INPUT_LOAD_MAX_ID=7 JOBWORKS_INPUT_S1_PART=one \
             JOBWORKS_INPUT_S2_PART=two",
        ),
        ("nope", ""),
    ];
    for (task, want) in cases {
        assert_eq!(rendered(task), want, "{task}");
    }
}

/// Inputs come from every transitive ancestor, through approvals and calls too; on a
/// clash of variable names the nearer task wins.
#[test]
fn inputs_come_from_every_upstream_task_however_far() {
    let spec = spec_from_toml(
        r#"
[[workflow.task]]
id = "prep"
type = "shell"
script = "true"
[[workflow.task]]
id = "gate"
depends_on = ["prep"]
approval = { timeout = "1h" }
[[workflow.task]]
id = "after"
depends_on = ["gate"]
type = "shell"
script = "true"
[[workflow.task]]
id = "x_y"
type = "shell"
script = "true"
[[workflow.task]]
id = "x"
depends_on = ["x_y"]
job = "somewhere"
[[workflow.task]]
id = "near"
depends_on = ["x"]
type = "shell"
script = "true"
[[workflow.task]]
id = "last"
depends_on = ["after", "near"]
type = "shell"
script = "true"
[[workflow.task]]
id = "lone"
type = "shell"
script = "true"
"#,
    );
    let outputs: BTreeMap<TaskId, BTreeMap<String, String>> = [
        ("prep", "n", "3"),
        ("x_y", "z", "far"),
        ("x", "y_z", "near"),
        ("x", "rows", "5"),
        ("near", "ok", "yes"),
        ("lone", "n", "0"),
    ]
    .into_iter()
    .fold(BTreeMap::new(), |mut map, (task, name, value)| {
        map.entry(TaskId::from(task))
            .or_insert_with(BTreeMap::new)
            .insert(name.to_owned(), value.to_owned());
        map
    });
    let rendered = |task: &str| -> String {
        task_inputs(&spec, task, &outputs)
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cases = [
        // Through an approval (issue 7 point 14).
        ("after", "JOBWORKS_INPUT_PREP_N=3"),
        // Two steps up, through a job call; `x.y_z` is nearer than `x_y.z`.
        ("near", "JOBWORKS_INPUT_X_ROWS=5 JOBWORKS_INPUT_X_Y_Z=near"),
        // Every ancestor on every path; an unrelated task gives nothing.
        (
            "last",
            "JOBWORKS_INPUT_NEAR_OK=yes JOBWORKS_INPUT_PREP_N=3 \
             JOBWORKS_INPUT_X_ROWS=5 JOBWORKS_INPUT_X_Y_Z=near",
        ),
        ("gate", "JOBWORKS_INPUT_PREP_N=3"),
        ("lone", ""),
    ];
    for (task, want) in cases {
        assert_eq!(rendered(task), want, "{task}");
    }
}
