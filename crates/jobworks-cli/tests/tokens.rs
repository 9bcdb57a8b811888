//! End-to-end tests of tokens, first start, offline administration and `--demo` restarts,
//! with the real binary (issue 7, points 3, 4, 16, 17).

mod common;

use common::{TestServer, bin, cli, skip_on_postgres};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `jobworks server` on `dir` expected to fail at start; its output.
fn failing_server(dir: &Path, listen: &str) -> Output {
    let output = Command::new(bin())
        .arg("server")
        .arg("--db")
        .arg(dir.join("jobworks.db"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen", listen])
        .env("JOBWORKS_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run jobworks server");
    assert!(
        !output.status.success(),
        "the server should not start: {}",
        text(&output.stdout)
    );
    output
}

/// `jobworks admin ...` with the given args; its output.
fn admin(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("admin")
        .args(args)
        .env_remove("JOBWORKS_DB")
        .output()
        .expect("run jobworks admin")
}

/// Any request with `token`.
async fn call(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.text().await.expect("body");
    (
        status,
        content_type,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_on_a_busy_port_leaves_nothing_and_the_next_start_prints_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let output = failing_server(dir.path(), &addr);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("is another one using the port"), "{stderr}");
    assert!(
        !dir.path().join("jobworks.db").exists(),
        "no database (so no token row) is made before the port is bound"
    );
    drop(busy);

    // writing client.toml fails (a directory is in the way): the token row is undone
    std::fs::create_dir_all(dir.path().join("data/client.toml/blocker")).expect("mkdir");
    let output = failing_server(dir.path(), "127.0.0.1:0");
    assert!(
        text(&output.stderr).contains("client.toml"),
        "{}",
        text(&output.stderr)
    );
    std::fs::remove_dir_all(dir.path().join("data/client.toml")).expect("rmdir");

    // the next start is a first start again: it prints a token that works
    let server = TestServer::start(dir.path(), &[]);
    assert!(server.token.starts_with("jw_"), "{}", server.token);
    let (status, _, body) = call(
        &server,
        &server.token,
        reqwest::Method::GET,
        "/api/v1/tokens",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["admin"], "exactly one admin token: {body}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("data/client.toml"))
            .expect("client.toml")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "client.toml holds a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_create_works_offline_and_the_token_works_against_a_started_server() {
    if skip_on_postgres("offline `admin token create`/`vacuum` work on the SQLite file only") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("jobworks.db");
    let db_arg = db.to_str().expect("utf-8 path");

    // a mistyped path makes no database
    let missing = dir.path().join("nope.db");
    let output = admin(&[
        "token",
        "create",
        "rescue",
        "--database",
        missing.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("no Jobworks database at"),
        "{}",
        text(&output.stderr)
    );
    assert!(!missing.exists());

    let mut server = TestServer::start(dir.path(), &[]);
    server.stop();
    let output = admin(&[
        "token",
        "create",
        "rescue",
        "--database",
        db_arg,
        "--output",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    let secret = created["token"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("jw_"), "{created}");
    assert_eq!(created["info"]["admin"], true);
    let output = admin(&["token", "create", "rescue", "--database", db_arg]);
    assert!(
        !output.status.success(),
        "a live name cannot be taken twice"
    );
    assert!(
        text(&output.stderr).contains("already exists"),
        "{}",
        text(&output.stderr)
    );

    // vacuum works offline too
    let output = admin(&["vacuum", "--database", db_arg]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("vacuumed "),
        "{}",
        text(&output.stdout)
    );

    let server = TestServer::start(dir.path(), &[]);
    let (status, _, body) = call(
        &server,
        &secret,
        reqwest::Method::GET,
        "/api/v1/tokens",
        None,
    )
    .await;
    assert_eq!(status, 200, "the offline token is an admin token: {body}");
    let rescue = body
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "rescue")
        .expect("listed")
        .clone();
    assert!(
        rescue["last_used_at"].is_string(),
        "its use is recorded: {rescue}"
    );
    assert!(rescue.get("token").is_none() && !body.to_string().contains(&secret));
}

const GUARDED: &str = r#"
[[workflow]]
name = "release"

[[workflow.task]]
id = "gate"
approval = { timeout = "1h", approvers = ["release-manager"] }

[[workflow.task]]
id = "ship"
depends_on = ["gate"]
type = "shell"
script = "echo shipped"
"#;

/// Polls the run until its `gate` task waits for approval.
async fn wait_for_gate(server: &TestServer, run: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let detail = server.get(&format!("/api/v1/runs/{run}")).await;
        let waiting = detail["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .any(|t| t["task"] == "gate" && t["state"] == "waiting_approval");
        if waiting {
            return;
        }
        assert!(Instant::now() < deadline, "gate not waiting: {detail:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_manager_token_approves_what_the_admin_may_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let output = cli(&server)
        .args([
            "token",
            "create",
            "release-manager",
            "--expires",
            "90d",
            "--output",
            "json",
        ])
        .output()
        .expect("token create");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    let rm = created["token"].as_str().expect("secret").to_string();
    assert_eq!(created["info"]["admin"], false);
    assert!(created["info"]["expires_at"].is_string(), "{created}");

    // only admin tokens manage tokens: problem+json 403 for the others
    let (status, content_type, body) =
        call(&server, &rm, reqwest::Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("only admin tokens"),
        "{body}"
    );
    let (status, _, _) = call(
        &server,
        &rm,
        reqwest::Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": "sneaky", "admin": true })),
    )
    .await;
    assert_eq!(status, 403);

    // `token list` as a table and as JSON
    let output = cli(&server).args(["token", "list"]).output().expect("list");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("release-manager") && l.contains("active")),
        "{table}"
    );
    let output = cli(&server)
        .args(["token", "list", "--output", "json"])
        .output()
        .expect("list");
    let listed: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(listed.as_array().expect("array").len(), 2, "{listed}");

    server.apply("release.toml", GUARDED).await;
    let (status, body) = server
        .post("/api/v1/workflows/release/runs", json!({}))
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let run = body["runs"][0]["run_id"].as_i64().expect("run id");
    wait_for_gate(&server, run).await;
    let output = cli(&server)
        .args(["approve", &run.to_string(), "gate"])
        .output()
        .expect("approve as admin");
    assert!(!output.status.success(), "the admin is not an approver");
    assert!(
        text(&output.stderr).contains("may not decide"),
        "{}",
        text(&output.stderr)
    );
    let output = cli(&server)
        .env("JOBWORKS_TOKEN", &rm)
        .args(["approve", &run.to_string(), "gate", "--comment", "ship it"])
        .output()
        .expect("approve as release-manager");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let detail = server.wait_run(run, WAIT).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail:#}");
    let gate = detail["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["task"] == "gate")
        .expect("gate")
        .clone();
    assert_eq!(
        gate["approval"]["decided_by"], "token:release-manager",
        "{gate:#}"
    );

    // revoked: refused at once
    let output = cli(&server)
        .args(["token", "revoke", "release-manager"])
        .output()
        .expect("revoke");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let (status, _, body) = call(&server, &rm, reqwest::Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{body}"
    );
    // a token cannot revoke itself, and the last admin token cannot be revoked
    let output = cli(&server)
        .args(["token", "revoke", "admin"])
        .output()
        .expect("revoke");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("the token making this request"),
        "{}",
        text(&output.stderr)
    );
    let output = cli(&server)
        .args(["token", "create", "ops", "--admin", "--output", "json"])
        .output()
        .expect("create admin");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let ops: Value = serde_json::from_slice(&output.stdout).expect("json");
    let ops = ops["token"].as_str().expect("secret").to_string();
    let output = cli(&server)
        .env("JOBWORKS_TOKEN", &ops)
        .args(["token", "revoke", "admin"])
        .output()
        .expect("revoke");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let (status, _, _) = call(
        &server,
        &server.token,
        reqwest::Method::GET,
        "/api/v1/jobs",
        None,
    )
    .await;
    assert_eq!(status, 401, "the revoked admin token is refused at once");
    let output = cli(&server)
        .env("JOBWORKS_TOKEN", &ops)
        .args(["token", "revoke", "ops"])
        .output()
        .expect("revoke");
    assert!(!output.status.success(), "its own token");
}

fn demo_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(path).expect("example file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_restart_keeps_the_users_changes_to_demo_jobs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = TestServer::start(dir.path(), &["--demo"]);
    let original = server.get("/api/v1/jobs/heartbeat").await;
    let edited = demo_text("heartbeat.toml").replace(
        "description = \"Record the load average every 15 seconds\"",
        "description = \"mine now\"",
    );
    assert_ne!(edited, demo_text("heartbeat.toml"), "the edit applies");
    server.apply("heartbeat.toml", &edited).await;
    let (status, body) = server
        .request(reqwest::Method::DELETE, "/api/v1/jobs/flaky", None)
        .await;
    assert_eq!(status.as_u16(), 204, "{body}");
    server.stop();

    let server = TestServer::start(dir.path(), &["--demo"]);
    let job = server.get("/api/v1/jobs/heartbeat").await;
    assert_eq!(job["description"], "mine now", "{job:#}");
    assert_eq!(
        job["version"].as_i64(),
        original["version"].as_i64().map(|v| v + 1),
        "no new version over the user's: {job:#}"
    );
    let (status, _) = server
        .request(reqwest::Method::GET, "/api/v1/jobs/flaky", None)
        .await;
    assert_eq!(status.as_u16(), 404, "a deleted demo job stays deleted");
}
