//! Runs one assigned attempt: turns the job spec and parameters into an executor request,
//! forwards its log lines, and returns how it ended as an [`AttemptReport`].

use crate::assignment::Assignment;
use crate::control::{AttemptReport, ControlPlane, LogLineKind, LogRecord};
use crate::mask::SecretMask;
use crate::settings::WorkerSettings;
use jobworks_domain::params::env_var_name;
use jobworks_domain::workflow::data::output_reference;
use jobworks_domain::workflow::input_env_name;
use jobworks_domain::{AttemptState, JobSpec, ParamValue, ShellKind, TaskSpec};
use jobworks_executor::{
    BatchReports, EndReason, LogLine, LogStream as ExecStream, ProcessTask, ScriptOrFile,
    SqlConnections, SqlTask, SqlValue, python_command, run_process, run_sql_with, shell_command,
};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The tag an attempt's processes carry (`JOBWORKS_ATTEMPT_ID`): `<installation>-<attempt>`,
/// unique across the stores of a host.
pub fn attempt_tag(installation: &str, attempt: jobworks_domain::AttemptId) -> String {
    format!("{installation}-{attempt}")
}

/// Runs the attempt to its end and returns its report (never fails: a task that cannot even
/// start is a failed attempt with the reason in `error`). Its log lines, progress and
/// checkpoints go to `control` as they come; the lines may not be stored yet when this
/// returns (see [`ControlPlane::flush_logs`]). `started` is called with the pid once the
/// process runs. A SQL task takes its connection from `connections` when one is kept for
/// its datasource, and leaves it there when that is safe.
pub async fn run_attempt(
    settings: &WorkerSettings,
    control: &dyn ControlPlane,
    connections: &Arc<SqlConnections>,
    claim: &Assignment,
    cancel: CancellationToken,
    started: impl FnOnce(u32) + Send,
) -> AttemptReport {
    let params = param_values(&claim.spec, &claim.params);
    // every line, output and error passes the mask before it is stored or streamed
    let mask = secret_mask(&claim.spec, &params);
    let (tx, rx) = mpsc::channel::<LogLine>(1024);
    let forward = forward_logs(rx, control, claim.attempt_id, claim.run_id, mask.clone());
    let io = Io {
        settings,
        control,
        connections,
    };
    let run = run_task(io, claim, &params, &mask, tx, cancel, started);
    let (finish, ()) = tokio::join!(run, forward);
    finish
}

/// What an attempt reaches outside itself.
struct Io<'a> {
    settings: &'a WorkerSettings,
    control: &'a dyn ControlPlane,
    connections: &'a Arc<SqlConnections>,
}

