//! Live log streams end to end: graceful shutdown ends them, `Last-Event-ID` resumes them.

mod common;

use common::{TestServer, cli};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const SLOW: &str = "[[job]]\nname = \"slow\"\n[job.task]\ntype = \"shell\"\nscript = \"echo started; sleep 300\"\n";

/// Reads an SSE body until the server ends it; returns the whole text.
async fn read_stream(response: reqwest::Response) -> String {
    let bytes = response.bytes().await.expect("stream body ends cleanly");
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_log_streams_and_exits_within_the_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let grace = Duration::from_secs(6);
    let mut server = TestServer::start(dir.path(), &["--shutdown-grace", "6s"]);
    server.apply("slow.toml", SLOW).await;
    let id = server.trigger("slow", serde_json::json!({})).await;

    // a CLI follower, and a raw SSE client
    let mut follower = cli(&server)
        .args(["logs", &id.to_string(), "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start follower");
    let stdout = follower.stdout.take().expect("stdout");
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("started") {
                let _ = seen_tx.send(());
            }
        }
    });
    seen_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the follower printed the first line");
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/runs/{id}/logs/follow", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("raw stream");
    assert!(raw.status().is_success());
    let raw = tokio::spawn(read_stream(raw));

    let asked = Instant::now();
    server.terminate();
    assert!(
        server.exited_within(grace + Duration::from_secs(5)),
        "the server did not exit within its shutdown grace with followers connected"
    );
    let took = asked.elapsed();
    assert!(took < grace + Duration::from_secs(5), "exit took {took:?}");

    let body = tokio::time::timeout(Duration::from_secs(30), raw)
        .await
        .expect("raw stream ended")
        .expect("reader");
    assert!(body.contains("event: end"), "no end event: {body}");
    // the end event carries the run as the shutdown left it: queued again for the next start
    let end = body.split("event: end").nth(1).expect("end event");
    assert!(end.contains("\"state\":\"queued\""), "{end}");
    assert!(body.contains("started"), "{body}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = follower.try_wait().expect("follower") {
            break status;
        }
        assert!(Instant::now() < deadline, "the CLI follower did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut follower.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "the run did not end: {stderr}");
    assert!(
        stderr.contains(&format!("the server stopped before run {id} ended")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_after_the_last_line_received() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    server
        .apply(
            "five.toml",
            "[[job]]\nname = \"five\"\n[job.task]\ntype = \"shell\"\nscript = \"for i in 1 2 3 4 5; do echo line-$i; done\"\n",
        )
        .await;
    let id = server.trigger("five", serde_json::json!({})).await;
    server.wait_run(id, Duration::from_secs(60)).await;
    let page = server.get(&format!("/api/v1/runs/{id}/logs")).await;
    let lines = page["lines"].as_array().expect("lines");
    let second = lines
        .iter()
        .find(|l| l["text"] == "line-2")
        .expect("line-2");
    let seq = second["seq"].as_i64().expect("seq");

    // an EventSource reconnects to the same URL (here `after=0`) with the last id it got
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/runs/{id}/logs/follow?after=0",
            server.url
        ))
        .bearer_auth(&server.token)
        .header("Last-Event-ID", seq.to_string())
        .send()
        .await
        .expect("stream");
    assert!(response.status().is_success());
    let body = read_stream(response).await;
    for gone in ["line-1", "line-2"] {
        assert!(
            !body.contains(&format!("\"text\":\"{gone}\"")),
            "{gone} again: {body}"
        );
    }
    for kept in ["line-3", "line-4", "line-5"] {
        assert_eq!(
            body.matches(&format!("\"text\":\"{kept}\"")).count(),
            1,
            "{kept} once: {body}"
        );
    }
    let ids: Vec<i64> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.trim().parse().expect("numeric id"))
        .collect();
    assert!(!ids.is_empty() && ids.iter().all(|i| *i > seq), "{ids:?}");
    assert!(
        body.trim_end().ends_with('}') && body.contains("event: end"),
        "{body}"
    );

    // a header that is no sequence number is refused, saying what is wrong
    let (status, problem) = {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/runs/{id}/logs/follow", server.url))
            .bearer_auth(&server.token)
            .header("Last-Event-ID", "yesterday")
            .send()
            .await
            .expect("request");
        (response.status(), response.text().await.expect("body"))
    };
    assert_eq!(status.as_u16(), 400, "{problem}");
    assert!(problem.contains("Last-Event-ID"), "{problem}");
}
