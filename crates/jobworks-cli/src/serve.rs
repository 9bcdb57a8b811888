//! `jobworks server`: builds the server configuration from flags, environment variables and
//! an optional config file, binds the port, opens the embedded store, makes the admin token
//! at first start (atomically: see [`first_start`]), loads the demo jobs on `--demo` into a
//! database without definitions, and runs until Ctrl-C or SIGTERM.

use crate::database::Database;
use crate::settings::{read_client_file, write_client_file};
use anyhow::{Context, bail};
use jobworks_protocol::SourceFile;
use jobworks_schedule::{parse_duration, parse_timezone};
use jobworks_server::{Datasource, RunningServer, Server, ServerConfig};
use jobworks_store::Store;
use jobworks_store_postgres::{PostgresStore, PostgresStoreOptions};
use jobworks_store_sqlite::{Durability, SqliteStore, SqliteStoreOptions};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Flags of `jobworks server`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// SQLite database file (created if missing); `--database` wins over it.
    #[arg(long, env = "JOBWORKS_DB", default_value = "jobworks.db")]
    pub db: PathBuf,
    /// The Jobworks database: `sqlite:PATH` (default: the `--db` file) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, which several servers can share.
    #[arg(long, env = "JOBWORKS_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
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
    /// Worker pool size: attempts running at once on this server; 0 runs no task here, only
    /// on remote agents (`jobworks agent`).
    #[arg(long, env = "JOBWORKS_WORKERS")]
    pub workers: Option<usize>,
    /// Lease length of running attempts (renewed every third of it), e.g. 10s.
    #[arg(long, env = "JOBWORKS_LEASE", default_value = "10s")]
    pub lease: String,
    /// Leader lease of servers sharing one database (renewed every third of it): a dead
    /// leader's duties (firing ticks, reaping leases, retention) move to another server at
    /// most this long after its last renewal, e.g. 6s.
    #[arg(long, env = "JOBWORKS_LEADER_LEASE", default_value = "6s")]
    pub leader_lease: String,
    /// Grace between SIGTERM and SIGKILL on timeout or cancel, e.g. 5s.
    #[arg(long, env = "JOBWORKS_KILL_GRACE", default_value = "5s")]
    pub kill_grace: String,
    /// The server's own pool stops an attempt whose lease it could not renew for this long
    /// (the database unreachable), before the lease runs out and another server may retry
    /// it; shorter than --lease [default: two thirds of the lease, less the kill grace
    /// where needed, so the task is gone a sixth of the lease before it expires]
    #[arg(long, env = "JOBWORKS_MAX_DISCONNECT")]
    pub max_disconnect: Option<String>,
    /// Drain deadline when stopping (Ctrl-C, SIGTERM): the server exits at most this long
    /// after the signal, whatever clients are connected; must exceed --kill-grace.
    #[arg(long, env = "JOBWORKS_SHUTDOWN_GRACE", default_value = "30s")]
    pub shutdown_grace: String,
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
    /// Retention: delete finished runs (with their logs) that ended longer ago than this,
    /// e.g. 30d; `off` keeps them forever [default: config file `[retention] runs`, else 30d]
    #[arg(long, env = "JOBWORKS_RETENTION_RUNS", value_name = "DURATION|off")]
    pub retention_runs: Option<String>,
    /// How often agents heartbeat, e.g. 15s (they add ±20 % jitter); an agent silent for 3
    /// intervals is `suspect` (no new work), for 5 `offline`.
    #[arg(long, env = "JOBWORKS_AGENT_HEARTBEAT", default_value = "15s")]
    pub agent_heartbeat: String,
    /// Load the example jobs (disk usage, heartbeat, backup, dpkg summary, SQL report, flaky)
    /// into a database that has no jobs or workflows yet; never touches existing definitions.
    #[arg(long)]
    pub demo: bool,
    /// `auto`: serve HTTPS with a certificate the internal CA (`<data dir>/pki/ca.crt`) issues
    /// for the listen address, localhost, 127.0.0.1 and the host name (reissued at start when
    /// 2/3 of its year has passed); `off` (default): plain HTTP, unless --tls-cert is given.
    #[arg(long, env = "JOBWORKS_TLS", value_name = "auto|off")]
    pub tls: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "JOBWORKS_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, SEC1 or PKCS#1).
    #[arg(long, env = "JOBWORKS_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

