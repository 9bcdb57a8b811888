//! SQL tasks against real databases: SQLite in a temp file always; PostgreSQL and MySQL/MariaDB
//! when `JOBWORKS_TEST_POSTGRES_URL` / `JOBWORKS_TEST_MYSQL_URL` are set.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobworks_executor::{
    EndReason, ExecError, LogLine, LogStream, SqlOutcome, SqlTask, SqlValue, run_sql,
};
use serde_json::{Value, json};
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

async fn run_with(task: SqlTask, cancel: CancellationToken) -> (SqlOutcome, Vec<LogLine>) {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = run_sql(task, cancel, sender)
        .await
        .expect("the datasource is reachable");
    (
        outcome,
        collector.await.expect("the log collector finishes"),
    )
}

async fn run(task: SqlTask) -> (SqlOutcome, Vec<LogLine>) {
    run_with(task, CancellationToken::new()).await
}

/// Runs a statement that must succeed and returns its outcome.
async fn ok(url: &str, query: &str, params: Vec<SqlValue>) -> SqlOutcome {
    let mut task = SqlTask::new(url, query);
    task.params = params;
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded(), "{query}: {outcome:?} {lines:?}");
    outcome
}

fn texts(lines: &[LogLine], stream: LogStream) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| line.stream == stream)
        .map(|line| line.text.as_str())
        .collect()
}

