//! A text Gantt chart of a run's task instances, for `jobworks runs show`.
//!
//! Pure: the caller passes the tasks, the instant "now" (where bars of tasks still running
//! end) and the width of the bar area, so the drawing is the same in tests.
//!
//! ```text
//! extract  ████████████                   4s
//! check                ██████             2s
//! load                       █████████████ 4.4s…
//!          0s                        10.4s
//! not started: report
//! ```

use crate::human;
use chrono::{DateTime, Utc};
use jobworks_protocol::TaskInstanceView;

/// A full column of a bar.
const BLOCK: char = '█';

/// Width of the bar area `runs show` draws with.
pub const DEFAULT_WIDTH: usize = 60;

/// One task's span on the time axis.
struct Span<'t> {
    task: &'t str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Ends at `now` because it has not ended yet.
    open: bool,
    duration_ms: i64,
}

/// The chart: one row per task that started, in the order given, with a bar from its start
/// to its end (to `now` while it has not ended) scaled so that the earliest start is column 0
/// and the latest end is column `width` (bounds rounded to the nearest column), and its duration after the bar (`12.3s…` while it
/// runs). A scale line follows, then the tasks that have not started. Every bar is at least
/// one column wide, so zero-length tasks show. Empty when no task has started.
pub fn gantt(tasks: &[TaskInstanceView], now: DateTime<Utc>, width: usize) -> String {
    let width = width.max(1);
    let spans: Vec<Span<'_>> = tasks.iter().filter_map(|task| span(task, now)).collect();
    let (Some(first), Some(last)) = (
        spans.iter().map(|span| span.start).min(),
        spans.iter().map(|span| span.end).max(),
    ) else {
        return String::new();
    };
    let total_ms = (last - first).num_milliseconds().max(0);
    let label_width = spans
        .iter()
        .map(|span| span.task.chars().count())
        .max()
        .unwrap_or(0);
    // the nearest column boundary, so that a task starting where another ends starts in the
    // column after that one's last
    let column = |at: DateTime<Utc>| -> usize {
        if total_ms == 0 {
            return 0;
        }
        let offset = i128::from((at - first).num_milliseconds().clamp(0, total_ms));
        let total = i128::from(total_ms);
        let column = (offset * width as i128 + total / 2) / total;
        usize::try_from(column).unwrap_or(width).min(width)
    };
    let mut lines = Vec::with_capacity(spans.len() + 2);
    for span in &spans {
        let mut from = column(span.start);
        let mut to = column(span.end);
        if to <= from {
            // zero-length (or shorter than a column): one column, inside the area
            from = from.min(width - 1);
            to = from + 1;
        }
        let duration = human::duration_ms(span.duration_ms);
        let suffix = if span.open { "…" } else { "" };
        lines.push(format!(
            "{:<label_width$}  {}{} {duration}{suffix}",
            span.task,
            " ".repeat(from),
            BLOCK.to_string().repeat(to - from),
        ));
    }
    lines.push(scale_line(label_width, width, total_ms));
    let waiting: Vec<&str> = tasks
        .iter()
        .filter(|task| task.started_at.is_none())
        .map(|task| task.task.as_str())
        .collect();
    if !waiting.is_empty() {
        lines.push(format!("not started: {}", waiting.join(", ")));
    }
    lines.join("\n")
}

/// Where a task lies on the axis, if it started. A task without an end ends at its start
/// plus its duration when the server gave one, else at `now` (it is still running). An end
/// before the start (clocks of different machines) is read as the start.
fn span(task: &TaskInstanceView, now: DateTime<Utc>) -> Option<Span<'_>> {
    let start = task.started_at?;
    let known_end = task.ended_at.or_else(|| {
        task.duration_ms
            .map(|ms| start + chrono::TimeDelta::milliseconds(ms))
    });
    let open = known_end.is_none();
    let end = known_end.unwrap_or(now).max(start);
    let duration_ms = match (open, task.duration_ms) {
        (false, Some(ms)) => ms,
        _ => (end - start).num_milliseconds(),
    };
    Some(Span {
        task: &task.task,
        start,
        end,
        open,
        duration_ms,
    })
}

