//! Batch tasks in the CLI: progress and checkpoint texts for `runs show`, and the progress
//! bar (or plain lines off a terminal) of `run --wait`.

use crate::human::{self, Clock};
use jobworks_protocol::{CheckpointView, ProgressView, RunDetailView};

/// Longest checkpoint JSON shown, in characters.
const CHECKPOINT_WIDTH: usize = 60;

/// `4500/10000 rows (45%)`, `45%`, `7 files`.
pub fn progress_text(progress: &ProgressView) -> String {
    let number = |value: f64| {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{}", value as i64)
        } else {
            format!("{value:.1}")
        }
    };
    let unit = progress
        .unit
        .as_deref()
        .map(|unit| format!(" {}", human::terminal_safe(unit)))
        .unwrap_or_default();
    match (progress.total, progress.unit.as_deref()) {
        (Some(_), Some("%")) => format!("{}%", number(progress.done)),
        (Some(total), _) => format!(
            "{}/{}{unit} ({}%)",
            number(progress.done),
            number(total),
            number(progress.percent.unwrap_or_default().floor())
        ),
        (None, _) => format!("{}{unit}", number(progress.done)),
    }
}

/// `4500/10000 rows (45%), 3s ago`.
pub fn progress_line(progress: &ProgressView, clock: &Clock) -> String {
    format!(
        "{}, {}",
        progress_text(progress),
        clock.relative(progress.updated_at)
    )
}

/// `{"offset":20000}, 3s ago` (long JSON cut).
pub fn checkpoint_line(checkpoint: &CheckpointView, clock: &Clock) -> String {
    let json = human::truncate(
        &human::terminal_safe(&checkpoint.data.to_string()),
        CHECKPOINT_WIDTH,
    );
    match checkpoint.taken_at {
        Some(at) => format!("{json}, {}", clock.relative(at)),
        None => json,
    }
}

/// The progress of a job run's single task (or the only task reporting one): what the
/// `run --wait` bar shows.
pub fn run_progress(detail: &RunDetailView) -> Option<&ProgressView> {
    let mut reporting = detail
        .tasks
        .iter()
        .filter(|task| task.state == "running")
        .filter_map(|task| task.progress.as_ref());
    let first = reporting.next()?;
    reporting.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: f64, total: Option<f64>, unit: Option<&str>) -> ProgressView {
        ProgressView {
            done,
            total,
            unit: unit.map(str::to_owned),
            percent: total.map(|t| done / t * 100.0),
            updated_at: crate::fixtures::at("2026-03-08T11:00:00Z"),
        }
    }

    #[test]
    fn texts() {
        assert_eq!(
            progress_text(&progress(4500.0, Some(10_000.0), Some("rows"))),
            "4500/10000 rows (45%)"
        );
        assert_eq!(
            progress_text(&progress(45.5, Some(100.0), Some("%"))),
            "45.5%"
        );
        assert_eq!(
            progress_text(&progress(7.0, None, Some("files"))),
            "7 files"
        );
        assert_eq!(progress_text(&progress(1.0, Some(3.0), None)), "1/3 (33%)");
    }
}
