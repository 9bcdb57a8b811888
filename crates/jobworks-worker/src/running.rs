//! The attempts running on one worker, with the tokens that stop them.

use jobworks_domain::{AttemptId, RunId, TaskInstanceId};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

type RunningMap = HashMap<AttemptId, (RunId, TaskInstanceId, CancellationToken)>;

/// Attempts running on this worker: their cancel tokens, by attempt.
#[derive(Default, Debug)]
pub struct Running {
    inner: Mutex<RunningMap>,
}

impl Running {
    pub(crate) fn insert(
        &self,
        attempt: AttemptId,
        run: RunId,
        task: TaskInstanceId,
        token: CancellationToken,
    ) {
        self.lock().insert(attempt, (run, task, token));
    }

    pub(crate) fn remove(&self, attempt: AttemptId) {
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
