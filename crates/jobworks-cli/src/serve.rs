//! `jobworks server`: builds the server configuration from flags, environment variables and
//! an optional config file, opens the embedded store, prints the admin token at first start,
//! loads the demo jobs on `--demo`, and runs until Ctrl-C or SIGTERM.

use crate::settings::{read_client_file, write_client_file};
use anyhow::{Context, bail};
use jobworks_protocol::SourceFile;
use jobworks_schedule::{parse_duration, parse_timezone};
use jobworks_server::{Datasource, Server, ServerConfig};
use jobworks_store_sqlite::{Durability, SqliteStore, SqliteStoreOptions};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Flags of `jobworks server`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// SQLite database file (created if missing).
    #[arg(long, env = "JOBWORKS_DB", default_value = "jobworks.db")]
    pub db: PathBuf,
    /// Directory for task working directories, outputs, backups and the client config.
    #[arg(long, env = "JOBWORKS_DATA_DIR", default_value = "jobworks-data")]
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "JOBWORKS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Server config file (TOML: listen, timezone, workers, [datasources]).
    #[arg(long, env = "JOBWORKS_SERVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Default IANA time zone for cron schedules that name none.
    #[arg(long, env = "JOBWORKS_TIMEZONE")]
    pub timezone: Option<String>,
    /// Worker pool size: attempts running at once.
    #[arg(long, env = "JOBWORKS_WORKERS")]
    pub workers: Option<usize>,
    /// Lease length of running attempts (renewed every third of it), e.g. 10s.
    #[arg(long, env = "JOBWORKS_LEASE", default_value = "10s")]
    pub lease: String,
    /// Grace between SIGTERM and SIGKILL on timeout or cancel, e.g. 5s.
    #[arg(long, env = "JOBWORKS_KILL_GRACE", default_value = "5s")]
    pub kill_grace: String,
    /// A tick later than this is a misfire and follows the job's misfire policy.
    #[arg(long, env = "JOBWORKS_MISFIRE_THRESHOLD", default_value = "5s")]
    pub misfire_threshold: String,
    /// `full` waits for the disk on every commit; `normal` (default) survives process
    /// crashes but may lose the last commits on power loss.
    #[arg(long, env = "JOBWORKS_DURABILITY", default_value = "normal", value_parser = ["normal", "full"])]
    pub durability: String,
    /// Largest API request body accepted, e.g. 2MiB (the default) or 500KB; a larger one
    /// is refused with 413 Payload Too Large.
    #[arg(long, env = "JOBWORKS_MAX_BODY", default_value = "2MiB")]
    pub max_body: String,
    /// Load the example jobs (disk usage, heartbeat, backup, dpkg summary, SQL report, flaky).
    #[arg(long)]
    pub demo: bool,
}

/// The server config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    listen: Option<SocketAddr>,
    timezone: Option<String>,
    workers: Option<usize>,
    #[serde(default)]
    datasources: BTreeMap<String, String>,
}

/// The example jobs, embedded so `--demo` works from any directory.
const DEMO_FILES: &[(&str, &str)] = &[
    (
        "examples/disk-usage.toml",
        include_str!("../../../examples/disk-usage.toml"),
    ),
    (
        "examples/heartbeat.toml",
        include_str!("../../../examples/heartbeat.toml"),
    ),
    (
        "examples/backup.toml",
        include_str!("../../../examples/backup.toml"),
    ),
    (
        "examples/dpkg-summary.toml",
        include_str!("../../../examples/dpkg-summary.toml"),
    ),
    (
        "examples/runs-report.toml",
        include_str!("../../../examples/runs-report.toml"),
    ),
    (
        "examples/flaky.toml",
        include_str!("../../../examples/flaky.toml"),
    ),
    (
        "examples/ops-report.toml",
        include_str!("../../../examples/ops-report.toml"),
    ),
];

fn duration(flag: &str, text: &str) -> anyhow::Result<std::time::Duration> {
    parse_duration(text).map_err(|e| anyhow::anyhow!("--{flag} {text}: {e}"))
}

