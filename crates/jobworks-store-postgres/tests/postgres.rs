//! PostgreSQL-only behaviour the conformance suite cannot show: several handles (servers) on
//! one schema migrating, notifying, claiming and admitting at once.

mod common;

use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptState, ConcurrencyPolicy, JobId, RunId, TriggerKind};
use jobworks_store::conformance::{at, sample_spec};
use jobworks_store::{AttemptFinish, Claim, EnqueueOutcome, NewRun, Store, StoreError, StoreEvent};
use jobworks_store_postgres::PostgresStore;
use sqlx::Connection;
use std::collections::HashSet;
use std::time::Duration;

/// `n` handles on one new schema.
async fn handles(n: usize) -> Vec<PostgresStore> {
    common::drop_stale().await;
    let schema = common::unique_schema();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            PostgresStore::connect(common::options(&schema))
                .await
                .unwrap_or_else(|e| panic!("connect to PostgreSQL at {}: {e}", common::url())),
        );
    }
    out
}

fn manual(job: JobId, version: i64) -> NewRun {
    NewRun::new(
        job,
        version,
        TriggerKind::Manual,
        serde_json::json!({}),
        "test",
    )
}

fn done(claim: &Claim, worker: &str, now: DateTime<Utc>) -> AttemptFinish {
    AttemptFinish {
        attempt_id: claim.attempt_id,
        worker: worker.into(),
        state: AttemptState::Succeeded,
        pid: None,
        started_at: Some(now),
        ended_at: now,
        exit_code: Some(0),
        signal: None,
        user_cpu_ms: None,
        system_cpu_ms: None,
        max_rss_bytes: None,
        bytes_dropped: 0,
        error: None,
        outputs: serde_json::json!({}),
        retry_at: None,
    }
}

#[tokio::test]
async fn concurrent_connects_migrate_once() {
    common::drop_stale().await;
    let schema = common::unique_schema();
    let connects: Vec<_> = (0..3)
        .map(|_| {
            let options = common::options(&schema);
            tokio::spawn(async move { PostgresStore::connect(options).await })
        })
        .collect();
    let mut stores = Vec::new();
    for connect in connects {
        stores.push(
            connect
                .await
                .expect("join")
                .expect("every concurrent connect succeeds"),
        );
    }
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(stores[0].pool())
        .await
        .expect("count migrations");
    let known = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .count() as i64;
    assert_eq!(applied, known, "each migration applied exactly once");
    let ids: HashSet<String> = futures_ids(&stores).await;
    assert_eq!(
        ids.len(),
        1,
        "one installation id for one database: {ids:?}"
    );
    assert_eq!(ids.iter().next().map(|id| id.len()), Some(16));
}

async fn futures_ids(stores: &[PostgresStore]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for store in stores {
        ids.insert(store.installation_id().await.expect("installation id"));
    }
    ids
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_the_version_it_needs() {
    common::drop_stale().await;
    let schema = common::unique_schema();
    let store = PostgresStore::connect(common::options(&schema))
        .await
        .expect("connect");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29991231000000, 'from the future', TRUE, '\\x00'::bytea, 1)",
    )
    .execute(store.pool())
    .await
    .expect("fake a newer migration");
    let refused = PostgresStore::connect(common::options(&schema))
        .await
        .expect_err("a build that does not know migration 29991231000000 must refuse");
    let text = refused.to_string();
    assert!(
        text.contains("29991231000000") && text.contains("newer"),
        "error names the version: {text}"
    );
    assert!(!refused.is_transient(), "{refused:?}");
}

#[tokio::test]
async fn bad_schema_names_and_unreachable_servers_are_clear_errors() {
    let mut options = common::options("x");
    options.schema = Some("bad name; DROP".into());
    let err = PostgresStore::connect(options).await.expect_err("refused");
    assert!(err.to_string().contains("bad schema name"), "{err}");
    let mut options = common::options(&common::unique_schema());
    options.url = "postgres://postgres@127.0.0.1:1/test".into();
    let err = PostgresStore::connect(options).await.expect_err("refused");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Waits (at most 10 s) for an event matching `wanted` on `rx`.
async fn expect_event(
    rx: &mut tokio::sync::broadcast::Receiver<StoreEvent>,
    what: &str,
    wanted: impl Fn(&StoreEvent) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(event)) if wanted(&event) => return,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event channel closed waiting for {what}: {e}"),
            Err(_) => panic!("no {what} event within 10 s"),
        }
    }
}

