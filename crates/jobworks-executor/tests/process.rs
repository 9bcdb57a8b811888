//! Process tasks against real processes: exit status, signals, output capture, timeouts,
//! cancellation, process groups, resource usage, outputs and orphan sweeping.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobworks_executor::{
    ATTEMPT_ID_ENV, EndReason, ExecError, LogLine, LogStream, ProcessOutcome, ProcessTask,
    ScriptOrFile, ShellKind, python_command, run_process, shell_command, sweep_orphans,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn unique_tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "exec-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn sh(script: &str) -> ProcessTask {
    let (program, args) = shell_command(script, ShellKind::Sh, true);
    ProcessTask::new(program, args, unique_tag())
}

fn python(script: &str) -> ProcessTask {
    let (program, args) = python_command(&ScriptOrFile::Script(script.to_owned()));
    ProcessTask::new(program, args, unique_tag())
}

async fn run_cancellable(
    task: ProcessTask,
    cancel: CancellationToken,
) -> (ProcessOutcome, Vec<LogLine>) {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = receiver.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = run_process(task, cancel, sender, |_| {})
        .await
        .expect("the process starts");
    let lines = collector.await.expect("the log collector finishes");
    (outcome, lines)
}

async fn run(task: ProcessTask) -> (ProcessOutcome, Vec<LogLine>) {
    run_cancellable(task, CancellationToken::new()).await
}

fn texts(lines: &[LogLine], stream: LogStream) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| line.stream == stream)
        .map(|line| line.text.as_str())
        .collect()
}

