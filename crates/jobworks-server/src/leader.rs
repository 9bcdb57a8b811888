//! Leader election among the servers sharing one store.
//!
//! Every server tries `Store::acquire_leadership` every third of the leader lease; the one
//! holding the lease runs the time-driven duties (the scheduler firing ticks with its epoch as
//! fence, the workflow advancer's scans, lease reaping, retention). Every server serves the
//! API and claims and runs work whether it leads or not. The epoch this server leads at, or
//! `None`, is published on a `watch` channel the duties observe: a renewal that does not come
//! back held, or a `NotLeader` refusal from the store, clears it at once. A clean shutdown
//! releases the lease so another server takes over without waiting for it to expire.
//!
//! The decisions are plain functions ([`lead_after`], [`changed`]); [`run_elector`] only does
//! the I/O.

use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use jobworks_store::{Leadership, Store, StoreError};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Default leader lease: a dead leader is replaced at most this long after its last renewal.
pub const DEFAULT_LEADER_LEASE: Duration = Duration::from_secs(6);

/// The epoch this server leads at after a renewal attempt at `now`.
///
/// - the store answered with a lease `holder` holds at `now`: its epoch;
/// - the store answered with another holder's lease (or an expired one): `None`;
/// - the store failed: the current epoch while the lease this server last confirmed
///   (`confirmed_until`) is still valid at `now`, else `None` (the others may take over once
///   it expires, so this server must stop by then).
pub fn lead_after(
    renewal: Result<&Leadership, &StoreError>,
    holder: &str,
    now: DateTime<Utc>,
    current: Option<i64>,
    confirmed_until: Option<DateTime<Utc>>,
) -> Option<i64> {
    match renewal {
        Ok(lease) if lease.held_by(holder, now) => Some(lease.epoch),
        Ok(_) => None,
        Err(_) => current.filter(|_| confirmed_until.is_some_and(|until| now < until)),
    }
}

/// Whether going from `before` to `after` is a leadership change of this server: gaining it,
/// losing it, or leading at a new epoch.
pub fn changed(before: Option<i64>, after: Option<i64>) -> bool {
    before != after
}

/// What this server knows of the leader lease, for `/readyz`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderView {
    /// The lease as the store last returned it (possibly held by another server, possibly
    /// expired), or `None` before the first answer.
    pub lease: Option<Leadership>,
    /// The epoch this server leads at, or `None`.
    pub epoch: Option<i64>,
    /// Why the last renewal failed, or `None` when the store answered.
    pub error: Option<String>,
}

/// This server's side of the leader lease: who it is, the epoch it leads at (observed by the
/// leader-only duties), and the last lease it saw. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Leader {
    worker: String,
    epoch: Arc<watch::Sender<Option<i64>>>,
    lease: Arc<Mutex<(Option<Leadership>, Option<String>)>>,
    renew_now: Arc<Notify>,
}

impl Leader {
    /// A follower (not leading yet) whose lease holder name is `worker`.
    pub fn new(worker: impl Into<String>) -> Leader {
        Leader {
            worker: worker.into(),
            epoch: Arc::new(watch::channel(None).0),
            lease: Arc::new(Mutex::new((None, None))),
            renew_now: Arc::new(Notify::new()),
        }
    }

    /// The epoch this server leads at now, or `None`.
    pub fn epoch(&self) -> Option<i64> {
        *self.epoch.borrow()
    }

    /// A receiver of the epoch this server leads at, for a duty that must stop when it is
    /// deposed.
    pub fn watch(&self) -> watch::Receiver<Option<i64>> {
        self.epoch.subscribe()
    }

    /// What this server knows of the lease.
    pub fn view(&self) -> LeaderView {
        let (lease, error) = self.lock().clone();
        LeaderView {
            lease,
            epoch: self.epoch(),
            error,
        }
    }

    /// The store refused a write fenced with `epoch` (`StoreError::NotLeader`): stops leading
    /// at once if that is the current epoch, and asks the elector to check the lease now.
    pub fn deposed(&self, epoch: i64) {
        let cleared = self.epoch.send_if_modified(|current| {
            if *current == Some(epoch) {
                *current = None;
                true
            } else {
                false
            }
        });
        if cleared {
            tracing::warn!(
                epoch,
                "deposed: the store refused this server's leader epoch"
            );
        }
        self.renew_now.notify_one();
    }

