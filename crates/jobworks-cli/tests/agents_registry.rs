//! The agent registry end to end, with real processes (`jobworks server --workers 0` and
//! `jobworks agent`), on SQLite and, with `JOBWORKS_TEST_BACKEND=postgres`, on PostgreSQL:
//! enrollment and its labels, one-use and bad tokens, an identity reused across restarts,
//! revoke, drain, and the heartbeat states of a stopped agent.

mod common;

use common::agents::{TestAgent, enrollment_token, enrollment_token_with, words};
use common::{TestServer, cli};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `jobworks agents ARGS --output json` (asserts success).
fn agents_json(server: &TestServer, args: &[&str]) -> Value {
    let out = cli(server)
        .arg("agents")
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("jobworks agents");
    assert!(out.status.success(), "agents {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Polls `agents show NAME` until `done` holds (60 s); returns that view.
fn wait_agent(
    server: &TestServer,
    name: &str,
    what: &str,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let agent = agents_json(server, &["show", name]);
        if done(&agent) {
            return agent;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not so after 60 s: {agent}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A time field of a JSON document (`None` when null or absent).
fn time(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    value.as_str().and_then(|t| t.parse().ok())
}

/// `--server URL --token TOKEN --name NAME --data-dir DIR/NAME`.
fn agent_args(server: &TestServer, token: &str, name: &str, dir: &std::path::Path) -> Vec<String> {
    words(&format!(
        "--server {} --token {token} --name {name} --slots 2 --data-dir {}",
        server.url,
        dir.join(name).display()
    ))
}

/// Runs an agent that must not start (a refused token): it exits non-zero within 30 s; its
/// output.
fn refused(args: &[String]) -> String {
    let (mut agent, _lines) = TestAgent::spawn(args);
    let status = agent
        .exit_within(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the refused agent did not exit: {}", agent.text()));
    assert!(!status.success(), "{status:?}");
    // the reader threads may still be copying the last lines
    let deadline = Instant::now() + Duration::from_secs(5);
    while !agent.text().contains("error:") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.text()
}

/// An agent enrolled with a labelled one-use token shows those labels and its heartbeat
/// report in `agents list`; the same token is refused to a second agent, saying it is used
/// up and how to get another; the token lists as used up.
#[tokio::test(flavor = "multi_thread")]
async fn enrollment_gives_the_tokens_labels_and_a_one_use_token_works_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(
        dir.path(),
        &["--workers", "0", "--agent-heartbeat", "300ms"],
    );
    let (token, created) = enrollment_token_with(
        &server,
        &["--labels", "site=bj,role=db", "--uses", "1", "--ttl", "1h"],
    );
    assert!(
        token.starts_with("jwe_") && token.contains("@sha256:"),
        "{token}"
    );
    assert_eq!(created["info"]["uses_left"], 1);
    let _agent = TestAgent::start(&agent_args(&server, &token, "edge-1", dir.path()));
    let shown = wait_agent(&server, "edge-1", "heartbeat report", |a| {
        a["report"].is_object()
    });
    assert_eq!(
        shown["labels"],
        serde_json::json!({"role": "db", "site": "bj"})
    );
    assert_eq!(shown["state"], "online");
    let report = &shown["report"];
    assert_eq!(report["slots_total"], 2);
    assert!(
        report["cpu_count"].as_u64().is_some_and(|n| n >= 1),
        "{report}"
    );
    assert!(report["free_disk_bytes"].as_u64().is_some(), "{report}");
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    let table = cli(&server)
        .args(["agents", "list"])
        .output()
        .expect("agents list");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("edge-1") && text.contains("role=db,site=bj") && text.contains("0/2"),
        "{text}"
    );

    let said = refused(&agent_args(&server, &token, "edge-2", dir.path()));
    assert!(
        said.contains("used up") && said.contains("jobworks agents token create"),
        "{said}"
    );
    let tokens = agents_json(&server, &["token", "list"]);
    assert_eq!(tokens[0]["state"], "used_up", "{tokens}");
    // a name that is enrolled already is refused, whatever the token
    let said = refused(&agent_args(
        &server,
        &enrollment_token(&server),
        "edge-1",
        &dir.path().join("impostor"),
    ));
    assert!(
        said.contains("enrolled already") && said.contains("another --name"),
        "{said}"
    );
    let agents = agents_json(&server, &["list"]);
    assert_eq!(agents.as_array().map(Vec::len), Some(1), "{agents}");

    // the registry is for admin tokens only
    let out = cli(&server)
        .args(["token", "create", "viewer", "--output", "json"])
        .output()
        .expect("token create");
    assert!(out.status.success(), "{out:?}");
    let viewer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let out = cli(&server)
        .args([
            "agents",
            "list",
            "--token",
            viewer["token"].as_str().expect("secret"),
        ])
        .output()
        .expect("agents list");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(said.contains("only admin tokens"), "{said}");
}

/// Malformed, unknown and expired tokens: the agent exits non-zero at once with the reason
/// and the fix, and enrolls nothing.
#[tokio::test(flavor = "multi_thread")]
async fn bad_and_expired_tokens_exit_with_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0"]);
    let said = refused(&agent_args(&server, "jwe_nope", "edge-1", dir.path()));
    assert!(
        said.contains("--token:") && said.contains("jobworks agents token create"),
        "{said}"
    );

    // well formed, but the server never made it
    let real = enrollment_token(&server);
    let pin = real.split_once('@').expect("pin").1;
    let unknown = format!("jwe_0123456789abcdef.{}@{pin}", "ab".repeat(32));
    let said = refused(&agent_args(&server, &unknown, "edge-1", dir.path()));
    assert!(
        said.contains("unknown enrollment token") && said.contains("jobworks agents token create"),
        "{said}"
    );

    let (expiring, _) = enrollment_token_with(&server, &["--ttl", "1s"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while agents_json(&server, &["token", "list"])
        .as_array()
        .is_some_and(|t| !t.iter().any(|t| t["state"] == "expired"))
    {
        assert!(Instant::now() < deadline, "the token did not expire");
        std::thread::sleep(Duration::from_millis(100));
    }
    let said = refused(&agent_args(&server, &expiring, "edge-1", dir.path()));
    assert!(said.contains("expired") && said.contains("--ttl"), "{said}");
    assert_eq!(agents_json(&server, &["list"]), serde_json::json!([]));
}

/// A restarted agent keeps its identity: no token needed, no second enrollment, same name
/// and enrollment time; the identity file is private.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_agent_reuses_its_stored_identity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(
        dir.path(),
        &["--workers", "0", "--agent-heartbeat", "300ms"],
    );
    let mut first = TestAgent::on(&server, "keeper", dir.path());
    let before = wait_agent(&server, "keeper", "heartbeat", |a| a["report"].is_object());
    let identity = dir.path().join("keeper").join("identity.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&identity)
            .expect("identity stored")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(first.stop(), "a clean stop");
    // no --token: the stored identity is enough
    let second = TestAgent::start(&words(&format!(
        "--server {} --slots 2 --data-dir {}",
        server.url,
        dir.path().join("keeper").display()
    )));
    assert!(second.worker.starts_with("keeper-"), "{}", second.worker);
    assert_ne!(second.worker, first.worker, "a new worker id per start");
    let after = wait_agent(&server, "keeper", "heartbeat of the second start", |a| {
        time(&a["last_heartbeat_at"]) > time(&before["last_heartbeat_at"])
    });
    assert_eq!(
        after["enrolled_at"], before["enrolled_at"],
        "not enrolled again"
    );
    assert_eq!(
        agents_json(&server, &["list"]).as_array().map(Vec::len),
        Some(1)
    );
    server.apply("hello.toml", HELLO).await;
    let run = server.trigger("hello", serde_json::json!({})).await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(detail["attempts"][0]["worker"], second.worker.as_str());
}

const HELLO: &str =
    "[[job]]\nname = \"hello\"\n[job.task]\ntype = \"shell\"\nscript = 'echo hello'\n";

/// `agents revoke` cuts an agent off at once: it stops with a clear line and exits non-zero,
/// and its credential is refused (403) on the agent routes from then on.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_agent_is_cut_off_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0"]);
    let mut agent = TestAgent::on(&server, "doomed", dir.path());
    let identity: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("doomed").join("identity.json"))
            .expect("identity"),
    )
    .expect("JSON");
    let credential = identity["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    assert!(credential.starts_with("jwa_"), "{credential}");
    // a credential acts only as its own agent
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/agent/hello", server.url))
        .bearer_auth(&credential)
        .json(&serde_json::json!({"worker": format!("someone-else-{}", uuid_v7())}))
        .send()
        .await
        .expect("hello");
    assert_eq!(response.status().as_u16(), 403);
    let problem: Value = response.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("may act only as itself")),
        "{problem}"
    );
    let revoked_at = Instant::now();
    let out = cli(&server)
        .args(["agents", "revoke", "doomed"])
        .output()
        .expect("revoke");
    assert!(out.status.success(), "{out:?}");
    // its held claim is answered with the refusal: no waiting for a heartbeat
    let status = agent
        .exit_within(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the revoked agent did not exit: {}", agent.text()));
    let took = revoked_at.elapsed();
    assert!(!status.success(), "{status:?}");
    let text = agent.text();
    assert!(
        text.contains("cut this agent off") && text.contains("was revoked"),
        "{text}"
    );
    println!("revoke → agent exit: {took:?}");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/agent/hello", server.url))
        .bearer_auth(&credential)
        .json(&serde_json::json!({"worker": format!("doomed-{}", uuid_v7())}))
        .send()
        .await
        .expect("hello");
    assert_eq!(response.status().as_u16(), 403);
    let problem: Value = response.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("was revoked")),
        "{problem}"
    );
    // an API token is no agent credential
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/agent/hello", server.url))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({"worker": format!("doomed-{}", uuid_v7())}))
        .send()
        .await
        .expect("hello");
    assert_eq!(response.status().as_u16(), 401);
    // delete frees the name for a new enrollment
    let out = cli(&server)
        .args(["agents", "delete", "doomed"])
        .output()
        .expect("delete");
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_file(dir.path().join("doomed").join("identity.json")).expect("rm identity");
    let again = TestAgent::on(&server, "doomed", dir.path());
    assert!(again.worker.starts_with("doomed-"), "{}", again.worker);
}

