//! `jobworks admin copy-store`: a real server on SQLite makes a varied installation (job
//! versions, logs, a failed-then-retried job, a workflow calling a sub-workflow with an
//! approval, a backfill, tokens); it stops; the installation is copied into a fresh
//! PostgreSQL database (`jw_copy_<pid>`, dropped at the end; skipped without
//! `JOBWORKS_TEST_POSTGRES_URL`); a server on PostgreSQL with the same data directory shows
//! the same runs, logs and versions to the same token, new runs get ids above the copied
//! ones, and a second copy into the now non-empty database is refused.

mod common;

use common::{TestServer, bin, cli, skip_on_postgres};
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const JOBS: &str = r#"
[[job]]
name = "hello"
[job.task]
type = "shell"
script = "echo hello one"

[[job]]
name = "flaky"
[job.retries]
max_attempts = 2
initial_delay = "100ms"
[job.task]
type = "shell"
script = 'if [ -f "$JOBWORKS_DATA_DIR/flaky.seen" ]; then echo second try; else touch "$JOBWORKS_DATA_DIR/flaky.seen"; echo first try >&2; exit 3; fi'

[[job]]
name = "hourly"
schedule = "0 * * * *"
concurrency = "queue"
[job.task]
type = "shell"
script = 'echo "logical $JOBWORKS_LOGICAL_TIME"'

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

