//! Issue 7 point 5 without cgroups: the process is a child subreaper, so the escaped
//! grandchild reparents to it when the attempt's shell dies, and is killed and reaped.

mod common;

use std::time::Duration;

use common::{escaping_task, gone_within_deadline, run_escaping, sh};
use jobworks_executor::{EndReason, Isolation, init_isolation};

fn subreaper() {
    assert_eq!(init_isolation(false), Isolation::Subreaper);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subreaper_kills_the_escaped_grandchild_of_a_timed_out_attempt() {
    subreaper();
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    let mut task = escaping_task(&pidfile);
    task.timeout = Some(Duration::from_millis(500));
    let (outcome, _, pid) = run_escaping(task, &pidfile, false).await;
    assert_eq!(outcome.end, EndReason::TimedOut, "{outcome:?}");
    assert!(gone_within_deadline(pid).await, "grandchild {pid} survived");
    // and it was reaped by us, not left a zombie
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subreaper_kills_the_escaped_grandchild_of_a_cancelled_attempt() {
    subreaper();
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    let (outcome, _, pid) = run_escaping(escaping_task(&pidfile), &pidfile, true).await;
    assert_eq!(outcome.end, EndReason::Cancelled, "{outcome:?}");
    assert!(gone_within_deadline(pid).await, "grandchild {pid} survived");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// A process this process started itself, outside any attempt, is neither killed nor reaped
/// by an attempt's sweep (its exit status stays ours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subreaper_leaves_other_children_alone() {
    subreaper();
    let mut own = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .expect("sleep");
    // the start tick must precede the attempt's: wait for the tick to move on
    std::thread::sleep(Duration::from_millis(30));
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    let task = sh(&format!(
        "env -i setsid sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > {}\n",
        pidfile.display()
    ));
    let (outcome, _, pid) = run_escaping(task, &pidfile, false).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(gone_within_deadline(pid).await, "grandchild {pid} survived");
    assert!(
        own.try_wait().expect("still ours").is_none(),
        "our own child was killed"
    );
    own.kill().expect("kill");
    own.wait().expect("our own child's status is ours to reap");
}
