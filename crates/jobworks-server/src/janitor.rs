//! The janitor: retention of finished runs. Once a pass interval (and right after start) it
//! deletes every finished run tree whose top-level run ended before `now - retention`, in
//! small batches (one short write transaction each, a pause between them), so the writer is
//! never held for long and the database stops growing without limit.

use chrono::{DateTime, Utc};
use jobworks_domain::RunId;
use jobworks_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Top-level runs examined per batch (each deleted with its descendants).
pub const BATCH: u32 = 100;
/// Pause between batches: other writers get the database in between.
pub const BATCH_PAUSE: Duration = Duration::from_millis(20);
/// Time between passes.
pub const PASS_EVERY: Duration = Duration::from_secs(600);

/// The retention cutoff at `now`: runs that ended before it are deleted; `None` (keep
/// forever) when `keep` is `None` or too long to subtract from `now`.
pub fn retention_cutoff(now: DateTime<Utc>, keep: Option<Duration>) -> Option<DateTime<Utc>> {
    let keep = chrono::Duration::from_std(keep?).ok()?;
    now.checked_sub_signed(keep)
}

/// The janitor actor.
pub(crate) struct Janitor {
    pub store: Arc<dyn Store>,
    /// `ServerConfig::retention_runs`.
    pub keep: Option<Duration>,
    /// `ServerConfig::clock`: what "now" is for the cutoff.
    pub clock: crate::clock::Clock,
}

impl Janitor {
    /// One pass at `now`: deletes, batch by batch, every finished run tree older than the
    /// cutoff; returns the runs deleted. Stops early (Ok) when `stop` is cancelled.
    pub async fn pass(
        &self,
        now: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> Result<u64, StoreError> {
        let Some(cutoff) = retention_cutoff(now, self.keep) else {
            return Ok(0);
        };
        let mut after = RunId(0);
        let mut deleted = 0;
        loop {
            let batch = self.store.purge_runs(cutoff, after, BATCH).await?;
            deleted += batch.runs_deleted;
            let Some(last) = batch.last_examined else {
                return Ok(deleted);
            };
            after = last;
            tokio::select! {
                _ = stop.cancelled() => return Ok(deleted),
                _ = tokio::time::sleep(BATCH_PAUSE) => {}
            }
        }
    }

    /// Runs passes until `stop` is cancelled; store errors are logged and the next pass
    /// tries again.
    pub async fn run(self, stop: CancellationToken) {
        if self.keep.is_none() {
            return;
        }
        loop {
            match self.pass(self.clock.now(), &stop).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "retention: deleted finished runs"),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying later"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(PASS_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use jobworks_domain::{AttemptState, TriggerKind};
    use jobworks_store::conformance::{at, sample_spec};
    use jobworks_store::{AttemptFinish, NewRun};

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn the_cutoff_is_now_minus_retention() {
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        let table = [
            (
                Some(30 * DAY),
                Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()),
            ),
            (
                Some(Duration::from_secs(90)),
                Some(now - chrono::Duration::seconds(90)),
            ),
            (Some(Duration::ZERO), Some(now)),
            (None, None),
            (Some(Duration::from_secs(u64::MAX)), None),
        ];
        for (keep, want) in table {
            assert_eq!(retention_cutoff(now, keep), want, "{keep:?}");
        }
    }

    /// A pass at a `now` we choose deletes what ended before `now - keep` and keeps the rest.
    #[tokio::test]
    async fn a_pass_deletes_runs_older_than_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = jobworks_store_sqlite::SqliteStore::open(
            jobworks_store_sqlite::SqliteStoreOptions::new(dir.path().join("j.db")),
        )
        .await
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let job = store
            .apply_job(&sample_spec("j"), None, at(0))
            .await
            .unwrap();
        // 250 runs, more than two batches, ended at 10 s; one more ends 2 days later
        let runs: Vec<NewRun> = (0..251)
            .map(|_| {
                NewRun::new(
                    job.job_id,
                    job.version,
                    TriggerKind::Manual,
                    serde_json::json!({}),
                    "t",
                )
            })
            .collect();
        store.enqueue_runs(runs, at(0)).await.unwrap();
        let claims = store
            .claim(
                "w",
                &jobworks_store::ClaimScope::Pool,
                251,
                60_000,
                at(1),
                at(1),
            )
            .await
            .unwrap();
        assert_eq!(claims.len(), 251);
        let finishes = claims
            .iter()
            .enumerate()
            .map(|(i, c)| AttemptFinish {
                attempt_id: c.attempt_id,
                worker: "w".into(),
                state: AttemptState::Succeeded,
                pid: None,
                started_at: Some(at(1)),
                ended_at: if i == 250 { at(2 * 86_400) } else { at(10) },
                exit_code: Some(0),
                signal: None,
                user_cpu_ms: None,
                system_cpu_ms: None,
                max_rss_bytes: None,
                bytes_dropped: 0,
                error: None,
                outputs: serde_json::json!({}),
                retry_at: None,
            })
            .collect();
        store.finish_attempts(finishes).await.unwrap();
        let janitor = Janitor {
            store: store.clone(),
            keep: Some(DAY),
            clock: crate::clock::Clock::system(),
        };
        let stop = CancellationToken::new();
        assert_eq!(
            janitor.pass(at(86_400), &stop).await.unwrap(),
            0,
            "a day: nothing is older"
        );
        assert_eq!(janitor.pass(at(86_411), &stop).await.unwrap(), 250);
        let left = store
            .list_runs(&jobworks_store::RunFilter::default())
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].ended_at, Some(at(2 * 86_400)));
        let off = Janitor {
            store: store.clone(),
            keep: None,
            clock: crate::clock::Clock::system(),
        };
        assert_eq!(
            off.pass(at(10 * 86_400), &stop).await.unwrap(),
            0,
            "retention off"
        );
    }
}
