//! End-to-end tests of workflows: the real `jobworks` binary, a real SQLite file, real
//! processes and HTTP. Every wait is bounded.

mod common;

use common::{TestServer, cli, for_backend};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Triggers a workflow; returns the run id.
async fn trigger(server: &TestServer, workflow: &str, params: Value) -> i64 {
    server.trigger_workflow(workflow, params).await
}

/// Task id → task instance view.
fn tasks(detail: &Value) -> BTreeMap<String, Value> {
    detail["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| (t["task"].as_str().expect("id").to_owned(), t.clone()))
        .collect()
}

/// Asserts that a task instance's reason contains `want`.
fn assert_reason(task: &Value, want: &str) {
    let reason = task["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(want),
        "reason `{reason}` lacks `{want}`: {task:#}"
    );
}

fn state_of(detail: &Value, task: &str) -> String {
    tasks(detail)[task]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
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

/// [`ETL_SQLITE`] for the backend under test (the `count` query is in the store's dialect).
fn etl() -> String {
    for_backend(
        ETL_SQLITE,
        "cast(? as integer) + 1 as n, ? as region",
        "cast($1 as integer) + 1 as n, $2 as region",
    )
}

const ETL_SQLITE: &str = r#"
[[workflow]]
name = "etl"

[workflow.params.region]
type = "enum"
values = ["eu", "us"]
default = "eu"

[[workflow.task]]
id = "extract"
type = "shell"
script = '''
echo "extracting $JOBWORKS_PARAM_REGION"
echo "::set-output rows=42"
echo "::set-output file=$JOBWORKS_PARAM_REGION.csv"
'''

[[workflow.task]]
id = "check"
depends_on = ["extract"]
type = "python"
script = '''
import json, os
rows = int(os.environ["JOBWORKS_INPUT_EXTRACT_ROWS"])
with open(os.environ["JOBWORKS_OUTPUT"], "w") as f:
    json.dump({"doubled": str(rows * 2), "seen_file": os.environ["JOBWORKS_INPUT_EXTRACT_FILE"]}, f)
'''

[[workflow.task]]
id = "count"
depends_on = ["check"]
type = "sql"
datasource = "jobworks"
query = "select cast(? as integer) + 1 as n, ? as region"
bind = ["tasks.check.outputs.doubled", "region"]

[[workflow.task]]
id = "route"
depends_on = ["count"]
[workflow.task.branch]
[[workflow.task.branch.case]]
when = "int(tasks.count.outputs.n) > 80 && params.region == 'eu'"
then = ["load"]
[[workflow.task.branch.case]]
when = "true"
then = ["skip_note"]

[[workflow.task]]
id = "load"
depends_on = ["route"]
group = { tasks = ["load_a", "load_b"], policy = "all", max_parallelism = 1 }

[[workflow.task]]
id = "load_a"
type = "shell"
script = 'echo "loading $JOBWORKS_INPUT_COUNT_N rows"; echo "::set-output part=a"'

[[workflow.task]]
id = "load_b"
type = "shell"
script = 'echo "::set-output part=b"'

[[workflow.task]]
id = "skip_note"
depends_on = ["route"]
type = "shell"
script = "echo never"

[[workflow.task]]
id = "report"
depends_on = ["load", "skip_note"]
trigger_rule = "none_failed_min_one_success"
type = "shell"
script = 'echo "report $JOBWORKS_INPUT_LOAD_A_PART$JOBWORKS_INPUT_LOAD_B_PART"'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_flows_through_shell_python_sql_branch_and_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let applied = server.apply("etl.toml", &etl()).await;
    assert_eq!(applied["jobs"][0]["kind"], "workflow", "{applied}");
    assert_eq!(applied["jobs"][0]["change"], "created");

    let run = trigger(&server, "etl", json!({})).await;
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(detail["run"]["kind"], "workflow");
    let t = tasks(&detail);
    assert_eq!(t["extract"]["outputs"]["rows"], "42");
    assert_eq!(
        t["check"]["outputs"]["doubled"], "84",
        "python read the shell output"
    );
    assert_eq!(t["check"]["outputs"]["seen_file"], "eu.csv");
    assert_eq!(
        t["count"]["outputs"]["n"], "85",
        "sql bound the python output"
    );
    assert_eq!(t["count"]["outputs"]["region"], "eu", "sql bound the param");
    assert_eq!(t["route"]["state"], "succeeded");
    assert_eq!(t["load"]["state"], "succeeded");
    assert_eq!(t["load"]["kind"], "group");
    assert_eq!(t["skip_note"]["state"], "skipped");
    assert!(
        t["skip_note"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not chosen by branch `route`"),
        "{:#}",
        t["skip_note"]
    );
    assert_eq!(t["report"]["state"], "succeeded");
    // max_parallelism = 1: the members ran one after the other
    let a_end = t["load_a"]["ended_at"]
        .as_str()
        .expect("a ended")
        .to_owned();
    let b_start = t["load_b"]["started_at"]
        .as_str()
        .expect("b started")
        .to_owned();
    assert!(
        a_end <= b_start,
        "load_a {a_end} ended before load_b {b_start} started"
    );
    let logs = server.log_text(run).await;
    assert!(logs.contains("loading 85 rows"), "{logs}");
    assert!(logs.contains("report ab"), "{logs}");
    assert!(!logs.contains("never"), "{logs}");

    // the other branch: region us takes skip_note, and the group is skipped
    let run = trigger(&server, "etl", json!({ "region": "us" })).await;
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(state_of(&detail, "load"), "skipped");
    assert_eq!(state_of(&detail, "load_a"), "skipped");
    assert_eq!(state_of(&detail, "skip_note"), "succeeded");
    assert_eq!(state_of(&detail, "report"), "succeeded");
}

const FAILING: &str = r#"
[[job]]
name = "flag"
[job.task]
type = "shell"
script = 'test -f "$JOBWORKS_DATA_DIR/ok" && echo "::set-output checked=yes"'

[[workflow]]
name = "fragile"

[[workflow.task]]
id = "first"
type = "shell"
script = "echo first >> \"$JOBWORKS_DATA_DIR/first.count\""

[[workflow.task]]
id = "gate"
depends_on = ["first"]
job = "flag"

[[workflow.task]]
id = "after"
depends_on = ["gate"]
type = "shell"
script = "echo 'after ran'; echo \"::set-output got=$JOBWORKS_INPUT_GATE_CHECKED\""

[[workflow.task]]
id = "cleanup"
depends_on = ["gate"]
trigger_rule = "one_failed"
type = "shell"
script = "echo cleanup"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_propagates_and_rerun_keeps_succeeded_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("fragile.toml", FAILING).await;
    let run = trigger(&server, "fragile", json!({})).await;
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "failed", "{detail:#}");
    let t = tasks(&detail);
    assert_eq!(t["first"]["state"], "succeeded");
    assert_eq!(t["gate"]["state"], "failed", "the called job failed");
    assert_eq!(t["gate"]["kind"], "job");
    let child = t["gate"]["child_run_id"].as_i64().expect("child run");
    let child_detail = server.get(&format!("/api/v1/runs/{child}")).await;
    assert_eq!(child_detail["run"]["parent_run_id"], run);
    assert_eq!(child_detail["run"]["parent_task"], "gate");
    assert_eq!(t["after"]["state"], "upstream_failed");
    assert_eq!(
        t["cleanup"]["state"], "succeeded",
        "one_failed ran the cleanup"
    );

    // fix the cause, then rerun from the failed tasks: `first` must not run again
    std::fs::write(dir.path().join("data/ok"), "").expect("write flag");
    let (status, body) = server
        .post(&format!("/api/v1/runs/{run}/rerun"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = wait_for(&server, run, "succeeded again", |d| {
        d["run"]["state"] == "succeeded"
    })
    .await;
    let t = tasks(&detail);
    assert_eq!(t["gate"]["state"], "succeeded");
    assert_eq!(
        t["after"]["outputs"]["got"], "yes",
        "a job call's outputs flow on"
    );
    assert_eq!(
        t["cleanup"]["state"], "succeeded",
        "a task that succeeded is kept by a rerun, even one that ran because of the failure"
    );
    let count = std::fs::read_to_string(dir.path().join("data/first.count")).expect("first ran");
    assert_eq!(
        count.lines().count(),
        1,
        "a succeeded task never runs again"
    );

    // mark a task failed by hand: recorded with who, and the run reopens and fails
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run}/tasks/after/mark"),
            json!({ "state": "failed", "comment": "bad data" }),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = wait_for(&server, run, "failed by the mark", |d| {
        d["run"]["state"] == "failed"
    })
    .await;
    let after = &tasks(&detail)["after"];
    assert_reason(after, "marked failed by token:admin: bad data");

    // clear one task: it and what follows run again
    let (status, body) = server
        .post(&format!("/api/v1/runs/{run}/tasks/after/clear"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = wait_for(&server, run, "succeeded after the clear", |d| {
        d["run"]["state"] == "succeeded"
    })
    .await;
    assert_eq!(tasks(&detail)["after"]["attempts"], 2, "{detail:#}");

    // a job run has no tasks to clear
    let job_run = server.trigger("flag", json!({})).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{job_run}/tasks/main/clear"),
            json!({}),
        )
        .await;
    assert_eq!(status.as_u16(), 409, "{body}");
}

const APPROVALS: &str = r#"
[[workflow]]
name = "deploy"

[[workflow.task]]
id = "gate"
approval = { timeout = "2s", default_outcome = "reject", message = "ship it?" }

[[workflow.task]]
id = "ship"
depends_on = ["gate"]
type = "shell"
script = "echo shipped"

[[workflow.task]]
id = "notify_rejected"
depends_on = ["gate"]
trigger_rule = "all_failed"
type = "shell"
script = "echo rejected"

[[workflow]]
name = "guarded"

[[workflow.task]]
id = "gate"
approval = { timeout = "1h", approvers = ["alice"] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_decided_by_people_or_by_their_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("deploy.toml", APPROVALS).await;

    // approved through the API: who and why are recorded
    let run = trigger(&server, "deploy", json!({})).await;
    wait_for(&server, run, "waiting for approval", |d| {
        state_of(d, "gate") == "waiting_approval"
    })
    .await;
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run}/tasks/gate/approve"),
            json!({ "comment": "checked the diff" }),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(body["state"], "succeeded");
    assert_eq!(body["approval"]["decided_by"], "token:admin");
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(state_of(&detail, "ship"), "succeeded");
    assert_eq!(state_of(&detail, "notify_rejected"), "skipped");
    let gate = &tasks(&detail)["gate"];
    assert_reason(gate, "approved by token:admin: checked the diff");
    // deciding twice is a conflict
    let (status, _) = server
        .post(&format!("/api/v1/runs/{run}/tasks/gate/reject"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 409);

    // nobody decides: after 2 s the default outcome (reject) applies
    let run = trigger(&server, "deploy", json!({})).await;
    let detail = server.wait_run(run, WAIT).await;
    let gate = &tasks(&detail)["gate"];
    assert_eq!(gate["state"], "failed", "{detail:#}");
    assert_eq!(gate["approval"]["decided_by"], "timeout");
    assert_eq!(state_of(&detail, "ship"), "upstream_failed");
    assert_eq!(state_of(&detail, "notify_rejected"), "succeeded");

    // only the named approvers may decide
    let run = trigger(&server, "guarded", json!({})).await;
    wait_for(&server, run, "waiting for approval", |d| {
        state_of(d, "gate") == "waiting_approval"
    })
    .await;
    let (status, body) = server
        .post(&format!("/api/v1/runs/{run}/tasks/gate/approve"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 403, "{body}");
    let (status, body) = server
        .post(&format!("/api/v1/runs/{run}/cancel"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "cancelled", "{detail:#}");
    assert_eq!(state_of(&detail, "gate"), "cancelled");
}

const NESTED: &str = r#"
[[workflow]]
name = "inner"

[[workflow.task]]
id = "sleep"
type = "shell"
script = 'echo $$ > "$JOBWORKS_DATA_DIR/inner.pid"; exec sleep 300'

[[workflow]]
name = "outer"

[[workflow.task]]
id = "sub"
workflow = "inner"

[[workflow.task]]
id = "after"
depends_on = ["sub"]
type = "shell"
script = "echo after"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_workflow_run_cascades_into_sub_workflows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("nested.toml", NESTED).await;
    let run = trigger(&server, "outer", json!({})).await;
    let pid_file = dir.path().join("data/inner.pid");
    let deadline = std::time::Instant::now() + WAIT;
    while !pid_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "inner task never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    let detail = server.get(&format!("/api/v1/runs/{run}")).await;
    let child = tasks(&detail)["sub"]["child_run_id"]
        .as_i64()
        .expect("sub-workflow run");

    let (status, body) = server
        .post(&format!("/api/v1/runs/{run}/cancel"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "cancelled", "{detail:#}");
    assert_eq!(state_of(&detail, "sub"), "cancelled");
    assert_eq!(state_of(&detail, "after"), "cancelled");
    let child_detail = server.wait_run(child, WAIT).await;
    assert_eq!(
        child_detail["run"]["state"], "cancelled",
        "{child_detail:#}"
    );
    assert_eq!(child_detail["run"]["parent_run_id"], run);
    assert_eq!(state_of(&child_detail, "sleep"), "cancelled");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !common::process_gone(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep {pid} survived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const HOURLY: &str = r#"
[[workflow]]
name = "hourly"
schedule = "0 * * * *"
timezone = "UTC"

[[workflow.task]]
id = "stamp"
type = "shell"
script = 'echo "$JOBWORKS_LOGICAL_TIME" >> "$JOBWORKS_DATA_DIR/stamps"; sleep 0.3'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_backfill_is_idempotent_and_runs_in_parallel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("hourly.toml", HOURLY).await;
    let body = json!({
        "from": "2026-03-01T00:00:00Z",
        "to": "2026-03-01T05:30:00Z",
        "parallel": 3
    });
    let (status, first) = server
        .post("/api/v1/workflows/hourly/backfill", body.clone())
        .await;
    assert_eq!(status.as_u16(), 201, "{first}");
    assert_eq!(first["ticks"], 6);
    assert_eq!(first["runs"].as_array().expect("runs").len(), 6);
    let (status, second) = server.post("/api/v1/workflows/hourly/backfill", body).await;
    assert_eq!(status.as_u16(), 201, "{second}");
    assert_eq!(
        second["runs"].as_array().expect("runs").len(),
        0,
        "{second}"
    );
    assert_eq!(second["existing"], 6);

    let mut max_running = 0;
    let ids: Vec<i64> = first["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_i64().expect("id"))
        .collect();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let runs = server.get("/api/v1/runs?job=hourly&limit=100").await;
        let list = runs.as_array().expect("runs");
        let running = list.iter().filter(|r| r["state"] == "running").count();
        max_running = max_running.max(running);
        if let Some(failed) = list.iter().find(|r| r["state"] == "failed") {
            let detail = server.get(&format!("/api/v1/runs/{}", failed["id"])).await;
            panic!("a backfill run failed: {detail:#}");
        }
        if list.iter().all(|r| r["state"] == "succeeded") && list.len() == 6 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backfill not done: {runs:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(max_running <= 3, "at most 3 at once, saw {max_running}");
    assert!(
        max_running >= 2,
        "runs overlapped (saw {max_running} at once)"
    );
    let stamps = std::fs::read_to_string(dir.path().join("data/stamps")).expect("stamps");
    let mut stamps: Vec<&str> = stamps.lines().collect();
    stamps.sort_unstable();
    assert_eq!(stamps.len(), 6);
    assert_eq!(stamps[0], "2026-03-01T00:00:00+00:00");
    assert_eq!(stamps[5], "2026-03-01T05:00:00+00:00");
    for id in ids {
        let detail = server.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(detail["run"]["trigger"], "backfill");
    }
}

/// A 20-task DAG: 4 layers of 5 tasks, each task depending on every task of the layer above.
fn wide_dag(name: &str, sleep: &str) -> String {
    let mut text = format!("[[workflow]]\nname = \"{name}\"\n");
    for layer in 0..4 {
        for i in 0..5 {
            let deps: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                (0..5).map(|j| format!("\"t{}_{j}\"", layer - 1)).collect()
            };
            text.push_str(&format!(
                "\n[[workflow.task]]\nid = \"t{layer}_{i}\"\ndepends_on = [{}]\ntype = \"shell\"\n\
                 script = 'echo t{layer}_{i} >> \"$JOBWORKS_DATA_DIR/ran\"; sleep {sleep}'\n\
                 retries = {{ max_attempts = 2, initial_delay = \"100ms\" }}\n",
                deps.join(", ")
            ));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_dag_resumes_without_rerunning_succeeded_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = TestServer::start(dir.path(), &["--lease", "2s"]);
    server.apply("dag.toml", &wide_dag("dag20", "0.4")).await;
    let run = trigger(&server, "dag20", json!({})).await;
    // wait until the first layer is done and the second is running
    wait_for(&server, run, "in its second layer", |d| {
        (0..5).all(|i| state_of(d, &format!("t0_{i}")) == "succeeded")
            && (0..5).any(|i| state_of(d, &format!("t1_{i}")) == "running")
    })
    .await;
    server.kill9();

    let server = TestServer::start(dir.path(), &["--lease", "2s"]);
    let detail = server.wait_run(run, Duration::from_secs(90)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    let ran = std::fs::read_to_string(dir.path().join("data/ran")).expect("ran");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for line in ran.lines() {
        *counts.entry(line).or_default() += 1;
    }
    assert_eq!(counts.len(), 20, "every task ran: {counts:?}");
    for i in 0..5 {
        assert_eq!(
            counts[format!("t0_{i}").as_str()],
            1,
            "t0_{i} succeeded before the kill: {counts:?}"
        );
    }
    for layer in 2..4 {
        for i in 0..5 {
            assert_eq!(counts[format!("t{layer}_{i}").as_str()], 1, "{counts:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_bad_calls_and_names_shared_with_jobs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let v1 = "[[workflow]]\nname = \"w\"\n[[workflow.task]]\nid = \"a\"\ntype = \"shell\"\nscript = \"sleep 1; echo v1\"\n";
    let v2 = "[[workflow]]\nname = \"w\"\n[[workflow.task]]\nid = \"b\"\ntype = \"shell\"\nscript = \"echo v2\"\n";
    server.apply("w.toml", v1).await;
    let run = trigger(&server, "w", json!({})).await;
    let applied = server.apply("w.toml", v2).await;
    assert_eq!(applied["jobs"][0]["change"], "updated");
    assert_eq!(applied["jobs"][0]["version"], 2);
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(detail["run"]["job_version"], 1, "a run keeps its version");
    assert!(tasks(&detail).contains_key("a"));
    let versions = server.get("/api/v1/workflows/w/versions").await;
    assert_eq!(versions.as_array().expect("versions").len(), 2);
    let shown = server.get("/api/v1/workflows/w").await;
    assert_eq!(shown["definition"]["tasks"][0]["id"], "b");

    // a call of a job that exists nowhere is refused at apply, with where
    let bad =
        "[[workflow]]\nname = \"caller\"\n[[workflow.task]]\nid = \"c\"\njob = \"missing-job\"\n";
    let (status, body) = server
        .post(
            "/api/v1/jobs/apply",
            json!({ "files": [{ "name": "caller.toml", "content": bad }] }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{body}");
    assert!(
        body.to_string().contains("no job named `missing-job`"),
        "{body}"
    );

    // a job cannot take a workflow's name: refused with its place, like every apply error
    let job = "[[job]]\nname = \"w\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n";
    let (status, body) = server
        .post(
            "/api/v1/jobs/apply",
            json!({ "files": [{ "name": "job.toml", "content": job }] }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{body}");
    assert!(
        body.to_string()
            .contains("`w` is a workflow on the server: a job cannot take its name"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["line"], 2, "located at the name: {body}");

    // a cycle is reported with its path
    let cycle = "[[workflow]]\nname = \"loop\"\n[[workflow.task]]\nid = \"extract\"\ndepends_on = [\"load\"]\ntype = \"shell\"\nscript = \"true\"\n[[workflow.task]]\nid = \"load\"\ndepends_on = [\"extract\"]\ntype = \"shell\"\nscript = \"true\"\n";
    let (status, body) = server
        .post(
            "/api/v1/jobs/apply",
            json!({ "files": [{ "name": "loop.toml", "content": cycle }] }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{body}");
    assert!(
        body.to_string().contains("extract -> load -> extract"),
        "{body}"
    );
}

const EVERY_SECOND: &str = r#"
[[workflow]]
name = "ticker"
schedule = "* * * * * *"

[[workflow.task]]
id = "a"
type = "shell"
script = 'echo "$JOBWORKS_LOGICAL_TIME" >> "$JOBWORKS_DATA_DIR/ticks"'

[[workflow.task]]
id = "b"
depends_on = ["a"]
type = "shell"
script = "true"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_workflows_fire_once_per_tick() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("ticker.toml", EVERY_SECOND).await;
    server
        .get_until(
            "/api/v1/runs?job=ticker&limit=100",
            "three ticks fired",
            |runs| runs.as_array().is_some_and(|r| r.len() >= 3),
        )
        .await;
    let (status, _) = server
        .post("/api/v1/workflows/ticker/pause", json!({}))
        .await;
    assert_eq!(status.as_u16(), 200);
    let deadline = std::time::Instant::now() + WAIT;
    let runs = loop {
        let runs = server.get("/api/v1/runs?job=ticker&limit=100").await;
        let list = runs.as_array().expect("runs").clone();
        if list.iter().all(|r| r["state"] == "succeeded") {
            break list;
        }
        assert!(std::time::Instant::now() < deadline, "{runs:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(runs.len() >= 2, "fired every second: {runs:#?}");
    let mut ticks: Vec<&str> = runs
        .iter()
        .map(|r| r["scheduled_at"].as_str().expect("tick"))
        .collect();
    ticks.sort_unstable();
    let before = ticks.len();
    ticks.dedup();
    assert_eq!(ticks.len(), before, "no tick fired twice");
    let stamps = std::fs::read_to_string(dir.path().join("data/ticks")).expect("ticks");
    assert_eq!(stamps.lines().count(), runs.len(), "each run saw its tick");
}

const RACE: &str = r#"
[[workflow]]
name = "race"

[[workflow.task]]
id = "mirrors"
group = { tasks = ["fast", "slow"], policy = "any" }

[[workflow.task]]
id = "fast"
type = "shell"
script = "echo '::set-output from=fast'"

[[workflow.task]]
id = "slow"
type = "shell"
script = 'echo $$ > "$JOBWORKS_DATA_DIR/slow.pid"; exec sleep 300'

[[workflow.task]]
id = "use"
depends_on = ["mirrors"]
type = "shell"
script = 'echo "got $JOBWORKS_INPUT_FAST_FROM"'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_policy_any_cancels_the_rest_at_the_first_success() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("race.toml", RACE).await;
    let run = trigger(&server, "race", json!({})).await;
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    assert_eq!(state_of(&detail, "fast"), "succeeded");
    let slow = state_of(&detail, "slow");
    assert!(
        slow == "cancelled" || slow == "skipped",
        "the slower member was stopped or never started: {slow}"
    );
    assert_eq!(state_of(&detail, "use"), "succeeded");
    assert!(server.log_text(run).await.contains("got fast"));
    if let Ok(pid) = std::fs::read_to_string(dir.path().join("data/slow.pid")) {
        let pid: i64 = pid.trim().parse().expect("pid");
        assert!(common::process_gone(pid), "slow {pid} was killed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_draws_shows_and_approves_workflows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let file = dir.path().join("etl.toml");
    std::fs::write(&file, etl()).expect("write");
    let out = cli(&server)
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .expect("apply");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cli(&server)
        .args(["workflow", "graph", "etl", "--format", "mermaid"])
        .output()
        .expect("graph");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("t_extract --> t_check"), "{text}");

    let out = cli(&server)
        .args(["run", "etl", "--wait"])
        .output()
        .expect("run --wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("load_a stdout| loading 85 rows"),
        "task-labelled log: {text}"
    );

    let runs = server.get("/api/v1/runs?job=etl&limit=1").await;
    let run = runs[0]["id"].as_i64().expect("run id");
    let out = cli(&server)
        .args(["runs", "show", &run.to_string()])
        .output()
        .expect("runs show");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for want in [
        "TASK",
        "extract",
        "skip_note",
        "not chosen by branch `route`",
        "█",
        "rows=42",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }

    std::fs::write(&file, APPROVALS).expect("write");
    let out = cli(&server)
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .expect("apply");
    assert!(out.status.success());
    let run = trigger(&server, "deploy", json!({})).await;
    wait_for(&server, run, "waiting for approval", |d| {
        state_of(d, "gate") == "waiting_approval"
    })
    .await;
    let out = cli(&server)
        .args(["reject", &run.to_string(), "gate", "--comment", "not today"])
        .output()
        .expect("reject");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let detail = server.wait_run(run, WAIT).await;
    let gate = &tasks(&detail)["gate"];
    assert_eq!(gate["state"], "failed");
    assert_reason(gate, "rejected by token:admin: not today");
    assert_eq!(state_of(&detail, "notify_rejected"), "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_that_call_themselves_are_refused_at_apply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let a = "[[workflow]]\nname = \"wa\"\n[[workflow.task]]\nid = \"x\"\ntype = \"shell\"\nscript = \"true\"\n";
    server.apply("wa.toml", a).await;
    let b = "[[workflow]]\nname = \"wb\"\n[[workflow.task]]\nid = \"call_a\"\nworkflow = \"wa\"\n";
    server.apply("wb.toml", b).await;
    // wa now calls wb, which calls wa
    let a2 = "[[workflow]]\nname = \"wa\"\n[[workflow.task]]\nid = \"call_b\"\nworkflow = \"wb\"\n";
    let (status, body) = server
        .post(
            "/api/v1/jobs/apply",
            json!({ "files": [{ "name": "wa.toml", "content": a2 }] }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{body}");
    assert!(
        body.to_string()
            .contains("workflow call cycle: wa -> wb -> wa"),
        "{body}"
    );
    let shown = server.get("/api/v1/workflows/wa").await;
    assert_eq!(shown["version"], 1, "nothing was applied");
}
