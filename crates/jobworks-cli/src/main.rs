//! The `jobworks` binary: parses arguments, resolves settings, and calls one function per
//! command. Commands live in `commands/`; this file holds only the clap types and dispatch.

mod agent;
mod client;
mod commands;
mod database;
#[cfg(test)]
mod fixtures;
mod gantt;
mod human;
mod job_files;
mod output;
mod serve;
mod serve_tls;
mod settings;
mod sse;

use clap::{Args, Parser, Subcommand};
use client::ApiClient;
use commands::{apply, import, jobs, logs, run, runs, schedule, tasks, validate, workflow};
use output::OutputFormat;
use std::path::PathBuf;
use std::process::ExitCode;

/// Jobworks: a self-hosted job scheduler.
///
/// Start a server with `jobworks server`, describe jobs in TOML files, check them with
/// `jobworks validate -f jobs/` and send them with `jobworks apply -f jobs/`.
#[derive(Parser, Debug)]
#[command(name = "jobworks", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every client command takes.
#[derive(Args, Debug)]
struct GlobalArgs {
    /// Server URL, e.g. http://127.0.0.1:8080 [default: $JOBWORKS_URL, then the CLI config
    /// file written at the server's first start]
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// API token [default: $JOBWORKS_TOKEN, then the CLI config file]
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// CA certificate (PEM) to trust for an https:// server, besides the system roots
    /// [default: $JOBWORKS_CA, then `ca` in the CLI config file]
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Jobworks server: scheduler, workers and HTTP API
    Server(Box<serve::ServeArgs>),
    /// Check job files locally, without a server
    ///
    /// Prints every problem as `file:line:col: field: message` with a hint where one helps.
    /// Exits with 1 when there are errors. Datasource names of SQL tasks are not checked
    /// (only the server knows them).
    Validate(FilesArgs),
    /// Create or update jobs from job files
    Apply(ApplyArgs),
    /// List and manage jobs
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Trigger a run of a job or a workflow
    ///
    /// NAME is looked up as a job first, then as a workflow. With --wait, a workflow run's
    /// log holds the lines of all its tasks.
    #[command(after_help = RUN_EXIT_CODES)]
    Run(RunArgs),
    /// Create one run per schedule tick of a job or workflow in a time range (idempotent)
    ///
    /// Each run gets its tick as JOBWORKS_LOGICAL_TIME. Ticks that already have a run (fired
    /// by the scheduler or an earlier backfill) are left alone, so running it twice creates
    /// nothing new. A job's runs follow its concurrency policy (`queue` runs them one by
    /// one); a workflow's runs are limited by --parallel, else by its `max_active_runs`.
    Backfill(BackfillArgs),
    /// List and inspect runs; rerun, mark and clear a workflow run's tasks
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Approve an approval task of a workflow run, so the run goes on past it
    Approve(DecisionArgs),
    /// Reject an approval task of a workflow run (the task fails)
    Reject(DecisionArgs),
    /// Print a run's log (`HH:MM:SS.mmm stream| text`)
    Logs(LogsArgs),
    /// Cancel a queued or running run
    Cancel(RunIdArg),
    /// Pause a run: its running tasks checkpoint and stop, queued ones wait
    Pause(RunIdArg),
    /// Resume a paused run from its tasks' checkpoints
    Resume(RunIdArg),
    /// Preview schedules
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Import jobs from other schedulers
    #[command(subcommand)]
    Import(ImportCommand),
    /// List and manage workflows (DAGs of tasks); draw them
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Create, list and revoke API tokens by name (admin tokens only)
    #[command(subcommand)]
    Token(commands::tokens::TokenCommand),
    /// Offline maintenance on the database file: recovery tokens, vacuum
    #[command(subcommand)]
    Admin(commands::admin::AdminCommand),
    /// Agents of the fleet: enrollment tokens, list, show, drain, revoke (admin tokens only)
    #[command(subcommand)]
    Agents(commands::agents::AgentsCommand),
    /// Run a remote agent: take the server's tasks over HTTP and run them on this host
    ///
    /// Dials out to the server, enrolls once with an enrollment token (`jobworks agents token
    /// create`) and keeps its identity in --data-dir, heartbeats, claims work with long
    /// polls, streams log lines, and reconnects by itself when the server restarts. Ctrl-C or
    /// SIGTERM stops it: running tasks are stopped and requeued by the server.
    Agent(agent::AgentArgs),
}

