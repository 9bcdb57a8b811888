//! Running one process attempt: its own process group, live output, timeout, cancellation,
//! resource usage and outputs.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::directives::{
    BatchReports, CHECKPOINT_OUT_ENV, Checkpoint, Directive, parse_directive, read_checkpoint_file,
    too_large_message,
};
use crate::end::EndReason;
use crate::error::ExecError;
use crate::isolation::{Containment, peak_rss_bytes, program_exists};
use crate::log::{LogLine, LogSink, LogStream};
use crate::orphans::{ATTEMPT_ID_ENV, sweep_orphans};
use crate::output::{LineSplitter, MAX_LINE_BYTES, OutputLimiter, RawLine};
use crate::outputs::{OUTPUT_FILE_ENV, parse_set_output, read_outputs_file};
use crate::unix::{ExitInfo, ProcessGroup};

/// Default [`ProcessTask::kill_grace`]: 5 s between `SIGTERM` and `SIGKILL`.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// Default [`ProcessTask::output_cap_bytes`]: 10 MiB.
pub const DEFAULT_OUTPUT_CAP_BYTES: u64 = 10 * 1024 * 1024;

/// Once the task's process group is gone, a pipe read that waits this long for data means a
/// process that left the group holds the pipe open: reading stops.
const PIPE_IDLE_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Once the task's process group is gone, reading stops after this long in any case (a process
/// outside the group that keeps writing, or a `logs` receiver that does not keep up).
const MAX_READ_AFTER_EXIT: Duration = Duration::from_secs(30);

/// Stack size of the thread that waits for one child: it only makes a few system calls.
const WAITER_STACK_BYTES: usize = 64 * 1024;

/// Capacity of the channel between the pipe readers and the line collector, in lines.
const CAPTURE_CHANNEL_LINES: usize = 256;

/// How often the attempt's processes are sampled for their peak memory (`VmHWM`) once the
/// first samples, denser, are taken (see [`memory_sample_delay`]).
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// Delay before memory sample `n` (0-based, after the one taken at spawn): 1, 2, 4, 8, 16
/// and 32 ms, then every [`MEMORY_SAMPLE_INTERVAL`], so a task that lives a few
/// milliseconds is still seen after its program has loaded, and a long one costs one
/// `/proc` read per 50 ms.
fn memory_sample_delay(n: u32) -> Duration {
    Duration::from_millis(1u64 << n.min(6)).min(MEMORY_SAMPLE_INTERVAL)
}

/// One attempt of a process task.
#[derive(Clone)]
pub struct ProcessTask {
    /// Program to run: a path, or a name looked up in `PATH`.
    pub program: String,
    /// Arguments, passed as-is (no shell parsing).
    pub args: Vec<String>,
    /// Bytes written to the child's stdin, which is then closed; `None` connects stdin to
    /// `/dev/null`. A child that exits without reading it all is not an error.
    pub stdin: Option<Vec<u8>>,
    /// Variables added to the inherited environment (later entries win). They cannot override
    /// `JOBWORKS_ATTEMPT_ID` or `JOBWORKS_OUTPUT`, which the executor sets.
    pub env: Vec<(String, String)>,
    /// Working directory; `None` inherits the server's. Must exist.
    pub working_dir: Option<PathBuf>,
    /// Limit for this attempt, measured from spawn; `None` means no limit.
    pub timeout: Option<Duration>,
    /// On timeout or cancel the group gets `SIGTERM`, then `SIGKILL` after this long.
    pub kill_grace: Duration,
    /// Total stdout + stderr bytes kept: the first half is forwarded live, then only a rolling
    /// tail of the last half is kept and emitted at the end.
    pub output_cap_bytes: u64,
    /// Identifies the attempt; exported as `JOBWORKS_ATTEMPT_ID=<tag>` so
    /// [`sweep_orphans`] can find leftovers, and names the outputs file.
    /// Non-empty, without `/` or NUL, not `.` or `..`.
    pub attempt_tag: String,
    /// When set, exported as `JOBWORKS_OUTPUT=<dir>/<attempt_tag>.json`; the directory is
    /// created if missing, a stale file is removed before the start, and the file the task wrote
    /// is read and removed at the end. The checkpoint file lives there too:
    /// `JOBWORKS_CHECKPOINT_OUT=<dir>/<attempt_tag>.checkpoint.json`, handled the same way.
    pub outputs_dir: Option<PathBuf>,
    /// Where `::progress` and `::checkpoint` lines (and the checkpoint file) are published;
    /// with `None` those lines are still consumed, and the last checkpoint is only in
    /// [`ProcessOutcome::checkpoint`].
    pub reports: Option<BatchReports>,
    /// Pausing: when it fires, the group gets `SIGUSR1` (the task checkpoints and exits),
    /// then `SIGTERM` after `kill_grace`, then `SIGKILL` after another `kill_grace`; the
    /// attempt ends as [`EndReason::Paused`] whatever its exit status.
    pub pause: Option<CancellationToken>,
}

