//! The interim [`AgentSource`]: agents as this server sees them through the agent protocol,
//! until the agent registry (enrollment, heartbeats, states, labels from enrollment tokens)
//! replaces it. Kept in this one file so the swap touches nothing else.
//!
//! An agent is **online** while one of its claims is held here, or when it said `hello` or
//! claimed within [`SeenAgents::fresh_for`] (about three poll intervals); otherwise it is
//! **offline**, and forgotten after [`FORGET_AFTER`]. Its labels are the ones it declared in
//! `hello` (`jobworks agent --labels`, its own say-so: the registry takes them from the
//! enrollment token instead). Its free slots are the `max` of its held claim (0 without
//! one); its total slots the largest `max` it ever asked for. Limits: only agents talking to
//! this server are seen (with several servers, agents of another are not), and a claim held
//! for an agent that died is counted until the server notices the closed connection.

use crate::placer::AgentSource;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::routing::{AgentState, AgentView};
use jobworks_store::StoreError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Agents not heard from for this long are dropped from the view (10 minutes).
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

/// What this server last saw of one agent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    /// Labels declared in its last `hello`.
    pub labels: BTreeMap<String, String>,
    /// Its last hello or claim (start or end).
    pub last_seen: Option<DateTime<Utc>>,
    /// Claims of it held now, each with its `max`.
    pub held: Vec<u32>,
    /// The largest `max` it asked for.
    pub slots_total: u32,
}

/// The view of agent `name` seen as `seen` at `now`: online while a claim is held or within
/// `fresh_for` of its last contact, offline after, `None` after [`FORGET_AFTER`] (or never
/// seen). Free slots: the largest `max` among its held claims; heartbeat interval:
/// `fresh_for` / 3, its last heartbeat `now` while a claim is held.
pub fn agent_view(
    name: &str,
    seen: &Seen,
    now: DateTime<Utc>,
    fresh_for: Duration,
) -> Option<AgentView> {
    let last = seen.last_seen?;
    let silent = (now - last).to_std().unwrap_or_default();
    let holding = !seen.held.is_empty();
    if !holding && silent > FORGET_AFTER {
        return None;
    }
    let state = if holding || silent <= fresh_for {
        AgentState::Online
    } else {
        AgentState::Offline
    };
    let free = seen.held.iter().copied().max().unwrap_or(0);
    let total = seen.slots_total.max(free);
    Some(AgentView {
        name: name.to_owned(),
        labels: seen.labels.clone(),
        state,
        slots_total: total,
        slots_used: total - free,
        cpu_percent: None,
        free_memory_bytes: None,
        last_heartbeat_ms: if holding { now } else { last }.timestamp_millis(),
        heartbeat_interval_ms: u64::try_from(fresh_for.as_millis() / 3).unwrap_or(u64::MAX),
    })
}

/// Agents seen through the agent protocol; shared by the handlers (which record) and the
/// placer (which reads). Cheap to clone.
#[derive(Clone, Debug)]
pub struct SeenAgents {
    inner: Arc<Mutex<HashMap<String, Seen>>>,
    /// How long after its last contact an agent without a held claim stays online.
    pub fresh_for: Duration,
}

/// Marks one held claim of an agent; dropping it (the claim answered, or its request
/// dropped) ends the hold.
pub struct HeldClaim {
    seen: SeenAgents,
    name: String,
    max: u32,
    now: crate::clock::Clock,
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        let now = self.now.now();
        let mut agents = self.seen.lock();
        if let Some(seen) = agents.get_mut(&self.name) {
            if let Some(at) = seen.held.iter().position(|max| *max == self.max) {
                seen.held.swap_remove(at);
            }
            seen.last_seen = Some(now);
        }
    }
}