fn copy_store(from: &str, to: &str) -> Output {
    Command::new(bin())
        .args([
            "admin",
            "copy-store",
            "--from",
            from,
            "--to",
            to,
            "--output",
            "json",
        ])
        .output()
        .expect("run jobworks admin copy-store")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `runs list --output json` through the CLI.
fn runs_list(server: &TestServer) -> Value {
    let out = cli(server)
        .args(["runs", "list", "--output", "json"])
        .output()
        .expect("runs list");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// What the test compares before and after the move.
async fn snapshot(server: &TestServer, runs: &[i64]) -> Value {
    let mut shown = Vec::new();
    for id in runs {
        let out = cli(server)
            .args(["runs", "show", &id.to_string(), "--output", "json"])
            .output()
            .expect("runs show");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let logs = cli(server)
            .args(["logs", &id.to_string()])
            .output()
            .expect("logs");
        assert!(logs.status.success(), "{}", text(&logs.stderr));
        shown.push(json!({
            "show": serde_json::from_slice::<Value>(&out.stdout).expect("JSON"),
            "logs": text(&logs.stdout),
        }));
    }
    json!({
        "runs": runs_list(server),
        "shown": shown,
        "versions": server.get("/api/v1/jobs/hello/versions").await,
    })
}

async fn wait_for(
    server: &TestServer,
    run: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    server
        .get_until(&format!("/api/v1/runs/{run}"), what, done)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_moves_from_sqlite_to_postgres_and_back_is_refused_when_not_empty() {
    if skip_on_postgres(
        "the source of this copy is a SQLite installation; the test copies to PostgreSQL and back itself",
    ) {
        return;
    }
    let admin_url = std::env::var("JOBWORKS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = TestServer::start(dir.path(), &[]);
    server.apply("jobs.toml", JOBS).await;
    let first = server.trigger("hello", json!({})).await;
    server.wait_run(first, Duration::from_secs(30)).await;
    server
        .apply(
            "jobs.toml",
            &JOBS.replace("echo hello one", "echo hello two"),
        )
        .await;
    let hello = server.trigger("hello", json!({})).await;
    let flaky = server.trigger("flaky", json!({})).await;
    let done = server.wait_run(flaky, Duration::from_secs(30)).await;
    assert_eq!(done["run"]["state"], "succeeded", "{done:#}");
    server.wait_run(hello, Duration::from_secs(30)).await;

    let train = server.trigger_workflow("train", json!({})).await;
    let detail = wait_for(&server, train, "calling release", |d| {
        d["tasks"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t["task"] == "sub" && t["child_run_id"].is_i64())
        })
    })
    .await;
    let child = detail["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task"] == "sub"))
        .and_then(|t| t["child_run_id"].as_i64())
        .expect("child run");
    wait_for(&server, child, "waiting for approval", |d| {
        d["tasks"].as_array().is_some_and(|ts| {
            ts.iter()
                .any(|t| t["task"] == "gate" && t["state"] == "waiting_approval")
        })
    })
    .await;
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{child}/tasks/gate/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let done = server.wait_run(train, Duration::from_secs(30)).await;
    assert_eq!(done["run"]["state"], "succeeded", "{done:#}");

    let backfill = cli(&server)
        .args([
            "backfill",
            "hourly",
            "--from",
            "2026-01-01 00:00",
            "--to",
            "2026-01-01T02:00:00Z",
        ])
        .output()
        .expect("backfill");
    assert!(backfill.status.success(), "{}", text(&backfill.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    let all_ended = |list: &Value| {
        list.as_array().is_some_and(|runs| {
            runs.iter()
                .all(|r| ["succeeded", "failed"].contains(&r["state"].as_str().unwrap_or_default()))
        })
    };
    while !all_ended(&runs_list(&server)) {
        assert!(
            Instant::now() < deadline,
            "runs did not end: {:#}",
            runs_list(&server)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids: Vec<i64> = runs_list(&server)
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    ids.sort();
    assert!(ids.len() >= 7, "{ids:?}");
    let before = snapshot(&server, &ids).await;
    server.stop();

    let database = format!("jw_copy_{}", std::process::id());
    let scratch = Scratch::create(&admin_url, &database).await;
    let from = format!("sqlite:{}", dir.path().join("jobworks.db").display());
    // a stopped server's lease may still run for a few seconds: wait for it to lapse
    let deadline = Instant::now() + Duration::from_secs(30);
    let copied = loop {
        let out = copy_store(&from, &scratch.url);
        let stderr = text(&out.stderr);
        if out.status.success() || !stderr.contains("leader lease") {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "the lease never lapsed: {stderr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let report: Value = serde_json::from_slice(&copied.stdout).expect("JSON report");
    assert_eq!(report["verified"], true, "{report:#}");
    let tables = report["tables"].as_array().expect("tables");
    for name in [
        "jobs",
        "job_versions",
        "runs",
        "task_instances",
        "attempts",
        "run_events",
        "log_lines",
        "api_tokens",
        "meta",
    ] {
        let t = tables
            .iter()
            .find(|t| t["table"] == name)
            .unwrap_or_else(|| panic!("{name} in {report:#}"));
        assert!(t["source_rows"].as_u64() > Some(0), "{t}");
        assert_eq!(t["source_rows"], t["target_rows"]);
        assert_eq!(t["source_sha256"], t["target_sha256"]);
    }

    let server = TestServer::start(dir.path(), &["--database", &scratch.url]);
    let after = snapshot(&server, &ids).await;
    assert_eq!(before, after);
    let new = server.trigger("hello", json!({})).await;
    assert!(
        new > *ids.last().expect("ids"),
        "new run {new} after {ids:?}"
    );
    let done = server.wait_run(new, Duration::from_secs(30)).await;
    assert_eq!(done["run"]["state"], "succeeded", "{done:#}");
    assert!(server.log_text(new).await.contains("hello two"));

    let mut server = server;
    server.stop();

    // and back: PostgreSQL into a new SQLite file, the new run included
    let back = format!("sqlite:{}", dir.path().join("back.db").display());
    let deadline = Instant::now() + Duration::from_secs(30);
    let returned = loop {
        let out = copy_store(&scratch.url, &back);
        let stderr = text(&out.stderr);
        if out.status.success() || !stderr.contains("leader lease") {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "the lease never lapsed: {stderr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(returned.status.success(), "{}", text(&returned.stderr));
    let report: Value = serde_json::from_slice(&returned.stdout).expect("JSON report");
    assert_eq!(report["verified"], true, "{report:#}");
    let runs = report["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["table"] == "runs"))
        .expect("runs in the report");
    assert_eq!(runs["target_rows"].as_u64(), Some(ids.len() as u64 + 1));

    let again = copy_store(&from, &scratch.url);
    assert!(!again.status.success());
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("copy-store needs an empty database"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("target holds {} runs", ids.len() + 1)),
        "{stderr}"
    );
    drop(server);
}

/// A database of the test's own on the PostgreSQL server, dropped when this is dropped.
struct Scratch {
    admin_url: String,
    name: String,
    url: String,
}

impl Scratch {
    async fn create(admin_url: &str, name: &str) -> Scratch {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("scratch database");
        }
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Scratch {
            admin_url: admin_url.to_string(),
            url: format!("{server}/{name}"),
            name: name.to_string(),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}
