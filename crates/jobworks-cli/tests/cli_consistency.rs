//! End-to-end tests of the CLI's consistency: `--output json` everywhere (errors included),
//! `runs list` paging, `run --count`, child runs shown as started by their workflow, runs
//! replaced by the concurrency policy, job output made safe for a terminal, `jobs delete` of
//! a job a workflow calls, and `server --help`.

mod common;

use common::{TestServer, bin, cli};
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::Duration;

const JOBS: &str = r#"
[[job]]
name = "ok"
[job.task]
type = "shell"
script = "echo fine"

[[job]]
name = "colors"
[job.task]
type = "shell"
script = "printf '\\033[31mred\\033[0m \\033]0;title\\007plain \\377 end\\n'"

[[workflow]]
name = "calls-ok"
[[workflow.task]]
id = "first"
job = "ok"
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(server: &TestServer, args: &[&str]) -> Output {
    cli(server).args(args).output().expect("run jobworks")
}

fn apply(server: &TestServer, dir: &std::path::Path) {
    let file = dir.join("jobs.toml");
    std::fs::write(&file, JOBS).expect("write job file");
    let applied = cli(server)
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .expect("run jobworks apply");
    assert!(applied.status.success(), "{}", text(&applied.stderr));
}

/// The one JSON object a failed command printed on stderr under `--output json`.
fn json_error(output: &Output) -> Value {
    let stderr = text(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let error: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("stderr is not a JSON error ({e}): {stderr}"));
    assert!(
        error["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{error}"
    );
    assert!(
        error["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{error}"
    );
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_covers_every_command_and_its_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    apply(&server, dir.path());

    // a server-side error: exit code 1 as in table mode, a JSON object on stderr
    let missing = run(&server, &["--output", "json", "runs", "show", "999999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stdout.is_empty(), "{}", text(&missing.stdout));
    let error = json_error(&missing);
    assert!(
        error["error"].as_str().expect("error").contains("999999"),
        "{error}"
    );
    let table = run(&server, &["runs", "show", "999999"]);
    assert_eq!(table.status.code(), Some(1));
    assert!(
        text(&table.stderr).starts_with("error: "),
        "{}",
        text(&table.stderr)
    );

    // a usage error keeps clap's exit code 2
    let usage = run(
        &server,
        &["runs", "show", "not-a-number", "--output", "json"],
    );
    assert_eq!(usage.status.code(), Some(2));
    let error = json_error(&usage);
    assert!(
        error["detail"]
            .as_str()
            .expect("detail")
            .contains("not-a-number"),
        "{error}"
    );

    // workflow graph: stored and from a file
    for args in [
        vec!["--output", "json", "workflow", "graph", "calls-ok"],
        vec![
            "--output",
            "json",
            "workflow",
            "graph",
            "-f",
            dir.path().join("jobs.toml").to_str().expect("utf-8 path"),
        ],
    ] {
        let graph = run(&server, &args);
        assert!(graph.status.success(), "{}", text(&graph.stderr));
        let graph: Value = serde_json::from_slice(&graph.stdout).expect("graph JSON");
        assert_eq!(graph["workflow"], "calls-ok", "{graph}");
        assert_eq!(graph["tasks"][0]["id"], "first", "{graph}");
        assert!(
            graph["drawing"]
                .as_str()
                .expect("drawing")
                .contains("first")
        );
    }
    let not_there = run(&server, &["--output", "json", "workflow", "graph", "nope"]);
    assert_eq!(not_there.status.code(), Some(1));
    json_error(&not_there);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_says_how_many_more_and_run_takes_a_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    apply(&server, dir.path());

    let queued = run(&server, &["run", "ok", "--count", "5"]);
    assert!(queued.status.success(), "{}", text(&queued.stderr));
    let ids: Vec<i64> = text(&queued.stdout)
        .lines()
        .map(|line| line.trim().parse().expect("one run id per line"))
        .collect();
    assert_eq!(ids.len(), 5, "{}", text(&queued.stdout));
    assert!(
        text(&queued.stderr).contains("queued 5 runs"),
        "{}",
        text(&queued.stderr)
    );
    for id in &ids {
        server.wait_run(*id, Duration::from_secs(60)).await;
    }

    let limited = run(&server, &["runs", "list", "--job", "ok", "--limit", "2"]);
    assert!(limited.status.success(), "{}", text(&limited.stderr));
    assert_eq!(
        text(&limited.stdout).lines().count(),
        3,
        "header and 2 rows"
    );
    assert!(
        text(&limited.stderr).contains("2 runs shown, 3 more"),
        "{}",
        text(&limited.stderr)
    );
    let all = run(
        &server,
        &["--output", "json", "runs", "list", "--job", "ok", "--all"],
    );
    assert!(all.status.success(), "{}", text(&all.stderr));
    let all: Vec<Value> = serde_json::from_slice(&all.stdout).expect("runs JSON");
    assert_eq!(all.len(), 5);
    let everything = run(&server, &["runs", "list", "--job", "ok"]);
    assert!(
        !text(&everything.stderr).contains("more"),
        "{}",
        text(&everything.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_children_and_deleting_a_called_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    apply(&server, dir.path());

    let parent = run(&server, &["run", "calls-ok", "--wait"]);
    assert!(parent.status.success(), "{}", text(&parent.stderr));
    let runs = server.get("/api/v1/runs?job=ok").await;
    let child = &runs.as_array().expect("runs")[0];
    let (child_id, parent_id) = (
        child["id"].as_i64().expect("id"),
        child["parent_run_id"].as_i64().expect("a child run"),
    );
    let list = run(&server, &["runs", "list", "--job", "ok"]);
    assert!(
        text(&list.stdout).contains(&format!("workflow {parent_id}/first")),
        "{}",
        text(&list.stdout)
    );
    let show = run(&server, &["runs", "show", &child_id.to_string()]);
    assert!(
        text(&show.stdout).contains(&format!("workflow (run {parent_id}, task first)")),
        "{}",
        text(&show.stdout)
    );

    // no terminal and no --force: refused with a hint, nothing deleted
    let refused = run(&server, &["jobs", "delete", "ok"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("calls-ok (task first)") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(server.get("/api/v1/jobs/ok").await["name"], "ok");
    let forced = run(&server, &["jobs", "delete", "ok", "--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    // a job nobody calls is deleted without a question
    let plain = run(&server, &["jobs", "delete", "colors"]);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_output_is_shown_safely() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    apply(&server, dir.path());
    let id = server.trigger("colors", json!({})).await;
    server.wait_run(id, Duration::from_secs(60)).await;

    let logs = run(&server, &["logs", &id.to_string()]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let stdout = text(&logs.stdout);
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\x07'),
        "{stdout:?}"
    );
    assert!(stdout.contains("red plain \u{fffd} end"), "{stdout:?}");

    let json_logs = run(&server, &["--output", "json", "logs", &id.to_string()]);
    let line: Value = text(&json_logs.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .find(|line| line["stream"] == "stdout")
        .expect("a stdout line");
    assert!(
        line["text"].as_str().expect("text").contains("\x1b[31mred"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_run_names_the_run_that_replaced_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "replace.toml",
            "[[job]]\nname = \"slow\"\nconcurrency = \"replace\"\n[job.task]\ntype = \"shell\"\nscript = \"sleep 30\"\n",
        )
        .await;
    let first = server.trigger("slow", json!({})).await;
    // the first run must be running, not only queued, before it is replaced
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.get(&format!("/api/v1/runs/{first}")).await["run"]["state"] != "running" {
        assert!(
            std::time::Instant::now() < deadline,
            "run {first} never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = server.trigger("slow", json!({})).await;
    let replaced = server.wait_run(first, Duration::from_secs(60)).await;
    assert_eq!(replaced["run"]["state"], "cancelled", "{replaced}");
    let show = run(&server, &["runs", "show", &first.to_string()]);
    let stdout = text(&show.stdout);
    let reason_line = stdout
        .lines()
        .find(|line| line.starts_with("reason"))
        .unwrap_or_else(|| panic!("a reason row: {stdout}"));
    assert!(
        reason_line.contains(&format!("replaced by run {second}")),
        "{stdout}"
    );
    let _ = run(&server, &["cancel", &second.to_string()]);
}

#[test]
fn server_help_lists_only_server_flags() {
    for args in [
        &["server", "--help"][..],
        &["server", "-h"],
        &["help", "server"],
    ] {
        let help = Command::new(bin())
            .args(args)
            .output()
            .expect("run jobworks");
        assert!(help.status.success(), "{args:?}");
        let stdout = text(&help.stdout);
        assert!(
            stdout.contains("--max-body") && stdout.contains("--demo"),
            "{stdout}"
        );
        for client_flag in ["--token", "--output", "--url"] {
            assert!(
                !stdout.contains(client_flag),
                "{args:?} lists {client_flag}:\n{stdout}"
            );
        }
    }
}