    /// Publishes the outcome of one renewal (the lease the store answered with, or why it
    /// failed); returns whether leadership changed.
    fn publish(&self, answer: Result<Leadership, String>, epoch: Option<i64>) -> bool {
        {
            let mut seen = self.lock();
            match answer {
                Ok(lease) => *seen = (Some(lease), None),
                Err(error) => seen.1 = Some(error),
            }
        }
        let before = self.epoch();
        if changed(before, epoch) {
            self.epoch.send_replace(epoch);
            match epoch {
                Some(epoch) => {
                    tracing::info!(epoch, worker = %self.worker, "this server is now the leader")
                }
                None => {
                    tracing::info!(worker = %self.worker, "this server is no longer the leader")
                }
            }
            true
        } else {
            false
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Leadership>, Option<String>)> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The elector's state between renewals.
pub struct Elector {
    /// The store holding the lease.
    pub store: Arc<dyn Store>,
    /// This server's side of it.
    pub leader: Leader,
    /// Lease length; renewed every third of it.
    pub ttl: Duration,
    /// The server's wall clock (what `now` is for the store's lease arithmetic).
    pub clock: crate::clock::Clock,
    /// Counts leadership changes.
    pub metrics: Arc<Metrics>,
    /// Until when the last lease this server confirmed holding is valid.
    confirmed_until: Option<DateTime<Utc>>,
}

impl Elector {
    /// An elector for `leader` over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        leader: Leader,
        ttl: Duration,
        clock: crate::clock::Clock,
        metrics: Arc<Metrics>,
    ) -> Elector {
        Elector {
            store,
            leader,
            ttl,
            clock,
            metrics,
            confirmed_until: None,
        }
    }

    /// One renewal (or takeover attempt); publishes the outcome.
    pub async fn renew(&mut self) {
        let now = self.clock.now();
        let ttl_ms = self.ttl.as_millis() as u64;
        // a renewal stuck behind a locked or unreachable store counts as failed once the
        // next one is due, so `/readyz` says so and the lease is not assumed held meanwhile
        let patience = (self.ttl / 3).max(Duration::from_millis(100));
        let answer = tokio::time::timeout(
            patience,
            self.store
                .acquire_leadership(&self.leader.worker, ttl_ms, now),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Busy(format!(
                "the leader lease renewal took longer than {} ms",
                patience.as_millis()
            )))
        });
        let epoch = lead_after(
            answer.as_ref(),
            &self.leader.worker,
            now,
            self.leader.epoch(),
            self.confirmed_until,
        );
        let answer = match answer {
            Ok(lease) => {
                if lease.held_by(&self.leader.worker, now) {
                    self.confirmed_until = Some(lease.expires_at);
                }
                Ok(lease)
            }
            Err(e) => {
                tracing::warn!(error = %e, "leader lease renewal failed");
                Err(e.to_string())
            }
        };
        if self.leader.publish(answer, epoch) {
            self.metrics.leader_changed();
        }
    }

    /// Renews every third of the lease (or at once after a `NotLeader` refusal) until
    /// `shutdown`, then gives the lease up if this server holds it.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let every = (self.ttl / 3).max(Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
                _ = self.leader.renew_now.notified() => {}
            }
            self.renew().await;
        }
        if let Some(epoch) = self.leader.epoch() {
            self.leader.epoch.send_replace(None);
            if let Err(e) = self
                .store
                .release_leadership(&self.leader.worker, epoch, self.clock.now())
                .await
            {
                tracing::warn!(error = %e, "releasing the leader lease failed; it expires by itself");
            }
        }
    }
}

/// Waits until this server leads; returns the epoch, or `None` once `shutdown` is cancelled.
pub async fn until_leading(
    rx: &mut watch::Receiver<Option<i64>>,
    shutdown: &CancellationToken,
) -> Option<i64> {
    tokio::select! {
        found = rx.wait_for(Option::is_some) => found.ok().and_then(|epoch| *epoch),
        _ = shutdown.cancelled() => None,
    }
}

