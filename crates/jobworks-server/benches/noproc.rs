//! Benchmark (not a test): queue throughput of runs that start no process, a `sql` task
//! `SELECT 1` on the built-in `jobworks` datasource, through the durable queue (enqueued
//! first, then drained; every claim and finish committed). Issue 8 aims at ≥ 10,000 runs/s on
//! the embedded store.
//!
//! On PostgreSQL (`JOBWORKS_BENCH_DATABASE=postgres://…`) it also drains the same queue with
//! 3 in-process `Server`s on one database, and, in the same run, a bare
//! `SELECT … FOR UPDATE SKIP LOCKED` claim-and-complete loop on a plain table (one claimer per
//! server, `JOBWORKS_BENCH_BATCH` rows per claim, default 10): the ratio is what Jobworks costs
//! over the least a PostgreSQL queue can do.
//!
//! Run: `cargo bench -p jobworks-server --bench noproc` (env `JOBWORKS_BENCH_RUNS`, default
//! 5000; `JOBWORKS_BENCH_WORKERS`, default 4 × CPUs; `JOBWORKS_BENCH_PROFILE_QUEUE=1` runs
//! only the one-server drain, for profilers).

mod common;

use common::{BenchDb, env_usize};
use std::time::Instant;

const JOB: &str = "[[job]]\nname = \"select1\"\n[job.task]\ntype = \"sql\"\ndatasource = \"jobworks\"\nquery = \"SELECT 1\"\n";

/// Runs per second draining `n` `SELECT 1` runs with `servers` in-process servers on one fresh
/// database, each with `workers` workers.
async fn through_jobworks(n: usize, servers: usize, workers: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = BenchDb::create(dir.path()).await;
    let mut running = Vec::new();
    let mut first = None;
    for i in 0..servers {
        let store = db.open(dir.path(), 8).await;
        first.get_or_insert_with(|| store.clone());
        running.push(
            db.start_server(dir.path(), store, workers, &format!("bench{i}"))
                .await,
        );
    }
    let store = first.expect("at least one server");
    let rate = common::drain_queue(&running, &store, JOB, "select1", n).await;
    for server in running {
        server.shutdown().await;
    }
    drop(store);
    db.drop_db().await;
    rate
}

/// Rows per second through a bare SKIP LOCKED queue table in a fresh database: each of
/// `claimers` loops claiming `batch` rows (one statement, one commit) and completing them (one
/// statement, one commit).
async fn bare_skip_locked(n: usize, batch: i64, claimers: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = BenchDb::create(dir.path()).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(claimers as u32 + 1)
        .connect(&db.url)
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
        .bind(n as i64)
        .execute(&pool)
        .await
        .expect("fill");
    let start = Instant::now();
    let handles: Vec<_> = (0..claimers)
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
    for handle in handles {
        total += handle.await.expect("join");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    assert_eq!(total, n, "every row claimed once");
    pool.close().await;
    db.drop_db().await;
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = env_usize("JOBWORKS_BENCH_RUNS", 5000);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let workers = env_usize("JOBWORKS_BENCH_WORKERS", cpus * 4).max(1);
    let batch = env_usize("JOBWORKS_BENCH_BATCH", 10).max(1) as i64;
    runtime.block_on(async {
        if std::env::var_os("JOBWORKS_BENCH_PROFILE_QUEUE").is_some() {
            let rate = through_jobworks(n, 1, workers).await;
            println!("through Jobworks: {rate:.0} /s");
            return;
        }
        println!(
            "no-process queue ({n} runs of sql `SELECT 1` on datasource jobworks, {workers} workers per server, {} store, load {}):",
            common::backend(),
            common::load_average()
        );
        if common::postgres_url().is_none() {
            through_jobworks(n.min(500), 1, workers).await; // warm up
            let rate = through_jobworks(n, 1, workers).await;
            println!(
                "  through Jobworks, 1 server: {rate:8.0} runs/s ({:.1} % of the 10,000/s aim)",
                rate / 100.0
            );
            return;
        }
        for servers in [1, 3] {
            let bare_before = bare_skip_locked(n, batch, servers).await;
            let rate = through_jobworks(n, servers, workers).await;
            let bare_after = bare_skip_locked(n, batch, servers).await;
            let bare = (bare_before + bare_after) / 2.0;
            println!(
                "  {servers} server(s): Jobworks {rate:8.0} runs/s, bare SKIP LOCKED ({servers} claimer(s), {batch}/claim) {bare:8.0} rows/s \
                 (before {bare_before:.0}, after {bare_after:.0}), Jobworks/bare = {:.1} %, load {}",
                100.0 * rate / bare,
                common::load_average()
            );
        }
    });
}
