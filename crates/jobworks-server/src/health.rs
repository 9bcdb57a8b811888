//! Liveness facts the control loops publish and `/readyz` reads.

use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// Shared health state: the scheduler's last successful tick and its last error.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<HealthInner>,
}

#[derive(Debug, Default, Clone)]
struct HealthInner {
    last_tick_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl Health {
    /// Records a successful scheduler tick at `at` and clears the error.
    pub fn tick_ok(&self, at: DateTime<Utc>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.last_tick_at = Some(at);
        inner.last_error = None;
    }

    /// Records a failed scheduler tick.
    pub fn tick_failed(&self, error: String) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_error = Some(error);
    }

    /// `(last successful tick, last error)`.
    pub fn snapshot(&self) -> (Option<DateTime<Utc>>, Option<String>) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (inner.last_tick_at, inner.last_error)
    }
}