fn load_server_file(path: Option<&Path>) -> anyhow::Result<ServerFile> {
    let Some(path) = path else {
        return Ok(ServerFile::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read server config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid server config {}", path.display()))
}

/// Builds the configuration (flags > environment > config file > defaults) without side
/// effects.
fn build_config(args: &ServeArgs, file: ServerFile, db: &Path) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::new(args.data_dir.clone());
    if let Some(listen) = args.listen.or(file.listen) {
        config.listen = listen;
    }
    if let Some(tz) = args.timezone.clone().or(file.timezone) {
        config.default_timezone = parse_timezone(&tz).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if let Some(workers) = args.workers.or(file.workers) {
        if workers == 0 {
            bail!("workers must be at least 1");
        }
        config.workers = workers;
    }
    config.lease = duration("lease", &args.lease)?;
    if config.lease < std::time::Duration::from_millis(300) {
        bail!("--lease {} is too short: use at least 300ms", args.lease);
    }
    config.kill_grace = duration("kill-grace", &args.kill_grace)?;
    config.misfire_threshold = duration("misfire-threshold", &args.misfire_threshold)?;
    config.max_body_bytes = jobworks_domain::file::size::parse_size(&args.max_body)
        .ok()
        .and_then(|bytes| usize::try_from(bytes).ok())
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--max-body {}: expected a size like 2MiB or 500KB (B, KiB, MiB, GiB, KB, MB, GB)",
                args.max_body
            )
        })?;
    config.store_url = Some(format!("sqlite:{}?mode=ro", db.display()));
    config.datasources = file
        .datasources
        .into_iter()
        .map(|(name, url)| Datasource { name, url })
        .collect();
    config.task_env = vec![("JOBWORKS_DB".into(), db.display().to_string())];
    Ok(config)
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JOBWORKS_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let db = if args.db.is_absolute() {
        args.db.clone()
    } else {
        std::env::current_dir()?.join(&args.db)
    };
    let file = load_server_file(args.config.as_deref())?;
    let mut config = build_config(&args, file, &db)?;
    config.data_dir = data_dir.clone();
    let mut options = SqliteStoreOptions::new(&db);
    options.durability = if args.durability == "full" {
        Durability::Full
    } else {
        Durability::Normal
    };
    let store = SqliteStore::open(options)
        .await
        .with_context(|| format!("cannot open the Jobworks database {}", db.display()))?;
    let store = Arc::new(store);
    let server = Server::new(config, store.clone());
    let new_token = server.ensure_admin_token().await?;
    let running = server.start().await.context(
        "cannot start the server (is another one using the port? try --listen 127.0.0.1:0)",
    )?;
    let url = format!("http://{}", running.addr);

    let client_path = data_dir.join("client.toml");
    let mut client = read_client_file(&client_path).unwrap_or_default();
    client.url = Some(url.clone());
    if let Some(token) = &new_token {
        client.token = Some(token.clone());
    }
    write_client_file(&client_path, &client)?;

    if args.demo {
        let files: Vec<SourceFile> = DEMO_FILES
            .iter()
            .map(|(name, content)| SourceFile {
                name: (*name).to_string(),
                content: (*content).to_string(),
            })
            .collect();
        if let Err(e) = jobworks_server::api::apply_files(&running.state, &files, false).await {
            bail!("demo jobs did not apply: {e}");
        }
    }
    println!("Jobworks {} listening on {url}", env!("CARGO_PKG_VERSION"));
    println!("  database:  {}", db.display());
    println!("  data dir:  {}", data_dir.display());
    match &new_token {
        Some(token) => {
            println!(
                "  admin token (shown once; saved to {}):",
                client_path.display()
            );
            println!("    {token}");
        }
        None => println!(
            "  token:     in {} (created at first start)",
            client_path.display()
        ),
    }
    if args.demo {
        println!("  demo jobs: {}", DEMO_FILES.len());
    }
    println!();
    println!(
        "Try, from this directory (elsewhere: export JOBWORKS_CONFIG={}):",
        client_path.display()
    );
    println!("  jobworks jobs list");
    println!("  jobworks run flaky --wait");
    println!("  jobworks run ops-report --wait     (a workflow)");
    println!("  jobworks runs list");
    println!("Stop with Ctrl-C.");

    let stop = running.shutdown_token();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: stopping running attempts and flushing logs");
    stop.cancel();
    running.wait().await;
    store.close().await;
    Ok(())
}
