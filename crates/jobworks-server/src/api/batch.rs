//! Batch tasks in the API: progress and checkpoints on task instances.

use super::{ApiError, AppState};
use jobworks_domain::RunId;
use jobworks_protocol::{CheckpointView, ProgressView, TaskInstanceView};
use jobworks_store::TaskBatchState;

/// Fills `progress` and `checkpoint` of a run's task views from the store.
pub(super) async fn add_batch_states(
    state: &AppState,
    run: RunId,
    tasks: &mut [TaskInstanceView],
) -> Result<(), ApiError> {
    let states = state.store.batch_states(run).await?;
    for stored in states {
        if let Some(view) = tasks.iter_mut().find(|t| t.task == stored.task) {
            apply(view, stored);
        }
    }
    Ok(())
}

fn apply(view: &mut TaskInstanceView, stored: TaskBatchState) {
    view.progress = stored.progress.map(|p| ProgressView {
        percent: p
            .total
            .map(|total| (p.done / total * 100.0).clamp(0.0, 100.0)),
        done: p.done,
        total: p.total,
        unit: p.unit,
        updated_at: p.updated_at,
    });
    view.checkpoint = stored.checkpoint.map(|text| CheckpointView {
        // stored checkpoints are valid JSON; a damaged one is shown as text
        data: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        taken_at: stored.checkpoint_at,
    });
}