impl ProcessTask {
    /// A task with no stdin, no extra environment, no timeout, the default kill grace and
    /// output cap, and no outputs directory.
    pub fn new(
        program: impl Into<String>,
        args: Vec<String>,
        attempt_tag: impl Into<String>,
    ) -> Self {
        Self {
            program: program.into(),
            args,
            stdin: None,
            env: Vec::new(),
            working_dir: None,
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
            output_cap_bytes: DEFAULT_OUTPUT_CAP_BYTES,
            attempt_tag: attempt_tag.into(),
            outputs_dir: None,
            reports: None,
            pause: None,
        }
    }
}

/// Hides environment values and stdin content, which may hold secrets.
impl fmt::Debug for ProcessTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTask")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("stdin_bytes", &self.stdin.as_ref().map(Vec::len))
            .field(
                "env_names",
                &self.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("working_dir", &self.working_dir)
            .field("timeout", &self.timeout)
            .field("kill_grace", &self.kill_grace)
            .field("output_cap_bytes", &self.output_cap_bytes)
            .field("attempt_tag", &self.attempt_tag)
            .field("outputs_dir", &self.outputs_dir)
            .field("reports", &self.reports.is_some())
            .field("pause", &self.pause.is_some())
            .finish()
    }
}

/// What happened to a process attempt that started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessOutcome {
    /// The child's pid, which is also its process group id.
    pub pid: u32,
    /// Just before spawning (UTC).
    pub started_at: DateTime<Utc>,
    /// When the child was reaped and its output collected (UTC).
    pub ended_at: DateTime<Utc>,
    /// Exit status when the child exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the child was killed by a signal (e.g. 15 after a timeout's
    /// `SIGTERM`, 9 after `SIGKILL`).
    pub signal: Option<i32>,
    /// Whether it ended by itself, by timeout or by cancellation.
    pub end: EndReason,
    /// User-mode CPU time of the child and the descendants it waited for, in milliseconds.
    pub user_cpu_ms: u64,
    /// Kernel CPU time of the child and the descendants it waited for, in milliseconds.
    pub system_cpu_ms: u64,
    /// Peak resident set size of the largest process of the attempt, in bytes: the highest
    /// `VmHWM` (the kernel's own per-process peak since `exec`, so exact for what it covers)
    /// seen in `/proc/PID/status` of the leader and, with a cgroup per attempt, of every
    /// process in it, sampled at the start, after 1, 3, 7, 15, 31 and 63 ms, then every
    /// 50 ms. A process that lives or peaks only between two samples is missed. `None` when no sample succeeded. Not `ru_maxrss`, which
    /// Linux inflates with the server's own memory (the image the child had before `exec`).
    pub max_rss_bytes: Option<u64>,
    /// Output bytes (pipe bytes, newlines included) neither forwarded nor kept due to the cap.
    pub bytes_dropped: u64,
    /// Outputs from `::set-output name=value` stdout lines, overridden by the entries of the
    /// `$JOBWORKS_OUTPUT` file when both name the same output.
    pub outputs: BTreeMap<String, String>,
    /// The attempt's last checkpoint (compact JSON text): the `$JOBWORKS_CHECKPOINT_OUT` file
    /// when the task wrote a valid one, else its last valid `::checkpoint` line.
    pub checkpoint: Option<String>,
}

impl ProcessOutcome {
    /// True when the process exited by itself with status 0.
    pub fn succeeded(&self) -> bool {
        self.end == EndReason::Exited && self.exit_code == Some(0)
    }
}

