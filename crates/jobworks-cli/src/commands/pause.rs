//! `jobworks pause RUN` and `jobworks resume RUN`: stop a run's attempts at a checkpoint and
//! continue them later.

use crate::client::ApiClient;
use crate::output::{OutputFormat, outln, print_json};

/// `pause RUN`: prints the run's state and how many tasks are stopping.
pub async fn pause(client: &ApiClient, id: i64, format: OutputFormat) -> anyhow::Result<()> {
    let detail = client.pause(id).await?;
    match format {
        OutputFormat::Json => print_json(&detail),
        OutputFormat::Table => {
            let stopping = detail
                .tasks
                .iter()
                .filter(|task| task.state == "running")
                .count();
            if stopping > 0 {
                outln!(
                    "run {id} paused: {stopping} running task(s) asked to checkpoint and stop \
                     (SIGUSR1, then SIGTERM after the grace period); `jobworks resume {id}` \
                     continues it"
                );
            } else {
                outln!("run {id} paused; `jobworks resume {id}` continues it");
            }
            Ok(())
        }
    }
}

/// `resume RUN`: prints the run's new state.
pub async fn resume(client: &ApiClient, id: i64, format: OutputFormat) -> anyhow::Result<()> {
    let detail = client.resume(id).await?;
    match format {
        OutputFormat::Json => print_json(&detail),
        OutputFormat::Table => {
            outln!(
                "run {id} resumed: {} (its tasks start from their last checkpoints)",
                detail.run.state
            );
            Ok(())
        }
    }
}
