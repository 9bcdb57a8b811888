//! Batch directives against real processes: `::progress` and `::checkpoint` lines are consumed
//! and published, the `$JOBWORKS_CHECKPOINT_OUT` file wins at the end, oversized checkpoints
//! are refused, and a pause sends `SIGUSR1` so the task checkpoints and exits.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jobworks_executor::{
    BatchReports, EndReason, LogLine, LogStream, MAX_CHECKPOINT_BYTES, ProcessOutcome, ProcessTask,
    ShellKind, run_process, shell_command,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn sh(script: &str) -> ProcessTask {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (program, args) = shell_command(script, ShellKind::Sh, true);
    let tag = format!(
        "batch-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    ProcessTask::new(program, args, tag)
}

async fn run(task: ProcessTask) -> (ProcessOutcome, Vec<LogLine>) {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = run_process(task, CancellationToken::new(), sender, |_| {})
        .await
        .expect("the process starts");
    (outcome, collector.await.expect("collector ends"))
}

fn stdout(lines: &[LogLine]) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| line.stream == LogStream::Stdout)
        .map(|line| line.text.as_str())
        .collect()
}

fn system(lines: &[LogLine]) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| line.stream == LogStream::System)
        .map(|line| line.text.as_str())
        .collect()
}

#[tokio::test]
async fn directives_are_consumed_and_published() {
    let mut task = sh("echo start\n\
         echo '::progress 10/40 rows'\n\
         echo '::checkpoint {\"offset\": 10}'\n\
         echo '::progress 40/40 rows'\n\
         echo '::progress lots'\n\
         echo '::progress also bad'\n\
         echo '::checkpoint {\"offset\": 40}'\n\
         echo done");
    let (reports, progress, checkpoint) = BatchReports::channel();
    task.reports = Some(reports);
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(
        stdout(&lines),
        ["start", "::progress lots", "::progress also bad", "done"],
        "valid directives are not logged, malformed ones are"
    );
    let warnings = system(&lines)
        .into_iter()
        .filter(|line| line.contains("malformed batch directive"))
        .count();
    assert_eq!(warnings, 1, "warned once: {lines:?}");
    let last = progress.borrow().clone().expect("progress published");
    assert_eq!(
        (last.done, last.total, last.unit.as_deref()),
        (40.0, Some(40.0), Some("rows"))
    );
    let stored = checkpoint.borrow().clone().expect("checkpoint published");
    assert_eq!(stored.json, r#"{"offset":40}"#);
    assert_eq!(outcome.checkpoint.as_deref(), Some(r#"{"offset":40}"#));
}

#[tokio::test]
async fn checkpoint_file_wins_and_oversized_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(MAX_CHECKPOINT_BYTES);
    let mut task = sh(&format!(
        "echo '::checkpoint {{\"offset\": 1}}'\n\
         printf '\"%s\"' {big} > \"$JOBWORKS_CHECKPOINT_OUT.big\"\n\
         printf '::checkpoint ' ; cat \"$JOBWORKS_CHECKPOINT_OUT.big\"; echo\n\
         rm \"$JOBWORKS_CHECKPOINT_OUT.big\"\n\
         echo '{{\"offset\": 2, \"from\": \"file\"}}' > \"$JOBWORKS_CHECKPOINT_OUT\""
    ));
    task.outputs_dir = Some(dir.path().to_owned());
    let (reports, _progress, checkpoint) = BatchReports::channel();
    task.reports = Some(reports);
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded(), "{outcome:?} {lines:?}");
    assert!(
        system(&lines)
            .iter()
            .any(|line| line.contains("checkpoint refused")),
        "{:?}",
        system(&lines)
    );
    assert_eq!(
        outcome.checkpoint.as_deref(),
        Some(r#"{"from":"file","offset":2}"#)
    );
    assert_eq!(
        checkpoint.borrow().as_ref().map(|c| c.json.clone()),
        outcome.checkpoint
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("outputs dir")
        .flatten()
        .collect();
    assert!(left.is_empty(), "the checkpoint file is removed: {left:?}");
}

#[tokio::test]
async fn pause_sends_sigusr1_and_the_task_checkpoints() {
    let mut task = sh(
        "trap 'echo \"::checkpoint {\\\"offset\\\": $n}\"; exit 0' USR1\n\
         n=0\n\
         while true; do n=$((n+1)); echo \"::progress $n rows\"; sleep 0.05; done",
    );
    let pause = CancellationToken::new();
    task.pause = Some(pause.clone());
    task.kill_grace = Duration::from_secs(5);
    let (reports, mut progress, checkpoint) = BatchReports::channel();
    task.reports = Some(reports);
    let running = tokio::spawn(run(task));
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            progress.changed().await.expect("progress channel open");
            if progress.borrow().as_ref().is_some_and(|p| p.done >= 3.0) {
                break;
            }
        }
    })
    .await
    .expect("the task reports progress");
    pause.cancel();
    let (outcome, lines) = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the task stops on SIGUSR1")
        .expect("no panic");
    assert_eq!(outcome.end, EndReason::Paused, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(0));
    let saved = checkpoint.borrow().clone().expect("checkpoint on pause");
    let offset: serde_json::Value = serde_json::from_str(&saved.json).expect("json");
    assert!(
        offset["offset"].as_i64().is_some_and(|n| n >= 3),
        "{saved:?}"
    );
    assert!(
        system(&lines).iter().any(|line| line.contains("SIGUSR1")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn pause_of_a_task_that_ignores_sigusr1_ends_with_sigterm() {
    let mut task = sh("trap '' USR1\necho ready\nwhile true; do sleep 0.05; done");
    let pause = CancellationToken::new();
    task.pause = Some(pause.clone());
    task.kill_grace = Duration::from_millis(300);
    let (sender, mut receiver) = mpsc::channel(1024);
    let running = tokio::spawn(run_process(task, CancellationToken::new(), sender, |_| {}));
    let first = tokio::time::timeout(Duration::from_secs(10), receiver.recv())
        .await
        .expect("a line")
        .expect("open");
    let mut lines = vec![first];
    while !lines.iter().any(|line| line.text == "ready") {
        lines.push(receiver.recv().await.expect("open"));
    }
    pause.cancel();
    while let Some(line) = receiver.recv().await {
        lines.push(line);
    }
    let outcome = running.await.expect("no panic").expect("started");
    assert_eq!(outcome.end, EndReason::Paused);
    assert!(
        system(&lines)
            .iter()
            .any(|line| line.contains("after SIGUSR1: sending SIGTERM")),
        "{lines:?}"
    );
}
