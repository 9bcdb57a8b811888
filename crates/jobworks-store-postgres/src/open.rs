//! Connecting: options, the pool, the schema, migrations and the event listener.

use jobworks_store::{StoreError, StoreEvent};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::codec::db_err;

/// Options for [`PostgresStore::connect`].
#[derive(Clone, Debug)]
pub struct PostgresStoreOptions {
    /// Connection URL, `postgres://user:password@host:port/database?…` (libpq syntax).
    pub url: String,
    /// Most connections the pool opens (default 10, at least 2): one of them is held by the
    /// event listener behind `subscribe()`, the others serve the store's methods.
    pub max_connections: u32,
    /// Schema holding Jobworks' tables: created if missing and set as `search_path` on every
    /// connection. `None` uses the server's default `search_path` (normally `public`).
    /// Letters, digits and `_` only, not starting with a digit, at most 63 bytes.
    pub schema: Option<String>,
    /// Longest wait for a row or advisory lock in any statement (PostgreSQL's
    /// `lock_timeout`; default 5 s). A wait that long means another session holds a lock far
    /// longer than any store method does (a stuck transaction, a manual `LOCK`): the statement
    /// fails with `lock_not_available` (55P03), which the store treats as `Busy` (retried a
    /// few times, then returned, transient), instead of hanging the server.
    pub lock_timeout: Duration,
    /// A session idle inside an open transaction this long is ended by PostgreSQL
    /// (`idle_in_transaction_session_timeout`; default 60 s), so a client that stalled
    /// mid-transaction cannot hold its locks for ever.
    pub idle_in_transaction_timeout: Duration,
}

impl PostgresStoreOptions {
    /// Defaults for the database at `url`: 10 connections, the default schema, a 5 s lock
    /// timeout and a 60 s idle-in-transaction timeout.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresStoreOptions {
            url: url.into(),
            max_connections: 10,
            schema: None,
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(60),
        }
    }
}

/// The PostgreSQL store. Cheap to clone (the pool and the event channel are shared); the
/// event listener runs until the last clone is dropped.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    /// Parsed workflow versions by (definition id, version): versions never change.
    pub(crate) specs: crate::workflow_runs::SpecCache,
    pub(crate) events: broadcast::Sender<StoreEvent>,
    /// Delivery delays of received events (see `Store::drain_event_lags`).
    pub(crate) lags: crate::notify::EventLags,
    /// Cancels the listener task when the last clone goes.
    _listener: Arc<DropGuard>,
}

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Whether `name` is a plain identifier we can quote safely and PostgreSQL accepts.
fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl PostgresStore {
    /// Connects, creates `schema` if given and sets it as `search_path` on every connection,
    /// applies the embedded migrations under sqlx's advisory lock (servers starting together
    /// wait for one another; each migration is applied once), and starts the listener behind
    /// `subscribe()`, which is listening when this returns.
    ///
    /// Errors: `Database` for a malformed URL or schema name, or a database whose schema is
    /// newer than this build knows (the message names the migration version it needs);
    /// `Unavailable` when the server cannot be reached.
    pub async fn connect(options: PostgresStoreOptions) -> Result<PostgresStore, StoreError> {
        let mut connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::Database(format!("bad PostgreSQL URL: {e}").into()))?;
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(StoreError::Database(
                    format!(
                        "bad schema name `{schema}`: use letters, digits and `_` (not first), \
                         at most 63 bytes"
                    )
                    .into(),
                ));
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let lock_timeout = format!("{}ms", options.lock_timeout.as_millis().max(1));
        let idle = format!(
            "{}ms",
            options.idle_in_transaction_timeout.as_millis().max(1)
        );
        connect = connect
            .options([
                ("lock_timeout", lock_timeout.as_str()),
                ("idle_in_transaction_session_timeout", idle.as_str()),
            ])
            .disable_statement_logging();
        // one plain connection first: a refused or unauthenticated server fails at once with
        // its own error, where the pool would retry until its acquire timeout
        let probe = connect.connect().await.map_err(|e| match db_err(e) {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("cannot connect to PostgreSQL: {m}"))
            }
            other => other,
        })?;
        drop(probe);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(|e| match db_err(e) {
                StoreError::Unavailable(m) => {
                    StoreError::Unavailable(format!("cannot connect to PostgreSQL: {m}"))
                }
                other => other,
            })?;
        if let Some(schema) = &options.schema {
            create_schema(&pool, schema).await?;
        }
        refuse_newer_schema(&pool).await?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => newer_schema(v),
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => StoreError::Database(Box::new(other)),
        })?;
        let (events, _) = broadcast::channel(1024);
        let stop = CancellationToken::new();
        let lags = crate::notify::EventLags::default();
        crate::notify::start(pool.clone(), events.clone(), lags.clone(), stop.clone()).await?;
        Ok(PostgresStore {
            pool,
            specs: Default::default(),
            events,
            lags,
            _listener: Arc::new(stop.drop_guard()),
        })
    }

    /// The connection pool (for tools and tests that need plain SQL next to the store).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    // the name was checked to be a plain identifier, so quoting it is enough
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await {
        Ok(_) => Ok(()),
        // two servers creating it at once: the loser sees the winner's row
        Err(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("23505") | Some("42P06")) =>
        {
            Ok(())
        }
        Err(e) => Err(db_err(e)),
    }
}

fn newer_schema(version: i64) -> StoreError {
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    StoreError::Database(
        format!(
            "the database schema is newer than this build: it has migration {version}, this \
             build knows migrations up to {known}; run a Jobworks version that includes \
             migration {version}"
        )
        .into(),
    )
}

/// Refuses a database that a newer build migrated past what this build knows.
async fn refuse_newer_schema(pool: &PgPool) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT to_regclass('_sqlx_migrations') IS NOT NULL AS present")
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    if !row.get::<bool, _>("present") {
        return Ok(());
    }
    let newest: Option<i64> =
        sqlx::query("SELECT MAX(version) AS newest FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .map_err(db_err)?
            .get("newest");
    match newest {
        Some(v) if !MIGRATOR.version_exists(v) => Err(newer_schema(v)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_schema;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_schema("jobworks"));
        assert!(valid_schema("t_12_3_ab"));
        assert!(!valid_schema(""));
        assert!(!valid_schema("1abc"));
        assert!(!valid_schema("a\"; DROP"));
        assert!(!valid_schema("a-b"));
        assert!(!valid_schema(&"a".repeat(64)));
    }
}
