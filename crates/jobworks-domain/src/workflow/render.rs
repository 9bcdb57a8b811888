//! Drawings of a workflow's graph: plain text in layers for a terminal
//! (`jobworks workflow graph NAME`), Graphviz DOT and Mermaid (`flowchart TD`) for export.
//!
//! Layers: a task sits one layer below the deepest of its upstream tasks; roots are in the
//! first layer. Group members are drawn under (text) or inside (DOT, Mermaid) their group.
//! Branch edges carry the cases that choose them. Tasks on a dependency cycle cannot be
//! placed and are listed apart; drawing never fails.

use super::graph::Graph;
use super::spec::{BranchCondition, TaskKind, TaskNode, TriggerRule, WorkflowSpec};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Longest condition text shown on an edge; longer ones end in `…`.
const MAX_LABEL_CHARS: usize = 40;

/// The layer (1-based) of each task that is not a group member, by index; tasks on or
/// after a cycle are absent.
fn layers(graph: &Graph<'_>) -> BTreeMap<usize, usize> {
    let mut layer: BTreeMap<usize, usize> = BTreeMap::new();
    let Some(order) = graph.topological_order() else {
        // Place what can be placed: repeat until nothing changes.
        let mut changed = true;
        while changed {
            changed = false;
            for at in 0..graph.len() {
                if layer.contains_key(&at) || graph.group_of[at].is_some() {
                    continue;
                }
                let deps: Option<Vec<usize>> = graph.deps[at]
                    .iter()
                    .map(|up| layer.get(up).copied())
                    .collect();
                if let Some(deps) = deps {
                    layer.insert(at, deps.into_iter().max().unwrap_or(0) + 1);
                    changed = true;
                }
            }
        }
        return layer;
    };
    for at in order {
        if graph.group_of[at].is_some() {
            continue;
        }
        let depth = graph.deps[at]
            .iter()
            .filter_map(|up| layer.get(up))
            .max()
            .copied()
            .unwrap_or(0);
        layer.insert(at, depth + 1);
    }
    layer
}

/// `shell`, `job db-backup`, `approval 4h`, `branch on check`, `group any, max 2`.
fn describe_kind(task: &TaskNode) -> String {
    match &task.kind {
        TaskKind::Inline { task } => task.kind().to_owned(),
        TaskKind::Job { job, .. } => format!("job {job}"),
        TaskKind::Workflow { workflow, .. } => format!("workflow {workflow}"),
        TaskKind::Approval(approval) => format!(
            "approval {}",
            jobworks_schedule::format_duration(std::time::Duration::from_millis(
                approval.timeout_ms
            ))
        ),
        TaskKind::Branch(branch) => match &branch.source {
            Some(source) => format!("branch on {source}"),
            None => "branch".to_owned(),
        },
        TaskKind::Group(group) => match group.max_parallelism {
            Some(max) => format!("group {}, max {max}", group.policy.describe()),
            None => format!("group {}", group.policy.describe()),
        },
    }
}

