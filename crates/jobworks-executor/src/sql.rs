//! Running a SQL task's statement (or, opted in, its statements in one transaction) against a user datasource (SQLite, PostgreSQL, MySQL/MariaDB).

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{
    AssertSqlSafe, Column, ConnectOptions, Connection, Either, Executor, IntoArguments, SqlSafeStr,
    Statement,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::datasource::{DatasourceKind, redact_url};
use crate::end::EndReason;
use crate::error::ExecError;
use crate::log::{LogLine, LogSink, LogStream};
use crate::sql_driver::Driver;
use crate::sql_reuse::{Kept, SqlConnections, sqlite_stateless};
use crate::sql_statements::{self, Planned};
use crate::sql_table::{MAX_LOGGED_ROWS, render_table};

/// Default [`SqlTask::max_rows`]: 10 000 rows.
pub const DEFAULT_MAX_ROWS: usize = 10_000;

/// Connecting (including the first round trip) fails with [`ExecError::ConnectTimeout`] after
/// 30 s, whatever the task's timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// After a timeout or cancel, how long to wait for the server to abort the statement (and for
/// the side connection that asks it to) before dropping the connection: 5 s.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// A SQL task: one statement, or several in one transaction with
/// [`SqlTask::multi_statement`].
#[derive(Clone)]
pub struct SqlTask {
    /// Datasource URL: `sqlite:<path>[?mode=ro|rw|rwc]` (default `rw`: read-write, the file must
    /// exist), `sqlite::memory:`, `postgres://…` / `postgresql://…`, or `mysql://…` /
    /// `mariadb://…`, with the driver's usual options.
    pub url: String,
    /// One statement, with the driver's own placeholders: `?` or `?1` for SQLite, `$1` for
    /// PostgreSQL, `?` for MySQL/MariaDB.
    pub query: String,
    /// Values bound positionally to the placeholders; never spliced into the text.
    pub params: Vec<SqlValue>,
    /// Limit for connecting and running; `None` means no limit (connecting is still bounded by
    /// [`CONNECT_TIMEOUT`]).
    pub timeout: Option<Duration>,
    /// At most this many rows are kept; more sets [`SqlOutcome::truncated`].
    pub max_rows: usize,
    /// Run every statement of `query` in order in one transaction (a failing statement rolls
    /// back the earlier ones; the outcome's columns and rows are the last statement's). When
    /// false, a query of several statements fails without running any. Statements are split
    /// by `jobworks_domain::sql::split_statements` in the datasource's dialect; `?`
    /// placeholders take the bind values in order across statements, and a statement with
    /// numbered ones (`$N`, `?N`) gets values 1 to its highest `N`. MySQL/MariaDB commit
    /// implicitly around DDL (`CREATE`, `ALTER`, `DROP`), so only DML rolls back there.
    pub multi_statement: bool,
}

impl SqlTask {
    /// A task without parameters or timeout, keeping at most [`DEFAULT_MAX_ROWS`] rows.
    pub fn new(url: impl Into<String>, query: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            query: query.into(),
            params: Vec::new(),
            timeout: None,
            max_rows: DEFAULT_MAX_ROWS,
            multi_statement: false,
        }
    }
}

/// Shows the URL with its password replaced by `***` and hides parameter values.
impl fmt::Debug for SqlTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTask")
            .field("url", &redact_url(&self.url))
            .field("query", &self.query)
            .field("param_count", &self.params.len())
            .field("timeout", &self.timeout)
            .field("max_rows", &self.max_rows)
            .field("multi_statement", &self.multi_statement)
            .finish()
    }
}

/// A bound parameter value.
///
/// PostgreSQL receives `Int` as `INT8`, `Float` as `FLOAT8`, `Text` as `TEXT` and `Bool` as
/// `BOOL` (write `$1::date` and the like for other types); `Null` gets the type the server
/// infers from the statement. SQLite and MySQL/MariaDB convert loosely themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A text value.
    Text(String),
}

