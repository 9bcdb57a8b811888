//! Agents on poor and broken links, with real processes on hosts of their own: the server
//! runs in the root namespace (so it reaches PostgreSQL on 127.0.0.1 under
//! `JOBWORKS_TEST_BACKEND=postgres`), each agent in a network namespace with its own link to
//! it (`common::netns`). Covers a 1 Mbit/s link carrying a long log, a link cut shorter than
//! the agent's `max_disconnect` (the attempt finishes, its end report lands once), a cut
//! longer than it (the agent fences itself before the lease runs out: the original and its
//! retry on a second agent never overlap), and an agent frozen by SIGSTOP past its lease (on
//! SIGCONT it kills its attempt at once). The server's own pool fences the same way when
//! its database goes away (a throw-away PostgreSQL cluster of the test's own, stopped).
//!
//! The server's lease is 6 s and every kill grace 1 s, so an agent's default
//! `max_disconnect` is 4 s (two thirds of the lease; see `jobworks_worker::fence`). Every
//! wait is on a condition with a deadline; the one deliberate hold is the length of the
//! short cut itself. Measured figures are printed as `figure: …` lines.
//!
//! Where namespaces cannot be made the tests say so and run on loopback: the long log and
//! the frozen agent still apply; the cuts need a link to cut and are skipped with the reason.

mod common;

use common::TestServer;
use common::agents::enrollment_token_with;
use common::netns::{Host, Net};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The server's lease in these tests.
const LEASE: Duration = Duration::from_secs(6);
/// The agents' `max_disconnect` for that lease and a 1 s kill grace (the default).
const MAX_DISCONNECT: Duration = Duration::from_secs(4);

/// A running `jobworks agent`, its stderr kept in a file.
struct Agent {
    child: Child,
    /// Its worker id, `<name>-<UUID v7>`.
    worker: String,
    /// Its stderr (warnings and errors: `JOBWORKS_LOG=warn`).
    log: PathBuf,
}

