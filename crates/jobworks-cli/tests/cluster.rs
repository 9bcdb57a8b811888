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

[[job]]
name = "slow"
[job.retries]
max_attempts = 2
initial_delay = "100ms"
[job.task]
type = "shell"
script = "sleep 1"
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
    trigger_job(server, "work").await
}

/// Like [`trigger`], for job `job`.
async fn trigger_job(server: &TestServer, job: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server
            .post(&format!("/api/v1/jobs/{job}/runs"), json!({ "params": {} }))
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

    for (i, server) in servers.iter().enumerate() {
        let metrics = server.as_ref().expect("started").get("/metrics").await;
        let text = metrics.as_str().expect("text exposition");
        let leading = if i == leader { 1 } else { 0 };
        assert!(
            text.contains(&format!("\njobworks_leader {leading}\n")),
            "server {i}: {text}"
        );
        assert!(
            text.contains(&format!("jobworks_leader_changes_total {leading}")),
            "server {i}: {text}"
        );
        assert!(text.contains("jobworks_claim_seconds_count"), "{text}");
    }

    // triggers through every server, and ticks, before the kill
    let mut triggered = Vec::new();
    // which server acknowledged each manual trigger, to see who claimed it
    let mut through = std::collections::HashMap::new();
    for server in servers.iter().flatten() {
        let worker = readyz(server).await["worker_id"].clone();
        for _ in 0..4 {
            let id = trigger(server).await;
            through.insert(id, worker.clone());
            triggered.push(id);
        }
    }
    let survivor = (leader + 1) % n;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ticks(servers[survivor].as_ref().expect("live")).await.len() < 3 {
        assert!(Instant::now() < deadline, "ticks fire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // a run the leader itself is running when it dies: lost, then retried elsewhere
    let on_leader = servers[leader].as_ref().expect("live");
    let leader_worker = readyz(on_leader).await["worker_id"]
        .as_str()
        .expect("worker id")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let interrupted = loop {
        let id = trigger_job(on_leader, "slow").await;
        triggered.push(id);
        let detail = on_leader
            .wait_for_run(id, "started", |d| {
                d["run"]["state"] != "queued" && d["attempts"][0]["worker"].is_string()
            })
            .await;
        if detail["attempts"][0]["worker"] == leader_worker.as_str()
            && detail["run"]["state"] == "running"
        {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "no slow run started on the leader"
        );
    };
    servers[leader].as_mut().expect("live").kill9();
    servers[leader] = None;
    let killed = Instant::now();
    let killed_at = chrono::Utc::now();
    // triggers keep being acknowledged while nobody leads
    for server in servers.iter().flatten() {
        let worker = readyz(server).await["worker_id"].clone();
        for _ in 0..3 {
            let id = trigger(server).await;
            through.insert(id, worker.clone());
            triggered.push(id);
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
    let mut elsewhere: Vec<i64> = Vec::new();
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
        // queued-to-claimed time of first attempts claimed by another server than the one
        // the trigger went through (woken by a store event, or by its own poll)
        let first = &detail["attempts"][0];
        if through.get(id).is_some_and(|w| *w != first["worker"]) {
            let at = |v: &Value| {
                v.as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
            };
            if let (Some(queued), Some(claimed)) =
                (at(&detail["run"]["queued_at"]), at(&first["claimed_at"]))
            {
                elsewhere.push((claimed - queued).num_milliseconds());
            }
        }
    }
    elsewhere.sort_unstable();
    println!(
        "runs claimed by another server than the one triggered through: {}, queued to claimed ms: {elsewhere:?}",
        elsewhere.len()
    );
    let detail = live.get(&format!("/api/v1/runs/{interrupted}")).await;
    assert_eq!(detail["attempts"][0]["state"], "lost", "{detail}");
    assert_eq!(
        detail["run"]["state"], "succeeded",
        "retried on a live server: {detail}"
    );
    assert_ne!(detail["attempts"][1]["worker"], leader_worker.as_str());
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

/// A database of its own on the test PostgreSQL server, dropped when this is dropped.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `jw_cluster_<pid>_<suffix>` on the server `admin_url` names.
    async fn create(admin_url: &str, suffix: &str) -> ScratchDatabase {
        use sqlx::Connection;
        let name = format!("jw_cluster_{}_{suffix}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to JOBWORKS_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop a leftover database");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        ScratchDatabase {
            admin_url: admin_url.to_string(),
            url: format!("{server}/{name}"),
            name,
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

/// Three servers on one PostgreSQL database (`JOBWORKS_TEST_POSTGRES_URL`; skipped without it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leader_takeover_after_kill_9() {
    let Ok(admin_url) = std::env::var("JOBWORKS_TEST_POSTGRES_URL") else {
        eprintln!("JOBWORKS_TEST_POSTGRES_URL not set; skipping the PostgreSQL cluster test");
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "takeover").await;
    takeover(&database.url, 3).await;
}

/// A `--database` URL of another kind is refused at start, saying what is accepted.
#[test]
fn an_unsupported_database_url_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (url, said) in [
        (
            "mysql://root@127.0.0.1:3306/jobs",
            "unsupported database URL scheme `mysql`; use sqlite:PATH or postgres://…",
        ),
        ("jobworks.db", "is not a database URL"),
    ] {
        let out = std::process::Command::new(common::bin())
            .args(["server", "--listen", "127.0.0.1:0", "--database", url])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("JOBWORKS_LOG", "warn")
            .output()
            .expect("run jobworks server");
        assert!(!out.status.success(), "{url}: started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{url}: {stderr}");
    }
    assert!(
        !dir.path().join("jobworks.db").exists(),
        "nothing was created"
    );
}