fn single_row(outcome: &SqlOutcome) -> Value {
    assert_eq!(outcome.rows.len(), 1, "{outcome:?}");
    Value::Object(outcome.rows[0].clone())
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

// ---------------------------------------------------------------------------------------------
// SQLite

fn sqlite_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("test.db").display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_create_insert_select_with_bound_params_and_types() {
    let (_dir, url) = sqlite_file();
    let create = SqlTask::new(
        format!("{url}?mode=rwc"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, active BOOLEAN, data BLOB, note TEXT)",
    );
    let (created, _) = run(create).await;
    assert!(created.succeeded(), "{created:?}");
    assert!(created.columns.is_empty());

    let hostile = "x'); DROP TABLE items; --";
    let inserted = ok(
        &url,
        "INSERT INTO items (id, name, price, active, data, note) VALUES (?1, ?2, ?3, ?4, X'DEADBEEF', ?5)",
        vec![
            SqlValue::Int(1),
            SqlValue::Text(hostile.to_owned()),
            SqlValue::Float(2.5),
            SqlValue::Bool(true),
            SqlValue::Null,
        ],
    )
    .await;
    assert_eq!(inserted.rows_affected, 1);
    ok(
        &url,
        "INSERT INTO items (id, name, active) VALUES (2, 'second', 0)",
        vec![],
    )
    .await;

    let (selected, lines) = run(SqlTask {
        params: vec![SqlValue::Int(1)],
        ..SqlTask::new(
            &url,
            "SELECT id, name, price, active, data, note, 7 / 2 AS quotient FROM items WHERE id = ?",
        )
    })
    .await;
    assert!(selected.succeeded(), "{selected:?}");
    assert_eq!(
        selected.columns,
        ["id", "name", "price", "active", "data", "note", "quotient"]
    );
    assert_eq!(
        single_row(&selected),
        json!({
            "id": 1, "name": hostile, "price": 2.5, "active": true,
            "data": "deadbeef", "note": null, "quotient": 3
        })
    );
    let stdout = texts(&lines, LogStream::Stdout);
    assert!(stdout[1].starts_with("| id | name"), "{stdout:?}");
    assert_eq!(stdout.last().copied(), Some("1 rows"));
    assert!(texts(&lines, LogStream::System)[0].starts_with("connected to sqlite:"));

    let both = ok(&url, "SELECT id, active FROM items ORDER BY id", vec![]).await;
    assert_eq!(both.rows[1]["active"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failures_and_limits() {
    let (_dir, url) = sqlite_file();

    // Default mode is read-write without creating: a missing file cannot be opened.
    let error = run_sql(
        SqlTask::new(&url, "SELECT 1"),
        CancellationToken::new(),
        mpsc::channel(8).0,
    )
    .await
    .expect_err("the database file does not exist");
    assert!(matches!(error, ExecError::Connect { .. }), "{error:?}");

    ok(
        &format!("{url}?mode=rwc"),
        "CREATE TABLE t (x INTEGER)",
        vec![],
    )
    .await;

    // A failing statement is an outcome, with the error on stderr.
    let (failed, lines) = run(SqlTask::new(&url, "SELECT * FROM missing_table")).await;
    assert_eq!(failed.end, EndReason::Exited);
    let error = failed.error.clone().expect("an error message");
    assert!(error.contains("no such table"), "{error}");
    assert_eq!(texts(&lines, LogStream::Stderr), [error.as_str()]);
    assert!(!failed.succeeded());

    // max_rows truncates; the log shows at most 100 rows.
    let series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) SELECT i, i AS i FROM n";
    let (all, lines) = run(SqlTask::new(&url, series)).await;
    assert_eq!((all.rows.len(), all.truncated), (250, false));
    assert_eq!(all.columns, ["i", "i_2"], "duplicate names get a suffix");
    let stdout = texts(&lines, LogStream::Stdout);
    // Top border, header, separator, 100 rows, bottom border, summary.
    assert_eq!(stdout.len(), 105, "{stdout:?}");
    assert_eq!(stdout[104], "250 rows, the first 100 shown");
    let (truncated, lines) = run(SqlTask {
        max_rows: 5,
        ..SqlTask::new(&url, series)
    })
    .await;
    assert_eq!((truncated.rows.len(), truncated.truncated), (5, true));
    assert!(truncated.succeeded());
    assert_eq!(
        texts(&lines, LogStream::Stdout).last().copied(),
        Some("5 rows (truncated: more than max_rows = 5)")
    );

    // Unsupported schemes never reach a driver.
    let error = run_sql(
        SqlTask::new("mssql://u:secret@h/db", "SELECT 1"),
        CancellationToken::new(),
        mpsc::channel(8).0,
    )
    .await
    .expect_err("mssql is not supported");
    assert_eq!(
        error.to_string(),
        "unsupported datasource url scheme in `mssql://u:***@h/db`"
    );
}

/// A statement that runs for minutes without returning a row.
const SQLITE_SLOW: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) SELECT count(*) FROM n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_timeout_and_cancel_interrupt_the_statement() {
    let url = "sqlite::memory:";
    let begun = Instant::now();
    let (timed_out, lines) = run(SqlTask {
        timeout: Some(Duration::from_millis(300)),
        ..SqlTask::new(url, SQLITE_SLOW)
    })
    .await;
    assert_eq!(timed_out.end, EndReason::TimedOut, "{timed_out:?}");
    assert_eq!(timed_out.error.as_deref(), Some("timed out after 300 ms"));
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "took {:?}",
        begun.elapsed()
    );
    assert!(
        texts(&lines, LogStream::System)
            .contains(&"timed out after 300 ms: aborting the statement"),
        "{lines:?}"
    );

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let begun = Instant::now();
    let (cancelled, _) = run_with(SqlTask::new(url, SQLITE_SLOW), cancel).await;
    assert_eq!(cancelled.end, EndReason::Cancelled, "{cancelled:?}");
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "took {:?}",
        begun.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_types_params_and_rows_affected() {
    let Some(url) = env_url("JOBWORKS_TEST_POSTGRES_URL") else {
        return;
    };
    let selected = ok(
        &url,
        r#"SELECT 1::int2 AS i2, 2::int4 AS i4, 3::int8 AS i8, 1.5::float4 AS f4, 2.25::float8 AS f8,
                  12.340::numeric(10,3) AS num, -0.0005::numeric AS small, true AS b,
                  'txt'::text AS t, 'v'::varchar(5) AS vc, 'c'::char(3) AS ch,
                  DATE '2024-05-01' AS d, TIME '12:34:56.5' AS tm,
                  TIMESTAMP '2024-05-01 12:00:00' AS ts, TIMESTAMPTZ '2024-05-01 12:00:00+02' AS tstz,
                  '\xdeadbeef'::bytea AS bytes, '{"k": [1, null]}'::jsonb AS j,
                  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, ARRAY[1, NULL, 3]::int4[] AS arr,
                  ARRAY['a', 'b']::text[] AS tarr, INTERVAL '1 day 2 hours' AS iv, NULL::text AS nothing,
                  $1::int8 + 1 AS p_int, $2 AS p_text, $3::float8 * 2 AS p_float, $4 AS p_bool,
                  $5::int4 IS NULL AS p_null"#,
        vec![
            SqlValue::Int(41),
            SqlValue::Text("it's $2".to_owned()),
            SqlValue::Float(1.25),
            SqlValue::Bool(false),
            SqlValue::Null,
        ],
    )
    .await;
    assert_eq!(
        single_row(&selected),
        json!({
            "i2": 1, "i4": 2, "i8": 3, "f4": 1.5, "f8": 2.25, "num": "12.340", "small": "-0.0005",
            "b": true, "t": "txt", "vc": "v", "ch": "c  ", "d": "2024-05-01", "tm": "12:34:56.500",
            "ts": "2024-05-01T12:00:00", "tstz": "2024-05-01T10:00:00Z", "bytes": "deadbeef",
            "j": {"k": [1, null]}, "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "arr": [1, null, 3], "tarr": ["a", "b"], "iv": "P1DT2H", "nothing": null,
            "p_int": 42, "p_text": "it's $2", "p_float": 2.5, "p_bool": false, "p_null": true
        })
    );

    let table = unique("jobworks_exec_pg");
    ok(
        &url,
        &format!("CREATE TABLE {table} (id int4 PRIMARY KEY, n int4, label text)"),
        vec![],
    )
    .await;
    let insert = format!("INSERT INTO {table} (id, n, label) VALUES ($1, $2, $3), ($4, $5, $6)");
    let inserted = ok(
        &url,
        &insert,
        vec![
            SqlValue::Int(1),
            SqlValue::Null, // an untyped NULL into an int4 column
            SqlValue::Text("one".into()),
            SqlValue::Int(2),
            SqlValue::Int(20),
            SqlValue::Null,
        ],
    )
    .await;
    assert_eq!((inserted.rows_affected, inserted.columns.len()), (2, 0));
    let updated = ok(
        &url,
        &format!("UPDATE {table} SET n = n + 1 WHERE n IS NOT NULL"),
        vec![],
    )
    .await;
    assert_eq!(updated.rows_affected, 1);
    let empty = ok(
        &url,
        &format!("SELECT id, label FROM {table} WHERE id > $1"),
        vec![SqlValue::Int(99)],
    )
    .await;
    assert_eq!(
        (empty.columns.clone(), empty.rows.len()),
        (vec!["id".to_owned(), "label".to_owned()], 0)
    );
    let (failed, _) = run(SqlTask::new(
        &url,
        format!("INSERT INTO {table} (id) VALUES (1)"),
    ))
    .await;
    assert!(
        failed
            .error
            .expect("duplicate key")
            .contains("duplicate key")
    );
    ok(&url, &format!("DROP TABLE {table}"), vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_timeout_and_cancel_abort_on_the_server() {
    let Some(url) = env_url("JOBWORKS_TEST_POSTGRES_URL") else {
        return;
    };
    for cancelled in [false, true] {
        let marker = unique("pg_slow");
        let query = format!("SELECT pg_sleep(60) /* {marker} */");
        let cancel = CancellationToken::new();
        let mut task = SqlTask::new(&url, query);
        if cancelled {
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                trigger.cancel();
            });
        } else {
            task.timeout = Some(Duration::from_millis(500));
        }
        let begun = Instant::now();
        let (outcome, lines) = run_with(task, cancel).await;
        let expected = if cancelled {
            EndReason::Cancelled
        } else {
            EndReason::TimedOut
        };
        assert_eq!(outcome.end, expected, "{outcome:?} {lines:?}");
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "took {:?}",
            begun.elapsed()
        );
        // the server aborts the statement: wait for it to leave pg_stat_activity (the
        // cancel request is asynchronous, so a loaded server may show it a moment longer)
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let still_running = ok(
                &url,
                "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1",
                vec![SqlValue::Text(format!("%{marker} */"))],
            )
            .await;
            if single_row(&still_running) == json!({"n": 0}) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server still runs it 10 s after the {}",
                if cancelled { "cancel" } else { "timeout" }
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_is_an_error_without_the_password() {
    let error = run_sql(
        SqlTask::new("postgres://postgres:hunter2@127.0.0.1:1/test", "SELECT 1"),
        CancellationToken::new(),
        mpsc::channel(8).0,
    )
    .await
    .expect_err("nothing listens on port 1");
    assert!(matches!(error, ExecError::Connect { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot connect to datasource `postgres://postgres:***@127.0.0.1:1/test`"
    );
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_types_params_and_rows_affected() {
    let Some(url) = env_url("JOBWORKS_TEST_MYSQL_URL") else {
        return;
    };
    let table = unique("jobworks_exec_my");
    ok(
        &url,
        &format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, flag BOOLEAN, small TINYINT UNSIGNED, big BIGINT,
             price DECIMAL(10,3), ratio DOUBLE, label VARCHAR(20), born DATE, at_time TIME,
             created DATETIME(3), stamped TIMESTAMP NULL, raw VARBINARY(8), body BLOB, kind ENUM('a','b'))"
        ),
        vec![],
    )
    .await;
    let inserted = ok(
        &url,
        &format!(
            "INSERT INTO {table} VALUES (?, ?, 200, ?, 12.340, ?, ?, '2024-05-01', '-01:02:03',
             '2024-05-01 12:00:00.250', '2024-05-01 12:00:00', X'DEADBEEF', 'plain text', 'b'),
             (2, NULL, NULL, NULL, NULL, NULL, ?, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ),
        vec![
            SqlValue::Int(1),
            SqlValue::Bool(true),
            SqlValue::Int(-9_000_000_000),
            SqlValue::Float(0.5),
            SqlValue::Text("it's ?".to_owned()),
            SqlValue::Null,
        ],
    )
    .await;
    assert_eq!((inserted.rows_affected, inserted.columns.len()), (2, 0));

    let selected = ok(
        &url,
        &format!("SELECT *, ? + 1 AS p FROM {table} WHERE id = ?"),
        vec![SqlValue::Int(41), SqlValue::Int(1)],
    )
    .await;
    assert_eq!(
        single_row(&selected),
        json!({
            "id": 1, "flag": true, "small": 200, "big": -9_000_000_000_i64, "price": "12.340",
            "ratio": 0.5, "label": "it's ?", "born": "2024-05-01", "at_time": "-1:02:03",
            "created": "2024-05-01T12:00:00.250", "stamped": "2024-05-01T12:00:00Z",
            "raw": "deadbeef", "body": "plain text", "kind": "b", "p": 42
        })
    );
    let nulls = ok(
        &url,
        &format!("SELECT flag, label FROM {table} WHERE id = 2"),
        vec![],
    )
    .await;
    assert_eq!(single_row(&nulls), json!({"flag": null, "label": null}));

    let updated = ok(
        &url,
        &format!("UPDATE {table} SET ratio = 1 WHERE id = ?"),
        vec![SqlValue::Int(1)],
    )
    .await;
    assert_eq!(updated.rows_affected, 1);
    ok(&url, &format!("DROP TABLE {table}"), vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_timeout_and_cancel_abort_on_the_server() {
    let Some(url) = env_url("JOBWORKS_TEST_MYSQL_URL") else {
        return;
    };
    for cancelled in [false, true] {
        let marker = unique("my_slow");
        let query = format!("SELECT SLEEP(60) /* {marker} */");
        let cancel = CancellationToken::new();
        let mut task = SqlTask::new(&url, query);
        if cancelled {
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                trigger.cancel();
            });
        } else {
            task.timeout = Some(Duration::from_millis(500));
        }
        let begun = Instant::now();
        let (outcome, lines) = run_with(task, cancel).await;
        let expected = if cancelled {
            EndReason::Cancelled
        } else {
            EndReason::TimedOut
        };
        assert_eq!(outcome.end, expected, "{outcome:?} {lines:?}");
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "took {:?}",
            begun.elapsed()
        );
        let still_running = ok(
            &url,
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO LIKE ?",
            vec![SqlValue::Text(format!("%{marker} */"))],
        )
        .await;
        assert_eq!(
            single_row(&still_running),
            json!({"n": 0}),
            "the server still runs it"
        );
    }
}
