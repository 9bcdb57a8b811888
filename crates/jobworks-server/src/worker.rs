//! The server's own worker pool: [`jobworks_worker::Pool`] fed by a control plane that works
//! directly on the store ([`LocalControl`]). A remote agent runs the same pool over the
//! network; everything the pool may know of the server passes through here.

use crate::config::{Datasource, ServerConfig};
use crate::finisher::Record;
use crate::logs::{LogMsg, LogSender};
use crate::metrics::Metrics;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::{AttemptId, TaskSpec};
use jobworks_store::{
    AttemptFinish, BatchReport, Claim, ClaimKind, ClaimScope, LogStream, NewLogLine, Store,
    StoreError, TaskProgress,
};
use jobworks_worker::{
    Assignment, AttemptReport, BatchAck, BatchUpdate, ControlError, ControlPlane, DatasourceAccess,
    LOOKAHEAD, LeaseReply, LogLineKind, LogRecord, TaskKind,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The datasources this server resolves for SQL tasks: the config's `[datasources]` and
/// `jobworks` (the store itself, when it has a URL).
#[derive(Clone, Debug, Default)]
pub struct Datasources {
    store_url: Option<String>,
    configured: Vec<Datasource>,
}

impl Datasources {
    /// From the server configuration.
    pub fn from_config(config: &ServerConfig) -> Datasources {
        Datasources {
            store_url: config.store_url.clone(),
            configured: config.datasources.clone(),
        }
    }

    /// The datasource `name` with its URL, if known.
    pub fn resolve(&self, name: &str) -> Option<DatasourceAccess> {
        let url = if name == "jobworks" {
            self.store_url.clone()
        } else {
            self.configured
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.url.clone())
        }?;
        Some(DatasourceAccess {
            name: name.to_owned(),
            url,
        })
    }

    /// A claim as the worker runs it: the task's kind from the claim, and for a SQL task the
    /// one datasource it uses (no other task gets credentials).
    pub fn assignment(&self, claim: Claim) -> Assignment {
        let datasource = match &claim.spec.task {
            TaskSpec::Sql { datasource, .. } => self.resolve(datasource),
            _ => None,
        };
        Assignment {
            attempt_id: claim.attempt_id,
            run_id: claim.run_id,
            task_instance_id: claim.task_instance_id,
            kind: match claim.kind {
                ClaimKind::Job => TaskKind::Job,
                ClaimKind::WorkflowTask => TaskKind::WorkflowTask { task: claim.task },
            },
            attempt_no: claim.attempt_no,
            try_no: claim.try_no,
            job_version: claim.job_version,
            spec: claim.spec,
            params: claim.params,
            env: claim.env,
            scheduled_at: claim.scheduled_at,
            not_before: claim.not_before,
            lease_expires_at: claim.lease_expires_at,
            datasource,
        }
    }
}

/// Waits (at most 10 s) until the log writer has stored every line sent before.
pub async fn flush_logs(logs: &LogSender) {
    let (ack, flushed) = tokio::sync::oneshot::channel();
    if logs.send(LogMsg::Flush(ack)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(10), flushed).await;
    }
}

/// The in-process control plane: claims and leases on the store, log lines to the log
/// writer, starts and ends to the finisher (which records them in batches).
pub struct LocalControl {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The worker id: this server's, or an agent's.
    pub worker: String,
    /// What its claims may take: the server's pool takes untargeted task instances only, an
    /// agent those placed on it (routing, `Store::claim`).
    pub scope: ClaimScope,
    /// Lease length, ms.
    pub lease_ms: u64,
    /// The server's wall clock.
    pub clock: crate::clock::Clock,
    /// Starts and ends go to the finisher.
    pub records: mpsc::Sender<Record>,
    /// Log lines go to the log writer.
    pub logs: LogSender,
    /// Claim latency and schedule lag.
    pub metrics: Arc<Metrics>,
    /// What SQL tasks may connect to.
    pub datasources: Datasources,
}

