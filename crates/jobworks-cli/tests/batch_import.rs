//! The batch-import example under a crash: the server is killed with `kill -9` mid-import and
//! restarted; the retry resumes from the stored checkpoint, and the table ends with exactly
//! the generated rows, each batch committed once.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Rows of the example's default size.
const ROWS: i64 = 1_000_000;
const BATCH: i64 = 20_000;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/batch-import")
}

/// The example's job file with its script at an absolute path.
pub fn job_file() -> String {
    let dir = example_dir();
    let toml = std::fs::read_to_string(dir.join("batch-import.toml")).expect("example job file");
    let script = dir.join("import.py");
    let script = script.canonicalize().expect("example script");
    toml.replace(
        "file = \"examples/batch-import/import.py\"",
        &format!("file = {:?}", script.display().to_string()),
    )
}

/// Runs one SQL query on the import's database with Python's sqlite3 (what the example
/// uses); returns its rows as JSON.
pub fn query(db: &Path, sql: &str) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sqlite3, sys\n\
             db = sqlite3.connect(sys.argv[1])\n\
             print(json.dumps(db.execute(sys.argv[2]).fetchall()))",
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
    serde_json::from_slice(&out.stdout).expect("json rows")
}

fn progress_done(detail: &Value) -> f64 {
    detail["tasks"][0]["progress"]["done"]
        .as_f64()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_import_resumes_from_the_checkpoint_exactly_once() {
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
                "batch_delay": 0.05,
            }),
        )
        .await;
    let running = server
        .wait_for_run(id, "three batches imported", |detail| {
            progress_done(detail) >= (3 * BATCH) as f64
        })
        .await;
    assert_eq!(running["tasks"][0]["progress"]["unit"], "rows");
    assert_eq!(running["tasks"][0]["progress"]["total"], ROWS as f64);
    assert!(
        running["tasks"][0]["checkpoint"]["data"]["offset"]
            .as_i64()
            .is_some_and(|offset| offset >= 3 * BATCH),
        "{running}"
    );
    let pid = running["attempts"][0]["pid"].as_i64();
    let mut server = server;
    server.kill9();

    let server = TestServer::start(dir.path(), &[]);
    let detail = server.wait_run(id, Duration::from_secs(90)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert!(attempts.len() >= 2, "{detail}");
    assert_eq!(attempts[0]["state"], "lost", "{detail}");
    if let Some(pid) = pid {
        assert!(
            common::process_gone(pid),
            "the import process of the killed server was swept"
        );
    }

    let counts = query(&db, "SELECT COUNT(*), COUNT(DISTINCT id) FROM items");
    assert_eq!(counts, json!([[ROWS, ROWS]]), "exactly the generated rows");
    let batches = query(
        &db,
        "SELECT COUNT(*), COUNT(DISTINCT batch_no), SUM(rows) FROM batches",
    );
    assert_eq!(batches, json!([[ROWS / BATCH, ROWS / BATCH, ROWS]]));
    // the resumed attempt started from a checkpoint, past the batches already committed
    let starts = query(&db, "SELECT attempt, checkpoint FROM starts ORDER BY id");
    let starts = starts.as_array().expect("rows");
    assert!(starts.len() >= 2, "{starts:?}");
    assert_eq!(
        starts[0][1],
        Value::Null,
        "the first attempt had no checkpoint"
    );
    let resumed: Value = serde_json::from_str(
        starts[1][1]
            .as_str()
            .expect("the retry got $JOBWORKS_CHECKPOINT"),
    )
    .expect("checkpoint JSON");
    assert!(
        resumed["offset"]
            .as_i64()
            .is_some_and(|offset| offset >= 3 * BATCH),
        "{resumed}"
    );
    let log = server.log_text(id).await;
    assert!(log.contains("(from checkpoint)"), "{log}");
    assert!(
        !log.contains("::progress") && !log.contains("::checkpoint"),
        "directives are not logged"
    );
    let first_batches = query(&db, "SELECT COUNT(*) FROM batches WHERE attempt = '1'");
    assert!(
        first_batches[0][0].as_i64().is_some_and(|n| n >= 3),
        "the first attempt's batches were kept, not re-imported: {first_batches}"
    );
}
