//! Remote agents, end to end with real processes: a `jobworks server` (`--workers 0`, so no
//! task runs in it) and `jobworks agent` processes talking the agent protocol over HTTP.
//! Covers the README's commands, jobs and a workflow on an agent, queued → started latency,
//! an agent killed mid-run, a server restarted under a running agent, and an API token
//! where an enrollment token belongs.

mod common;

use common::agents::{TestAgent, enrollment_token, enrollment_token_with, words};
use common::{TestServer, cli};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Attempts of run `run` as `runs show --output json` prints them.
fn attempts_shown(server: &TestServer, run: i64) -> Vec<Value> {
    let out = cli(server)
        .args(["runs", "show", &run.to_string(), "--output", "json"])
        .output()
        .expect("runs show");
    assert!(out.status.success(), "runs show: {out:?}");
    let detail: Value = serde_json::from_slice(&out.stdout).expect("runs show prints JSON");
    detail["attempts"].as_array().cloned().expect("attempts")
}

fn worker_of(attempt: &Value) -> &str {
    attempt["worker"].as_str().unwrap_or_default()
}

/// The commands of a README's "remote agents" section (every ```sh block from `heading` to
/// the next `### ` heading), block by block, each command as words.
fn readme_blocks(readme: &str, heading: &str) -> Vec<Vec<Vec<String>>> {
    let section = readme
        .split_once(heading)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("the README has `{heading}`"));
    let section = section.split_once("\n### ").map_or(section, |(s, _)| s);
    let blocks: Vec<Vec<Vec<String>>> = section
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```"))
        .map(|(block, _)| block.lines().map(words).collect())
        .collect();
    assert!(!blocks.is_empty(), "a ```sh block in the section");
    blocks
}

/// `args` with the value after `flag` replaced by `value`.
fn with_value(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut out = args.to_vec();
    let at = out
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("the README's command has {flag}"));
    out[at + 1] = value.to_owned();
    out
}

const SHELL_JOB: &str = r#"
[[job]]
name = "on-agent"
[job.task]
type = "shell"
script = 'echo "hello from $JOBWORKS_AGENT"; echo "::set-output answer=42"; pwd'
"#;

const WORKFLOW: &str = r#"
[[workflow]]
name = "three-steps"
[[workflow.task]]
id = "first"
type = "shell"
script = 'echo one'
[[workflow.task]]
id = "second"
depends_on = ["first"]
type = "shell"
script = 'echo two'
[[workflow.task]]
id = "third"
depends_on = ["second"]
type = "shell"
script = 'echo three'
"#;

