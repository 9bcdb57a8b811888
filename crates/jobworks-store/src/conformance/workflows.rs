//! Conformance: workflow definitions: apply, versions, listing, pause, delete, and the one
//! namespace of names shared with jobs.

use super::{at, manual, queued_id, sample_spec, workflow_spec};
use crate::*;
use jobworks_domain::RunState;

/// A two-task chain `a → b` of inline shell tasks, named `name`, scheduled every minute.
pub(crate) fn chain_text(name: &str) -> String {
    format!(
        "[[workflow]]\nname = \"{name}\"\nschedule = \"* * * * *\"\n\n\
         [[workflow.task]]\nid = \"a\"\ntype = \"shell\"\nscript = \"true\"\n\n\
         [[workflow.task]]\nid = \"b\"\ndepends_on = [\"a\"]\ntype = \"shell\"\nscript = \"true\"\n"
    )
}

/// `apply_workflow` creates version 1, writes nothing for the same spec and makes version
/// 2 for a changed one (runs keep theirs); `get_workflow`, `list_workflows` and
/// `workflow_versions` read them back; a job and a workflow cannot share a name.
pub async fn workflow_definitions_are_versioned<S: Store>(store: &S) {
    let spec = workflow_spec(&chain_text("etl"));
    let first = store
        .apply_workflow(&spec, Some(at(60)), at(0))
        .await
        .expect("apply");
    assert_eq!((first.version, first.change), (1, ApplyChange::Created));
    let again = store
        .apply_workflow(&spec, Some(at(60)), at(1))
        .await
        .expect("apply again");
    assert_eq!((again.version, again.change), (1, ApplyChange::Unchanged));
    assert_eq!(again.job_id, first.job_id);
    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(&first)], at(2))
            .await
            .expect("enqueue")[0],
    );
    let mut changed = spec.clone();
    changed.description = "nightly".into();
    let second = store
        .apply_workflow(&changed, Some(at(60)), at(3))
        .await
        .expect("apply changed");
    assert_eq!((second.version, second.change), (2, ApplyChange::Updated));

    let record = store.get_workflow("etl").await.expect("get");
    assert_eq!((record.id, record.version), (first.job_id, 2));
    assert_eq!(record.spec.description, "nightly");
    assert_eq!(record.spec.tasks.len(), 2);
    assert_eq!(record.created_at, at(0));
    assert_eq!(record.updated_at, at(3));
    assert!(!record.paused);
    let versions = store.workflow_versions("etl").await.expect("versions");
    let numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1, 2], "oldest first");
    assert_eq!(versions[0].spec, spec);
    assert_eq!(versions[1].created_at, at(3));
    let detail = store.get_run(run).await.expect("run");
    assert_eq!(detail.run.job_version, 1, "a run keeps its version");
    assert_eq!(detail.run.kind, DefinitionKind::Workflow);
    let tasks: Vec<&str> = detail.tasks.iter().map(|t| t.task.as_str()).collect();
    assert_eq!(tasks, ["a", "b"], "one pending instance per task, in order");

    store
        .apply_workflow(&workflow_spec(&chain_text("alpha")), None, at(4))
        .await
        .expect("apply alpha");
    let names: Vec<String> = store
        .list_workflows()
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["alpha", "etl"], "by name");

    store
        .apply_job(&sample_spec("shared"), None, at(5))
        .await
        .expect("apply job");
    let taken = store
        .apply_workflow(&workflow_spec(&chain_text("shared")), None, at(6))
        .await;
    assert!(
        matches!(&taken, Err(StoreError::NameTaken { name, existing }) if name == "shared" && existing == "job"),
        "{taken:?}"
    );
    assert!(
        store
            .list_jobs()
            .await
            .expect("jobs")
            .iter()
            .all(|j| j.name == "shared"),
        "workflows are not listed as jobs"
    );
    assert!(matches!(
        store.get_workflow("shared").await,
        Err(StoreError::WorkflowNotFound(_))
    ));
    assert!(matches!(
        store.workflow_versions("nope").await,
        Err(StoreError::WorkflowNotFound(_))
    ));
}

/// `set_workflow_paused` stops and resumes a workflow's schedule (resume replaces
/// `next_fire_at`); `delete_workflow` removes it from listings and cancels its queued runs,
/// keeping them.
pub async fn workflow_pause_and_delete<S: Store>(store: &S) {
    let applied = store
        .apply_workflow(&workflow_spec(&chain_text("etl")), Some(at(60)), at(0))
        .await
        .expect("apply");
    let due = store.due_schedules(at(60), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].spec.kind(), DefinitionKind::Workflow);
    let paused = store
        .set_workflow_paused("etl", true, None, at(1))
        .await
        .expect("pause");
    assert!(paused.paused);
    assert!(store.get_workflow("etl").await.expect("get").paused);
    assert!(
        store
            .due_schedules(at(600), 10)
            .await
            .expect("due")
            .is_empty(),
        "a paused workflow does not fire"
    );
    let resumed = store
        .set_workflow_paused("etl", false, Some(at(300)), at(2))
        .await
        .expect("resume");
    assert!(!resumed.paused);
    assert_eq!(
        resumed.next_fire_at,
        Some(at(300)),
        "resume replaces next_fire_at"
    );
    assert_eq!(store.next_due_at().await.expect("next"), Some(at(300)));
    assert!(matches!(
        store.set_workflow_paused("nope", true, None, at(2)).await,
        Err(StoreError::WorkflowNotFound(_))
    ));

    let run = queued_id(
        &store
            .enqueue_runs(vec![manual(&applied)], at(3))
            .await
            .expect("enqueue")[0],
    );
    store.delete_workflow("etl", at(4)).await.expect("delete");
    assert!(matches!(
        store.get_workflow("etl").await,
        Err(StoreError::WorkflowNotFound(_))
    ));
    assert!(store.list_workflows().await.expect("list").is_empty());
    assert!(
        store
            .due_schedules(at(600), 10)
            .await
            .expect("due")
            .is_empty(),
        "a deleted workflow does not fire"
    );
    let detail = store.get_run(run).await.expect("the run stays");
    assert_eq!(detail.run.state, RunState::Cancelled);
    assert!(matches!(
        store.delete_workflow("etl", at(5)).await,
        Err(StoreError::WorkflowNotFound(_))
    ));
}
