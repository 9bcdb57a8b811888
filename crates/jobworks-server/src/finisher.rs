//! The finisher: records attempt starts and outcomes in batches (group commit). An outcome is
//! never dropped on a transient store error (busy, locked, unreachable database); it is
//! retried with backoff until the store takes it. A batch refused for any other reason (a
//! constraint violation, corrupt stored data) is recorded again one outcome per transaction,
//! and an outcome the store still refuses is set aside (logged, counted in
//! `jobworks_outcomes_set_aside_total`) so that the outcomes behind it are recorded; its
//! attempt's lease then expires and the lease keeper records it `lost`. Starts and finishes
//! share one channel, so an attempt's start is written before its end; a start record is only
//! a hint (the finish carries the start time and pid too).

use crate::logs::recv_batch;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use jobworks_store::{AttemptFinish, FinishAndAdvance, LocalClaim, Store, StoreError};
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

/// What the finisher reaches on this server: where it hands attempts it claimed for this
/// worker (see [`run_finisher`]), its clock, and the log followers.
pub struct LocalWork {
    /// This server's worker id.
    pub worker: String,
    /// Lease length, ms.
    pub lease_ms: u64,
    /// The dispatcher's worker slots.
    pub permits: Arc<tokio::sync::Semaphore>,
    /// The dispatcher's hand-off channel.
    pub handoff: mpsc::UnboundedSender<jobworks_worker::Handoff>,
    /// Turns a claim into the worker's assignment (resolving a SQL task's datasource).
    pub datasources: crate::worker::Datasources,
    /// The server's shutdown: once it fires, nothing more is claimed here (the dispatcher has
    /// stopped; queued tasks wait in the store for the next start).
    pub stopping: CancellationToken,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    /// Live log followers, told which runs' outcomes were committed.
    pub followers: crate::follow::LogHub,
}

/// Most attempts claimed in one finishing transaction.
const LOCAL_CLAIMS: usize = 8;

/// Runs until `shutdown` fires and the queue is drained. `wake` is notified after each
/// commit of outcomes: finished runs can unblock serial jobs and retries; `local.followers` hears
/// which runs' outcomes were committed (their log streams may end). Starts are written
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
            if let Err(e) = retry_transient("recording attempt starts", || {
                store.mark_started(started.clone())
            })
            .await
            {
                // only hints: each finish carries its start too
                tracing::warn!(error = %e, starts = started.len(), "attempt starts not recorded");
            }
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
            jobworks_worker::take_slots(&local.permits, LOCAL_CLAIMS)
        } else {
            Vec::new()
        };
        let claim = (!slots.is_empty()).then(|| LocalClaim {
            worker: local.worker.clone(),
            limit: slots.len() as u32,
            lease_ms: local.lease_ms,
        });
        let done = record_outcomes(&*store, finishes, claim, &local.clock).await;
        for claimed in done.claims {
            match slots.pop() {
                Some(slot) => {
                    let assignment = local.datasources.assignment(claimed);
                    let _ = local.handoff.send((assignment, slot));
                }
                None => break,
            }
        }
        drop(slots);
        let results = done.outcomes;
        let changed = results.iter().flatten().map(|done| done.run_id).collect();
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
                    metrics.outcome_set_aside();
                    tracing::error!(
                        error = %e,
                        attempt = %f.attempt_id,
                        job = %job,
                        state = f.state.as_str(),
                        "outcome set aside: the store refused it; the attempt will be recorded lost when its lease expires"
                    )
                }
            }
        }
        local.followers.changed(changed);
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

/// What the finisher does with a write the store refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    /// A transient error: the same write again after a backoff.
    Retry,
    /// A batch refused for good: each outcome again in its own transaction, so one bad
    /// outcome cannot hold back the others.
    OneByOne,
    /// A single outcome refused for good: set it aside and go on.
    SetAside,
}

/// Decides what follows a refused write of `batch` outcomes.
fn after_refusal(error: &StoreError, batch: usize) -> Refused {
    if error.is_transient() {
        Refused::Retry
    } else if batch > 1 {
        Refused::OneByOne
    } else {
        Refused::SetAside
    }
}

/// Records `finishes` (and the local claim) in one transaction; if the store refuses the
/// batch for good, records each outcome alone (without a claim: the dispatcher claims what
/// they queue). The result has one slot per finish: an `Err` is an outcome set aside.
async fn record_outcomes(
    store: &dyn Store,
    finishes: Vec<AttemptFinish>,
    claim: Option<LocalClaim>,
    clock: &crate::clock::Clock,
) -> FinishAndAdvance {
    let batch = retry_transient("recording outcomes", || {
        store.finish_and_advance(
            finishes.clone(),
            clock.now(),
            &crate::workflow::plan,
            claim.clone(),
        )
    })
    .await;
    let error = match batch {
        Ok(done) => return done,
        Err(error) => error,
    };
    if after_refusal(&error, finishes.len()) == Refused::SetAside {
        return FinishAndAdvance {
            outcomes: vec![Err(error)],
            claims: Vec::new(),
        };
    }
    tracing::warn!(error = %error, outcomes = finishes.len(), "a batch of outcomes was refused; recording them one by one");
    let mut outcomes = Vec::with_capacity(finishes.len());
    for finish in finishes {
        let one = retry_transient("recording an outcome", || {
            store.finish_and_advance(
                vec![finish.clone()],
                clock.now(),
                &crate::workflow::plan,
                None,
            )
        })
        .await;
        outcomes.push(match one {
            Ok(mut done) => done.outcomes.pop().unwrap_or_else(|| {
                Err(StoreError::Conflict(
                    "the store returned no result for the outcome".into(),
                ))
            }),
            Err(error) => Err(error),
        });
    }
    FinishAndAdvance {
        outcomes,
        claims: Vec::new(),
    }
}

/// Runs `op` until it succeeds or fails with an error that is not transient (see
/// [`after_refusal`]), backing off from 20 ms to 5 s between transient failures.
async fn retry_transient<T, F, Fut>(what: &str, mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(20);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if after_refusal(&e, 1) == Refused::Retry => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
#[path = "finisher_tests.rs"]
mod tests;
