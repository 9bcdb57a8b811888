//! Harness for end-to-end tests: starts the real `jobworks` binary on a temporary directory
//! and talks to it over HTTP.
//!
//! The backend comes from env `JOBWORKS_TEST_BACKEND`: unset or `sqlite` gives each server
//! directory its own SQLite file; `postgres` gives it a fresh database `jw_e2e_<pid>_<n>` on the
//! server `JOBWORKS_TEST_POSTGRES_URL` names (see [`postgres`]).

#![allow(dead_code)] // each test binary uses a different part of the harness

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod agents;
pub mod netns;
pub mod postgres;

/// A running `jobworks server`.
pub struct TestServer {
    child: Child,
    /// Base URL.
    pub url: String,
    /// Admin token.
    pub token: String,
    /// Directory holding the database (or, on PostgreSQL, the file `postgres-url` naming it)
    /// and the data dir.
    pub dir: PathBuf,
    http: reqwest::Client,
    /// The CA certificate the harness and [`cli`] trust for an `https://` server: the one
    /// given to [`TestServer::start_trusting`], else `ca` of the server's client.toml.
    pub ca: Option<PathBuf>,
    /// The PostgreSQL database this server uses, when the harness made it.
    postgres: Option<postgres::Lease>,
}

/// Whether the suite runs on PostgreSQL (`JOBWORKS_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("JOBWORKS_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// `text` (job files, SQL) for the backend under test: on PostgreSQL, `sqlite_sql` (which must
/// occur in `text`; panics otherwise, so a stale rewrite is noticed) is replaced by
/// `postgres_sql`. For queries on the built-in `jobworks` datasource, whose dialect is the
/// store's (`?` placeholders on SQLite, `$N` on PostgreSQL).
pub fn for_backend(text: &str, sqlite_sql: &str, postgres_sql: &str) -> String {
    assert!(
        text.contains(sqlite_sql),
        "`{sqlite_sql}` is not in the text to adapt"
    );
    if on_postgres() {
        text.replace(sqlite_sql, postgres_sql)
    } else {
        text.to_string()
    }
}

/// On PostgreSQL, prints why the calling test does not apply and returns `true` (the test then
/// returns); on SQLite returns `false`. For tests about SQLite itself only.
pub fn skip_on_postgres(reason: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: {reason}");
    }
    on_postgres()
}

/// Waits up to 5 s for process `pid` to be gone (no `/proc` entry, or a zombie awaiting its
/// reaper); returns whether it went.
pub fn process_gone(pid: i64) -> bool {
    (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.contains(") Z "),
        }
    })
}

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_jobworks")
}

/// The CLI pointed at `server` by environment (no config file).
pub fn cli(server: &TestServer) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("JOBWORKS_URL", &server.url)
        .env("JOBWORKS_TOKEN", &server.token)
        .env_remove("JOBWORKS_CONFIG");
    match &server.ca {
        Some(ca) => cmd.env("JOBWORKS_CA", ca),
        None => cmd.env_remove("JOBWORKS_CA"),
    };
    cmd
}

impl TestServer {
    /// Starts a server whose database and data dir live in `dir`, with extra flags.
    ///
    /// Under `JOBWORKS_TEST_BACKEND=postgres` (and unless `extra` names a `--database`), the
    /// server gets the PostgreSQL database remembered in `dir/postgres-url`, or a fresh one.
    pub fn start(dir: &Path, extra: &[&str]) -> TestServer {
        TestServer::start_trusting(dir, extra, None)
    }

