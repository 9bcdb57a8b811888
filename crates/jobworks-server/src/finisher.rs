//! The finisher: records attempt starts and outcomes in batches (group commit). An outcome is
//! never dropped on a transient store error; it is retried with backoff until the store takes
//! it. Starts and finishes share one channel, so an attempt's start is written before its end;
//! a start record is only a hint (the finish carries the start time and pid too).

use crate::logs::recv_batch;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use jobworks_store::{AttemptFinish, LocalClaim, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// A record for the finisher.
pub enum Record {
    /// A process started: its pid and start time.
    Started {
        /// The attempt.
        attempt: AttemptId,
        /// Process id (= process group id).
        pid: Option<i64>,
        /// When it started.
        at: DateTime<Utc>,
    },
    /// An attempt ended.
    Finished {
        /// The outcome (boxed: it is much larger than a start).
        finish: Box<AttemptFinish>,
        /// Job name (metrics label).
        job: String,
        /// A workflow task's attempt: its end may queue the next tasks, which the finisher
        /// then claims in the same transaction.
        workflow: bool,
    },
}

const BATCH: usize = 512;

/// A start to record: attempt, pid, when.
type Start = (AttemptId, Option<i64>, DateTime<Utc>);

/// How long a start record waits before it is written (see `run_finisher`).
const START_LINGER: Duration = Duration::from_millis(50);

/// Records buffered before attempt tasks wait for the finisher (back-pressure).
pub const QUEUE: usize = 65_536;

/// Where the finisher hands attempts it claimed for this worker (see [`run_finisher`]).
pub struct LocalWork {
    /// This server's worker id.
    pub worker: String,
    /// Lease length, ms.
    pub lease_ms: u64,
    /// The dispatcher's worker slots.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// The dispatcher's hand-off channel.
    pub handoff: mpsc::UnboundedSender<crate::dispatch::Handoff>,
    /// The server's shutdown: once it fires, nothing more is claimed here (the dispatcher has
    /// stopped; queued tasks wait in the store for the next start).
    pub stopping: CancellationToken,
}

/// Most attempts claimed in one finishing transaction.
const LOCAL_CLAIMS: usize = 8;

/// Runs until `shutdown` fires and the queue is drained. `wake` is notified after each
/// commit of outcomes: finished runs can unblock serial jobs and retries. Starts are written
/// after `START_LINGER` unless the attempt ended by then (its finish carries the start).
pub async fn run_finisher(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Record>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    advance: crate::workflow::AdvanceSender,
    local: LocalWork,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    // starts wait START_LINGER: an attempt that ends sooner needs no start write at all (its
    // finish carries the pid and start time), which spares a commit per short task
    let mut starts: Vec<(Start, tokio::time::Instant)> = Vec::new();
    loop {
        let flush_at = starts.first().map(|(_, seen)| *seen + START_LINGER);
        let received = tokio::select! {
            n = recv_batch(&mut rx, &mut batch, BATCH, &shutdown) => Some(n),
            _ = sleep_until_some(flush_at) => None,
        };
        let closed = received == Some(0);
        let mut finished = Vec::new();
        for record in batch.drain(..) {
            match record {
                Record::Started { attempt, pid, at } => {
                    starts.push(((attempt, pid, at), tokio::time::Instant::now()))
                }
                Record::Finished {
                    finish,
                    job,
                    workflow,
                } => {
                    starts.retain(|((attempt, _, _), _)| *attempt != finish.attempt_id);
                    finished.push((*finish, job, workflow));
                }
            }
        }
        let now = tokio::time::Instant::now();
        let due = starts
            .iter()
            .take_while(|(_, seen)| closed || *seen + START_LINGER <= now)
            .count();
        if due > 0 {
            let started: Vec<Start> = starts.drain(..due).map(|(start, _)| start).collect();
            retry_forever("recording attempt starts", || {
                store.mark_started(started.clone())
            })
            .await;
        }
        if closed {
            return;
        }
        if finished.is_empty() {
            continue;
        }
        let finishes: Vec<AttemptFinish> = finished.iter().map(|(f, _, _)| f.clone()).collect();
        // a workflow task's end, the engine's next decisions and the claim of the tasks they
        // queue (as many as this worker has free slots) share one commit
        let mut slots = if !local.stopping.is_cancelled()
            && finished.iter().any(|(_, _, workflow)| *workflow)
        {
            crate::dispatch::take_slots(&local.permits, LOCAL_CLAIMS)
        } else {
            Vec::new()
        };
        let claim = (!slots.is_empty()).then(|| LocalClaim {
            worker: local.worker.clone(),
            limit: slots.len() as u32,
            lease_ms: local.lease_ms,
        });
        let done = retry_forever("recording outcomes", || {
            store.finish_and_advance(
                finishes.clone(),
                Utc::now(),
                &crate::workflow::plan,
                claim.clone(),
            )
        })
        .await;
        for claimed in done.claims {
            match slots.pop() {
                Some(slot) => {
                    let _ = local.handoff.send((claimed, slot));
                }
                None => break,
            }
        }
        drop(slots);
        let results = done.outcomes;
        for ((f, job, _), result) in finished.iter().zip(results) {
            match result {
                Ok(done) => {
                    let seconds = f
                        .started_at
                        .map(|s| (f.ended_at - s).num_microseconds().unwrap_or(0) as f64 / 1e6)
                        .unwrap_or(0.0);
                    metrics.attempt_finished(job, f.state.as_str(), seconds);
                    match (&done.advance, &done.advanced) {
                        (Some(_), Some(advanced)) => {
                            // child runs to start, parents to finish, tasks to stop here
                            for run in &advanced.advance {
                                advance.advance(*run);
                            }
                            if !advanced.cancelled_tasks.is_empty() {
                                advance.advance(done.run_id);
                            }
                        }
                        (Some(run), None) => advance.advance(*run),
                        _ => {}
                    }
                    tracing::debug!(run = %done.run_id, state = %done.run_state, "attempt recorded");
                }
                Err(StoreError::Fenced(id)) => {
                    tracing::warn!(attempt = id, "outcome refused: the attempt lost its lease");
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt = %f.attempt_id, "outcome not recorded")
                }
            }
        }
        wake.notify_one();
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs `op` until it succeeds, backing off from 20 ms to 5 s between failures.
async fn retry_forever<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(20);
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
