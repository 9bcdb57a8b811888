//! End-to-end: the events of every scheduled run are stamped in order, also for runs the
//! scheduler fires ahead of their tick (issue 7, point 10).

mod common;

use chrono::{DateTime, Utc};
use common::TestServer;
use serde_json::Value;
use std::time::{Duration, Instant};

fn time(value: &Value, what: &str) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a time: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("{what} parses: {e}"))
}

/// Every run's `queued_at ≤ started_at ≤ ended_at`, its attempts inside that span, and its
/// events in stamp order with the queued one first.
fn check_order(detail: &Value) {
    let run = &detail["run"];
    let queued = time(&run["queued_at"], "queued_at");
    let started = time(&run["started_at"], "started_at");
    let ended = time(&run["ended_at"], "ended_at");
    let scheduled = time(&run["scheduled_at"], "scheduled_at");
    assert!(queued <= started, "queued after start: {detail}");
    assert!(started <= ended, "started after end: {detail}");
    assert!(
        queued <= scheduled,
        "a scheduled run is queued at the latest at its tick: {detail}"
    );
    for attempt in detail["attempts"].as_array().expect("attempts") {
        let attempt_started = time(&attempt["started_at"], "attempt started_at");
        let attempt_ended = time(&attempt["ended_at"], "attempt ended_at");
        assert!(
            started <= attempt_started,
            "attempt before run start: {detail}"
        );
        assert!(
            attempt_started >= scheduled,
            "process before its tick: {detail}"
        );
        assert!(attempt_started <= attempt_ended, "attempt order: {detail}");
        assert!(attempt_ended <= ended, "attempt after run end: {detail}");
    }
    let events = detail["events"].as_array().expect("events");
    assert_eq!(events[0]["to"], "queued", "first event is queued: {detail}");
    let stamps: Vec<DateTime<Utc>> = events.iter().map(|e| time(&e["at"], "event at")).collect();
    assert!(
        stamps.windows(2).all(|pair| pair[0] <= pair[1]),
        "events out of order: {detail}"
    );
    assert_eq!(
        stamps[0], queued,
        "queued event stamped with queued_at: {detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheduled_run_has_its_events_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "tick.toml",
            "[[job]]\nname = \"tick\"\nschedule = \"* * * * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )
        .await;
    // wait for five finished runs (bounded), then stop the schedule
    let deadline = Instant::now() + Duration::from_secs(60);
    let finished = loop {
        let runs = server.get("/api/v1/runs?job=tick&limit=1000").await;
        let finished: Vec<i64> = runs
            .as_array()
            .expect("runs")
            .iter()
            .filter(|r| r["state"] == "succeeded")
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        if finished.len() >= 5 {
            break finished;
        }
        assert!(
            Instant::now() < deadline,
            "five ticks ran within 60 s: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server
        .request(reqwest::Method::POST, "/api/v1/jobs/tick/pause", None)
        .await;
    for id in finished {
        let detail = server.get(&format!("/api/v1/runs/{id}")).await;
        check_order(&detail);
    }
}