    /// [`TestServer::start`] for a server serving HTTPS with a certificate of CA `ca` (PEM
    /// file; `None`: the CA its client.toml names, if any).
    pub fn start_trusting(dir: &Path, extra: &[&str], ca: Option<&Path>) -> TestServer {
        let own_database = extra.contains(&"--database");
        let postgres = (on_postgres() && !own_database).then(|| postgres::Lease::for_dir(dir));
        let database: Vec<std::ffi::OsString> = match &postgres {
            Some(lease) => vec!["--database".into(), lease.url().into()],
            None if own_database => Vec::new(),
            None => vec!["--db".into(), dir.join("jobworks.db").into()],
        };
        let mut child = Command::new(bin())
            .arg("server")
            .args(database)
            .arg("--data-dir")
            .arg(dir.join("data"))
            // a test that restarts a server on the same address names its own `--listen`
            .args(if extra.contains(&"--listen") {
                &["--kill-grace", "1s"][..]
            } else {
                &["--listen", "127.0.0.1:0", "--kill-grace", "1s"][..]
            })
            // short leases make crash tests quick; a test may ask for its own
            .args(if extra.contains(&"--lease") {
                &[][..]
            } else {
                &["--lease", "2s"][..]
            })
            .args(extra)
            .env("JOBWORKS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start jobworks server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Jobworks ")
                    && let Some(url) = rest.split(" listening on ").nth(1)
                {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server printed its URL within 60 s");
        let client = std::fs::read_to_string(dir.join("data").join("client.toml"))
            .expect("client.toml written at start");
        let token = client
            .lines()
            .find_map(|l| l.strip_prefix("token = "))
            .map(|t| t.trim_matches('"').to_string())
            .expect("token in client.toml");
        let ca = ca.map(Path::to_path_buf).or_else(|| {
            client
                .lines()
                .find_map(|l| l.strip_prefix("ca = "))
                .map(|t| PathBuf::from(t.trim_matches('"')))
        });
        let mut http = reqwest::Client::builder();
        if let Some(ca) = &ca {
            let pem = std::fs::read(ca).expect("CA file");
            http = http.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).expect("PEM"));
        }
        TestServer {
            child,
            url,
            token,
            dir: dir.to_path_buf(),
            http: http.build().expect("HTTP client"),
            ca,
            postgres,
        }
    }

    /// Sends SIGKILL to the server and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit (bounded).
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits until the server process exits, at most `timeout`; returns whether it did.
    pub fn exited_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// GET a JSON document; panics on a non-2xx status.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.request(reqwest::Method::GET, path, None).await;
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// GETs `path` until `done` holds for the document (deadline: 60 s, generous for a loaded
    /// machine); returns that document. Waits on the condition itself, never on a guess.
    pub async fn get_until(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let value = self.get(path).await;
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still not so after 60 s: {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Triggers workflow `workflow` with `params`; returns the run id (asserts a 201).
    pub async fn trigger_workflow(&self, workflow: &str, params: Value) -> i64 {
        let (status, body) = self
            .post(
                &format!("/api/v1/workflows/{workflow}/runs"),
                json!({ "params": params }),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "trigger {workflow}: {body}");
        body["runs"][0]["run_id"].as_i64().expect("run id")
    }

    /// Polls run `run`'s detail until `check` holds (the deadline of [`Self::get_until`]).
    pub async fn wait_for_run(
        &self,
        run: i64,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        self.get_until(
            &format!("/api/v1/runs/{run}"),
            &format!("run {run}: {what}"),
            check,
        )
        .await
    }

    /// POST JSON; returns status and body.
    pub async fn post(&self, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// Any request with the admin token.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let text = resp.text().await.expect("response body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Applies one TOML job file; panics unless accepted.
    pub async fn apply(&self, name: &str, toml: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/jobs/apply",
                json!({ "files": [{ "name": name, "content": toml }] }),
            )
            .await;
        assert!(status.is_success(), "apply {name}: {status} {body}");
        body
    }

    /// Triggers a job; returns the first run id.
    pub async fn trigger(&self, job: &str, params: Value) -> i64 {
        let (status, body) = self
            .post(
                &format!("/api/v1/jobs/{job}/runs"),
                json!({ "params": params }),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "trigger {job}: {body}");
        body["runs"][0]["run_id"].as_i64().expect("run id")
    }

    /// Polls a run until it reaches a terminal state (bounded by `timeout`).
    pub async fn wait_run(&self, id: i64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let detail = self.get(&format!("/api/v1/runs/{id}")).await;
            let state = detail["run"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !matches!(state.as_str(), "queued" | "running") {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} still {state} after {timeout:?}: {detail}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// All log text of a run, one line per log line.
    pub async fn log_text(&self, id: i64) -> String {
        let page = self
            .get(&format!("/api/v1/runs/{id}/logs?limit=10000"))
            .await;
        page["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| l["text"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // the server goes first, then (via `postgres`) its database if no other server uses it
        self.kill9();
    }
}

pub mod pg_cluster;
