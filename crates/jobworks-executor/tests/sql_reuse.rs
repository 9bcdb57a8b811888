//! Connections kept between SQL tasks (`run_sql_with`): reused for the next task on the same
//! datasource only when the previous task left no session state behind. SQLite in a temp
//! file always; PostgreSQL when `JOBWORKS_TEST_POSTGRES_URL` is set.

use jobworks_executor::{LogLine, LogStream, SqlConnections, SqlOutcome, SqlTask, run_sql_with};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Runs `query` on `url` through `connections`; returns the outcome and whether the
/// connection was a kept one.
async fn run(connections: &Arc<SqlConnections>, url: &str, query: &str) -> (SqlOutcome, bool) {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines: Vec<LogLine> = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = run_sql_with(
        SqlTask::new(url, query),
        CancellationToken::new(),
        sender,
        Some(connections.clone()),
    )
    .await
    .expect("the datasource is reachable");
    let lines = collector.await.expect("collector");
    let connected = lines
        .iter()
        .find(|l| l.stream == LogStream::System && l.text.starts_with("connected to"))
        .map(|l| l.text.clone())
        .unwrap_or_default();
    (outcome, connected.ends_with("(reused)"))
}

#[tokio::test]
async fn sqlite_connections_are_reused_only_after_plain_statements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("reuse.db").display());
    let connections = Arc::new(SqlConnections::new(4, Duration::from_secs(30)));

    let (first, reused) = run(&connections, &url, "CREATE TABLE t (a INTEGER)").await;
    assert!(first.succeeded() && !reused, "{first:?}");
    assert_eq!(connections.idle_count(), 0, "DDL closes its connection");

    let (insert, reused) = run(&connections, &url, "INSERT INTO t VALUES (1)").await;
    assert!(insert.succeeded() && !reused);
    assert_eq!(connections.idle_count(), 1, "a data change keeps it");
    let (select, reused) = run(&connections, &url, "SELECT count(*) AS n FROM t").await;
    assert!(select.succeeded() && reused, "the next task reuses it");
    assert_eq!(select.rows[0]["n"], serde_json::json!(1));

    // a PRAGMA changes the session: that connection is closed, not handed on
    let (pragma, reused) = run(&connections, &url, "PRAGMA query_only = 1").await;
    assert!(pragma.succeeded() && reused);
    assert_eq!(connections.idle_count(), 0);
    let (write, reused) = run(&connections, &url, "INSERT INTO t VALUES (2)").await;
    assert!(
        write.succeeded(),
        "a fresh connection is not read-only: {write:?}"
    );
    assert!(!reused);

    // a failed statement closes its connection too
    let (failed, _) = run(&connections, &url, "SELECT * FROM missing_table").await;
    assert!(!failed.succeeded());
    assert_eq!(connections.idle_count(), 0);
}

#[tokio::test]
async fn idle_connections_expire() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("expire.db").display());
    let connections = Arc::new(SqlConnections::new(4, Duration::ZERO));
    let (_, _) = run(&connections, &url, "SELECT 1").await;
    assert_eq!(connections.idle_count(), 1);
    let (again, reused) = run(&connections, &url, "SELECT 1").await;
    assert!(again.succeeded());
    assert!(
        !reused,
        "a connection idle past the limit is closed, not reused"
    );
}

#[tokio::test]
async fn postgres_connections_are_reset_before_reuse() {
    let Ok(url) = std::env::var("JOBWORKS_TEST_POSTGRES_URL") else {
        eprintln!("skipped: JOBWORKS_TEST_POSTGRES_URL unset");
        return;
    };
    let connections = Arc::new(SqlConnections::new(4, Duration::from_secs(30)));
    let (set, _) = run(
        &connections,
        &url,
        "SELECT set_config('application_name', 'left-behind', false) AS v",
    )
    .await;
    assert!(set.succeeded(), "{set:?}");
    assert_eq!(connections.idle_count(), 1);
    let (read, reused) = run(
        &connections,
        &url,
        "SELECT current_setting('application_name') AS v",
    )
    .await;
    assert!(read.succeeded() && reused, "{read:?}");
    assert_ne!(
        read.rows[0]["v"],
        serde_json::json!("left-behind"),
        "DISCARD ALL reset the session before it was handed on"
    );

    // the same statement again, on the same kept connection: its prepared statement was
    // dropped with the session, and the driver's cache knows it
    for _ in 0..3 {
        let (again, reused) = run(
            &connections,
            &url,
            "SELECT current_setting('application_name') AS v",
        )
        .await;
        assert!(again.succeeded() && reused, "{again:?}");
    }

    // a task that leaves a transaction open cannot be reset: its connection is closed
    let (begin, _) = run(&connections, &url, "BEGIN").await;
    assert!(begin.succeeded(), "{begin:?}");
    assert_eq!(connections.idle_count(), 0);
}