/// The README's commands, run as shown (addresses, token and directories replaced): a server
/// with `--workers 0` and one agent run a shell job (log, outputs and worker recorded) and a
/// workflow of three tasks, all on the agent.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_commands_run_jobs_and_workflows_on_an_agent() {
    let english = readme_blocks(include_str!("../../../README.md"), "### Remote agents\n");
    let chinese = readme_blocks(include_str!("../../../README.zh-CN.md"), "### 远程 agent\n");
    assert_eq!(english, chinese, "both READMEs show the same commands");
    let [start, manage] = &english[..] else {
        panic!("the section shows how to start, then how to manage agents: {english:?}");
    };
    let [server_cmd, agent_cmd] = &start[..] else {
        panic!("the section shows a server and an agent command: {start:?}");
    };
    assert_eq!(server_cmd[..2], ["jobworks", "server"]);
    assert_eq!(agent_cmd[..2], ["jobworks", "agent"]);
    // the harness gives the server its own address and database
    let mut server_args: Vec<&str> = Vec::new();
    let mut rest = server_cmd[2..].iter();
    while let Some(word) = rest.next() {
        if word == "--listen" {
            rest.next();
        } else {
            server_args.push(word);
        }
    }
    assert!(server_args.windows(2).any(|w| w == ["--workers", "0"]));
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &server_args);
    let agent_dir = dir.path().join("agent");
    let args = with_value(&agent_cmd[2..], "--server", &server.url);
    let (token, _) =
        enrollment_token_with(&server, &["--labels", "site=bj,role=db", "--uses", "1"]);
    let args = with_value(&args, "--token", &token);
    let args = with_value(&args, "--data-dir", &agent_dir.display().to_string());
    let name = args[args.iter().position(|w| w == "--name").expect("--name") + 1].clone();
    let agent = TestAgent::start(&args);
    assert!(
        agent.worker.starts_with(&format!("{name}-")),
        "{}",
        agent.worker
    );

    server.apply("on-agent.toml", SHELL_JOB).await;
    let run = server.trigger("on-agent", serde_json::json!({})).await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = attempts_shown(&server, run);
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(worker_of(&attempts[0]), agent.worker);
    assert_eq!(attempts[0]["outputs"]["answer"], "42", "{attempts:?}");
    let logs = cli(&server)
        .args(["logs", &run.to_string()])
        .output()
        .expect("jobworks logs");
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(logs.status.success(), "{logs:?}");
    assert!(text.contains(&format!("hello from {name}")), "{text}");
    // the task ran in the agent's data directory
    let agent_dir = agent_dir.canonicalize().expect("agent dir exists");
    assert!(text.contains(&agent_dir.display().to_string()), "{text}");

    server.apply("three-steps.toml", WORKFLOW).await;
    let run = server
        .trigger_workflow("three-steps", serde_json::json!({}))
        .await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = attempts_shown(&server, run);
    let mut tasks: Vec<&str> = attempts
        .iter()
        .map(|a| a["task"].as_str().unwrap_or_default())
        .collect();
    tasks.sort_unstable();
    assert_eq!(tasks, ["first", "second", "third"], "{attempts:?}");
    for attempt in &attempts {
        assert_eq!(worker_of(attempt), agent.worker, "{attempt}");
        assert_eq!(attempt["state"], "succeeded", "{attempt}");
    }

    // the management commands, in the README's order, on this agent
    let mut agent = agent;
    for command in manage {
        assert_eq!(command[..2], ["jobworks", "agents"], "{command:?}");
        let out = cli(&server)
            .args(&command[1..])
            .output()
            .expect("jobworks agents");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command:?}: {out:?}");
        match command[2].as_str() {
            "list" | "show" => {
                for want in [name.as_str(), "online", "role=db,site=bj"] {
                    assert!(text.contains(want), "{command:?} shows {want}: {text}");
                }
            }
            "revoke" => {
                // cut off at once: the agent's next call is refused and it exits non-zero
                let status = agent
                    .exit_within(Duration::from_secs(60))
                    .expect("the revoked agent exits");
                assert!(!status.success(), "{status:?}");
                assert!(agent.text().contains("was revoked"), "{}", agent.text());
            }
            _ => {}
        }
    }
    let out = cli(&server)
        .args(["agents", "list", "--output", "json"])
        .output()
        .expect("list");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(listed, serde_json::json!([]), "deleted");
}

fn parse_time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time: {value}"))
}

/// Queued → started on an idle agent over loopback, 50 runs one after another: the time from
/// the run's `queued_at` to its attempt's process start (both on this host's clock). Reported,
/// not asserted (a loaded machine says nothing about the protocol).
#[tokio::test(flavor = "multi_thread")]
async fn queued_to_started_latency_on_an_idle_agent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0"]);
    let agent = TestAgent::on(&server, "quick", dir.path());
    server
        .apply(
            "noop.toml",
            "[[job]]\nname = \"noop\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )
        .await;
    let mut micros = Vec::new();
    for _ in 0..50 {
        let run = server.trigger("noop", serde_json::json!({})).await;
        let detail = server.wait_run(run, Duration::from_secs(60)).await;
        assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
        let attempt = &detail["attempts"][0];
        assert_eq!(worker_of(attempt), agent.worker);
        let queued = parse_time(&detail["run"]["queued_at"]);
        let started = parse_time(&attempt["started_at"]);
        micros.push((started - queued).num_microseconds().unwrap_or(i64::MAX));
    }
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    eprintln!(
        "agent queued→started over loopback, {} runs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        micros.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    assert_eq!(micros.len(), 50);
}

/// `kill -9` of the agent running a `sleep 30` attempt: the attempt becomes `lost` once its
/// lease (2 s) expires and its retry runs on a second agent, which finishes it.
#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_of_a_killed_agent_is_lost_and_retried_on_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0"]);
    let mut first = TestAgent::on(&server, "agent-a", dir.path());
    let mark = dir.path().join("first-attempt-ran");
    let job = format!(
        "[[job]]\nname = \"resilient\"\n[job.task]\ntype = \"shell\"\nscript = 'if [ -e {mark} ]; \
         then echo second; exit 0; fi; touch {mark}; echo first; sleep 30'\n[job.retries]\n\
         max_attempts = 2\ninitial_delay = \"100ms\"\n",
        mark = mark.display()
    );
    server.apply("resilient.toml", &job).await;
    let run = server.trigger("resilient", serde_json::json!({})).await;
    let running = server
        .wait_for_run(run, "running on agent-a with a pid", |d| {
            d["attempts"][0]["state"] == "running" && d["attempts"][0]["pid"].is_i64()
        })
        .await;
    assert_eq!(worker_of(&running["attempts"][0]), first.worker);
    let pid = running["attempts"][0]["pid"].as_i64().expect("pid");
    let second = TestAgent::on(&server, "agent-b", dir.path());
    first.kill9();
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    // the first attempt's `sleep 30` outlived its agent: stop its process group
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status();
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["state"], "lost", "{attempts:?}");
    assert_eq!(worker_of(&attempts[0]), first.worker);
    assert_eq!(attempts[1]["state"], "succeeded", "{attempts:?}");
    assert_eq!(worker_of(&attempts[1]), second.worker);
    assert!(server.log_text(run).await.contains("second"));
}

