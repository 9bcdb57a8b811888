//! The lease reaper: while this server leads, it reaps expired leases of any worker (marking
//! those attempts `lost`, retrying per policy through the one retry decision, and killing
//! orphaned process groups on this host). Renewing the leases of what runs here is the
//! worker's own job (`jobworks_worker::Pool::keep_leases`).

use crate::retry::next_attempt_at;
use jobworks_domain::AttemptState;
use jobworks_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the lease reaper works with.
pub struct LeaseReaper {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Lease length; expired leases are looked for every half of it (at least 100 ms).
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
}

/// Runs until `shutdown`.
pub async fn run_lease_reaper(reaper: LeaseReaper, shutdown: CancellationToken) {
    let LeaseReaper {
        store,
        lease,
        wake,
        advance,
        installation,
        clock,
        leader,
    } = reaper;
    let mut reap = tokio::time::interval((lease / 2).max(std::time::Duration::from_millis(100)));
    reap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // leadership is checked at each tick, not as a select precondition: a server
            // that starts as a follower must still reap once it leads
            _ = reap.tick() => {
                if leader.epoch().is_none() {
                    continue;
                }
                let now = clock.now();
                let decide = move |spec: &jobworks_domain::JobSpec, try_no: i64| {
                    next_attempt_at(spec, try_no, AttemptState::Lost, false, now, rand::random())
                };
                match store.expire_leases(now, &decide).await {
                    Ok(lost) if !lost.is_empty() => {
                        let tags: Vec<String> = lost.iter().map(|l| jobworks_worker::attempt_tag(&installation, l.attempt_id)).collect();
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
