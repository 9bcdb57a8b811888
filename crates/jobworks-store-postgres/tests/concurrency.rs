//! Runs the store concurrency suite against PostgreSQL: three handles (each its own pool and
//! event listener, as three servers would have) on one fresh schema.

mod common;

use jobworks_store_postgres::PostgresStore;

/// How many handles (servers) race in each check.
const HANDLES: usize = 3;

async fn handles() -> Vec<PostgresStore> {
    common::drop_stale().await;
    let schema = common::unique_schema();
    let mut stores = Vec::with_capacity(HANDLES);
    for _ in 0..HANDLES {
        stores.push(
            PostgresStore::connect(common::options(&schema))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "connect to PostgreSQL at {} (schema {schema}): {e}",
                        common::url()
                    )
                }),
        );
    }
    stores
}

jobworks_store::store_concurrency_tests!(handles());
