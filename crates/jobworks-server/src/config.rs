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
    /// Worker pool size: attempts running at once on this server; 0 = no local pool, only
    /// remote agents run tasks (`api::agent`).
    pub workers: usize,
    /// This server's worker id, recorded on attempts and leases and holding the leader lease:
    /// `<hostname>-<UUID v7>` by default ([`default_worker_id`]), unique across hosts and
    /// restarts, so a restarted server never renews its predecessor's leases.
    pub worker_id: String,
    /// Leader lease length: renewed every third of it, so a dead leader is replaced at most
    /// this long after its last renewal.
    pub leader_lease: Duration,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// SIGTERM-to-SIGKILL grace for timeouts and cancels.
    pub kill_grace: Duration,
    /// How long the server's own pool lets an attempt run without a confirmed lease renewal
    /// (the store unreachable) before stopping it itself; `None`: the default for the lease
    /// and kill grace (`jobworks_worker::fence::default_max_disconnect`; 3.33 s for 10 s and
    /// 5 s). Must be shorter than `lease`.
    pub max_disconnect: Option<Duration>,
    /// Drain deadline of a graceful shutdown: the most time from the stop request to the
    /// server having stopped. Log streams end with their `end` event by then (one second
    /// before it, or a quarter of it when shorter), and what has not stopped is abandoned.
    /// Should exceed `kill_grace`, so stopped attempts can still be recorded.
    pub shutdown_grace: Duration,
    /// A tick later than this counts as missed and follows the misfire policy.
    pub misfire_threshold: Duration,
    /// Upper bound on the dispatcher's idle sleep (it also wakes on every enqueue).
    pub poll_interval: Duration,
    /// Environment variables added to every task process (e.g. `JOBWORKS_DB`).
    pub task_env: Vec<(String, String)>,
    /// The wall clock every loop and handler reads (the system clock; tests may set another).
    pub clock: crate::clock::Clock,
    /// Largest request body the API reads, in bytes; a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// Retention: finished runs that ended longer ago than this are deleted (with their
    /// tasks, attempts, events and logs) by the janitor; `None` keeps runs forever.
    pub retention_runs: Option<Duration>,
    /// The heartbeat interval asked of agents (`--agent-heartbeat`; default 15 s,
    /// [`crate::registry::DEFAULT_AGENT_HEARTBEAT`]). Their effective state is judged against
    /// it: suspect after 3 missed intervals, offline after 5.
    pub agent_heartbeat: Duration,
    /// The fingerprint of the CA agents pin (printed into every enrollment token); `None`
    /// when the server has no CA, and then enrollment tokens cannot be created.
    pub agent_ca_pin: Option<jobworks_pki::Fingerprint>,
    /// Serve the API over TLS with this configuration (build it with
    /// [`crate::tls::api_tls_config`]); `None` (the default) serves plain HTTP.
    pub tls: Option<crate::tls::TlsConfig>,
}

/// Default of [`ServerConfig::max_body_bytes`]: 2 MiB, room for hundreds of job files in one
/// `apply`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;

/// Default of [`ServerConfig::retention_runs`]: 30 days.
pub const DEFAULT_RETENTION_RUNS: Duration = Duration::from_secs(30 * 24 * 3600);

impl ServerConfig {
    /// Defaults for a server keeping its files in `data_dir`: listen on 127.0.0.1:8080, UTC,
    /// workers = 4 × CPUs (at least 8), a fresh [`default_worker_id`], 10 s leases, 6 s leader
    /// lease, 5 s kill grace, 30 s shutdown grace,
    /// 5 s misfire threshold, 2 MiB request bodies, runs kept 30 days, agent heartbeats every
    /// 15 s, no agent CA.
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
            worker_id: default_worker_id(),
            leader_lease: crate::leader::DEFAULT_LEADER_LEASE,
            lease: Duration::from_secs(10),
            kill_grace: Duration::from_secs(5),
            max_disconnect: None,
            shutdown_grace: Duration::from_secs(30),
            misfire_threshold: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
            task_env: Vec::new(),
            clock: crate::clock::Clock::system(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retention_runs: Some(DEFAULT_RETENTION_RUNS),
            agent_heartbeat: crate::registry::DEFAULT_AGENT_HEARTBEAT,
            agent_ca_pin: None,
            tls: None,
        }
    }
}

/// A worker id unique across hosts and restarts: `<hostname>-<UUID v7>` (the UUID is random
/// with a millisecond time prefix, so ids also sort by start time). The host name is `host`
/// when the system does not give one.
pub fn default_worker_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_string());
    format!("{host}-{}", uuid::Uuid::now_v7())
}

/// The host part of a worker id made by [`default_worker_id`]: everything before the UUID
/// (36 characters and a dash); `None` for an id of another shape.
pub fn worker_host(worker_id: &str) -> Option<&str> {
    let split = worker_id.len().checked_sub(37)?;
    let (host, rest) = worker_id.split_at_checked(split)?;
    let uuid = rest.strip_prefix('-')?;
    uuid::Uuid::try_parse(uuid).ok()?;
    Some(host).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_are_unique_and_name_the_host() {
        let a = default_worker_id();
        let b = default_worker_id();
        assert_ne!(a, b);
        let host = worker_host(&a).expect("host part");
        assert_eq!(worker_host(&b), Some(host));
        let uuid = uuid::Uuid::try_parse(&a[host.len() + 1..]).expect("uuid");
        assert_eq!(uuid.get_version_num(), 7);
    }

    #[test]
    fn worker_host_of_other_shapes() {
        for (id, want) in [
            ("web-1-0190c7a2-5b4e-7c1d-8a2b-3c4d5e6f7a8b", Some("web-1")),
            ("0190c7a2-5b4e-7c1d-8a2b-3c4d5e6f7a8b", None),
            ("-0190c7a2-5b4e-7c1d-8a2b-3c4d5e6f7a8b", None),
            ("jobworks-1234", None),
            ("", None),
            ("web-1-not-a-uuid-at-all-but-36-chars-long", None),
        ] {
            assert_eq!(worker_host(id), want, "{id}");
        }
    }
}