/// Runs one process attempt to its end.
///
/// The child leads its own process group (pgid = pid) and `started` is called with its pid right
/// after the spawn. Stdout and stderr are read concurrently, split into lines (at most 64 KiB,
/// invalid UTF-8 replaced) and sent to `logs` as they arrive; a full `logs` channel slows the
/// child down rather than losing lines, and a dropped receiver is ignored.
///
/// On timeout or when `cancel` fires, the whole group gets `SIGTERM`, then `SIGKILL` after
/// `kill_grace`. When the child exits by itself, whatever is left of its group is killed: a
/// finished task's background processes do not outlive it. A process that moved to another
/// group or session and keeps the pipes open is found by its attempt tag and killed after a short
/// wait. If this future is dropped before it completes, the group is sent `SIGKILL`.
///
/// A task that is already cancelled is still started, then stopped at once.
///
/// # Errors
/// [`ExecError`] only when the attempt could not start: invalid task, missing program, unusable
/// working or outputs directory, pipe setup failure, or a failure to wait for the child. A
/// non-zero exit, a signal, a timeout or a cancellation is an `Ok` outcome.
pub async fn run_process(
    mut task: ProcessTask,
    cancel: CancellationToken,
    logs: mpsc::Sender<LogLine>,
    started: impl FnOnce(u32) + Send,
) -> Result<ProcessOutcome, ExecError> {
    validate(&task)?;
    let sink = LogSink::new(logs);
    if let Some(dir) = &task.working_dir {
        check_working_dir(dir).await?;
    }
    let outputs_file = match &task.outputs_dir {
        Some(dir) => Some(prepare_outputs_file(dir, &task.attempt_tag).await?),
        None => None,
    };
    let checkpoint_file = match &task.outputs_dir {
        Some(dir) => Some(prepare_file(
            dir,
            &format!("{}.checkpoint.json", task.attempt_tag),
        )?),
        None => None,
    };

    let containment = Arc::new(Containment::for_attempt());
    if containment.wraps() {
        let path = task
            .env
            .iter()
            .rev()
            .find(|(name, _)| name == "PATH")
            .map(|(_, value)| value.as_str());
        if !program_exists(&task.program, path, task.working_dir.as_deref()) {
            containment.discard();
            return Err(spawn_error(
                &task.program,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    let (program, args) = containment.command(&task.program, &task.args);
    let mut command = std::process::Command::new(&program);
    command
        .args(&args)
        .envs(task.env.iter().map(|(name, value)| (name, value)))
        .env(ATTEMPT_ID_ENV, &task.attempt_tag)
        .process_group(0)
        .stdin(if task.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &outputs_file {
        Some(path) => command.env(OUTPUT_FILE_ENV, path),
        None => command.env_remove(OUTPUT_FILE_ENV),
    };
    match &checkpoint_file {
        Some(path) => command.env(CHECKPOINT_OUT_ENV, path),
        None => command.env_remove(CHECKPOINT_OUT_ENV),
    };
    if let Some(dir) = &task.working_dir {
        command.current_dir(dir);
    }

    let mut child = match containment.spawn(|| command.spawn()) {
        Ok(child) => child,
        Err(source) => {
            containment.discard();
            return Err(spawn_error(&task.program, source));
        }
    };
    // the process exists from here on: this is when it started
    let started_at = Utc::now();
    let pid = child.id();
    let group = ProcessGroup::new(pid, containment.clone());
    // From here on, leaving early (error or a dropped future) kills the group; the waiter
    // thread reaps the child in every case.
    let _kill_on_drop = KillGroupOnDrop(group.clone());
    let waiter = spawn_waiter(&group);
    started(pid);
    tracing::debug!(pid, program = %task.program, tag = %task.attempt_tag, "process started");

    let (stdout, stderr, stdin) = (child.stdout.take(), child.stderr.take(), child.stdin.take());
    let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
        return Err(ExecError::Pipes(std::io::Error::other(
            "output pipe missing",
        )));
    };
    let stdout = tokio::process::ChildStdout::from_std(stdout).map_err(ExecError::Pipes)?;
    let stderr = tokio::process::ChildStderr::from_std(stderr).map_err(ExecError::Pipes)?;
    let _stdin_writer = match (stdin, task.stdin.take()) {
        (Some(stdin), Some(bytes)) => {
            let mut stdin =
                tokio::process::ChildStdin::from_std(stdin).map_err(ExecError::Pipes)?;
            Some(AbortOnDropHandle::new(tokio::spawn(async move {
                // EPIPE when the child does not read everything is fine.
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            })))
        }
        _ => None,
    };

    let (capture_tx, capture_rx) = mpsc::channel(CAPTURE_CHANNEL_LINES);
    let group_gone = CancellationToken::new();
    let readers = Readers {
        stdout: AbortOnDropHandle::new(tokio::spawn(read_stream(
            stdout,
            LogStream::Stdout,
            capture_tx.clone(),
            group_gone.clone(),
        ))),
        stderr: AbortOnDropHandle::new(tokio::spawn(read_stream(
            stderr,
            LogStream::Stderr,
            capture_tx,
            group_gone.clone(),
        ))),
        group_gone,
    };

    let control = Control {
        group: &group,
        task: &task,
        sink: &sink,
        cancel: &cancel,
    };
    let peak = AtomicU64::new(0);
    let sample_memory = || {
        for member in std::iter::once(pid).chain(containment.members()) {
            if let Some(bytes) = peak_rss_bytes(member) {
                peak.fetch_max(bytes, Ordering::Relaxed);
            }
        }
    };
    sample_memory();
    let controlled = async {
        let run = control.run(waiter, readers);
        tokio::pin!(run);
        let mut samples = 0;
        loop {
            tokio::select! {
                biased;
                finished = &mut run => break finished,
                _ = tokio::time::sleep(memory_sample_delay(samples)) => {
                    sample_memory();
                    samples += 1;
                }
            }
        }
    };
    let (collected, finished) = tokio::join!(
        collect(
            capture_rx,
            &sink,
            task.output_cap_bytes,
            task.reports.as_ref()
        ),
        controlled,
    );
    let (end, exit) = finished.map_err(|source| ExecError::Wait { pid, source })?;
    if !exit.escaped.is_empty() {
        sink.system(format!(
            "killed processes of the attempt outside its process group: {:?}",
            exit.escaped
        ))
        .await;
    }

    let mut outputs = collected.outputs;
    let limiter_end = collected.limiter.finish();
    for line in limiter_end.lines {
        sink.send(line).await;
    }
    if let Some(path) = &outputs_file {
        match read_outputs_file(path).await {
            Ok(Some(from_file)) => {
                outputs.extend(from_file);
                let _ = tokio::fs::remove_file(path).await;
            }
            Ok(None) => {}
            Err(message) => {
                sink.system(message).await;
                let _ = tokio::fs::remove_file(path).await;
            }
        }
    }
    let mut checkpoint = collected.checkpoint;
    if let Some(path) = &checkpoint_file {
        match read_checkpoint_file(path).await {
            Ok(Some(from_file)) => checkpoint = Some(from_file),
            Ok(None) => {}
            Err(message) => sink.system(message).await,
        }
        let _ = tokio::fs::remove_file(path).await;
    }
    if let (Some(reports), Some(last)) = (&task.reports, &checkpoint) {
        // the file's checkpoint, if any, is the attempt's last one
        reports.checkpoint.send_if_modified(|current| {
            let newer = current.as_ref() != Some(last);
            if newer {
                *current = Some(last.clone());
            }
            newer
        });
    }
    sink.system(describe_exit(&exit)).await;

    Ok(ProcessOutcome {
        pid,
        started_at,
        ended_at: Utc::now(),
        exit_code: exit.exit_code,
        signal: exit.signal,
        end,
        user_cpu_ms: exit.usage.user_cpu_ms,
        system_cpu_ms: exit.usage.system_cpu_ms,
        max_rss_bytes: Some(peak.load(Ordering::Relaxed)).filter(|&bytes| bytes > 0),
        bytes_dropped: limiter_end.bytes_dropped,
        outputs,
        checkpoint: checkpoint.map(|checkpoint| checkpoint.json),
    })
}

fn validate(task: &ProcessTask) -> Result<(), ExecError> {
    let invalid = |reason: &str| {
        Err(ExecError::InvalidTask {
            reason: reason.to_owned(),
        })
    };
    let tag = task.attempt_tag.as_str();
    if task.program.is_empty() {
        return invalid("program is empty");
    }
    if tag.is_empty() || tag == "." || tag == ".." || tag.contains(['/', '\0']) {
        return invalid("attempt tag must be non-empty, not `.` or `..`, without `/` or NUL");
    }
    Ok(())
}

async fn check_working_dir(dir: &std::path::Path) -> Result<(), ExecError> {
    let error = |source| ExecError::WorkingDir {
        path: dir.to_owned(),
        source,
    };
    // one stat: cheaper inline than a hop to the blocking pool before every spawn
    let metadata = std::fs::metadata(dir).map_err(error)?;
    if !metadata.is_dir() {
        return Err(error(std::io::Error::from(
            std::io::ErrorKind::NotADirectory,
        )));
    }
    Ok(())
}

/// Creates the outputs directory and removes a stale `<tag>.json`; returns that file's path.
async fn prepare_outputs_file(dir: &std::path::Path, tag: &str) -> Result<PathBuf, ExecError> {
    let error = |source| ExecError::OutputsDir {
        path: dir.to_owned(),
        source,
    };
    // a stat and an unlink: cheaper inline than two hops to the blocking pool per spawn
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    prepare_file(dir, &format!("{tag}.json"))
}

/// Removes a stale `dir/name` (the directory exists); returns that file's path.
fn prepare_file(dir: &std::path::Path, name: &str) -> Result<PathBuf, ExecError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(ExecError::OutputsDir {
                path: dir.to_owned(),
                source,
            })
        }
        _ => Ok(path),
    }
}

fn spawn_error(program: &str, source: std::io::Error) -> ExecError {
    let program = program.to_owned();
    match source.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            ExecError::ProgramNotFound { program, source }
        }
        _ => ExecError::Spawn { program, source },
    }
}