fn control_error(e: StoreError) -> ControlError {
    ControlError {
        transient: e.is_transient(),
        message: e.to_string(),
    }
}

#[async_trait]
impl ControlPlane for LocalControl {
    async fn claim(&self, max: u32) -> Result<Vec<Assignment>, ControlError> {
        let now = self.clock.now();
        let claims = self
            .store
            .claim(
                &self.worker,
                &self.scope,
                max,
                self.lease_ms,
                now,
                now + LOOKAHEAD,
            )
            .await
            .map_err(control_error)?;
        Ok(claims
            .into_iter()
            .map(|c| self.datasources.assignment(c))
            .collect())
    }

    fn started(&self, attempt: AttemptId, pid: u32, at: DateTime<Utc>) {
        // a hint only: when the queue is full the finish carries it
        let _ = self.records.try_send(Record::Started {
            attempt,
            pid: Some(i64::from(pid)),
            at,
        });
    }

    async fn log(&self, line: LogRecord) -> bool {
        let stream = match line.stream {
            LogLineKind::Stdout => LogStream::Stdout,
            LogLineKind::Stderr => LogStream::Stderr,
            LogLineKind::System => LogStream::System,
        };
        self.logs
            .send(LogMsg::Line(NewLogLine {
                attempt_id: line.attempt_id,
                run_id: line.run_id,
                at: line.at,
                stream,
                text: line.text,
            }))
            .await
            .is_ok()
    }

    async fn flush_logs(&self) {
        flush_logs(&self.logs).await;
    }

    async fn report_batch(&self, update: BatchUpdate) -> Result<BatchAck, ControlError> {
        let sync = self
            .store
            .record_batch_report(BatchReport {
                attempt_id: update.attempt_id,
                worker: self.worker.clone(),
                progress: update.progress.map(|p| TaskProgress {
                    done: p.done,
                    total: p.total,
                    unit: p.unit,
                    updated_at: p.at,
                }),
                checkpoint: update.checkpoint,
                at: update.at,
            })
            .await
            .map_err(control_error)?;
        Ok(BatchAck {
            held: sync.held,
            pause_requested: sync.pause_requested,
        })
    }

    async fn renew(&self, attempts: &[AttemptId]) -> Result<Vec<LeaseReply>, ControlError> {
        let statuses = self
            .store
            .renew_leases(&self.worker, attempts, self.lease_ms, self.clock.now())
            .await
            .map_err(control_error)?;
        Ok(statuses
            .into_iter()
            .map(|s| LeaseReply {
                attempt_id: s.attempt_id,
                held: s.held,
                cancel_requested: s.cancel_requested,
            })
            .collect())
    }

    async fn finish(&self, assignment: &Assignment, report: AttemptReport) {
        let retry_at = crate::retry::next_attempt_at(
            &assignment.spec,
            assignment.try_no,
            report.state,
            report.interrupted,
            report.ended_at,
            rand::random(),
        );
        let finish = AttemptFinish {
            attempt_id: report.attempt_id,
            worker: self.worker.clone(),
            state: report.state,
            pid: report.pid,
            started_at: report.started_at,
            ended_at: report.ended_at,
            exit_code: report.exit_code,
            signal: report.signal,
            user_cpu_ms: report.user_cpu_ms,
            system_cpu_ms: report.system_cpu_ms,
            max_rss_bytes: report.max_rss_bytes,
            bytes_dropped: report.bytes_dropped,
            error: report.error,
            outputs: report.outputs,
            retry_at,
        };
        let _ = self
            .records
            .send(Record::Finished {
                finish: Box::new(finish),
                job: assignment.spec.name.clone(),
                workflow: assignment.is_workflow_task(),
            })
            .await;
    }

    fn claim_latency(&self, seconds: f64) {
        self.metrics.claim_latency(seconds);
    }

    fn schedule_lag(&self, seconds: f64) {
        self.metrics.schedule_lag(seconds);
    }
}
