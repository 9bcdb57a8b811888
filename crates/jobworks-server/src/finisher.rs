//! The finisher: records attempt outcomes in batches (group commit). An outcome is never
//! dropped on a transient store error; it is retried with backoff until the store takes it.

use crate::metrics::Metrics;
use jobworks_store::{AttemptFinish, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// An outcome to record, with the job name for metrics.
pub struct FinishRequest {
    /// The outcome.
    pub finish: AttemptFinish,
    /// Job name (metrics label).
    pub job: String,
}

const BATCH: usize = 512;

/// Runs until `shutdown` fires and the queue is drained. `wake` is notified after each
/// commit: finished runs can unblock serial jobs and retries.
pub async fn run_finisher(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<FinishRequest>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let got = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, BATCH) => n,
            _ = shutdown.cancelled() => {
                rx.close();
                rx.recv_many(&mut batch, BATCH).await
            }
        };
        if got == 0 {
            return;
        }
        let requests = std::mem::take(&mut batch);
        let finishes: Vec<AttemptFinish> = requests.iter().map(|r| r.finish.clone()).collect();
        let mut delay = Duration::from_millis(20);
        let results = loop {
            match store.finish_attempts(finishes.clone()).await {
                Ok(results) => break results,
                Err(e) => {
                    tracing::warn!(error = %e, attempts = finishes.len(), "recording outcomes failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        for (request, result) in requests.iter().zip(results) {
            let f = &request.finish;
            match result {
                Ok(done) => {
                    let seconds = f
                        .started_at
                        .map(|s| (f.ended_at - s).num_microseconds().unwrap_or(0) as f64 / 1e6)
                        .unwrap_or(0.0);
                    metrics.attempt_finished(&request.job, f.state.as_str(), seconds);
                    tracing::debug!(run = %done.run_id, state = %done.run_state, "attempt recorded");
                }
                Err(StoreError::Fenced(id)) => {
                    tracing::warn!(attempt = id, "outcome refused: the attempt lost its lease");
                }
                Err(e) => tracing::error!(error = %e, attempt = %f.attempt_id, "outcome not recorded"),
            }
        }
        wake.notify_one();
    }
}
