//! The lease keeper: renews the leases of attempts running here, stops those whose lease was
//! lost or whose run was cancelled, and, while this server leads, reaps expired leases of any
//! worker (marking those attempts `lost`, retrying per policy, and killing orphaned process
//! groups on this host).

use crate::dispatch::Running;
use crate::retry::retry_at;
use jobworks_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the lease keeper works with.
pub struct LeaseKeeper {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Attempts running here.
    pub running: Arc<Running>,
    /// This server's worker id.
    pub worker: String,
    /// Lease length; renewed every third of it.
    pub lease: std::time::Duration,
    /// Wakes the dispatcher when lost attempts were requeued.
    pub wake: Arc<Notify>,
    /// Workflow runs whose task was lost go here.
    pub advance: crate::workflow::AdvanceSender,
    /// The store's installation id (process tags).
    pub installation: String,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    /// Reaping is a leader duty.
    pub leader: crate::leader::Leader,
    /// Renews now when notified (a cancel requested through another server).
    pub renew_now: Arc<Notify>,
}

/// Runs until `shutdown`.
pub async fn run_lease_keeper(keeper: LeaseKeeper, shutdown: CancellationToken) {
    let LeaseKeeper {
        store,
        running,
        worker,
        lease,
        wake,
        advance,
        installation,
        clock,
        leader,
        renew_now,
    } = keeper;
    let lease_ms = lease.as_millis() as u64;
    let mut renew = tokio::time::interval(lease / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reap = tokio::time::interval((lease / 2).max(std::time::Duration::from_millis(100)));
    reap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = renew_tick(&mut renew, &renew_now) => {
                let attempts = running.attempts();
                if attempts.is_empty() {
                    continue;
                }
                match store.renew_leases(&worker, &attempts, lease_ms, clock.now()).await {
                    Ok(statuses) => {
                        for status in statuses {
                            if !status.held {
                                tracing::warn!(attempt = %status.attempt_id, "lease lost; stopping the task");
                                running.cancel_attempt(status.attempt_id);
                            } else if status.cancel_requested {
                                running.cancel_attempt(status.attempt_id);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
            }
            _ = reap.tick(), if leader.epoch().is_some() => {
                let now = clock.now();
                let decide = move |spec: &jobworks_domain::JobSpec, attempt: i64| {
                    retry_at(spec, attempt, now, rand::random())
                };
                match store.expire_leases(now, &decide).await {
                    Ok(lost) if !lost.is_empty() => {
                        let tags: Vec<String> = lost.iter().map(|l| crate::task::attempt_tag(&installation, l.attempt_id)).collect();
                        for l in &lost {
                            tracing::warn!(attempt = %l.attempt_id, run = %l.run_id, next = %l.run_state, "attempt lost: lease expired");
                            if let Some(run) = l.advance {
                                advance.advance(run);
                            }
                        }
                        let killed = tokio::task::spawn_blocking(move || jobworks_executor::sweep_orphans(&tags))
                            .await
                            .unwrap_or_default();
                        if !killed.is_empty() {
                            tracing::warn!(pids = ?killed, "killed orphaned process groups of lost attempts");
                        }
                        wake.notify_one();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reaping expired leases failed"),
                }
            }
        }
    }
}

/// The next renewal: the interval's tick, or at once when `now` is notified.
async fn renew_tick(interval: &mut tokio::time::Interval, now: &Notify) {
    tokio::select! {
        _ = interval.tick() => {}
        _ = now.notified() => {}
    }
}
