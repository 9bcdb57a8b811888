//! A write transaction with the events it will announce on commit, and the retry of
//! transactions that lost a race.

use jobworks_domain::RunId;
use jobworks_store::{StoreError, StoreEvent};
use sqlx::postgres::PgConnection;
use sqlx::{PgPool, Postgres};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::codec::db_err;

/// The `LISTEN`/`NOTIFY` channel every store writer announces its changes on.
pub const CHANNEL: &str = "jobworks_events";

/// How many times a method runs again after a deadlock or serialization failure before it
/// reports [`StoreError::Busy`].
pub const BUSY_RETRIES: u32 = 4;

/// A transaction of one store method, collecting the [`StoreEvent`]s its writes cause. On
/// [`Tx::commit`] they are sent with `pg_notify` inside the transaction, one per event kind
/// and run (at most), so they are delivered only if it commits. Derefs to the connection, so
/// `&mut **tx` is an executor.
pub struct Tx {
    inner: sqlx::Transaction<'static, Postgres>,
    /// JSON payloads in first-seen order, each once.
    payloads: Vec<String>,
    seen: HashSet<String>,
    /// Highest log sequence number stored per run.
    logs: BTreeMap<i64, i64>,
}

impl std::ops::Deref for Tx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.inner
    }
}

impl Tx {
    /// Begins a transaction (`READ COMMITTED`, PostgreSQL's default). Errors: `Unavailable`
    /// when no connection can be had.
    pub async fn begin(pool: &PgPool) -> Result<Tx, StoreError> {
        Ok(Tx {
            inner: pool.begin().await.map_err(db_err)?,
            payloads: Vec::new(),
            seen: HashSet::new(),
            logs: BTreeMap::new(),
        })
    }

    fn push(&mut self, event: &StoreEvent) {
        if let Ok(json) = serde_json::to_string(event)
            && self.seen.insert(json.clone())
        {
            self.payloads.push(json);
        }
    }

    /// Task instances became queued (claimers should look).
    pub fn runs_queued(&mut self) {
        self.push(&StoreEvent::RunsQueued);
    }

    /// A run (or one of its tasks) changed state.
    pub fn run_changed(&mut self, run_id: i64) {
        self.push(&StoreEvent::RunChanged {
            run_id: RunId(run_id),
        });
    }

    /// A cancel was requested for a running run.
    pub fn cancel_requested(&mut self, run_id: i64) {
        self.push(&StoreEvent::CancelRequested {
            run_id: RunId(run_id),
        });
    }

    /// A definition was applied, paused, resumed or deleted.
    pub fn definitions_changed(&mut self) {
        self.push(&StoreEvent::DefinitionsChanged);
    }

    /// Log lines up to `seq` were stored for `run_id`.
    pub fn logs_appended(&mut self, run_id: i64, seq: i64) {
        let last = self.logs.entry(run_id).or_insert(seq);
        *last = (*last).max(seq);
    }

    /// Sends the collected events (one statement) and commits.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let logs = std::mem::take(&mut self.logs);
        for (run_id, last_seq) in logs {
            self.push(&StoreEvent::LogsAppended {
                run_id: RunId(run_id),
                last_seq,
            });
        }
        if !self.payloads.is_empty() {
            // each payload is wrapped with the database's clock at sending (µs), so a
            // listener can measure how late it arrived (the NOTIFY lag)
            sqlx::query(
                "SELECT pg_notify($1, json_build_object('at_us', \
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, \
                 'event', p::json)::text) FROM unnest($2::text[]) AS p",
            )
            .bind(CHANNEL)
            .bind(&self.payloads)
            .execute(&mut *self.inner)
            .await
            .map_err(db_err)?;
        }
        self.inner.commit().await.map_err(db_err)
    }

    /// Rolls back: nothing is written and nothing announced.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.inner.rollback().await.map_err(db_err)
    }
}

/// The pause before retry number `attempt` (1-based) of a transaction that lost a race: a
/// few milliseconds, doubled each time, with jitter so the racers do not meet again.
pub async fn busy_backoff(attempt: u32) {
    let base = 2u64 << attempt.min(6);
    let jitter = rand::random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// Evaluates `$body` (an expression yielding `Result<_, StoreError>`, typically
/// `async { .. }.await`) again while it fails with `StoreError::Busy`, at most
/// [`BUSY_RETRIES`] more times.
macro_rules! retry_busy {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $body {
                Err(jobworks_store::StoreError::Busy(_)) if attempt < crate::tx::BUSY_RETRIES => {
                    attempt += 1;
                    crate::tx::busy_backoff(attempt).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use retry_busy;
