//! End-to-end tests of data passing across approvals and of `runs rerun --from TASK`: the
//! real `jobworks` binary, a real SQLite file, real processes. Every wait is on the condition
//! itself, bounded.

mod common;

use common::{TestServer, cli};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Triggers a workflow without parameters; returns the run id.
async fn trigger(server: &TestServer, workflow: &str) -> i64 {
    server.trigger_workflow(workflow, json!({})).await
}

/// The task instance view of `task` in a run detail.
fn task<'a>(detail: &'a Value, task: &str) -> &'a Value {
    detail["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["task"] == task)
        .unwrap_or_else(|| panic!("no task `{task}`: {detail:#}"))
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

const GATED: &str = r#"
[[workflow]]
name = "gated"

[[workflow.task]]
id = "prep"
type = "shell"
script = 'echo "::set-output n=3"'

[[workflow.task]]
id = "gate"
depends_on = ["prep"]
approval = { timeout = "1h", message = "go on?" }

[[workflow.task]]
id = "after"
depends_on = ["gate"]
type = "shell"
script = 'echo "::set-output got=[$JOBWORKS_INPUT_PREP_N]"'
"#;

/// `prep → gate (approval) → after`: `after` receives `prep`'s outputs through the
/// approval (issue 7 point 14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_pass_through_an_approval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("gated.toml", GATED).await;
    let run = trigger(&server, "gated").await;
    wait_for(&server, run, "waiting for approval", |d| {
        task(d, "gate")["state"] == "waiting_approval"
    })
    .await;
    let (status, body) = server
        .post(&format!("/api/v1/runs/{run}/tasks/gate/approve"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(
        task(&detail, "after")["outputs"]["got"],
        "[3]",
        "{detail:#}"
    );
}

const CHAIN: &str = r#"
[[workflow]]
name = "chain"

[[workflow.task]]
id = "count"
type = "shell"
script = '''
echo x >> "$JOBWORKS_DATA_DIR/count.runs"
echo "::set-output n=$(wc -l < "$JOBWORKS_DATA_DIR/count.runs" | tr -d ' ')"
'''

[[workflow.task]]
id = "double"
depends_on = ["count"]
type = "shell"
script = 'echo "::set-output v=$((JOBWORKS_INPUT_COUNT_N * 2))"'

[[workflow.task]]
id = "report"
depends_on = ["double"]
type = "shell"
script = 'echo "::set-output seen=$JOBWORKS_INPUT_DOUBLE_V/$JOBWORKS_INPUT_COUNT_N"'

[[workflow.task]]
id = "side"
type = "shell"
script = '''
echo x >> "$JOBWORKS_DATA_DIR/side.runs"
echo "::set-output kept=yes"
'''
"#;

/// `runs rerun RUN --from count` on a run that succeeded: `count` (which succeeded) and
/// everything downstream of it run again and the downstream tasks see `count`'s new
/// outputs; `side`, not downstream, keeps its state and outputs and does not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_from_a_succeeded_task_reruns_everything_downstream() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("chain.toml", CHAIN).await;
    let run = trigger(&server, "chain").await;
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(task(&detail, "report")["outputs"]["seen"], "2/1");

    let out = cli(&server)
        .args(["runs", "rerun", &run.to_string(), "--from", "count"])
        .output()
        .expect("run jobworks runs rerun");
    assert!(
        out.status.success(),
        "jobworks runs rerun --from count: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let detail = wait_for(&server, run, "succeeded after the rerun", |d| {
        d["run"]["state"] == "succeeded" && task(d, "report")["attempts"] == 2
    })
    .await;
    for rerun in ["count", "double", "report"] {
        assert_eq!(task(&detail, rerun)["attempts"], 2, "{rerun}: {detail:#}");
        assert_eq!(task(&detail, rerun)["state"], "succeeded", "{rerun}");
    }
    assert_eq!(task(&detail, "count")["outputs"]["n"], "2");
    assert_eq!(
        task(&detail, "report")["outputs"]["seen"],
        "4/2",
        "downstream tasks get the rerun task's new outputs: {detail:#}"
    );
    let side = task(&detail, "side");
    assert_eq!(side["attempts"], 1, "not downstream: kept {detail:#}");
    assert_eq!(side["state"], "succeeded");
    assert_eq!(side["outputs"]["kept"], "yes");
    let side_runs = std::fs::read_to_string(dir.path().join("data/side.runs")).expect("side ran");
    assert_eq!(side_runs.lines().count(), 1, "side never ran again");

    // a task that is not a task of the run: 404 naming the run
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run}/rerun"),
            json!({ "from": "nope" }),
        )
        .await;
    assert_eq!(status.as_u16(), 404, "{body}");
}