impl Agent {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent logged so far.
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", self.pid());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `jobworks agent` on `host` for `server` (reached at its address on the host's
/// link), named `name`, enrolled with a one-use enrollment token carrying `labels`, with one
/// slot and a 1 s kill grace; its data and log go under `dir`. Waits (60 s) until it says it
/// is connected. The one place these tests start agents.
fn start_agent(
    net: &Net,
    host: &Host,
    server: &TestServer,
    name: &str,
    labels: &[(&str, &str)],
    dir: &Path,
) -> Agent {
    let labels = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut token_args = vec!["--uses", "1"];
    if !labels.is_empty() {
        token_args.extend(["--labels", &labels]);
    }
    let (token, _) = enrollment_token_with(server, &token_args);
    let server_url = url_from(server, host);
    let log = dir.join(format!("{name}.log"));
    let stderr = std::fs::File::create(&log).expect("agent log file");
    let mut child = net
        .command(host, common::bin())
        .args([
            "agent",
            "--server",
            &server_url,
            "--token",
            &token,
            "--name",
            name,
        ])
        .args(["--slots", "1", "--kill-grace", "1s", "--data-dir"])
        .arg(dir.join(name))
        .env("JOBWORKS_LOG", "warn")
        .env_remove("JOBWORKS_CONFIG")
        .env_remove("JOBWORKS_URL")
        .env_remove("JOBWORKS_TOKEN")
        .env_remove("JOBWORKS_ENROLLMENT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(stderr)
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
        .unwrap_or_else(|_| {
            panic!(
                "agent {name} did not connect within 60 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    Agent { child, worker, log }
}

/// A server for agents only (`--workers 0`), listening on every address so agents reach it
/// over their links, with a 6 s lease.
fn start_server(dir: &Path) -> TestServer {
    TestServer::start(
        dir,
        &["--workers", "0", "--lease", "6s", "--listen", "0.0.0.0:0"],
    )
}

/// The server's URL as `host` reaches it.
fn url_from(server: &TestServer, host: &Host) -> String {
    let port = server.url.rsplit(':').next().expect("port in the URL");
    format!("http://{}:{port}", host.server_addr)
}

/// Polls `check` every 20 ms until it gives a value; panics with `what` after `timeout`.
async fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether process `pid` is alive (not gone, not a zombie).
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i128
}

/// One line of a task's side-effect file: `start|end AGENT ATTEMPT PID NS [how]`.
#[derive(Debug, Clone)]
struct Mark {
    what: String,
    agent: String,
    attempt: i64,
    pid: i64,
    at_ns: i128,
    how: String,
}

fn marks(path: &Path) -> Vec<Mark> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(Mark {
                what: f.first()?.to_string(),
                agent: f.get(1)?.to_string(),
                attempt: f.get(2)?.parse().ok()?,
                pid: f.get(3)?.parse().ok()?,
                at_ns: f.get(4)?.parse().ok()?,
                how: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

fn mark<'a>(all: &'a [Mark], what: &str, attempt: i64) -> Option<&'a Mark> {
    all.iter().find(|m| m.what == what && m.attempt == attempt)
}

/// A job whose task records its start and end in `file` (one line each, with the agent, the
/// attempt number, the shell's pid and a nanosecond timestamp) and records a SIGTERM as its
/// end before exiting. Attempt 1 runs `first` (shell), later attempts `later`.
fn recording_job(name: &str, file: &Path, first: &str, later: &str) -> String {
    format!(
        r#"[[job]]
name = "{name}"
[job.retries]
max_attempts = 2
initial_delay = "100ms"
[job.task]
type = "shell"
script = '''
F={file}
note() {{ echo "$1 ${{JOBWORKS_AGENT:-server}} $JOBWORKS_ATTEMPT $$ $(date +%s%N) $2" >> "$F"; }}
note start
trap 'note end term; exit 143' TERM
if [ "$JOBWORKS_ATTEMPT" = 1 ]; then
{first}
else
{later}
fi
note end done
'''
"#,
        file = file.display()
    )
}

/// Run `run`'s detail.
async fn detail(server: &TestServer, run: i64) -> Value {
    server.get(&format!("/api/v1/runs/{run}")).await
}

/// Every log line of run `run`, paging through the log.
async fn all_log_lines(server: &TestServer, run: i64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut after = 0;
    loop {
        let page = server
            .get(&format!(
                "/api/v1/runs/{run}/logs?after={after}&limit=10000"
            ))
            .await;
        let got = page["lines"].as_array().cloned().unwrap_or_default();
        if got.is_empty() {
            return lines;
        }
        lines.extend(
            got.iter()
                .map(|l| l["text"].as_str().unwrap_or_default().to_owned()),
        );
        after = page["next_after"].as_i64().expect("next_after");
    }
}

/// (a) An agent behind a 1 Mbit/s link runs a job printing 3,000 lines of 100 bytes (about
/// 300 KiB): every line arrives, in order, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_link_delivers_every_log_line_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut net = Net::new();
    let host = net.host();
    match net.shape(&host, 1000) {
        Ok(()) => {}
        Err(why) => eprintln!("not shaped ({why}): the log crosses loopback at full speed"),
    }
    let server = start_server(dir.path());
    let agent = start_agent(
        &net,
        &host,
        &server,
        "slow-1",
        &[("link", "slow")],
        dir.path(),
    );
    const LINES: usize = 3000;
    let job = format!(
        "[[job]]\nname = \"chatty\"\n[job.task]\ntype = \"shell\"\nscript = '''\ni=0\n\
         while [ $i -lt {LINES} ]; do printf 'line %05d %s\\n' $i \"$PAD\"; i=$((i+1)); done\n'''\n\
         [job.env]\nPAD = \"{}\"\n",
        "x".repeat(89)
    );
    server.apply("chatty.toml", &job).await;
    let sent_before = net.bytes_from(&host);
    let started = Instant::now();
    let run = server.trigger("chatty", serde_json::json!({})).await;
    let done = server.wait_run(run, Duration::from_secs(50)).await;
    let took = started.elapsed();
    assert_eq!(done["run"]["state"], "succeeded", "{done}");
    assert_eq!(
        done["attempts"][0]["worker"].as_str(),
        Some(agent.worker.as_str())
    );
    let lines: Vec<String> = all_log_lines(&server, run)
        .await
        .into_iter()
        .filter(|l| l.starts_with("line "))
        .collect();
    assert_eq!(lines.len(), LINES, "every line arrived once");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("line {i:05} ")),
            "line {i} in order: {line}"
        );
        assert_eq!(line.len(), 100, "line {i} whole");
    }
    let sent = net
        .bytes_from(&host)
        .zip(sent_before)
        .map(|(after, before)| format!("{} KiB", (after - before) / 1024))
        .unwrap_or_else(|| "unmeasured".into());
    eprintln!(
        "figure: {LINES} lines ({} KiB of text) over a {} link: run ended {:.2} s after the \
         trigger; the agent sent {sent} over the link meanwhile",
        LINES * 101 / 1024,
        if net.isolated() {
            "1 Mbit/s"
        } else {
            "loopback"
        },
        took.as_secs_f64()
    );
}

