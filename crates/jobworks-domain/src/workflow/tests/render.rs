//! Drawings of workflows, as snapshots.

use super::fixtures::compact;
use super::simulation::nightly;
use crate::workflow::{TaskId, WorkflowSpec, to_dot, to_mermaid, to_text};

#[test]
fn text() {
    insta::assert_snapshot!("nightly_text", to_text(&nightly()));
}

#[test]
fn dot() {
    insta::assert_snapshot!("nightly_dot", to_dot(&nightly()));
}

#[test]
fn mermaid() {
    insta::assert_snapshot!("nightly_mermaid", to_mermaid(&nightly()));
}

/// Odd inputs draw without panicking: no tasks, a cycle, an id Mermaid reserves, quotes in
/// labels.
#[test]
fn odd_graphs() {
    let empty = WorkflowSpec {
        tasks: Vec::new(),
        ..compact("a:")
    };
    assert_eq!(to_text(&empty), "workflow w: 0 tasks in 0 layers\n");
    assert_eq!(to_mermaid(&empty), "flowchart TD\n");

    let mut cyclic = compact(
        r#"
        start:
        a: depends_on = ["start"]
        b: depends_on = ["a"]
        after: depends_on = ["b"]
        "#,
    );
    cyclic.tasks[1].depends_on.push(TaskId::from("b"));
    insta::assert_snapshot!("cycle_text", to_text(&cyclic));

    let quoted = compact(
        r#"
        end:
        route: depends_on = ["end"]; branch = { case = [{ when = "params.x == \"a \\\\ b\" && size(params.x) > 100000000000", then = ["x"] }] }
        x: depends_on = ["route"]
        [workflow.params.x]
        type = "string"
        "#,
    );
    insta::assert_snapshot!(
        "quoted",
        format!(
            "{}\n{}\n{}",
            to_text(&quoted),
            to_dot(&quoted),
            to_mermaid(&quoted)
        )
    );
}