fn describe_exit(exit: &ExitInfo) -> String {
    match (exit.exit_code, exit.signal) {
        (Some(code), _) => format!("process exited with code {code}"),
        (None, Some(signal)) => format!("process killed by signal {}", signal_name(signal)),
        (None, None) => "process ended with an unknown status".to_owned(),
    }
}

fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(known) => format!("{signal} ({})", known.as_str()),
        Err(_) => signal.to_string(),
    }
}

/// The waiter's result: the leader's exit, or why waiting failed.
type Waited = std::io::Result<ExitInfo>;

/// Waits for the leader on a dedicated thread (not tokio's blocking pool, which long tasks
/// would exhaust and which `tokio::fs` needs), falling back to the pool if no thread can be made.
fn spawn_waiter(group: &ProcessGroup) -> oneshot::Receiver<Waited> {
    let wait = |group: ProcessGroup, sender: oneshot::Sender<Waited>| {
        move || {
            // The receiver is gone only when `run_process` was dropped; reaping still matters.
            let _ = sender.send(group.wait_blocking());
        }
    };
    let (sender, receiver) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("jobworks-wait-{}", group.pgid()))
        .stack_size(WAITER_STACK_BYTES)
        .spawn(wait(group.clone(), sender));
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start a waiter thread; using the blocking pool");
        // The failed spawn dropped the first sender with its closure.
        let (sender, receiver) = oneshot::channel();
        tokio::task::spawn_blocking(wait(group.clone(), sender));
        return receiver;
    }
    receiver
}

