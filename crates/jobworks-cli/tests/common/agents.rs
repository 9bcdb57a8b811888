//! Agents for end-to-end tests: enrollment tokens made with the real CLI, and running
//! `jobworks agent` processes whose output the test can read.

use super::{TestServer, bin, cli};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `jobworks agents token create ARGS --output json` against `server`; returns the token text
/// and the whole answer.
pub fn enrollment_token_with(server: &TestServer, args: &[&str]) -> (String, Value) {
    let out = cli(server)
        .args(["agents", "token", "create"])
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("jobworks agents token create");
    assert!(out.status.success(), "agents token create: {out:?}");
    let created: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let token = created["token"].as_str().expect("token").to_owned();
    (token, created)
}

/// A one-use enrollment token of `server`.
pub fn enrollment_token(server: &TestServer) -> String {
    enrollment_token_with(server, &["--uses", "1"]).0
}

/// A running `jobworks agent`.
pub struct TestAgent {
    /// The process.
    pub child: Child,
    /// Its worker id, `<name>-<UUID v7>`, from the line it prints once connected.
    pub worker: String,
    /// Everything it wrote to stdout and stderr so far (also echoed to the test's stderr).
    pub output: Arc<Mutex<String>>,
}

/// Copies `reader` line by line into `output` (and the test's stderr), sending each line to
/// `lines`.
fn collect(
    reader: impl std::io::Read + Send + 'static,
    output: Arc<Mutex<String>>,
    lines: std::sync::mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            eprintln!("[agent] {line}");
            if let Ok(mut text) = output.lock() {
                text.push_str(&line);
                text.push('\n');
            }
            let _ = lines.send(line);
        }
    });
}

impl TestAgent {
    /// Starts `jobworks agent ARGS` (no API token or config in its environment) and returns
    /// at once, before it connects.
    pub fn spawn(args: &[String]) -> (TestAgent, std::sync::mpsc::Receiver<String>) {
        let mut child = Command::new(bin())
            .arg("agent")
            .args(args)
            .env("JOBWORKS_LOG", "warn")
            .env_remove("JOBWORKS_CONFIG")
            .env_remove("JOBWORKS_URL")
            .env_remove("JOBWORKS_TOKEN")
            .env_remove("JOBWORKS_ENROLLMENT_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start jobworks agent");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        collect(
            child.stdout.take().expect("stdout"),
            output.clone(),
            tx.clone(),
        );
        collect(child.stderr.take().expect("stderr"), output.clone(), tx);
        (
            TestAgent {
                child,
                worker: String::new(),
                output,
            },
            rx,
        )
    }

    /// Starts `jobworks agent ARGS` and waits (60 s) until it says it is connected.
    pub fn start(args: &[String]) -> TestAgent {
        let (mut agent, lines) = TestAgent::spawn(args);
        let deadline = Instant::now() + Duration::from_secs(60);
        while agent.worker.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the agent connected within 60 s: {}", agent.text()));
            // `Jobworks agent NAME (WORKER) connected to URL: …`
            if let Some(rest) = line.strip_prefix("Jobworks agent ")
                && let Some((_, rest)) = rest.split_once(" (")
                && let Some((worker, _)) = rest.split_once(") connected to ")
            {
                agent.worker = worker.to_string();
            }
        }
        agent
    }

    /// Enrolls a new agent `name` on `server` with a one-use token: `--server URL --token
    /// TOKEN --name NAME --slots 4 --data-dir DIR/NAME`.
    pub fn on(server: &TestServer, name: &str, dir: &Path) -> TestAgent {
        TestAgent::start(&words(&format!(
            "--server {} --token {} --name {name} --slots 4 --data-dir {}",
            server.url,
            enrollment_token(server),
            dir.join(name).display()
        )))
    }

    /// What it printed so far.
    pub fn text(&self) -> String {
        self.output.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits (`timeout`) for the process to exit by itself; its exit status.
    pub fn exit_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM and waits (30 s) for the agent to exit; returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        match self.exit_within(Duration::from_secs(30)) {
            Some(status) => status.success(),
            None => panic!("the agent did not stop within 30 s of SIGTERM"),
        }
    }

    /// Sends `signal` (e.g. `-STOP`, `-CONT`) to the agent process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // a stopped process dies of SIGKILL too; CONT lets it be reaped at once
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `text` split at whitespace.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}
