//! What several servers sharing one store need from it: the leader lease and the typed
//! events that wake other servers.
//!
//! The leader lease follows the Kubernetes `Lease` object (holder, acquire time, renew
//! deadline) with a fencing epoch, as in Kleppmann's fencing tokens: each takeover increments
//! the epoch, and a leader-only write carrying an older epoch is refused by the store.

use chrono::{DateTime, Utc};
use jobworks_domain::RunId;
use serde::{Deserialize, Serialize};

/// The leader lease as stored: who holds it, since when, until when, and its epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadership {
    /// The holder's worker id (host name + UUID v7, unique across hosts and restarts).
    pub holder: String,
    /// Fencing token: 1 for the first leader, incremented by every takeover (never by a
    /// renewal). Leader-only writes carry it (see `Store::fire_ticks`).
    pub epoch: i64,
    /// When this holder took the lease (the takeover, not the last renewal).
    pub since: DateTime<Utc>,
    /// The lease is valid strictly before this instant unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Leadership {
    /// True when `holder` holds this lease at `now` (same holder, not expired).
    pub fn held_by(&self, holder: &str, now: DateTime<Utc>) -> bool {
        self.holder == holder && now < self.expires_at
    }
}

/// A typed state change, published by a store whose writers may be in other processes (for
/// PostgreSQL: `NOTIFY` sent inside the writing transaction, so it is delivered only if that
/// commits). Events are wake-ups, not the data: a subscriber reads what it needs by id. An
/// event may be delivered more than once, and a subscriber that lags or reconnects may miss
/// some, so every consumer keeps a slow safety scan as well.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreEvent {
    /// Runs were queued (trigger, tick, retry, workflow task): claimers should look.
    RunsQueued,
    /// A run changed state (ended, started, reopened): followers and advancers should look.
    RunChanged {
        /// The run.
        run_id: RunId,
    },
    /// A cancel was requested for a running run: its worker should act on it.
    CancelRequested {
        /// The run.
        run_id: RunId,
    },
    /// A definition was applied, paused, resumed or deleted: the scheduler should re-plan.
    DefinitionsChanged,
    /// Log lines were stored for a run, the last with sequence number `last_seq`.
    LogsAppended {
        /// The run.
        run_id: RunId,
        /// Sequence number of the last line stored.
        last_seq: i64,
    },
    /// The subscription was interrupted (connection lost and re-established): events may
    /// have been missed, so consumers should rescan now.
    Resync,
}
