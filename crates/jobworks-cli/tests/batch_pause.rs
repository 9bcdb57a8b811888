//! Pause and resume of a running job run with the batch-import example: `jobworks pause`
//! stops the import at a checkpoint (the run is `paused`, the attempt `paused`, not a failure),
//! `jobworks resume` continues it from there, and the table ends with every row once.

mod common;

use common::{TestServer, cli};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const ROWS: i64 = 200_000;
const BATCH: i64 = 10_000;

fn job_file() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/batch-import");
    let toml = std::fs::read_to_string(dir.join("batch-import.toml")).expect("example job file");
    let script = dir
        .join("import.py")
        .canonicalize()
        .expect("example script");
    toml.replace(
        "file = \"examples/batch-import/import.py\"",
        &format!("file = {:?}", script.display().to_string()),
    )
}

fn count(db: &Path, sql: &str) -> i64 {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nprint(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])",
        ])
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_at_a_checkpoint_and_resume_finishes_from_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("import.db");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("batch-import.toml", &job_file()).await;
    let id = server
        .trigger(
            "batch-import",
            json!({
                "rows": ROWS,
                "batch": BATCH,
                "db": db.display().to_string(),
                "batch_delay": 0.1,
            }),
        )
        .await;
    server
        .wait_for_run(id, "two batches imported", |detail| {
            detail["tasks"][0]["progress"]["done"]
                .as_f64()
                .is_some_and(|done| done >= (2 * BATCH) as f64)
        })
        .await;

    let paused = cli(&server)
        .args(["pause", &id.to_string()])
        .output()
        .expect("jobworks pause");
    assert!(
        paused.status.success(),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    assert!(
        String::from_utf8_lossy(&paused.stdout).contains(&format!("run {id} paused")),
        "{}",
        String::from_utf8_lossy(&paused.stdout)
    );
    let detail = server
        .wait_for_run(id, "the attempt stopped by the pause", |detail| {
            detail["attempts"][0]["state"] == "paused"
        })
        .await;
    assert_eq!(detail["run"]["state"], "paused", "{detail}");
    assert_eq!(detail["tasks"][0]["state"], "paused", "{detail}");
    let offset = detail["tasks"][0]["checkpoint"]["data"]["offset"]
        .as_i64()
        .expect("a checkpoint was stored at the pause");
    assert!((2 * BATCH..ROWS).contains(&offset), "{detail}");
    // nothing runs while paused
    let imported = count(&db, "SELECT COUNT(*) FROM items");
    assert_eq!(
        imported, offset,
        "the pause stopped right after the checkpointed batch"
    );
    let shown = cli(&server)
        .args(["runs", "show", &id.to_string()])
        .output()
        .expect("runs show");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("paused"), "{shown}");
    assert!(shown.contains("progress"), "{shown}");

    let resumed = cli(&server)
        .args(["resume", &id.to_string()])
        .output()
        .expect("jobworks resume");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let detail = server.wait_run(id, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(attempts[0]["state"], "paused");
    assert_eq!(attempts[1]["state"], "succeeded");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM items"), ROWS);
    assert_eq!(count(&db, "SELECT COUNT(DISTINCT id) FROM items"), ROWS);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM batches"), ROWS / BATCH);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM starts WHERE checkpoint = '{{\"offset\":{offset}}}'")
        ),
        1,
        "the resumed attempt started from the pause's checkpoint"
    );
    let again = cli(&server)
        .args(["resume", &id.to_string()])
        .output()
        .expect("jobworks resume");
    assert!(!again.status.success(), "a finished run cannot be resumed");
}

const WORKFLOW: &str = r#"
[[workflow]]
name = "counting"

[[workflow.task]]
id = "count"
type = "shell"
script = '''
n=$(printf '%s' "${JOBWORKS_CHECKPOINT:-}" | tr -cd 0-9)
n=${n:-0}
echo "started at $n"
trap 'echo "::checkpoint {\"n\": $n}"; exit 0' USR1
while [ "$n" -lt 30 ]; do
    n=$((n + 1))
    echo "::progress $n/30 steps"
    sleep 0.1
done
'''

[[workflow.task]]
id = "after"
depends_on = ["count"]
type = "shell"
script = "echo after"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_run_pauses_and_resumes_its_running_task_from_its_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("counting.toml", WORKFLOW).await;
    let id = server.trigger_workflow("counting", json!({})).await;
    server
        .wait_for_run(id, "the count task reports progress", |detail| {
            detail["tasks"][0]["progress"]["done"]
                .as_f64()
                .is_some_and(|done| done >= 3.0)
        })
        .await;
    let (status, body) = server
        .post(&format!("/api/v1/runs/{id}/pause"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let detail = server
        .wait_for_run(id, "the count task paused", |detail| {
            detail["tasks"][0]["state"] == "paused"
        })
        .await;
    assert_eq!(detail["run"]["state"], "paused", "{detail}");
    assert_eq!(detail["tasks"][1]["state"], "pending", "{detail}");
    let n = detail["tasks"][0]["checkpoint"]["data"]["n"]
        .as_i64()
        .expect("checkpoint at the pause");
    let (status, body) = server
        .post(&format!("/api/v1/runs/{id}/resume"), json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(body["run"]["state"], "running", "{body}");
    let detail = server.wait_run(id, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(detail["tasks"][1]["state"], "succeeded", "{detail}");
    let log = server.log_text(id).await;
    assert!(
        log.contains(&format!("started at {n}")),
        "resumed from {n}: {log}"
    );
}
