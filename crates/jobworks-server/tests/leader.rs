//! A deposed leader stops firing ticks at once: another holder takes the leader lease in the
//! store (as a server whose clock is ahead would once this one's lease looked expired), the
//! next fenced `fire_ticks` is refused with `NotLeader`, `/readyz` shows the other holder,
//! no tick fires while it holds the lease, and once it releases it this server leads again
//! at a new epoch and ticks resume.

use axum::body::Body;
use axum::http::Request;
use chrono::{TimeDelta, Utc};
use jobworks_server::{Server, ServerConfig};
use jobworks_store::{RunFilter, Store};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

async fn readyz(state: &jobworks_server::api::AppState) -> Value {
    let response = jobworks_server::api::router(state.clone())
        .oneshot(
            Request::get("/readyz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("the router answers");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn tick_runs(store: &dyn Store) -> usize {
    store
        .list_runs(&RunFilter {
            job: Some("tick".into()),
            limit: 1000,
            ..RunFilter::default()
        })
        .await
        .expect("runs")
        .len()
}

/// Waits for `what` (deadline 20 s).
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_stops_firing_and_leads_again_later() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteStoreOptions::new(dir.path().join("leader.db")))
            .await
            .expect("open store"),
    );
    let mut config = ServerConfig::new(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.leader_lease = Duration::from_millis(900);
    let worker = config.worker_id.clone();
    let running = Server::new(config, store.clone())
        .start()
        .await
        .expect("start");
    let file = jobworks_protocol::SourceFile {
        name: "tick.toml".into(),
        content: "[[job]]\nname = \"tick\"\nschedule = \"* * * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n".into(),
    };
    jobworks_server::api::apply_files(&running.state, &[file], false)
        .await
        .expect("apply");
    let ready = readyz(&running.state).await;
    assert_eq!(ready["leader"]["holder"], worker.as_str(), "{ready}");
    assert_eq!(ready["leader"]["this_server"], true, "{ready}");
    assert_eq!(ready["leader"]["epoch"], 1, "{ready}");
    until("ticks fire", || async {
        tick_runs(store.as_ref()).await >= 2
    })
    .await;

    // another holder takes the lease, at an instant when this server's looks expired
    let ahead = Utc::now() + TimeDelta::seconds(5);
    let intruder = store
        .acquire_leadership("intruder", 60_000, ahead)
        .await
        .expect("take over");
    assert!(intruder.held_by("intruder", ahead));
    assert_eq!(intruder.epoch, 2);
    until("this server sees it is deposed", || async {
        let ready = readyz(&running.state).await;
        ready["leader"]["holder"] == "intruder" && ready["leader"]["this_server"] == false
    })
    .await;
    let ready = readyz(&running.state).await;
    assert_eq!(ready["ready"], true, "a follower is ready: {ready}");

    // no tick fires while the other holds the lease: the job's next tick stays due
    let fired = tick_runs(store.as_ref()).await;
    let due = store
        .get_job("tick")
        .await
        .expect("job")
        .next_fire_at
        .expect("scheduled");
    let overdue = due + TimeDelta::milliseconds(1500);
    until("the next tick is well overdue", || async {
        Utc::now() > overdue
    })
    .await;
    assert_eq!(
        tick_runs(store.as_ref()).await,
        fired,
        "a deposed leader fired"
    );
    assert_eq!(
        store.get_job("tick").await.expect("job").next_fire_at,
        Some(due),
        "nobody moved the schedule"
    );

    // the other gives it up: this server leads again, at a new epoch, and ticks resume
    store
        .release_leadership("intruder", 2, Utc::now())
        .await
        .expect("release");
    until("this server leads again", || async {
        readyz(&running.state).await["leader"]["this_server"] == true
    })
    .await;
    assert_eq!(readyz(&running.state).await["leader"]["epoch"], 3);
    until("ticks resume", || async {
        tick_runs(store.as_ref()).await > fired
    })
    .await;
    assert!(running.shutdown().await, "stopped within the grace");
    let lease = store.leadership().await.expect("lease").expect("stored");
    assert!(
        !lease.held_by(&worker, Utc::now()),
        "a clean stop gives the lease up: {lease:?}"
    );
}
