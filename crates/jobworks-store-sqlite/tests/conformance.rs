//! Runs the store conformance suite against SQLite, one fresh database file per test.

use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};

async fn fresh() -> SqliteStore {
    let dir = tempfile::tempdir().expect("temp dir");
    // keep the directory alive for the whole test process; each test gets its own
    let path = dir.keep().join("jobworks.db");
    SqliteStore::open(SqliteStoreOptions::new(path))
        .await
        .expect("open sqlite store")
}

jobworks_store::store_conformance_tests!(fresh());
