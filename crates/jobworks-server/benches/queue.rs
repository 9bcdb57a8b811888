//! Benchmark (not a test): throughput of trivial shell jobs through the durable queue, as a
//! ratio to the raw rate of spawning `true` at the same concurrency in the same run, and the
//! schedule lag (process start minus tick time) of a seconds-field cron job.
//!
//! Run: `cargo bench -p jobworks-server --bench queue` (env `JOBWORKS_BENCH_RUNS`, default
//! 4000; `JOBWORKS_BENCH_LAG_SECS`, default 30; `JOBWORKS_BENCH_PROFILE_QUEUE=1` runs only the
//! queue phase, for profilers; `JOBWORKS_BENCH_DATABASE`, `sqlite` by default or a
//! `postgres://…` URL, see `common/mod.rs`).

mod common;

use common::{BenchDb, env_usize};
use jobworks_protocol::SourceFile;
use jobworks_store::RunFilter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Spawns `true` `n` times with `workers` in flight, like the executor does (process group,
/// piped output); returns runs per second.
async fn raw_spawn_rate(n: usize, workers: usize) -> f64 {
    let sem = Arc::new(tokio::sync::Semaphore::new(workers));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore open");
        handles.push(tokio::spawn(async move {
            let status = tokio::process::Command::new("true")
                .process_group(0)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .output()
                .await
                .expect("spawn true");
            assert!(status.status.success());
            drop(permit);
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn queue_throughput(n: usize, workers: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = BenchDb::create(dir.path()).await;
    let store = db.open(dir.path(), 16).await;
    let server = db
        .start_server(dir.path(), store.clone(), workers, "bench")
        .await;
    let job = "[[job]]\nname = \"noop\"\n[job.task]\ntype = \"shell\"\ncommand = [\"true\"]\n";
    let rate = common::drain_queue(std::slice::from_ref(&server), &store, job, "noop", n).await;
    server.shutdown().await;
    drop(store);
    db.drop_db().await;
    rate
}

async fn schedule_lag(secs: u64) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = BenchDb::create(dir.path()).await;
    let store = db.open(dir.path(), 8).await;
    let server = db.start_server(dir.path(), store.clone(), 8, "tick").await;
    let files = vec![SourceFile {
        name: "tick.toml".into(),
        content: "[[job]]\nname = \"tick\"\nschedule = \"* * * * * *\"\n[job.task]\ntype = \"shell\"\ncommand = [\"true\"]\n".into(),
    }];
    jobworks_server::api::apply_files(&server.state, &files, false)
        .await
        .expect("apply tick job");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    server.shutdown().await;
    let runs = store
        .list_runs(&RunFilter {
            job: Some("tick".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("runs");
    let mut lags = Vec::new();
    for r in runs {
        let detail = store.get_run(r.id).await.expect("run");
        if let (Some(tick), Some(first)) = (r.scheduled_at, detail.attempts.first())
            && let Some(started) = first.started_at
        {
            lags.push((started - tick).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    lags.sort_by(|a, b| a.total_cmp(b));
    drop(store);
    db.drop_db().await;
    lags
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = env_usize("JOBWORKS_BENCH_RUNS", 4000);
    let lag_secs = env_usize("JOBWORKS_BENCH_LAG_SECS", 30) as u64;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        * 4;
    runtime.block_on(async {
        if std::env::var_os("JOBWORKS_BENCH_PROFILE_QUEUE").is_some() {
            // profiling aid: only the queue phase, so a profiler sees nothing else
            let queued = queue_throughput(n, workers).await;
            println!("through Jobworks: {queued:.0} /s");
            return;
        }
        // warm up the page cache and the binaries
        raw_spawn_rate(200, workers).await;
        let serial = raw_spawn_rate(n.min(2000), 1).await;
        let raw = raw_spawn_rate(n, workers).await;
        let queued = queue_throughput(n, workers).await;
        let raw_after = raw_spawn_rate(n, workers).await;
        let serial_after = raw_spawn_rate(n.min(2000), 1).await;
        let baseline = (raw + raw_after) / 2.0;
        let serial = (serial + serial_after) / 2.0;
        println!(
            "durable queue throughput ({n} runs of `true`, {workers} workers, {} store, load {}):",
            common::backend(),
            common::load_average()
        );
        println!(
            "  raw spawn of `true`, one at a time:   {serial:8.0} /s ({:.3} ms each)",
            1000.0 / serial
        );
        println!(
            "  raw spawn of `true`, {workers} at a time:     {baseline:8.0} /s (before {raw:.0}, after {raw_after:.0})"
        );
        println!("  through Jobworks, {workers} workers:         {queued:8.0} /s");
        println!(
            "  ratio to one-at-a-time spawn:         {:8.1} %",
            100.0 * queued / serial
        );
        println!(
            "  ratio to same-concurrency spawn:      {:8.1} %",
            100.0 * queued / baseline
        );
        let lags = schedule_lag(lag_secs).await;
        println!("schedule lag of a `* * * * * *` job over {lag_secs} s ({} ticks), tick → process started:", lags.len());
        println!(
            "  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            percentile(&lags, 50.0),
            percentile(&lags, 99.0),
            lags.last().copied().unwrap_or(f64::NAN)
        );
    });
}