/// What happened to a SQL task that connected (or was stopped while connecting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlOutcome {
    /// When the task started, before connecting (UTC).
    pub started_at: DateTime<Utc>,
    /// When the result was collected or the statement was abandoned (UTC).
    pub ended_at: DateTime<Utc>,
    /// Result column names in order; a repeated name gets a `_2`, `_3`… suffix so it can key
    /// the row maps. Empty for statements that return no rows.
    pub columns: Vec<String>,
    /// At most `max_rows` rows, each keyed by [`SqlOutcome::columns`].
    ///
    /// Cells map to JSON alike for every driver: NULL → `null`; booleans → `true`/`false`
    /// (SQLite: integer columns declared `BOOLEAN`); integers → numbers; floats → numbers (NaN
    /// and infinities → strings); text and enums → strings; decimals/`NUMERIC` → exact decimal
    /// strings (`"12.340"`); dates → `"2024-05-01"`; times → `"12:34:56[.f]"` (MySQL: may be
    /// negative or above 24 h); timestamps with a time zone (PostgreSQL `TIMESTAMPTZ`, MySQL
    /// `TIMESTAMP`) → RFC 3339 in UTC (`"2024-05-01T10:00:00Z"`); timestamps without one →
    /// `"2024-05-01T12:00:00[.f]"` (no offset: none is known); blobs and `BYTEA` → lowercase
    /// hex (MySQL/MariaDB binary strings and blobs: text when valid UTF-8, since the protocol
    /// does not tell them apart from binary-collated text); JSON → JSON values; PostgreSQL
    /// `UUID` → hyphenated lowercase, `INTERVAL` → ISO 8601 duration (`"P1DT2H"`),
    /// one-dimensional arrays of booleans, integers, floats and text → arrays. Other types
    /// become their raw value as text when it is UTF-8, else hex (cast them to text in the query
    /// for a stable form); a value the driver cannot decode becomes
    /// `"<cannot decode TYPE: why>"`.
    pub rows: Vec<Map<String, Value>>,
    /// Rows changed, as the driver reports it (for a `SELECT`, PostgreSQL reports the rows
    /// returned while SQLite and MySQL report 0). 0 when the result was truncated.
    pub rows_affected: u64,
    /// True when the statement returned more than `max_rows` rows; the rest were not read.
    pub truncated: bool,
    /// The database's error when the statement failed, or why it was stopped; `None` on
    /// success.
    pub error: Option<String>,
    /// Whether the statement finished, timed out or was cancelled.
    pub end: EndReason,
}

impl SqlOutcome {
    /// True when the statement finished without an error.
    pub fn succeeded(&self) -> bool {
        self.end == EndReason::Exited && self.error.is_none()
    }
}

/// Runs one SQL statement with the driver that `task.url` selects.
///
/// Opens one connection for the statement and closes it afterwards (no pooling); the driver's
/// own statement logging is off, since user SQL belongs in the task log, not the server's.
///
/// Logs (to `logs`) a System line on connect, then the result as an ASCII table of at most
/// 100 rows and a line `N rows` (or `N rows affected` for statements without a result), all on
/// [`LogStream::Stdout`]; a failing statement's error goes to [`LogStream::Stderr`] and into
/// [`SqlOutcome::error`].
///
/// On timeout or cancel the running statement is aborted on the server (PostgreSQL:
/// `pg_cancel_backend` from a second connection; MySQL/MariaDB: `KILL QUERY` from a second
/// connection; SQLite: interrupted through a progress handler) and the outcome's `end` is
/// [`EndReason::TimedOut`] or [`EndReason::Cancelled`], also when that happens while connecting.
///
/// # Errors
/// [`ExecError::UnsupportedDatasource`] for an unknown URL scheme, [`ExecError::Connect`] when
/// the URL is malformed or the datasource refuses or cannot be reached (including a missing
/// SQLite file), [`ExecError::ConnectTimeout`] after [`CONNECT_TIMEOUT`]. A failing statement is
/// an `Ok` outcome with `error` set.
pub async fn run_sql(
    task: SqlTask,
    cancel: CancellationToken,
    logs: mpsc::Sender<LogLine>,
) -> Result<SqlOutcome, ExecError> {
    run_sql_with(task, cancel, logs, None).await
}