/// The `[retention]` table of the server config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    /// Like `--retention-runs`.
    runs: Option<String>,
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
    #[serde(default)]
    retention: RetentionFile,
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

/// `--retention-runs` / `[retention] runs`: a duration, or `off` (keep forever).
fn retention(text: &str) -> anyhow::Result<Option<std::time::Duration>> {
    if text.trim() == "off" {
        return Ok(None);
    }
    let keep = duration("retention-runs", text)?;
    if keep < std::time::Duration::from_secs(60) {
        bail!("--retention-runs {text} is too short: use at least 1m, or `off`");
    }
    Ok(Some(keep))
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
fn build_config(
    args: &ServeArgs,
    file: ServerFile,
    database: &Database,
) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::new(args.data_dir.clone());
    if let Some(listen) = args.listen.or(file.listen) {
        config.listen = listen;
    }
    if let Some(tz) = args.timezone.clone().or(file.timezone) {
        config.default_timezone = parse_timezone(&tz).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if let Some(workers) = args.workers.or(file.workers) {
        // 0: no local pool, only agents (`jobworks agent`) run tasks
        config.workers = workers;
    }
    config.lease = duration("lease", &args.lease)?;
    if config.lease < std::time::Duration::from_millis(300) {
        bail!("--lease {} is too short: use at least 300ms", args.lease);
    }
    config.leader_lease = duration("leader-lease", &args.leader_lease)?;
    if config.leader_lease < std::time::Duration::from_millis(300) {
        bail!(
            "--leader-lease {} is too short: use at least 300ms",
            args.leader_lease
        );
    }
    config.kill_grace = duration("kill-grace", &args.kill_grace)?;
    if let Some(text) = &args.max_disconnect {
        let max = duration("max-disconnect", text)?;
        match jobworks_worker::fence::check_max_disconnect(max, config.lease, config.kill_grace) {
            Err(e) => bail!("--max-disconnect {text}: {e} (--lease {})", args.lease),
            Ok(Some(warning)) => eprintln!("warning: --max-disconnect {text}: {warning}"),
            Ok(None) => {}
        }
        config.max_disconnect = Some(max);
    }
    config.shutdown_grace = duration("shutdown-grace", &args.shutdown_grace)?;
    if config.shutdown_grace <= config.kill_grace {
        bail!(
            "--shutdown-grace {} must be longer than --kill-grace {}: stopped tasks get the kill grace to exit before the server does",
            args.shutdown_grace,
            args.kill_grace
        );
    }
    config.misfire_threshold = duration("misfire-threshold", &args.misfire_threshold)?;
    config.agent_heartbeat = duration("agent-heartbeat", &args.agent_heartbeat)?;
    if config.agent_heartbeat < std::time::Duration::from_millis(100) {
        bail!(
            "--agent-heartbeat {} is too short: use at least 100ms",
            args.agent_heartbeat
        );
    }
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
    config.datasources = file
        .datasources
        .into_iter()
        .map(|(name, url)| Datasource { name, url })
        .collect();
    match database {
        Database::Sqlite(db) => {
            config.store_url = Some(format!("sqlite:{}?mode=ro", db.display()));
            config.task_env = vec![("JOBWORKS_DB".into(), db.display().to_string())];
        }
        Database::Postgres(url) => {
            config.store_url = Some(read_only_postgres(url)?);
            config.task_env = Vec::new();
        }
    }
    if let Some(text) = args.retention_runs.clone().or(file.retention.runs) {
        config.retention_runs = retention(&text)?;
    }
    Ok(config)
}

/// The URL SQL tasks use for the built-in `jobworks` datasource on a PostgreSQL store: the
/// store's own URL with `options[default_transaction_read_only]=on`, so every transaction of
/// such a task is read-only, as SQLite's `mode=ro` makes it there (a report query cannot change
/// the store by mistake). The setting is made at connection start, so `DISCARD ALL` between
/// reused tasks restores it. Errors: a URL that does not parse.
pub fn read_only_postgres(url: &str) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("--database: not a valid PostgreSQL URL ({e})"))?;
    parsed
        .query_pairs_mut()
        .append_pair("options[default_transaction_read_only]", "on");
    Ok(parsed.to_string())
}

