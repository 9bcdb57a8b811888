//! The worker pool against a control plane held in memory (the seam a remote agent also
//! implements): real processes and a real SQLite datasource, every wait on a condition with
//! a deadline.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::file::{FileContext, parse_job_file};
use jobworks_domain::{AttemptId, AttemptState, JobSpec, RunId, TaskInstanceId};
use jobworks_worker::{
    Assignment, AttemptReport, BatchAck, BatchUpdate, Clock, ControlError, ControlPlane,
    DatasourceAccess, LeaseReply, LogLineKind, LogRecord, Pool, TaskKind, WorkerSettings,
};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything the pool told the control plane, and what it should answer.
#[derive(Default)]
struct Memory {
    queue: VecDeque<Assignment>,
    asked: Vec<u32>,
    logs: Vec<LogRecord>,
    reports: Vec<AttemptReport>,
    batches: Vec<BatchUpdate>,
    started: Vec<AttemptId>,
    renewed: usize,
    lost: HashSet<AttemptId>,
    paused: HashSet<AttemptId>,
    /// Renewals fail at once (the control plane refuses connections).
    renew_fails: bool,
    /// Renewals that failed.
    failed: usize,
    /// Renewals never answer (a dead link: the call hangs).
    renew_hangs: bool,
}

#[derive(Default)]
struct MemoryControl {
    memory: Mutex<Memory>,
    changed: Notify,
}