#[tokio::test]
async fn notify_reaches_another_handle_after_commit() {
    let stores = handles(2).await;
    let (writer, reader) = (&stores[0], &stores[1]);
    let mut rx = reader
        .subscribe()
        .expect("PostgreSQL stores publish events");
    let job = writer
        .apply_job(&sample_spec("notified"), None, at(0))
        .await
        .expect("apply");
    expect_event(&mut rx, "DefinitionsChanged", |e| {
        *e == StoreEvent::DefinitionsChanged
    })
    .await;
    let outcome = writer
        .enqueue_runs(vec![manual(job.job_id, job.version)], at(1))
        .await
        .expect("enqueue");
    let EnqueueOutcome::Queued { run_id, .. } = outcome[0].clone() else {
        panic!("queued: {outcome:?}");
    };
    expect_event(&mut rx, "RunsQueued", |e| *e == StoreEvent::RunsQueued).await;
    // each delivered event's delay was measured (the NOTIFY lag behind `/metrics`)
    let lags = reader.drain_event_lags();
    assert!(!lags.is_empty(), "delivered events have their lag recorded");
    assert!(lags.iter().all(|s| (0.0..10.0).contains(s)), "{lags:?}");
    let claims = writer
        .claim(
            "w1",
            &jobworks_store::ClaimScope::Pool,
            1,
            60_000,
            at(2),
            at(2),
        )
        .await
        .expect("claim");
    expect_event(&mut rx, "RunChanged", |e| {
        *e == StoreEvent::RunChanged { run_id }
    })
    .await;
    writer
        .append_logs(vec![jobworks_store::NewLogLine {
            run_id,
            attempt_id: claims[0].attempt_id,
            at: at(3),
            stream: jobworks_store::LogStream::Stdout,
            text: "hello".into(),
        }])
        .await
        .expect("append");
    expect_event(
        &mut rx,
        "LogsAppended",
        |e| matches!(e, StoreEvent::LogsAppended { run_id: r, .. } if *r == run_id),
    )
    .await;
    writer
        .request_cancel(run_id, "test", at(4))
        .await
        .expect("cancel");
    expect_event(&mut rx, "CancelRequested", |e| {
        *e == StoreEvent::CancelRequested { run_id }
    })
    .await;
}