/// `exit code 3, 4`, `output status = "stale"`, `when <expr>`.
fn describe_condition(condition: &BranchCondition) -> String {
    match condition {
        BranchCondition::ExitCode { codes } => format!(
            "exit code {}",
            codes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        BranchCondition::Output { output, values } => format!(
            "output {output} = {}",
            values
                .iter()
                .map(|value| format!("{value:?}"))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        BranchCondition::Expr { expr } => format!("when {}", shorten(expr)),
    }
}

fn shorten(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_LABEL_CHARS {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX_LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// For each downstream task of branch `task`, the conditions that choose it, joined.
fn branch_labels(task: &TaskNode) -> BTreeMap<&str, String> {
    let mut labels: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if let TaskKind::Branch(branch) = &task.kind {
        for case in &branch.cases {
            for target in &case.then {
                labels
                    .entry(target.as_str())
                    .or_default()
                    .push(describe_condition(&case.condition));
            }
        }
        for target in &branch.default {
            labels
                .entry(target.as_str())
                .or_default()
                .push("default".to_owned());
        }
    }
    labels
        .into_iter()
        .map(|(target, conditions)| (target, conditions.join(" / ")))
        .collect()
}

/// A plain-text drawing of the graph in layers, e.g.
///
/// ```text
/// workflow nightly: 4 tasks in 3 layers
///
/// layer 1
///   extract   shell
/// layer 2
///   route     branch on extract   <- extract
///               exit code 0       -> load
///               default           -> alert
/// layer 3
///   load      sql                 <- route
///   alert     job notify          <- route
/// ```
///
/// Group members are listed under their group with `+`; a trigger rule other than
/// `all_success` is shown in brackets after the upstream tasks.
pub fn to_text(spec: &WorkflowSpec) -> String {
    let graph = Graph::new(spec);
    let layer = layers(&graph);
    let layer_count = layer.values().max().copied().unwrap_or(0);
    let mut out = format!(
        "workflow {}: {} {} in {} {}\n",
        spec.name,
        spec.tasks.len(),
        plural(spec.tasks.len(), "task", "tasks"),
        layer_count,
        plural(layer_count, "layer", "layers"),
    );
    if spec.tasks.is_empty() {
        return out;
    }
    // Column widths over every task (members are indented by 4).
    let id_width = spec
        .tasks
        .iter()
        .enumerate()
        .map(|(at, task)| {
            task.id.as_str().chars().count() + if graph.group_of[at].is_some() { 4 } else { 2 }
        })
        .max()
        .unwrap_or(0);
    let kind_width = spec
        .tasks
        .iter()
        .map(|task| describe_kind(task).chars().count())
        .max()
        .unwrap_or(0);
    let line = |out: &mut String, indent: &str, task: &TaskNode, deps: &[usize]| {
        let id = format!("{indent}{}", task.id);
        let mut text = format!(
            "{id:<id_width$}  {:<kind_width$}",
            describe_kind(task),
            id_width = id_width,
            kind_width = kind_width
        );
        if !deps.is_empty() {
            let names: Vec<&str> = deps.iter().map(|&up| graph.id(up)).collect();
            text.push_str(&format!("  <- {}", names.join(", ")));
        }
        if task.trigger_rule != TriggerRule::AllSuccess {
            text.push_str(&format!("  [{}]", task.trigger_rule));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    for current in 1..=layer_count {
        let _ = writeln!(out, "\nlayer {current}");
        for (at, task) in spec.tasks.iter().enumerate() {
            if layer.get(&at) != Some(&current) {
                continue;
            }
            line(&mut out, "  ", task, &graph.deps[at]);
            if let TaskKind::Branch(branch) = &task.kind {
                let pad = " ".repeat(id_width + 4);
                let rows: Vec<(String, &Vec<_>)> = branch
                    .cases
                    .iter()
                    .map(|case| (describe_condition(&case.condition), &case.then))
                    .chain(std::iter::once(("default".to_owned(), &branch.default)))
                    .collect();
                let condition_width = rows
                    .iter()
                    .map(|(condition, _)| condition.chars().count())
                    .max()
                    .unwrap_or(0);
                for (condition, targets) in rows {
                    let names: Vec<&str> = targets.iter().map(|id| id.as_str()).collect();
                    let targets = if names.is_empty() {
                        "(nothing)".to_owned()
                    } else {
                        names.join(", ")
                    };
                    let row = format!("{pad}{condition:<condition_width$}  -> {targets}");
                    out.push_str(row.trim_end());
                    out.push('\n');
                }
            }
            for &member in &graph.members[at] {
                line(&mut out, "  + ", &spec.tasks[member], &graph.deps[member]);
            }
        }
    }
    let unplaced: Vec<&str> = (0..graph.len())
        .filter(|at| !layer.contains_key(at) && graph.group_of[*at].is_none())
        .map(|at| graph.id(at))
        .collect();
    if !unplaced.is_empty() {
        let _ = writeln!(
            out,
            "\nnot placed (on or after a dependency cycle): {}",
            unplaced.join(", ")
        );
    }
    out
}

fn plural<'w>(count: usize, one: &'w str, many: &'w str) -> &'w str {
    if count == 1 { one } else { many }
}

/// Text in a double-quoted DOT string.
fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT of the graph (`dot -Tsvg`): boxes for tasks, diamonds for branches, a
/// dashed cluster per group holding the group node and its members, edges from upstream
/// to downstream tasks, branch edges labelled with their cases.
pub fn to_dot(spec: &WorkflowSpec) -> String {
    let graph = Graph::new(spec);
    let mut out = format!("digraph \"{}\" {{\n", dot_escape(&spec.name));
    out.push_str("  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    let node = |at: usize| -> String {
        let task = &spec.tasks[at];
        let mut label = format!(
            "{}\\n{}",
            dot_escape(task.id.as_str()),
            dot_escape(&describe_kind(task))
        );
        if task.trigger_rule != TriggerRule::AllSuccess {
            label.push_str(&format!("\\n[{}]", task.trigger_rule));
        }
        let shape = match task.kind {
            TaskKind::Branch(_) => ", shape=diamond",
            TaskKind::Group(_) => ", shape=box3d",
            TaskKind::Approval(_) => ", shape=hexagon",
            _ => "",
        };
        format!(
            "\"{}\" [label=\"{label}\"{shape}];",
            dot_escape(task.id.as_str())
        )
    };
    for at in 0..graph.len() {
        if graph.group_of[at].is_some() {
            continue;
        }
        if let TaskKind::Group(_) = &spec.tasks[at].kind {
            let id = dot_escape(graph.id(at));
            let _ = writeln!(out, "  subgraph \"cluster_{id}\" {{");
            let _ = writeln!(
                out,
                "    label=\"{id}: {}\";\n    style=dashed;",
                dot_escape(&describe_kind(&spec.tasks[at]))
            );
            let _ = writeln!(out, "    {}", node(at));
            for &member in &graph.members[at] {
                let _ = writeln!(out, "    {}", node(member));
            }
            out.push_str("  }\n");
        } else {
            let _ = writeln!(out, "  {}", node(at));
        }
    }
    for (at, task) in spec.tasks.iter().enumerate() {
        let labels = branch_labels(task);
        for &down in &graph.dependents[at] {
            let label = labels
                .get(graph.id(down))
                .map(|label| format!(" [label=\"{}\"]", dot_escape(label)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\"{label};",
                dot_escape(graph.id(at)),
                dot_escape(graph.id(down))
            );
        }
        for &member in &graph.members[at] {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [style=dashed, arrowhead=none];",
                dot_escape(graph.id(at)),
                dot_escape(graph.id(member))
            );
        }
    }
    out.push_str("}\n");
    out
}

/// Text in a double-quoted Mermaid label: quotes and pipes as entity codes.
fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;").replace('|', "#124;")
}

/// Mermaid `flowchart TD` of the graph: node ids are `t_<task id>` (so that ids like `end`
/// are safe), branches are rhombi, groups subgraphs holding the group node and its members,
/// branch edges labelled with their cases.
pub fn to_mermaid(spec: &WorkflowSpec) -> String {
    let graph = Graph::new(spec);
    let node_id = |at: usize| format!("t_{}", mermaid_id(graph.id(at)));
    let node = |at: usize| -> String {
        let task = &spec.tasks[at];
        let mut label = format!(
            "{}<br/>{}",
            mermaid_escape(task.id.as_str()),
            mermaid_escape(&describe_kind(task))
        );
        if task.trigger_rule != TriggerRule::AllSuccess {
            label.push_str(&format!("<br/>[{}]", task.trigger_rule));
        }
        let (open, close) = match task.kind {
            TaskKind::Branch(_) => ("{\"", "\"}"),
            TaskKind::Group(_) => ("[[\"", "\"]]"),
            TaskKind::Approval(_) => ("{{\"", "\"}}"),
            _ => ("[\"", "\"]"),
        };
        format!("{}{open}{label}{close}", node_id(at))
    };
    let mut out = String::from("flowchart TD\n");
    for at in 0..graph.len() {
        if graph.group_of[at].is_some() {
            continue;
        }
        if let TaskKind::Group(_) = &spec.tasks[at].kind {
            let _ = writeln!(
                out,
                "  subgraph g_{}[\"{}: {}\"]",
                mermaid_id(graph.id(at)),
                mermaid_escape(graph.id(at)),
                mermaid_escape(&describe_kind(&spec.tasks[at]))
            );
            let _ = writeln!(out, "    {}", node(at));
            for &member in &graph.members[at] {
                let _ = writeln!(out, "    {}", node(member));
            }
            out.push_str("  end\n");
        } else {
            let _ = writeln!(out, "  {}", node(at));
        }
    }
    for (at, task) in spec.tasks.iter().enumerate() {
        let labels = branch_labels(task);
        for &down in &graph.dependents[at] {
            match labels.get(graph.id(down)) {
                Some(label) => {
                    let _ = writeln!(
                        out,
                        "  {} -->|\"{}\"| {}",
                        node_id(at),
                        mermaid_escape(label),
                        node_id(down)
                    );
                }
                None => {
                    let _ = writeln!(out, "  {} --> {}", node_id(at), node_id(down));
                }
            }
        }
        for &member in &graph.members[at] {
            let _ = writeln!(out, "  {} -.- {}", node_id(at), node_id(member));
        }
    }
    out
}

/// A task id as a Mermaid node id: ASCII letters, digits and `_`, others as `_`.
fn mermaid_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
