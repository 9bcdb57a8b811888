//! Store records → wire types. Secret parameter values are masked here.

use jobworks_domain::{JobSpec, TriggerSpec};
use jobworks_protocol::*;
use jobworks_store::{AttemptRecord, JobRecord, JobVersionRecord, LogRecord, RunDetail, RunRecord};

/// Text shown for a schedule: the cron expression, or `every 30s`.
pub fn schedule_text(spec: &JobSpec) -> Option<String> {
    match &spec.trigger {
        None => None,
        Some(TriggerSpec::Cron { expr }) => Some(expr.clone()),
        Some(TriggerSpec::Every { interval_ms }) => Some(format!(
            "every {}",
            jobworks_schedule::format_duration(std::time::Duration::from_millis(*interval_ms))
        )),
    }
}

pub fn job_view(job: &JobRecord) -> JobView {
    JobView {
        name: job.name.clone(),
        version: job.version,
        description: job.spec.description.clone(),
        tags: job.spec.tags.clone(),
        schedule: schedule_text(&job.spec),
        timezone: job.spec.timezone.clone(),
        task_type: job.spec.task.kind().to_string(),
        enabled: job.spec.enabled,
        paused: job.paused,
        next_fire_at: job.next_fire_at,
        spec: serde_json::to_value(&job.spec).unwrap_or_default(),
        created_at: job.created_at,
        updated_at: job.updated_at,
    }
}

pub fn version_view(v: &JobVersionRecord) -> JobVersionView {
    JobVersionView {
        version: v.version,
        created_at: v.created_at,
        spec: serde_json::to_value(&v.spec).unwrap_or_default(),
    }
}

/// Masks values of parameters declared `secret` in `spec`.
pub fn masked_params(params: &serde_json::Value, spec: Option<&JobSpec>) -> serde_json::Value {
    let mut params = params.clone();
    if let (Some(spec), Some(map)) = (spec, params.as_object_mut()) {
        for p in spec.params.iter().filter(|p| p.secret) {
            if let Some(v) = map.get_mut(&p.name) {
                *v = serde_json::Value::String("***".into());
            }
        }
    }
    params
}

pub fn run_view(run: &RunRecord, spec: Option<&JobSpec>) -> RunView {
    RunView {
        id: run.id.0,
        kind: "job".into(),
        job: run.job_name.clone(),
        job_version: run.job_version,
        state: run.state.as_str().to_string(),
        parent_run_id: None,
        parent_task: None,
        trigger: run.trigger.as_str().to_string(),
        triggered_by: run.triggered_by.clone(),
        scheduled_at: run.scheduled_at,
        queued_at: run.queued_at,
        started_at: run.started_at,
        ended_at: run.ended_at,
        duration_ms: match (run.started_at, run.ended_at) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
            _ => None,
        },
        attempts: run.attempts,
        not_before: run.not_before,
        reason: run.reason.clone(),
        params: masked_params(&run.params, spec),
    }
}

pub fn attempt_view(a: &AttemptRecord) -> AttemptView {
    AttemptView {
        id: a.id.0,
        attempt_no: a.attempt_no,
        state: a.state.as_str().to_string(),
        worker: a.worker.clone(),
        pid: a.pid,
        started_at: a.started_at,
        ended_at: a.ended_at,
        duration_ms: match (a.started_at, a.ended_at) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
            _ => None,
        },
        exit_code: a.exit_code,
        signal: a.signal,
        user_cpu_ms: a.user_cpu_ms,
        system_cpu_ms: a.system_cpu_ms,
        max_rss_bytes: a.max_rss_bytes,
        bytes_dropped: a.bytes_dropped,
        error: a.error.clone(),
        outputs: a.outputs.clone(),
    }
}

pub fn run_detail_view(d: &RunDetail, spec: Option<&JobSpec>) -> RunDetailView {
    RunDetailView {
        run: run_view(&d.run, spec),
        tasks: Vec::new(),
        attempts: d.attempts.iter().map(attempt_view).collect(),
        events: d
            .events
            .iter()
            .map(|e| RunEventView {
                at: e.at,
                task: None,
                attempt_id: e.attempt_id.map(|a| a.0),
                from: e.from_state.clone(),
                to: e.to_state.clone(),
                reason: e.reason.clone(),
            })
            .collect(),
    }
}

pub fn log_view(l: &LogRecord) -> LogLineView {
    LogLineView {
        seq: l.seq,
        attempt_id: l.attempt_id.0,
        at: l.at,
        stream: l.stream.as_str().to_string(),
        text: l.text.clone(),
    }
}
