//! End-to-end: the built-in `jobworks` datasource is read-only on both stores (SQLite opens
//! the file `mode=ro`; PostgreSQL connects with `default_transaction_read_only=on`), so a SQL
//! task can report on Jobworks' own tables but never change them; a reused connection stays
//! read-only after a task tried to switch the session to read-write.

mod common;

use common::{TestServer, on_postgres};
use serde_json::json;
use std::time::Duration;

const JOBS: &str = r#"
[[job]]
name = "count-runs"
[job.task]
type = "sql"
datasource = "jobworks"
query = "SELECT count(*) AS n FROM runs"

[[job]]
name = "delete-runs"
[job.task]
type = "sql"
datasource = "jobworks"
query = "DELETE FROM runs"

[[job]]
name = "session-rw"
[job.task]
type = "sql"
datasource = "jobworks"
query = "SELECT set_config('default_transaction_read_only', 'off', false) AS was"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_tasks_cannot_change_the_store_through_the_builtin_datasource() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("jobs.toml", JOBS).await;
    let first = server.trigger("count-runs", json!({})).await;
    let detail = server.wait_run(first, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");

    let delete = server.trigger("delete-runs", json!({})).await;
    let detail = server.wait_run(delete, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "failed", "{detail}");
    let log = server.log_text(delete).await;
    let refused = if on_postgres() {
        "read-only transaction"
    } else {
        "readonly database"
    };
    assert!(log.contains(refused), "why the delete failed: {log}");
    let kept = server.get(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(
        kept["run"]["state"], "succeeded",
        "the store kept its runs: {kept}"
    );

    if on_postgres() {
        // a task may flip its session to read-write; the next task on the reused
        // connection is read-only again (DISCARD ALL restores the connection's default)
        let flip = server.trigger("session-rw", json!({})).await;
        let detail = server.wait_run(flip, Duration::from_secs(30)).await;
        assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
        let again = server.trigger("delete-runs", json!({})).await;
        let detail = server.wait_run(again, Duration::from_secs(30)).await;
        assert_eq!(detail["run"]["state"], "failed", "{detail}");
        assert!(
            server
                .log_text(again)
                .await
                .contains("read-only transaction")
        );
    }
}
