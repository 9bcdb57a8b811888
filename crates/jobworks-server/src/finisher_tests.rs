//! Finisher tests on a real SQLite store.

use super::*;
use jobworks_domain::{AttemptState, RunState, TriggerKind};
use jobworks_store::conformance::sample_spec;
use jobworks_store::{Claim, NewRun};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};

#[test]
fn refusals_are_decided_by_kind_and_batch_size() {
    let busy = || StoreError::Busy("database is locked".into());
    let unavailable = || StoreError::Unavailable("disk I/O error".into());
    let constraint = || StoreError::Constraint("FOREIGN KEY constraint failed".into());
    let corrupt = || StoreError::Corrupt("runs.state: unknown value `x`".into());
    let table = [
        (busy(), 1, Refused::Retry),
        (busy(), 10, Refused::Retry),
        (unavailable(), 10, Refused::Retry),
        (constraint(), 10, Refused::OneByOne),
        (constraint(), 1, Refused::SetAside),
        (corrupt(), 2, Refused::OneByOne),
        (corrupt(), 1, Refused::SetAside),
        (
            StoreError::Database("no such table".into()),
            1,
            Refused::SetAside,
        ),
    ];
    for (error, batch, want) in table {
        assert_eq!(
            after_refusal(&error, batch),
            want,
            "{error} in a batch of {batch}"
        );
    }
}

fn succeeded(claim: &Claim, worker: &str) -> AttemptFinish {
    let now = Utc::now();
    AttemptFinish {
        attempt_id: claim.attempt_id,
        worker: worker.into(),
        state: AttemptState::Succeeded,
        pid: Some(42),
        started_at: Some(now),
        ended_at: now,
        exit_code: Some(0),
        signal: None,
        user_cpu_ms: Some(1),
        system_cpu_ms: Some(1),
        max_rss_bytes: Some(1024),
        bytes_dropped: 0,
        error: None,
        outputs: serde_json::json!({}),
        retry_at: None,
    }
}

/// One outcome the database refuses for good (a trigger raises a constraint error for its
/// attempt) is set aside; the outcomes sent with it and after it are recorded.
#[tokio::test]
async fn an_outcome_refused_for_good_does_not_hold_back_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobworks.db");
    let store = Arc::new(
        SqliteStore::open(SqliteStoreOptions::new(&path))
            .await
            .expect("open"),
    );
    let now = Utc::now();
    let job = store
        .apply_job(&sample_spec("j"), None, now)
        .await
        .expect("apply");
    let runs = (0..4)
        .map(|_| {
            NewRun::new(
                job.job_id,
                job.version,
                TriggerKind::Manual,
                serde_json::json!({}),
                "test",
            )
        })
        .collect();
    store.enqueue_runs(runs, now).await.expect("enqueue");
    let claims = store
        .claim("w", &jobworks_store::ClaimScope::Pool, 4, 600_000, now, now)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 4);
    // a real refusal: the database aborts any update of the first attempt
    let lowest = claims.iter().map(|c| c.attempt_id).min();
    assert_eq!(
        lowest,
        Some(claims[0].attempt_id),
        "the trigger refuses the first"
    );
    {
        use sqlx::Connection as _;
        let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("raw connection");
        sqlx::query(
            "CREATE TRIGGER refuse_one BEFORE UPDATE ON attempts \
             WHEN NEW.id = (SELECT MIN(id) FROM attempts) \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(&mut raw)
        .await
        .expect("trigger");
        raw.close().await.expect("close");
    }

    let (tx, rx) = mpsc::channel(16);
    // the first three arrive together (one batch); the last one after them
    for claim in &claims[..3] {
        tx.send(Record::Finished {
            finish: Box::new(succeeded(claim, "w")),
            job: "j".into(),
            workflow: false,
        })
        .await
        .expect("send");
    }
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let (advance, _advance_rx) = crate::workflow::AdvanceSender::channel();
    let (handoff, _handoff_rx) = mpsc::unbounded_channel();
    let finisher = tokio::spawn(run_finisher(
        store.clone(),
        rx,
        metrics.clone(),
        Arc::new(Notify::new()),
        advance,
        LocalWork {
            worker: "w".into(),
            lease_ms: 600_000,
            permits: Arc::new(tokio::sync::Semaphore::new(4)),
            handoff,
            datasources: Default::default(),
            stopping: CancellationToken::new(),
            clock: crate::clock::Clock::system(),
            followers: crate::follow::LogHub::new(),
        },
        shutdown.clone(),
    ));
    tx.send(Record::Finished {
        finish: Box::new(succeeded(&claims[3], "w")),
        job: "j".into(),
        workflow: false,
    })
    .await
    .expect("send");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut states = Vec::new();
        for claim in &claims[1..] {
            states.push(store.get_run(claim.run_id).await.expect("run").run.state);
        }
        if states.iter().all(|s| *s == RunState::Succeeded) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outcomes behind the refused one were not recorded: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = store.get_run(claims[0].run_id).await.expect("run");
    assert_eq!(
        first.run.state,
        RunState::Running,
        "the refused outcome is set aside"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !metrics
        .render()
        .contains("jobworks_outcomes_set_aside_total 1")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(tx);
    shutdown.cancel();
    finisher.await.expect("finisher stops");
}