/// Sends `SIGKILL` to the group when dropped; a no-op once the leader has been reaped.
struct KillGroupOnDrop(ProcessGroup);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        self.0.signal(Signal::SIGKILL);
    }
}

/// A captured line on its way from a pipe reader to the collector.
struct Captured {
    line: LogLine,
    raw_len: u64,
}

/// How a pipe reader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// End of file, or the collector is gone.
    Done,
    /// The group was gone and no data came for [`PIPE_IDLE_AFTER_EXIT`]: someone outside the
    /// group holds the pipe open.
    HeldOpen,
}

/// Reads one pipe to its end, sending lines. Once `group_gone` fires, a read that waits longer
/// than [`PIPE_IDLE_AFTER_EXIT`] ends it; time spent waiting on a full channel does not count.
async fn read_stream(
    mut pipe: impl AsyncRead + Unpin,
    stream: LogStream,
    lines: mpsc::Sender<Captured>,
    group_gone: CancellationToken,
) -> ReadEnd {
    let mut buffer = vec![0_u8; MAX_LINE_BYTES];
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    let mut cut = Vec::new();
    let mut end = ReadEnd::Done;
    loop {
        let idle_after_exit = async {
            group_gone.cancelled().await;
            tokio::time::sleep(PIPE_IDLE_AFTER_EXIT).await;
        };
        let read = tokio::select! {
            biased;
            read = pipe.read(&mut buffer) => read,
            () = idle_after_exit => {
                end = ReadEnd::HeldOpen;
                break;
            }
        };
        match read {
            Ok(0) => break,
            Ok(count) => splitter.push(&buffer[..count], &mut cut),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(?stream, %error, "reading task output failed");
                break;
            }
        }
        for raw in cut.drain(..) {
            if lines.send(captured(raw, stream)).await.is_err() {
                return ReadEnd::Done;
            }
        }
    }
    if let Some(raw) = splitter.finish() {
        let _ = lines.send(captured(raw, stream)).await;
    }
    end
}