impl SeenAgents {
    /// No agent seen yet; online for `fresh_for` after each contact.
    pub fn new(fresh_for: Duration) -> SeenAgents {
        SeenAgents {
            inner: Arc::default(),
            fresh_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Agent `name` said hello at `now` with these labels (they replace the old ones).
    pub fn hello(&self, name: &str, labels: BTreeMap<String, String>, now: DateTime<Utc>) {
        let mut agents = self.lock();
        let seen = agents.entry(name.to_owned()).or_default();
        seen.labels = labels;
        seen.last_seen = Some(now);
    }

    /// Agent `name` claims up to `max` at `now`; held until the returned guard drops.
    pub fn claim(&self, name: &str, max: u32, clock: &crate::clock::Clock) -> HeldClaim {
        let mut agents = self.lock();
        let seen = agents.entry(name.to_owned()).or_default();
        seen.last_seen = Some(clock.now());
        seen.held.push(max);
        seen.slots_total = seen.slots_total.max(max);
        HeldClaim {
            seen: self.clone(),
            name: name.to_owned(),
            max,
            now: clock.clone(),
        }
    }

    /// Every agent still remembered, as routing sees it at `now`, by name.
    pub fn views(&self, now: DateTime<Utc>) -> Vec<AgentView> {
        let mut agents = self.lock();
        agents.retain(|_, seen| {
            !seen.held.is_empty()
                || seen
                    .last_seen
                    .is_some_and(|at| (now - at).to_std().unwrap_or_default() <= FORGET_AFTER)
        });
        let mut views: Vec<AgentView> = agents
            .iter()
            .filter_map(|(name, seen)| agent_view(name, seen, now, self.fresh_for))
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }
}

#[async_trait]
impl AgentSource for SeenAgents {
    async fn agents(&self, now: DateTime<Utc>) -> Result<Vec<AgentView>, StoreError> {
        Ok(self.views(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_900_000_000_000 + ms).expect("time")
    }

    #[test]
    fn an_agent_is_online_while_it_holds_a_claim_or_was_heard_from_lately() {
        let fresh = Duration::from_millis(1_500);
        let labels: BTreeMap<String, String> = [("site".to_owned(), "bj".to_owned())].into();
        let seen = |last: i64, held: Vec<u32>, total: u32| Seen {
            labels: labels.clone(),
            last_seen: Some(at(last)),
            held,
            slots_total: total,
        };
        // (seen, now) → (state, total, used, last heartbeat) or forgotten
        type Shown = Option<(AgentState, u32, u32, i64)>;
        let cases: Vec<(Seen, i64, Shown)> = vec![
            (seen(0, vec![4], 4), 0, Some((AgentState::Online, 4, 0, 0))),
            // a held claim keeps it online and fresh however long it is held
            (
                seen(0, vec![3], 4),
                20_000,
                Some((AgentState::Online, 4, 1, 20_000)),
            ),
            // no claim held: online within `fresh_for`, no free slot
            (
                seen(0, vec![], 4),
                1_500,
                Some((AgentState::Online, 4, 4, 0)),
            ),
            (
                seen(0, vec![], 4),
                1_501,
                Some((AgentState::Offline, 4, 4, 0)),
            ),
            // two claims held: the larger free count
            (
                seen(0, vec![1, 2], 2),
                10,
                Some((AgentState::Online, 2, 0, 10)),
            ),
            (seen(0, vec![], 4), 600_001, None),
            (
                Seen {
                    last_seen: None,
                    ..Seen::default()
                },
                0,
                None,
            ),
        ];
        for (seen, now, want) in cases {
            let got = agent_view("edge-1", &seen, at(now), fresh).map(|view| {
                assert_eq!(view.name, "edge-1");
                assert_eq!(view.heartbeat_interval_ms, 500);
                (
                    view.state,
                    view.slots_total,
                    view.slots_used,
                    view.last_heartbeat_ms - at(0).timestamp_millis(),
                )
            });
            assert_eq!(got, want, "{seen:?} at {now}");
        }
    }

    #[test]
    fn held_claims_end_when_their_guard_drops() {
        let seen = SeenAgents::new(Duration::from_secs(60));
        let clock = crate::clock::Clock::system();
        seen.hello("b", BTreeMap::new(), clock.now());
        let held = seen.claim("a", 3, &clock);
        let views = seen.views(clock.now());
        let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(views[0].free_slots(), 3);
        drop(held);
        assert_eq!(seen.views(clock.now())[0].free_slots(), 0);
    }
}
