//! Shared by the PostgreSQL test files: a fresh schema per store. Schemas are not dropped when
//! a test ends (the suite macro owns the store); stale ones, older than an hour, are dropped
//! when a test process starts.

#![allow(dead_code)]

use jobworks_store_postgres::{PostgresStore, PostgresStoreOptions};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every schema the tests create.
pub const PREFIX: &str = "jwt_";

/// `JOBWORKS_TEST_POSTGRES_URL`, or the local test database.
pub fn url() -> String {
    std::env::var("JOBWORKS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema name no other test (in this process or another) uses:
/// `jwt_<unix seconds>_<pid>_<counter>_<random>`; the seconds let [`drop_stale`] find old ones.
pub fn unique_schema() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{PREFIX}{secs}_{}_{}_{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u16>()
    )
}

/// Drops test schemas made more than an hour ago (left by killed or finished test runs),
/// once per process.
pub async fn drop_stale() {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return;
    }
    let _ = DONE.set(());
    let pool = sqlx::PgPool::connect(&url())
        .await
        .expect("connect to JOBWORKS_TEST_POSTGRES_URL");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'jwt\\_%'")
            .fetch_all(&pool)
            .await
            .expect("list schemas");
    for name in names {
        let secs: u64 = name
            .trim_start_matches(PREFIX)
            .split('_')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if secs + 3600 < now && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let sql = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        }
    }
    pool.close().await;
}

/// Options for a store on `schema`.
pub fn options(schema: &str) -> PostgresStoreOptions {
    let mut options = PostgresStoreOptions::new(url());
    options.schema = Some(schema.to_owned());
    options.max_connections = 4;
    options
}

/// A store on a new, empty schema. Panics (fails the test) when PostgreSQL cannot be reached.
pub async fn fresh() -> PostgresStore {
    drop_stale().await;
    let schema = unique_schema();
    PostgresStore::connect(options(&schema))
        .await
        .unwrap_or_else(|e| panic!("connect to PostgreSQL at {} (schema {schema}): {e}", url()))
}
