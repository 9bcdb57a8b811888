//! The worker's slot loop: claims assignments from the control plane while slots are free and
//! runs one attempt task per assignment; and the lease loop that renews what runs here. It
//! wakes on [`Pool::wake`], on hand-offs, and at least every poll interval.

use crate::assignment::Assignment;
use crate::attempt::run_attempt;
use crate::control::{ControlPlane, LeaseReply};
use crate::fence;
use crate::running::Running;
use crate::settings::WorkerSettings;
use chrono::Utc;
use jobworks_domain::AttemptState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How far ahead of its tick a scheduled run may be claimed (20 ms); the attempt then waits
/// for the exact instant, so the process starts on time instead of a claim transaction late.
pub const LOOKAHEAD: chrono::TimeDelta = chrono::TimeDelta::milliseconds(20);

/// Most assignments asked for in one claim.
const MAX_CLAIM: usize = 256;

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

/// An assignment with the slot it runs in, handed to the pool by whoever claimed it outside
/// the slot loop (the server's finisher claims a workflow's next tasks in the transaction
/// that records the finish that queued them).
pub type Handoff = (Assignment, OwnedSemaphorePermit);

/// Takes up to `max` free slots without waiting.
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

/// A worker: its settings, its control plane, its slots and what runs in them.
pub struct Pool {
    settings: Arc<WorkerSettings>,
    /// SQL connections kept between tasks on the same datasource.
    connections: Arc<jobworks_executor::SqlConnections>,
    control: Arc<dyn ControlPlane>,
    running: Arc<Running>,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// A pool of `settings.slots` slots (at least 1) fed by `control`.
    pub fn new(settings: WorkerSettings, control: Arc<dyn ControlPlane>) -> Arc<Pool> {
        let slots = settings.slots.max(1);
        Arc::new(Pool {
            connections: Arc::new(jobworks_executor::SqlConnections::new(
                slots,
                Duration::from_secs(30),
            )),
            settings: Arc::new(settings),
            control,
            running: Arc::new(Running::default()),
            wake: Arc::new(Notify::new()),
            permits: Arc::new(Semaphore::new(slots)),
        })
    }

    /// The attempts running here (to cancel them).
    pub fn running(&self) -> Arc<Running> {
        self.running.clone()
    }