#[derive(Subcommand, Debug)]
enum WorkflowCommand {
    /// List workflows with their schedule, next fire time and number of tasks
    List,
    /// Show a workflow's details and draw its DAG
    Show(WorkflowNameArg),
    /// List a workflow's stored versions, newest first
    Versions(WorkflowNameArg),
    /// Pause a workflow's schedule (manual runs still work)
    Pause(WorkflowNameArg),
    /// Resume a paused workflow
    Resume(WorkflowNameArg),
    /// Delete a workflow
    Delete(WorkflowNameArg),
    /// Draw a workflow's DAG: in the terminal, as Graphviz DOT, or as Mermaid
    ///
    /// With -f, from its file, without a server; without -f, the stored workflow NAME
    /// from the server.
    Graph(WorkflowGraphArgs),
}

#[derive(Args, Debug)]
struct WorkflowNameArg {
    /// Workflow name
    name: String,
}

#[derive(Args, Debug)]
struct WorkflowGraphArgs {
    /// A job file, or a directory whose *.toml files are read in sorted order; repeatable.
    /// Without it, the stored workflow NAME is drawn
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// The workflow to draw (with -f, optional when the files define only one)
    name: Option<String>,
    /// Drawing format
    #[arg(long, value_enum, default_value_t = commands::workflow::GraphFormat::Text)]
    format: commands::workflow::GraphFormat,
}

const RUN_EXIT_CODES: &str = "\
Exit status with --wait:
  0  the run succeeded
  1  the run failed (also when jobworks itself fails, e.g. the server is unreachable)
  2  the run timed out
  3  the run was cancelled
  4  the run was skipped (e.g. by the job's concurrency policy)
Without --wait the exit status is 0 once the run is queued.";

/// Job files to read.
#[derive(Args, Debug)]
struct FilesArgs {
    /// A job file, or a directory whose *.toml files are read in sorted order; repeatable
    #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ApplyArgs {
    #[command(flatten)]
    files: FilesArgs,
    /// Validate on the server without changing anything
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// List jobs with their schedule, state and next fire time
    List,
    /// Show a job's definition and its versions
    Show(JobNameArg),
    /// Pause a job's schedule (manual runs still work)
    Pause(JobNameArg),
    /// Resume a paused job; ticks missed while paused are not caught up
    Resume(JobNameArg),
    /// Delete a job; its past runs are kept, its queued runs are cancelled
    ///
    /// If workflows call the job, asks first on a terminal; elsewhere refuses unless --force
    /// is given.
    Delete(DeleteJobArgs),
}

#[derive(Args, Debug)]
struct DeleteJobArgs {
    /// Job name
    name: String,
    /// Delete it even if workflows call it, without asking
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct JobNameArg {
    /// Job name
    name: String,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Job or workflow name
    name: String,
    /// A parameter value, KEY=VALUE (the value may contain `=`); repeatable
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = run::parse_param)]
    params: Vec<(String, String)>,
    /// Wait for the run to end, streaming its log, and exit with its outcome
    #[arg(short = 'w', long)]
    wait: bool,
    /// Queue N identical runs at once (1-10000), e.g. for load tests; prints one run id per
    /// line
    #[arg(long, value_name = "N", conflicts_with = "wait", value_parser = clap::value_parser!(u32).range(1..=10000))]
    count: Option<u32>,
}

