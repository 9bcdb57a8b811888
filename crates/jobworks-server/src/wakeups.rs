//! Wake-ups across servers: when the store publishes events from every process sharing it
//! (`Store::subscribe`, PostgreSQL's LISTEN/NOTIFY), this task maps each onto the wake-ups
//! this server already has for its own writes, so work queued, cancelled or logged through
//! another server is seen at once instead of at the next safety scan (which all loops keep:
//! events may be missed). With a store that publishes nothing (SQLite) it is not started.
//! The mapping is the plain function [`wakes`].

use crate::follow::LogHub;
use crate::workflow::AdvanceSender;
use jobworks_domain::RunId;
use jobworks_store::StoreEvent;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// One in-process wake-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The dispatcher claims now.
    Dispatcher,
    /// The scheduler re-reads due schedules now (on the leader).
    Scheduler,
    /// The lease keeper renews now, so a cancel requested elsewhere stops its attempt.
    LeaseRenewal,
    /// The workflow advancer looks at this run (on the leader).
    Advancer(RunId),
    /// Log followers of this run check whether it ended.
    RunFollowers(RunId),
    /// Log followers of this run read lines stored up to this sequence number.
    StoredLines(RunId, i64),
    /// Every log follower reads the store.
    AllFollowers,
}

/// The wake-ups one store event calls for.
pub fn wakes(event: &StoreEvent) -> Vec<Wake> {
    match event {
        StoreEvent::RunsQueued => vec![Wake::Dispatcher],
        StoreEvent::CancelRequested { .. } => vec![Wake::LeaseRenewal],
        StoreEvent::RunChanged { run_id } => {
            vec![Wake::Advancer(*run_id), Wake::RunFollowers(*run_id)]
        }
        StoreEvent::DefinitionsChanged => vec![Wake::Scheduler],
        StoreEvent::LogsAppended { run_id, last_seq } => {
            vec![Wake::StoredLines(*run_id, *last_seq)]
        }
        StoreEvent::Resync => vec![
            Wake::Dispatcher,
            Wake::Scheduler,
            Wake::LeaseRenewal,
            Wake::AllFollowers,
        ],
    }
}

/// The wake-ups of this server's loops.
pub struct Wakeups {
    /// The dispatcher's.
    pub dispatch: Arc<Notify>,
    /// The scheduler's.
    pub schedule: Arc<Notify>,
    /// The lease keeper's "renew now".
    pub renew_leases: Arc<Notify>,
    /// The workflow advancer.
    pub advance: AdvanceSender,
    /// Log followers.
    pub followers: LogHub,
    /// Advancing on events is left to the leader (whose scans own what others do not touch).
    pub leader: crate::leader::Leader,
}

impl Wakeups {
    fn apply(&self, wake: Wake) {
        match wake {
            Wake::Dispatcher => self.dispatch.notify_one(),
            Wake::Scheduler => self.schedule.notify_one(),
            Wake::LeaseRenewal => self.renew_leases.notify_one(),
            Wake::Advancer(run) => {
                if self.leader.epoch().is_some() {
                    self.advance.advance(run);
                }
            }
            Wake::RunFollowers(run) => self.followers.changed(vec![run]),
            Wake::StoredLines(run, last_seq) => self.followers.stored(run, last_seq),
            Wake::AllFollowers => self.followers.resync(),
        }
    }
}

/// Applies the wake-ups of every event from `events` until `shutdown` or the store's
/// subscription ends. Events missed because this task lagged count as a `Resync`.
pub async fn run_wakeups(
    mut events: broadcast::Receiver<StoreEvent>,
    wakeups: Wakeups,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "store events missed; rescanning");
                StoreEvent::Resync
            }
            Err(broadcast::error::RecvError::Closed) => {
                tracing::warn!("the store's event subscription ended; relying on the safety scans");
                return;
            }
        };
        for wake in wakes(&event) {
            wakeups.apply(wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_wakes_its_consumers() {
        let run = RunId(7);
        for (event, want) in [
            (StoreEvent::RunsQueued, vec![Wake::Dispatcher]),
            (
                StoreEvent::CancelRequested { run_id: run },
                vec![Wake::LeaseRenewal],
            ),
            (
                StoreEvent::RunChanged { run_id: run },
                vec![Wake::Advancer(run), Wake::RunFollowers(run)],
            ),
            (StoreEvent::DefinitionsChanged, vec![Wake::Scheduler]),
            (
                StoreEvent::LogsAppended {
                    run_id: run,
                    last_seq: 42,
                },
                vec![Wake::StoredLines(run, 42)],
            ),
            (
                StoreEvent::Resync,
                vec![
                    Wake::Dispatcher,
                    Wake::Scheduler,
                    Wake::LeaseRenewal,
                    Wake::AllFollowers,
                ],
            ),
        ] {
            assert_eq!(wakes(&event), want, "{event:?}");
        }
    }

    /// Events from the store reach the loops: a queued run wakes the dispatcher, a lagging
    /// subscriber resyncs, and a closed subscription ends the task.
    #[tokio::test]
    async fn events_wake_the_loops_and_a_lag_resyncs() {
        let (tx, rx) = broadcast::channel(2);
        let (advance, mut advanced) = AdvanceSender::channel();
        let leader = crate::leader::Leader::new("a");
        let wakeups = Wakeups {
            dispatch: Arc::new(Notify::new()),
            schedule: Arc::new(Notify::new()),
            renew_leases: Arc::new(Notify::new()),
            advance,
            followers: LogHub::new(),
            leader,
        };
        let (dispatch, schedule, renew) = (
            wakeups.dispatch.clone(),
            wakeups.schedule.clone(),
            wakeups.renew_leases.clone(),
        );
        // three events into a channel of two: the first is lost, the task sees a lag
        tx.send(StoreEvent::DefinitionsChanged).expect("send");
        tx.send(StoreEvent::RunsQueued).expect("send");
        tx.send(StoreEvent::RunChanged { run_id: RunId(3) })
            .expect("send");
        drop(tx);
        run_wakeups(rx, wakeups, CancellationToken::new()).await;
        // each permit was stored by notify_one, so these return at once
        dispatch.notified().await;
        schedule.notified().await;
        renew.notified().await;
        assert!(
            advanced.try_recv().is_err(),
            "a follower leaves advancing to the leader"
        );
    }
}
