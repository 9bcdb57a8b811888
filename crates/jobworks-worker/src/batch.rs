//! Batch tasks on the worker side: the reporter that sends an attempt's progress and
//! checkpoints to the control plane (throttled), and tells the attempt when its run is paused.

use crate::control::{BatchUpdate, ControlError, ControlPlane};
use chrono::Utc;
use jobworks_domain::AttemptId;
use jobworks_executor::{Checkpoint, Progress};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// At most one progress/checkpoint report per attempt in this interval (500 ms); the last
/// values before the attempt's end are always sent.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_millis(500);

/// How often a running attempt that reported nothing asks whether its run was paused (1 s):
/// a pause stops an attempt within about this long.
pub(crate) const PAUSE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a final report that failed for a transient reason is tried again.
const FINAL_WRITE_TRIES: u32 = 5;

/// The watch receivers of one attempt's reports.
pub(crate) struct Reports {
    /// Latest `::progress`.
    pub progress: watch::Receiver<Option<Progress>>,
    /// Latest checkpoint.
    pub checkpoint: watch::Receiver<Option<Checkpoint>>,
    /// Fired once the executor returned (the attempt's process is gone).
    pub ended: CancellationToken,
    /// Fired by the reporter when the control plane says the run was paused.
    pub pause: CancellationToken,
}

/// What was last sent, so each report carries only what changed.
#[derive(Default)]
struct Sent {
    progress: Option<Progress>,
    checkpoint: Option<Checkpoint>,
}

/// Sends what the attempt reports until it ends, then the last unsent values, so the
/// attempt's last checkpoint is stored before its end is reported (the caller awaits this).
/// Every [`PAUSE_POLL_INTERVAL`] without a report it sends an empty one, which asks whether
/// the run was paused, and then fires `pause`. Errors are logged, never fatal to the attempt.
pub(crate) async fn report(
    control: &dyn ControlPlane,
    attempt_id: AttemptId,
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
            // throttled; the attempt ending meanwhile leaves the rest to the final report
            tokio::select! {
                biased;
                () = reports.ended.cancelled() => break,
                () = tokio::time::sleep_until(last + REPORT_INTERVAL) => {}
            }
        }
        let update = match unsent(&reports, &mut sent, attempt_id) {
            Some(update) => {
                last_write = Some(Instant::now());
                update
            }
            None if !changed => BatchUpdate {
                attempt_id,
                progress: None,
                checkpoint: None,
                at: Utc::now(),
            },
            None => continue,
        };
        last_contact = Instant::now();
        match control.report_batch(update).await {
            Ok(ack) if !ack.held => return,
            Ok(ack) => {
                if ack.pause_requested && !reports.pause.is_cancelled() {
                    tracing::info!(%attempt_id, "run paused: asking the attempt to stop");
                    reports.pause.cancel();
                }
            }
            Err(error) => tracing::warn!(%attempt_id, %error, "reporting batch progress failed"),
        }
    }
    let Some(update) = unsent(&reports, &mut sent, attempt_id) else {
        return;
    };
    for tries in 1..=FINAL_WRITE_TRIES {
        match control.report_batch(update.clone()).await {
            Ok(_) => return,
            Err(error) if error.transient && tries < FINAL_WRITE_TRIES => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
            }
            Err(error) => {
                log_final_failure(attempt_id, &error);
                return;
            }
        }
    }
}

fn log_final_failure(attempt_id: AttemptId, error: &ControlError) {
    tracing::warn!(%attempt_id, %error, "reporting the attempt's last checkpoint failed");
}

/// The values that differ from what was last sent, as an update (`None`: nothing new), and
/// remembers them as sent.
fn unsent(reports: &Reports, sent: &mut Sent, attempt_id: AttemptId) -> Option<BatchUpdate> {
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
    Some(BatchUpdate {
        attempt_id,
        at: checkpoint.as_ref().map_or_else(Utc::now, |c| c.at),
        progress,
        checkpoint: checkpoint.map(|c| c.json),
    })
}
