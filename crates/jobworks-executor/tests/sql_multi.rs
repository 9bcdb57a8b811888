//! Multi-statement SQL tasks against real databases (issue 7, point 7): refused without the
//! opt-in, and with it run in one transaction with the last statement's outputs. SQLite always;
//! PostgreSQL and MySQL/MariaDB when `JOBWORKS_TEST_POSTGRES_URL` / `JOBWORKS_TEST_MYSQL_URL`
//! are set.

use std::sync::atomic::{AtomicU32, Ordering};

use jobworks_executor::{LogLine, LogStream, SqlOutcome, SqlTask, SqlValue, run_sql};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn run(
    url: &str,
    query: &str,
    params: Vec<SqlValue>,
    multi: bool,
) -> (SqlOutcome, Vec<LogLine>) {
    let mut task = SqlTask::new(url, query);
    task.params = params;
    task.multi_statement = multi;
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = run_sql(task, CancellationToken::new(), sender)
        .await
        .expect("the datasource is reachable");
    (
        outcome,
        collector.await.expect("the log collector finishes"),
    )
}

async fn count(url: &str, table: &str) -> i64 {
    let (outcome, lines) = run(
        url,
        &format!("SELECT count(*) AS n FROM {table}"),
        vec![],
        false,
    )
    .await;
    assert!(outcome.succeeded(), "{outcome:?} {lines:?}");
    outcome.rows[0]["n"].as_i64().expect("a count")
}

/// The same checks on every backend; `p1`, `p2` are its placeholders for values 1 and 2.
async fn check(url: &str, p1: &str, p2: &str) {
    let table = unique("jobworks_multi");
    let (created, lines) = run(
        url,
        &format!("CREATE TABLE {table} (n INT); INSERT INTO {table} VALUES (1)"),
        vec![],
        true,
    )
    .await;
    assert!(created.succeeded(), "{created:?} {lines:?}");
    assert_eq!(count(url, &table).await, 1);

    // without the opt-in nothing runs, and the error says where the second statement starts
    let query = format!("SELECT count(*) AS n FROM {table};\n  DELETE FROM {table}");
    let (refused, lines) = run(url, &query, vec![], false).await;
    let error = refused.error.clone().expect("refused");
    assert!(
        error.contains("holds 2 statements (the second starts at line 2, column 3"),
        "{error}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.stream == LogStream::Stderr && l.text == error),
        "{lines:?}"
    );
    assert_eq!(count(url, &table).await, 1, "the refused query ran nothing");

    // a trailing `;` is one statement
    let (single, lines) = run(url, &format!("SELECT n FROM {table};"), vec![], false).await;
    assert!(single.succeeded(), "{single:?} {lines:?}");

    // opted in: all statements, outputs from the last
    let query = format!(
        "INSERT INTO {table} VALUES ({p1}); INSERT INTO {table} VALUES ({p2}); \
         SELECT count(*) AS n, max(n) AS top FROM {table}"
    );
    let (all, lines) = run(url, &query, vec![SqlValue::Int(5), SqlValue::Int(7)], true).await;
    assert!(all.succeeded(), "{all:?} {lines:?}");
    assert_eq!(all.columns, ["n", "top"]);
    assert_eq!(json!(all.rows), json!([{"n": 3, "top": 7}]), "{all:?}");
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(stdout[0], "statement 1 of 3: 1 rows affected", "{stdout:?}");

    // a failing last statement rolls back the earlier ones
    let query =
        format!("DELETE FROM {table}; INSERT INTO {table} VALUES (1); SELECT nope FROM {table}");
    let (failed, lines) = run(url, &query, vec![], true).await;
    assert!(!failed.succeeded(), "{failed:?} {lines:?}");
    assert!(failed.error.is_some(), "{failed:?}");
    assert_eq!(count(url, &table).await, 3, "the transaction rolled back");

    run(url, &format!("DROP TABLE {table}"), vec![], false).await;
}

fn env_url(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: {name} unset");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_multi_statement_is_opt_in_and_transactional() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("multi.db").display());
    check(&url, "?", "?").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_multi_statement_is_opt_in_and_transactional() {
    let Some(url) = env_url("JOBWORKS_TEST_POSTGRES_URL") else {
        return;
    };
    check(&url, "$1", "$2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_multi_statement_is_opt_in_and_transactional() {
    let Some(url) = env_url("JOBWORKS_TEST_MYSQL_URL") else {
        return;
    };
    check(&url, "?", "?").await;
}
