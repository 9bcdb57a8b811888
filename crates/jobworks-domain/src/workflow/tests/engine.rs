//! Engine decisions: each case is a workflow, the states (and outputs) of its task
//! instances, and the exact actions `next_actions` returns.

use super::fixtures::compact;
use crate::params::ParamValue;
use crate::workflow::{
    Action, ClearError, TaskId, TaskInstanceState, TaskState, WorkflowSpec, clear_task,
    next_actions, rerun_failed, rerun_from,
};
use std::collections::{BTreeMap, BTreeSet};

/// `a=succeeded b=failed:3` → states (`:3` is the exit code).
fn states(text: &str) -> BTreeMap<TaskId, TaskInstanceState> {
    text.split_whitespace()
        .map(|pair| {
            let (id, state) = pair.split_once('=').expect("id=state");
            let (state, code) = match state.split_once(':') {
                Some((state, code)) => (state, Some(code.parse::<i32>().expect("an exit code"))),
                None => (state, None),
            };
            let state: TaskState = state.parse().expect("a task state name");
            (
                TaskId::from(id),
                TaskInstanceState {
                    state,
                    exit_code: code,
                },
            )
        })
        .collect()
}

/// `check.rows=10 check.status=fresh` → outputs.
fn outputs(text: &str) -> BTreeMap<TaskId, BTreeMap<String, String>> {
    let mut outputs: BTreeMap<TaskId, BTreeMap<String, String>> = BTreeMap::new();
    for pair in text.split_whitespace() {
        let (key, value) = pair.split_once('=').expect("task.name=value");
        let (task, name) = key.split_once('.').expect("task.name");
        outputs
            .entry(TaskId::from(task))
            .or_default()
            .insert(name.to_owned(), value.to_owned());
    }
    outputs
}

fn params() -> BTreeMap<String, ParamValue> {
    BTreeMap::from([
        ("env".to_owned(), ParamValue::String("prod".into())),
        ("limit".to_owned(), ParamValue::Int(100)),
    ])
}