/// (b) The link is cut for 1.5 s (under the 4 s `max_disconnect`) while the attempt runs;
/// the task ends during the cut. The attempt is not fenced, its end report is retried and
/// recorded once the link is back: one attempt, succeeded.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_shorter_than_max_disconnect_lets_the_attempt_finish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut net = Net::new();
    if !net.isolated() {
        eprintln!("skipped: a link cut needs network namespaces");
        return;
    }
    let host = net.host();
    let server = start_server(dir.path());
    let agent = start_agent(&net, &host, &server, "short-1", &[], dir.path());
    let file = dir.path().join("marks");
    let go = dir.path().join("go");
    let wait_go = format!("while [ ! -e {} ]; do sleep 0.05; done", go.display());
    server
        .apply(
            "short.toml",
            &recording_job("short", &file, &wait_go, "exit 3"),
        )
        .await;
    let run = server.trigger("short", serde_json::json!({})).await;
    until("the task started", Duration::from_secs(30), || {
        mark(&marks(&file), "start", 1).cloned()
    })
    .await;
    let cut_at = Instant::now();
    net.cut(&host).expect("cut");
    std::fs::write(&go, b"").expect("go file");
    let ended = until(
        "the task ended during the cut",
        Duration::from_secs(10),
        || mark(&marks(&file), "end", 1).cloned(),
    )
    .await;
    assert_eq!(ended.how, "done", "{ended:?}");
    // the cut's length is the experiment's parameter: held, not waited for
    let hold = Duration::from_millis(1500).saturating_sub(cut_at.elapsed());
    tokio::time::sleep(hold).await;
    assert!(cut_at.elapsed() < MAX_DISCONNECT);
    net.restore(&host).expect("restore");
    let restored = Instant::now();
    let done = server.wait_run(run, Duration::from_secs(30)).await;
    eprintln!(
        "figure: cut of {:.2} s: end recorded {:.2} s after the link came back",
        (restored - cut_at).as_secs_f64(),
        restored.elapsed().as_secs_f64()
    );
    assert_eq!(done["run"]["state"], "succeeded", "{done}");
    let attempts = done["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "recorded once, no retry: {attempts:?}");
    assert_eq!(attempts[0]["state"], "succeeded");
    assert_eq!(attempts[0]["worker"].as_str(), Some(agent.worker.as_str()));
    let log = agent.log_text();
    assert!(!log.contains("self-fencing"), "not fenced: {log}");
    assert!(!log.contains("end report refused"), "{log}");
}