#[derive(Args, Debug)]
struct BackfillArgs {
    /// Job or workflow name
    name: String,
    /// First tick time considered, inclusive (RFC 3339, or `2026-03-01 00:00` read in --tz)
    #[arg(long)]
    from: String,
    /// Last tick time considered, inclusive; a date alone (`2026-01-31`) includes that whole
    /// day in --tz
    #[arg(long)]
    to: String,
    /// Time zone for times written without an offset
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// A parameter value for every run, KEY=VALUE; repeatable
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = run::parse_param)]
    params: Vec<(String, String)>,
    /// Workflows only: at most N of the backfill's runs active at once (1-64) [default: the
    /// workflow's max_active_runs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    parallel: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// List runs, newest first
    List(RunsListArgs),
    /// Show a run with its tasks, attempts and state changes (a Gantt chart for workflows)
    Show(RunIdArg),
    /// Run a workflow run's failed tasks again, keeping the tasks that succeeded
    ///
    /// Without --from, every task that failed, timed out, was cancelled or upstream_failed
    /// runs again, with what follows it that did not succeed. With --from TASK, that task
    /// (which may have succeeded) and everything downstream of it run again, whatever their
    /// states; the other tasks keep their states and outputs.
    Rerun(RerunArgs),
    /// Set a task's state by hand: succeeded or failed (e.g. work done outside Jobworks)
    Mark(MarkArgs),
    /// Run a task of a workflow run again, with every task after it
    Clear(RunTaskArgs),
}

/// A run and one of its tasks.
#[derive(Args, Debug)]
struct RunTaskArgs {
    /// Run id
    #[arg(value_name = "RUN")]
    run: i64,
    /// Task id within the run's workflow
    #[arg(value_name = "TASK")]
    task: String,
}

#[derive(Args, Debug)]
struct DecisionArgs {
    #[command(flatten)]
    target: RunTaskArgs,
    /// Why; recorded with the decision
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
}

#[derive(Args, Debug)]
struct RerunArgs {
    /// Run id
    #[arg(value_name = "RUN")]
    run: i64,
    /// Rerun this task (ended in any state, succeeded included) and everything downstream
    /// of it, instead of the failed tasks
    #[arg(long, value_name = "TASK")]
    from: Option<String>,
}

#[derive(Args, Debug)]
struct MarkArgs {
    #[command(flatten)]
    target: RunTaskArgs,
    /// The state to record
    #[arg(long, value_enum)]
    state: tasks::MarkState,
    /// Why; recorded with who marked it
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
}

#[derive(Args, Debug)]
struct RunsListArgs {
    /// Only runs of this job
    #[arg(long, value_name = "NAME")]
    job: Option<String>,
    /// Only runs in these states, comma-separated: queued, running, succeeded, failed,
    /// timed_out, cancelled, skipped, paused
    #[arg(long, value_name = "STATES")]
    state: Vec<String>,
    /// Only runs queued since a time (2026-01-01T00:00:00Z) or for a duration back from now
    /// (1h, 2d)
    #[arg(long, value_name = "TIME|DURATION")]
    since: Option<String>,
    /// At most this many runs [default: 100]; when more match, stderr says how many
    #[arg(long, value_name = "N", conflicts_with = "all", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Every matching run (fetched 1000 at a time)
    #[arg(long)]
    all: bool,
}

#[derive(Args, Debug)]
struct RunIdArg {
    /// Run id
    #[arg(value_name = "RUN")]
    run: i64,
}

#[derive(Args, Debug)]
struct LogsArgs {
    /// Run id
    #[arg(value_name = "RUN")]
    run: i64,
    /// Follow the log live until the run ends
    #[arg(short = 'f', long)]
    follow: bool,
}

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Show the next fire times of a cron expression, an interval or a job
    ///
    /// Cron expressions are computed locally with the scheduler's own rules (DST included);
    /// a job name is looked up on the server.
    Preview(PreviewArgs),
}

#[derive(Args, Debug)]
struct PreviewArgs {
    /// A cron expression ("0 9 * * MON-FRI", "@daily"), an interval ("every 30s"), or a job
    /// name; quote it or pass the fields as separate words
    #[arg(value_name = "EXPR|JOB", required = true, num_args = 1..)]
    target: Vec<String>,
    /// Time zone the expression is read in and times are shown in [default: the job's zone,
    /// else UTC]
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// How many fire times to show
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
    count: usize,
    /// Start strictly after this time (2026-03-08T02:30:00Z, or 2026-03-08T02:30 in --tz)
    /// instead of now
    #[arg(long, value_name = "TIME")]
    after: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Convert a crontab into a Jobworks job file
    ///
    /// The job file goes to stdout (or -o FILE); the table of converted entries, lines that
    /// could not be converted and notes go to stderr.
    Crontab(CrontabArgs),
}

