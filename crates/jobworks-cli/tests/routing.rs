//! Routing (issue 9), end to end with real processes: a `jobworks server` and `jobworks
//! agent`s with labels; jobs and workflow tasks with `run_on` run on the agents their labels
//! and strategy choose, wait with a reason when none fits, fail after `placement_timeout`;
//! jobs without `run_on` stay on the server's own pool. Agents start through one helper,
//! `common::agents::start_agent`, which takes the labels.

mod common;

/// The agents' heartbeat interval on the test servers: the registry finds a stopped agent
/// suspect after more than three missed beats (about 1.2 s here, 45 s with the default
/// 15 s), and only then does routing move its work to another agent.
const HEARTBEAT: &str = "300ms";

use common::agents::{TestAgent, start_agent};
use common::{TestServer, cli};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The agent name of the worker that ran run `run`'s last attempt (`-` for none); a worker
/// id is `<name>-<UUID v7>`, 37 characters after the name.
fn agent_of(detail: &Value) -> String {
    let worker = detail["attempts"]
        .as_array()
        .and_then(|attempts| attempts.last())
        .and_then(|attempt| attempt["worker"].as_str())
        .unwrap_or("-");
    worker
        .get(..worker.len().saturating_sub(37))
        .unwrap_or(worker)
        .to_owned()
}

/// Milliseconds from a run being queued to its first attempt being claimed.
fn queued_to_claimed_ms(detail: &Value) -> i64 {
    let time = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("a time: {v}"))
    };
    (time(&detail["attempts"][0]["claimed_at"]) - time(&detail["run"]["queued_at"]))
        .num_milliseconds()
}

/// Triggers `job` with `params` and waits for the run to succeed; returns its detail.
async fn run_to_success(server: &TestServer, job: &str, params: Value) -> Value {
    let run = server.trigger(job, params).await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "run {run}: {detail}");
    detail
}

/// `runs show RUN --output json` and `runs show RUN` (human).
fn runs_show(server: &TestServer, run: i64) -> (Value, String) {
    let json = cli(server)
        .args(["runs", "show", &run.to_string(), "--output", "json"])
        .output()
        .expect("runs show --output json");
    assert!(json.status.success(), "runs show: {json:?}");
    let human = cli(server)
        .args(["runs", "show", &run.to_string()])
        .output()
        .expect("runs show");
    assert!(human.status.success(), "runs show: {human:?}");
    (
        serde_json::from_slice(&json.stdout).expect("runs show prints JSON"),
        String::from_utf8_lossy(&human.stdout).into_owned(),
    )
}

/// A shell job named `name` with `run_on` (a TOML inline table, or empty for none) and a
/// `customer` parameter.
fn job(name: &str, run_on: &str) -> String {
    let run_on = if run_on.is_empty() {
        String::new()
    } else {
        format!("run_on = {run_on}\n")
    };
    format!(
        "[[job]]\nname = \"{name}\"\n{run_on}[job.params.customer]\ntype = \"string\"\n\
         default = \"none\"\n[job.task]\ntype = \"shell\"\nscript = \"echo ran on $JOBWORKS_AGENT\"\n"
    )
}

fn agents(server: &TestServer, dir: &Path, specs: &[(&str, &str)]) -> Vec<TestAgent> {
    specs
        .iter()
        .map(|(name, labels)| start_agent(server, name, labels, dir))
        .collect()
}