/// [`run_sql`], taking a kept connection from `connections` when it holds one for the task's
/// datasource and keeping the connection there afterwards when that is safe (see
/// [`SqlConnections`]: after a clean end, and only in a state the next task cannot tell from
/// a fresh one). The connect line then says `connected to … (reused)`. `None` opens and
/// closes a connection for this task alone. Errors: as [`run_sql`].
pub async fn run_sql_with(
    task: SqlTask,
    cancel: CancellationToken,
    logs: mpsc::Sender<LogLine>,
    connections: Option<Arc<SqlConnections>>,
) -> Result<SqlOutcome, ExecError> {
    let datasource = redact_url(&task.url);
    let Some(kind) = DatasourceKind::from_url(&task.url) else {
        return Err(ExecError::UnsupportedDatasource { datasource });
    };
    let planned = sql_statements::plan(&task.query, &task.params, task.multi_statement, kind);
    let run = SqlRun {
        connections,
        started_at: Utc::now(),
        deadline: task.timeout.map(|timeout| Instant::now() + timeout),
        statements: planned.clone().unwrap_or_default(),
        task,
        cancel,
        sink: LogSink::new(logs),
        datasource,
    };
    if let Err(refused) = planned {
        // nothing runs: the task fails before connecting
        run.sink
            .send(LogLine::now(LogStream::Stderr, refused.clone()))
            .await;
        return Ok(run.outcome_without_result(EndReason::Exited, refused));
    }
    match kind {
        DatasourceKind::Sqlite => run.sqlite().await,
        DatasourceKind::Postgres => run.postgres().await,
        DatasourceKind::MySql => run.mysql().await,
    }
}

/// How a running statement is stopped on the server.
enum Aborter {
    /// Makes the connection's progress handler return false, interrupting SQLite.
    Sqlite(Arc<AtomicBool>),
    /// `pg_cancel_backend(backend_pid)` from a second connection.
    Postgres {
        options: PgConnectOptions,
        backend_pid: i32,
    },
    /// `KILL QUERY connection_id` from a second connection.
    MySql {
        options: MySqlConnectOptions,
        connection_id: u64,
    },
}

impl Aborter {
    async fn abort(&self) -> Result<(), String> {
        match self {
            Self::Sqlite(interrupt) => {
                interrupt.store(true, Ordering::SeqCst);
                Ok(())
            }
            Self::Postgres {
                options,
                backend_pid,
            } => {
                let mut side = options.connect().await.map_err(|error| error.to_string())?;
                let result = sqlx::query("SELECT pg_cancel_backend($1)")
                    .bind(*backend_pid)
                    .execute(&mut side)
                    .await;
                let _ = side.close().await;
                result.map(drop).map_err(|error| error.to_string())
            }
            Self::MySql {
                options,
                connection_id,
            } => {
                let mut side = options.connect().await.map_err(|error| error.to_string())?;
                // An integer the server gave us, not user input; KILL takes no placeholders.
                let statement = AssertSqlSafe(format!("KILL QUERY {connection_id}"));
                let result = sqlx::raw_sql(statement).execute(&mut side).await;
                let _ = side.close().await;
                result.map(drop).map_err(|error| error.to_string())
            }
        }
    }
}

/// Why the run stopped before the statement finished.
#[derive(Debug, Clone, Copy)]
enum Stop {
    TimedOut,
    Cancelled,
}

/// The result of a statement that ran to its end.
struct StatementResult {
    columns: Vec<String>,
    rows: Vec<Map<String, Value>>,
    rows_affected: u64,
    truncated: bool,
    /// Rows affected by each statement before the last (multi-statement tasks).
    earlier_rows_affected: Vec<u64>,
}

struct SqlRun {
    /// Where connections are taken from and kept for the next task, if anywhere.
    connections: Option<Arc<SqlConnections>>,
    task: SqlTask,
    statements: Vec<Planned>,
    cancel: CancellationToken,
    sink: LogSink,
    deadline: Option<Instant>,
    started_at: DateTime<Utc>,
    datasource: String,
}