/// (c) The link is cut for longer than `max_disconnect`: the agent stops its attempt itself
/// (the task's process is gone, seen from the host, before the server declares the attempt
/// lost), the server retries it on a second agent, and the task's own record shows the
/// original ended before the replacement started. When the link returns, the first agent's
/// late end report is refused (409) and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_longer_than_max_disconnect_fences_the_agent_before_the_retry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut net = Net::new();
    if !net.isolated() {
        eprintln!("skipped: a link cut needs network namespaces");
        return;
    }
    let (edge, other) = (net.host(), net.host());
    let server = start_server(dir.path());
    let first = start_agent(&net, &edge, &server, "edge-1", &[], dir.path());
    let file = dir.path().join("marks");
    server
        .apply(
            "fenced.toml",
            &recording_job("fenced", &file, "while :; do sleep 0.1; done", "sleep 0.5"),
        )
        .await;
    let run = server.trigger("fenced", serde_json::json!({})).await;
    let start = until("attempt 1 started", Duration::from_secs(30), || {
        mark(&marks(&file), "start", 1).cloned()
    })
    .await;
    assert_eq!(start.agent, "edge-1");
    let second = start_agent(&net, &other, &server, "edge-2", &[], dir.path());
    let cut = Instant::now();
    let cut_ns = now_ns();
    net.cut(&edge).expect("cut");
    // from the host: the task's process goes, and only then may the server call it lost
    let mut lost_seen: Option<Duration> = None;
    let mut gone_at: Option<Duration> = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while lost_seen.is_none() {
        assert!(Instant::now() < deadline, "attempt 1 never became lost");
        if gone_at.is_none() && !alive(start.pid) {
            gone_at = Some(cut.elapsed());
        }
        if detail(&server, run).await["attempts"][0]["state"] == "lost" {
            lost_seen = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = gone_at.expect("the fenced task was gone before the server declared it lost");
    let lost = lost_seen.expect("lost");
    assert!(
        gone < LEASE,
        "fenced {gone:?} after the cut, lease {LEASE:?}"
    );
    let all = until(
        "the retry started on edge-2",
        Duration::from_secs(30),
        || {
            let all = marks(&file);
            mark(&all, "start", 2).is_some().then_some(all)
        },
    )
    .await;
    let (end1, start2) = (
        mark(&all, "end", 1)
            .expect("attempt 1 recorded its end")
            .clone(),
        mark(&all, "start", 2).expect("start 2").clone(),
    );
    assert_eq!(end1.how, "term", "stopped by SIGTERM: {all:?}");
    assert_eq!(start2.agent, "edge-2", "{all:?}");
    assert!(
        end1.at_ns < start2.at_ns,
        "the original ended before its replacement started: {all:?}"
    );
    eprintln!(
        "figure: cut at 0: task stopped by the agent at {:.2} s (process gone at {:.2} s), \
         attempt lost on the server at ≤ {:.2} s, replacement started at {:.2} s; gap between \
         them {:.2} s (max_disconnect {MAX_DISCONNECT:?}, lease {LEASE:?})",
        (end1.at_ns - cut_ns) as f64 / 1e9,
        gone.as_secs_f64(),
        lost.as_secs_f64(),
        (start2.at_ns - cut_ns) as f64 / 1e9,
        (start2.at_ns - end1.at_ns) as f64 / 1e9,
    );
    let done = server.wait_run(run, Duration::from_secs(30)).await;
    assert_eq!(done["run"]["state"], "succeeded", "{done}");
    net.restore(&edge).expect("restore");
    until(
        "edge-1's late end report refused",
        Duration::from_secs(30),
        || {
            first
                .log_text()
                .contains("end report refused: the attempt was fenced")
                .then_some(())
        },
    )
    .await;
    let after = detail(&server, run).await;
    assert_eq!(after["run"]["state"], "succeeded", "{after}");
    let attempts = after["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["state"], "lost");
    assert_eq!(attempts[0]["worker"].as_str(), Some(first.worker.as_str()));
    assert_eq!(attempts[1]["state"], "succeeded");
    assert_eq!(attempts[1]["worker"].as_str(), Some(second.worker.as_str()));
    let log = first.log_text();
    assert!(log.contains("self-fencing"), "{log}");
}

/// (d) An agent frozen by SIGSTOP past its lease: its attempt is retried on another agent;
/// on SIGCONT the frozen one finds its attempt's lease gone (or `max_disconnect` passed)
/// and kills the task at once instead of letting it finish.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_kills_its_attempt_when_resumed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut net = Net::new();
    let (frozen_host, other) = (net.host(), net.host());
    let server = start_server(dir.path());
    let frozen = start_agent(&net, &frozen_host, &server, "frozen-1", &[], dir.path());
    let file = dir.path().join("marks");
    server
        .apply(
            "frozen.toml",
            &recording_job("frozen", &file, "while :; do sleep 0.1; done", "sleep 0.5"),
        )
        .await;
    let run = server.trigger("frozen", serde_json::json!({})).await;
    let start = until("attempt 1 started", Duration::from_secs(30), || {
        mark(&marks(&file), "start", 1).cloned()
    })
    .await;
    assert_eq!(start.agent, "frozen-1");
    let _second = start_agent(&net, &other, &server, "thawed-2", &[], dir.path());
    frozen.signal("-STOP");
    until(
        "the retry started on thawed-2",
        Duration::from_secs(30),
        || mark(&marks(&file), "start", 2).cloned(),
    )
    .await;
    // the frozen agent's task ran on meanwhile (nothing could stop it)
    assert!(alive(start.pid), "attempt 1's task still runs");
    frozen.signal("-CONT");
    let resumed = Instant::now();
    until(
        "the resumed agent killed its task",
        Duration::from_secs(10),
        || (!alive(start.pid)).then_some(()),
    )
    .await;
    let killed_after = resumed.elapsed();
    let all = marks(&file);
    let end1 = mark(&all, "end", 1).expect("attempt 1 recorded its end");
    assert_eq!(end1.how, "term", "killed, not finished: {all:?}");
    assert!(
        killed_after < Duration::from_secs(3),
        "killed {killed_after:?} after SIGCONT"
    );
    eprintln!(
        "figure: SIGCONT at 0: the resumed agent's task was gone at {:.2} s",
        killed_after.as_secs_f64()
    );
    let done = server.wait_run(run, Duration::from_secs(30)).await;
    assert_eq!(done["run"]["state"], "succeeded", "{done}");
    let attempts = done["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["state"], "lost");
    assert_eq!(attempts[1]["state"], "succeeded");
}

/// (e) The server's own pool, its database stopped under a running attempt: it cannot renew
/// the lease, so it stops the task itself within `max_disconnect` (4 s), before the lease
/// (6 s) runs out; once the database is back the attempt is recorded lost and its retry runs
/// after the original ended. Uses a PostgreSQL cluster of its own (skipped without the
/// PostgreSQL binaries), whatever `JOBWORKS_TEST_BACKEND` says.
#[tokio::test(flavor = "multi_thread")]
async fn the_servers_own_pool_fences_when_its_database_is_gone() {
    use common::pg_cluster::{PgCluster, start_server as start_on};
    let Some(cluster) = PgCluster::start() else {
        eprintln!("skipped: no PostgreSQL under /usr/lib/postgresql/*/bin");
        return;
    };
    let database = cluster.create_database("jw_fence").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_on(dir.path(), None, &database, &["--lease", "6s"]);
    let file = dir.path().join("marks");
    server
        .apply(
            "local.toml",
            &recording_job("local", &file, "while :; do sleep 0.1; done", "sleep 0.5"),
        )
        .await;
    let run = server.trigger("local", serde_json::json!({})).await;
    let start = until("attempt 1 started", Duration::from_secs(30), || {
        mark(&marks(&file), "start", 1).cloned()
    })
    .await;
    let stopped = Instant::now();
    cluster.stop();
    // the API needs the database too: only the host is watched while it is down
    until(
        "the server's pool stopped its task",
        Duration::from_secs(20),
        || (!alive(start.pid)).then_some(()),
    )
    .await;
    let gone = stopped.elapsed();
    let end1 = mark(&marks(&file), "end", 1)
        .expect("attempt 1 recorded its end")
        .clone();
    assert_eq!(end1.how, "term", "stopped by SIGTERM");
    assert!(
        gone < LEASE,
        "fenced {gone:?} after the database went, lease {LEASE:?}"
    );
    cluster.start_again();
    let done = server.wait_run(run, Duration::from_secs(50)).await;
    assert_eq!(done["run"]["state"], "succeeded", "{done}");
    let attempts = done["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["state"], "lost", "{attempts:?}");
    let all = marks(&file);
    let start2 = mark(&all, "start", 2).expect("attempt 2 started");
    assert!(end1.at_ns < start2.at_ns, "no overlap: {all:?}");
    eprintln!(
        "figure: database stopped at 0: the server's own pool had stopped its task at {:.2} s \
         (max_disconnect {MAX_DISCONNECT:?}, lease {LEASE:?})",
        gone.as_secs_f64()
    );
}

/// Names of the network namespaces on this machine.
fn namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The harness itself: a namespace left by a test process that is gone is removed when the
/// next net is made, and a net's namespaces go when it is dropped, also by a panicking test.
#[test]
fn the_harness_cleans_up_after_itself_and_after_crashed_runs() {
    if !Net::new().isolated() {
        eprintln!("skipped: no network namespaces here");
        return;
    }
    let mut gone = Command::new("true").spawn().expect("spawn true");
    let dead = gone.id();
    gone.wait().expect("reap");
    let stale = format!("jw-{dead}-0-0");
    let added = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .expect("ip netns add");
    assert!(added.success());
    let mut net = Net::new();
    assert!(!namespaces().contains(&stale), "stale {stale} removed");
    let host = net.host();
    let name = host.ns.clone().expect("a namespace");
    assert!(namespaces().contains(&name));
    drop(net);
    assert!(!namespaces().contains(&name), "{name} removed on drop");
    let panicked = std::thread::spawn(|| {
        let mut net = Net::new();
        let host = net.host();
        std::fs::write(
            std::env::temp_dir().join(format!("jw-panic-ns-{}", std::process::id())),
            host.ns.clone().expect("a namespace"),
        )
        .expect("note the name");
        panic!("a test failing with its net up");
    })
    .join();
    assert!(panicked.is_err());
    let noted = std::env::temp_dir().join(format!("jw-panic-ns-{}", std::process::id()));
    let name = std::fs::read_to_string(&noted).expect("name noted");
    let _ = std::fs::remove_file(&noted);
    assert!(
        !namespaces().contains(&name),
        "{name} removed after a panic"
    );
}