/// Runs `duty` whenever this server leads, until `shutdown`: the duty starts each time
/// leadership is gained (with the epoch) and is dropped at its next await point as soon as
/// this server stops leading at that epoch. A duty that returns by itself is started again
/// only at the next gain.
pub async fn while_leading<F, Fut>(
    mut rx: watch::Receiver<Option<i64>>,
    shutdown: CancellationToken,
    mut duty: F,
) where
    F: FnMut(i64, CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let Some(epoch) = until_leading(&mut rx, &shutdown).await else {
            return;
        };
        let stop = shutdown.child_token();
        let deposed = async {
            let _ = rx.wait_for(|current| *current != Some(epoch)).await;
        };
        tokio::select! {
            _ = duty(epoch, stop.clone()) => {
                // finished by itself: wait for the next gain, not for this epoch again
                let _ = rx.wait_for(|current| *current != Some(epoch)).await;
            }
            _ = deposed => {}
            _ = shutdown.cancelled() => return,
        }
        stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn lease(holder: &str, epoch: i64, expires: &str) -> Leadership {
        Leadership {
            holder: holder.into(),
            epoch,
            since: at("2030-01-01T00:00:00Z"),
            expires_at: at(expires),
        }
    }

    #[test]
    fn leadership_after_a_renewal() {
        let now = at("2030-01-01T00:00:10Z");
        let failed = StoreError::Unavailable("connection reset".into());
        let mine = lease("a", 4, "2030-01-01T00:00:16Z");
        let theirs = lease("b", 5, "2030-01-01T00:00:16Z");
        let mine_expired = lease("a", 4, "2030-01-01T00:00:10Z");
        let later = Some(at("2030-01-01T00:00:12Z"));
        let earlier = Some(at("2030-01-01T00:00:09Z"));
        type Case<'a> = (
            &'a str,
            Result<&'a Leadership, &'a StoreError>,
            Option<i64>,
            Option<DateTime<Utc>>,
            Option<i64>,
        );
        let cases: Vec<Case<'_>> = vec![
            ("took or renewed it", Ok(&mine), None, None, Some(4)),
            ("renewed it", Ok(&mine), Some(4), later, Some(4)),
            ("another holds it", Ok(&theirs), None, None, None),
            ("another took over", Ok(&theirs), Some(4), later, None),
            (
                "own lease expired at now",
                Ok(&mine_expired),
                Some(4),
                later,
                None,
            ),
            (
                "store failed, lease still valid",
                Err(&failed),
                Some(4),
                later,
                Some(4),
            ),
            (
                "store failed, lease expired",
                Err(&failed),
                Some(4),
                earlier,
                None,
            ),
            ("store failed, never led", Err(&failed), None, None, None),
            (
                "store failed, no confirmed lease",
                Err(&failed),
                Some(4),
                None,
                None,
            ),
        ];
        for (case, answer, current, until, want) in cases {
            assert_eq!(lead_after(answer, "a", now, current, until), want, "{case}");
        }
    }

    #[test]
    fn leadership_changes() {
        for (before, after, want) in [
            (None, None, false),
            (None, Some(1), true),
            (Some(1), Some(1), false),
            (Some(1), Some(2), true),
            (Some(1), None, true),
        ] {
            assert_eq!(changed(before, after), want, "{before:?} -> {after:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_epoch_deposes_at_once() {
        let leader = Leader::new("a");
        assert!(leader.publish(Ok(lease("a", 3, "2030-01-01T00:00:06Z")), Some(3)));
        let rx = leader.watch();
        leader.deposed(2);
        assert_eq!(
            leader.epoch(),
            Some(3),
            "an older epoch's refusal changes nothing"
        );
        leader.deposed(3);
        assert_eq!(leader.epoch(), None);
        assert!(rx.has_changed().expect("open"), "duties see the change");
        assert_eq!(leader.view().lease.map(|l| l.epoch), Some(3));
        assert!(!leader.publish(Err("database busy".into()), None));
        assert_eq!(leader.view().error.as_deref(), Some("database busy"));
        assert_eq!(
            leader.view().lease.map(|l| l.epoch),
            Some(3),
            "the last lease seen stays"
        );
    }

    #[tokio::test]
    async fn a_duty_runs_only_while_leading() {
        let leader = Leader::new("a");
        let shutdown = CancellationToken::new();
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let (stopped_tx, mut stopped) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(while_leading(
            leader.watch(),
            shutdown.clone(),
            move |epoch, stop| {
                let (started_tx, stopped_tx) = (started_tx.clone(), stopped_tx.clone());
                async move {
                    let _ = started_tx.send(epoch);
                    // a duty that never ends by itself; dropped when deposed
                    struct OnDrop(tokio::sync::mpsc::UnboundedSender<i64>, i64);
                    impl Drop for OnDrop {
                        fn drop(&mut self) {
                            let _ = self.0.send(self.1);
                        }
                    }
                    let _guard = OnDrop(stopped_tx, epoch);
                    stop.cancelled().await;
                    std::future::pending::<()>().await;
                }
            },
        ));
        leader.publish(Ok(lease("a", 1, "2030-01-01T00:00:06Z")), Some(1));
        assert_eq!(started.recv().await, Some(1));
        leader.deposed(1);
        assert_eq!(stopped.recv().await, Some(1), "deposed: the duty stops");
        leader.publish(Err("busy".into()), Some(2));
        assert_eq!(started.recv().await, Some(2), "leading again: it restarts");
        shutdown.cancel();
        task.await.expect("joined");
        assert_eq!(stopped.recv().await, Some(2), "shutdown stops it too");
    }
}
