//! End-to-end tests of the `jobworks` command line against a real server: exit codes of
//! `run --wait`, `validate` diagnostics, `import crontab` on the machine's real files, live
//! log following, and a scheduler that survives a locked database.

mod common;

use common::{TestServer, bin, cli, skip_on_postgres};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const JOBS: &str = r#"
[[job]]
name = "ok"
[job.task]
type = "shell"
script = "echo fine"

[[job]]
name = "broken"
[job.task]
type = "shell"
script = "echo 'about to fail' >&2; exit 3"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_wait_streams_logs_and_exits_with_the_outcome() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let file = dir.path().join("jobs.toml");
    std::fs::write(&file, JOBS).expect("write job file");
    let applied = cli(&server)
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .expect("run jobworks apply");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(String::from_utf8_lossy(&applied.stdout).contains("created"));

    let ok = cli(&server)
        .args(["run", "ok", "--wait"])
        .output()
        .expect("run jobworks run");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("fine"));

    let broken = cli(&server)
        .args(["run", "broken", "--wait"])
        .output()
        .expect("run jobworks run");
    assert_eq!(broken.status.code(), Some(1), "a failed run exits 1");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&broken.stdout),
        String::from_utf8_lossy(&broken.stderr)
    );
    assert!(all.contains("about to fail"), "{all}");

    let listed = cli(&server)
        .args(["runs", "list", "--output", "json"])
        .output()
        .expect("run jobworks runs list");
    let runs: serde_json::Value =
        serde_json::from_slice(&listed.stdout).expect("runs list --output json is JSON");
    assert_eq!(runs.as_array().expect("array").len(), 2);
}

#[test]
fn validate_reports_every_error_with_its_location() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[job]]\nname = \"a\"\nshedule = \"* * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n\n[[job]]\nname = \"b\"\nschedule = \"0 0 32 * *\"\ntimeout = \"5 minutes\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
    )
    .expect("write");
    let out = Command::new(bin())
        .args(["validate", "-f"])
        .arg(&file)
        .output()
        .expect("run jobworks validate");
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bad.toml:3:1"), "{text}");
    assert!(text.contains("did you mean `schedule`"), "{text}");
    assert!(
        text.contains("cron field 3 (day of month): 32 is out of range 1-31"),
        "{text}"
    );
    assert!(
        text.contains("bad.toml:11:"),
        "the timeout error is reported too: {text}"
    );
}