/// SIGTERM stops an agent cleanly: its running attempt is reported interrupted, so the server
/// requeues it at once (no retry policy needed, no lease to wait for) and another agent runs it.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_hands_its_attempt_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0", "--lease", "30s"]);
    let mut first = TestAgent::start(&words(&format!(
        "--server {} --token {} --name leaving --kill-grace 1s --data-dir {}",
        server.url,
        enrollment_token(&server),
        dir.path().join("leaving").display()
    )));
    let mark = dir.path().join("first-attempt-ran");
    let job = format!(
        "[[job]]\nname = \"handed-back\"\n[job.task]\ntype = \"shell\"\nscript = 'if [ -e {mark} ]; \
         then echo again; exit 0; fi; touch {mark}; sleep 30'\n",
        mark = mark.display()
    );
    server.apply("handed-back.toml", &job).await;
    let run = server.trigger("handed-back", serde_json::json!({})).await;
    server
        .wait_for_run(run, "running with a pid", |d| {
            d["attempts"][0]["state"] == "running" && d["attempts"][0]["pid"].is_i64()
        })
        .await;
    let stopping = Instant::now();
    assert!(first.stop(), "the agent exits 0 after SIGTERM");
    // well before the 30 s lease: the end was reported, not found by the lease reaper
    let requeued = server
        .wait_for_run(run, "requeued", |d| d["attempts"][0]["state"] == "lost")
        .await;
    assert!(stopping.elapsed() < Duration::from_secs(20), "{requeued}");
    assert_eq!(worker_of(&requeued["attempts"][0]), first.worker);
    let second = TestAgent::on(&server, "staying", dir.path());
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(worker_of(&detail["attempts"][1]), second.worker);
}

/// A free TCP port on loopback (a server restarted on it keeps the agent's URL).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The server stops and starts again on the same address while the agent runs: the agent
/// reconnects by itself (same worker id) and runs the next run.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_reconnects_after_a_server_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = format!("127.0.0.1:{}", free_port());
    let args = ["--workers", "0", "--listen", listen.as_str()];
    let mut before = TestServer::start(dir.path(), &args);
    let agent = TestAgent::on(&before, "steady", dir.path());
    before.apply("on-agent.toml", SHELL_JOB).await;
    let run = before.trigger("on-agent", serde_json::json!({})).await;
    let detail = before.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(worker_of(&detail["attempts"][0]), agent.worker);
    before.stop();
    // started before `before` is dropped, so a PostgreSQL database outlives the restart
    let after = TestServer::start(dir.path(), &args);
    drop(before);
    let run = after.trigger("on-agent", serde_json::json!({})).await;
    let detail = after.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(worker_of(&detail["attempts"][0]), agent.worker);
}

/// An agent given an API token instead of an enrollment token exits at once, saying what it
/// needs.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_with_an_api_token_exits_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0"]);
    let mut child = Command::new(common::bin())
        .args(["agent", "--server", &server.url, "--token", &server.token])
        .arg("--data-dir")
        .arg(dir.path().join("agent"))
        .env_remove("JOBWORKS_CONFIG")
        .env_remove("JOBWORKS_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jobworks agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent with an API token did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{status:?}");
    assert!(
        stderr.contains("enrollment token must start with `jwe_`")
            && stderr.contains("jobworks agents token create"),
        "{stderr}"
    );
}