impl SqlRun {
    async fn sqlite(self) -> Result<SqlOutcome, ExecError> {
        let options = SqliteConnectOptions::from_str(&self.task.url)
            .map_err(|source| self.connect_error(source))?
            .disable_statement_logging();
        let kept = self
            .connections
            .as_ref()
            .and_then(|c| c.take_sqlite(&self.task.url));
        let (mut connection, interrupt) = match kept {
            Some((connection, interrupt)) => {
                self.sink
                    .system(format!("connected to {} (reused)", self.datasource))
                    .await;
                (connection, interrupt)
            }
            None => {
                let interrupt = Arc::new(AtomicBool::new(false));
                let connect = async {
                    let mut connection = options.connect().await?;
                    let flag = Arc::clone(&interrupt);
                    connection
                        .lock_handle()
                        .await?
                        .set_progress_handler(1000, move || !flag.load(Ordering::SeqCst));
                    Ok(connection)
                };
                match self.connect(connect).await? {
                    Ok(connection) => (connection, interrupt),
                    Err(stop) => return Ok(self.stopped_while_connecting(stop).await),
                }
            }
        };
        let outcome = self
            .execute::<sqlx::Sqlite>(&mut connection, Aborter::Sqlite(interrupt.clone()))
            .await;
        let keep = matches!(outcome, Ok(Ok(_)))
            && self.statements.iter().all(|s| sqlite_stateless(&s.sql));
        if let (true, Some(connections)) = (keep, &self.connections) {
            connections.put(&self.task.url, Kept::Sqlite(connection, interrupt));
            return Ok(self.finish::<sqlx::SqliteConnection>(outcome, None).await);
        }
        Ok(self.finish(outcome, Some(connection)).await)
    }

    async fn postgres(self) -> Result<SqlOutcome, ExecError> {
        let options = PgConnectOptions::from_str(&self.task.url)
            .map_err(|source| self.connect_error(source))?
            .disable_statement_logging();
        let kept = match &self.connections {
            Some(connections) => connections.take_postgres(&self.task.url).await,
            None => None,
        };
        let (mut connection, backend_pid) = match kept {
            Some(kept) => {
                self.sink
                    .system(format!("connected to {} (reused)", self.datasource))
                    .await;
                kept
            }
            None => {
                let connect = async {
                    let mut connection = options.connect().await?;
                    let backend_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                        .fetch_one(&mut connection)
                        .await?;
                    Ok((connection, backend_pid))
                };
                match self.connect(connect).await? {
                    Ok(connected) => connected,
                    Err(stop) => return Ok(self.stopped_while_connecting(stop).await),
                }
            }
        };
        let aborter = Aborter::Postgres {
            options: options.clone(),
            backend_pid,
        };
        let outcome = self
            .execute::<sqlx::Postgres>(&mut connection, aborter)
            .await;
        if let (Ok(Ok(_)), Some(connections)) = (&outcome, &self.connections) {
            // settings, temporary tables, prepared statements, locks: all gone, or (inside a
            // transaction the task left open) an error, and the connection is closed
            // sqlx's statement cache is closed first: DISCARD ALL drops the server's
            // prepared statements, and a cache that still named them would fail the next task
            let reset = tokio::time::timeout(ABORT_WAIT, async {
                connection.clear_cached_statements().await?;
                sqlx::raw_sql("DISCARD ALL").execute(&mut connection).await
            })
            .await;
            if matches!(reset, Ok(Ok(_))) {
                connections.put(&self.task.url, Kept::Postgres(connection, backend_pid));
                return Ok(self.finish::<PgConnection>(outcome, None).await);
            }
        }
        Ok(self.finish::<PgConnection>(outcome, Some(connection)).await)
    }

    async fn mysql(self) -> Result<SqlOutcome, ExecError> {
        let options = MySqlConnectOptions::from_str(&self.task.url)
            .map_err(|source| self.connect_error(source))?
            .disable_statement_logging();
        let connect = async {
            let mut connection = options.connect().await?;
            let connection_id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(&mut connection)
                .await?;
            Ok((connection, connection_id))
        };
        match self.connect(connect).await? {
            Ok((mut connection, connection_id)) => {
                let aborter = Aborter::MySql {
                    options: options.clone(),
                    connection_id,
                };
                let outcome = self.execute::<sqlx::MySql>(&mut connection, aborter).await;
                Ok(self
                    .finish::<MySqlConnection>(outcome, Some(connection))
                    .await)
            }
            Err(stop) => Ok(self.stopped_while_connecting(stop).await),
        }
    }

    fn connect_error(&self, source: sqlx::Error) -> ExecError {
        ExecError::Connect {
            datasource: self.datasource.clone(),
            source,
        }
    }

    /// Waits for `connect`, bounded by [`CONNECT_TIMEOUT`], the task's deadline and cancel.
    async fn connect<T>(
        &self,
        connect: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<Result<T, Stop>, ExecError> {
        let connected = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Ok(Err(Stop::Cancelled)),
            () = sleep_until(self.deadline) => return Ok(Err(Stop::TimedOut)),
            connected = tokio::time::timeout(CONNECT_TIMEOUT, connect) => connected,
        };
        match connected {
            Err(_) => Err(ExecError::ConnectTimeout {
                datasource: self.datasource.clone(),
                after_ms: millis(CONNECT_TIMEOUT),
            }),
            Ok(Err(source)) => Err(self.connect_error(source)),
            Ok(Ok(connection)) => {
                self.sink
                    .system(format!("connected to {}", self.datasource))
                    .await;
                Ok(Ok(connection))
            }
        }
    }