#[derive(Args, Debug)]
struct CrontabArgs {
    /// The crontab file (`crontab -l > my.crontab`, /etc/crontab, /etc/cron.d/NAME)
    file: PathBuf,
    /// Read it as a system crontab, with a user field [default for /etc/crontab and
    /// /etc/cron.d/*]
    #[arg(long, conflicts_with = "user")]
    system: bool,
    /// Read it as a user crontab, without a user field [default for other paths]
    #[arg(long)]
    user: bool,
    /// Write the job file here instead of stdout
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also apply the imported jobs to the server
    #[arg(long)]
    apply: bool,
}

fn main() -> ExitCode {
    // one rustls crypto provider (aws-lc-rs) for the server, the CLI and the agent
    jobworks_pki::install_crypto_provider();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = server_help(&args) {
        return code;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            let usage = !matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if usage && output::json_requested(&args) {
                let text = error.render().to_string();
                let headline = text.lines().next().unwrap_or_default();
                let headline = headline.strip_prefix("error: ").unwrap_or(headline);
                output::note(
                    &serde_json::json!({ "error": headline, "detail": text.trim_end() })
                        .to_string(),
                );
                return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
            }
            error.exit()
        }
    };
    let format = cli.global.output;
    // the server configures its own logging
    if !matches!(cli.command, Command::Server(_) | Command::Agent(_)) {
        init_client_tracing();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            output::print_error(&error, format);
            ExitCode::FAILURE
        }
    }
}

/// `jobworks server --help` (or `-h`, or `jobworks help server`): the server's own flags
/// only, without the client options (`--url`, `--token`, `--output`) every other command
/// takes. `None` for any other command line.
fn server_help(args: &[std::ffi::OsString]) -> Option<ExitCode> {
    let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let asks = match words.as_slice() {
        ["help", "server", ..] => true,
        ["server", rest @ ..] => rest.iter().any(|w| *w == "--help" || *w == "-h"),
        _ => false,
    };
    if !asks {
        return None;
    }
    let long = !words.contains(&"-h");
    let mut command = <serve::ServeArgs as clap::Args>::augment_args(
        clap::Command::new("server")
            .bin_name("jobworks server")
            .about("Run the Jobworks server: scheduler, workers and HTTP API")
            .version(env!("CARGO_PKG_VERSION")),
    );
    let help = if long {
        command.render_long_help()
    } else {
        command.render_help()
    };
    let _ = std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!("{help}\n"));
    Some(ExitCode::SUCCESS)
}

