//! Runs the store concurrency suite against SQLite: three handles opened on one fresh
//! database file, each with its own writer connection, as three server processes would.

use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};

/// How many handles (servers) race in each check.
const HANDLES: usize = 3;

async fn handles() -> Vec<SqliteStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    // keep the directory alive for the whole test process; each test gets its own
    let path = dir.keep().join("jobworks.db");
    let mut stores = Vec::with_capacity(HANDLES);
    for _ in 0..HANDLES {
        stores.push(
            SqliteStore::open(SqliteStoreOptions::new(path.clone()))
                .await
                .expect("open sqlite store"),
        );
    }
    stores
}

jobworks_store::store_concurrency_tests!(handles());
