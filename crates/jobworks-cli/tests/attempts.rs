//! End-to-end tests of what an attempt leaves behind and records: its start across a
//! `kill -9` of the server, escaped descendants, peak memory. The real `jobworks` binary, real
//! processes; every wait is bounded.

mod common;

use common::TestServer;
use serde_json::json;
use std::time::{Duration, Instant};

/// Waits (at most `timeout`) until `path` exists.
async fn wait_for_file(path: &std::path::Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Issue 7 point 13: the server is killed right after the attempt's process started (before
/// its start record could be written); after the restart the lost attempt still says when it
/// was claimed (JSON `claimed_at`, and `runs show` prints it as `... (claimed)` unless the
/// start itself was recorded), never `-`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_right_after_the_start_keeps_the_claim_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("started");
    let job = format!(
        r#"
[[job]]
name = "crashy"
[job.task]
type = "shell"
script = '''
touch {marker}
sleep 300
'''
"#,
        marker = marker.display()
    );
    let mut server = TestServer::start(dir.path(), &[]);
    server.apply("crashy.toml", &job).await;
    let before = chrono::Utc::now();
    let id = server.trigger("crashy", json!({})).await;
    wait_for_file(&marker, Duration::from_secs(20)).await;
    server.kill9();

    let server = TestServer::start(dir.path(), &[]);
    let detail = server.wait_run(id, Duration::from_secs(40)).await;
    let attempt = &detail["attempts"][0];
    assert_eq!(attempt["state"], "lost", "{detail}");
    let claimed_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(attempt["claimed_at"].clone())
            .unwrap_or_else(|error| panic!("no claimed_at ({error}): {detail}"));
    assert!(
        claimed_at >= before - chrono::Duration::seconds(1),
        "{detail}"
    );
    if let Some(started_at) = attempt["started_at"].as_str() {
        let started_at: chrono::DateTime<chrono::Utc> = started_at.parse().expect("time");
        assert!(claimed_at <= started_at, "{detail}");
        assert!(
            attempt["pid"].is_i64(),
            "a recorded start has its pid: {detail}"
        );
    }

    let shown = common::cli(&server)
        .args(["runs", "show", &id.to_string()])
        .output()
        .expect("runs show");
    assert!(shown.status.success(), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    let row = text
        .lines()
        .skip_while(|line| !line.starts_with("ATTEMPT"))
        .nth(1)
        .unwrap_or_else(|| panic!("no attempt row:\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    // ATTEMPT STATE WORKER PID STARTED(date time [(claimed)]) ...
    assert_eq!(cells[1], "lost", "{text}");
    assert_ne!(
        cells[4], "-",
        "a started attempt shown as never started:\n{text}"
    );
    if attempt["started_at"].is_null() {
        assert!(row.contains("(claimed)"), "{text}");
    }
}

/// Issue 7 point 5 through the server: the grandchild leaves the process group and the session
/// and clears its environment; after its attempt times out (job `escape-timeout`) or is
/// cancelled (job `escape-cancel`), it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_grandchildren_die_with_timed_out_and_cancelled_attempts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let job = |name: &str, timeout: &str| {
        format!(
            r#"
[[job]]
name = "{name}"
{timeout}
[job.task]
type = "shell"
script = '''
env -i setsid sleep 300 >/dev/null 2>&1 </dev/null &
echo $! > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}
sleep 300
'''
"#,
            pidfile = dir.path().join(format!("{name}.pid")).display()
        )
    };
    let file = format!(
        "{}{}",
        job("escape-timeout", "timeout = \"1s\""),
        job("escape-cancel", "")
    );
    server.apply("escape.toml", &file).await;
    let pid_of = |name: &str| {
        let path = dir.path().join(format!("{name}.pid"));
        async move {
            wait_for_file(&path, Duration::from_secs(20)).await;
            let pid: i64 = std::fs::read_to_string(&path)
                .expect("pid file")
                .trim()
                .parse()
                .expect("pid");
            // wait until it is `sleep`: it has left the group
            let deadline = Instant::now() + Duration::from_secs(20);
            while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains("(sleep)")
            {
                assert!(
                    Instant::now() < deadline,
                    "grandchild {pid} never ran sleep"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            pid
        }
    };

    let timed_out = server.trigger("escape-timeout", json!({})).await;
    let pid = pid_of("escape-timeout").await;
    let detail = server.wait_run(timed_out, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "timed_out", "{detail}");
    assert!(
        common::process_gone(pid),
        "grandchild {pid} survived the timeout"
    );

    let cancelled = server.trigger("escape-cancel", json!({})).await;
    let pid = pid_of("escape-cancel").await;
    let (status, body) = server
        .post(&format!("/api/v1/runs/{cancelled}/cancel"), json!({}))
        .await;
    assert!(status.is_success(), "{status} {body}");
    let detail = server.wait_run(cancelled, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "cancelled", "{detail}");
    assert!(
        common::process_gone(pid),
        "grandchild {pid} survived the cancel"
    );
}

/// Issue 7 point 12 through the server: a trivial `sh` reports a few MiB (not the server's
/// size), a task holding 300 MiB about 300 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_rss_is_the_tasks_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let file = r#"
[[job]]
name = "trivial"
[job.task]
type = "shell"
script = "true"

[[job]]
name = "big"
[job.task]
type = "python"
script = '''
import time
b = b"x" * (300 * 1024 * 1024)
time.sleep(0.3)
print(len(b))
'''
"#;
    server.apply("memory.toml", file).await;
    const MIB: i64 = 1024 * 1024;
    let trivial = server.trigger("trivial", json!({})).await;
    let detail = server.wait_run(trivial, Duration::from_secs(30)).await;
    // `true` may end before its first sample on a loaded machine: then it has none (`-`);
    // when sampled, the figure is its own, not the forked server's
    if let Some(rss) = detail["attempts"][0]["max_rss_bytes"].as_i64() {
        assert!(rss < 8 * MIB, "a trivial sh reports {} MiB", rss / MIB);
    }

    let big = server.trigger("big", json!({})).await;
    let detail = server.wait_run(big, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let rss = detail["attempts"][0]["max_rss_bytes"]
        .as_i64()
        .unwrap_or_else(|| panic!("no peak RSS: {detail}"));
    assert!(
        (300 * MIB..340 * MIB).contains(&rss),
        "a 300 MiB task reports {} MiB",
        rss / MIB
    );
}

/// Issue 7 point 6 end to end: a crontab line `false; echo x` runs `echo` under cron; imported
/// with `jobworks import crontab` and run by the server, it does too (and succeeds), while the
/// same script in a job file without `errexit = false` stops at `false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_crontab_jobs_keep_crons_shell_semantics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let crontab = dir.path().join("crontab");
    std::fs::write(&crontab, "0 3 * * * false; echo x\n").expect("crontab");
    let server = TestServer::start(dir.path(), &[]);
    let imported = common::cli(&server)
        .args(["import", "crontab"])
        .arg(&crontab)
        .output()
        .expect("import crontab");
    assert!(imported.status.success(), "{imported:?}");
    let toml = String::from_utf8(imported.stdout).expect("utf-8");
    assert!(toml.contains("errexit = false"), "{toml}");
    let applied = server.apply("cron.toml", &toml).await;
    let name = applied["jobs"][0]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no job applied: {applied}"))
        .to_owned();
    let id = server.trigger(&name, json!({})).await;
    let detail = server.wait_run(id, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert!(server.log_text(id).await.lines().any(|line| line == "x"));

    let strict = r#"
[[job]]
name = "strict"
[job.task]
type = "shell"
script = "false; echo x"
"#;
    server.apply("strict.toml", strict).await;
    let id = server.trigger("strict", json!({})).await;
    let detail = server.wait_run(id, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "failed", "{detail}");
    assert!(!server.log_text(id).await.lines().any(|line| line == "x"));
}