/// `0s` under the first column of the bars and the whole span ending under the last one
/// (`0s … 12.4s` when the area is too narrow for both apart).
fn scale_line(label_width: usize, width: usize, total_ms: i64) -> String {
    let start = "0s";
    let end = human::duration_ms(total_ms);
    let indent = " ".repeat(label_width + 2);
    if total_ms == 0 {
        return format!("{indent}{start}");
    }
    let used = start.len() + end.chars().count();
    if used + 1 > width {
        return format!("{indent}{start} … {end}");
    }
    format!("{indent}{start}{}{end}", " ".repeat(width - used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, task};

    fn now() -> DateTime<Utc> {
        at("2026-03-08T12:00:20Z")
    }

    #[test]
    fn a_small_run() {
        let tasks = [
            task(
                "extract",
                "succeeded",
                Some("2026-03-08T12:00:00Z"),
                Some("2026-03-08T12:00:04Z"),
            ),
            task(
                "check",
                "succeeded",
                Some("2026-03-08T12:00:04Z"),
                Some("2026-03-08T12:00:06Z"),
            ),
            task(
                "load",
                "failed",
                Some("2026-03-08T12:00:06Z"),
                Some("2026-03-08T12:00:12Z"),
            ),
        ];
        assert_eq!(
            gantt(&tasks, now(), 24),
            "\
extract  ████████ 4s
check            ████ 2s
load                 ████████████ 6s
         0s                   12s"
        );
    }

    #[test]
    fn tasks_that_have_not_started_are_listed_under_the_chart() {
        let tasks = [
            task(
                "extract",
                "succeeded",
                Some("2026-03-08T12:00:00Z"),
                Some("2026-03-08T12:00:01.500Z"),
            ),
            task("load", "pending", None, None),
            task("report", "pending", None, None),
        ];
        assert_eq!(
            gantt(&tasks, now(), 10),
            "\
extract  ██████████ 1.5s
         0s    1.5s
not started: load, report"
        );
        assert_eq!(gantt(&tasks[1..], now(), 10), "");
        assert_eq!(gantt(&[], now(), 10), "");
    }

    #[test]
    fn zero_length_tasks_get_one_column() {
        let tasks = [
            task(
                "route",
                "succeeded",
                Some("2026-03-08T12:00:00Z"),
                Some("2026-03-08T12:00:00Z"),
            ),
            task(
                "load",
                "succeeded",
                Some("2026-03-08T12:00:00Z"),
                Some("2026-03-08T12:00:08Z"),
            ),
            task(
                "skip_me",
                "succeeded",
                Some("2026-03-08T12:00:08Z"),
                Some("2026-03-08T12:00:08Z"),
            ),
        ];
        assert_eq!(
            gantt(&tasks, now(), 16),
            "\
route    █ 0ms
load     ████████████████ 8s
skip_me                 █ 0ms
         0s            8s"
        );
        // only zero-length tasks: no span to scale, every bar at the start
        assert_eq!(
            gantt(&tasks[..1], now(), 16),
            "\
route  █ 0ms
       0s"
        );
    }

    #[test]
    fn a_run_still_running_ends_its_open_bars_at_now() {
        let mut waiting = task(
            "gate",
            "waiting_approval",
            Some("2026-03-08T12:00:15Z"),
            None,
        );
        waiting.kind = "approval".into();
        let tasks = [
            task(
                "extract",
                "succeeded",
                Some("2026-03-08T12:00:00Z"),
                Some("2026-03-08T12:00:05Z"),
            ),
            task("transform", "running", Some("2026-03-08T12:00:05Z"), None),
            waiting,
            task("publish", "pending", None, None),
        ];
        assert_eq!(
            gantt(&tasks, now(), 20),
            "\
extract    █████ 5s
transform       ███████████████ 15s…
gate                      █████ 5s…
           0s               20s
not started: publish"
        );
    }

    #[test]
    fn narrow_charts_keep_a_readable_scale() {
        let tasks = [task(
            "extract",
            "succeeded",
            Some("2026-03-08T12:00:00Z"),
            Some("2026-03-08T12:02:03Z"),
        )];
        assert_eq!(
            gantt(&tasks, now(), 4),
            "extract  ████ 2m3s\n         0s … 2m3s"
        );
    }

    #[test]
    fn ends_come_from_the_duration_when_missing_and_never_precede_starts() {
        let mut from_duration = task("a", "succeeded", Some("2026-03-08T12:00:00Z"), None);
        from_duration.duration_ms = Some(2_000);
        let skewed = task(
            "b",
            "succeeded",
            Some("2026-03-08T12:00:02Z"),
            Some("2026-03-08T12:00:01Z"),
        );
        assert_eq!(
            gantt(&[from_duration, skewed], now(), 8),
            "a  ████████ 2s\nb         █ 0ms\n   0s    2s"
        );
    }
}
