//! A PostgreSQL restart in the middle of work: two `jobworks server` processes on a throw-away
//! PostgreSQL cluster of the test's own (never the shared one), work queued and running (1 s
//! jobs and a once-a-second cron job), then `pg_ctl restart -m fast`, which closes every
//! connection. Afterwards both servers recover by themselves (`/readyz` ready again within a
//! deadline), every acknowledged trigger has its run and it ends succeeded (an attempt cut by
//! the restart may be lost and retried), no `(job, tick)` fired twice, and the cron job fires
//! again. Skipped when no PostgreSQL binaries are under `/usr/lib/postgresql/*/bin`.

mod common;

use common::TestServer;
use common::pg_cluster::{
    PgCluster, leader_of, patient_client, start_server, try_readyz, try_trigger,
};
use std::time::{Duration, Instant};

const JOBS: &str = r#"
[[job]]
name = "tick"
schedule = "* * * * * *"
[job.task]
type = "shell"
script = "true"

[[job]]
name = "sleepy"
[job.retries]
max_attempts = 3
initial_delay = "100ms"
[job.task]
type = "shell"
script = "sleep 1"
"#;

/// Triggers `sleepy` through every live server, `per_server` times each; returns the
/// acknowledged run ids (an unacknowledged trigger is not counted).
async fn trigger_round(
    http: &reqwest::Client,
    servers: &[TestServer],
    per_server: usize,
) -> Vec<i64> {
    let mut ids = Vec::new();
    for server in servers {
        for _ in 0..per_server {
            if let Some(id) = try_trigger(http, server, "sleepy").await {
                ids.push(id);
            }
        }
    }
    ids
}

/// Number of `tick` runs scheduled after `after_us` (µs since the epoch), from the store.
async fn ticks_after(db: &sqlx::PgPool, after_us: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM runs r JOIN jobs j ON j.id = r.job_id \
         WHERE j.name = 'tick' AND r.scheduled_at_us > $1",
    )
    .bind(after_us)
    .fetch_one(db)
    .await
    .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_recover_from_a_postgres_restart_mid_run() {
    let Some(cluster) = PgCluster::start() else {
        eprintln!("no PostgreSQL under /usr/lib/postgresql/*/bin; skipping");
        return;
    };
    let database = cluster.create_database("jw_restart").await;
    let dirs: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let flags = ["--leader-lease", "3s"];
    let first = start_server(dirs[0].path(), None, &database, &flags);
    let second = start_server(dirs[1].path(), Some(dirs[0].path()), &database, &flags);
    let servers = vec![first, second];
    let http = patient_client();
    servers[0].apply("restart.toml", JOBS).await;

    // work queued and running before the restart
    let mut acknowledged = trigger_round(&http, &servers, 4).await;
    assert_eq!(acknowledged.len(), 8, "every trigger acknowledged before");
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database)
        .await
        .expect("connect to the test database");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running: i64 = sqlx::query_scalar("SELECT count(*) FROM runs WHERE state = 'running'")
            .fetch_one(&db)
            .await
            .expect("count running");
        if running > 0 && ticks_after(&db, 0).await >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "work running and ticks firing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.close().await;

    let restarted_at = Instant::now();
    cluster.restart();
    let restart_took = restarted_at.elapsed();
    let restarted_us = chrono::Utc::now().timestamp_micros();
    // triggers during recovery: only acknowledged ones count
    acknowledged.extend(trigger_round(&http, &servers, 2).await);

    // every server ready again by itself
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, server) in servers.iter().enumerate() {
        loop {
            if let Some(ready) = try_readyz(&http, server).await
                && ready["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server {i} not ready 60 s after the restart:\n{}",
                cluster.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let recovered = restarted_at.elapsed();
    println!(
        "PostgreSQL restart took {} ms; both servers ready {} ms after it began",
        restart_took.as_millis(),
        recovered.as_millis()
    );

    // work is acknowledged again, and one server leads
    let after = trigger_round(&http, &servers, 2).await;
    assert_eq!(after.len(), 4, "every trigger acknowledged after recovery");
    acknowledged.extend(after);
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database)
        .await
        .expect("reconnect to the test database");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ticks_after(&db, restarted_us + 1_000_000).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the cron job fires again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = servers[0]
        .request(reqwest::Method::POST, "/api/v1/jobs/tick/pause", None)
        .await;
    assert!(status.is_success(), "pause tick: {body}");

    // no (job, tick) fired twice
    let duplicates: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT job_id, scheduled_at_us FROM runs \
         WHERE scheduled_at_us IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d",
    )
    .fetch_one(&db)
    .await
    .expect("count duplicates");
    assert_eq!(duplicates, 0, "a (job, tick) fired twice");

    // every acknowledged trigger has its run, and it ends succeeded
    let mut lost_then_retried = 0;
    for id in &acknowledged {
        let detail = servers[1].wait_run(*id, Duration::from_secs(90)).await;
        assert_eq!(detail["run"]["state"], "succeeded", "run {id}: {detail}");
        let attempts = detail["attempts"].as_array().expect("attempts");
        if attempts.iter().any(|a| a["state"] == "lost") {
            lost_then_retried += 1;
        }
    }
    // and every run of any kind ends (the ticks too)
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM runs WHERE state IN ('queued', 'running')")
                .fetch_one(&db)
                .await
                .expect("count open runs");
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} runs never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM runs")
        .fetch_one(&db)
        .await
        .expect("count runs");
    let (leader, epoch) = leader_of(
        &http,
        &servers.into_iter().map(Some).collect::<Vec<_>>(),
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    println!(
        "{} acknowledged runs succeeded ({lost_then_retried} lost an attempt and were retried); \
         {total} runs in all, 0 duplicate ticks; server {leader} leads at epoch {epoch}",
        acknowledged.len()
    );
    db.close().await;
}