#[tokio::test]
async fn three_handles_claim_each_of_300_runs_exactly_once() {
    let stores = handles(3).await;
    let job = stores[0]
        .apply_job(&sample_spec("bulk"), None, at(0))
        .await
        .expect("apply");
    let runs: Vec<NewRun> = (0..300).map(|_| manual(job.job_id, job.version)).collect();
    stores[0].enqueue_runs(runs, at(1)).await.expect("enqueue");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
    let workers: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let worker = format!("w{i}");
                let mut mine: Vec<RunId> = Vec::new();
                barrier.wait().await;
                loop {
                    let claims = store
                        .claim(
                            &worker,
                            &jobworks_store::ClaimScope::Pool,
                            7,
                            60_000,
                            at(2),
                            at(2),
                        )
                        .await
                        .expect("claim");
                    if claims.is_empty() {
                        return mine;
                    }
                    mine.extend(claims.iter().map(|c| c.run_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("join"));
    }
    let distinct: HashSet<RunId> = all.iter().copied().collect();
    assert_eq!(all.len(), 300, "300 claims in all");
    assert_eq!(distinct.len(), 300, "no run claimed twice");
    let counts = stores[1].run_counts(at(3)).await.expect("counts");
    assert_eq!(counts.ready, 0);
}

#[tokio::test]
async fn a_serial_job_never_runs_twice_at_once_across_handles() {
    let stores = handles(3).await;
    let mut spec = sample_spec("serial");
    spec.concurrency = ConcurrencyPolicy::Queue;
    let job = stores[0]
        .apply_job(&spec, None, at(0))
        .await
        .expect("apply");
    let runs: Vec<NewRun> = (0..6).map(|_| manual(job.job_id, job.version)).collect();
    stores[0].enqueue_runs(runs, at(1)).await.expect("enqueue");
    for round in 0..6 {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
        let claimers: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let store = store.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let worker = format!("w{i}");
                    let claims = store
                        .claim(
                            &worker,
                            &jobworks_store::ClaimScope::Pool,
                            5,
                            60_000,
                            at(2),
                            at(2),
                        )
                        .await
                        .expect("claim");
                    (worker, claims)
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for claimer in claimers {
            let (worker, claims) = claimer.await.expect("join");
            claimed.extend(claims.into_iter().map(|c| (worker.clone(), c)));
        }
        assert_eq!(
            claimed.len(),
            1,
            "round {round}: exactly one run of the serial job"
        );
        let (worker, claim) = &claimed[0];
        let finished = stores[0]
            .finish_attempts(vec![done(claim, worker, at(3))])
            .await
            .expect("finish");
        assert!(finished[0].is_ok(), "{finished:?}");
    }
}

#[tokio::test]
async fn forbid_admits_one_run_when_handles_enqueue_at_once() {
    let stores = handles(3).await;
    let mut spec = sample_spec("forbidden");
    spec.concurrency = ConcurrencyPolicy::Forbid;
    let job = stores[0]
        .apply_job(&spec, None, at(0))
        .await
        .expect("apply");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
    let enqueuers: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .enqueue_runs(vec![manual(job.job_id, job.version)], at(1))
                    .await
                    .expect("enqueue")
            })
        })
        .collect();
    let mut queued = 0;
    let mut skipped = 0;
    for enqueuer in enqueuers {
        for outcome in enqueuer.await.expect("join") {
            match outcome {
                EnqueueOutcome::Queued { .. } => queued += 1,
                EnqueueOutcome::Skipped { .. } => skipped += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!((queued, skipped), (1, 2), "forbid: one active run at most");
}

/// A store on a new schema whose connections carry a unique `application_name`, so the test
/// can find its own backends in `pg_stat_activity` (the server is shared).
async fn named_store() -> (PostgresStore, String) {
    common::drop_stale().await;
    let schema = common::unique_schema();
    let mut options = common::options(&schema);
    let separator = if options.url.contains('?') { '&' } else { '?' };
    options.url = format!("{}{separator}application_name={schema}", options.url);
    let store = PostgresStore::connect(options).await.expect("connect");
    (store, schema)
}

/// Waits (at most 10 s) until `count` of this test's backends matching `filter` is `want`.
async fn wait_backends(pool: &sqlx::PgPool, name: &str, listening_only: bool, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND (NOT $2 OR query ILIKE 'LISTEN%')",
        )
        .bind(name)
        .bind(listening_only)
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity");
        if n == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} backends of {name}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_listener_reconnects_and_says_resync() {
    let (store, name) = named_store().await;
    let admin = sqlx::PgPool::connect(&common::url())
        .await
        .expect("admin pool");
    let mut rx = store.subscribe().expect("events");
    wait_backends(&admin, &name, true, 1).await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(&name)
    .fetch_one(&admin)
    .await
    .expect("terminate the listener's backend");
    assert_eq!(killed, 1);
    expect_event(&mut rx, "Resync", |e| *e == StoreEvent::Resync).await;
    // and events flow again after the reconnect
    store
        .apply_job(&sample_spec("after-resync"), None, at(0))
        .await
        .expect("apply");
    expect_event(&mut rx, "DefinitionsChanged", |e| {
        *e == StoreEvent::DefinitionsChanged
    })
    .await;
}

#[tokio::test]
async fn the_listener_ends_with_the_last_store_clone() {
    let (store, name) = named_store().await;
    let admin = sqlx::PgPool::connect(&common::url())
        .await
        .expect("admin pool");
    let clone = store.clone();
    wait_backends(&admin, &name, true, 1).await;
    drop(store);
    // a clone still holds the listener
    clone.installation_id().await.expect("the clone works");
    wait_backends(&admin, &name, true, 1).await;
    drop(clone);
    wait_backends(&admin, &name, false, 0).await;
}

#[tokio::test]
async fn a_column_of_the_wrong_type_is_corrupt_not_a_panic() {
    let store = common::fresh().await;
    store
        .apply_job(&sample_spec("edited"), None, at(0))
        .await
        .expect("apply");
    // a manual edit of the database changes a column's type
    sqlx::query("ALTER TABLE jobs ALTER COLUMN updated_at_us TYPE TEXT")
        .execute(store.pool())
        .await
        .expect("alter");
    let err = store.list_jobs().await.expect_err("undecodable row");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

/// A lock held by another session far longer than any store method holds one (a stuck
/// transaction) makes a store write fail with `Busy` after `lock_timeout` and a few retries,
/// instead of hanging; once the lock is gone the same write succeeds.
#[tokio::test]
async fn a_stuck_lock_is_a_busy_error_not_a_hang() {
    let schema = common::unique_schema();
    let mut options = common::options(&schema);
    options.lock_timeout = Duration::from_millis(200);
    let store = PostgresStore::connect(options).await.expect("connect");
    let job = store
        .apply_job(&sample_spec("locked"), None, at(0))
        .await
        .expect("apply");
    let mut other = sqlx::postgres::PgConnection::connect(&common::url())
        .await
        .expect("second session");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET search_path TO \"{schema}\""
    )))
    .execute(&mut other)
    .await
    .expect("search path");
    sqlx::query("BEGIN")
        .execute(&mut other)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut other)
        .await
        .expect("lock");
    let started = std::time::Instant::now();
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        store.enqueue_runs(vec![manual(job.job_id, job.version)], at(1)),
    )
    .await
    .expect("the write gives up instead of hanging");
    assert!(matches!(refused, Err(StoreError::Busy(_))), "{refused:?}");
    assert!(refused.expect_err("busy").is_transient());
    eprintln!("gave up after {:?}", started.elapsed());
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("rollback");
    let queued = store
        .enqueue_runs(vec![manual(job.job_id, job.version)], at(1))
        .await
        .expect("enqueue once the lock is gone");
    assert_eq!(queued.len(), 1);
}
