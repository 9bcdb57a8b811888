//! The concurrency suite: several handles on one database, as several servers hold them,
//! racing on the same rows. Each check compares the outcome with what a serial execution of
//! the same calls allows: no run claimed twice, one winner per tick, no second run admitted
//! under `forbid`, no two runs of a serial job or of a `max_active_runs = 1` workflow at
//! once, each workflow task run once, a run ended once, a lease lost or finished but never
//! both, one leader at a time, and only the leader's ticks accepted.
//!
//! A backend crate runs every check with
//! [`store_concurrency_tests!`](crate::store_concurrency_tests); its expression yields at
//! least three handles (`Vec<S>`, `S: Store + Clone`) on one fresh, empty database, each as
//! a separate server would hold it (for SQLite: `SqliteStore::open` on the same file, each
//! with its own writer connection):
//!
//! ```ignore
//! jobworks_store::store_concurrency_tests!(async {
//!     let path = fresh_path();
//!     let mut handles = Vec::new();
//!     for _ in 0..3 {
//!         handles.push(SqliteStore::open(SqliteStoreOptions::new(&path)).await.unwrap());
//!     }
//!     handles
//! });
//! ```
//!
//! Tests run on a multi-thread runtime; the racers of a check start together (a
//! [`tokio::sync::Barrier`]) and loop a bounded number of times. Racers retry calls that
//! fail with a transient error ([`StoreError::is_transient`]: busy, unavailable), as
//! servers do; the number of such retries is printed with each check's result (a backend
//! that serializes its writers well shows few). Any other error, and any outcome a serial
//! execution could not give, fails the check.
//!
//! | race | check |
//! |---|---|
//! | `claim` (and `finish_attempts`) | `racing_claims_hand_out_each_run_once` |
//! | `fire_ticks` | `racing_fire_ticks_fire_each_tick_once` |
//! | `enqueue_runs` and `claim` under `allow`, `forbid`, `replace`, `queue` | `racing_admission_by_concurrency_policy` |
//! | `advance_run` under `max_active_runs = 1` | `racing_workflow_admission_max_active_runs` |
//! | `advance_run` and `finish_and_advance` on the same runs | `racing_advances_run_each_task_once` |
//! | `expire_leases` against late `finish_attempts` | `racing_lease_expiry_and_late_finish` |
//! | `acquire_leadership` | `racing_leader_lease_one_holder` |
//! | `fire_ticks` fenced by the leader epoch, with `acquire_leadership` | `racing_fenced_fire_ticks_only_the_leader_fires` |
//! | `enroll_agent` with one token's last uses, and with one name | `racing_enrollments_take_each_use_once` |

mod admission;
mod claims;
mod enroll;
mod fencing;
mod leases;
mod workflow;

pub use admission::{
    racing_admission_by_concurrency_policy, racing_workflow_admission_max_active_runs,
};
pub use claims::{racing_claims_hand_out_each_run_once, racing_fire_ticks_fire_each_tick_once};
pub use enroll::racing_enrollments_take_each_use_once;
pub use fencing::racing_fenced_fire_ticks_only_the_leader_fires;
pub use leases::{racing_leader_lease_one_holder, racing_lease_expiry_and_late_finish};
pub use workflow::racing_advances_run_each_task_once;

use crate::*;
use chrono::{DateTime, Duration, Utc};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use tokio::sync::Barrier;

/// How often one call is retried after transient errors before the check fails.
const MAX_TRANSIENT_RETRIES: u32 = 2_000;

/// State shared by the racers of one check: a logical clock and the transient-retry count.
#[derive(Default)]
pub(crate) struct Shared {
    clock_ms: AtomicI64,
    retries: AtomicU64,
}