fn captured(raw: RawLine, stream: LogStream) -> Captured {
    Captured {
        line: LogLine {
            continues: raw.cut,
            ..LogLine::now(stream, String::from_utf8_lossy(&raw.bytes))
        },
        raw_len: raw.raw_len,
    }
}

struct Collected {
    limiter: OutputLimiter,
    outputs: BTreeMap<String, String>,
    checkpoint: Option<Checkpoint>,
}

/// Records outputs, consumes batch directives (publishing them to `reports`) and forwards
/// the other lines within the cap until both readers are done.
async fn collect(
    mut lines: mpsc::Receiver<Captured>,
    sink: &LogSink,
    cap_bytes: u64,
    reports: Option<&BatchReports>,
) -> Collected {
    let mut collected = Collected {
        limiter: OutputLimiter::new(cap_bytes),
        outputs: BTreeMap::new(),
        checkpoint: None,
    };
    let mut warned = false;
    while let Some(Captured { line, raw_len }) = lines.recv().await {
        if line.stream == LogStream::Stdout && line.text.starts_with("::") {
            if let Some((name, value)) = parse_set_output(&line.text) {
                collected.outputs.insert(name, value);
            }
            match parse_directive(&line.text, line.at) {
                Directive::None => {}
                Directive::Progress(progress) => {
                    if let Some(reports) = reports {
                        reports.progress.send_replace(Some(progress));
                    }
                    continue;
                }
                Directive::Checkpoint(checkpoint) => {
                    if let Some(reports) = reports {
                        reports.checkpoint.send_replace(Some(checkpoint.clone()));
                    }
                    collected.checkpoint = Some(checkpoint);
                    continue;
                }
                Directive::TooLarge(bytes) => {
                    sink.system(too_large_message(bytes)).await;
                    continue;
                }
                Directive::Malformed(reason) if !warned => {
                    warned = true;
                    sink.system(format!(
                        "warning: a malformed batch directive was logged as an ordinary line \
                         ({reason}); later ones are not warned about"
                    ))
                    .await;
                }
                Directive::Malformed(_) => {}
            }
        }
        if let Some(line) = collected.limiter.admit(line, raw_len) {
            sink.send(line).await;
        }
    }
    collected
}

struct Readers {
    stdout: AbortOnDropHandle<ReadEnd>,
    stderr: AbortOnDropHandle<ReadEnd>,
    /// Fired once the leader is reaped and the rest of its group killed.
    group_gone: CancellationToken,
}

impl Readers {
    /// Whether either pipe was held open by a process outside the group.
    async fn join(&mut self) -> bool {
        let (stdout, stderr) = tokio::join!(&mut self.stdout, &mut self.stderr);
        // A join error can only be a cancellation by `abort`.
        [stdout, stderr]
            .into_iter()
            .any(|end| matches!(end, Ok(ReadEnd::HeldOpen)))
    }

    fn abort(&self) {
        self.stdout.abort();
        self.stderr.abort();
    }
}

/// The timeout, cancellation and termination logic of one attempt.
struct Control<'a> {
    group: &'a ProcessGroup,
    task: &'a ProcessTask,
    sink: &'a LogSink,
    cancel: &'a CancellationToken,
}