    /// Runs the statement, aborting it on timeout or cancel.
    async fn execute<DB>(
        &self,
        connection: &mut DB::Connection,
        aborter: Aborter,
    ) -> Result<Result<StatementResult, sqlx::Error>, Stop>
    where
        DB: Driver,
        DB::Arguments: IntoArguments<DB>,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let statement = run_statements::<DB>(connection, &self.statements, self.task.max_rows);
        tokio::pin!(statement);
        let stop = tokio::select! {
            biased;
            result = &mut statement => return Ok(result),
            () = sleep_until(self.deadline) => Stop::TimedOut,
            () = self.cancel.cancelled() => Stop::Cancelled,
        };
        let reason = match stop {
            Stop::TimedOut => format!(
                "timed out after {} ms: aborting the statement",
                millis(self.task.timeout.unwrap_or_default())
            ),
            Stop::Cancelled => "cancelled: aborting the statement".to_owned(),
        };
        self.sink.system(reason).await;
        match tokio::time::timeout(ABORT_WAIT, aborter.abort()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                self.sink
                    .system(format!("could not abort the statement: {error}"))
                    .await
            }
            Err(_) => {
                self.sink
                    .system("could not abort the statement in time")
                    .await
            }
        }
        // Let the statement return its "canceled" error so the connection is in a known state.
        let _ = tokio::time::timeout(ABORT_WAIT, &mut statement).await;
        Err(stop)
    }

    /// Logs the result and builds the outcome; closes `connection` (`None`: it was kept for
    /// the next task) cleanly when it is usable, drops it otherwise.
    async fn finish<C: Connection>(
        &self,
        outcome: Result<Result<StatementResult, sqlx::Error>, Stop>,
        connection: Option<C>,
    ) -> SqlOutcome {
        match outcome {
            Ok(Ok(result)) => {
                if let Some(connection) = connection {
                    let _ = tokio::time::timeout(ABORT_WAIT, connection.close()).await;
                }
                self.log_result(&result).await;
                SqlOutcome {
                    started_at: self.started_at,
                    ended_at: Utc::now(),
                    columns: result.columns,
                    rows: result.rows,
                    rows_affected: result.rows_affected,
                    truncated: result.truncated,
                    error: None,
                    end: EndReason::Exited,
                }
            }
            Ok(Err(error)) => {
                if let Some(connection) = connection {
                    let _ = tokio::time::timeout(ABORT_WAIT, connection.close()).await;
                }
                let message = error.to_string();
                self.sink
                    .send(LogLine::now(LogStream::Stderr, message.clone()))
                    .await;
                self.outcome_without_result(EndReason::Exited, message)
            }
            Err(stop) => {
                drop(connection);
                self.stopped(stop)
            }
        }
    }

    async fn stopped_while_connecting(&self, stop: Stop) -> SqlOutcome {
        let reason = match stop {
            Stop::TimedOut => "timed out while connecting",
            Stop::Cancelled => "cancelled while connecting",
        };
        self.sink.system(reason).await;
        self.stopped(stop)
    }

    fn stopped(&self, stop: Stop) -> SqlOutcome {
        match stop {
            Stop::TimedOut => self.outcome_without_result(
                EndReason::TimedOut,
                format!(
                    "timed out after {} ms",
                    millis(self.task.timeout.unwrap_or_default())
                ),
            ),
            Stop::Cancelled => {
                self.outcome_without_result(EndReason::Cancelled, "cancelled".to_owned())
            }
        }
    }

    fn outcome_without_result(&self, end: EndReason, error: String) -> SqlOutcome {
        SqlOutcome {
            started_at: self.started_at,
            ended_at: Utc::now(),
            columns: Vec::new(),
            rows: Vec::new(),
            rows_affected: 0,
            truncated: false,
            error: Some(error),
            end,
        }
    }

    async fn log_result(&self, result: &StatementResult) {
        let stdout = |text: String| LogLine::now(LogStream::Stdout, text);
        let total = result.earlier_rows_affected.len() + 1;
        for (index, rows) in result.earlier_rows_affected.iter().enumerate() {
            self.sink
                .send(stdout(format!(
                    "statement {} of {total}: {rows} rows affected",
                    index + 1
                )))
                .await;
        }
        if total > 1 {
            self.sink
                .send(stdout(format!("statement {total} of {total}:")))
                .await;
        }
        if result.columns.is_empty() {
            self.sink
                .send(stdout(format!("{} rows affected", result.rows_affected)))
                .await;
            return;
        }
        for line in render_table(&result.columns, &result.rows) {
            self.sink.send(stdout(line)).await;
        }
        let count = result.rows.len();
        let mut summary = format!("{count} rows");
        if result.truncated {
            summary.push_str(&format!(
                " (truncated: more than max_rows = {})",
                self.task.max_rows
            ));
        }
        if count > MAX_LOGGED_ROWS {
            summary.push_str(&format!(", the first {MAX_LOGGED_ROWS} shown"));
        }
        self.sink.send(stdout(summary)).await;
    }
}

