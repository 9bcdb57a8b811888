//! Issue 7 points 5 and 12 with the isolation this host offers (a cgroup v2 per attempt where
//! it delegates one, else the subreaper): no descendant outlives its attempt, and peak memory
//! is the task's own. `isolation_subreaper.rs` forces the subreaper.

mod common;

use std::time::Duration;

use common::{escaping_task, gone_within_deadline, run_escaping, sh};
use jobworks_executor::{
    EndReason, Isolation, ProcessTask, ScriptOrFile, init_isolation, python_command,
};

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_grandchild_dies_with_a_timed_out_attempt() {
    let isolation = init_isolation(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    let mut task = escaping_task(&pidfile);
    task.timeout = Some(Duration::from_millis(500));
    let (outcome, _, pid) = run_escaping(task, &pidfile, false).await;
    assert_eq!(outcome.end, EndReason::TimedOut, "{outcome:?}");
    assert!(
        gone_within_deadline(pid).await,
        "grandchild {pid} outlived its timed-out attempt ({isolation:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_grandchild_dies_with_a_cancelled_attempt() {
    let isolation = init_isolation(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    let (outcome, lines, pid) = run_escaping(escaping_task(&pidfile), &pidfile, true).await;
    assert_eq!(outcome.end, EndReason::Cancelled, "{outcome:?}");
    assert!(
        gone_within_deadline(pid).await,
        "grandchild {pid} outlived its cancelled attempt ({isolation:?})"
    );
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    assert!(
        texts.iter().any(|text| text
            .starts_with("killed processes of the attempt outside its process group")
            && text.contains(&pid.to_string())),
        "{texts:?}"
    );
}

/// An attempt that ends by itself leaves no escaped process either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_grandchild_dies_when_its_attempt_exits() {
    init_isolation(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("grandchild.pid");
    let task = sh(&format!(
        "env -i setsid sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > {}\n",
        pidfile.display()
    ));
    let (outcome, _, pid) = run_escaping(task, &pidfile, false).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        gone_within_deadline(pid).await,
        "grandchild {pid} outlived its attempt"
    );
}

/// This host (root, cgroup2 mounted) delegates cgroups: the tests above ran in that mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_host_uses_a_cgroup_per_attempt() {
    let writable = std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|text| text.contains(" - cgroup2 "))
        && std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("proc"))
            == 0;
    let isolation = init_isolation(true);
    if writable {
        assert!(
            matches!(isolation, Isolation::Cgroup { .. }),
            "{isolation:?}"
        );
    }
    // a missing program is still a start error, not a shell's exit 127
    let error = jobworks_executor::run_process(
        ProcessTask::new("no-such-program-here", Vec::new(), common::unique_tag()),
        tokio_util::sync::CancellationToken::new(),
        tokio::sync::mpsc::channel(16).0,
        |_| {},
    )
    .await
    .expect_err("cannot start");
    assert!(
        matches!(error, jobworks_executor::ExecError::ProgramNotFound { .. }),
        "{error:?}"
    );
    if let Isolation::Cgroup { dir } = &isolation {
        // every attempt's cgroup is gone once it ended
        let left: Vec<_> = std::fs::read_dir(dir)
            .expect("cgroup dir")
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.path())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// Issue 7 point 12: a trivial shell reports a few MiB (not the test process's size), and a
/// task holding 300 MiB reports about 300 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_is_the_tasks_own() {
    init_isolation(true);
    // make this process big, as a server is: its image must not leak into the figure
    let ballast = vec![1_u8; 200 * MIB as usize];
    let (outcome, _) = common_run(sh("true")).await;
    let trivial = outcome.max_rss_bytes.expect("measured");
    assert!(
        trivial < 8 * MIB,
        "a trivial sh reports {} MiB",
        trivial / MIB
    );

    let (program, args) = python_command(&ScriptOrFile::Script(
        "import time\nb = b'x' * (300 * 1024 * 1024)\ntime.sleep(0.3)\nprint(len(b))".into(),
    ));
    let (outcome, _) = common_run(ProcessTask::new(program, args, common::unique_tag())).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let big = outcome.max_rss_bytes.expect("measured");
    assert!(
        (300 * MIB..340 * MIB).contains(&big),
        "a 300 MiB task reports {} MiB",
        big / MIB
    );
    // a child the shell waits for counts too (cgroup mode samples every process in it)
    let script = "python3 -c \"import time\nb = b'x' * (100 * 1024 * 1024)\ntime.sleep(0.3)\"";
    let (outcome, _) = common_run(sh(script)).await;
    if matches!(init_isolation(true), Isolation::Cgroup { .. }) {
        let child = outcome.max_rss_bytes.expect("measured");
        assert!(
            (100 * MIB..130 * MIB).contains(&child),
            "a shell whose child holds 100 MiB reports {} MiB",
            child / MIB
        );
    }
    drop(ballast);
}

async fn common_run(
    task: ProcessTask,
) -> (
    jobworks_executor::ProcessOutcome,
    Vec<jobworks_executor::LogLine>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = jobworks_executor::run_process(
        task,
        tokio_util::sync::CancellationToken::new(),
        sender,
        |_| {},
    )
    .await
    .expect("starts");
    (outcome, collector.await.expect("collector"))
}

/// A background process that stays in the attempt's process group is killed with the group
/// and is not reported as having escaped it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_child_in_the_group_is_not_reported_as_escaped() {
    let isolation = init_isolation(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("child.pid");
    let task = sh(&format!(
        "sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > {}\n",
        pidfile.display()
    ));
    let (outcome, lines, pid) = run_escaping(task, &pidfile, false).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        gone_within_deadline(pid).await,
        "child {pid} outlived its attempt"
    );
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    assert!(
        !texts
            .iter()
            .any(|text| text.starts_with("killed processes of the attempt outside")),
        "{isolation:?}: {texts:?}"
    );
}