impl Shared {
    /// A new shared state whose clock starts at `super::at(0)`.
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared::default())
    }

    /// The next instant of the logical clock: 1 ms after the previous one, so every call
    /// of a check gets its own, increasing `now`.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.advance(1)
    }

    /// Moves the clock on by `ms` and returns the new instant.
    pub(crate) fn advance(&self, ms: i64) -> DateTime<Utc> {
        super::at(0) + Duration::milliseconds(self.clock_ms.fetch_add(ms, Ordering::SeqCst) + ms)
    }

    /// Runs `op` until it returns something other than a transient error. A transient error
    /// (busy, unavailable) means the call's transaction did not commit, so calling again is
    /// what a server does; every other error fails the check.
    pub(crate) async fn retrying<T, F, Fut>(&self, what: &str, op: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        match self.retrying_result(what, op).await {
            Ok(value) => value,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// As [`Shared::retrying`], but hands back the first error that is not transient, for
    /// calls whose refusals are part of the outcome (`NotLeader`).
    pub(crate) async fn retrying_result<T, F, Fut>(
        &self,
        what: &str,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        for _ in 0..MAX_TRANSIENT_RETRIES {
            match op().await {
                Err(e) if e.is_transient() => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                other => return other,
            }
        }
        panic!("{what}: still failing with transient errors after {MAX_TRANSIENT_RETRIES} tries")
    }

    /// Prints how many calls were retried after transient errors (shown by the test
    /// runner for a failing check, or with `--no-capture`).
    pub(crate) fn report(&self, check: &str) {
        let retries = self.retries.load(Ordering::Relaxed);
        println!("{check}: {retries} calls retried after transient errors");
    }
}

/// Runs `racer(i, handle_i)` for every handle at once (each on its own task, released
/// together by a barrier) and returns their results in handle order. A racer's panic fails
/// the check with its message.
pub(crate) async fn race<S, F, Fut, T>(stores: &[S], racer: F) -> Vec<T>
where
    S: Store + Clone,
    F: Fn(usize, S) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    assert!(
        stores.len() >= 3,
        "the concurrency suite needs at least 3 handles, got {}",
        stores.len()
    );
    let barrier = Arc::new(Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, store)| {
            let barrier = barrier.clone();
            let work = racer(i, store);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(value) => out.push(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("racer did not finish: {e}"),
        }
    }
    out
}

/// An observer that checks `invariant` on `store` over and over while racers run, until
/// [`Observer::stop`]; each sample reads one committed state.
pub(crate) fn observe<S, F, Fut>(store: S, invariant: F) -> Observer
where
    S: Store + Clone,
    F: Fn(S) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut samples = 0u64;
        while !flag.load(Ordering::SeqCst) {
            invariant(store.clone()).await;
            samples += 1;
            tokio::task::yield_now().await;
        }
        samples
    });
    Observer { stop, task }
}

/// A running [`observe`] task.
pub(crate) struct Observer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Observer {
    /// Stops the observer; how many samples it took. Its panic fails the check.
    pub(crate) async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        match self.task.await {
            Ok(samples) => samples,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("observer did not finish: {e}"),
        }
    }
}

/// Runs every check of the concurrency suite as a multi-thread `#[tokio::test]`. `$make`
/// is an expression of type `impl Future<Output = Vec<S>>`, `S: Store + Clone`, yielding
/// at least three handles on one fresh, empty database each time (see
/// [`conformance::concurrency`](crate::conformance::concurrency)).
#[macro_export]
macro_rules! store_concurrency_tests {
    ($make:expr) => {
        $crate::store_concurrency_tests!(@tests $make;
            racing_claims_hand_out_each_run_once,
            racing_fire_ticks_fire_each_tick_once,
            racing_admission_by_concurrency_policy,
            racing_workflow_admission_max_active_runs,
            racing_advances_run_each_task_once,
            racing_lease_expiry_and_late_finish,
            racing_leader_lease_one_holder,
            racing_fenced_fire_ticks_only_the_leader_fires,
            racing_enrollments_take_each_use_once,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let stores = $make.await;
                $crate::conformance::concurrency::$name(stores).await;
            }
        )*
    };
}
