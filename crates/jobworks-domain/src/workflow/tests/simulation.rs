//! A 20-task workflow run from start to finish: `next_actions` in a loop, a scripted
//! runtime applying its actions and finishing one running task per step (the oldest), until
//! the run finishes. The whole trace is a snapshot.

use super::engine::render;
use super::fixtures::compact;
use crate::params::ParamValue;
use crate::workflow::{
    Action, RunOutcome, TaskId, TaskInstanceState, TaskKind, TaskState, WorkflowSpec, next_actions,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// 20 tasks: inline tasks, a job call, a sub-workflow, an approval, a branch on an exit
/// code, a branch on an expression, an `any` group with parallelism 2, a `ratio` group,
/// joins after branches and an `all_done` cleanup.
pub(super) fn nightly() -> WorkflowSpec {
    compact(
        r#"
        extract:
        validate: depends_on = ["extract"]; type = "python"; script = "print('::set-output rows=1500')"
        route: depends_on = ["validate"]; trigger_rule = "all_done"; branch = { default = ["alert"], case = [{ exit_code = 0, then = ["gate", "stats"] }, { exit_code = 3, then = ["quarantine"] }] }
        gate: depends_on = ["route"]; approval = { timeout = "4h" }
        quarantine: depends_on = ["route"]
        alert: depends_on = ["route"]; job = "notify"; params = { text = "validate exited ${tasks.validate.exit_code}" }
        stats: depends_on = ["route"]
        size_route: depends_on = ["gate"]; branch = { case = [{ when = "int(tasks.validate.outputs.rows) > params.big", then = ["load_big"] }], default = ["load_small"] }
        load_big: depends_on = ["size_route"]; group = { tasks = ["mirror_a", "mirror_b", "mirror_c"], policy = "any", max_parallelism = 2 }
        mirror_a:
        mirror_b:
        mirror_c:
        load_small: depends_on = ["size_route"]
        shards: depends_on = ["load_big", "load_small"]; trigger_rule = "none_failed_min_one_success"; group = { tasks = ["shard_1", "shard_2", "shard_3"], policy = "ratio", min_success_percent = 60 }
        shard_1:
        shard_2:
        shard_3:
        publish: depends_on = ["shards", "stats"]; workflow = "publish-reports"
        report: depends_on = ["publish", "quarantine", "alert"]; trigger_rule = "none_failed_min_one_success"
        cleanup: depends_on = ["report"]; trigger_rule = "all_done"
        [workflow.params.big]
        type = "int"
        "#,
    )
}

/// How each task that runs ends: (state, exit code, outputs); unlisted tasks succeed with
/// exit code 0 and no outputs.
type Script = BTreeMap<
    &'static str,
    (
        TaskState,
        Option<i32>,
        &'static [(&'static str, &'static str)],
    ),
>;

/// Runs `spec` to its end; returns the trace, the final states and the outcome.
fn simulate(
    spec: &WorkflowSpec,
    script: &Script,
    params: &BTreeMap<String, ParamValue>,
) -> (String, BTreeMap<TaskId, TaskInstanceState>, RunOutcome) {
    let mut states: BTreeMap<TaskId, TaskInstanceState> = BTreeMap::new();
    let mut outputs: BTreeMap<TaskId, BTreeMap<String, String>> = BTreeMap::new();
    let mut running: VecDeque<TaskId> = VecDeque::new();
    let mut started: BTreeSet<TaskId> = BTreeSet::new();
    let mut trace = Vec::new();
    let is_group = |id: &TaskId| {
        matches!(
            spec.task(id.as_str()).map(|task| &task.kind),
            Some(TaskKind::Group(_))
        )
    };
    for step in 1..=200 {
        let actions = next_actions(spec, &states, &outputs, params);
        trace.push(format!("-- step {step}"));
        if !actions.is_empty() {
            trace.push(render(&actions));
        }
        for action in &actions {
            match action {
                Action::StartTask(id) => {
                    assert!(started.insert(id.clone()), "{id} started twice");
                    let state = match spec.task(id.as_str()).map(|task| &task.kind) {
                        Some(TaskKind::Group(_)) => TaskState::Running,
                        Some(TaskKind::Approval(_)) => TaskState::WaitingApproval,
                        _ => TaskState::Queued,
                    };
                    states.insert(id.clone(), TaskInstanceState::new(state));
                    if !is_group(id) {
                        running.push_back(id.clone());
                    }
                }
                Action::Skip(id, _) => {
                    states.insert(id.clone(), TaskInstanceState::new(TaskState::Skipped));
                }
                Action::MarkUpstreamFailed(id) => {
                    states.insert(
                        id.clone(),
                        TaskInstanceState::new(TaskState::UpstreamFailed),
                    );
                }
                Action::Complete(id, state, _) => {
                    states.insert(id.clone(), TaskInstanceState::new(*state));
                }
                Action::CancelTask(id, _) => {
                    // The runtime stops it; it reports cancelled on a later step.
                    trace.push(format!("   (runtime: {id} stops)"));
                    running.retain(|running| running != id);
                    states.insert(id.clone(), TaskInstanceState::new(TaskState::Cancelled));
                }
                Action::Finish(outcome) => return (trace.join("\n"), states, outcome.clone()),
            }
        }
        // Group parallelism holds at every step.
        for task in &spec.tasks {
            if let TaskKind::Group(group) = &task.kind
                && let Some(max) = group.max_parallelism
            {
                let active = group
                    .tasks
                    .iter()
                    .filter(|member| states.get(*member).is_some_and(|s| s.state.is_active()))
                    .count();
                assert!(active <= max as usize, "{} runs {active} members", task.id);
            }
        }
        let Some(id) = running.pop_front() else {
            panic!(
                "stuck: nothing runs and the run did not finish\n{}",
                trace.join("\n")
            );
        };
        let (state, exit_code, published) =
            script
                .get(id.as_str())
                .copied()
                .unwrap_or((TaskState::Succeeded, Some(0), &[]));
        let exit_code = match spec.task(id.as_str()).map(|task| &task.kind) {
            Some(TaskKind::Inline { .. }) => exit_code,
            _ => None,
        };
        states.insert(id.clone(), TaskInstanceState { state, exit_code });
        for (name, value) in published {
            outputs
                .entry(id.clone())
                .or_default()
                .insert((*name).to_owned(), (*value).to_owned());
        }
        let code = exit_code
            .map(|code| format!(" (exit {code})"))
            .unwrap_or_default();
        trace.push(format!("   (runtime: {id} {state}{code})"));
    }
    panic!("the run did not finish in 200 steps\n{}", trace.join("\n"));
}

fn final_states(states: &BTreeMap<TaskId, TaskInstanceState>) -> String {
    states
        .iter()
        .map(|(id, state)| format!("{id}={}", state.state))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn twenty_task_run_big_load() {
    let spec = nightly();
    assert_eq!(spec.tasks.len(), 20);
    let script: Script = BTreeMap::from([
        (
            "validate",
            (TaskState::Succeeded, Some(0), &[("rows", "1500")][..]),
        ),
        ("mirror_a", (TaskState::Failed, Some(1), &[][..])),
        ("shard_2", (TaskState::TimedOut, None, &[][..])),
    ]);
    let params = BTreeMap::from([("big".to_owned(), ParamValue::Int(1000))]);
    let (trace, states, outcome) = simulate(&spec, &script, &params);
    assert_eq!(outcome, RunOutcome::Succeeded, "{trace}");
    assert_eq!(
        final_states(&states),
        "alert=skipped cleanup=succeeded extract=succeeded gate=succeeded load_big=succeeded \
         load_small=skipped mirror_a=failed mirror_b=succeeded mirror_c=cancelled \
         publish=succeeded quarantine=skipped report=succeeded route=succeeded \
         shard_1=succeeded shard_2=timed_out shard_3=succeeded shards=succeeded \
         size_route=succeeded stats=succeeded validate=succeeded"
    );
    insta::assert_snapshot!(trace);
}

#[test]
fn twenty_task_run_quarantine() {
    let spec = nightly();
    let script: Script = BTreeMap::from([(
        "validate",
        (TaskState::Failed, Some(3), &[("rows", "12")][..]),
    )]);
    let params = BTreeMap::from([("big".to_owned(), ParamValue::Int(1000))]);
    let (trace, states, outcome) = simulate(&spec, &script, &params);
    // Only `quarantine` and the joins run; everything else is skipped by the branch.
    assert_eq!(outcome, RunOutcome::Succeeded, "{trace}");
    assert_eq!(
        final_states(&states),
        "alert=skipped cleanup=succeeded extract=succeeded gate=skipped load_big=skipped \
         load_small=skipped mirror_a=skipped mirror_b=skipped mirror_c=skipped \
         publish=skipped quarantine=succeeded report=succeeded route=succeeded \
         shard_1=skipped shard_2=skipped shard_3=skipped shards=skipped \
         size_route=skipped stats=skipped validate=failed"
    );
    insta::assert_snapshot!(trace);
}

/// A failure upstream of the `all_done` cleanup leaf does not fail the run (Airflow's
/// leaf rule); a `one_failed` watcher leaf makes it fail.
#[test]
fn twenty_task_run_failure_and_the_leaf_rule() {
    let script: Script = BTreeMap::from([
        (
            "validate",
            (TaskState::Succeeded, Some(0), &[("rows", "5")][..]),
        ),
        ("load_small", (TaskState::Failed, Some(2), &[][..])),
        // The watcher itself fails the run when it runs.
        ("watcher", (TaskState::Failed, Some(1), &[][..])),
    ]);
    let params = BTreeMap::from([("big".to_owned(), ParamValue::Int(1000))]);
    let spec = nightly();
    let (trace, states, outcome) = simulate(&spec, &script, &params);
    assert_eq!(outcome, RunOutcome::Succeeded, "{trace}");
    let state = |id: &str| states.get(id).map(|state| state.state);
    assert_eq!(state("shards"), Some(TaskState::UpstreamFailed));
    assert_eq!(state("report"), Some(TaskState::UpstreamFailed));
    assert_eq!(state("cleanup"), Some(TaskState::Succeeded));

    let mut watched = nightly();
    let watcher = compact(
        r#"
        report:
        watcher: depends_on = ["report"]; trigger_rule = "one_failed"
        "#,
    )
    .tasks
    .remove(1);
    watched.tasks.push(watcher);
    assert!(crate::workflow::check_workflow(&watched).is_empty());
    let (trace, _, outcome) = simulate(&watched, &script, &params);
    assert_eq!(
        outcome,
        RunOutcome::Failed {
            tasks: vec![TaskId::from("watcher")]
        },
        "{trace}"
    );
}