/// Calls the function of the chosen command.
async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let Cli { global, command } = cli;
    let format = global.output;
    let connect = || -> anyhow::Result<ApiClient> {
        ApiClient::new(settings::resolve_client(
            global.url.clone(),
            global.token.clone(),
            global.ca.clone(),
        )?)
    };
    match command {
        Command::Server(args) => serve::serve(*args).await?,
        Command::Agent(args) => {
            let server = args.server.clone().or(global.url);
            let defaults = settings::resolve_client(None, None, None)?;
            let token = global.token.or_else(|| {
                std::env::var("JOBWORKS_ENROLLMENT_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty())
            });
            agent::run(args, server, defaults.server_url, token).await?;
        }
        Command::Admin(command) => commands::admin::run(command, format).await?,
        Command::Token(command) => commands::tokens::run(&connect()?, command, format).await?,
        Command::Agents(command) => commands::agents::run(&connect()?, command, format).await?,
        Command::Validate(args) => return validate::run(&args.files, format),
        Command::Workflow(command) => match command {
            // drawing a file needs no server
            WorkflowCommand::Graph(args) => {
                let source = workflow::GraphSource::choose(&args.files, args.name.as_deref())?;
                return workflow::graph_from(source, connect, args.format, format).await;
            }
            WorkflowCommand::List => workflow::list(&connect()?, format).await?,
            WorkflowCommand::Show(args) => workflow::show(&connect()?, &args.name, format).await?,
            WorkflowCommand::Versions(args) => {
                workflow::versions(&connect()?, &args.name, format).await?;
            }
            WorkflowCommand::Pause(args) => {
                workflow::set_paused(&connect()?, &args.name, true, format).await?;
            }
            WorkflowCommand::Resume(args) => {
                workflow::set_paused(&connect()?, &args.name, false, format).await?;
            }
            WorkflowCommand::Delete(args) => {
                workflow::delete(&connect()?, &args.name, format).await?;
            }
        },
        Command::Apply(args) => {
            apply::run(&connect()?, &args.files.files, args.dry_run, format).await?;
        }
        Command::Jobs(command) => {
            let client = connect()?;
            match command {
                JobsCommand::List => jobs::list(&client, format).await?,
                JobsCommand::Show(args) => jobs::show(&client, &args.name, format).await?,
                JobsCommand::Pause(args) => {
                    jobs::set_paused(&client, &args.name, true, format).await?;
                }
                JobsCommand::Resume(args) => {
                    jobs::set_paused(&client, &args.name, false, format).await?;
                }
                JobsCommand::Delete(args) => {
                    jobs::delete(&client, &args.name, args.force, format).await?;
                }
            }
        }
        Command::Run(args) => {
            let options = run::TriggerOptions {
                name: args.name,
                params: args.params,
                wait: args.wait,
                count: args.count,
            };
            return run::run(&connect()?, &options, format).await;
        }
        Command::Backfill(args) => {
            let options = commands::backfill::BackfillOptions {
                name: args.name,
                from: args.from,
                to: args.to,
                tz: jobworks_schedule::parse_timezone(&args.tz)
                    .map_err(|e| anyhow::anyhow!("--tz {}: {e}", args.tz))?,
                params: args.params,
                parallel: args.parallel,
            };
            commands::backfill::run(&connect()?, &options, format).await?;
        }
        Command::Runs(RunsCommand::List(args)) => {
            let options = runs::ListOptions {
                job: args.job,
                states: args.state,
                since: args.since,
                limit: args.limit,
                all: args.all,
            };
            runs::list(&connect()?, &options, format).await?;
        }
        Command::Runs(RunsCommand::Show(args)) => runs::show(&connect()?, args.run, format).await?,
        Command::Runs(RunsCommand::Rerun(args)) => {
            tasks::rerun(&connect()?, args.run, args.from, format).await?;
        }
        Command::Runs(RunsCommand::Mark(args)) => {
            let RunTaskArgs { run, task } = args.target;
            tasks::mark(&connect()?, run, &task, args.state, args.comment, format).await?;
        }
        Command::Runs(RunsCommand::Clear(args)) => {
            tasks::clear(&connect()?, args.run, &args.task, format).await?;
        }
        Command::Approve(args) => {
            let RunTaskArgs { run, task } = args.target;
            let decision = client::Decision::Approve;
            tasks::decide(&connect()?, run, &task, decision, args.comment, format).await?;
        }
        Command::Reject(args) => {
            let RunTaskArgs { run, task } = args.target;
            let decision = client::Decision::Reject;
            tasks::decide(&connect()?, run, &task, decision, args.comment, format).await?;
        }
        Command::Logs(args) => logs::run(&connect()?, args.run, args.follow, format).await?,
        Command::Cancel(args) => runs::cancel(&connect()?, args.run, format).await?,
        Command::Pause(args) => {
            commands::pause::pause(&connect()?, args.run, format).await?;
        }
        Command::Resume(args) => {
            commands::pause::resume(&connect()?, args.run, format).await?;
        }
        Command::Schedule(ScheduleCommand::Preview(args)) => {
            let options = schedule::PreviewOptions {
                target: args.target.join(" "),
                tz: args.tz,
                count: args.count,
                after: args.after,
            };
            schedule::preview(connect, &options, format).await?;
        }
        Command::Import(ImportCommand::Crontab(args)) => {
            let kind = match (args.system, args.user) {
                (true, _) => Some(jobworks_import::CrontabKind::System),
                (_, true) => Some(jobworks_import::CrontabKind::User),
                _ => None,
            };
            let options = import::ImportOptions {
                file: args.file,
                kind,
                out: args.out,
                apply: args.apply,
            };
            import::crontab(connect, &options, format).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Client commands log warnings to stderr; `RUST_LOG` overrides (e.g. `RUST_LOG=debug`).
fn init_client_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Whether the error is stdout closing under us (`jobworks logs 7 | head`): not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_params_and_global_flags_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "jobworks",
            "run",
            "backup",
            "--param",
            "query=a=b",
            "-p",
            "day=",
            "--wait",
            "--output",
            "json",
            "--url",
            "http://127.0.0.1:9000",
        ])
        .expect("valid arguments");
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.url.as_deref(), Some("http://127.0.0.1:9000"));
        let Command::Run(args) = cli.command else {
            panic!("expected the run command");
        };
        assert_eq!(
            args.params,
            [
                ("query".to_owned(), "a=b".to_owned()),
                ("day".to_owned(), String::new())
            ]
        );
        assert!(args.wait);
    }

    #[test]
    fn schedule_preview_joins_words() {
        let cli = Cli::try_parse_from([
            "jobworks", "schedule", "preview", "0", "9", "*", "*", "MON-FRI", "-n", "3",
        ])
        .expect("valid arguments");
        let Command::Schedule(ScheduleCommand::Preview(args)) = cli.command else {
            panic!("expected schedule preview");
        };
        assert_eq!(args.target.join(" "), "0 9 * * MON-FRI");
        assert_eq!(args.count, 3);
    }

    #[test]
    fn workflow_graph_takes_a_file_or_a_stored_name() {
        let cli = Cli::try_parse_from(["jobworks", "workflow", "graph", "etl", "--format", "dot"])
            .expect("a name alone");
        let Command::Workflow(WorkflowCommand::Graph(args)) = cli.command else {
            panic!("expected workflow graph");
        };
        assert!(args.files.is_empty());
        assert_eq!(args.name.as_deref(), Some("etl"));
        let cli = Cli::try_parse_from(["jobworks", "workflow", "graph", "-f", "etl.toml"])
            .expect("a file alone");
        let Command::Workflow(WorkflowCommand::Graph(args)) = cli.command else {
            panic!("expected workflow graph");
        };
        assert_eq!(args.files, [PathBuf::from("etl.toml")]);
        assert_eq!(args.name, None);
    }

    #[test]
    fn backfill_parallel_is_bounded() {
        let parse = |parallel: &str| {
            Cli::try_parse_from([
                "jobworks",
                "backfill",
                "etl",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-31",
                "--parallel",
                parallel,
            ])
        };
        let Command::Backfill(args) = parse("4").expect("in range").command else {
            panic!("expected backfill");
        };
        assert_eq!(args.parallel, Some(4));
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
    }

    #[test]
    fn task_actions_parse() {
        let cli = Cli::try_parse_from([
            "jobworks",
            "runs",
            "mark",
            "42",
            "load",
            "--state",
            "succeeded",
            "--comment",
            "loaded by hand",
        ])
        .expect("mark");
        let Command::Runs(RunsCommand::Mark(args)) = cli.command else {
            panic!("expected runs mark");
        };
        assert_eq!((args.target.run, args.target.task.as_str()), (42, "load"));
        assert_eq!(args.state, tasks::MarkState::Succeeded);
        assert_eq!(args.comment.as_deref(), Some("loaded by hand"));
        assert!(
            Cli::try_parse_from([
                "jobworks", "runs", "mark", "42", "load", "--state", "skipped"
            ])
            .is_err()
        );

        let cli = Cli::try_parse_from(["jobworks", "reject", "42", "gate", "--comment", "not now"])
            .expect("reject");
        let Command::Reject(args) = cli.command else {
            panic!("expected reject");
        };
        assert_eq!(args.target.task, "gate");
        assert_eq!(args.comment.as_deref(), Some("not now"));

        let cli = Cli::try_parse_from(["jobworks", "runs", "rerun", "42", "--from", "load"])
            .expect("rerun");
        let Command::Runs(RunsCommand::Rerun(args)) = cli.command else {
            panic!("expected runs rerun");
        };
        assert_eq!(args.from.as_deref(), Some("load"));
    }
}
