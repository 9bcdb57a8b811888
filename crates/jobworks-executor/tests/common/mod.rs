//! Shared by the isolation test binaries: escaped-grandchild jobs and how to wait for a pid.

#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobworks_executor::{
    LogLine, ProcessOutcome, ProcessTask, ShellKind, run_process, shell_command,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A tag no other test uses.
pub fn unique_tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "isolation-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `sh -e` task.
pub fn sh(script: &str) -> ProcessTask {
    let (program, args) = shell_command(script, ShellKind::Sh, true);
    ProcessTask::new(program, args, unique_tag())
}

/// A task that starts the grandchild of issue 7 point 5 (it leaves the process group and the
/// session and clears its environment, so neither the group kill nor the tag sweep sees it),
/// writes its pid to `pidfile`, then waits forever.
pub fn escaping_task(pidfile: &Path) -> ProcessTask {
    let mut task = sh(&format!(
        "env -i setsid sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > {}\nsleep 300\n",
        pidfile.display()
    ));
    task.kill_grace = Duration::from_millis(300);
    task
}

/// Runs `task` to its end, cancelling it once `pidfile` exists when `cancel_after_start`.
pub async fn run_escaping(
    task: ProcessTask,
    pidfile: &Path,
    cancel_after_start: bool,
) -> (ProcessOutcome, Vec<LogLine>, i32) {
    let cancel = CancellationToken::new();
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let canceller = {
        let cancel = cancel.clone();
        let pidfile = pidfile.to_owned();
        tokio::spawn(async move {
            if cancel_after_start {
                wait_for_pid(&pidfile).await;
                cancel.cancel();
            }
        })
    };
    let outcome = run_process(task, cancel, sender, |_| {})
        .await
        .expect("the process starts");
    canceller.await.expect("grandchild started");
    let lines = collector.await.expect("collector");
    let pid = read_pid(pidfile);
    (outcome, lines, pid)
}

/// Waits until the grandchild wrote its pid and is `sleep` (so it has left the group).
async fn wait_for_pid(pidfile: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(pidfile).map_or(true, |text| !text.ends_with('\n'))
        || !sleeping(read_pid(pidfile))
    {
        assert!(Instant::now() < deadline, "the grandchild never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The pid in `pidfile`.
pub fn read_pid(pidfile: &Path) -> i32 {
    std::fs::read_to_string(pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

/// Whether `pid` is a running `sleep` (not gone, not a zombie).
pub fn sleeping(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.contains("(sleep)") && !stat.contains(") Z ")
}

/// Waits up to 10 s for `pid` to stop being a running `sleep`; returns whether it did.
pub async fn gone_within_deadline(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sleeping(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}
