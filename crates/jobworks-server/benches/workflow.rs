//! Benchmark (not a test): orchestration overhead of workflows on the chosen store, with
//! every transition committed. Two DAGs of trivial shell tasks (`true`):
//!
//! - a 40-task chain (`t1 -> t2 -> ... -> t40`);
//! - a 40-wide fan-out/fan-in (`start -> w1..w40 -> end`, 42 tasks).
//!
//! For each, the wall time from trigger to the run's end, the critical-path task time (sum of
//! the process times of the tasks on the longest path, as recorded by the executor), and the
//! overhead per task = (wall − critical-path task time) / tasks. The baseline, measured in the
//! same run, is spawning `true` the same way one after the other.
//!
//! Run: `cargo bench -p jobworks-server --bench workflow` (env `JOBWORKS_BENCH_REPEAT`,
//! default 5: runs of each DAG, the median is reported; `JOBWORKS_BENCH_DATABASE`, `sqlite` by
//! default or a `postgres://…` URL, see `common/mod.rs`).

mod common;

use common::BenchDb;
use jobworks_domain::RunState;
use jobworks_protocol::{SourceFile, TriggerRequest};
use jobworks_store::Store;
use std::time::{Duration, Instant};

fn chain(n: usize) -> String {
    let mut text = String::from("[[workflow]]\nname = \"chain\"\n");
    for i in 1..=n {
        let deps = if i == 1 {
            String::new()
        } else {
            format!("depends_on = [\"t{}\"]\n", i - 1)
        };
        text.push_str(&format!(
            "[[workflow.task]]\nid = \"t{i}\"\n{deps}type = \"shell\"\ncommand = [\"true\"]\n"
        ));
    }
    text
}

fn fan(n: usize) -> String {
    let mut text = String::from(
        "[[workflow]]\nname = \"fan\"\n[[workflow.task]]\nid = \"start\"\ntype = \"shell\"\ncommand = [\"true\"]\n",
    );
    let mut wide = Vec::new();
    for i in 1..=n {
        wide.push(format!("\"w{i}\""));
        text.push_str(&format!(
            "[[workflow.task]]\nid = \"w{i}\"\ndepends_on = [\"start\"]\ntype = \"shell\"\ncommand = [\"true\"]\n"
        ));
    }
    text.push_str(&format!(
        "[[workflow.task]]\nid = \"end\"\ndepends_on = [{}]\ntype = \"shell\"\ncommand = [\"true\"]\n",
        wide.join(", ")
    ));
    text
}

/// Spawns `true` `n` times one after the other, like the executor (process group, piped
/// output); returns ms per spawn.
async fn raw_serial_ms(n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let out = tokio::process::Command::new("true")
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .expect("spawn true");
        assert!(out.status.success());
    }
    start.elapsed().as_secs_f64() * 1000.0 / n as f64
}

struct Measure {
    wall_ms: f64,
    critical_ms: f64,
    tasks: usize,
}