/// Of three agents, only the one carrying the job's labels runs it; a job without `run_on`
/// runs on the server's own pool, never on an agent, when the server has workers.
#[tokio::test]
async fn labels_choose_the_agent_and_untargeted_jobs_stay_on_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(
        dir.path(),
        &["--workers", "2", "--agent-heartbeat", HEARTBEAT],
    );
    let _agents = agents(
        &server,
        dir.path(),
        &[
            ("bj-1", "site=bj"),
            ("sh-1", "site=sh"),
            ("gz-1", "site=gz"),
        ],
    );
    server
        .apply(
            "jobs.toml",
            &format!(
                "{}{}",
                job("to-sh", r#"{ labels = { site = "sh" } }"#),
                job("anywhere", "")
            ),
        )
        .await;
    let mut latencies = Vec::new();
    for _ in 0..3 {
        let detail = run_to_success(&server, "to-sh", json!({})).await;
        assert_eq!(agent_of(&detail), "sh-1", "{detail}");
        latencies.push(queued_to_claimed_ms(&detail));
        let run = detail["run"]["id"].as_i64().expect("id");
        assert!(server.log_text(run).await.contains("ran on sh-1"));
        let (shown, human) = runs_show(&server, run);
        assert_eq!(shown["tasks"][0]["placed_agent"], "sh-1", "{shown}");
        assert!(human.contains("agent") && human.contains("sh-1"), "{human}");
        assert!(
            shown["events"]
                .as_array()
                .expect("events")
                .iter()
                .any(|e| e["reason"] == "placed on sh-1 (least_loaded)"),
            "the placement is an event: {shown}"
        );
    }
    // a figure for the record (placement, then the agent's held claim woken), not a bound
    eprintln!("routed run, queued -> claimed on its agent: {latencies:?} ms");
    let server_worker =
        run_to_success(&server, "anywhere", json!({})).await["attempts"][0]["worker"]
            .as_str()
            .expect("worker")
            .to_owned();
    for agent in ["bj-1-", "sh-1-", "gz-1-"] {
        assert!(!server_worker.starts_with(agent), "{server_worker}");
    }
    let shown = cli(&server)
        .args(["jobs", "show", "to-sh"])
        .output()
        .expect("jobs show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("run on") && text.contains("site=sh, least_loaded"),
        "{text}"
    );
    let view = server.get("/api/v1/jobs/to-sh").await;
    assert_eq!(view["run_on"]["labels"], json!({"site": "sh"}), "{view}");
    assert_eq!(view["run_on"]["strategy"], "least_loaded");
    assert!(
        server
            .get("/api/v1/jobs/anywhere")
            .await
            .get("run_on")
            .is_none()
    );
}

/// `round_robin` over two agents alternates between them.
#[tokio::test]
async fn round_robin_alternates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path(), &["--agent-heartbeat", HEARTBEAT]);
    let _agents = agents(
        &server,
        dir.path(),
        &[("rr-a", "pool=rr"), ("rr-b", "pool=rr")],
    );
    server
        .apply(
            "rr.toml",
            &job(
                "rr",
                r#"{ labels = { pool = "rr" }, strategy = "round_robin" }"#,
            ),
        )
        .await;
    let mut ran = Vec::new();
    for _ in 0..4 {
        ran.push(agent_of(&run_to_success(&server, "rr", json!({})).await));
    }
    for pair in ran.windows(2) {
        assert_ne!(pair[0], pair[1], "alternates: {ran:?}");
    }
    assert!(ran.iter().all(|a| a == "rr-a" || a == "rr-b"), "{ran:?}");
}

/// `consistent_hash` on `params.customer`: one customer always goes to one agent.
#[tokio::test]
async fn consistent_hash_keeps_a_customer_on_one_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path(), &["--agent-heartbeat", HEARTBEAT]);
    let _agents = agents(
        &server,
        dir.path(),
        &[
            ("ch-1", "pool=ch"),
            ("ch-2", "pool=ch"),
            ("ch-3", "pool=ch"),
        ],
    );
    server
        .apply(
            "ch.toml",
            &job(
                "ch",
                r#"{ labels = { pool = "ch" }, strategy = "consistent_hash", hash_key = "params.customer" }"#,
            ),
        )
        .await;
    let mut placed: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..3 {
        for customer in ["acme", "globex", "initech", "umbrella"] {
            let detail = run_to_success(&server, "ch", json!({ "customer": customer })).await;
            let agent = agent_of(&detail);
            let first = placed.entry(customer.to_owned()).or_insert(agent.clone());
            assert_eq!(*first, agent, "{customer} moved in round {round}");
        }
    }
}

/// `failover`: the first agent in name order while it is there, the next once it stops
/// (SIGTERM), and the next again once that one is killed (SIGKILL: no goodbye).
#[tokio::test]
async fn failover_goes_to_the_next_agent_when_the_first_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path(), &["--agent-heartbeat", HEARTBEAT]);
    let mut agents = agents(
        &server,
        dir.path(),
        &[
            ("fo-3", "pool=fo"),
            ("fo-2", "pool=fo"),
            ("fo-1", "pool=fo"),
        ],
    );
    server
        .apply(
            "fo.toml",
            &job(
                "fo",
                r#"{ labels = { pool = "fo" }, strategy = "failover" }"#,
            ),
        )
        .await;
    for _ in 0..2 {
        assert_eq!(
            agent_of(&run_to_success(&server, "fo", json!({})).await),
            "fo-1"
        );
    }
    agents
        .iter_mut()
        .find(|a| a.name() == "fo-1")
        .expect("fo-1")
        .stop();
    assert_eq!(
        agent_of(&run_to_success(&server, "fo", json!({})).await),
        "fo-2"
    );
    agents
        .iter_mut()
        .find(|a| a.name() == "fo-2")
        .expect("fo-2")
        .kill9();
    assert_eq!(
        agent_of(&run_to_success(&server, "fo", json!({})).await),
        "fo-3"
    );
}

