//! The attempts running on one worker, with the tokens that stop them and when each one's
//! lease was last confirmed held (for self-fencing, see [`crate::fence`]).

use jobworks_domain::{AttemptId, RunId, TaskInstanceId};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One running attempt's bookkeeping.
#[derive(Debug)]
struct Entry {
    run: RunId,
    task: TaskInstanceId,
    token: CancellationToken,
    /// When its lease was last confirmed held (monotonic).
    confirmed: Instant,
    /// Set when the worker itself stopped it (fenced, lease lost): the end report's reason.
    stopped: Option<String>,
}

type RunningMap = HashMap<AttemptId, Entry>;

/// Attempts running on this worker: their cancel tokens and lease confirmations, by attempt.
#[derive(Default, Debug)]
pub struct Running {
    inner: Mutex<RunningMap>,
}

impl Running {
    /// Adds an attempt whose lease was confirmed at `confirmed` (its claim's answer).
    pub(crate) fn insert(
        &self,
        attempt: AttemptId,
        run: RunId,
        task: TaskInstanceId,
        token: CancellationToken,
        confirmed: Instant,
    ) {
        self.lock().insert(
            attempt,
            Entry {
                run,
                task,
                token,
                confirmed,
                stopped: None,
            },
        );
    }

    /// Removes the attempt; returns why the worker stopped it, if it did.
    pub(crate) fn remove(&self, attempt: AttemptId) -> Option<String> {
        self.lock().remove(&attempt).and_then(|e| e.stopped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunningMap> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ids of attempts running here.
    pub fn attempts(&self) -> Vec<AttemptId> {
        self.lock().keys().copied().collect()
    }

    /// Records that the attempt's lease was confirmed held at `at` (a renewal sent then was
    /// answered `held`); an earlier instant than the one recorded changes nothing.
    pub(crate) fn confirm(&self, attempt: AttemptId, at: Instant) {
        if let Some(entry) = self.lock().get_mut(&attempt) {
            entry.confirmed = entry.confirmed.max(at);
        }
    }

    /// The attempts not yet being stopped by the worker, with their last confirmation.
    pub(crate) fn confirmations(&self) -> Vec<(AttemptId, Instant)> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.stopped.is_none())
            .map(|(id, e)| (*id, e.confirmed))
            .collect()
    }

    /// Stops the attempt because of the worker itself (fenced, lease lost), recording `why`
    /// for its end report (the first reason stays).
    pub(crate) fn stop(&self, attempt: AttemptId, why: String) {
        if let Some(entry) = self.lock().get_mut(&attempt) {
            entry.stopped.get_or_insert(why);
            entry.token.cancel();
        }
    }

    /// Cancels the attempt, if it runs here.
    pub fn cancel_attempt(&self, attempt: AttemptId) {
        if let Some(entry) = self.lock().get(&attempt) {
            entry.token.cancel();
        }
    }

    /// Cancels the attempt of task instance `task`, if it runs here.
    pub fn cancel_task(&self, task: TaskInstanceId) {
        for entry in self.lock().values() {
            if entry.task == task {
                entry.token.cancel();
            }
        }
    }

    /// Cancels every attempt of `run` that runs here; returns whether any did.
    pub fn cancel_run(&self, run: RunId) -> bool {
        let guard = self.lock();
        let mut found = false;
        for entry in guard.values() {
            if entry.run == run {
                entry.token.cancel();
                found = true;
            }
        }
        found
    }
}