/// Triggers `workflow`, waits for the run, and measures it; `critical` lists the task ids on
/// its critical path (for the fan-out: start, the slowest middle task, end). A task's time is
/// its process's, start to exit, as the executor recorded it.
async fn measure(
    server: &jobworks_server::RunningServer,
    store: &dyn Store,
    workflow: &str,
    critical: &dyn Fn(&jobworks_store::RunDetail) -> Vec<String>,
) -> Measure {
    let start = Instant::now();
    let response = jobworks_server::api::trigger_workflow_run(
        &server.state,
        workflow,
        &TriggerRequest::default(),
    )
    .await
    .expect("trigger");
    let run = jobworks_domain::RunId(response.runs[0].run_id);
    let detail = loop {
        let detail = store.get_run(run).await.expect("run");
        if detail.run.state.is_terminal() {
            break detail;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "run did not end"
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    // the run's own end time, not our polling, bounds the wall time
    let wall_ms = (detail.run.ended_at.expect("ended") - detail.run.queued_at)
        .num_microseconds()
        .unwrap_or(0) as f64
        / 1000.0;
    assert_eq!(
        detail.run.state,
        RunState::Succeeded,
        "{:?}",
        detail.run.reason
    );
    let critical_ms = critical(&detail)
        .iter()
        .map(|id| task_ms(&detail, id))
        .sum();
    Measure {
        wall_ms,
        critical_ms,
        tasks: detail.tasks.len(),
    }
}

/// Where a chain's time goes between one task's process exit and the next one's start: median
/// ms of exit → queued (finish recorded, engine decided), queued → claimed, claimed → process
/// started.
fn chain_gaps(detail: &jobworks_store::RunDetail, n: usize) -> (f64, f64, f64) {
    let event = |task: &str, to: &str| {
        detail
            .events
            .iter()
            .find(|e| e.task.as_deref() == Some(task) && e.to_state == to)
            .map(|e| e.at)
    };
    let started = |task: &str| {
        detail
            .attempts
            .iter()
            .find(|a| a.task == task)
            .and_then(|a| Some((a.started_at?, a.ended_at?)))
    };
    let ms = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(0) as f64 / 1000.0;
    let (mut queued, mut claimed, mut spawned) = (Vec::new(), Vec::new(), Vec::new());
    for i in 2..=n {
        let (prev, this) = (format!("t{}", i - 1), format!("t{i}"));
        if let (Some((_, exit)), Some(q), Some(c), Some((start, _))) = (
            started(&prev),
            event(&this, "queued"),
            event(&this, "running"),
            started(&this),
        ) {
            queued.push(ms(q - exit));
            claimed.push(ms(c - q));
            spawned.push(ms(start - c));
        }
    }
    (median(queued), median(claimed), median(spawned))
}

fn task_ms(detail: &jobworks_store::RunDetail, id: &str) -> f64 {
    detail
        .tasks
        .iter()
        .find(|t| t.task.as_str() == id)
        .and_then(|t| Some((t.ended_at? - t.started_at?).num_microseconds()? as f64 / 1000.0))
        .unwrap_or(0.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let repeat = std::env::var("JOBWORKS_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = BenchDb::create(dir.path()).await;
        let store = db.open(dir.path(), 8).await;
        let server = db.start_server(dir.path(), store.clone(), 8, "bench").await;
        let files = vec![
            SourceFile {
                name: "chain.toml".into(),
                content: chain(40),
            },
            SourceFile {
                name: "fan.toml".into(),
                content: fan(40),
            },
        ];
        jobworks_server::api::apply_files(&server.state, &files, false)
            .await
            .expect("apply");
        raw_serial_ms(50).await; // warm up
        let raw_before = raw_serial_ms(200).await;
        let chain_path: Vec<String> = (1..=40).map(|i| format!("t{i}")).collect();
        let mut results: Vec<(&str, Vec<Measure>)> = Vec::new();
        let mut chains = Vec::new();
        for _ in 0..repeat {
            chains.push(measure(&server, store.as_ref(), "chain", &|_| chain_path.clone()).await);
        }
        let probe = store
            .list_runs(&jobworks_store::RunFilter {
                job: Some("chain".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .expect("runs");
        let gaps = chain_gaps(&store.get_run(probe[0].id).await.expect("run"), 40);
        results.push(("40-task chain", chains));
        let mut fans = Vec::new();
        for _ in 0..repeat {
            fans.push(
                measure(&server, store.as_ref(), "fan", &|detail| {
                    let slowest = (1..=40)
                        .map(|i| format!("w{i}"))
                        .max_by(|a, b| task_ms(detail, a).total_cmp(&task_ms(detail, b)))
                        .unwrap_or_default();
                    vec!["start".into(), slowest, "end".into()]
                })
                .await,
            );
        }
        results.push(("40-wide fan-out/fan-in", fans));
        let raw_after = raw_serial_ms(200).await;
        server.shutdown().await;
        drop(store);
        db.drop_db().await;
        let raw = (raw_before + raw_after) / 2.0;
        println!(
            "workflow orchestration overhead, {repeat} runs each, median ({} store, every transition committed, load {}):",
            common::backend(),
            common::load_average()
        );
        println!("  baseline: raw spawn of `true`, one at a time: {raw:.3} ms (before {raw_before:.3}, after {raw_after:.3})");
        println!(
            "  chain, median per step: process exit → next task queued {:.3} ms, queued → claimed {:.3} ms, claimed → process started {:.3} ms",
            gaps.0, gaps.1, gaps.2
        );
        for (name, measures) in results {
            let tasks = measures[0].tasks;
            let wall = median(measures.iter().map(|m| m.wall_ms).collect());
            let critical = median(measures.iter().map(|m| m.critical_ms).collect());
            let overhead = median(
                measures
                    .iter()
                    .map(|m| (m.wall_ms - m.critical_ms) / m.tasks as f64)
                    .collect(),
            );
            println!(
                "  {name}: {tasks} tasks, wall {wall:.1} ms, critical-path task time {critical:.1} ms, \
                 overhead {overhead:.3} ms/task ({:.2}x one raw spawn), wall per task {:.3} ms ({:.2}x one raw spawn)",
                overhead / raw,
                wall / tasks as f64,
                wall / tasks as f64 / raw
            );
        }
    });
}
