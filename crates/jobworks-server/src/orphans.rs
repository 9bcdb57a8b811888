//! Sweeps of this host's orphaned attempt processes.
//!
//! Attempt processes carry `JOBWORKS_ATTEMPT_ID=<installation>-<attempt>`. Several servers
//! may share one store and one host, so a process of this installation that this server did
//! not start may be a live sibling's: it is killed only when its attempt no longer runs
//! under a live lease (the attempt ended, was found `lost`, or its holder stopped renewing).
//! The host is scanned before the store is read, so an attempt claimed by a sibling just
//! before its process started is always seen running. Every server sweeps at start and then
//! every lease period (the leader's reaper also kills the processes of the attempts it finds
//! lost, on its own host); the decision is the plain function [`orphan_tags`].

use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptId, AttemptState, RunId, RunState};
use jobworks_store::{RunFilter, Store, StoreError};
use jobworks_worker::Running;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The attempt a process tag names, when it is `<installation>-<attempt>` of `installation`.
pub fn attempt_of(tag: &str, installation: &str) -> Option<AttemptId> {
    let id = tag.strip_prefix(installation)?.strip_prefix('-')?;
    id.parse::<i64>().ok().map(AttemptId)
}

/// The tags to kill among the processes `found` on this host: those of `installation` whose
/// attempt does not run here (`local`) and is not held under a lease valid at `now` (`live`:
/// the lease expiry of each attempt the store has `running`). Each tag once, in `found` order.
pub fn orphan_tags(
    found: &[(u32, String)],
    installation: &str,
    local: &HashSet<AttemptId>,
    live: &HashMap<AttemptId, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for (_, tag) in found {
        let Some(attempt) = attempt_of(tag, installation) else {
            continue;
        };
        let held = local.contains(&attempt) || live.get(&attempt).is_some_and(|until| now < *until);
        if !held && !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    tags
}

/// A host sweeper: what it needs, and the leases it already saw live (so a sibling's long
/// attempts are not looked up in the store at every sweep).
pub struct HostSweep {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The store's installation id (the tags' prefix).
    pub installation: String,
    /// Attempts running here.
    pub running: Arc<Running>,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    seen_live: HashMap<AttemptId, DateTime<Utc>>,
}

impl HostSweep {
    /// A sweeper with nothing seen yet.
    pub fn new(
        store: Arc<dyn Store>,
        installation: String,
        running: Arc<Running>,
        clock: crate::clock::Clock,
    ) -> HostSweep {
        HostSweep {
            store,
            installation,
            running,
            clock,
            seen_live: HashMap::new(),
        }
    }

    /// One sweep: finds this installation's processes on the host, kills the process groups
    /// of those whose attempt is neither local nor running under a live lease, and returns
    /// the pids signalled. Errors: the store failed (nothing is killed then).
    pub async fn sweep(&mut self) -> Result<Vec<u32>, StoreError> {
        let prefix = format!("{}-", self.installation);
        let found =
            tokio::task::spawn_blocking(move || jobworks_executor::tagged_processes(&prefix))
                .await
                .unwrap_or_default();
        let local: HashSet<AttemptId> = self.running.attempts().into_iter().collect();
        let now = self.clock.now();
        self.seen_live.retain(|_, until| now < *until);
        let unknown = orphan_tags(&found, &self.installation, &local, &self.seen_live, now);
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        // read after the scan: whatever was found running was claimed before it started
        self.seen_live
            .extend(live_leases(self.store.as_ref()).await?);
        let now = self.clock.now();
        let tags = orphan_tags(&found, &self.installation, &local, &self.seen_live, now);
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        tracing::warn!(?tags, "killing attempt processes no live lease holds");
        Ok(
            tokio::task::spawn_blocking(move || jobworks_executor::sweep_orphans(&tags))
                .await
                .unwrap_or_default(),
        )
    }
}

