//! Retention: deleting finished run trees in small batches.

use chrono::{DateTime, Utc};
use jobworks_domain::RunId;
use jobworks_store::{PurgeBatch, StoreError};
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;

use crate::codec::{db_err, to_us};
use crate::tx::Tx;

/// Run states a run never leaves, as stored (a macro, so queries stay static strings).
macro_rules! finished {
    () => {
        "('succeeded', 'failed', 'timed_out', 'cancelled', 'skipped')"
    };
}

/// Deletes of a run set's rows (`$1` = array of run ids), children first: the order the
/// foreign keys need.
const DELETES: [&str; 5] = [
    "DELETE FROM log_lines WHERE run_id = ANY($1)",
    "DELETE FROM run_events WHERE run_id = ANY($1)",
    "DELETE FROM attempts WHERE run_id = ANY($1)",
    "DELETE FROM task_instances WHERE run_id = ANY($1)",
    "DELETE FROM runs WHERE id = ANY($1)",
];

/// `Store::purge_runs`, in one transaction. The runs of every examined tree are locked
/// (`FOR UPDATE`) before their states are judged, so a tree that another server is reopening
/// or extending at the same moment is either seen with its change or waits for the purge.
pub(crate) async fn purge_runs(
    pool: &PgPool,
    ended_before: DateTime<Utc>,
    after: RunId,
    limit: u32,
) -> Result<PurgeBatch, StoreError> {
    let mut tx = Tx::begin(pool).await?;
    let roots: Vec<i64> = sqlx::query(concat!(
        "SELECT id FROM runs WHERE parent_run_id IS NULL AND id > $1 AND ended_at_us < $2 \
         AND state IN ",
        finished!(),
        " ORDER BY id LIMIT $3"
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
    let tree: Vec<(i64, i64)> = sqlx::query(
        "WITH RECURSIVE tree(root, id) AS ( \
           SELECT x, x FROM unnest($1::bigint[]) AS x \
           UNION SELECT t.root, r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id) \
         SELECT root, id FROM tree",
    )
    .bind(&roots)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|row| (row.get("root"), row.get("id")))
    .collect();
    let ids: Vec<i64> = tree.iter().map(|(_, id)| *id).collect();
    let states: BTreeMap<i64, bool> = sqlx::query(concat!(
        "SELECT id, state IN ",
        finished!(),
        " AS finished FROM runs WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|row| (row.get("id"), row.get("finished")))
    .collect();
    // a tree goes whole or not at all: kept while any run in it is active
    let mut trees: BTreeMap<i64, (bool, Vec<i64>)> = BTreeMap::new();
    for (root, id) in &tree {
        let entry = trees.entry(*root).or_insert((true, Vec::new()));
        entry.0 &= states.get(id).copied().unwrap_or(false);
        entry.1.push(*id);
    }
    let doomed: Vec<i64> = trees
        .into_values()
        .filter(|(finished, _)| *finished)
        .flat_map(|(_, ids)| ids)
        .collect();
    if !doomed.is_empty() {
        for delete in DELETES {
            sqlx::query(delete)
                .bind(&doomed)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
    }
    tx.commit().await?;
    Ok(PurgeBatch {
        runs_deleted: doomed.len() as u64,
        last_examined: Some(RunId(last)),
    })
}