/// No matching agent: the run stays queued with the reason in `runs show`; with
/// `placement_timeout = "2s"` it fails with that reason.
#[tokio::test]
async fn without_a_matching_agent_a_run_waits_then_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path(), &["--agent-heartbeat", HEARTBEAT]);
    let _agents = agents(&server, dir.path(), &[("bj-1", "site=bj")]);
    server
        .apply(
            "nowhere.toml",
            &format!(
                "{}{}",
                job("nowhere", r#"{ labels = { site = "mars" } }"#),
                job(
                    "impatient",
                    r#"{ labels = { site = "mars" }, placement_timeout = "2s" }"#
                )
            ),
        )
        .await;
    let waiting = server.trigger("nowhere", json!({})).await;
    let reason = "no online agent matches site=mars";
    let detail = server
        .wait_for_run(waiting, "shows why it waits", |d| {
            d["tasks"][0]["wait_reason"] == reason
        })
        .await;
    assert_eq!(detail["run"]["state"], "queued");
    let (shown, human) = runs_show(&server, waiting);
    assert_eq!(shown["tasks"][0]["wait_reason"], reason, "{shown}");
    assert!(
        human
            .lines()
            .any(|line| line.starts_with("waiting") && line.ends_with(reason)),
        "{human}"
    );

    let doomed = server.trigger("impatient", json!({})).await;
    let detail = server.wait_run(doomed, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "failed", "{detail}");
    assert_eq!(
        detail["run"]["reason"],
        format!("not placed within placement_timeout 2s: {reason}"),
        "{detail}"
    );
    assert!(detail["attempts"].as_array().expect("attempts").is_empty());
    // the other one still waits: no timeout
    let still = server.get(&format!("/api/v1/runs/{waiting}")).await;
    assert_eq!(still["run"]["state"], "queued");
}

/// A workflow whose tasks target different labels runs each task on its own agent.
#[tokio::test]
async fn workflow_tasks_run_on_their_own_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path(), &["--agent-heartbeat", HEARTBEAT]);
    let _agents = agents(
        &server,
        dir.path(),
        &[("db-1", "role=db"), ("web-1", "role=web")],
    );
    let file = r#"
[[workflow]]
name = "deploy"
[[workflow.task]]
id = "migrate"
type = "shell"
script = "echo migrate on $JOBWORKS_AGENT"
run_on = { labels = { role = "db" } }
[[workflow.task]]
id = "restart"
depends_on = ["migrate"]
type = "shell"
script = "echo restart on $JOBWORKS_AGENT"
run_on = { labels = { role = "web" } }
[[workflow.task]]
id = "report"
depends_on = ["restart"]
type = "shell"
script = "echo report on the server"
"#;
    server.apply("deploy.toml", file).await;
    let run = server.trigger_workflow("deploy", json!({})).await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let by_task: BTreeMap<String, String> = detail["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            let worker = a["worker"].as_str().expect("worker");
            (
                a["task"].as_str().expect("task").to_owned(),
                worker[..worker.len() - 37].to_owned(),
            )
        })
        .collect();
    assert_eq!(by_task["migrate"], "db-1", "{by_task:?}");
    assert_eq!(by_task["restart"], "web-1", "{by_task:?}");
    assert!(
        !["db-1", "web-1"].contains(&by_task["report"].as_str()),
        "the untargeted task ran on the server: {by_task:?}"
    );
    let (shown, human) = runs_show(&server, run);
    let placed: Vec<&Value> = shown["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| &t["placed_agent"])
        .collect();
    assert_eq!(placed, [&json!("db-1"), &json!("web-1"), &Value::Null]);
    assert!(human.contains("AGENT"), "{human}");
    let shown = cli(&server)
        .args(["workflow", "show", "deploy"])
        .output()
        .expect("workflow show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("migrate: role=db, least_loaded"), "{text}");
}
