//! The agent's heartbeat: every interval the server asks (±20 % jitter, so a fleet restarted
//! at once spreads out), a report of version, slots, host figures and running attempts; the
//! answer is the server's view (state, labels, interval), so a drain or a revoke reaches the
//! agent even while it has nothing to claim.

use super::host::{self, CpuSample};
use super::http::HttpControl;
use jobworks_protocol::{AgentReportView, HeartbeatRequest};
use jobworks_worker::Running;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Shortest interval the agent keeps, whatever the server asks (a guard against 0).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// `interval` with ±20 % jitter: `interval × (0.8 + 0.4 × unit)`, `unit` in `[0, 1)` (values
/// outside are clamped), never below 100 ms.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    interval
        .mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
        .max(MIN_INTERVAL)
}

/// What to log when the server's view of this agent goes from `before` (none at the first
/// heartbeat) to `now`; `None` when nothing worth saying changed.
pub fn state_change(before: Option<&str>, now: &str) -> Option<String> {
    if before == Some(now) {
        return None;
    }
    match (before, now) {
        (None, "online") => None,
        (_, "draining") => Some(
            "the server drains this agent: it finishes what it runs and takes nothing new"
                .to_owned(),
        ),
        (Some("draining"), "online") => Some("drain ended: the agent takes work again".to_owned()),
        (Some(_), "online") => Some("the server sees this agent online again".to_owned()),
        (_, other) => Some(format!("the server sees this agent {other}")),
    }
}

/// What the loop needs besides the control plane.
pub struct Heartbeats {
    /// The agent's worker id.
    pub worker: String,
    /// Slots offered.
    pub slots: u32,
    /// Attempts running in the agent's pool.
    pub running: Arc<Running>,
    /// The data directory (its free disk is reported).
    pub data_dir: PathBuf,
    /// The interval to start with (from `hello`), until a heartbeat answer says another.
    pub interval: Duration,
}

impl Heartbeats {
    /// Heartbeats until `stop`. A heartbeat that fails is logged (once per run of failures)
    /// and the next one comes at the next interval; a refusal (revoked) cuts the agent off
    /// through the control plane, which cancels `stop`.
    pub async fn run(self, control: Arc<HttpControl>, stop: CancellationToken) {
        let mut interval = self.interval.max(MIN_INTERVAL);
        let mut sample: Option<CpuSample> = None;
        let mut seen: Option<String> = None;
        let mut failing = false;
        loop {
            let dir = self.data_dir.clone();
            let previous = sample;
            let (figures, next) = tokio::task::spawn_blocking(move || host::read(&dir, previous))
                .await
                .unwrap_or_default();
            sample = next;
            let running = self.running.attempts();
            let body = HeartbeatRequest {
                worker: self.worker.clone(),
                report: AgentReportView {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    slots_total: self.slots,
                    slots_used: u32::try_from(running.len()).unwrap_or(u32::MAX),
                    cpu_count: figures.cpu_count,
                    load: figures.load,
                    cpu_percent: figures.cpu_percent,
                    free_memory_bytes: figures.free_memory_bytes,
                    free_disk_bytes: figures.free_disk_bytes,
                    running: running.iter().map(|a| a.0).collect(),
                },
            };
            match control.heartbeat(&body).await {
                Ok(reply) => {
                    if failing {
                        tracing::info!("heartbeats reach the server again");
                        failing = false;
                    }
                    if let Some(message) = state_change(seen.as_deref(), &reply.state) {
                        tracing::warn!(state = %reply.state, "{message}");
                    }
                    seen = Some(reply.state);
                    if reply.heartbeat_interval_ms > 0 {
                        interval = Duration::from_millis(reply.heartbeat_interval_ms);
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "heartbeat failed; trying again at the next interval");
                        failing = true;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(jittered(interval, rand::random())) => {}
                _ = stop.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_get_twenty_percent_jitter_either_way() {
        let s = Duration::from_secs;
        for (interval, unit, want) in [
            (s(15), 0.0, Duration::from_millis(12_000)),
            (s(15), 0.5, s(15)),
            (s(15), 1.0, Duration::from_millis(18_000)),
            (s(15), 7.0, Duration::from_millis(18_000)),
            (s(15), -1.0, Duration::from_millis(12_000)),
            (s(1), 0.25, Duration::from_millis(900)),
            (Duration::ZERO, 0.5, Duration::from_millis(100)),
        ] {
            assert_eq!(jittered(interval, unit), want, "{interval:?} {unit}");
        }
    }

    #[test]
    fn state_changes_are_told_once() {
        for (before, now, said) in [
            (None, "online", None),
            (Some("online"), "online", None),
            (None, "draining", Some("drains this agent")),
            (Some("online"), "draining", Some("drains this agent")),
            (Some("draining"), "draining", None),
            (Some("draining"), "online", Some("drain ended")),
            (Some("suspect"), "online", Some("online again")),
            (Some("online"), "revoked", Some("sees this agent revoked")),
        ] {
            let got = state_change(before, now);
            match (got, said) {
                (None, None) => {}
                (Some(text), Some(want)) => assert!(text.contains(want), "{text}"),
                (got, want) => panic!("{before:?} → {now}: {got:?} vs {want:?}"),
            }
        }
    }
}
