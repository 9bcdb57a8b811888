//! Acting on a workflow run's tasks: `jobworks approve|reject RUN TASK`, and
//! `jobworks runs rerun|mark|clear`.

use crate::client::{ApiClient, Decision};
use crate::commands::runs;
use crate::human::Clock;
use crate::output::{OutputFormat, outln, print_json};
use jobworks_protocol::{
    DecisionRequest, MarkRequest, RerunRequest, RunDetailView, TaskInstanceView,
};

/// The states `runs mark` may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MarkState {
    /// As if the task had succeeded: what follows it may run.
    Succeeded,
    /// As if the task had failed: what follows it sees a failure.
    Failed,
}

impl MarkState {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            MarkState::Succeeded => "succeeded",
            MarkState::Failed => "failed",
        }
    }
}

/// `approve RUN TASK` / `reject RUN TASK`: decides an approval task; prints the task's new
/// state.
///
/// Errors: the server's refusals (no such run or task, not an approval task, already
/// decided, not an approver), shown as it words them.
pub async fn decide(
    client: &ApiClient,
    run: i64,
    task: &str,
    decision: Decision,
    comment: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let request = DecisionRequest {
        comment: comment.unwrap_or_default(),
    };
    let view = match client.decide(run, task, decision, &request).await {
        Ok(view) => view,
        Err(error) => return Err(with_task_hint(client, error, run, task, true).await),
    };
    match format {
        OutputFormat::Json => print_json(&view),
        OutputFormat::Table => {
            let verb = match decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            };
            outln!(
                "run {run}: {task} {verb}; it is now {}",
                view.state.replace('_', " ")
            );
            Ok(())
        }
    }
}

/// `runs mark RUN TASK --state STATE`: sets a task's state by hand; prints the run's
/// tasks as they are now.
pub async fn mark(
    client: &ApiClient,
    run: i64,
    task: &str,
    state: MarkState,
    comment: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let request = MarkRequest {
        state: state.name().to_owned(),
        comment: comment.unwrap_or_default(),
    };
    let detail = match client.mark_task(run, task, &request).await {
        Ok(detail) => detail,
        Err(error) => return Err(with_task_hint(client, error, run, task, false).await),
    };
    print_result(
        &detail,
        &format!("run {run}: {task} marked {}", state.name()),
        format,
    )
}

/// `runs clear RUN TASK`: the task and every task after it run again.
pub async fn clear(
    client: &ApiClient,
    run: i64,
    task: &str,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let detail = match client.clear_task(run, task).await {
        Ok(detail) => detail,
        Err(error) => return Err(with_task_hint(client, error, run, task, false).await),
    };
    print_result(
        &detail,
        &format!("run {run}: cleared {task}; it and the tasks after it run again"),
        format,
    )
}

/// `runs rerun RUN [--from TASK]`: runs the tasks that did not succeed and what follows
/// them again, keeping the tasks that succeeded; with `--from`, runs TASK and everything
/// downstream of it again.
pub async fn rerun(
    client: &ApiClient,
    run: i64,
    from: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let headline = match &from {
        Some(task) => format!("run {run}: rerunning {task} and everything after it"),
        None => format!("run {run}: rerunning the tasks that did not succeed"),
    };
    let detail = client.rerun(run, &RerunRequest { from }).await?;
    print_result(&detail, &headline, format)
}

/// `error` with a hint naming the tasks the user may have meant, when the run's tasks can
/// be read and `task` is not one of them (or, for a decision, does not wait for approval).
async fn with_task_hint(
    client: &ApiClient,
    error: anyhow::Error,
    run: i64,
    task: &str,
    decision: bool,
) -> anyhow::Error {
    match client.run_tasks(run).await {
        Ok(tasks) => match task_hint(run, task, &tasks, decision) {
            Some(hint) => anyhow::anyhow!("{error:#}\n  hint: {hint}"),
            None => error,
        },
        // the run itself is unknown, or the server is gone: the first error says it
        Err(_) => error,
    }
}

