//! Log lines: appended in batches (their sequence numbers returned in input order) and read
//! back by run, after a sequence number.

use jobworks_domain::RunId;
use jobworks_store::*;
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::*;
use crate::open::SqliteStore;
use crate::rows::log_from_row;

/// `Store::append_logs`: one transaction, 150 lines per statement.
pub(crate) async fn append_logs(
    store: &SqliteStore,
    lines: Vec<NewLogLine>,
) -> Result<Vec<i64>, StoreError> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let mut seqs = Vec::with_capacity(lines.len());
    let mut tx = store.begin().await?;
    for chunk in lines.chunks(150) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO log_lines (run_id, attempt_id, at_us, stream, text) ");
        q.push_values(chunk, |mut b, line| {
            b.push_bind(line.run_id.0)
                .push_bind(line.attempt_id.0)
                .push_bind(to_us(line.at))
                .push_bind(line.stream.as_str())
                .push_bind(line.text.clone());
        });
        // rows of one INSERT get increasing rowids in VALUES order; RETURNING lists them
        // in no particular order, so sort
        q.push(" RETURNING seq");
        let mut chunk_seqs: Vec<i64> = q
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.get("seq"))
            .collect();
        chunk_seqs.sort_unstable();
        seqs.extend(chunk_seqs);
    }
    tx.commit().await.map_err(db_err)?;
    Ok(seqs)
}

/// `Store::read_logs`: up to `limit` lines (1 to 10,000) after `after_seq`, in order.
pub(crate) async fn read_logs(
    reader: &SqlitePool,
    run_id: RunId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<LogRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT l.seq, l.attempt_id, l.at_us, l.stream, l.text, \
         (SELECT t.task_key FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
          JOIN runs r ON r.id = t.run_id WHERE a.id = l.attempt_id AND r.kind = 'workflow') AS task_key \
         FROM log_lines l WHERE l.run_id = ? AND l.seq > ? ORDER BY l.seq LIMIT ?",
    )
    .bind(run_id.0)
    .bind(after_seq)
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(reader)
    .await
    .map_err(db_err)?;
    Ok(rows.iter().map(log_from_row).collect())
}