/// One action per line: `start a`, `skip b: reason`, `upstream_failed c`,
/// `cancel d: reason`, `complete e succeeded: reason`, `finish failed: reason`.
pub(crate) fn render(actions: &[Action]) -> String {
    actions
        .iter()
        .map(|action| match action {
            Action::StartTask(id) => format!("start {id}"),
            Action::Skip(id, reason) => format!("skip {id}: {reason}"),
            Action::MarkUpstreamFailed(id) => format!("upstream_failed {id}"),
            Action::CancelTask(id, reason) => format!("cancel {id}: {reason}"),
            Action::Complete(id, state, reason) => format!("complete {id} {state}: {reason}"),
            Action::Finish(outcome) => format!("finish {}: {outcome}", outcome.run_state()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn check(spec: &WorkflowSpec, states_text: &str, outputs_text: &str, expected: &str) {
    let got = render(&next_actions(
        spec,
        &states(states_text),
        &outputs(outputs_text),
        &params(),
    ));
    let expected = expected.strip_prefix('\n').unwrap_or(expected).trim_end();
    assert_eq!(
        got, expected,
        "\nstates: {states_text}\noutputs: {outputs_text}\n"
    );
}

#[test]
fn roots_start_and_chains_wait() {
    let spec = compact(
        "
        a:
        b:
        c: depends_on = [\"a\", \"b\"]
        d: depends_on = [\"c\"]
        ",
    );
    check(&spec, "", "", "start a\nstart b");
    check(&spec, "a=running b=queued", "", "");
    check(&spec, "a=succeeded b=running", "", "");
    check(&spec, "a=succeeded b=succeeded", "", "start c");
    check(
        &spec,
        "a=succeeded b=succeeded c=succeeded d=succeeded",
        "",
        "finish succeeded: every leaf task succeeded or was skipped",
    );
}

#[test]
fn upstream_failed_propagates_and_handlers_run() {
    let spec = compact(
        "
        extract:
        load: depends_on = [\"extract\"]
        report: depends_on = [\"load\"]
        alert: depends_on = [\"extract\", \"load\"]; trigger_rule = \"one_failed\"
        cleanup: depends_on = [\"report\"]; trigger_rule = \"all_done\"
        ",
    );
    // One failure decides the whole chain below it in one call; the handler starts at once.
    check(
        &spec,
        "extract=failed:1",
        "",
        "
upstream_failed load
upstream_failed report
start alert
start cleanup",
    );
    // Leaves decide the run: the failure was handled by an all_done leaf, but `report`
    // (upstream_failed) is no leaf... `cleanup` and `alert` are; both succeeded.
    check(
        &spec,
        "extract=failed:1 load=upstream_failed report=upstream_failed alert=succeeded cleanup=succeeded",
        "",
        "finish succeeded: every leaf task succeeded or was skipped",
    );
    check(
        &spec,
        "extract=succeeded load=timed_out report=upstream_failed alert=failed cleanup=succeeded",
        "",
        "finish failed: leaf tasks failed: alert",
    );
    // Nothing failed: the one_failed handler is skipped.
    check(
        &spec,
        "extract=succeeded load=succeeded report=succeeded",
        "",
        "
skip alert: trigger rule one_failed: no upstream task failed
start cleanup",
    );
}

#[test]
fn branch_by_exit_code_skips_what_it_did_not_choose() {
    let spec = compact(
        r#"
        check:
        route: depends_on = ["check"]; trigger_rule = "all_done"; branch = { default = ["alert"], case = [{ exit_code = 0, then = ["load"] }, { exit_code = [3, 4], then = ["notify"] }] }
        load: depends_on = ["route"]
        notify: depends_on = ["route"]
        alert: depends_on = ["route"]
        after_load: depends_on = ["load"]
        join: depends_on = ["load", "notify"]; trigger_rule = "none_failed_min_one_success"
        "#,
    );
    // Exit code 3 (the check failed): route decides on failures by its all_done rule.
    check(
        &spec,
        "check=failed:3",
        "",
        "
complete route succeeded: case 2 chose notify
skip load: not chosen by branch `route`
start notify
skip alert: not chosen by branch `route`
skip after_load: trigger rule all_success: upstream `load` was skipped",
    );
    check(
        &spec,
        "check=failed:3 route=succeeded load=skipped notify=succeeded alert=skipped after_load=skipped",
        "",
        "
start join",
    );
    check(
        &spec,
        "check=failed:3 route=succeeded load=skipped notify=succeeded alert=skipped after_load=skipped join=succeeded",
        "",
        "finish succeeded: every leaf task succeeded or was skipped",
    );
    // Exit code 0 and an unknown code (default).
    check(
        &spec,
        "check=succeeded:0",
        "",
        "
complete route succeeded: case 1 chose load
start load
skip notify: not chosen by branch `route`
skip alert: not chosen by branch `route`",
    );
    check(
        &spec,
        "check=failed:9",
        "",
        "
complete route succeeded: no case matched: default chose alert
skip load: not chosen by branch `route`
skip notify: not chosen by branch `route`
start alert
skip after_load: trigger rule all_success: upstream `load` was skipped
skip join: trigger rule none_failed_min_one_success: all upstream tasks were skipped",
    );
    // The choice is derived again on later calls: nothing is repeated, nothing forgotten.
    check(
        &spec,
        "check=failed:9 route=succeeded",
        "",
        "
skip load: not chosen by branch `route`
skip notify: not chosen by branch `route`
start alert
skip after_load: trigger rule all_success: upstream `load` was skipped
skip join: trigger rule none_failed_min_one_success: all upstream tasks were skipped",
    );
}

#[test]
fn branch_by_output_and_expression() {
    let by_output = compact(
        r#"
        check:
        route: depends_on = ["check"]; branch = { case = [{ output = "status", equals = ["stale", "old"], then = ["refresh"] }], default = ["load"] }
        refresh: depends_on = ["route"]
        load: depends_on = ["route"]
        "#,
    );
    check(
        &by_output,
        "check=succeeded:0",
        "check.status=old",
        "
complete route succeeded: case 1 chose refresh
start refresh
skip load: not chosen by branch `route`",
    );
    check(
        &by_output,
        "check=succeeded:0",
        "check.status=fresh",
        "
complete route succeeded: no case matched: default chose load
skip refresh: not chosen by branch `route`
start load",
    );
    let by_expr = compact(
        r#"
        extract:
        route: depends_on = ["extract"]; branch = { case = [{ when = "int(tasks.extract.outputs.rows) > params.limit && params.env == 'prod'", then = ["big"] }], default = ["small"] }
        big: depends_on = ["route"]
        small: depends_on = ["route"]
        [workflow.params.env]
        type = "string"
        [workflow.params.limit]
        type = "int"
        "#,
    );
    check(
        &by_expr,
        "extract=succeeded:0",
        "extract.rows=500",
        "
complete route succeeded: case 1 chose big
start big
skip small: not chosen by branch `route`",
    );
    check(
        &by_expr,
        "extract=succeeded:0",
        "extract.rows=5",
        "
complete route succeeded: no case matched: default chose small
skip big: not chosen by branch `route`
start small",
    );
    // An expression that cannot be evaluated fails the branch; its targets are
    // upstream_failed and so is the run.
    check(
        &by_expr,
        "extract=succeeded:0",
        "",
        "
complete route failed: case 1: no such key `rows`
upstream_failed big
upstream_failed small
finish failed: leaf tasks failed: big, small",
    );
    // A branch whose upstream failed does not decide (all_success): everything below is
    // upstream_failed.
    check(
        &by_expr,
        "extract=failed:1",
        "",
        "
upstream_failed route
upstream_failed big
upstream_failed small
finish failed: leaf tasks failed: big, small",
    );
}

#[test]
fn group_all_with_parallelism() {
    let spec = compact(
        r#"
        extract:
        shards: depends_on = ["extract"]; group = { tasks = ["s1", "s2", "s3", "s4"], max_parallelism = 2 }
        s1:
        s2:
        s3:
        s4:
        report: depends_on = ["shards"]
        "#,
    );
    check(&spec, "", "", "start extract");
    check(
        &spec,
        "extract=succeeded",
        "",
        "start shards\nstart s1\nstart s2",
    );
    check(
        &spec,
        "extract=succeeded shards=running s1=running s2=queued",
        "",
        "",
    );
    check(
        &spec,
        "extract=succeeded shards=running s1=succeeded s2=running",
        "",
        "start s3",
    );
    check(
        &spec,
        "extract=succeeded shards=running s1=succeeded s2=succeeded s3=succeeded s4=succeeded",
        "",
        "
complete shards succeeded: all 4 members succeeded
start report",
    );
    // A failure decides the group at once: members not started are skipped, running ones
    // finish, what follows is upstream_failed.
    check(
        &spec,
        "extract=succeeded shards=running s1=failed s2=running",
        "",
        "
complete shards failed: member `s1` failed
skip s3: group `shards` already failed
skip s4: group `shards` already failed
upstream_failed report",
    );
    check(
        &spec,
        "extract=succeeded shards=failed s1=failed s2=succeeded s3=skipped s4=skipped report=upstream_failed",
        "",
        "finish failed: leaf tasks failed: report",
    );
    // A skipped group skips its members.
    let skipped = compact(
        r#"
        check:
        route: depends_on = ["check"]; branch = { case = [{ exit_code = 0, then = ["other"] }], default = ["shards"] }
        other: depends_on = ["route"]
        shards: depends_on = ["route"]; group = { tasks = ["s1"] }
        s1:
        "#,
    );
    check(
        &skipped,
        "check=succeeded:0",
        "",
        "
complete route succeeded: case 1 chose other
start other
skip shards: not chosen by branch `route`
skip s1: group `shards` was skipped",
    );
}

#[test]
fn group_any_cancels_the_rest() {
    let spec = compact(
        r#"
        mirrors: group = { tasks = ["m1", "m2", "m3", "m4"], policy = "any", max_parallelism = 3 }
        m1:
        m2:
        m3:
        m4:
        use: depends_on = ["mirrors"]
        "#,
    );
    check(&spec, "", "", "start mirrors\nstart m1\nstart m2\nstart m3");
    // A failure does not decide `any`: the next member starts.
    check(
        &spec,
        "mirrors=running m1=failed m2=running m3=running",
        "",
        "start m4",
    );
    check(
        &spec,
        "mirrors=running m1=failed m2=running m3=succeeded m4=waiting_approval",
        "",
        "
complete mirrors succeeded: member `m3` succeeded
cancel m2: group `mirrors` already succeeded (policy any)
cancel m4: group `mirrors` already succeeded (policy any)
start use",
    );
    // Until they have stopped, the cancels are repeated; the run waits for them.
    check(
        &spec,
        "mirrors=succeeded m1=failed m2=running m3=succeeded m4=cancelled use=succeeded",
        "",
        "cancel m2: group `mirrors` already succeeded (policy any)",
    );
    // Cancelled members are not leaves: the run succeeded.
    check(
        &spec,
        "mirrors=succeeded m1=failed m2=cancelled m3=succeeded m4=cancelled use=succeeded",
        "",
        "finish succeeded: every leaf task succeeded or was skipped",
    );
    // Members not started yet are skipped rather than cancelled.
    check(
        &spec,
        "mirrors=running m1=succeeded m2=running",
        "",
        "
complete mirrors succeeded: member `m1` succeeded
cancel m2: group `mirrors` already succeeded (policy any)
skip m3: group `mirrors` already succeeded
skip m4: group `mirrors` already succeeded
start use",
    );
    check(
        &spec,
        "mirrors=running m1=failed m2=timed_out m3=cancelled m4=failed",
        "",
        "
complete mirrors failed: none of the 4 members succeeded
upstream_failed use
finish failed: leaf tasks failed: use",
    );
}

#[test]
fn group_ratio() {
    let spec = compact(
        r#"
        shards: group = { tasks = ["s1", "s2", "s3", "s4", "s5"], policy = "ratio", min_success_percent = 60 }
        s1:
        s2:
        s3:
        s4:
        s5:
        "#,
    );
    check(
        &spec,
        "shards=running s1=succeeded s2=failed s3=succeeded s4=running s5=running",
        "",
        "",
    );
    check(
        &spec,
        "shards=running s1=succeeded s2=failed s3=succeeded s4=running s5=succeeded",
        "",
        "complete shards succeeded: 3 of 5 members succeeded, 60% needs 3",
    );
    check(
        &spec,
        "shards=succeeded s1=succeeded s2=failed s3=succeeded s4=succeeded s5=succeeded",
        "",
        "finish succeeded: every leaf task succeeded or was skipped",
    );
    check(
        &spec,
        "shards=running s1=failed s2=failed s3=failed s4=running s5=running",
        "",
        "complete shards failed: at most 2 of 5 members can succeed, 60% needs 3",
    );
    check(
        &spec,
        "shards=failed s1=failed s2=failed s3=failed s4=succeeded s5=succeeded",
        "",
        "finish failed: leaf tasks failed: shards",
    );
}

#[test]
fn approvals_calls_and_cancelled_runs() {
    let spec = compact(
        r#"
        gate: approval = { timeout = "1h", default_outcome = "approve" }
        deploy: depends_on = ["gate"]; job = "deploy"
        sub: depends_on = ["deploy"]; workflow = "verify"
        "#,
    );
    check(&spec, "", "", "start gate");
    check(&spec, "gate=waiting_approval", "", "");
    check(&spec, "gate=succeeded", "", "start deploy");
    check(&spec, "gate=succeeded deploy=succeeded", "", "start sub");
    check(
        &spec,
        "gate=failed",
        "",
        "upstream_failed deploy\nupstream_failed sub\nfinish failed: leaf tasks failed: sub",
    );
    check(
        &spec,
        "gate=succeeded deploy=succeeded sub=cancelled",
        "",
        "finish cancelled: leaf tasks were cancelled: sub",
    );
    let crate::workflow::TaskKind::Approval(approval) = &spec.tasks[0].kind else {
        panic!("gate is an approval");
    };
    assert_eq!(approval.timeout_state(), TaskState::Succeeded);
}

#[test]
fn invalid_specs_finish_instead_of_panicking() {
    let mut spec = compact("a:\nb: depends_on = [\"a\"]");
    spec.tasks[0].depends_on.push(TaskId::from("b"));
    check(
        &spec,
        "",
        "",
        "finish failed: invalid workflow: the task graph has a cycle",
    );
    spec.tasks[0].depends_on = vec![TaskId::from("nope")];
    check(
        &spec,
        "",
        "",
        "finish failed: invalid workflow: task `a` refers to unknown task `nope`",
    );
    spec.tasks[1].id = TaskId::from("a");
    spec.tasks[0].depends_on.clear();
    check(
        &spec,
        "",
        "",
        "finish failed: invalid workflow: duplicate task id `a`",
    );
    let empty = WorkflowSpec {
        tasks: Vec::new(),
        ..compact("a:")
    };
    check(
        &empty,
        "",
        "",
        "finish succeeded: every leaf task succeeded or was skipped",
    );
}

fn ids(set: &BTreeSet<TaskId>) -> String {
    set.iter().map(TaskId::as_str).collect::<Vec<_>>().join(" ")
}

#[test]
fn clearing_and_rerunning() {
    let spec = compact(
        r#"
        extract:
        check: depends_on = ["extract"]
        route: depends_on = ["check"]; branch = { case = [{ exit_code = 0, then = ["load"] }], default = ["alert"] }
        load: depends_on = ["route"]
        alert: depends_on = ["route"]
        shards: depends_on = ["load"]; group = { tasks = ["s1", "s2"] }
        s1:
        s2:
        report: depends_on = ["shards"]
        cleanup: depends_on = ["report"]; trigger_rule = "all_done"
        other:
        "#,
    );
    let clear = |id: &str| clear_task(&spec, id).map(|set| ids(&set));
    let cases = [
        (
            "extract",
            "alert check cleanup extract load report route s1 s2 shards",
        ),
        ("load", "cleanup load report s1 s2 shards"),
        // Clearing a member re-opens its group and what follows, not the other members.
        ("s2", "cleanup report s2 shards"),
        ("shards", "cleanup report s1 s2 shards"),
        ("other", "other"),
    ];
    for (id, want) in cases {
        assert_eq!(clear(id), Ok(want.to_owned()), "clear {id}");
    }
    assert_eq!(clear("nope"), Err(ClearError::UnknownTask("nope".into())));

    // Rerun the failed tasks (no --from), from a failed member: succeeded work downstream
    // is kept, the group and the tasks that did not succeed are cleared.
    let run = states(
        "extract=succeeded check=succeeded:0 route=succeeded load=succeeded alert=skipped \
         shards=failed s1=succeeded s2=failed report=upstream_failed cleanup=succeeded other=succeeded",
    );
    assert_eq!(
        rerun_failed(&spec, &run, "s2").map(|set| ids(&set)),
        Ok("report s2 shards".to_owned())
    );
    let run = states(
        "extract=succeeded check=failed:1 route=upstream_failed load=upstream_failed \
         alert=upstream_failed shards=upstream_failed s1=upstream_failed s2=upstream_failed \
         report=upstream_failed cleanup=succeeded other=succeeded",
    );
    assert_eq!(
        rerun_failed(&spec, &run, "check").map(|set| ids(&set)),
        Ok("alert check load report route s1 s2 shards".to_owned())
    );
    assert_eq!(
        rerun_failed(&spec, &run, "extract").map_err(|error| error.to_string()),
        Err(
            "task `extract` is succeeded: only tasks that ended without succeeding are rerun \
             as failed; rerun from it (--from) to run it and everything after it again"
                .into()
        )
    );
    assert_eq!(
        rerun_failed(&spec, &states("extract=running"), "extract")
            .map_err(|error| error.to_string()),
        Err("task `extract` is running: rerun from a task that has ended".into())
    );
}

/// `rerun --from TASK` is Airflow's clear-downstream: the task and everything after it,
/// succeeded tasks included, from a task that ended in any way; what is not downstream is
/// kept.
#[test]
fn rerun_from_clears_the_task_and_everything_downstream() {
    let spec = compact(
        r#"
        extract:
        check: depends_on = ["extract"]
        route: depends_on = ["check"]; branch = { case = [{ exit_code = 0, then = ["load"] }], default = ["alert"] }
        load: depends_on = ["route"]
        alert: depends_on = ["route"]
        shards: depends_on = ["load"]; group = { tasks = ["s1", "s2"] }
        s1:
        s2:
        report: depends_on = ["shards"]
        cleanup: depends_on = ["report"]; trigger_rule = "all_done"
        other:
        "#,
    );
    let succeeded = states(
        "extract=succeeded check=succeeded:0 route=succeeded load=succeeded alert=skipped \
         shards=succeeded s1=succeeded s2=succeeded report=succeeded cleanup=succeeded \
         other=failed",
    );
    let failed_member = states(
        "extract=succeeded check=succeeded:0 route=succeeded load=succeeded alert=skipped \
         shards=failed s1=succeeded s2=failed report=upstream_failed cleanup=succeeded \
         other=succeeded",
    );
    let cases = [
        // A task that succeeded, in a run that succeeded but for an unrelated task.
        (
            &succeeded,
            "check",
            Ok("alert check cleanup load report route s1 s2 shards"),
        ),
        (&succeeded, "report", Ok("cleanup report")),
        // A member: its group and what follows, not the other member.
        (&succeeded, "s1", Ok("cleanup report s1 shards")),
        // A skipped task, and a failed one.
        (&succeeded, "alert", Ok("alert")),
        (&succeeded, "other", Ok("other")),
        // Succeeded downstream tasks are rerun too (`cleanup` here).
        (&failed_member, "s2", Ok("cleanup report s2 shards")),
        (
            &states("extract=succeeded check=running"),
            "check",
            Err("task `check` is running: rerun from a task that has ended"),
        ),
        (
            &states("extract=succeeded"),
            "check",
            Err("task `check` is pending: rerun from a task that has ended"),
        ),
        (&succeeded, "nope", Err("unknown task `nope`")),
    ];
    for (run, task, want) in cases {
        assert_eq!(
            rerun_from(&spec, run, task)
                .map(|set| ids(&set))
                .map_err(|error| error.to_string()),
            want.map(str::to_owned).map_err(str::to_owned),
            "rerun --from {task}"
        );
    }
}

/// Arbitrary states of the 20-task workflow (consistent or not): `next_actions` never
/// panics, acts only on tasks that may change (starts, skips and upstream_failed marks only
/// pending tasks; completes only branches and started groups; cancels only active
/// instances), and once its actions are applied, calling again never starts them twice.
#[test]
fn arbitrary_states_never_panic_and_actions_are_consistent() {
    let spec = super::simulation::nightly();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let params = BTreeMap::from([("big".to_owned(), ParamValue::Int(10))]);
    let outputs = outputs("validate.rows=12");
    for _ in 0..2_000 {
        let mut run: BTreeMap<TaskId, TaskInstanceState> = BTreeMap::new();
        for task in &spec.tasks {
            let roll = next();
            if roll % 3 == 0 {
                continue; // pending
            }
            let state = TaskState::ALL[usize::try_from((roll >> 8) % 10).expect("small")];
            let exit_code = (roll >> 16) % 2 == 0;
            run.insert(
                task.id.clone(),
                TaskInstanceState {
                    state,
                    exit_code: exit_code.then_some(i32::try_from((roll >> 20) % 5).expect("small")),
                },
            );
        }
        let actions = next_actions(&spec, &run, &outputs, &params);
        let before = |id: &TaskId| run.get(id).map(|state| state.state).unwrap_or_default();
        let mut applied = run.clone();
        for action in &actions {
            match action {
                Action::StartTask(id) => {
                    let kind = &spec.task(id.as_str()).expect("a known task").kind;
                    assert_eq!(before(id), TaskState::Pending, "start {id} in {run:?}");
                    let state = match kind {
                        crate::workflow::TaskKind::Group(_) => TaskState::Running,
                        _ => TaskState::Queued,
                    };
                    applied.insert(id.clone(), TaskInstanceState::new(state));
                }
                Action::Skip(id, _) | Action::MarkUpstreamFailed(id) => {
                    assert_eq!(before(id), TaskState::Pending, "{action:?} in {run:?}");
                    let state = if matches!(action, Action::Skip(..)) {
                        TaskState::Skipped
                    } else {
                        TaskState::UpstreamFailed
                    };
                    applied.insert(id.clone(), TaskInstanceState::new(state));
                }
                Action::Complete(id, state, _) => {
                    let kind = &spec.task(id.as_str()).expect("a known task").kind;
                    match kind {
                        crate::workflow::TaskKind::Branch(_) => {
                            assert_eq!(before(id), TaskState::Pending, "{action:?}");
                        }
                        crate::workflow::TaskKind::Group(_) => assert!(
                            matches!(
                                before(id),
                                TaskState::Pending | TaskState::Queued | TaskState::Running
                            ),
                            "{action:?} in {run:?}"
                        ),
                        _ => panic!("complete on a task that runs: {action:?}"),
                    }
                    applied.insert(id.clone(), TaskInstanceState::new(*state));
                }
                Action::CancelTask(id, _) => {
                    assert!(before(id).is_active(), "{action:?} in {run:?}");
                }
                Action::Finish(_) => {
                    assert!(
                        applied.len() == spec.tasks.len()
                            && applied.values().all(|state| state.state.is_terminal()),
                        "finish with unfinished tasks: {run:?}"
                    );
                }
            }
        }
        if actions
            .iter()
            .any(|action| matches!(action, Action::Finish(_)))
        {
            continue;
        }
        for action in next_actions(&spec, &applied, &outputs, &params) {
            assert!(
                !matches!(
                    action,
                    Action::StartTask(_)
                        | Action::Skip(..)
                        | Action::MarkUpstreamFailed(_)
                        | Action::Complete(..)
                ),
                "{action:?} repeated after applying {actions:?} to {run:?}"
            );
        }
    }
}