/// Runs the planned statements: a single one as it is, several in one transaction (committed
/// after the last; an error rolls back all), keeping the last one's result.
async fn run_statements<DB>(
    connection: &mut DB::Connection,
    statements: &[Planned],
    max_rows: usize,
) -> Result<StatementResult, sqlx::Error>
where
    DB: Driver,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if let [single] = statements {
        return run_statement::<DB>(connection, single.sql.clone(), &single.params, max_rows).await;
    }
    let mut transaction = Connection::begin(connection).await?;
    let mut earlier_rows_affected = Vec::new();
    let mut last = None;
    for statement in statements {
        if let Some(done) = last.take() {
            let done: StatementResult = done;
            earlier_rows_affected.push(done.rows_affected);
        }
        let result = run_statement::<DB>(
            &mut transaction,
            statement.sql.clone(),
            &statement.params,
            max_rows,
        )
        .await;
        match result {
            Ok(result) => last = Some(result),
            Err(error) => {
                let _ = transaction.rollback().await;
                return Err(error);
            }
        }
    }
    transaction.commit().await?;
    let mut result = last.unwrap_or(StatementResult {
        columns: Vec::new(),
        rows: Vec::new(),
        rows_affected: 0,
        truncated: false,
        earlier_rows_affected: Vec::new(),
    });
    result.earlier_rows_affected = earlier_rows_affected;
    Ok(result)
}

/// Prepares and runs one statement, keeping at most `max_rows` rows.
async fn run_statement<DB>(
    connection: &mut DB::Connection,
    sql: String,
    params: &[SqlValue],
    max_rows: usize,
) -> Result<StatementResult, sqlx::Error>
where
    DB: Driver,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let param_types = DB::param_types(params);
    let statement = (&mut *connection)
        .prepare_with(AssertSqlSafe(sql).into_sql_str(), &param_types)
        .await?;
    let columns = unique_names(statement.columns().iter().map(|column| column.name()));
    let mut query = statement.query();
    for param in params {
        query = DB::bind(query, param);
    }
    let mut result = StatementResult {
        columns,
        rows: Vec::new(),
        rows_affected: 0,
        truncated: false,
        earlier_rows_affected: Vec::new(),
    };
    let mut steps = (&mut *connection).fetch_many(query);
    while let Some(step) = steps.try_next().await? {
        match step {
            Either::Left(done) => result.rows_affected += DB::rows_affected(&done),
            Either::Right(row) => {
                if result.rows.len() == max_rows {
                    result.truncated = true;
                    result.rows_affected = 0;
                    break;
                }
                let cells = result
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(index, name)| (name.clone(), DB::cell(&row, index)));
                result.rows.push(cells.collect());
            }
        }
    }
    Ok(result)
}

/// Column names made unique: the second `a` becomes `a_2`, the third `a_3`, skipping names
/// already taken.
fn unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for name in names {
        let mut candidate = name.to_owned();
        let mut suffix = 1;
        while unique.contains(&candidate) {
            suffix += 1;
            candidate = format!("{name}_{suffix}");
        }
        unique.push(candidate);
    }
    unique
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_column_names() {
        assert_eq!(
            unique_names(["a", "b", "a", "a_2", "a"].into_iter()),
            ["a", "b", "a_2", "a_2_2", "a_3"]
        );
    }
}
