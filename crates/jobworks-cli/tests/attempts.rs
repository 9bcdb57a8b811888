//! End-to-end tests of what an attempt leaves behind and records: its start across a
//! `kill -9` of the server. The real `jobworks` binary, real processes; every wait is bounded.

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
