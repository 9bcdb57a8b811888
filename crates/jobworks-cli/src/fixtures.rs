//! Wire values for unit tests of rendering code.

use chrono::{DateTime, Utc};
use jobworks_protocol::{RunView, TaskInstanceView};
use std::collections::BTreeMap;

/// An RFC 3339 instant.
pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("test instant")
}

/// A shell task instance with one attempt once started; its duration is its end minus its
/// start when both are given.
pub fn task(id: &str, state: &str, started: Option<&str>, ended: Option<&str>) -> TaskInstanceView {
    let started_at = started.map(at);
    let ended_at = ended.map(at);
    TaskInstanceView {
        task: id.into(),
        kind: "shell".into(),
        state: state.into(),
        depends_on: Vec::new(),
        attempts: i64::from(started.is_some()),
        queued_at: started_at,
        started_at,
        ended_at,
        duration_ms: match (started_at, ended_at) {
            (Some(start), Some(end)) => Some((end - start).num_milliseconds()),
            _ => None,
        },
        reason: None,
        exit_code: None,
        outputs: BTreeMap::new(),
        child_run_id: None,
        approval: None,
        progress: None,
        checkpoint: None,
        placed_agent: None,
        wait_reason: None,
    }
}

/// A manual run of workflow `etl` (version 2) started at 11:00:00 UTC.
pub fn workflow_run(id: i64, state: &str, ended: Option<&str>) -> RunView {
    let started_at = at("2026-03-08T11:00:00Z");
    let ended_at = ended.map(at);
    RunView {
        id,
        kind: "workflow".into(),
        job: "etl".into(),
        job_version: 2,
        state: state.into(),
        parent_run_id: None,
        parent_task: None,
        trigger: "manual".into(),
        triggered_by: "token:alice".into(),
        scheduled_at: None,
        queued_at: started_at,
        started_at: Some(started_at),
        ended_at,
        duration_ms: ended_at.map(|end| (end - started_at).num_milliseconds()),
        attempts: 0,
        not_before: None,
        reason: None,
        params: serde_json::json!({}),
    }
}
