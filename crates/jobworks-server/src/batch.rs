//! Batch tasks on the server side: the reporter that stores an attempt's progress and
//! checkpoints (throttled), and tells the attempt when its run is paused.

use chrono::Utc;
use jobworks_domain::AttemptId;
use jobworks_executor::{Checkpoint, Progress};
use jobworks_store::{BatchReport, Store, StoreError, TaskProgress};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// At most one progress/checkpoint write per attempt in this interval (500 ms); the last
/// values before the attempt's end are always written.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_millis(500);

/// How often a running attempt that reported nothing asks the store whether its run was
/// paused (1 s): a pause stops an attempt within about this long.
pub(crate) const PAUSE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a final write that failed for a transient reason is tried again.
const FINAL_WRITE_TRIES: u32 = 5;

/// The watch receivers of one attempt's reports.
pub(crate) struct Reports {
    /// Latest `::progress`.
    pub progress: watch::Receiver<Option<Progress>>,
    /// Latest checkpoint.
    pub checkpoint: watch::Receiver<Option<Checkpoint>>,
    /// Fired once the executor returned (the attempt's process is gone).
    pub ended: CancellationToken,
    /// Fired by the reporter when the store says the run was paused.
    pub pause: CancellationToken,
}

/// What was last written, so each write carries only what changed.
#[derive(Default)]
struct Sent {
    progress: Option<Progress>,
    checkpoint: Option<Checkpoint>,
}

/// Stores what the attempt reports until it ends, then writes the last unsent values, so the
/// attempt's last checkpoint is committed before its end is recorded (the caller awaits this
/// before reporting the end). Every [`PAUSE_POLL_INTERVAL`] without a write it asks the
/// store whether the run was paused, and then fires `pause`. Store errors are logged, never
/// fatal to the attempt.
pub(crate) async fn report(
    store: Arc<dyn Store>,
    attempt_id: AttemptId,
    worker: String,
    mut reports: Reports,
) {
    let mut sent = Sent::default();
    let mut last_write: Option<Instant> = None;
    let mut last_contact = Instant::now();
    loop {
        let poll_at = last_contact + PAUSE_POLL_INTERVAL;
        let event = tokio::select! {
            biased;
            () = reports.ended.cancelled() => None,
            changed = reports.progress.changed() => changed.ok().map(|()| true),
            changed = reports.checkpoint.changed() => changed.ok().map(|()| true),
            () = tokio::time::sleep_until(poll_at) => Some(false),
        };
        let Some(changed) = event else {
            break;
        };
        if changed && let Some(last) = last_write {
            // throttled; the attempt ending meanwhile leaves the rest to the final write
            tokio::select! {
                biased;
                () = reports.ended.cancelled() => break,
                () = tokio::time::sleep_until(last + REPORT_INTERVAL) => {}
            }
        }
        let report = match unsent(&reports, &mut sent, attempt_id, &worker) {
            Some(report) => {
                last_write = Some(Instant::now());
                report
            }
            None if !changed => BatchReport {
                attempt_id,
                worker: worker.clone(),
                progress: None,
                checkpoint: None,
                at: Utc::now(),
            },
            None => continue,
        };
        last_contact = Instant::now();
        match store.record_batch_report(report).await {
            Ok(sync) if !sync.held => return,
            Ok(sync) => {
                if sync.pause_requested && !reports.pause.is_cancelled() {
                    tracing::info!(%attempt_id, "run paused: asking the attempt to stop");
                    reports.pause.cancel();
                }
            }
            Err(error) => tracing::warn!(%attempt_id, %error, "storing batch progress failed"),
        }
    }
    let Some(report) = unsent(&reports, &mut sent, attempt_id, &worker) else {
        return;
    };
    for tries in 1..=FINAL_WRITE_TRIES {
        match store.record_batch_report(report.clone()).await {
            Ok(_) => return,
            Err(error) if error.is_transient() && tries < FINAL_WRITE_TRIES => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
            }
            Err(error) => {
                log_final_failure(attempt_id, &error);
                return;
            }
        }
    }
}

fn log_final_failure(attempt_id: AttemptId, error: &StoreError) {
    tracing::warn!(%attempt_id, %error, "storing the attempt's last checkpoint failed");
}

/// The values that differ from what was last written, as a report (`None`: nothing new),
/// and remembers them as written.
fn unsent(
    reports: &Reports,
    sent: &mut Sent,
    attempt_id: AttemptId,
    worker: &str,
) -> Option<BatchReport> {
    let progress = reports.progress.borrow().clone();
    let checkpoint = reports.checkpoint.borrow().clone();
    let progress = (progress != sent.progress).then_some(progress).flatten();
    let checkpoint = (checkpoint != sent.checkpoint)
        .then_some(checkpoint)
        .flatten();
    if progress.is_none() && checkpoint.is_none() {
        return None;
    }
    if progress.is_some() {
        sent.progress.clone_from(&progress);
    }
    if checkpoint.is_some() {
        sent.checkpoint.clone_from(&checkpoint);
    }
    Some(BatchReport {
        attempt_id,
        worker: worker.to_owned(),
        at: checkpoint.as_ref().map_or_else(Utc::now, |c| c.at),
        progress: progress.map(|p| TaskProgress {
            done: p.done,
            total: p.total,
            unit: p.unit,
            updated_at: p.at,
        }),
        checkpoint: checkpoint.map(|c| c.json),
    })
}