    /// Notify to make the pool claim now (work was queued, a slot or a retry came free).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// One permit per slot: whoever claims holds the slots first.
    pub fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }

    /// The pool's settings.
    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// The slot loop, until `shutdown`. Attempt tasks are spawned on `tracker` so shutdown
    /// can wait for them; assignments claimed elsewhere arrive on `handoff` with their slots.
    pub async fn run(
        self: Arc<Self>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
        mut handoff: mpsc::UnboundedReceiver<Handoff>,
    ) {
        let slots = self.settings.slots.max(1);
        let poll = self.settings.poll_interval;
        let mut backoff = Duration::from_millis(50);
        // true while the last claim filled every free slot: more work is probably waiting
        let mut backlog = false;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            while let Ok((assignment, permit)) = handoff.try_recv() {
                self.start_attempt(assignment, permit, &tracker, &shutdown);
            }
            let mut free = self.permits.available_permits();
            if backlog && free > 0 && free < slots.div_ceil(4) {
                // a backlog is waiting and only a few slots are free: gather a few more
                // finishes (at most 2 ms) so one claim serves several attempts
                let deadline = tokio::time::Instant::now() + Duration::from_millis(2);
                while free < slots.div_ceil(4) && tokio::time::Instant::now() < deadline {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    free = self.permits.available_permits();
                }
            }
            // hold the slots before claiming, so every claimed attempt has one
            let mut held = take_slots(&self.permits, free.min(MAX_CLAIM));
            if !held.is_empty() {
                let want = held.len() as u32;
                let claiming = std::time::Instant::now();
                let claimed = self.control.claim(want).await;
                self.control.claim_latency(claiming.elapsed().as_secs_f64());
                match claimed {
                    Ok(assignments) => {
                        backoff = Duration::from_millis(50);
                        let full = assignments.len() as u32 >= want;
                        backlog = full;
                        for assignment in assignments {
                            let Some(permit) = held.pop() else {
                                tracing::warn!(attempt = %assignment.attempt_id, "claimed more than asked; left to its lease");
                                continue;
                            };
                            self.start_attempt(assignment, permit, &tracker, &shutdown);
                        }
                        drop(held);
                        if full && self.permits.available_permits() > 0 {
                            continue;
                        }
                    }
                    Err(e) => {
                        drop(held);
                        tracing::warn!(error = %e, "claiming work failed; backing off");
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
                    if let Some((assignment, permit)) = handed {
                        self.start_attempt(assignment, permit, &tracker, &shutdown);
                    }
                }
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Runs one assignment in its slot, on `tracker`.
    fn start_attempt(
        self: &Arc<Self>,
        assignment: Assignment,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let token = shutdown.child_token();
        // the claim's answer just arrived: its lease is confirmed from now (see `fence`)
        self.running.insert(
            assignment.attempt_id,
            assignment.run_id,
            assignment.task_instance_id,
            token.clone(),
            tokio::time::Instant::now(),
        );
        let me = self.clone();
        let stopping = shutdown.clone();
        tracker.spawn(async move {
            let attempt = assignment.attempt_id;
            let scheduled = assignment
                .scheduled_at
                .filter(|_| assignment.attempt_no == 1);
            let clock = me.settings.clock.clone();
            // the instant the start hint carries is the attempt's start in its report too,
            // so a start recorded before the end never puts the run's start after its
            // attempt's
            let start_seen = std::sync::OnceLock::new();
            let control = me.control.clone();
            let started = |pid: u32| {
                let now = clock.now();
                let _ = start_seen.set(now);
                if let Some(tick) = scheduled {
                    let lag = (now - tick).num_microseconds().unwrap_or(0);
                    control.schedule_lag(lag as f64 / 1e6);
                }
                control.started(attempt, pid, now);
            };
            if let Some(at) = assignment.not_before {
                wait_until(at, &me.settings.clock).await;
            }
            let mut report = run_attempt(
                &me.settings,
                &*me.control,
                &me.connections,
                &assignment,
                token,
                started,
            )
            .await;
            if let Some(at) = start_seen.get()
                && report.started_at.is_some()
            {
                report.started_at = Some(*at);
            }
            let stopped_here = me.running.remove(assignment.attempt_id);
            if report.state == AttemptState::Cancelled {
                if let Some(why) = stopped_here {
                    // stopped by the worker itself (fenced, or its lease lost): the control
                    // plane has retried it or will; a report it still takes requeues it
                    report.state = AttemptState::Lost;
                    report.interrupted = true;
                    report.error = Some(why);
                } else if stopping.is_cancelled() {
                    // killed because the worker is stopping, not by a user: the control
                    // plane requeues it so the next worker runs it again
                    report.state = AttemptState::Lost;
                    report.interrupted = true;
                    report.error =
                        Some("the worker shut down while the attempt was running".into());
                }
            }
            // the slot is free; the end is reported once the log is stored
            drop(permit);
            me.wake.notify_one();
            me.control.flush_logs().await;
            me.control.finish(&assignment, report).await;
            me.wake.notify_one();
        });
    }

    /// Keeps the leases of what runs here, until `shutdown`: renews them every third of
    /// `max_disconnect` (and at once when `renew_now` is notified), retrying a failed renewal
    /// sooner; stops attempts whose lease was lost or whose run was cancelled; and stops
    /// (fences) attempts that went `max_disconnect` without a confirmed renewal, so they end
    /// before the control plane may retry them elsewhere (see [`crate::fence`]).
    pub async fn keep_leases(self: Arc<Self>, renew_now: Arc<Notify>, shutdown: CancellationToken) {
        let max_disconnect = self.settings.max_disconnect();
        tokio::join!(
            self.clone()
                .renew_leases(renew_now, shutdown.clone(), max_disconnect),
            fence_silent(self.running.clone(), shutdown, max_disconnect),
        );
    }

    async fn renew_leases(
        self: Arc<Self>,
        renew_now: Arc<Notify>,
        shutdown: CancellationToken,
        max_disconnect: Duration,
    ) {
        let every = fence::renew_interval(max_disconnect);
        let retry = fence::retry_interval(max_disconnect);
        let mut next = tokio::time::Instant::now() + every;
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
                _ = renew_now.notified() => {}
            }
            let attempts = self.running.attempts();
            let sent = tokio::time::Instant::now();
            next = sent + every;
            if attempts.is_empty() {
                continue;
            }
            // bounded: a call hanging on a dead link must not hold up the next try
            let error = match tokio::time::timeout(every, self.control.renew(&attempts)).await {
                Ok(Ok(replies)) => {
                    if failures > 0 {
                        tracing::info!(failures, "lease renewal works again");
                    }
                    failures = 0;
                    apply_lease_replies(&self.running, &replies, sent);
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {} ms", every.as_millis()),
            };
            failures = failures.saturating_add(1);
            if failures == 1 || failures.is_multiple_of(20) {
                tracing::warn!(error = %error, failures, "lease renewal failed; retrying");
            }
            next = tokio::time::Instant::now() + retry;
        }
    }
}

/// Stops every attempt of `running` that went `max_disconnect` without a confirmed lease,
/// waking when the next one comes due, until `shutdown`.
async fn fence_silent(
    running: Arc<Running>,
    shutdown: CancellationToken,
    max_disconnect: Duration,
) {
    loop {
        let now = tokio::time::Instant::now();
        let confirmed = running.confirmations();
        for (attempt, silent) in fence::due(&confirmed, now, max_disconnect) {
            tracing::warn!(
                %attempt,
                silent_ms = silent.as_millis() as u64,
                max_disconnect_ms = max_disconnect.as_millis() as u64,
                "no lease renewal confirmed for too long; stopping the task (self-fencing)"
            );
            running.stop(attempt, fence::fenced_reason(silent, max_disconnect));
        }
        // the attempts just stopped are left out of the next reading
        let wake = fence::next_due(&running.confirmations(), max_disconnect)
            .unwrap_or(now + max_disconnect)
            .max(now + Duration::from_millis(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Stops the attempts whose lease is no longer this worker's or whose run was cancelled;
/// records the others' leases as confirmed at `sent` (when the renewal was sent).
fn apply_lease_replies(running: &Running, replies: &[LeaseReply], sent: tokio::time::Instant) {
    for reply in replies {
        if !reply.held {
            tracing::warn!(attempt = %reply.attempt_id, "lease lost; stopping the task");
            running.stop(
                reply.attempt_id,
                "its lease is no longer this worker's: the server took the attempt back".into(),
            );
        } else if reply.cancel_requested {
            running.cancel_attempt(reply.attempt_id);
        } else {
            running.confirm(reply.attempt_id, sent);
        }
    }
}