fn uuid_v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `agents drain` lets the running attempt finish and takes nothing new (a run queued during
/// the drain stays queued across several heartbeats); `undrain` lets it run.
#[tokio::test(flavor = "multi_thread")]
async fn a_draining_agent_finishes_its_attempt_and_takes_nothing_new() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(
        dir.path(),
        &["--workers", "0", "--agent-heartbeat", "200ms"],
    );
    let agent = TestAgent::on(&server, "drainer", dir.path());
    let gate = dir.path().join("gate");
    let job = format!(
        "[[job]]\nname = \"gated\"\n[job.task]\ntype = \"shell\"\nscript = 'while [ ! -e {} ]; do sleep 0.05; done; echo done'\n",
        gate.display()
    );
    server.apply("gated.toml", &job).await;
    let first = server.trigger("gated", serde_json::json!({})).await;
    server
        .wait_for_run(first, "running on the agent", |d| {
            d["attempts"][0]["state"] == "running"
        })
        .await;
    let out = cli(&server)
        .args(["agents", "drain", "drainer"])
        .output()
        .expect("drain");
    assert!(out.status.success(), "{out:?}");
    let second = server.trigger("gated", serde_json::json!({})).await;
    std::fs::write(&gate, "open").expect("open the gate");
    let detail = server.wait_run(first, Duration::from_secs(60)).await;
    assert_eq!(
        detail["run"]["state"], "succeeded",
        "the running attempt finished: {detail}"
    );
    // nothing new taken while it heartbeats as draining (several heartbeats after the end)
    let ended = time(&detail["run"]["ended_at"]).expect("ended");
    let mut beats = 0;
    let mut last = None;
    wait_agent(
        &server,
        "drainer",
        "five heartbeats after the first run ended",
        |a| {
            let at = time(&a["last_heartbeat_at"]);
            if at.is_some_and(|at| at > ended) && at != last {
                beats += 1;
                last = at;
            }
            assert_eq!(a["state"], "draining", "{a}");
            beats >= 5
        },
    );
    let queued = server.get(&format!("/api/v1/runs/{second}")).await;
    assert_eq!(
        queued["run"]["state"], "queued",
        "a draining agent takes nothing: {queued}"
    );
    assert!(
        agent.text().contains("drains this agent"),
        "{}",
        agent.text()
    );
    let out = cli(&server)
        .args(["agents", "undrain", "drainer"])
        .output()
        .expect("undrain");
    assert!(out.status.success(), "{out:?}");
    let detail = server.wait_run(second, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(detail["attempts"][0]["worker"], agent.worker.as_str());
}

/// A `SIGSTOP`ped agent goes `suspect` (3 missed heartbeats) then `offline` (5), and back
/// `online` after `SIGCONT`; `/metrics` counts agents by state.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_goes_suspect_then_offline_and_comes_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(
        dir.path(),
        &["--workers", "0", "--agent-heartbeat", "300ms"],
    );
    let agent = TestAgent::on(&server, "sleeper", dir.path());
    wait_agent(&server, "sleeper", "online with a report", |a| {
        a["state"] == "online" && a["report"].is_object()
    });
    agent.signal("-STOP");
    let stopped = Instant::now();
    let mut seen = Vec::new();
    wait_agent(&server, "sleeper", "offline", |a| {
        let state = a["state"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        state == "offline"
    });
    let to_offline = stopped.elapsed();
    assert!(
        seen.contains(&"suspect".to_owned()),
        "suspect before offline: {seen:?}"
    );
    // offline 5 × 300 ms after the last heartbeat, which came at most one jittered interval
    // (360 ms) before the stop
    assert!(
        to_offline >= Duration::from_millis(1_500 - 360),
        "offline after 5 × 300 ms of silence: {to_offline:?}"
    );
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("jobworks_agents{state=\"offline\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("jobworks_agent_heartbeats_total"),
        "{metrics}"
    );
    agent.signal("-CONT");
    wait_agent(&server, "sleeper", "online again", |a| {
        a["state"] == "online"
    });
    println!("SIGSTOP → offline: {to_offline:?}; states seen: {seen:?}");
}

/// An agent stopped cleanly (SIGTERM) says goodbye: it is offline at once, not after
/// missed heartbeats (the server asks for the default 15 s heartbeat here, so silence alone
/// would take over 45 s), and a restart brings it back online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_stopped_agent_is_offline_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "0"]);
    let mut agent = TestAgent::on(&server, "leaver", dir.path());
    wait_agent(&server, "leaver", "online with a report", |a| {
        a["state"] == "online" && a["report"].is_object()
    });
    assert!(agent.stop(), "a SIGTERMed agent exits 0: {}", agent.text());
    let gone = agents_json(&server, &["show", "leaver"]);
    assert_eq!(
        gone["state"], "offline",
        "offline right after it exited: {gone}"
    );

    // the same data dir: the stored identity, no token
    let again = TestAgent::start(&words(&format!(
        "--server {} --name leaver --data-dir {}",
        server.url,
        dir.path().join("leaver").display()
    )));
    wait_agent(&server, "leaver", "online again", |a| {
        a["state"] == "online"
    });
    drop(again);
}
