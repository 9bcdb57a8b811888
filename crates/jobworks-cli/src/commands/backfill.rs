//! `jobworks backfill`: one run per schedule tick in a past (or future) time range, each with
//! its logical time; running it twice creates nothing new.

use crate::client::ApiClient;
use crate::commands::run::params_map;
use crate::commands::schedule::parse_time;
use crate::output::{OutputFormat, outln, print_json, print_table, table};
use chrono_tz::Tz;
use jobworks_protocol::BackfillRequest;

/// What to backfill.
pub struct BackfillOptions {
    /// Job name.
    pub job: String,
    /// Range start (inclusive), as typed.
    pub from: String,
    /// Range end (inclusive), as typed.
    pub to: String,
    /// Zone for times typed without an offset.
    pub tz: Tz,
    /// `KEY=VALUE` parameters for every run.
    pub params: Vec<(String, String)>,
}

/// Sends the backfill and prints what it created.
///
/// Errors: unreadable times (with the accepted forms), repeated parameters, and the server's
/// refusals (no schedule, too many ticks, invalid parameters).
pub async fn run(
    client: &ApiClient,
    options: &BackfillOptions,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let request = BackfillRequest {
        from: parse_time(&options.from, options.tz)?,
        to: parse_time(&options.to, options.tz)?,
        params: params_map(&options.params)?,
        parallel: None,
    };
    let response = client.backfill(&options.job, &request).await?;
    match format {
        OutputFormat::Json => print_json(&response)?,
        OutputFormat::Table => {
            if !response.runs.is_empty() {
                let mut runs = table(&["RUN", "STATE", "REASON"]);
                for run in &response.runs {
                    runs.add_row(vec![
                        run.run_id.to_string(),
                        run.state.clone(),
                        run.reason.clone().unwrap_or_default(),
                    ]);
                }
                print_table(&runs)?;
            }
            outln!(
                "{} ticks of `{}` between {} and {}: {} runs created, {} already had a run",
                response.ticks,
                options.job,
                request.from.to_rfc3339(),
                request.to.to_rfc3339(),
                response.runs.len(),
                response.existing
            );
        }
    }
    Ok(())
}
