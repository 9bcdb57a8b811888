//! The log writer: one actor that batches log lines from all running attempts into one
//! store transaction at a time (group commit), so chatty tasks do not cost a commit a line.

use jobworks_store::{NewLogLine, Store};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Lines buffered before the writer stops taking more (back-pressure to the tasks).
pub const LOG_QUEUE: usize = 16_384;
/// Lines written per transaction at most.
const BATCH: usize = 2_000;

/// Sends log lines to the writer.
pub type LogSender = mpsc::Sender<NewLogLine>;

/// Runs the writer until `shutdown` fires and the channel drains.
pub async fn run_log_writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<NewLogLine>,
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
        let lines = std::mem::take(&mut batch);
        let mut delay = std::time::Duration::from_millis(50);
        let mut pending = lines;
        loop {
            match store.append_logs(pending.clone()).await {
                Ok(()) => break,
                Err(e) if e.is_transient() && !shutdown.is_cancelled() => {
                    tracing::warn!(error = %e, "log write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, lines = pending.len(), "log lines dropped");
                    pending.clear();
                    break;
                }
            }
        }
    }
}
