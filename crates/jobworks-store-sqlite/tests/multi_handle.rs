//! Several `SqliteStore` handles on one database file (as several server processes would
//! open it): every write transaction begins `IMMEDIATE`, so check-then-act methods serialize
//! against each other and wait on `busy_timeout` instead of failing with `Busy`.

use jobworks_domain::{ConcurrencyPolicy, RunId, TriggerKind};
use jobworks_store::conformance::{at, sample_spec};
use jobworks_store::{EnqueueOutcome, NewRun, Store};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

/// Handles opened on one fresh file.
const HANDLES: usize = 3;

async fn handles(dir: &tempfile::TempDir) -> Vec<SqliteStore> {
    let path = dir.path().join("jobworks.db");
    let mut out = Vec::new();
    for _ in 0..HANDLES {
        let store = SqliteStore::open(SqliteStoreOptions::new(&path))
            .await
            .expect("open sqlite store");
        out.push(store);
    }
    out
}

fn manual(job: &jobworks_store::ApplyOutcome, by: String) -> NewRun {
    NewRun::new(
        job.job_id,
        job.version,
        TriggerKind::Manual,
        serde_json::json!({}),
        by,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forbid_admits_exactly_one_run_across_handles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = handles(&dir).await;
    let mut spec = sample_spec("forbid-across");
    spec.concurrency = ConcurrencyPolicy::Forbid;
    let job = stores[0]
        .apply_job(&spec, None, at(0))
        .await
        .expect("apply");

    const PER_HANDLE: usize = 10;
    let barrier = Arc::new(Barrier::new(HANDLES));
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().cloned().enumerate() {
        let barrier = barrier.clone();
        let job = job.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut outcomes = Vec::new();
            for n in 0..PER_HANDLE {
                let run = manual(&job, format!("handle {i} try {n}"));
                let mut out = store
                    .enqueue_runs(vec![run], at(1))
                    .await
                    .expect("enqueue under contention");
                outcomes.append(&mut out);
            }
            outcomes
        }));
    }
    let mut queued = Vec::new();
    let mut skipped = 0;
    for task in tasks {
        for outcome in task.await.expect("task") {
            match outcome {
                EnqueueOutcome::Queued { run_id, replaced } => {
                    assert!(replaced.is_empty(), "forbid replaces nothing");
                    queued.push(run_id);
                }
                EnqueueOutcome::Skipped { reason, .. } => {
                    assert!(reason.contains("forbid"), "{reason}");
                    skipped += 1;
                }
                EnqueueOutcome::Duplicate => panic!("manual runs are never duplicates"),
            }
        }
    }
    assert_eq!(queued.len(), 1, "exactly one run admitted: {queued:?}");
    assert_eq!(skipped, HANDLES * PER_HANDLE - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_across_handles_take_each_run_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = handles(&dir).await;
    let job = stores[0]
        .apply_job(&sample_spec("claim-across"), None, at(0))
        .await
        .expect("apply");
    const RUNS: usize = 200;
    let runs = (0..RUNS)
        .map(|n| manual(&job, format!("run {n}")))
        .collect();
    let enqueued = stores[0].enqueue_runs(runs, at(1)).await.expect("enqueue");
    assert_eq!(enqueued.len(), RUNS);

    let barrier = Arc::new(Barrier::new(HANDLES));
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().cloned().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let worker = format!("worker-{i}");
            let mut claimed: Vec<RunId> = Vec::new();
            loop {
                let batch = store
                    .claim(
                        &worker,
                        &jobworks_store::ClaimScope::Pool,
                        7,
                        60_000,
                        at(2),
                        at(2),
                    )
                    .await
                    .expect("claim under contention");
                if batch.is_empty() {
                    return claimed;
                }
                claimed.extend(batch.iter().map(|c| c.run_id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let distinct: HashSet<RunId> = all.iter().copied().collect();
    assert_eq!(all.len(), RUNS, "every run claimed exactly once in total");
    assert_eq!(distinct.len(), RUNS, "no run claimed twice");
}