/// What to suggest after a refused task action: for a decision, the tasks waiting for
/// approval; otherwise the run's task ids when `task` is not among them. `None` when there
/// is nothing better to say than the server's answer.
pub fn task_hint(
    run: i64,
    task: &str,
    tasks: &[TaskInstanceView],
    decision: bool,
) -> Option<String> {
    if decision {
        let waiting: Vec<&str> = tasks
            .iter()
            .filter(|other| other.state == "waiting_approval")
            .map(|other| other.task.as_str())
            .collect();
        return if waiting.contains(&task) {
            None
        } else if waiting.is_empty() {
            Some(format!("no task of run {run} waits for approval"))
        } else {
            Some(format!(
                "tasks of run {run} waiting for approval: {}",
                waiting.join(", ")
            ))
        };
    }
    if tasks.iter().any(|other| other.task == task) || tasks.is_empty() {
        return None;
    }
    let ids: Vec<&str> = tasks.iter().map(|other| other.task.as_str()).collect();
    Some(format!(
        "run {run} has no task `{task}`; its tasks: {}",
        ids.join(", ")
    ))
}

/// The headline with the run's state, then its tasks; or the run as JSON.
fn print_result(
    detail: &RunDetailView,
    headline: &str,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(detail),
        OutputFormat::Table => {
            outln!("{}", result_text(detail, headline, &Clock::system()));
            Ok(())
        }
    }
}

/// `run 42: cleared load…; the run is now running`, a blank line, then the task table;
/// follow-up hint last.
pub fn result_text(detail: &RunDetailView, headline: &str, clock: &Clock) -> String {
    let run = &detail.run;
    let mut text = format!("{headline}; the run is now {}", run.state.replace('_', " "));
    if !detail.tasks.is_empty() {
        text.push_str("\n\n");
        text.push_str(&runs::render_tasks(run.id, &detail.tasks, clock));
    }
    text.push_str(&format!(
        "\n\nfollow it with `jobworks logs {id} -f`; `jobworks runs show {id}` shows it all",
        id = run.id
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, task, workflow_run};
    use chrono_tz::Tz;

    #[test]
    fn result_shows_the_run_state_and_its_tasks() {
        let mut failed = task(
            "load",
            "queued",
            Some("2026-03-08T11:00:04Z"),
            Some("2026-03-08T11:00:05Z"),
        );
        failed.attempts = 2;
        failed.reason = Some("cleared by token:alice".into());
        failed.started_at = None;
        failed.ended_at = None;
        failed.duration_ms = None;
        let detail = RunDetailView {
            run: workflow_run(42, "running", None),
            tasks: vec![
                task(
                    "extract",
                    "succeeded",
                    Some("2026-03-08T11:00:00Z"),
                    Some("2026-03-08T11:00:04Z"),
                ),
                failed,
                task("report", "pending", None, None),
            ],
            attempts: Vec::new(),
            events: Vec::new(),
        };
        let clock = Clock::fixed(at("2026-03-08T11:01:00Z"), Tz::UTC);
        insta::assert_snapshot!(
            result_text(&detail, "run 42: cleared load; it and the tasks after it run again", &clock),
            @"
        run 42: cleared load; it and the tasks after it run again; the run is now running

        TASK     KIND   STATE      ATTEMPTS  STARTED              DURATION  EXIT  REASON
        extract  shell  succeeded  1         2026-03-08 11:00:00  4s        -     -
        load     shell  queued     2         -                    -         -     cleared by token:alice
        report   shell  pending    0         -                    -         -     -

        follow it with `jobworks logs 42 -f`; `jobworks runs show 42` shows it all
        "
        );
    }

    #[test]
    fn hints_name_the_tasks_meant() {
        let mut gate = task(
            "gate",
            "waiting_approval",
            Some("2026-03-08T11:00:00Z"),
            None,
        );
        gate.kind = "approval".into();
        let tasks = [
            task("extract", "succeeded", None, None),
            gate,
            task("load", "pending", None, None),
        ];
        assert_eq!(
            task_hint(42, "gat", &tasks, true).as_deref(),
            Some("tasks of run 42 waiting for approval: gate")
        );
        assert_eq!(task_hint(42, "gate", &tasks, true), None);
        assert_eq!(
            task_hint(42, "gate", &tasks[..1], true).as_deref(),
            Some("no task of run 42 waits for approval")
        );
        assert_eq!(
            task_hint(42, "lod", &tasks, false).as_deref(),
            Some("run 42 has no task `lod`; its tasks: extract, gate, load")
        );
        assert_eq!(task_hint(42, "load", &tasks, false), None);
        assert_eq!(task_hint(42, "load", &[], false), None);
    }

    #[test]
    fn mark_states_have_wire_names() {
        assert_eq!(MarkState::Succeeded.name(), "succeeded");
        assert_eq!(MarkState::Failed.name(), "failed");
    }
}
