//! Agents for routing tests: real `jobworks agent` processes started through ONE function,
//! [`start_agent`], which takes the labels. Today an agent declares its labels itself
//! (`--labels`, interim); when labels come from enrollment tokens, only this function
//! changes.

use super::TestServer;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `jobworks agent`.
pub struct TestAgent {
    child: Child,
    /// Its name.
    pub name: String,
    /// Its worker id, `<name>-<UUID v7>`, from the line it prints once connected.
    pub worker: String,
}

/// Starts agent `name` with `labels` (`site=bj,role=db`; empty for none) and 2 slots on
/// `server`, its data under `dir/name`, and waits (60 s) until it says it is connected.
pub fn start_agent(server: &TestServer, name: &str, labels: &str, dir: &Path) -> TestAgent {
    let mut args = vec![
        "--server".to_owned(),
        server.url.clone(),
        "--token".to_owned(),
        server.token.clone(),
        "--name".to_owned(),
        name.to_owned(),
        "--slots".to_owned(),
        "2".to_owned(),
        "--data-dir".to_owned(),
        dir.join(name).display().to_string(),
    ];
    if !labels.is_empty() {
        args.extend(["--labels".to_owned(), labels.to_owned()]);
    }
    let mut child = Command::new(super::bin())
        .arg("agent")
        .args(&args)
        .env("JOBWORKS_LOG", "warn")
        .env_remove("JOBWORKS_CONFIG")
        .env_remove("JOBWORKS_URL")
        .env_remove("JOBWORKS_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start jobworks agent");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // `Jobworks agent NAME (WORKER) connected to URL: …`
            if let Some(rest) = line.strip_prefix("Jobworks agent ")
                && let Some((_, rest)) = rest.split_once(" (")
                && let Some((worker, _)) = rest.split_once(") connected to ")
            {
                let _ = tx.send(worker.to_string());
            }
        }
    });
    let worker = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the agent connected within 60 s");
    TestAgent {
        child,
        name: name.to_owned(),
        worker,
    }
}

impl TestAgent {
    /// Sends SIGTERM and waits (30 s) for the agent to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("agent {} did not stop within 30 s of SIGTERM", self.name);
    }
}

impl TestAgent {
    /// Sends SIGKILL and reaps it: the agent vanishes without a word.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}
