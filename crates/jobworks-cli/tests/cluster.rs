//! Several real `jobworks server` processes on one database: one leads, a `kill -9` of the
//! leader is taken over within the leader lease (the takeover time is printed), no
//! `(job, tick)` fires twice across the takeover, and every acknowledged trigger gets its run,
//! which ends.
//!
//! On SQLite the servers share one file (as several servers on one host may); on PostgreSQL
//! (`JOBWORKS_TEST_POSTGRES_URL`) each test makes its own database `jw_cluster_<pid>_<n>` and
//! drops it at the end.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The leader lease the servers run with: short, so the test is quick.
const LEADER_LEASE: Duration = Duration::from_secs(3);

const JOBS: &str = r#"
[[job]]
name = "tick"
schedule = "* * * * * *"
[job.task]
type = "shell"
script = "true"

[[job]]
name = "work"
[job.task]
type = "shell"
script = "sleep 0.2"
"#;

/// Starts `n` servers on `database`, each with its own data directory (as on separate
/// hosts); the first makes the admin token, the others get its `client.toml`.
fn start_servers(dirs: &[tempfile::TempDir], database: &str) -> Vec<Option<TestServer>> {
    let flags = ["--database", database, "--leader-lease", "3s"];
    let mut servers = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 {
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data).expect("data dir");
            std::fs::copy(
                dirs[0].path().join("data/client.toml"),
                data.join("client.toml"),
            )
            .expect("copy client.toml");
        }
        servers.push(Some(TestServer::start(dir.path(), &flags)));
    }
    servers
}

/// `/readyz` of `server` (any status).
async fn readyz(server: &TestServer) -> Value {
    server
        .request(reqwest::Method::GET, "/readyz", None)
        .await
        .1
}

/// Waits until one live server says it leads; returns its index and epoch.
async fn leader_of(servers: &[Option<TestServer>], deadline: Instant) -> (usize, i64) {
    loop {
        for (i, server) in servers.iter().enumerate() {
            let Some(server) = server else { continue };
            let ready = readyz(server).await;
            if ready["leader"]["this_server"] == true {
                return (i, ready["leader"]["epoch"].as_i64().expect("epoch"));
            }
        }
        assert!(Instant::now() < deadline, "no server leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Triggers `work` through `server` until acknowledged (201); a 503 (the store busy, as two
/// processes writing one SQLite file can be) is not an acknowledgement and is retried.
async fn trigger(server: &TestServer) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server
            .post("/api/v1/jobs/work/runs", json!({ "params": {} }))
            .await;
        if status.as_u16() == 201 {
            return body["runs"][0]["run_id"].as_i64().expect("run id");
        }
        assert_eq!(status.as_u16(), 503, "trigger: {body}");
        assert!(Instant::now() < deadline, "trigger still refused: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scheduled times of the tick job's runs.
async fn ticks(server: &TestServer) -> Vec<String> {
    let runs = server.get("/api/v1/runs?job=tick&limit=1000").await;
    runs.as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["scheduled_at"].as_str().map(str::to_string))
        .collect()
}

async fn takeover(database: &str, n: usize) {
    let dirs: Vec<tempfile::TempDir> = (0..n)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let mut servers = start_servers(&dirs, database);
    let first = servers[0].as_ref().expect("started");
    first.apply("cluster.toml", JOBS).await;
    let (leader, epoch) = leader_of(&servers, Instant::now() + Duration::from_secs(20)).await;
    assert_eq!(epoch, 1, "the first leader of a new database");
    for (i, server) in servers.iter().enumerate() {
        let ready = readyz(server.as_ref().expect("started")).await;
        assert_eq!(ready["ready"], true, "server {i}: {ready}");
        assert_eq!(
            ready["leader"]["this_server"],
            i == leader,
            "exactly one leads: {ready}"
        );
    }

    // triggers through every server, and ticks, before the kill
    let mut triggered = Vec::new();
    for server in servers.iter().flatten() {
        for _ in 0..4 {
            triggered.push(trigger(server).await);
        }
    }
    let survivor = (leader + 1) % n;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ticks(servers[survivor].as_ref().expect("live")).await.len() < 3 {
        assert!(Instant::now() < deadline, "ticks fire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    servers[leader].as_mut().expect("live").kill9();
    servers[leader] = None;
    let killed = Instant::now();
    let killed_at = chrono::Utc::now();
    // triggers keep being acknowledged while nobody leads
    for server in servers.iter().flatten() {
        for _ in 0..3 {
            triggered.push(trigger(server).await);
        }
    }
    let (new_leader, new_epoch) = leader_of(&servers, killed + Duration::from_secs(30)).await;
    let took = killed.elapsed();
    println!(
        "takeover after kill -9 of the leader: {} ms (leader lease {} ms, {n} servers)",
        took.as_millis(),
        LEADER_LEASE.as_millis()
    );
    assert!(new_epoch > epoch, "a takeover increments the epoch");
    assert!(
        took < LEADER_LEASE + LEADER_LEASE / 3 + Duration::from_secs(2),
        "takeover within the lease and one renewal period: {took:?}"
    );
    let live = servers[new_leader].as_ref().expect("live");

    // ticks fire again after the takeover
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = ticks(live)
            .await
            .iter()
            .filter_map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
            .filter(|t| *t > killed_at + chrono::TimeDelta::from_std(took).expect("delta"))
            .count();
        if after >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the new leader fires ticks");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = live
        .request(reqwest::Method::POST, "/api/v1/jobs/tick/pause", None)
        .await;
    assert!(status.is_success(), "{body}");
    let all = ticks(live).await;
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "a (job, tick) fired twice: {all:?}"
    );

    // every acknowledged trigger has its run, and it ends (those the dead leader was running
    // are found lost once their attempt lease expires)
    let mut workers = BTreeSet::new();
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for id in &triggered {
        let detail = live.wait_run(*id, Duration::from_secs(90)).await;
        *states
            .entry(detail["run"]["state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        for attempt in detail["attempts"].as_array().expect("attempts") {
            if let Some(worker) = attempt["worker"].as_str() {
                workers.insert(worker.to_string());
            }
        }
    }
    println!(
        "{} triggered runs ended: {states:?}; ran on {} workers",
        triggered.len(),
        workers.len()
    );
    assert!(
        states.get("succeeded").copied().unwrap_or(0) >= triggered.len() / 2,
        "most runs succeeded: {states:?}"
    );
    for worker in &workers {
        // `<hostname>-<UUID v7>`: the UUID is the last 36 characters, after a dash
        let uuid = worker
            .get(worker.len().saturating_sub(36)..)
            .unwrap_or_default();
        assert!(
            worker.len() > 37
                && worker.as_bytes()[worker.len() - 37] == b'-'
                && uuid.matches('-').count() == 4
                && uuid.as_bytes()[14] == b'7',
            "worker id {worker} is <hostname>-<UUID v7>"
        );
    }
    assert!(workers.len() <= n, "one worker id per server: {workers:?}");
}

/// Two servers sharing one SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_leader_takeover_after_kill_9() {
    let shared = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite:{}", shared.path().join("jobworks.db").display());
    takeover(&database, 2).await;
}