/// First start, atomically: on a listener already bound, creates the admin token if the store
/// has none, writes `client.toml` (0600) with the URL and that token, then starts serving.
/// If anything between fails, the token row is deleted and `client.toml` restored, so the
/// next start begins afresh (no token in the database that nobody was ever shown). Returns
/// the running server and the new token's secret, if one was made.
async fn first_start(
    server: Server,
    store: &dyn Store,
    listener: tokio::net::TcpListener,
    client_path: &Path,
    tls: bool,
    ca_file: Option<PathBuf>,
) -> anyhow::Result<(RunningServer, Option<String>)> {
    let addr = listener
        .local_addr()
        .context("cannot read the listen address")?;
    let previous = match std::fs::read(client_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", client_path.display())),
    };
    let new_token = server.ensure_admin_token().await?;
    let started = async {
        let mut client = read_client_file(client_path).unwrap_or_default();
        client.url = Some(server_url(addr, tls));
        client.ca = ca_file;
        if let Some((secret, _)) = &new_token {
            client.token = Some(secret.clone());
        }
        write_client_file(client_path, &client)?;
        server
            .start_on(listener)
            .await
            .context("cannot start the server")
    }
    .await;
    match started {
        Ok(running) => Ok((running, new_token.map(|(secret, _)| secret))),
        Err(e) => {
            if let Some((_, record)) = &new_token {
                if let Err(undo) = store.delete_token(record.id).await {
                    tracing::error!(error = %undo, "cannot remove the half-made admin token");
                }
                let _ = match &previous {
                    Some(bytes) => std::fs::write(client_path, bytes),
                    None => std::fs::remove_file(client_path),
                };
            }
            Err(e)
        }
    }
}

