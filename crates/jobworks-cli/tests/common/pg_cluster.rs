//! PostgreSQL harness for the multi-server tests: a throw-away PostgreSQL cluster of the test's
//! own (for tests that restart the database), a scratch database on a shared server, servers
//! started on one database, and HTTP calls that tolerate a server being down.

use super::TestServer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The directory holding `initdb` and `pg_ctl`: the highest version under
/// `/usr/lib/postgresql/*/bin`, or `None` when PostgreSQL is not installed there.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (uid 0, from `/proc/self/status`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().next().map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A free TCP port on 127.0.0.1 (bound, then released: taken by whoever binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A PostgreSQL cluster of the test's own, in a temporary directory, listening on a free
/// loopback port with trust authentication. Stopped (`pg_ctl stop -m immediate`) when dropped.
/// As root (`initdb` refuses root), the cluster's files belong to, and its commands run as, the
/// `postgres` user.
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Port the cluster listens on (127.0.0.1).
    pub port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Runs `initdb` and starts the cluster; `None` (the caller skips) when no PostgreSQL
    /// binaries are installed. Panics when `initdb` or the start fails (with its output).
    pub fn start() -> Option<PgCluster> {
        let bin = pg_bin_dir()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = running_as_root();
        if as_postgres {
            let chowned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(chowned.success(), "chown the cluster dir to postgres");
        }
        let cluster = PgCluster {
            bin,
            port: free_port(),
            dir,
            as_postgres,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            cluster.port,
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("postgres.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-l",
                log.to_str().expect("utf-8 path"),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        Some(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs PostgreSQL tool `tool` with `args` (as `postgres` when root); panics on failure.
    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool, args)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        // the tools must not inherit a directory `postgres` cannot enter
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    /// URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` on this cluster; returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test cluster");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        self.url(name)
    }

    /// Restarts the cluster (`pg_ctl restart -m fast`: open connections are closed), waiting
    /// until it accepts connections again.
    pub fn restart(&self) {
        let data = self.data_dir();
        // the log file again: without it the new postmaster writes to (and holds open) the
        // pipe this waits on
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-l",
                log.to_str().expect("utf-8 path"),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        );
    }

    /// Stops the cluster (`pg_ctl stop -m fast`: open connections are closed), waiting until
    /// it is down.
    pub fn stop(&self) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            ],
        );
    }

    /// Starts a stopped cluster again on its port, waiting until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data_dir();
        let log = self.dir.path().join("postgres.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-l",
                log.to_str().expect("utf-8 path"),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// The tail of the cluster's log (for failure messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let stopped = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or_default(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .output();
        if !matches!(&stopped, Ok(out) if out.status.success()) {
            eprintln!("could not stop the test cluster: {stopped:?}");
        }
    }
}

/// A database of its own on a shared PostgreSQL server, dropped (`WITH (FORCE)`) when this is
/// dropped.
pub struct ScratchDatabase {
    admin_url: String,
    /// Database name.
    pub name: String,
    /// URL of the database (no query string).
    pub url: String,
}

impl ScratchDatabase {
    /// Creates database `name` (dropping a leftover of that name) on the server `admin_url`
    /// names.
    pub async fn create(admin_url: &str, name: &str) -> ScratchDatabase {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to JOBWORKS_TEST_POSTGRES_URL");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("create the scratch database");
        }
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        ScratchDatabase {
            admin_url: admin_url.to_string(),
            url: format!("{server}/{name}"),
            name: name.to_string(),
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // a runtime of its own: Drop may run inside the test's runtime
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Starts a server in `dir` on `database` with `flags`; a server after the first gets the
/// first's `client.toml` (`first`), so all share one admin token.
pub fn start_server(
    dir: &Path,
    first: Option<&Path>,
    database: &str,
    flags: &[&str],
) -> TestServer {
    if let Some(first) = first {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::copy(first.join("data/client.toml"), data.join("client.toml"))
            .expect("copy client.toml");
    }
    let mut args = vec!["--database", database];
    args.extend_from_slice(flags);
    TestServer::start(dir, &args)
}

/// An HTTP client whose calls give up after 5 s (a server may be dead or stalled).
pub fn patient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client")
}

/// `/readyz` of `server`, or `None` when it does not answer (any status is an answer).
pub async fn try_readyz(http: &reqwest::Client, server: &TestServer) -> Option<Value> {
    let resp = http
        .get(format!("{}/readyz", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

/// Waits until a server in `servers` says it leads (and is ready); returns its index and
/// epoch. Panics at `deadline`.
pub async fn leader_of(
    http: &reqwest::Client,
    servers: &[Option<TestServer>],
    deadline: Instant,
) -> (usize, i64) {
    loop {
        for (i, server) in servers.iter().enumerate() {
            let Some(server) = server else { continue };
            if let Some(ready) = try_readyz(http, server).await
                && ready["leader"]["this_server"] == true
                && ready["ready"] == true
                && let Some(epoch) = ready["leader"]["epoch"].as_i64()
            {
                return (i, epoch);
            }
        }
        assert!(Instant::now() < deadline, "no server leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One manual trigger of job `job` through `server`: `Some(run id)` when acknowledged (201),
/// `None` for any other outcome (refused, server down, timed out), which acknowledges nothing.
pub async fn try_trigger(http: &reqwest::Client, server: &TestServer, job: &str) -> Option<i64> {
    let resp = http
        .post(format!("{}/api/v1/jobs/{job}/runs", server.url))
        .bearer_auth(&server.token)
        .json(&json!({ "params": {} }))
        .send()
        .await
        .ok()?;
    if resp.status().as_u16() != 201 {
        return None;
    }
    let body: Value = resp.json().await.ok()?;
    body["runs"][0]["run_id"].as_i64()
}

/// `p50` and maximum of `values` (sorted in place); `(0, 0)` for none.
pub fn p50_max(values: &mut [u128]) -> (u128, u128) {
    values.sort_unstable();
    match values {
        [] => (0, 0),
        _ => (values[values.len() / 2], values[values.len() - 1]),
    }
}