#[test]
fn import_crontab_converts_the_real_system_crontab() {
    let path = std::path::Path::new("/etc/crontab");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "/etc/crontab missing on CI: .ci/run installs Debian's cron package"
        );
        eprintln!("skipped: /etc/crontab missing (apt-get install cron)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out_file = dir.path().join("crontab.toml");
    let out = Command::new(bin())
        .args(["import", "crontab", "/etc/crontab", "-o"])
        .arg(&out_file)
        .output()
        .expect("run jobworks import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("cron-daily") || report.contains("cron.daily"),
        "{report}"
    );
    let validated = Command::new(bin())
        .args(["validate", "-f"])
        .arg(&out_file)
        .output()
        .expect("run jobworks validate");
    assert!(
        validated.status.success(),
        "the imported file validates: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_streams_lines_then_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "slowlog.toml",
            "[[job]]\nname = \"slowlog\"\n[job.task]\ntype = \"shell\"\nscript = '''\nfor i in 1 2 3; do echo \"line $i\"; sleep 0.3; done\n'''\n",
        )
        .await;
    let id = server.trigger("slowlog", json!({})).await;
    let out = tokio::task::spawn_blocking({
        let mut cmd = cli(&server);
        cmd.args(["logs", &id.to_string(), "-f"]);
        move || cmd.output()
    })
    .await
    .expect("join")
    .expect("run jobworks logs -f");
    let text = String::from_utf8_lossy(&out.stdout);
    for i in 1..=3 {
        assert!(text.contains(&format!("line {i}")), "{text}");
    }
    assert!(out.status.success(), "logs -f ends when the run ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_survives_a_locked_database() {
    if skip_on_postgres("locks the SQLite file with sqlite3; PostgreSQL has no such file lock") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "tick.toml",
            "[[job]]\nname = \"tick\"\nschedule = \"* * * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )
        .await;
    // another process holds the write lock for 8 s (longer than the 5 s busy timeout)
    let db = dir.path().join("jobworks.db");
    let mut locker = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(echo '.timeout 5000'; echo 'BEGIN EXCLUSIVE;'; sleep 8; echo 'COMMIT;') | sqlite3 {}",
            db.display()
        ))
        .spawn()
        .expect("sqlite3 is installed (.ci/run installs it)");
    let mut saw_not_ready = false;
    for _ in 0..100 {
        let (status, body) = server.request(reqwest::Method::GET, "/readyz", None).await;
        if status.as_u16() == 503 {
            saw_not_ready = true;
            // the scheduler's tick or the leader lease renewal, whichever met the lock first
            let errors = format!(
                "{} {}",
                body["scheduler_error"].as_str().unwrap_or_default(),
                body["leader_error"].as_str().unwrap_or_default()
            );
            assert!(errors.contains("busy") || errors.contains("lock"), "{body}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        saw_not_ready,
        "/readyz reported the scheduler's store errors"
    );
    locker.wait().expect("locker exits");
    let mut recovered = false;
    for _ in 0..150 {
        let (status, _) = server.request(reqwest::Method::GET, "/readyz", None).await;
        if status.is_success() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the scheduler recovered once the lock was released"
    );
    let before = server.get("/api/v1/runs?job=tick&limit=1000").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = server.get("/api/v1/runs?job=tick&limit=1000").await;
    assert!(
        after.as_array().expect("runs").len() > before.as_array().expect("runs").len(),
        "ticks fire again after the lock"
    );
}

#[test]
fn workflow_graph_draws_the_dag_and_validate_reports_cycles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("etl.toml");
    let workflow = "[[workflow]]\nname = \"etl\"\n\n[[workflow.task]]\nid = \"extract\"\ntype = \"shell\"\nscript = \"true\"\n\n[[workflow.task]]\nid = \"load\"\ndepends_on = [\"extract\"]\ntype = \"shell\"\nscript = \"true\"\n";
    std::fs::write(&file, workflow).expect("write");
    let out = Command::new(bin())
        .args(["workflow", "graph", "--format", "dot", "-f"])
        .arg(&file)
        .output()
        .expect("run jobworks workflow graph");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.contains("->"), "{dot}");

    std::fs::write(
        &file,
        workflow.replace(
            "id = \"extract\"",
            "id = \"extract\"\ndepends_on = [\"load\"]",
        ),
    )
    .expect("write");
    let out = Command::new(bin())
        .args(["validate", "-f"])
        .arg(&file)
        .output()
        .expect("run jobworks validate");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dependency cycle: extract -> load -> extract")
            || text.contains("dependency cycle: load -> extract -> load"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_creates_one_run_per_tick_once_each_with_its_logical_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "hourly.toml",
            "[[job]]\nname = \"hourly\"\nschedule = \"0 * * * *\"\nconcurrency = \"queue\"\n[job.task]\ntype = \"shell\"\nscript = 'echo \"logical $JOBWORKS_LOGICAL_TIME\"'\n",
        )
        .await;
    let backfill = |server: &TestServer| {
        let mut cmd = cli(server);
        cmd.args([
            "backfill",
            "hourly",
            "--from",
            "2026-01-01 00:00",
            "--to",
            "2026-01-01T05:00:00Z",
            "--output",
            "json",
        ]);
        cmd.output().expect("run jobworks backfill")
    };
    let first = backfill(&server);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    assert_eq!(first["ticks"], 6, "{first}");
    assert_eq!(first["runs"].as_array().expect("runs").len(), 6, "{first}");
    assert_eq!(first["existing"], 0);

    let again = backfill(&server);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(
        again["runs"].as_array().expect("runs").len(),
        0,
        "idempotent: {again}"
    );
    assert_eq!(again["existing"], 6);

    for run in first["runs"].as_array().expect("runs") {
        let id = run["run_id"].as_i64().expect("id");
        let detail = server.wait_run(id, Duration::from_secs(30)).await;
        assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
        assert_eq!(detail["run"]["trigger"], "backfill");
        let scheduled: chrono::DateTime<chrono::Utc> = detail["run"]["scheduled_at"]
            .as_str()
            .expect("scheduled")
            .parse()
            .expect("time");
        let logs = server.log_text(id).await;
        assert!(
            logs.contains(&format!("logical {}", scheduled.to_rfc3339())),
            "run {id} saw its logical time: {logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_to_a_date_includes_that_whole_day() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "daily.toml",
            "[[job]]\nname = \"daily\"\nschedule = \"0 3 * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )
        .await;
    let out = cli(&server)
        .args([
            "backfill",
            "daily",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--output",
            "json",
        ])
        .output()
        .expect("run jobworks backfill");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(response["ticks"], 31, "all of January: {response}");
    let last = response["runs"]
        .as_array()
        .and_then(|runs| runs.last())
        .and_then(|run| run["run_id"].as_i64())
        .expect("runs");
    let detail = server.get(&format!("/api/v1/runs/{last}")).await;
    let scheduled: chrono::DateTime<chrono::Utc> = detail["run"]["scheduled_at"]
        .as_str()
        .expect("scheduled")
        .parse()
        .expect("time");
    assert_eq!(
        scheduled.to_rfc3339(),
        "2026-01-31T03:00:00+00:00",
        "{detail}"
    );
}

#[test]
fn import_of_a_missing_crontab_says_what_to_do() {
    let out = Command::new(bin())
        .args(["import", "crontab", "/etc/jobworks-test-no-such-crontab"])
        .output()
        .expect("run jobworks import");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read /etc/jobworks-test-no-such-crontab: No such file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: this machine has no such system crontab; export a user's with `crontab -l > mine.crontab`"),
        "{stderr}"
    );
}