/// True while `pid` is a live (non-zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// True once `pid` is gone or a zombie, polling for up to 2 s: a killed process finishes
/// exiting asynchronously, shortly after the signal (and after closing its pipes).
async fn dies(pid: u32) -> bool {
    for _ in 0..40 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits up to 5 s for a pid file written by a test script.
async fn read_pid_file(path: &Path) -> u32 {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pid file {} never appeared", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_outcomes() {
    let (ok, lines) = run(sh("echo hello")).await;
    assert!(ok.succeeded(), "{ok:?}");
    assert_eq!(
        (ok.exit_code, ok.signal, ok.end),
        (Some(0), None, EndReason::Exited)
    );
    assert_eq!(texts(&lines, LogStream::Stdout), ["hello"]);
    assert_eq!(
        texts(&lines, LogStream::System),
        ["process exited with code 0"]
    );
    assert!(ok.started_at <= ok.ended_at);

    let (failed, _) = run(sh("echo oops >&2; exit 3")).await;
    assert!(!failed.succeeded());
    assert_eq!((failed.exit_code, failed.end), (Some(3), EndReason::Exited));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_exit_reports_the_signal() {
    let (outcome, lines) = run(sh("kill -TERM $$")).await;
    assert_eq!((outcome.exit_code, outcome.signal), (None, Some(15)));
    assert_eq!(outcome.end, EndReason::Exited);
    assert!(!outcome.succeeded());
    assert_eq!(
        texts(&lines, LogStream::System),
        ["process killed by signal 15 (SIGTERM)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_interleaved_stdout_and_stderr_do_not_deadlock() {
    // 2 x 20 000 lines of 100 bytes: about 2 MiB on each pipe, written alternately.
    let script = "import sys\nfor i in range(20000):\n    sys.stdout.write('o%098d\\n' % i)\n    sys.stderr.write('e%098d\\n' % i)\n";
    let (outcome, lines) = run(python(script)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(outcome.bytes_dropped, 0);
    let expect =
        |prefix: char| -> Vec<String> { (0..20000).map(|i| format!("{prefix}{i:098}")).collect() };
    assert_eq!(texts(&lines, LogStream::Stdout), expect('o'));
    assert_eq!(texts(&lines, LogStream::Stderr), expect('e'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_output_is_replaced_lossily() {
    let (outcome, lines) = run(sh(r"printf '\377\376abc\nok\n'")).await;
    assert!(outcome.succeeded());
    assert_eq!(
        texts(&lines, LogStream::Stdout),
        ["\u{FFFD}\u{FFFD}abc", "ok"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_are_split_at_64_kib() {
    let (outcome, lines) = run(python("print('a' * 150000)\nprint('end')")).await;
    assert!(outcome.succeeded());
    let lengths: Vec<usize> = texts(&lines, LogStream::Stdout)
        .iter()
        .map(|text| text.len())
        .collect();
    assert_eq!(lengths, [65536, 65536, 150000 - 2 * 65536, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_cap_keeps_head_and_tail_with_exact_drop_count() {
    // 200 lines of exactly 10 bytes ("line 0001\n"); cap 1000 = 500 head + 500 tail.
    let mut task = sh("i=1; while [ $i -le 200 ]; do printf 'line %04d\\n' $i; i=$((i+1)); done");
    task.output_cap_bytes = 1000;
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded());
    assert_eq!(outcome.bytes_dropped, 1000);
    let shown: Vec<&str> = lines
        .iter()
        .filter(|line| line.stream != LogStream::System || line.text.contains("dropped"))
        .map(|line| line.text.as_str())
        .collect();
    let mut expected: Vec<String> = (1..=50).map(|i| format!("line {i:04}")).collect();
    expected.push("… 1000 bytes dropped …".to_owned());
    expected.extend((151..=200).map(|i| format!("line {i:04}")));
    assert_eq!(shown, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_whole_group_including_grandchildren() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    let mut task = sh(&format!(
        "sleep 300 & echo $! > '{}'; wait",
        pid_file.display()
    ));
    task.timeout = Some(Duration::from_millis(500));
    let begun = Instant::now();
    let (outcome, lines) = run(task).await;
    let grandchild = read_pid_file(&pid_file).await;
    assert_eq!(outcome.end, EndReason::TimedOut);
    assert_eq!(outcome.signal, Some(15), "{outcome:?}");
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "took {:?}",
        begun.elapsed()
    );
    assert!(
        dies(grandchild).await,
        "grandchild {grandchild} survived the timeout"
    );
    assert!(texts(&lines, LogStream::System)[0].starts_with("timed out after 500 ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_process() {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let begun = Instant::now();
    let (outcome, lines) = run_cancellable(sh("sleep 300"), cancel).await;
    assert_eq!(outcome.end, EndReason::Cancelled);
    assert_eq!(outcome.signal, Some(15));
    assert!(!outcome.succeeded());
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "took {:?}",
        begun.elapsed()
    );
    assert!(texts(&lines, LogStream::System)[0].starts_with("cancelled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_grace_escalates_to_sigkill_when_term_is_ignored() {
    let mut task = sh("trap '' TERM; echo ready; while :; do sleep 0.1; done");
    task.timeout = Some(Duration::from_millis(300));
    task.kill_grace = Duration::from_millis(700);
    let begun = Instant::now();
    let (outcome, lines) = run(task).await;
    assert_eq!(outcome.end, EndReason::TimedOut);
    assert_eq!(outcome.signal, Some(9), "{outcome:?}");
    assert!(
        begun.elapsed() >= Duration::from_millis(1000),
        "took {:?}",
        begun.elapsed()
    );
    assert!(
        texts(&lines, LogStream::System)
            .iter()
            .any(|text| text.contains("sending SIGKILL")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_processes_do_not_outlive_a_finished_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    // The background sleep keeps stdout open: the task must still end promptly.
    let begun = Instant::now();
    let (outcome, _) = run(sh(&format!(
        "sleep 300 & echo $! > '{}'",
        pid_file.display()
    )))
    .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "took {:?}",
        begun.elapsed()
    );
    let background = read_pid_file(&pid_file).await;
    assert!(
        dies(background).await,
        "background process {background} outlived the task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_left_the_group_does_not_hang_the_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    // `setsid` puts the sleep in a new session, out of reach of the group kill, holding
    // stdout; the task waits until the escapee has written its pid, so it surely escaped.
    let script = format!(
        "setsid sh -c 'echo $$ > {pid}; exec sleep 300' &\nwhile [ ! -s {pid} ]; do sleep 0.05; done",
        pid = pid_file.display()
    );
    let begun = Instant::now();
    let (outcome, lines) = run(sh(&script)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        begun.elapsed() < Duration::from_secs(8),
        "took {:?}",
        begun.elapsed()
    );
    let escaped = read_pid_file(&pid_file).await;
    assert!(dies(escaped).await, "escaped process {escaped} survived");
    assert!(
        texts(&lines, LogStream::System)
            .iter()
            // killed with the attempt's cgroup, or found by its tag
            .any(|text| text.contains("outside its process group")
                || text.contains("left the task's process group")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_child_leads_its_own_process_group() {
    let (sender, mut receiver) = mpsc::channel(64);
    let (pid_sender, pid_receiver) = std::sync::mpsc::channel();
    let outcome = run_process(
        python("import os\nprint(os.getpgrp() == os.getpid(), os.getpid())"),
        CancellationToken::new(),
        sender,
        move |pid| pid_sender.send(pid).expect("the test keeps the receiver"),
    )
    .await
    .expect("python starts");
    let reported = pid_receiver.recv().expect("started was called");
    let first = receiver.recv().await.expect("one line of output");
    assert_eq!(reported, outcome.pid);
    assert_eq!(first.text, format!("True {}", outcome.pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rusage_reports_cpu_time() {
    let (outcome, _) = run(python(
        "x = 0\nfor i in range(10_000_000):\n    x += i\nprint(x)",
    ))
    .await;
    assert!(outcome.succeeded());
    assert!(outcome.user_cpu_ms > 100, "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rusage_reports_peak_memory() {
    // held for longer than the 50 ms sampling interval
    let (outcome, _) = run(python(
        "import time\nb = b'x' * (200 * 1024 * 1024)\ntime.sleep(0.2)\nprint(len(b))",
    ))
    .await;
    assert!(outcome.succeeded());
    let peak = outcome.max_rss_bytes.expect("measured");
    assert!(peak > 150 * 1024 * 1024, "{outcome:?}");
}

/// Issue 7 point 6: `errexit = false` runs the script as cron does (`sh -c`, `bash -c`), so
/// `false; echo x` goes on to `echo` and `false | true` succeeds; the default stops at the
/// first failure (and bash adds `pipefail`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errexit_switch_matches_cron_when_off() {
    let cases = [
        // (shell, errexit, script, succeeds, stdout)
        (ShellKind::Sh, true, "false; echo x", false, &[][..]),
        (ShellKind::Sh, false, "false; echo x", true, &["x"][..]),
        (ShellKind::Bash, true, "false; echo x", false, &[][..]),
        (ShellKind::Bash, false, "false; echo x", true, &["x"][..]),
        (ShellKind::Bash, true, "false | true", false, &[][..]),
        (ShellKind::Bash, false, "false | true", true, &[][..]),
        (ShellKind::Sh, false, "echo x; false", false, &["x"][..]),
    ];
    for (shell, errexit, script, succeeds, stdout) in cases {
        let (program, args) = shell_command(script, shell, errexit);
        let (outcome, lines) = run(ProcessTask::new(program, args, unique_tag())).await;
        let case = format!("{shell:?} errexit={errexit} {script:?}");
        assert_eq!(outcome.succeeded(), succeeds, "{case}: {outcome:?}");
        assert_eq!(texts(&lines, LogStream::Stdout), stdout, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_in_env_arrive_inert() {
    // HOME points into a temp dir so that even a broken executor could not touch the real one.
    let home = tempfile::tempdir().expect("temp dir");
    let marker = home.path().join("pwned");
    let hostile = format!("$(touch {}); rm -rf ~", marker.display());
    for shell in [ShellKind::Sh, ShellKind::Bash] {
        let (program, args) = shell_command(r#"echo "$JOBWORKS_PARAM_X""#, shell, true);
        let mut task = ProcessTask::new(program, args, unique_tag());
        task.env = vec![
            ("HOME".to_owned(), home.path().display().to_string()),
            ("JOBWORKS_PARAM_X".to_owned(), hostile.clone()),
        ];
        let (outcome, lines) = run(task).await;
        assert!(outcome.succeeded(), "{shell:?}: {outcome:?}");
        assert_eq!(
            texts(&lines, LogStream::Stdout),
            [hostile.as_str()],
            "{shell:?}"
        );
        assert!(!marker.exists(), "{shell:?} ran the command substitution");
        assert!(home.path().exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_tag_is_exported() {
    let task = sh("echo \"$JOBWORKS_ATTEMPT_ID\"");
    let tag = task.attempt_tag.clone();
    let (_, lines) = run(task).await;
    assert_eq!(texts(&lines, LogStream::Stdout), [tag.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_output_lines_and_the_outputs_file_are_merged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outputs_dir = dir.path().join("outputs");
    let mut task = sh(concat!(
        "echo '::set-output a=1'\n",
        "echo '::set-output b=from-line'\n",
        "printf '{\"b\": \"from-file\", \"n\": 3, \"o\": {\"k\": true}}' > \"$JOBWORKS_OUTPUT\"\n",
    ));
    task.outputs_dir = Some(outputs_dir.clone());
    let file = outputs_dir.join(format!("{}.json", task.attempt_tag));
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let outputs: Vec<(&str, &str)> = outcome
        .outputs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        outputs,
        [
            ("a", "1"),
            ("b", "from-file"),
            ("n", "3"),
            ("o", r#"{"k":true}"#)
        ]
    );
    assert_eq!(
        texts(&lines, LogStream::Stdout),
        ["::set-output a=1", "::set-output b=from-line"]
    );
    assert!(!file.exists(), "the outputs file is removed after reading");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_outputs_file_is_a_log_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut task = sh("echo '::set-output a=1'; echo '{not json' > \"$JOBWORKS_OUTPUT\"");
    task.outputs_dir = Some(dir.path().to_owned());
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(outcome.outputs.get("a").map(String::as_str), Some("1"));
    assert!(
        texts(&lines, LogStream::System)
            .iter()
            .any(|text| text.starts_with("outputs file is not valid JSON")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_written_then_closed() {
    let mut task = sh("cat; echo done");
    task.stdin = Some(b"hello\nworld".to_vec());
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded());
    assert_eq!(texts(&lines, LogStream::Stdout), ["hello", "worlddone"]);

    // Without stdin the child reads /dev/null and does not block.
    let (outcome, lines) = run(sh("cat; echo eof")).await;
    assert!(outcome.succeeded());
    assert_eq!(texts(&lines, LogStream::Stdout), ["eof"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_dir_is_respected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut task = sh("pwd");
    task.working_dir = Some(dir.path().to_owned());
    let (outcome, lines) = run(task).await;
    assert!(outcome.succeeded());
    let expected = dir.path().canonicalize().expect("canonical temp dir");
    assert_eq!(
        texts(&lines, LogStream::Stdout),
        [expected.display().to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_are_errors() {
    let (sender, _receiver) = mpsc::channel(8);
    let missing = ProcessTask::new("jobworks-no-such-program", Vec::new(), unique_tag());
    let error = run_process(missing, CancellationToken::new(), sender.clone(), |_| {})
        .await
        .expect_err("a missing program cannot start");
    assert!(
        matches!(error, ExecError::ProgramNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "program `jobworks-no-such-program` not found or not executable"
    );

    let mut bad_dir = sh("true");
    bad_dir.working_dir = Some("/nonexistent/jobworks".into());
    let error = run_process(bad_dir, CancellationToken::new(), sender.clone(), |_| {})
        .await
        .expect_err("a missing working dir cannot be used");
    assert!(matches!(error, ExecError::WorkingDir { .. }), "{error:?}");

    let mut bad_tag = sh("true");
    bad_tag.attempt_tag = "../escape".to_owned();
    let error = run_process(bad_tag, CancellationToken::new(), sender, |_| {})
        .await
        .expect_err("a tag with a slash is rejected");
    assert!(matches!(error, ExecError::InvalidTask { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_orphans_kills_tagged_process_groups() {
    let tag = unique_tag();
    let mut orphan = std::process::Command::new("/bin/sh");
    std::os::unix::process::CommandExt::process_group(
        orphan
            .args(["-c", "sleep 300 & exec sleep 300"])
            .env(ATTEMPT_ID_ENV, &tag),
        0,
    );
    let mut orphan = orphan.spawn().expect("sleep starts");
    // Let the shell fork its background sleep and exec.
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert!(sweep_orphans(&["some-other-tag".to_owned()]).is_empty());
    let killed = sweep_orphans(std::slice::from_ref(&tag));
    assert!(
        killed.contains(&orphan.id()),
        "{killed:?} lacks {}",
        orphan.id()
    );
    assert_eq!(killed.len(), 2, "both sleeps carry the tag: {killed:?}");
    let status = tokio::task::spawn_blocking(move || orphan.wait())
        .await
        .expect("wait task")
        .expect("wait for the orphan");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sweep_orphans(&[tag]).is_empty(), "nothing is left");
}
