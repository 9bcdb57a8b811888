//! SQLite-only retention behaviour: `VACUUM` gives back the space of purged runs.

use jobworks_domain::{AttemptState, RunId, TriggerKind};
use jobworks_store::conformance::{at, sample_spec};
use jobworks_store::{AttemptFinish, LogStream, NewLogLine, NewRun, Store};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};

#[tokio::test]
async fn vacuum_reclaims_the_space_of_purged_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteStoreOptions::new(dir.path().join("j.db")))
        .await
        .expect("open");
    let job = store
        .apply_job(&sample_spec("noisy"), None, at(0))
        .await
        .expect("apply");
    let runs = 500;
    let new: Vec<NewRun> = (0..runs)
        .map(|_| {
            NewRun::new(
                job.job_id,
                job.version,
                TriggerKind::Manual,
                serde_json::json!({}),
                "t",
            )
        })
        .collect();
    store.enqueue_runs(new, at(0)).await.expect("enqueue");
    let claims = store
        .claim(
            "w",
            &jobworks_store::ClaimScope::Pool,
            runs,
            60_000,
            at(1),
            at(1),
        )
        .await
        .expect("claim");
    let lines: Vec<NewLogLine> = claims
        .iter()
        .flat_map(|c| {
            (0..40).map(|i| NewLogLine {
                attempt_id: c.attempt_id,
                run_id: c.run_id,
                at: at(2),
                stream: LogStream::Stdout,
                text: format!("{i:04} {}", "x".repeat(200)),
            })
        })
        .collect();
    store.append_logs(lines).await.expect("logs");
    let finishes = claims
        .iter()
        .map(|c| AttemptFinish {
            attempt_id: c.attempt_id,
            worker: "w".into(),
            state: AttemptState::Succeeded,
            pid: None,
            started_at: Some(at(1)),
            ended_at: at(3),
            exit_code: Some(0),
            signal: None,
            user_cpu_ms: None,
            system_cpu_ms: None,
            max_rss_bytes: None,
            bytes_dropped: 0,
            error: None,
            outputs: serde_json::json!({}),
            retry_at: None,
        })
        .collect();
    store.finish_attempts(finishes).await.expect("finish");
    let mut after = RunId(0);
    let mut deleted = 0;
    while let Some(last) = {
        let batch = store.purge_runs(at(10), after, 100).await.expect("purge");
        deleted += batch.runs_deleted;
        batch.last_examined
    } {
        after = last;
    }
    assert_eq!(deleted, u64::from(runs));
    let report = store.vacuum().await.expect("vacuum");
    assert!(
        report.bytes_after * 4 < report.bytes_before,
        "VACUUM gives the space back: {report:?}"
    );
    eprintln!("{runs} runs × 40 lines: {report:?}");
}
