//! The dispatcher: claims ready runs from the store while workers are free and starts one
//! attempt task per claim. It wakes on every enqueue and finish, and at least every poll
//! interval (for retries whose backoff ended and runs queued by other servers).

use crate::finisher::Record;
use crate::task::{TaskContext, run_attempt};
use chrono::Utc;
use jobworks_domain::{AttemptId, RunId, TaskInstanceId};
use jobworks_store::{Claim, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How far ahead of its tick a scheduled run may be claimed; the attempt then waits for the
/// exact instant, so the process starts on time instead of a claim transaction late.
pub const LOOKAHEAD: chrono::TimeDelta = chrono::TimeDelta::milliseconds(20);

/// Waits until the wall clock reaches `at`: a timer sleep to within 2 ms (tokio's timer has
/// 1 ms granularity), then yielding until the instant passes, so a run starts within tens of
/// microseconds after its tick rather than up to a millisecond late.
pub async fn wait_until(at: chrono::DateTime<Utc>, clock: &crate::clock::Clock) {
    let coarse = at - chrono::TimeDelta::milliseconds(2);
    if let Ok(d) = (coarse - clock.now()).to_std() {
        tokio::time::sleep(d).await;
    }
    while clock.now() < at {
        tokio::task::yield_now().await;
    }
}

/// Attempts running on this server: their cancel tokens, by attempt.
#[derive(Default, Debug)]
pub struct Running {
    inner: Mutex<HashMap<AttemptId, (RunId, TaskInstanceId, CancellationToken)>>,
}

type RunningMap = HashMap<AttemptId, (RunId, TaskInstanceId, CancellationToken)>;

impl Running {
    fn insert(
        &self,
        attempt: AttemptId,
        run: RunId,
        task: TaskInstanceId,
        token: CancellationToken,
    ) {
        self.lock().insert(attempt, (run, task, token));
    }

    fn remove(&self, attempt: AttemptId) {
        self.lock().remove(&attempt);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunningMap> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ids of attempts running here.
    pub fn attempts(&self) -> Vec<AttemptId> {
        self.lock().keys().copied().collect()
    }

    /// Cancels the attempt, if it runs here.
    pub fn cancel_attempt(&self, attempt: AttemptId) {
        if let Some((_, _, token)) = self.lock().get(&attempt) {
            token.cancel();
        }
    }

    /// Cancels the attempt of task instance `task`, if it runs here.
    pub fn cancel_task(&self, task: TaskInstanceId) {
        for (_, t, token) in self.lock().values() {
            if *t == task {
                token.cancel();
            }
        }
    }

    /// Cancels every attempt of `run` that runs here; returns whether any did.
    pub fn cancel_run(&self, run: RunId) -> bool {
        let guard = self.lock();
        let mut found = false;
        for (r, _, token) in guard.values() {
            if *r == run {
                token.cancel();
                found = true;
            }
        }
        found
    }
}

/// A claimed attempt with the worker slot it runs in, handed to the dispatcher by the
/// finisher (which claims the engine's next tasks in the transaction that records finishes).
pub type Handoff = (Claim, OwnedSemaphorePermit);

/// Takes up to `max` free worker slots without waiting.
pub fn take_slots(permits: &Arc<Semaphore>, max: usize) -> Vec<OwnedSemaphorePermit> {
    let mut held = Vec::new();
    while held.len() < max {
        match permits.clone().try_acquire_owned() {
            Ok(permit) => held.push(permit),
            Err(_) => break,
        }
    }
    held
}

/// What the dispatcher shares with the rest of the server.
pub struct Dispatcher {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ctx: Arc<TaskContext>,
    pub(crate) running: Arc<Running>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) records: mpsc::Sender<Record>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// One permit per worker slot; whoever claims holds the slots first.
    pub(crate) permits: Arc<Semaphore>,
}

impl Dispatcher {
    /// Runs until `shutdown`; attempt tasks are spawned on `tracker` so shutdown can wait for
    /// them. Attempts claimed elsewhere arrive on `handoff` with their slots.
    pub async fn run(
        self: Arc<Self>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
        mut handoff: mpsc::UnboundedReceiver<Handoff>,
    ) {
        let workers = self.ctx.config.workers.max(1);
        let permits = self.permits.clone();
        let lease_ms = self.ctx.config.lease.as_millis() as u64;
        let poll = self.ctx.config.poll_interval;
        let mut backoff = Duration::from_millis(50);
        // true while the last claim filled every free worker: more runs are probably waiting
        let mut backlog = false;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            while let Ok((claim, permit)) = handoff.try_recv() {
                self.start_attempt(claim, permit, &tracker, &shutdown);
            }
            let mut free = permits.available_permits();
            if backlog && free > 0 && free < workers.div_ceil(4) {
                // a backlog is waiting and only a few workers are free: gather a few more
                // finishes (at most 2 ms) so one claim transaction serves several runs
                let deadline = tokio::time::Instant::now() + Duration::from_millis(2);
                while free < workers.div_ceil(4) && tokio::time::Instant::now() < deadline {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    free = permits.available_permits();
                }
            }
            // hold the slots before claiming, so every claimed attempt has one
            let mut held = take_slots(&permits, free.min(256));
            if !held.is_empty() {
                let want = held.len() as u32;
                let claiming = std::time::Instant::now();
                let claimed = self
                    .store
                    .claim(
                        &self.ctx.config.worker_id,
                        want,
                        lease_ms,
                        self.ctx.config.clock.now(),
                        self.ctx.config.clock.now() + LOOKAHEAD,
                    )
                    .await;
                self.metrics.claim_latency(claiming.elapsed().as_secs_f64());
                match claimed {
                    Ok(claims) => {
                        backoff = Duration::from_millis(50);
                        let full = claims.len() as u32 == want;
                        backlog = full;
                        for claim in claims {
                            let Some(permit) = held.pop() else {
                                break;
                            };
                            self.start_attempt(claim, permit, &tracker, &shutdown);
                        }
                        drop(held);
                        if full && permits.available_permits() > 0 {
                            continue;
                        }
                    }
                    Err(e) => {
                        drop(held);
                        tracing::warn!(error = %e, "claiming runs failed; backing off");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                handed = handoff.recv() => {
                    if let Some((claim, permit)) = handed {
                        self.start_attempt(claim, permit, &tracker, &shutdown);
                    }
                }
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Runs one claimed attempt in its worker slot, on `tracker`.
    fn start_attempt(
        self: &Arc<Self>,
        claim: Claim,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let token = shutdown.child_token();
        self.running.insert(
            claim.attempt_id,
            claim.run_id,
            claim.task_instance_id,
            token.clone(),
        );
        let me = self.clone();
        let stopping = shutdown.clone();
        tracker.spawn(async move {
            let attempt = claim.attempt_id;
            let scheduled = claim.scheduled_at.filter(|_| claim.attempt_no == 1);
            let metrics = me.metrics.clone();
            let records = me.records.clone();
            let clock = me.ctx.config.clock.clone();
            // the instant the start record carries is the attempt's start in its finish too,
            // so a start record committed before the finish never puts the run's start after
            // its attempt's
            let start_seen = Arc::new(std::sync::OnceLock::new());
            let seen = start_seen.clone();
            let started = move |pid: u32| {
                let now = clock.now();
                let _ = seen.set(now);
                if let Some(tick) = scheduled {
                    let lag = (now - tick).num_microseconds().unwrap_or(0);
                    metrics.schedule_lag(lag as f64 / 1e6);
                }
                // a hint only: when the queue is full the finish carries it
                let _ = records.try_send(Record::Started {
                    attempt,
                    pid: Some(i64::from(pid)),
                    at: now,
                });
            };
            if let Some(at) = claim.not_before {
                wait_until(at, &me.ctx.config.clock).await;
            }
            let mut finish = run_attempt(&me.ctx, &claim, token, started).await;
            if let Some(at) = start_seen.get()
                && finish.started_at.is_some()
            {
                finish.started_at = Some(*at);
            }
            if stopping.is_cancelled() && finish.state == jobworks_domain::AttemptState::Cancelled {
                // killed because the server is stopping, not by a user: requeue the run so
                // the next start runs it again
                finish.state = jobworks_domain::AttemptState::Lost;
                finish.error = Some("server shut down while the attempt was running".into());
                finish.retry_at = Some(me.ctx.config.clock.now());
            }
            me.running.remove(claim.attempt_id);
            // the worker is free; the end is reported once the log is stored
            drop(permit);
            me.wake.notify_one();
            crate::task::flush_logs(&me.ctx.logs).await;
            let _ = me
                .records
                .send(Record::Finished {
                    finish: Box::new(finish),
                    job: claim.spec.name.clone(),
                    workflow: claim.env.contains_key("JOBWORKS_TASK"),
                })
                .await;
            me.wake.notify_one();
        });
    }
}
