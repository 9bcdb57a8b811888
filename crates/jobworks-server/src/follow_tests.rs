//! Follower tests on a real SQLite store.

use super::*;
use axum::response::IntoResponse as _;
use axum::response::sse::Sse;
use chrono::Utc;
use jobworks_domain::{AttemptState, TriggerKind};
use jobworks_store::conformance::sample_spec;
use jobworks_store::{AttemptFinish, Claim, LogStream, NewRun};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};

/// A store with one job run claimed by worker `w`.
async fn one_run(dir: &std::path::Path) -> (Arc<SqliteStore>, Claim) {
    let store = SqliteStore::open(SqliteStoreOptions::new(dir.join("jobworks.db")))
        .await
        .expect("open");
    let now = Utc::now();
    let job = store
        .apply_job(&sample_spec("j"), None, now)
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
    let claim = store
        .claim("w", &jobworks_store::ClaimScope::Pool, 1, 600_000, now, now)
        .await
        .expect("claim")
        .remove(0);
    (Arc::new(store), claim)
}

/// The whole SSE body of a follower, as the route sends it.
async fn body(events: mpsc::Receiver<Event>) -> String {
    let stream = futures_util::stream::unfold(events, |mut events| async move {
        events
            .recv()
            .await
            .map(|event| (Ok::<_, std::convert::Infallible>(event), events))
    });
    let response = Sse::new(stream).into_response();
    let bytes = tokio::time::timeout(
        Duration::from_secs(60),
        axum::body::to_bytes(response.into_body(), usize::MAX),
    )
    .await
    .expect("the stream ended")
    .expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

fn line(claim: &Claim, text: String) -> NewLogLine {
    NewLogLine {
        attempt_id: claim.attempt_id,
        run_id: claim.run_id,
        at: Utc::now(),
        stream: LogStream::Stdout,
        text,
    }
}

#[tokio::test]
async fn a_store_failure_is_an_error_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, claim) = one_run(dir.path()).await;
    {
        use sqlx::Connection as _;
        let path = dir.path().join("jobworks.db");
        let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("raw connection");
        sqlx::query("DROP TABLE log_lines")
            .execute(&mut raw)
            .await
            .expect("drop");
        raw.close().await.expect("close");
    }
    let hub = LogHub::new();
    let text = body(follow(store, &hub, claim.run_id, 0)).await;
    assert!(text.contains("event: error\n"), "{text}");
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .expect("data");
    let error: StreamError = serde_json::from_str(data).expect("StreamError");
    assert_eq!(error.error, "store");
    assert!(error.detail.contains("log_lines"), "{error:?}");
    assert!(!error.retryable);
}

/// A follower whose client reads nothing while thousands of batches are published lags
/// behind the channel; it catches up from the store and sends every line once, in order.
#[tokio::test]
async fn a_lagging_follower_sends_every_line_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, claim) = one_run(dir.path()).await;
    let hub = LogHub::new();
    let events = follow(store.clone(), &hub, claim.run_id, 0);
    const LINES: usize = 3 * CHANNEL;
    for i in 0..LINES {
        let new = vec![line(&claim, format!("line {i}"))];
        let seqs = store.append_logs(new.clone()).await.expect("append");
        hub.lines(seqs.into_iter().zip(new).collect());
    }
    let now = Utc::now();
    let finish = AttemptFinish {
        attempt_id: claim.attempt_id,
        worker: "w".into(),
        state: AttemptState::Succeeded,
        pid: Some(1),
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
    };
    store.finish_attempts(vec![finish]).await.expect("finish");
    hub.changed(vec![claim.run_id]);
    let text = body(events).await;
    let texts: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<jobworks_protocol::LogLineView>(d).ok())
        .map(|l| l.text)
        .collect();
    let want: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    assert!(
        texts == want,
        "{} lines, first differences: {:?}",
        texts.len(),
        texts.iter().zip(&want).find(|(a, b)| a != b)
    );
    assert!(text.contains("event: end\n"), "no end event");
}
