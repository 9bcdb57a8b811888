//! PostgreSQL databases for end-to-end servers (`JOBWORKS_TEST_BACKEND=postgres`).
//!
//! Each server directory gets a database `jw_e2e_<pid>_<n>` (pid of the test process, `n` a
//! counter in it) on the server `JOBWORKS_TEST_POSTGRES_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/test`). Its URL is written to `dir/postgres-url`, so a
//! server restarted on the same directory (crash tests) opens the same database. The database
//! is dropped when the last [`Lease`] on it goes; ones left by test processes that died (their
//! pid no longer alive) are dropped the first time a process makes one. Creation and removal go
//! through `psql` (installed by `.ci/run`), which keeps this synchronous and usable in `Drop`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};

/// The server used when `JOBWORKS_TEST_POSTGRES_URL` is unset.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Prefix of every database the harness makes.
const PREFIX: &str = "jw_e2e_";

/// Number of live [`Lease`]s per database name.
static LEASES: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
/// Next database number in this process.
static COUNTER: AtomicU32 = AtomicU32::new(0);
/// Sweeps databases of dead test processes once per process.
static SWEEP: Once = Once::new();

/// The admin URL: `JOBWORKS_TEST_POSTGRES_URL`, or [`DEFAULT_URL`].
fn admin_url() -> String {
    std::env::var("JOBWORKS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// `url` with its database (the last path segment, and any `?options`) replaced by `name`.
fn url_of(admin: &str, name: &str) -> String {
    let base = admin.split('?').next().unwrap_or(admin);
    let server = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://") && !server.ends_with('/'))
        .map_or(base, |(server, _)| server);
    format!("{server}/{name}")
}

/// The database name a URL of ours ends with.
fn name_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_string()
}

/// Runs one SQL statement with `psql` on the admin database; returns its unaligned output.
/// Panics with psql's message on failure (a test cannot go on without its database).
fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(admin_url())
        .args(["-c", sql])
        .output()
        .expect("psql is installed (.ci/run installs postgresql-client)");
    assert!(
        out.status.success(),
        "psql `{sql}` on JOBWORKS_TEST_POSTGRES_URL failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Drops database `name` (disconnecting whoever still uses it).
fn drop_database(name: &str) {
    psql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
}

/// Drops every `jw_e2e_<pid>_*` database whose test process is gone.
fn sweep_dead() {
    let names = psql(&format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{}%'",
        PREFIX.replace('_', "\\_")
    ));
    for name in names.lines() {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            drop_database(name);
        }
    }
}

/// One server's hold on its database; the last one dropped drops the database.
pub struct Lease {
    url: String,
    name: String,
}

impl Lease {
    /// The database of server directory `dir`: the one `dir/postgres-url` names (created again
    /// if it is gone), else a fresh one, remembered there.
    pub fn for_dir(dir: &Path) -> Lease {
        SWEEP.call_once(sweep_dead);
        let remembered = dir.join("postgres-url");
        let url = match std::fs::read_to_string(&remembered) {
            Ok(url) => url.trim().to_string(),
            Err(_) => {
                let name = format!(
                    "{PREFIX}{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                let url = url_of(&admin_url(), &name);
                std::fs::create_dir_all(dir).expect("server directory");
                std::fs::write(&remembered, format!("{url}\n")).expect("write postgres-url");
                url
            }
        };
        let name = name_of(&url);
        let mut leases = LEASES.lock().unwrap_or_else(|e| e.into_inner());
        let count = leases.get_or_insert_with(HashMap::new).entry(name.clone());
        let count = count.or_insert(0);
        if *count == 0 {
            let exists = psql(&format!(
                "SELECT 1 FROM pg_database WHERE datname = '{name}'"
            ));
            if exists.trim().is_empty() {
                psql(&format!("CREATE DATABASE \"{name}\""));
            }
        }
        *count += 1;
        Lease { url, name }
    }

    /// The `--database` URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut leases = LEASES.lock().unwrap_or_else(|e| e.into_inner());
        let Some(count) = leases.as_mut().and_then(|l| l.get_mut(&self.name)) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            leases.as_mut().map(|l| l.remove(&self.name));
            let name = self.name.clone();
            drop(leases);
            let out = Command::new("psql")
                .args(["-X", "-q", "-At", "-d"])
                .arg(admin_url())
                .args([
                    "-c",
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                ])
                .output();
            // a failed drop must not panic in Drop; the next run's sweep removes it
            if !out.as_ref().is_ok_and(|o| o.status.success()) {
                eprintln!("could not drop test database {name}: {out:?}");
            }
        }
    }
}
