//! Claim-and-finish throughput of trivial runs through `PostgresStore`, with 1 and 3 handles,
//! beside a bare `SELECT … FOR UPDATE SKIP LOCKED` claim-and-complete loop on a plain table in
//! the same database: the ratio is what the store's bookkeeping (attempts, events, task
//! instances, NOTIFY) costs over the least a PostgreSQL queue can do.
//!
//! `cargo bench -p jobworks-store-postgres --bench claim` (a plain binary, no harness), with
//! `JOBWORKS_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! `BENCH_RUNS` (default 3000) and `BENCH_BATCH` (claim size, default 10) tune it. Each
//! measurement uses its own schema, dropped at the end.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jobworks_domain::{AttemptState, TriggerKind};
use jobworks_store::conformance::sample_spec;
use jobworks_store::{AttemptFinish, NewRun, Store};
use jobworks_store_postgres::{PostgresStore, PostgresStoreOptions};
use std::time::Instant;

fn url() -> String {
    std::env::var("JOBWORKS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

async fn drop_schema(pool: &sqlx::PgPool, schema: &str) {
    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await {
        eprintln!("could not drop schema {schema}: {e}");
    }
}

/// Runs per second through the store with `handles` handles claiming `batch` at a time.
async fn through_store(runs: usize, batch: u32, handles: usize) -> f64 {
    let schema = format!("jwb_store_{}_{handles}", std::process::id());
    let mut stores = Vec::new();
    for _ in 0..handles {
        let mut options = PostgresStoreOptions::new(url());
        options.schema = Some(schema.clone());
        options.max_connections = 4;
        stores.push(PostgresStore::connect(options).await.expect("connect"));
    }
    let job = stores[0]
        .apply_job(&sample_spec("bench"), None, t0())
        .await
        .expect("apply");
    for chunk in (0..runs).collect::<Vec<_>>().chunks(500) {
        let new: Vec<NewRun> = chunk
            .iter()
            .map(|_| {
                NewRun::new(
                    job.job_id,
                    job.version,
                    TriggerKind::Manual,
                    serde_json::json!({}),
                    "bench",
                )
            })
            .collect();
        stores[0].enqueue_runs(new, t0()).await.expect("enqueue");
    }
    let start = Instant::now();
    let workers: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                let worker = format!("bench-{i}");
                let now = t0() + Duration::seconds(1);
                let mut done = 0usize;
                loop {
                    let claims = store
                        .claim(
                            &worker,
                            &jobworks_store::ClaimScope::Pool,
                            batch,
                            60_000,
                            now,
                            now,
                        )
                        .await
                        .expect("claim");
                    if claims.is_empty() {
                        return done;
                    }
                    let finishes: Vec<AttemptFinish> = claims
                        .iter()
                        .map(|c| AttemptFinish {
                            attempt_id: c.attempt_id,
                            worker: worker.clone(),
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
                        })
                        .collect();
                    done += finishes.len();
                    store.finish_attempts(finishes).await.expect("finish");
                }
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("join");
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(total, runs, "every run claimed and finished once");
    drop_schema(stores[0].pool(), &schema).await;
    runs as f64 / elapsed
}

/// Rows per second through a bare SKIP LOCKED queue table: claim `batch` (one statement,
/// one commit), complete them (one statement, one commit), the same two commits per batch
/// as the store's claim and finish.
async fn bare_sql(runs: usize, batch: i64, handles: usize) -> f64 {
    let schema = format!("jwb_bare_{}_{handles}", std::process::id());
    let admin = sqlx::PgPool::connect(&url()).await.expect("connect");
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&admin)
        .await
        .expect("schema");
    let options: sqlx::postgres::PgConnectOptions = url().parse().expect("url");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(handles as u32 + 1)
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .expect("pool");
    sqlx::query(
        "CREATE TABLE queue (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         state TEXT NOT NULL, worker TEXT)",
    )
    .execute(&pool)
    .await
    .expect("table");
    sqlx::query("CREATE INDEX queue_ready ON queue (id) WHERE state = 'queued'")
        .execute(&pool)
        .await
        .expect("index");
    sqlx::query("INSERT INTO queue (state) SELECT 'queued' FROM generate_series(1, $1)")
        .bind(runs as i64)
        .execute(&pool)
        .await
        .expect("fill");
    let start = Instant::now();
    let workers: Vec<_> = (0..handles)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let worker = format!("bare-{i}");
                let mut done = 0usize;
                loop {
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "WITH c AS (SELECT id FROM queue WHERE state = 'queued' ORDER BY id \
                         LIMIT $1 FOR UPDATE SKIP LOCKED) \
                         UPDATE queue q SET state = 'running', worker = $2 FROM c \
                         WHERE q.id = c.id RETURNING q.id",
                    )
                    .bind(batch)
                    .bind(&worker)
                    .fetch_all(&pool)
                    .await
                    .expect("claim");
                    if ids.is_empty() {
                        return done;
                    }
                    done += ids.len();
                    sqlx::query("UPDATE queue SET state = 'done' WHERE id = ANY($1)")
                        .bind(&ids)
                        .execute(&pool)
                        .await
                        .expect("complete");
                }
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("join");
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(total, runs, "every row claimed once");
    pool.close().await;
    drop_schema(&admin, &schema).await;
    runs as f64 / elapsed
}

#[tokio::main]
async fn main() {
    let runs = env_usize("BENCH_RUNS", 3000);
    let batch = env_usize("BENCH_BATCH", 10);
    println!("claim+finish of {runs} trivial runs, {batch} per claim");
    for handles in [1, 3] {
        let bare = bare_sql(runs, batch as i64, handles).await;
        let store = through_store(runs, batch as u32, handles).await;
        println!(
            "{handles} handle(s): store {store:8.0} runs/s, bare SKIP LOCKED {bare:8.0} rows/s, \
             store/bare = {:.2}",
            store / bare
        );
    }
}