/// The attempt itself, its log lines sent on `tx` (closed when this returns).
async fn run_task(
    io: Io<'_>,
    claim: &Assignment,
    params: &[(String, ParamValue)],
    mask: &SecretMask,
    tx: mpsc::Sender<LogLine>,
    cancel: CancellationToken,
    started: impl FnOnce(u32) + Send,
) -> AttemptReport {
    let Io {
        settings,
        control,
        connections,
    } = io;
    let mut finish = AttemptReport {
        attempt_id: claim.attempt_id,
        state: AttemptState::Failed,
        interrupted: false,
        pid: None,
        started_at: None,
        ended_at: settings.clock.now(),
        exit_code: None,
        signal: None,
        user_cpu_ms: None,
        system_cpu_ms: None,
        max_rss_bytes: None,
        bytes_dropped: 0,
        error: None,
        outputs: serde_json::json!({}),
    };
    match &claim.spec.task {
        TaskSpec::Sql {
            datasource,
            query,
            bind,
            multi_statement,
        } => match claim.datasource.as_ref().filter(|d| &d.name == datasource) {
            None => {
                finish.error = Some(format!(
                    "unknown datasource `{datasource}`: define it in the server config"
                ))
            }
            Some(access) => {
                let task = SqlTask {
                    url: access.url.clone(),
                    query: query.clone(),
                    params: bind
                        .iter()
                        .map(|name| bind_value(claim, params, name))
                        .collect(),
                    timeout: claim.spec.timeout_ms.map(Duration::from_millis),
                    max_rows: 10_000,
                    multi_statement: *multi_statement,
                };
                let _ = tx
                    .send(LogLine::now(
                        ExecStream::System,
                        format!(
                            "attempt {} started: sql on `{datasource}`",
                            claim.attempt_no
                        ),
                    ))
                    .await;
                finish.started_at = Some(settings.clock.now());
                match run_sql_with(task, cancel, tx.clone(), Some(connections.clone())).await {
                    Ok(out) => {
                        finish.started_at = Some(out.started_at);
                        finish.ended_at = out.ended_at;
                        finish.state = match (out.end, &out.error) {
                            (EndReason::TimedOut, _) => AttemptState::TimedOut,
                            (EndReason::Cancelled | EndReason::Paused, _) => {
                                AttemptState::Cancelled
                            }
                            (EndReason::Exited, None) => AttemptState::Succeeded,
                            (EndReason::Exited, Some(_)) => AttemptState::Failed,
                        };
                        finish.error = out.error.clone();
                        finish.outputs = serde_json::json!({
                            "columns": out.columns,
                            "rows": out.rows,
                            "rows_affected": out.rows_affected,
                            "truncated": out.truncated,
                        });
                    }
                    Err(e) => finish.error = Some(error_chain(&e)),
                }
            }
        },
        _ => {
            let mut task = process_task(settings, claim, params);
            let (reports, progress, checkpoint) = BatchReports::channel();
            task.reports = Some(reports);
            let ended = CancellationToken::new();
            let pause = CancellationToken::new();
            task.pause = Some(pause.clone());
            let reporter = crate::batch::report(
                control,
                claim.attempt_id,
                crate::batch::Reports {
                    progress,
                    checkpoint,
                    ended: ended.clone(),
                    pause,
                },
            );
            let _ = tx
                .send(LogLine::now(
                    ExecStream::System,
                    if claim.is_workflow_task() {
                        format!(
                            "attempt {} of task `{}` started: {} (workflow {} v{})",
                            claim.attempt_no,
                            claim.task(),
                            claim.spec.task.kind(),
                            claim.spec.name,
                            claim.job_version
                        )
                    } else {
                        format!(
                            "attempt {} started: {} (job {} v{})",
                            claim.attempt_no,
                            claim.spec.task.kind(),
                            claim.spec.name,
                            claim.job_version
                        )
                    },
                ))
                .await;
            let run = async {
                let outcome = run_process(task, cancel, tx.clone(), started).await;
                ended.cancel();
                outcome
            };
            // the last checkpoint is reported before the attempt's end is
            let (outcome, ()) = tokio::join!(run, reporter);
            match outcome {
                Ok(out) => {
                    finish.pid = Some(i64::from(out.pid));
                    finish.started_at = Some(out.started_at);
                    finish.ended_at = out.ended_at;
                    finish.exit_code = out.exit_code;
                    finish.signal = out.signal;
                    finish.user_cpu_ms = Some(out.user_cpu_ms as i64);
                    finish.system_cpu_ms = Some(out.system_cpu_ms as i64);
                    finish.max_rss_bytes = out.max_rss_bytes.map(|bytes| bytes as i64);
                    finish.bytes_dropped = out.bytes_dropped as i64;
                    finish.outputs = serde_json::to_value(&out.outputs).unwrap_or_default();
                    finish.state = match out.end {
                        EndReason::TimedOut => AttemptState::TimedOut,
                        EndReason::Cancelled => AttemptState::Cancelled,
                        EndReason::Paused => AttemptState::Paused,
                        EndReason::Exited if out.succeeded() => AttemptState::Succeeded,
                        EndReason::Exited => AttemptState::Failed,
                    };
                    if finish.state == AttemptState::TimedOut {
                        finish.error = claim.spec.timeout_ms.map(|ms| {
                            format!(
                                "timed out after {}",
                                jobworks_schedule::format_duration(Duration::from_millis(ms))
                            )
                        });
                    }
                }
                Err(e) => finish.error = Some(error_chain(&e)),
            }
        }
    }
    mask.json(&mut finish.outputs);
    if let Some(error) = &mut finish.error {
        *error = mask.text(error).into_owned();
    }
    finish.ended_at = finish
        .ended_at
        .max(finish.started_at.unwrap_or(finish.ended_at));
    let took_ms = finish
        .started_at
        .map(|s| (finish.ended_at - s).num_milliseconds())
        .unwrap_or(0);
    let summary = match (finish.state, finish.exit_code, finish.signal, &finish.error) {
        (_, _, _, Some(err)) => format!("attempt {} {}: {err}", claim.attempt_no, finish.state),
        (_, Some(code), _, None) => {
            format!(
                "attempt {} {} with exit code {code} in {took_ms} ms",
                claim.attempt_no, finish.state
            )
        }
        (_, None, Some(sig), None) => {
            format!(
                "attempt {} {} by signal {sig} after {took_ms} ms",
                claim.attempt_no, finish.state
            )
        }
        _ => format!(
            "attempt {} {} in {took_ms} ms",
            claim.attempt_no, finish.state
        ),
    };
    let _ = tx.send(LogLine::now(ExecStream::System, summary)).await;
    finish
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Parameter values of the run in declaration order (the run's params are already validated).
fn param_values(spec: &JobSpec, params: &serde_json::Value) -> Vec<(String, ParamValue)> {
    spec.params
        .iter()
        .filter_map(|p| {
            let v = params.get(&p.name)?;
            let value: ParamValue = serde_json::from_value(v.clone()).ok()?;
            Some((p.name.clone(), value))
        })
        .collect()
}

/// The mask of the run's `secret = true` parameters, by their text as the task sees it (the
/// environment variable's value, or the bound value).
fn secret_mask(spec: &JobSpec, params: &[(String, ParamValue)]) -> SecretMask {
    let secrets: Vec<String> = params
        .iter()
        .filter(|(name, _)| spec.params.iter().any(|p| p.secret && &p.name == name))
        .map(|(_, value)| value.to_env_string())
        .collect();
    SecretMask::new(secrets.iter().map(String::as_str))
}

/// The value a SQL bind name stands for: a param, or a workflow task's upstream output
/// (`tasks.<id>.outputs.<name>`, carried in the claim's env as its input variable; bound as
/// text). A missing value binds NULL.
fn bind_value(claim: &Assignment, params: &[(String, ParamValue)], name: &str) -> SqlValue {
    if let Some((task, output)) = output_reference(name) {
        return match claim.env.get(&input_env_name(task, output)) {
            Some(text) => SqlValue::Text(text.clone()),
            None => SqlValue::Null,
        };
    }
    sql_value(params.iter().find(|(n, _)| n == name).map(|(_, v)| v))
}

fn sql_value(value: Option<&ParamValue>) -> SqlValue {
    match value {
        None => SqlValue::Null,
        Some(ParamValue::Bool(b)) => SqlValue::Bool(*b),
        Some(ParamValue::Int(i)) => SqlValue::Int(*i),
        Some(ParamValue::Float(f)) => SqlValue::Float(*f),
        Some(ParamValue::String(s)) => SqlValue::Text(s.clone()),
    }
}

fn process_task(
    config: &WorkerSettings,
    claim: &Assignment,
    params: &[(String, ParamValue)],
) -> ProcessTask {
    let spec = &claim.spec;
    let (program, args, stdin) = match &spec.task {
        TaskSpec::Shell {
            script,
            command,
            shell,
            errexit,
            stdin,
        } => {
            let (program, args) = match (script, command) {
                (_, Some(argv)) if !argv.is_empty() => (argv[0].clone(), argv[1..].to_vec()),
                (Some(script), _) => shell_command(
                    script,
                    match shell {
                        ShellKind::Sh => jobworks_executor::ShellKind::Sh,
                        ShellKind::Bash => jobworks_executor::ShellKind::Bash,
                    },
                    *errexit,
                ),
                _ => ("true".to_string(), Vec::new()),
            };
            (
                program,
                args,
                stdin.as_ref().map(|s| s.clone().into_bytes()),
            )
        }
        TaskSpec::Python { script, file } => {
            let source = match (script, file) {
                (Some(s), _) => ScriptOrFile::Script(s.clone()),
                (None, Some(f)) => ScriptOrFile::File(PathBuf::from(f)),
                (None, None) => ScriptOrFile::Script(String::new()),
            };
            let (program, args) = python_command(&source);
            (program, args, None)
        }
        TaskSpec::Sql { .. } => unreachable_sql(),
    };
    let mut env: Vec<(String, String)> = config.task_env.clone();
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (name, value) in params {
        env.push((env_var_name(name), value.to_env_string()));
    }
    env.extend(claim.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.push(("JOBWORKS_JOB".into(), spec.name.clone()));
    env.push(("JOBWORKS_JOB_VERSION".into(), claim.job_version.to_string()));
    env.push(("JOBWORKS_RUN_ID".into(), claim.run_id.to_string()));
    env.push(("JOBWORKS_ATTEMPT".into(), claim.attempt_no.to_string()));
    env.push((
        "JOBWORKS_DATA_DIR".into(),
        config.data_dir.display().to_string(),
    ));
    if let Some(at) = claim.scheduled_at {
        env.push(("JOBWORKS_SCHEDULED_AT".into(), at.to_rfc3339()));
        env.push(("JOBWORKS_LOGICAL_TIME".into(), at.to_rfc3339()));
    }
    ProcessTask {
        program,
        args,
        stdin,
        env,
        working_dir: Some(
            spec.working_dir
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(|| config.data_dir.clone()),
        ),
        timeout: spec.timeout_ms.map(Duration::from_millis),
        kill_grace: config.kill_grace,
        output_cap_bytes: spec.output_cap_bytes,
        attempt_tag: attempt_tag(&config.installation, claim.attempt_id),
        outputs_dir: Some(config.data_dir.join("outputs")),
        reports: None,
        pause: None,
    }
}

/// SQL tasks never reach the process path (`run_attempt` branches first); if one did, it
/// runs `false` so the attempt fails visibly rather than panicking.
fn unreachable_sql() -> (String, Vec<String>, Option<Vec<u8>>) {
    ("false".into(), Vec::new(), None)
}

/// Masks and sends each line to the control plane until the attempt's sender closes.
///
/// A line the executor cut at its 64 KiB limit (`continues`) is held until the next line of
/// its stream arrives, so a secret spanning the cut is masked on both sides
/// ([`SecretMask::across`]); a held line goes out when that line comes or the task ends.
async fn forward_logs(
    mut rx: mpsc::Receiver<LogLine>,
    control: &dyn ControlPlane,
    attempt_id: jobworks_domain::AttemptId,
    run_id: jobworks_domain::RunId,
    mask: SecretMask,
) {
    // a cut stdout or stderr line waiting for the piece that continues it
    let mut held: [Option<LogLine>; 2] = [None, None];
    let send = |line: LogLine| {
        let stream = match line.stream {
            ExecStream::Stdout => LogLineKind::Stdout,
            ExecStream::Stderr => LogLineKind::Stderr,
            _ => LogLineKind::System,
        };
        control.log(LogRecord {
            attempt_id,
            run_id,
            at: line.at,
            stream,
            text: line.text,
        })
    };
    while let Some(mut line) = rx.recv().await {
        let slot = match line.stream {
            ExecStream::Stdout => Some(0),
            ExecStream::Stderr => Some(1),
            _ => None,
        };
        let mut out = Vec::with_capacity(2);
        match slot.and_then(|slot| held[slot].take()) {
            Some(mut head) => {
                let (masked_head, masked_tail) = mask.across(&head.text, &line.text);
                let (masked_head, masked_tail) =
                    (masked_head.into_owned(), masked_tail.into_owned());
                head.text = masked_head;
                line.text = masked_tail;
                out.push(head);
            }
            None if !line.continues => {
                if let Cow::Owned(masked) = mask.text(&line.text) {
                    line.text = masked;
                }
            }
            None => {}
        }
        match slot {
            // held unmasked-at-its-end until the next piece shows what spans the cut
            Some(slot) if line.continues && !mask.is_empty() => held[slot] = Some(line),
            _ => out.push(line),
        }
        for line in out {
            if !send(line).await {
                // the control plane takes no more lines; drain so the task never blocks
                while rx.recv().await.is_some() {}
                return;
            }
        }
    }
    for line in held.into_iter().flatten() {
        let text = mask.text(&line.text).into_owned();
        if !send(LogLine { text, ..line }).await {
            return;
        }
    }
}
