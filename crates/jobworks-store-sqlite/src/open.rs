//! Opening the database: connection options, pools, migrations.

use jobworks_store::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::codec::db_err;

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = NORMAL`: safe against process crashes; a power loss may drop the last
    /// commits. The default.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is on disk before it returns.
    Full,
}

/// Options for [`SqliteStore::open`].
#[derive(Clone, Debug)]
pub struct SqliteStoreOptions {
    /// Database file; created if missing.
    pub path: PathBuf,
    /// Commit durability.
    pub durability: Durability,
    /// Read connections (default 4).
    pub read_connections: u32,
    /// How long a statement waits on a locked database before failing with `Busy` (default
    /// 5 s).
    pub busy_timeout: Duration,
}

impl SqliteStoreOptions {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteStoreOptions {
            path: path.into(),
            durability: Durability::Normal,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store. Cheap to clone (pools are shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Parsed workflow versions by (definition id, version): versions never change.
    pub(crate) specs: crate::workflow::SpecCache,
    path: PathBuf,
}

/// A write transaction on the writer connection.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    ///
    /// Errors: `Database` if the file cannot be opened or created (missing directory,
    /// permissions, not a database) or a migration fails.
    pub async fn open(options: SqliteStoreOptions) -> Result<SqliteStore, StoreError> {
        let connect = SqliteConnectOptions::new()
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.busy_timeout * 2)
            .connect_with(connect.clone())
            .await
            .map_err(|e| open_err(&options.path, e))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.busy_timeout * 2)
            .connect_with(connect.read_only(true))
            .await
            .map_err(|e| open_err(&options.path, e))?;
        Ok(SqliteStore {
            specs: Default::default(),
            writer,
            reader,
            path: options.path,
        })
    }

    /// Begins a write transaction on the writer connection with `BEGIN IMMEDIATE`: the
    /// database's write lock is taken before the first read, waiting up to `busy_timeout`
    /// for another connection (another handle or process) to commit. What the transaction
    /// reads therefore stays true until it commits, and it never fails midway with
    /// `SQLITE_BUSY_SNAPSHOT`, as a deferred transaction upgrading from read to write does.
    /// Every write of this crate goes through here. Errors: `Busy` when the writer
    /// connection is not free within twice `busy_timeout` or the lock within
    /// `busy_timeout`.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// `Store::installation_id`: the random id made with the database (migration 0004).
pub(crate) async fn installation_id(reader: &SqlitePool) -> Result<String, StoreError> {
    let row = sqlx::query("SELECT value FROM meta WHERE key = 'installation_id'")
        .fetch_one(reader)
        .await
        .map_err(db_err)?;
    Ok(sqlx::Row::get(&row, "value"))
}

fn open_err(path: &Path, e: sqlx::Error) -> StoreError {
    let inner = db_err(e);
    StoreError::Database(format!("cannot open database {}: {inner}", path.display()).into())
}
