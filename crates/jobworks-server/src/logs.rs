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

/// What attempts send the log writer.
pub enum LogMsg {
    /// A line to store.
    Line(NewLogLine),
    /// Answer once every line sent before this one is committed (or given up): an attempt
    /// waits for it before reporting its end, so a run never ends before its log is complete.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Sends log lines (and flush requests) to the writer.
pub type LogSender = mpsc::Sender<LogMsg>;

/// Waits for at least one item and takes up to `max` into `batch`; after `shutdown` fires it
/// closes the channel and drains what is left. Returns 0 when nothing remains: the writer is
/// done.
pub async fn recv_batch<T>(
    rx: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    max: usize,
    shutdown: &CancellationToken,
) -> usize {
    tokio::select! {
        biased;
        n = rx.recv_many(batch, max) => n,
        _ = shutdown.cancelled() => {
            rx.close();
            rx.recv_many(batch, max).await
        }
    }
}

/// How long the log writer waits for more lines before committing a small batch. Live
/// followers (`logs -f`) see lines at most this much later.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs the writer until `shutdown` fires and the channel drains. Every committed batch is
/// published on `followers` with its sequence numbers.
pub async fn run_log_writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<LogMsg>,
    shutdown: CancellationToken,
    followers: crate::follow::LogHub,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if recv_batch(&mut rx, &mut batch, BATCH, &shutdown).await == 0 {
            return;
        }
        // linger a moment for more lines, unless an attempt waits for them: one commit then
        // carries the lines of many attempts, leaving the single writer to the queue
        let waited_for = |batch: &[LogMsg]| batch.iter().any(|m| matches!(m, LogMsg::Flush(_)));
        if batch.len() < BATCH && !shutdown.is_cancelled() && !waited_for(&batch) {
            let more = BATCH - batch.len();
            let _ = tokio::time::timeout(LINGER, rx.recv_many(&mut batch, more)).await;
        }
        let mut lines = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        for message in batch.drain(..) {
            match message {
                LogMsg::Line(line) => lines.push(line),
                LogMsg::Flush(ack) => flushes.push(ack),
            }
        }
        let mut delay = std::time::Duration::from_millis(50);
        let mut pending = lines;
        while !pending.is_empty() {
            match store.append_logs(pending.clone()).await {
                Ok(seqs) => {
                    followers.lines(seqs.into_iter().zip(std::mem::take(&mut pending)).collect());
                    break;
                }
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
        for ack in flushes {
            let _ = ack.send(());
        }
    }
}
