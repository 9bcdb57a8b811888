//! End-to-end tests of cancelling a workflow run whose `workflow = "..."` tasks have child
//! runs: the cancel reaches every descendant run, in any state (queued behind
//! `max_active_runs`, running, waiting for approval), grandchildren included, and the
//! parent ends `cancelled` once they have. The real `jobworks` binary, a real SQLite file,
//! real processes; every wait is on the condition itself, bounded.

mod common;

use common::{TestServer, cli};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// Triggers a workflow without parameters; returns the run id.
async fn trigger(server: &TestServer, workflow: &str) -> i64 {
    server.trigger_workflow(workflow, json!({})).await
}

/// The state of task `task` in a run detail.
fn task_state(detail: &Value, task: &str) -> String {
    detail["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["task"] == task)
        .and_then(|t| t["state"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The child run of call task `task`, once it has one.
fn child_of(detail: &Value, task: &str) -> Option<i64> {
    detail["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["task"] == task)?
        .get("child_run_id")?
        .as_i64()
}

/// Polls until `check` holds for the run detail (bounded).
async fn wait_for(
    server: &TestServer,
    run: i64,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    server.wait_for_run(run, what, check).await
}

/// Waits for a task script to write its pid to `file`; returns the pid.
async fn wait_pid(file: &Path) -> i64 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `jobworks cancel RUN` through the real CLI; panics unless it succeeds.
fn cancel_with_cli(server: &TestServer, run: i64) {
    let out = cli(server)
        .args(["cancel", &run.to_string()])
        .output()
        .expect("run jobworks cancel");
    assert!(
        out.status.success(),
        "jobworks cancel {run}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until run `run` has ended and asserts it was cancelled.
async fn assert_cancelled(server: &TestServer, run: i64) -> Value {
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "cancelled", "run {run}: {detail:#}");
    detail
}

/// Waits (bounded) until process `pid` is gone.
fn assert_gone(pid: i64) {
    let deadline = Instant::now() + WAIT;
    while !common::process_gone(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} survived the cancel"
        );
    }
}

const QUEUED_CHILD: &str = r#"
[[workflow]]
name = "inner"
max_active_runs = 1

[[workflow.task]]
id = "sleep"
type = "shell"
script = 'echo $$ > "$JOBWORKS_DATA_DIR/blocker.pid"; exec sleep 300'

[[workflow]]
name = "outer"

[[workflow.task]]
id = "sub"
workflow = "inner"
"#;

/// The child run waits queued behind `max_active_runs = 1` (another run of `inner` holds
/// the slot): cancelling the parent cancels the queued child and every task of it, the
/// parent ends cancelled, and the unrelated run of `inner` keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_child_run_queued_behind_max_active_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("queued.toml", QUEUED_CHILD).await;
    let blocker = trigger(&server, "inner").await;
    let blocker_pid = wait_pid(&dir.path().join("data/blocker.pid")).await;
    let parent = trigger(&server, "outer").await;
    let detail = wait_for(&server, parent, "calling inner", |d| {
        child_of(d, "sub").is_some()
    })
    .await;
    let child = child_of(&detail, "sub").expect("child run");
    let child_detail = server.get(&format!("/api/v1/runs/{child}")).await;
    assert_eq!(child_detail["run"]["state"], "queued", "{child_detail:#}");

    cancel_with_cli(&server, parent);
    let detail = assert_cancelled(&server, parent).await;
    assert_eq!(task_state(&detail, "sub"), "cancelled", "{detail:#}");
    let child_detail = assert_cancelled(&server, child).await;
    assert_eq!(
        task_state(&child_detail, "sleep"),
        "cancelled",
        "a cancelled run keeps no pending task: {child_detail:#}"
    );
    let blocker_detail = server.get(&format!("/api/v1/runs/{blocker}")).await;
    assert_eq!(
        blocker_detail["run"]["state"], "running",
        "a run that is not a descendant is left alone: {blocker_detail:#}"
    );
    let (status, body) = server
        .post(&format!("/api/v1/runs/{blocker}/cancel"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_cancelled(&server, blocker).await;
    assert_gone(blocker_pid);
}

const APPROVAL_CHILD: &str = r#"
[[workflow]]
name = "release"

[[workflow.task]]
id = "gate"
approval = { timeout = "1h", message = "ship it?" }

[[workflow.task]]
id = "ship"
depends_on = ["gate"]
type = "shell"
script = "echo shipped"

[[workflow]]
name = "train"

[[workflow.task]]
id = "sub"
workflow = "release"
"#;

/// The child run waits for an approval: cancelling the parent cancels the child and its
/// approval, and the parent ends cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_child_run_waiting_for_approval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("approval.toml", APPROVAL_CHILD).await;
    let parent = trigger(&server, "train").await;
    let detail = wait_for(&server, parent, "calling release", |d| {
        child_of(d, "sub").is_some()
    })
    .await;
    let child = child_of(&detail, "sub").expect("child run");
    wait_for(&server, child, "waiting for approval", |d| {
        task_state(d, "gate") == "waiting_approval"
    })
    .await;

    cancel_with_cli(&server, parent);
    let detail = assert_cancelled(&server, parent).await;
    assert_eq!(task_state(&detail, "sub"), "cancelled", "{detail:#}");
    let child_detail = assert_cancelled(&server, child).await;
    assert_eq!(task_state(&child_detail, "gate"), "cancelled");
    assert_eq!(task_state(&child_detail, "ship"), "cancelled");
}

const RUNNING_GRANDCHILD: &str = r#"
[[workflow]]
name = "leaf"

[[workflow.task]]
id = "sleep"
type = "shell"
script = 'echo $$ > "$JOBWORKS_DATA_DIR/leaf.pid"; exec sleep 300'

[[workflow]]
name = "middle"

[[workflow.task]]
id = "sub"
workflow = "leaf"

[[workflow.task]]
id = "tail"
depends_on = ["sub"]
type = "shell"
script = "echo tail"

[[workflow]]
name = "top"

[[workflow.task]]
id = "sub"
workflow = "middle"
"#;

/// A grandchild runs a process: cancelling the top run cancels the child and the grandchild,
/// stops the process, and every run of the chain ends cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_running_grandchild() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("chain.toml", RUNNING_GRANDCHILD).await;
    let top = trigger(&server, "top").await;
    let pid = wait_pid(&dir.path().join("data/leaf.pid")).await;
    let detail = server.get(&format!("/api/v1/runs/{top}")).await;
    let middle = child_of(&detail, "sub").expect("middle run");
    let middle_detail = server.get(&format!("/api/v1/runs/{middle}")).await;
    let leaf = child_of(&middle_detail, "sub").expect("leaf run");

    cancel_with_cli(&server, top);
    let detail = assert_cancelled(&server, top).await;
    assert_eq!(task_state(&detail, "sub"), "cancelled", "{detail:#}");
    let middle_detail = assert_cancelled(&server, middle).await;
    assert_eq!(task_state(&middle_detail, "sub"), "cancelled");
    assert_eq!(task_state(&middle_detail, "tail"), "cancelled");
    let leaf_detail = assert_cancelled(&server, leaf).await;
    assert_eq!(task_state(&leaf_detail, "sleep"), "cancelled");
    assert_gone(pid);
}

const QUEUED_GRANDCHILD: &str = r#"
[[workflow]]
name = "leaf"
max_active_runs = 1

[[workflow.task]]
id = "sleep"
type = "shell"
script = 'echo $$ > "$JOBWORKS_DATA_DIR/blocker.pid"; exec sleep 300'

[[workflow]]
name = "middle"

[[workflow.task]]
id = "sub"
workflow = "leaf"

[[workflow]]
name = "top"

[[workflow.task]]
id = "sub"
workflow = "middle"
"#;

/// The grandchild waits queued behind `max_active_runs`: the cancel still reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_queued_grandchild() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("chain.toml", QUEUED_GRANDCHILD).await;
    let blocker = trigger(&server, "leaf").await;
    wait_pid(&dir.path().join("data/blocker.pid")).await;
    let top = trigger(&server, "top").await;
    let detail = wait_for(&server, top, "calling middle", |d| {
        child_of(d, "sub").is_some()
    })
    .await;
    let middle = child_of(&detail, "sub").expect("middle run");
    let middle_detail = wait_for(&server, middle, "calling leaf", |d| {
        child_of(d, "sub").is_some()
    })
    .await;
    let leaf = child_of(&middle_detail, "sub").expect("leaf run");

    cancel_with_cli(&server, top);
    assert_cancelled(&server, top).await;
    assert_cancelled(&server, middle).await;
    let leaf_detail = assert_cancelled(&server, leaf).await;
    assert_eq!(task_state(&leaf_detail, "sleep"), "cancelled");
    let blocker_detail = server.get(&format!("/api/v1/runs/{blocker}")).await;
    assert_eq!(blocker_detail["run"]["state"], "running");
}