/// The lease expiry of every attempt the store has `running`, from the runs that are
/// running (all pages).
async fn live_leases(store: &dyn Store) -> Result<HashMap<AttemptId, DateTime<Utc>>, StoreError> {
    let mut live = HashMap::new();
    let mut before: Option<RunId> = None;
    loop {
        let page = store
            .list_runs(&RunFilter {
                states: vec![RunState::Running],
                before_id: before,
                limit: 1000,
                ..RunFilter::default()
            })
            .await?;
        for run in &page {
            let detail = match store.get_run(run.id).await {
                Ok(detail) => detail,
                Err(StoreError::RunNotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            for attempt in detail.attempts {
                if attempt.state == AttemptState::Running
                    && let Some(until) = attempt.lease_expires_at
                {
                    live.insert(attempt.id, until);
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => before = Some(last.id),
            _ => return Ok(live),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn tags_name_attempts_of_one_installation() {
        for (tag, want) in [
            ("inst-12", Some(AttemptId(12))),
            ("inst-x", None),
            ("inst12", None),
            ("other-12", None),
            ("inst-12-3", None),
            ("", None),
        ] {
            assert_eq!(attempt_of(tag, "inst"), want, "{tag}");
        }
    }

    #[test]
    fn only_attempts_no_live_lease_holds_are_orphans() {
        let now = at("2030-01-01T00:00:10Z");
        let found: Vec<(u32, String)> = [
            (10, "inst-1"),  // runs here
            (11, "inst-2"),  // a sibling's, lease valid
            (12, "inst-3"),  // lease expired, not reaped yet
            (13, "inst-4"),  // not running in the store (ended, lost)
            (14, "inst-4"),  // same attempt, another process: one tag
            (15, "other-5"), // another store's
            (16, "inst-6"),  // lease ends exactly now
        ]
        .into_iter()
        .map(|(pid, tag)| (pid, tag.to_string()))
        .collect();
        let local = HashSet::from([AttemptId(1)]);
        let live = HashMap::from([
            (AttemptId(2), at("2030-01-01T00:00:15Z")),
            (AttemptId(3), at("2030-01-01T00:00:05Z")),
            (AttemptId(6), now),
        ]);
        assert_eq!(
            orphan_tags(&found, "inst", &local, &live, now),
            vec!["inst-3", "inst-4", "inst-6"]
        );
    }

    /// A process of `tag` in its own process group, as the executor starts attempts.
    fn tagged_sleep(tag: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sleep")
            .arg("300")
            .env(jobworks_executor::ATTEMPT_ID_ENV, tag)
            .process_group(0)
            .spawn()
            .expect("spawn sleep")
    }

    /// Whether `child` exits within 5 s (reaping it).
    fn exits(child: &mut std::process::Child) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// A sibling's process under a live lease survives a sweep (as at a second server's
    /// start on the same host); once its lease expired it is killed, as is a process whose
    /// attempt the store does not have running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sweep_spares_a_live_siblings_processes() {
        use jobworks_domain::TriggerKind;
        use jobworks_store::NewRun;
        use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteStoreOptions::new(dir.path().join("jobworks.db")))
                .await
                .expect("open"),
        );
        let now = Utc::now();
        let job = store
            .apply_job(&jobworks_store::conformance::sample_spec("j"), None, now)
            .await
            .expect("apply");
        let run = NewRun::new(
            job.job_id,
            job.version,
            TriggerKind::Manual,
            serde_json::json!({}),
            "test",
        );
        store.enqueue_runs(vec![run], now).await.expect("enqueue");
        let claims = store
            .claim(
                "sibling",
                &jobworks_store::ClaimScope::Pool,
                1,
                600_000,
                now,
                now,
            )
            .await
            .expect("claim");
        let installation = store.installation_id().await.expect("installation");
        let mut sibling = tagged_sleep(&format!("{installation}-{}", claims[0].attempt_id));
        let mut stray = tagged_sleep(&format!("{installation}-999999"));
        let mut foreign = tagged_sleep("another-installation-1");

        let running = Arc::new(Running::default());
        let mut starting = HostSweep::new(
            store.clone(),
            installation.clone(),
            running.clone(),
            crate::clock::Clock::from_fn(Utc::now),
        );
        let killed = starting.sweep().await.expect("sweep");
        assert_eq!(killed, vec![stray.id()], "only the stray process");
        assert!(exits(&mut stray));
        assert!(
            sibling.try_wait().expect("wait").is_none(),
            "the live sibling's runs on"
        );

        let later = now + chrono::TimeDelta::hours(1);
        let mut after_expiry = HostSweep::new(
            store.clone(),
            installation,
            running,
            crate::clock::Clock::from_fn(move || later),
        );
        let killed = after_expiry.sweep().await.expect("sweep");
        assert_eq!(killed, vec![sibling.id()], "its lease expired");
        assert!(exits(&mut sibling));
        assert!(
            foreign.try_wait().expect("wait").is_none(),
            "another store's"
        );
        foreign.kill().expect("kill");
        foreign.wait().expect("reap");
    }
}
