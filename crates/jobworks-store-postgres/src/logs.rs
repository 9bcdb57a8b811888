//! Log lines: append (with their sequence numbers) and read.

use jobworks_domain::{AttemptId, RunId};
use jobworks_store::*;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::codec::*;
use crate::open::PostgresStore;
use crate::rows::*;
use crate::tx::retry_busy;

impl PostgresStore {
    pub(crate) async fn append_logs_tx(
        &self,
        lines: Vec<NewLogLine>,
    ) -> Result<Vec<i64>, StoreError> {
        retry_busy!(
            async {
                if lines.is_empty() {
                    return Ok(Vec::new());
                }
                let mut seqs = Vec::with_capacity(lines.len());
                let mut tx = self.begin().await?;
                for chunk in lines.chunks(150) {
                    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                        "INSERT INTO log_lines (run_id, attempt_id, at_us, stream, text) ",
                    );
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
                    for (line, seq) in chunk.iter().zip(&chunk_seqs) {
                        tx.logs_appended(line.run_id.0, *seq);
                    }
                    seqs.extend(chunk_seqs);
                }
                tx.commit().await?;
                Ok(seqs)
            }
            .await
        )
    }
    pub(crate) async fn read_logs_tx(
        &self,
        run_id: RunId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.seq, l.attempt_id, l.at_us, l.stream, l.text, \
             (SELECT t.task_key FROM attempts a JOIN task_instances t ON t.id = a.task_instance_id \
              JOIN runs r ON r.id = t.run_id WHERE a.id = l.attempt_id AND r.kind = 'workflow') AS task_key \
             FROM log_lines l WHERE l.run_id = $1 AND l.seq > $2 ORDER BY l.seq LIMIT $3",
        )
        .bind(run_id.0)
        .bind(after_seq)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| LogRecord {
                seq: r.get("seq"),
                attempt_id: AttemptId(r.get("attempt_id")),
                task: r.get("task_key"),
                at: from_us(r.get("at_us")),
                stream: LogStream::parse(r.get("stream")),
                text: r.get("text"),
            })
            .collect())
    }
    pub(crate) async fn get_run_tx(&self, run_id: RunId) -> Result<RunDetail, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::RunNotFound(run_id.0))?;
        let run = run_from_row(&row)?;
        let attempts = sqlx::query(
            "SELECT a.*, t.task_key FROM attempts a \
             JOIN task_instances t ON t.id = a.task_instance_id WHERE a.run_id = $1 ORDER BY a.id",
        )
        .bind(run_id.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(attempt_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let tasks = sqlx::query("SELECT * FROM task_instances WHERE run_id = $1 ORDER BY id")
            .bind(run_id.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let events = sqlx::query(
            "SELECT at_us, attempt_id, from_state, to_state, reason, task_key FROM run_events \
             WHERE run_id = $1 ORDER BY id",
        )
        .bind(run_id.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| RunEvent {
            at: from_us(r.get("at_us")),
            task: r.get("task_key"),
            attempt_id: r.get::<Option<i64>, _>("attempt_id").map(AttemptId),
            from_state: r.get("from_state"),
            to_state: r.get("to_state"),
            reason: r.get("reason"),
        })
        .collect();
        Ok(RunDetail {
            run,
            tasks,
            attempts,
            events,
        })
    }
}
