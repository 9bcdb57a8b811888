//! Retention: deleting finished run trees in small batches, and reclaiming the space.

use chrono::{DateTime, Utc};
use jobworks_domain::RunId;
use jobworks_store::{PurgeBatch, StoreError};
use sqlx::Row;
use std::collections::BTreeMap;

use crate::codec::{db_err, to_us};
use crate::open::SqliteStore;
use crate::rows::finished_runs;

/// Deletes of a run set's rows (`?` = JSON array of run ids), children first: the order
/// the foreign keys need.
const DELETES: [&str; 5] = [
    "DELETE FROM log_lines WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM run_events WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM attempts WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM task_instances WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))",
];

/// `Store::purge_runs`: deletes up to `limit` finished top-level runs (after `after`) that
/// ended before `ended_before`, each with its whole tree, unless a run in the tree is active.
pub(crate) async fn purge_runs(
    store: &SqliteStore,
    ended_before: DateTime<Utc>,
    after: RunId,
    limit: u32,
) -> Result<PurgeBatch, StoreError> {
    let mut tx = store.begin().await?;
    let roots: Vec<i64> = sqlx::query(concat!(
        "SELECT id FROM runs WHERE parent_run_id IS NULL AND id > ? AND ended_at_us < ? \
         AND state IN ",
        finished_runs!(),
        " ORDER BY id LIMIT ?"
    ))
    .bind(after.0)
    .bind(to_us(ended_before))
    .bind(i64::from(limit.max(1)))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| r.get("id"))
    .collect();
    let Some(&last) = roots.last() else {
        return Ok(PurgeBatch::default());
    };
    let rows = sqlx::query(concat!(
        "WITH RECURSIVE tree(root, id) AS ( \
           SELECT value, value FROM json_each(?) \
           UNION SELECT t.root, r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id) \
         SELECT t.root, t.id, r.state IN ",
        finished_runs!(),
        " AS finished FROM tree t JOIN runs r ON r.id = t.id"
    ))
    .bind(serde_json::to_string(&roots).map_err(|e| StoreError::Database(Box::new(e)))?)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    // a tree goes whole or not at all: kept while any run in it is active
    let mut trees: BTreeMap<i64, (bool, Vec<i64>)> = BTreeMap::new();
    for row in &rows {
        let tree = trees.entry(row.get("root")).or_insert((true, Vec::new()));
        tree.0 &= row.get::<bool, _>("finished");
        tree.1.push(row.get("id"));
    }
    let doomed: Vec<i64> = trees
        .into_values()
        .filter(|(finished, _)| *finished)
        .flat_map(|(_, ids)| ids)
        .collect();
    if !doomed.is_empty() {
        let ids = serde_json::to_string(&doomed).map_err(|e| StoreError::Database(Box::new(e)))?;
        for delete in DELETES {
            sqlx::query(delete)
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(PurgeBatch {
        runs_deleted: doomed.len() as u64,
        last_examined: Some(RunId(last)),
    })
}

/// What [`SqliteStore::vacuum`] reclaimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VacuumReport {
    /// Database size before, in bytes (pages × page size, WAL excluded).
    pub bytes_before: u64,
    /// Database size after, in bytes.
    pub bytes_after: u64,
}

impl SqliteStore {
    /// Rewrites the database file without its free pages (SQLite `VACUUM`), then truncates
    /// the write-ahead log. Takes the writer for as long as it runs (seconds per GiB); meant
    /// for `jobworks admin vacuum` with the server stopped. Errors: `Busy` when another
    /// process holds the database, `Database` otherwise.
    pub async fn vacuum(&self) -> Result<VacuumReport, StoreError> {
        let bytes_before = self.size_bytes().await?;
        sqlx::query("VACUUM")
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(VacuumReport {
            bytes_before,
            bytes_after: self.size_bytes().await?,
        })
    }

    async fn size_bytes(&self) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(row.get::<i64, _>("bytes").max(0) as u64)
    }
}