impl MemoryControl {
    fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        let out = f(&mut self.memory.lock().expect("memory"));
        self.changed.notify_waiters();
        out
    }

    /// Waits (at most 20 s) until `done` holds.
    async fn until(&self, what: &str, done: impl Fn(&Memory) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let waiting = self.changed.notified();
            if done(&self.memory.lock().expect("memory")) {
                return;
            }
            tokio::select! {
                _ = waiting => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

#[async_trait]
impl ControlPlane for MemoryControl {
    async fn claim(&self, max: u32) -> Result<Vec<Assignment>, ControlError> {
        Ok(self.with(|m| {
            m.asked.push(max);
            let n = (max as usize).min(m.queue.len());
            m.queue.drain(..n).collect()
        }))
    }

    fn started(&self, attempt: AttemptId, _pid: u32, _at: DateTime<Utc>) {
        self.with(|m| m.started.push(attempt));
    }

    async fn log(&self, line: LogRecord) -> bool {
        self.with(|m| m.logs.push(line));
        true
    }

    async fn flush_logs(&self) {}

    async fn report_batch(&self, update: BatchUpdate) -> Result<BatchAck, ControlError> {
        let attempt = update.attempt_id;
        Ok(self.with(|m| {
            m.batches.push(update);
            BatchAck {
                held: true,
                pause_requested: m.paused.contains(&attempt),
            }
        }))
    }

    async fn renew(&self, attempts: &[AttemptId]) -> Result<Vec<LeaseReply>, ControlError> {
        let (fails, hangs) = self.with(|m| {
            m.failed += usize::from(m.renew_fails);
            (m.renew_fails, m.renew_hangs)
        });
        if hangs {
            std::future::pending::<()>().await;
        }
        if fails {
            return Err(ControlError {
                message: "connection refused".into(),
                transient: true,
            });
        }
        Ok(self.with(|m| {
            m.renewed += 1;
            attempts
                .iter()
                .map(|a| LeaseReply {
                    attempt_id: *a,
                    held: !m.lost.contains(a),
                    cancel_requested: false,
                })
                .collect()
        }))
    }

    async fn finish(&self, _assignment: &Assignment, report: AttemptReport) {
        self.with(|m| m.reports.push(report));
    }
}

fn spec(toml: &str) -> JobSpec {
    let mut jobs = parse_job_file("test.toml", toml, &FileContext::default()).expect("valid job");
    jobs.remove(0)
}

fn shell(script: &str) -> JobSpec {
    spec(&format!(
        "[[job]]\nname = \"t\"\n[job.task]\ntype = \"shell\"\nscript = '''\n{script}\n'''\n"
    ))
}

fn assignment(id: i64, spec: JobSpec, params: serde_json::Value) -> Assignment {
    Assignment {
        attempt_id: AttemptId(id),
        run_id: RunId(id),
        task_instance_id: TaskInstanceId(id),
        kind: TaskKind::Job,
        attempt_no: 1,
        try_no: 1,
        job_version: 1,
        spec,
        params,
        env: Default::default(),
        scheduled_at: None,
        not_before: None,
        lease_expires_at: Utc::now() + chrono::Duration::seconds(60),
        datasource: None,
    }
}

struct Running {
    /// Nothing hands work over in these tests; the sender lives as long as the pool.
    _handoff: mpsc::UnboundedSender<jobworks_worker::Handoff>,
    control: Arc<MemoryControl>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

fn start(slots: usize, lease: Duration, queue: Vec<Assignment>) -> Running {
    start_with(slots, lease, None, queue)
}

/// [`start`] with a `max_disconnect` (`None`: the default for the lease and 500 ms grace).
fn start_with(
    slots: usize,
    lease: Duration,
    max_disconnect: Option<Duration>,
    queue: Vec<Assignment>,
) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let control = Arc::new(MemoryControl::default());
    control.with(|m| m.queue.extend(queue));
    let pool = Pool::new(
        WorkerSettings {
            worker_id: "test-worker".into(),
            slots,
            lease,
            poll_interval: Duration::from_millis(20),
            data_dir: dir.path().to_path_buf(),
            kill_grace: Duration::from_millis(500),
            max_disconnect,
            task_env: Vec::new(),
            installation: format!("worker-test-{}", std::process::id()),
            clock: Clock::system(),
        },
        control.clone(),
    );
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (handoff_tx, handoff_rx) = mpsc::unbounded_channel();
    let attempts = TaskTracker::new();
    tracker.spawn(
        pool.clone()
            .run(attempts.clone(), shutdown.clone(), handoff_rx),
    );
    tracker.spawn(
        pool.clone()
            .keep_leases(Arc::new(Notify::new()), shutdown.clone()),
    );
    Running {
        _handoff: handoff_tx,
        control,
        shutdown,
        tracker,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_every_assignment_within_its_slots_and_reports_each_end() {
    let queue = (1..=6)
        .map(|i| {
            assignment(
                i,
                shell("echo \"hello $JOBWORKS_RUN_ID\""),
                serde_json::json!({}),
            )
        })
        .collect();
    let w = start(2, Duration::from_secs(30), queue);
    w.control
        .until("six reports", |m| m.reports.len() == 6)
        .await;
    let m = w.control.memory.lock().expect("memory");
    assert!(
        m.asked.iter().all(|n| *n <= 2),
        "never asks for more than its slots: {:?}",
        m.asked
    );
    for report in &m.reports {
        assert_eq!(report.state, AttemptState::Succeeded, "{report:?}");
        assert_eq!(report.exit_code, Some(0));
        assert!(!report.interrupted);
        let id = report.attempt_id;
        let said = format!("hello {}", id.0);
        assert!(
            m.logs
                .iter()
                .any(|l| l.attempt_id == id && l.stream == LogLineKind::Stdout && l.text == said),
            "attempt {id} logged its line"
        );
        assert!(m.started.contains(&id), "attempt {id} reported its start");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_no_longer_held_stops_the_attempt() {
    let w = start(
        1,
        Duration::from_millis(300),
        vec![assignment(1, shell("sleep 30"), serde_json::json!({}))],
    );
    w.control
        .until("the start", |m| !m.started.is_empty())
        .await;
    w.control.with(|m| m.lost.insert(AttemptId(1)));
    w.control.until("the end", |m| !m.reports.is_empty()).await;
    let m = w.control.memory.lock().expect("memory");
    let report = &m.reports[0];
    // stopped by the worker, not by a user: `lost`, interrupted, with the reason
    assert_eq!(report.state, AttemptState::Lost, "{report:?}");
    assert!(report.interrupted, "{report:?}");
    let why = report.error.as_deref().unwrap_or_default();
    assert!(why.contains("lease is no longer this worker's"), "{why}");
    assert!(m.renewed > 0);
}

/// Renewals that hang (a dead link): the attempt is stopped once `max_disconnect` (here the
/// default for a 1.2 s lease and 500 ms grace: 500 ms) passes without a confirmed renewal,
/// well before its lease would run out, and its report says it fenced itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_fences_its_attempt_before_the_lease_runs_out() {
    let lease = Duration::from_millis(1200);
    let w = start(
        1,
        lease,
        vec![assignment(1, shell("sleep 30"), serde_json::json!({}))],
    );
    w.control
        .until("the start and a renewal", |m| {
            !m.started.is_empty() && m.renewed > 0
        })
        .await;
    let cut = std::time::Instant::now();
    w.control.with(|m| m.renew_hangs = true);
    w.control.until("the end", |m| !m.reports.is_empty()).await;
    let took = cut.elapsed();
    let m = w.control.memory.lock().expect("memory");
    let report = &m.reports[0];
    assert_eq!(report.state, AttemptState::Lost, "{report:?}");
    assert!(report.interrupted, "{report:?}");
    assert_eq!(report.signal, Some(15), "stopped by SIGTERM: {report:?}");
    let why = report.error.as_deref().unwrap_or_default();
    assert!(why.starts_with("self-fenced: "), "{why}");
    assert!(why.contains("max_disconnect 500 ms"), "{why}");
    assert!(
        took < lease,
        "fenced {took:?} after the cut, lease {lease:?}"
    );
}

/// Renewals failing for less than `max_disconnect` fence nothing: the attempt runs on and
/// succeeds once they work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_outage_fences_nothing() {
    let w = start_with(
        1,
        Duration::from_secs(3),
        Some(Duration::from_millis(900)),
        vec![assignment(1, shell("sleep 1.5"), serde_json::json!({}))],
    );
    w.control
        .until("the start and a renewal", |m| {
            !m.started.is_empty() && m.renewed > 0
        })
        .await;
    let renewed = w.control.with(|m| {
        m.renew_fails = true;
        m.renewed
    });
    // failing renewals are retried every 75 ms: an outage of four failed tries (≥ 300 ms)
    w.control
        .until("four failed renewals", |m| m.failed >= 4)
        .await;
    w.control.with(|m| m.renew_fails = false);
    w.control
        .until("a renewal after the outage", |m| m.renewed > renewed)
        .await;
    w.control.until("the end", |m| !m.reports.is_empty()).await;
    let m = w.control.memory.lock().expect("memory");
    assert_eq!(
        m.reports[0].state,
        AttemptState::Succeeded,
        "{:?}",
        m.reports[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_worker_reports_its_attempts_interrupted() {
    let w = start(
        1,
        Duration::from_secs(30),
        vec![assignment(1, shell("sleep 30"), serde_json::json!({}))],
    );
    w.control
        .until("the start", |m| !m.started.is_empty())
        .await;
    w.shutdown.cancel();
    w.control.until("the end", |m| !m.reports.is_empty()).await;
    w.tracker.close();
    tokio::time::timeout(Duration::from_secs(20), w.tracker.wait())
        .await
        .expect("the pool stops");
    let m = w.control.memory.lock().expect("memory");
    let report = &m.reports[0];
    assert_eq!(
        (report.state, report.interrupted),
        (AttemptState::Lost, true),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_params_never_reach_the_control_plane() {
    let job = spec(
        "[[job]]\nname = \"s\"\n[job.task]\ntype = \"shell\"\nscript = 'echo \"token=$JOBWORKS_PARAM_TOKEN\"; echo \"::set-output t=$JOBWORKS_PARAM_TOKEN\"'\n[job.params.token]\ntype = \"string\"\nsecret = true\n",
    );
    let w = start(
        1,
        Duration::from_secs(30),
        vec![assignment(
            1,
            job,
            serde_json::json!({"token": "hunter2-secret"}),
        )],
    );
    w.control.until("the end", |m| !m.reports.is_empty()).await;
    let m = w.control.memory.lock().expect("memory");
    assert_eq!(
        m.reports[0].state,
        AttemptState::Succeeded,
        "{:?}",
        m.reports[0]
    );
    assert!(m.logs.iter().any(|l| l.text == "token=***"), "{:?}", m.logs);
    assert!(m.logs.iter().all(|l| !l.text.contains("hunter2")));
    assert!(
        !m.reports[0].outputs.to_string().contains("hunter2"),
        "{}",
        m.reports[0].outputs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_task_gets_only_its_own_datasource() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("data.db");
    let job = spec(
        "[[job]]\nname = \"q\"\n[job.task]\ntype = \"sql\"\ndatasource = \"reports\"\nquery = \"SELECT ? + 1 AS n\"\nbind = [\"x\"]\n[job.params.x]\ntype = \"int\"\n",
    );
    let mut known = assignment(1, job.clone(), serde_json::json!({"x": 41}));
    known.datasource = Some(DatasourceAccess {
        name: "reports".into(),
        url: format!("sqlite:{}?mode=rwc", db.display()),
    });
    let mut other = assignment(2, job, serde_json::json!({"x": 1}));
    other.datasource = Some(DatasourceAccess {
        name: "billing".into(),
        url: format!("sqlite:{}?mode=rwc", db.display()),
    });
    let w = start(2, Duration::from_secs(30), vec![known, other]);
    w.control.until("two ends", |m| m.reports.len() == 2).await;
    let m = w.control.memory.lock().expect("memory");
    let by = |id: i64| {
        m.reports
            .iter()
            .find(|r| r.attempt_id == AttemptId(id))
            .expect("report")
    };
    assert_eq!(by(1).state, AttemptState::Succeeded, "{:?}", by(1));
    assert_eq!(
        by(1).outputs["rows"][0]["n"],
        serde_json::json!(42),
        "{}",
        by(1).outputs
    );
    // an access for another datasource is not used, whatever its URL
    assert_eq!(by(2).state, AttemptState::Failed);
    assert!(
        by(2)
            .error
            .as_deref()
            .unwrap_or("")
            .contains("unknown datasource `reports`"),
        "{:?}",
        by(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_reported_and_a_pause_stops_the_task() {
    let job = shell("echo '::progress 1/4 rows'\necho '::checkpoint {\"done\":1}'\nsleep 30");
    let w = start(
        1,
        Duration::from_secs(30),
        vec![assignment(1, job, serde_json::json!({}))],
    );
    w.control
        .until("a progress report", |m| {
            m.batches.iter().any(|b| b.progress.is_some())
        })
        .await;
    w.control.with(|m| m.paused.insert(AttemptId(1)));
    w.control.until("the end", |m| !m.reports.is_empty()).await;
    let m = w.control.memory.lock().expect("memory");
    assert_eq!(
        m.reports[0].state,
        AttemptState::Paused,
        "{:?}",
        m.reports[0]
    );
    let progress = m
        .batches
        .iter()
        .find_map(|b| b.progress.clone())
        .expect("progress");
    assert_eq!((progress.done, progress.total), (1.0, Some(4.0)));
    assert!(
        m.batches
            .iter()
            .any(|b| b.checkpoint.as_deref() == Some("{\"done\":1}")),
        "{:?}",
        m.batches
    );
}