/// The URL clients use for a server listening on `addr`: `https://` when it serves TLS; an
/// unspecified address (0.0.0.0, ::) becomes 127.0.0.1, which the `--tls auto`
/// certificate names.
fn server_url(addr: SocketAddr, tls: bool) -> String {
    if tls {
        let mut addr = addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

/// `--demo`: applies the embedded examples only when the database has no jobs and no
/// workflows, so a user's edits, pauses and deletions are never overwritten. Returns whether
/// they were loaded.
async fn load_demo(running: &RunningServer, store: &dyn Store) -> anyhow::Result<bool> {
    if !store.list_jobs().await?.is_empty() || !store.list_workflows().await?.is_empty() {
        return Ok(false);
    }
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
    Ok(true)
}

/// Logs of a long-running command (server, agent) to stderr: the filter from
/// `JOBWORKS_LOG`, else `default_filter`; colours only on a terminal.
pub fn init_logging(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JOBWORKS_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging("info,sqlx=warn");
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let database = match Database::choose(args.database.as_deref(), &args.db)
        .map_err(|e| anyhow::anyhow!("--database: {e}"))?
    {
        Database::Sqlite(db) if db.is_relative() => {
            Database::Sqlite(std::env::current_dir()?.join(db))
        }
        other => other,
    };
    let file = load_server_file(args.config.as_deref())?;
    let mut config = build_config(&args, file, &database)?;
    config.data_dir = data_dir.clone();
    // the CA agents pin in their enrollment tokens: made at first start, kept in the data dir
    let pki_dir = data_dir.join("pki");
    let (ca, _) =
        jobworks_pki::Ca::load_or_create(&pki_dir, chrono::Utc::now()).with_context(|| {
            format!(
                "cannot load or create the agent CA in {}",
                pki_dir.display()
            )
        })?;
    config.agent_ca_pin = Some(ca.fingerprint());
    let tls_mode = crate::serve_tls::tls_mode(
        args.tls.as_deref(),
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
    )?;
    let worker_id = jobworks_server::config::default_worker_id();
    let names = crate::serve_tls::server_names(
        config.listen,
        jobworks_server::config::worker_host(&worker_id),
    );
    let tls = crate::serve_tls::prepare(&tls_mode, &ca, &pki_dir, &names, chrono::Utc::now())?;
    let ca_file = match tls {
        Some((tls, ca_file)) => {
            config.tls = Some(tls);
            ca_file
        }
        None => None,
    };
    // bind first: with the port busy nothing is created, not even the database
    let listener = jobworks_server::bind(config.listen).await.context(
        "cannot start the server (is another one using the port? try --listen 127.0.0.1:0)",
    )?;
    let opened = open_store(&database, &args.durability).await?;
    let store = opened.store();
    let client_path = data_dir.join("client.toml");
    let tls_on = config.tls.is_some();
    let server = Server::new(config, store.clone());
    let (running, new_token) = first_start(
        server,
        store.as_ref(),
        listener,
        &client_path,
        tls_on,
        ca_file.clone(),
    )
    .await?;
    let url = server_url(running.addr, running.state.config.tls.is_some());

    let demo_loaded = if args.demo {
        load_demo(&running, store.as_ref()).await?
    } else {
        false
    };
    println!("Jobworks {} listening on {url}", env!("CARGO_PKG_VERSION"));
    println!("  database:  {}", database.display());
    println!("  data dir:  {}", data_dir.display());
    match (&tls_mode, &ca_file) {
        (crate::serve_tls::TlsMode::Off, _) => {}
        (_, Some(ca)) => println!(
            "  TLS:       certificate of the internal CA {}",
            ca.display()
        ),
        (_, None) => println!(
            "  TLS:       --tls-cert {}",
            args.tls_cert.as_deref().unwrap_or(Path::new("")).display()
        ),
    }
    if running.state.config.workers == 0 {
        println!("  workers:   none here (--workers 0); tasks run on agents: jobworks agent");
    }
    match &new_token {
        Some(token) => {
            println!(
                "  admin token (shown once; saved to {}):",
                client_path.display()
            );
            println!("    {token}");
        }
        None if read_client_file(&client_path)
            .ok()
            .and_then(|c| c.token)
            .is_some() =>
        {
            println!(
                "  token:     in {} (created at first start)",
                client_path.display()
            )
        }
        None => println!(
            "  token:     none in {}; make one with `jobworks admin token create NAME --database {}`",
            client_path.display(),
            database.display()
        ),
    }
    if demo_loaded {
        println!("  demo jobs: {}", DEMO_FILES.len());
    } else if args.demo {
        println!(
            "  demo jobs: not loaded (the database already has jobs or workflows; --demo \
             never changes them)"
        );
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
    if !running.wait().await {
        // something did not stop within the drain deadline: exit anyway
        eprintln!("jobworks: the shutdown grace passed; exiting with work unfinished");
        std::process::exit(1);
    }
    opened.close().await;
    Ok(())
}

/// The store a server opened, kept by its concrete type to close it at the end.
enum OpenedStore {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl OpenedStore {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            OpenedStore::Sqlite(store) => store.clone(),
            OpenedStore::Postgres(store) => store.clone(),
        }
    }

    async fn close(&self) {
        match self {
            OpenedStore::Sqlite(store) => store.close().await,
            OpenedStore::Postgres(store) => store.close().await,
        }
    }
}

/// Opens (creating or migrating) the database `--database` names.
async fn open_store(database: &Database, durability: &str) -> anyhow::Result<OpenedStore> {
    match database {
        Database::Sqlite(db) => {
            let mut options = SqliteStoreOptions::new(db);
            options.durability = if durability == "full" {
                Durability::Full
            } else {
                Durability::Normal
            };
            let store = SqliteStore::open(options)
                .await
                .with_context(|| format!("cannot open the Jobworks database {}", db.display()))?;
            Ok(OpenedStore::Sqlite(Arc::new(store)))
        }
        Database::Postgres(url) => {
            let store = PostgresStore::connect(PostgresStoreOptions::new(url.clone()))
                .await
                .with_context(|| {
                    format!(
                        "cannot open the Jobworks database {}",
                        crate::database::redact_password(url)
                    )
                })?;
            Ok(OpenedStore::Postgres(Arc::new(store)))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_builtin_datasource_url_is_read_only_on_postgres() {
        for (url, want) in [
            (
                "postgres://jobworks@db:5432/jobworks",
                "postgres://jobworks@db:5432/jobworks?options%5Bdefault_transaction_read_only%5D=on",
            ),
            (
                "postgres://u:p@127.0.0.1/x?sslmode=disable",
                "postgres://u:p@127.0.0.1/x?sslmode=disable&options%5Bdefault_transaction_read_only%5D=on",
            ),
        ] {
            assert_eq!(read_only_postgres(url).expect("url"), want, "{url}");
        }
        assert!(read_only_postgres("not a url").is_err());
    }

    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(flags: &[&str], file: &str) -> anyhow::Result<ServerConfig> {
        let wrapper =
            Wrapper::try_parse_from(std::iter::once("server").chain(flags.iter().copied()))?;
        let file: ServerFile = toml::from_str(file)?;
        build_config(
            &wrapper.args,
            file,
            &Database::Sqlite(PathBuf::from("/tmp/j.db")),
        )
    }

    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

    #[test]
    fn retention_comes_from_the_flag_then_the_file_then_30_days() {
        let table: [(&[&str], &str, Option<std::time::Duration>); 5] = [
            (&[], "", Some(30 * DAY)),
            (&[], "[retention]\nruns = \"90d\"\n", Some(90 * DAY)),
            (
                &["--retention-runs", "7d"],
                "[retention]\nruns = \"90d\"\n",
                Some(7 * DAY),
            ),
            (&["--retention-runs", "off"], "", None),
            (&[], "[retention]\nruns = \"off\"\n", None),
        ];
        for (flags, file, want) in table {
            let got = config(flags, file).expect("valid").retention_runs;
            assert_eq!(got, want, "{flags:?} {file:?}");
        }
    }

    #[test]
    fn max_disconnect_is_unset_by_default_and_must_be_under_the_lease() {
        assert_eq!(config(&[], "").expect("valid").max_disconnect, None);
        let got = config(&["--lease", "30s", "--max-disconnect", "20s"], "")
            .expect("valid")
            .max_disconnect;
        assert_eq!(got, Some(std::time::Duration::from_secs(20)));
        for (flags, start) in [
            (
                &["--lease", "10s", "--max-disconnect", "10s"][..],
                "--max-disconnect 10s: max_disconnect (10000 ms) must be shorter than the lease",
            ),
            (&["--max-disconnect", "soon"][..], "--max-disconnect soon: "),
        ] {
            let err = config(flags, "").expect_err("refused").to_string();
            assert!(err.starts_with(start), "{flags:?}: {err}");
        }
    }

    #[test]
    fn the_leader_lease_defaults_to_6s_and_is_checked() {
        let got = config(&[], "").expect("valid").leader_lease;
        assert_eq!(got, std::time::Duration::from_secs(6));
        let got = config(&["--leader-lease", "2s"], "")
            .expect("valid")
            .leader_lease;
        assert_eq!(got, std::time::Duration::from_secs(2));
        let err = config(&["--leader-lease", "100ms"], "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("too short"), "{err}");
        let err = config(&["--leader-lease", "soon"], "")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--leader-lease soon: "), "{err}");
    }

    #[test]
    fn bad_retention_is_refused_with_the_flag_named() {
        let err = config(&["--retention-runs", "soon"], "")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--retention-runs soon: "), "{err}");
        let err = config(&["--retention-runs", "10s"], "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("too short"), "{err}");
        let err = config(&[], "[retention]\nlogs = \"1d\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err:#}");
    }
}
