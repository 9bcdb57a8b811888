//! The server's validated configuration, built by the CLI (the only crate that reads files
//! and environment variables) and handed over as a plain struct.

use chrono_tz::Tz;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A named SQL datasource that SQL tasks can query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datasource {
    /// Name used in job files (`datasource = "reports"`).
    pub name: String,
    /// sqlx URL: `sqlite:PATH`, `postgres://…`, `mysql://…`.
    pub url: String,
}

/// Everything the server needs to run.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address the HTTP API listens on (port 0 = any free port).
    pub listen: SocketAddr,
    /// Directory for task working directories, outputs and backups.
    pub data_dir: PathBuf,
    /// URL of the Jobworks database itself, exposed to SQL tasks as datasource `jobworks`.
    pub store_url: Option<String>,
    /// Named datasources for SQL tasks.
    pub datasources: Vec<Datasource>,
    /// Time zone for cron schedules that name none.
    pub default_timezone: Tz,
    /// Worker pool size: attempts running at once on this server.
    pub workers: usize,
    /// This server's worker id, recorded on attempts and leases; unique per process so that a
    /// restarted server never renews its predecessor's leases.
    pub worker_id: String,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// SIGTERM-to-SIGKILL grace for timeouts and cancels.
    pub kill_grace: Duration,
    /// A tick later than this counts as missed and follows the misfire policy.
    pub misfire_threshold: Duration,
    /// Upper bound on the dispatcher's idle sleep (it also wakes on every enqueue).
    pub poll_interval: Duration,
    /// Environment variables added to every task process (e.g. `JOBWORKS_DB`).
    pub task_env: Vec<(String, String)>,
    /// Largest request body the API reads, in bytes; a larger one is refused with 413.
    pub max_body_bytes: usize,
}

/// Default of [`ServerConfig::max_body_bytes`]: 2 MiB, room for hundreds of job files in one
/// `apply`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;

impl ServerConfig {
    /// Defaults for a server keeping its files in `data_dir`: listen on 127.0.0.1:8080, UTC,
    /// workers = 4 × CPUs (at least 8), 10 s leases, 5 s kill grace, 5 s misfire threshold,
    /// 2 MiB request bodies.
    pub fn new(data_dir: PathBuf) -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            store_url: None,
            datasources: Vec::new(),
            default_timezone: Tz::UTC,
            workers: (cpus * 4).max(8),
            worker_id: format!("jobworks-{}", std::process::id()),
            lease: Duration::from_secs(10),
            kill_grace: Duration::from_secs(5),
            misfire_threshold: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
            task_env: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}