impl Control<'_> {
    /// Waits for the child (stopping it on timeout or cancel), then for the pipes to drain.
    async fn run(
        self,
        mut waiter: oneshot::Receiver<Waited>,
        mut readers: Readers,
    ) -> std::io::Result<(EndReason, ExitInfo)> {
        let deadline = self.task.timeout.map(|timeout| Instant::now() + timeout);
        let timed_out = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let paused = async {
            match &self.task.pause {
                Some(pause) => pause.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let (end, waited) = tokio::select! {
            biased;
            waited = &mut waiter => (EndReason::Exited, waited),
            () = timed_out => {
                let timeout = self.task.timeout.unwrap_or_default();
                self.sink
                    .system(format!("timed out after {} ms: sending SIGTERM to the process group", timeout.as_millis()))
                    .await;
                (EndReason::TimedOut, self.terminate(&mut waiter).await)
            }
            () = self.cancel.cancelled() => {
                self.sink.system("cancelled: sending SIGTERM to the process group").await;
                (EndReason::Cancelled, self.terminate(&mut waiter).await)
            }
            () = paused => {
                self.sink
                    .system("pause asked: sending SIGUSR1 to the process group (checkpoint and exit)")
                    .await;
                (EndReason::Paused, self.stop_for_pause(&mut waiter).await)
            }
        };
        let exit = match waited {
            Ok(Ok(exit)) => exit,
            Ok(Err(error)) => {
                readers.abort();
                return Err(error);
            }
            Err(_) => {
                readers.abort();
                return Err(std::io::Error::other("the waiter thread died"));
            }
        };
        self.drain(&mut readers).await;
        Ok((end, exit))
    }

    /// `SIGUSR1` to the group; when the leader is still running after the grace period,
    /// [`Control::terminate`]. Waits for the leader.
    async fn stop_for_pause(
        &self,
        waiter: &mut oneshot::Receiver<Waited>,
    ) -> Result<Waited, oneshot::error::RecvError> {
        self.group.signal(Signal::SIGUSR1);
        if let Ok(waited) = tokio::time::timeout(self.task.kill_grace, &mut *waiter).await {
            return waited;
        }
        self.sink
            .system(format!(
                "still running {} ms after SIGUSR1: sending SIGTERM to the process group",
                self.task.kill_grace.as_millis()
            ))
            .await;
        self.terminate(waiter).await
    }

    /// `SIGTERM` to the group, then `SIGKILL` after the grace period; waits for the leader.
    async fn terminate(
        &self,
        waiter: &mut oneshot::Receiver<Waited>,
    ) -> Result<Waited, oneshot::error::RecvError> {
        self.group.signal(Signal::SIGTERM);
        if let Ok(waited) = tokio::time::timeout(self.task.kill_grace, &mut *waiter).await {
            return waited;
        }
        self.sink
            .system(format!(
                "still running {} ms after SIGTERM: sending SIGKILL to the process group",
                self.task.kill_grace.as_millis()
            ))
            .await;
        self.group.signal(Signal::SIGKILL);
        waiter.await
    }

    /// Waits for both pipes to reach end of file (the group is gone by now). When a process that
    /// left the group holds them open, or they are still busy after [`MAX_READ_AFTER_EXIT`],
    /// reading stops and leftovers carrying this attempt's tag are killed.
    async fn drain(&self, readers: &mut Readers) {
        readers.group_gone.cancel();
        match tokio::time::timeout(MAX_READ_AFTER_EXIT, readers.join()).await {
            Ok(false) => return,
            Ok(true) => {
                self.sink
                    .system("output pipes held open by a process outside the task's process group: stopped reading")
                    .await;
            }
            Err(_) => {
                readers.abort();
                self.sink
                    .system(format!(
                        "output still flowing {} s after the process group ended: stopped reading",
                        MAX_READ_AFTER_EXIT.as_secs()
                    ))
                    .await;
            }
        }
        let tags = vec![self.task.attempt_tag.clone()];
        if let Ok(killed) = tokio::task::spawn_blocking(move || sweep_orphans(&tags)).await
            && !killed.is_empty()
        {
            self.sink
                .system(format!(
                    "killed processes that left the task's process group: {killed:?}"
                ))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_samples_start_dense_then_settle_at_the_interval() {
        let delays: Vec<u64> = (0..9)
            .map(|n| memory_sample_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 50, 50, 50]);
        assert_eq!(memory_sample_delay(u32::MAX), MEMORY_SAMPLE_INTERVAL);
    }
}
