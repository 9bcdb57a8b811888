//! End-to-end tests: the real `jobworks` binary, a real SQLite file, real processes, real
//! HTTP. Every wait is bounded.

mod common;

use common::{TestServer, on_postgres};
use serde_json::json;
use std::time::Duration;

const PARAMS_JOB: &str = r#"
[[job]]
name = "greet"
description = "echo a parameter"

[job.task]
type = "shell"
script = '''
echo "hello $JOBWORKS_PARAM_WHO"
printf '%s\n' "$JOBWORKS_PARAM_WHO" > "$JOBWORKS_DATA_DIR/who.txt"
echo "to stderr" >&2
'''

[job.params.who]
type = "string"
default = "world"

[job.params.times]
type = "int"
default = 1
min = 1
max = 5
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_trigger_with_params_and_read_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let applied = server.apply("greet.toml", PARAMS_JOB).await;
    assert_eq!(applied["jobs"][0]["change"], "created");
    let again = server.apply("greet.toml", PARAMS_JOB).await;
    assert_eq!(
        again["jobs"][0]["change"], "unchanged",
        "applying an unchanged file changes nothing"
    );

    let id = server
        .trigger("greet", json!({ "who": "Jobworks", "times": "2" }))
        .await;
    let detail = server.wait_run(id, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(detail["run"]["job_version"], 1);
    assert_eq!(detail["run"]["params"]["times"], 2, "string coerced to int");
    let attempt = &detail["attempts"][0];
    assert_eq!(attempt["exit_code"], 0);
    // a process that ends before its first sample has no peak RSS (documented: `-`)
    if let Some(rss) = attempt["max_rss_bytes"].as_i64() {
        assert!(rss > 0, "{attempt}");
    }
    let logs = server.get(&format!("/api/v1/runs/{id}/logs")).await;
    let lines = logs["lines"].as_array().expect("lines");
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stdout" && l["text"] == "hello Jobworks"),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stderr" && l["text"] == "to stderr"),
        "{logs}"
    );

    // a bad parameter is refused before any run exists
    let (status, problem) = server
        .post(
            "/api/v1/jobs/greet/runs",
            json!({ "params": { "times": 9 } }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("times"),
        "{problem}"
    );
    let (status, problem) = server
        .post(
            "/api/v1/jobs/greet/runs",
            json!({ "params": { "whom": "x" } }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");

    // a changed definition becomes version 2; the old run keeps version 1
    let changed = PARAMS_JOB.replace("echo a parameter", "echo a parameter, v2");
    let applied = server.apply("greet.toml", &changed).await;
    assert_eq!(applied["jobs"][0]["change"], "updated");
    assert_eq!(applied["jobs"][0]["version"], 2);
    let versions = server.get("/api/v1/jobs/greet/versions").await;
    assert_eq!(versions.as_array().expect("versions").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_problems_and_openapi() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    let no_token = http
        .get(format!("{}/api/v1/jobs", server.url))
        .send()
        .await
        .expect("request");
    assert_eq!(no_token.status().as_u16(), 401);
    assert_eq!(
        no_token.headers()["content-type"],
        "application/problem+json"
    );
    let bad = http
        .get(format!("{}/metrics", server.url))
        .bearer_auth("jw_wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 401);

    let (status, problem) = server
        .post(
            "/api/v1/jobs/apply",
            json!({ "files": [{ "name": "bad.toml", "content": "[[job]]\nname = \"x\"\nshedule = \"* * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n" }] }),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");
    let first = &problem["errors"][0];
    assert_eq!(first["file"], "bad.toml");
    assert_eq!(first["line"], 3);
    assert!(
        first["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("schedule"),
        "{problem}"
    );

    // malformed input is a problem+json answer too, never axum's plain-text rejection
    let malformed = http
        .post(format!("{}/api/v1/jobs/apply", server.url))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
    let no_type = http
        .post(format!("{}/api/v1/jobs/apply", server.url))
        .bearer_auth(&server.token)
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(no_type.status().as_u16(), 415);
    assert_eq!(
        no_type.headers()["content-type"],
        "application/problem+json"
    );
    let bad_id = http
        .get(format!("{}/api/v1/runs/not-a-number", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("request");
    assert_eq!(bad_id.status().as_u16(), 400);
    assert_eq!(bad_id.headers()["content-type"], "application/problem+json");

    let openapi = server.get("/api/v1/openapi.json").await;
    assert!(
        openapi["paths"]["/api/v1/jobs/apply"]["post"]["responses"]["415"].is_object(),
        "error answers are documented"
    );
    assert!(
        openapi["paths"]["/api/v1/jobs/{name}/runs"].is_object(),
        "{openapi}"
    );
    let readyz = server.get("/readyz").await;
    assert_eq!(readyz["ready"], true, "{readyz}");
    let (_, metrics) = server.request(reqwest::Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().expect("text").to_string();
    assert!(metrics.contains("jobworks_queue_depth"), "{metrics}");
    assert!(
        metrics.contains("jobworks_runs{state=\"succeeded\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_reach_scripts_as_inert_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server.apply("greet.toml", PARAMS_JOB).await;
    let marker = dir.path().join("pwned");
    let evil = format!(
        "$(touch {}); rm -rf ~ `touch {}` \"; touch {} #",
        marker.display(),
        marker.display(),
        marker.display()
    );
    let id = server.trigger("greet", json!({ "who": evil })).await;
    let detail = server.wait_run(id, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert!(!marker.exists(), "the parameter was executed");
    let written =
        std::fs::read_to_string(dir.path().join("data").join("who.txt")).expect("who.txt");
    assert_eq!(
        written.trim_end_matches('\n'),
        evil,
        "the value arrives byte for byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_grandchildren() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let pidfile = dir.path().join("grandchild.pid");
    let job = format!(
        r#"
[[job]]
name = "hang"
timeout = "1s"
[job.task]
type = "shell"
script = '''
sh -c 'sleep 300 & echo $! > {pid}; wait' &
wait
'''
"#,
        pid = pidfile.display()
    );
    server.apply("hang.toml", &job).await;
    let id = server.trigger("hang", json!({})).await;
    let detail = server.wait_run(id, Duration::from_secs(30)).await;
    assert_eq!(detail["run"]["state"], "timed_out", "{detail}");
    assert_eq!(detail["attempts"][0]["state"], "timed_out");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("grandchild wrote its pid")
        .trim()
        .parse()
        .expect("pid");
    let gone = common::process_gone(i64::from(pid));
    assert!(gone, "grandchild {pid} survived the timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seconds_cron_fires_on_time_without_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "tick.toml",
            "[[job]]\nname = \"tick\"\nschedule = \"* * * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )
        .await;
    server
        .get_until(
            "/api/v1/runs?job=tick&limit=1000",
            "four ticks fired",
            |runs| runs.as_array().is_some_and(|r| r.len() >= 4),
        )
        .await;
    server
        .request(reqwest::Method::POST, "/api/v1/jobs/tick/pause", None)
        .await;
    let runs = server.get("/api/v1/runs?job=tick&limit=1000").await;
    let runs = runs.as_array().expect("runs");
    assert!(
        runs.len() >= 3,
        "a per-second job fired {} times",
        runs.len()
    );
    let mut ticks: Vec<&str> = runs
        .iter()
        .map(|r| r["scheduled_at"].as_str().expect("scheduled"))
        .collect();
    let n = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), n, "a tick fired twice");
    for run in runs {
        let scheduled: chrono::DateTime<chrono::Utc> = run["scheduled_at"]
            .as_str()
            .expect("s")
            .parse()
            .expect("time");
        assert_eq!(
            scheduled.timestamp_subsec_nanos(),
            0,
            "ticks fall on whole seconds"
        );
        if let Some(started) = run["started_at"].as_str() {
            let started: chrono::DateTime<chrono::Utc> = started.parse().expect("time");
            let lag = started - scheduled;
            assert!(
                lag >= chrono::Duration::zero(),
                "started before its tick: {run}"
            );
            assert!(
                lag < chrono::Duration::seconds(1),
                "started {lag} after its tick: {run}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_run_then_restart_retries_and_never_refires_a_tick() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("attempts.log");
    let job = format!(
        r#"
[[job]]
name = "slow"
[job.retries]
max_attempts = 2
initial_delay = "100ms"
[job.task]
type = "shell"
script = '''
echo "$JOBWORKS_ATTEMPT" >> {marker}
if [ "$JOBWORKS_ATTEMPT" = 1 ]; then sleep 300; fi
'''

[[job]]
name = "every-second"
schedule = "* * * * * *"
[job.task]
type = "shell"
script = "true"
"#,
        marker = marker.display()
    );
    let mut server = TestServer::start(dir.path(), &[]);
    server.apply("slow.toml", &job).await;
    let id = server.trigger("slow", json!({})).await;
    // wait until the first attempt is really running
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .contains('1')
    {
        assert!(
            std::time::Instant::now() < deadline,
            "attempt 1 never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = server.get(&format!("/api/v1/runs/{id}")).await;
    let pid = detail["attempts"][0]["pid"].as_i64();
    server.kill9();

    let server = TestServer::start(dir.path(), &[]);
    let detail = server.wait_run(id, Duration::from_secs(40)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(attempts[0]["state"], "lost", "{detail}");
    assert_eq!(attempts[1]["state"], "succeeded");
    if let Some(pid) = pid {
        // the orphaned `sleep 300` group of the lost attempt was killed on restart
        let gone = common::process_gone(pid);
        assert!(
            gone,
            "orphan process group {pid} of the lost attempt still runs"
        );
    }
    server
        .request(
            reqwest::Method::POST,
            "/api/v1/jobs/every-second/pause",
            None,
        )
        .await;
    let runs = server.get("/api/v1/runs?job=every-second&limit=1000").await;
    let mut ticks: Vec<String> = runs
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["scheduled_at"].as_str().expect("scheduled").to_string())
        .collect();
    let n = ticks.len();
    assert!(n >= 2, "ticks fired before and after the crash");
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), n, "a tick fired twice across the crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_queued_runs_all_complete() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "noop.toml",
            "[[job]]\nname = \"noop\"\n[job.task]\ntype = \"shell\"\ncommand = [\"true\"]\n",
        )
        .await;
    let (status, body) = server
        .post("/api/v1/jobs/noop/runs", json!({ "count": 1000 }))
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let ids: Vec<i64> = body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 1000);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done = server
            .get("/api/v1/runs?job=noop&state=succeeded&limit=1000")
            .await;
        if done.as_array().expect("runs").len() == 1000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "1000 runs did not finish in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let runs = server.get("/api/v1/runs?job=noop&limit=1000").await;
    let mut seen: Vec<i64> = runs
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want, "every queued run has its own row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_job_retries_with_backoff_and_demo_jobs_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--demo"]);
    let jobs = server.get("/api/v1/jobs").await;
    let names: Vec<&str> = jobs
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["name"].as_str().expect("name"))
        .collect();
    for want in [
        "backup",
        "disk-usage",
        "dpkg-summary",
        "flaky",
        "heartbeat",
        "runs-report",
    ] {
        assert!(
            names.contains(&want),
            "demo job {want} missing from {names:?}"
        );
    }
    let id = server.trigger("flaky", json!({})).await;
    let detail = server.wait_run(id, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3);
    let end = |i: usize| -> chrono::DateTime<chrono::Utc> {
        attempts[i]["ended_at"]
            .as_str()
            .expect("ended")
            .parse()
            .expect("time")
    };
    let start = |i: usize| -> chrono::DateTime<chrono::Utc> {
        attempts[i]["started_at"]
            .as_str()
            .expect("started")
            .parse()
            .expect("time")
    };
    // exponential backoff: 1 s before attempt 2, 2 s before attempt 3
    assert!(
        start(1) - end(0) >= chrono::Duration::milliseconds(1_000),
        "{detail}"
    );
    assert!(
        start(2) - end(1) >= chrono::Duration::milliseconds(2_000),
        "{detail}"
    );

    // disk-usage at threshold 100 never alerts: the test is about the job running, not about
    // how full this machine's disk is
    for (job, params) in [
        ("backup", json!({})),
        ("dpkg-summary", json!({})),
        ("runs-report", json!({})),
        ("disk-usage", json!({ "threshold": 100 })),
    ] {
        if on_postgres() && matches!(job, "backup" | "runs-report") {
            eprintln!("skipped on PostgreSQL: demo job {job} is written for a SQLite store");
            continue;
        }
        let id = server.trigger(job, params).await;
        let detail = server.wait_run(id, Duration::from_secs(60)).await;
        let logs = server.log_text(id).await;
        assert_eq!(
            detail["run"]["state"], "succeeded",
            "{job}: {detail}\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_4000_jobs_due_in_the_same_second_all_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--workers", "16"]);
    // one fire time, far enough ahead for the apply to finish first (PostgreSQL commits each
    // job's apply on its own, which takes longer than 20 s for 4000 on a loaded machine)
    let lead = if on_postgres() { 60 } else { 20 };
    let due = chrono::Utc::now() + chrono::Duration::seconds(lead);
    let cron = format!(
        "{} {} {} {} {} *",
        due.format("%S"),
        due.format("%M"),
        due.format("%H"),
        due.format("%d"),
        due.format("%m")
    );
    let mut file = String::new();
    for i in 0..4000 {
        file.push_str(&format!(
            "[[job]]\nname = \"burst-{i:04}\"\nschedule = \"{cron}\"\ntimezone = \"UTC\"\n[job.task]\ntype = \"shell\"\ncommand = [\"true\"]\n\n"
        ));
    }
    let applied = server.apply("burst.toml", &file).await;
    assert_eq!(applied["jobs"].as_array().expect("jobs").len(), 4000);
    assert!(
        chrono::Utc::now() < due,
        "applying 4000 jobs took longer than {lead} s; the burst test needs them applied before the tick"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut succeeded = 0;
    while std::time::Instant::now() < deadline {
        let page = server.get("/api/v1/runs?state=succeeded&limit=1000").await;
        succeeded = page.as_array().expect("runs").len();
        let (_, metrics) = server.request(reqwest::Method::GET, "/metrics", None).await;
        let metrics = metrics.as_str().unwrap_or_default().to_string();
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix("jobworks_runs{state=\"succeeded\"} "))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if count == 4000 {
            succeeded = count;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        succeeded, 4000,
        "every job due in the burst ran exactly once"
    );
    let (_, metrics) = server.request(reqwest::Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    for state in ["failed", "skipped", "queued", "running"] {
        assert!(
            metrics.contains(&format!("jobworks_runs{{state=\"{state}\"}} 0")),
            "no run may be {state}: {metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_follow_the_misfire_policy_and_are_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs = r#"
[[job]]
name = "catch-up"
schedule = "* * * * * *"
misfire = "fire_once"
[job.task]
type = "shell"
script = "true"

[[job]]
name = "no-catch-up"
schedule = "* * * * * *"
misfire = "skip"
[job.task]
type = "shell"
script = "true"
"#;
    let mut server = TestServer::start(dir.path(), &["--misfire-threshold", "1s"]);
    server.apply("misfire.toml", jobs).await;
    for job in ["catch-up", "no-catch-up"] {
        server
            .get_until(
                &format!("/api/v1/runs?job={job}"),
                "the job fired",
                |runs| runs.as_array().is_some_and(|r| !r.is_empty()),
            )
            .await;
    }
    server.kill9();
    // the server is down for 5 s: about five ticks of each job are missed
    tokio::time::sleep(Duration::from_secs(5)).await;
    let server = TestServer::start(dir.path(), &["--misfire-threshold", "1s"]);
    let late = |run: &serde_json::Value| {
        let time = |field: &str| -> chrono::DateTime<chrono::Utc> {
            run[field].as_str().expect("time").parse().expect("t")
        };
        run["state"] != "skipped"
            && time("queued_at") - time("scheduled_at") > chrono::Duration::seconds(1)
    };
    // the restarted scheduler records the missed ticks (and fires the catch-up run) first
    for job in ["catch-up", "no-catch-up"] {
        server
            .get_until(
                &format!("/api/v1/runs?job={job}&limit=1000"),
                "missed ticks recorded",
                |runs| {
                    let runs = runs.as_array().expect("runs");
                    let skipped = runs.iter().filter(|r| r["state"] == "skipped").count();
                    skipped >= 3 && (job != "catch-up" || runs.iter().any(late))
                },
            )
            .await;
    }
    for (job, catch_up) in [("catch-up", 1), ("no-catch-up", 0)] {
        let runs = server
            .get(&format!("/api/v1/runs?job={job}&limit=1000"))
            .await;
        let runs = runs.as_array().expect("runs");
        let skipped: Vec<_> = runs.iter().filter(|r| r["state"] == "skipped").collect();
        assert!(
            skipped.len() >= 3,
            "{job}: missed ticks are recorded as skipped: {runs:?}"
        );
        for r in &skipped {
            assert!(
                r["reason"].as_str().unwrap_or_default().contains("misfire"),
                "{job}: skipped with its reason: {r}"
            );
        }
        let late_fired = runs.iter().filter(|r| late(r)).count();
        assert_eq!(
            late_fired, catch_up,
            "{job}: catch-up runs after the outage"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_run_and_its_process_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let pidfile = dir.path().join("child.pid");
    server
        .apply(
            "long.toml",
            &format!(
                "[[job]]\nname = \"long\"\n[job.task]\ntype = \"shell\"\nscript = '''\nsleep 300 &\necho $! > {}\nwait\n'''\n",
                pidfile.display()
            ),
        )
        .await;
    let id = server.trigger("long", json!({})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !pidfile.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = server
        .post(&format!("/api/v1/runs/{id}/cancel"), json!({}))
        .await;
    assert!(status.is_success(), "{body}");
    let detail = server.wait_run(id, Duration::from_secs(20)).await;
    assert_eq!(detail["run"]["state"], "cancelled", "{detail}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    let gone = common::process_gone(i64::from(pid));
    assert!(gone, "the cancelled run's child {pid} still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_replace_stops_the_older_run_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    // a 30 s lease renews every 10 s: only the scheduler's direct cancel can stop the old run
    // within the test's bound
    let server = TestServer::start(dir.path(), &["--lease", "30s"]);
    server
        .apply(
            "replace.toml",
            "[[job]]\nname = \"replace\"\nschedule = \"* * * * * *\"\nconcurrency = \"replace\"\n[job.task]\ntype = \"shell\"\nscript = \"sleep 300\"\n",
        )
        .await;
    server
        .get_until(
            "/api/v1/runs?job=replace&limit=100",
            "two older runs replaced",
            |runs| {
                runs.as_array()
                    .is_some_and(|r| r.iter().filter(|r| r["state"] == "cancelled").count() >= 2)
            },
        )
        .await;
    server
        .request(reqwest::Method::POST, "/api/v1/jobs/replace/pause", None)
        .await;
    let runs = server.get("/api/v1/runs?job=replace&limit=100").await;
    let cancelled: Vec<_> = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["state"] == "cancelled")
        .collect();
    assert!(cancelled.len() >= 2, "older runs were replaced: {runs}");
    for run in cancelled {
        let scheduled: chrono::DateTime<chrono::Utc> =
            run["scheduled_at"].as_str().expect("s").parse().expect("t");
        let ended: chrono::DateTime<chrono::Utc> =
            run["ended_at"].as_str().expect("e").parse().expect("t");
        assert!(
            ended - scheduled < chrono::Duration::milliseconds(2_500),
            "a replaced run ended {} after its tick: {run}",
            ended - scheduled
        );
    }
}
