//! End-to-end: values of `secret = true` parameters never reach the stored log or outputs
//! (issue 7, point 8): shell, Python, SQL, `::set-output`, `$JOBWORKS_OUTPUT`, multi-line,
//! and a secret cut by the executor's 64 KiB line split.

mod common;

use common::{TestServer, for_backend};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "tok-3f9a1c77";
const MULTI: &str = "first-half-77\nsecond-half-88";

const JOBS: &str = r#"
[[job]]
name = "sh-secret"
[job.params.token]
type = "string"
secret = true
[job.params.cert]
type = "string"
secret = true
default = ""
[job.task]
type = "shell"
script = '''
echo "token is $JOBWORKS_PARAM_TOKEN, again: $JOBWORKS_PARAM_TOKEN"
echo "to stderr $JOBWORKS_PARAM_TOKEN" >&2
printf 'cert:\n%s\nend\n' "$JOBWORKS_PARAM_CERT"
echo "::set-output leaked=$JOBWORKS_PARAM_TOKEN"
printf '{"file": "%s", "plain": "visible"}' "$JOBWORKS_PARAM_TOKEN" > "$JOBWORKS_OUTPUT"
# a line longer than the executor's 64 KiB limit, cut in the middle of the secret
printf '%s%s long-line-end\n' "$(printf '%65530s' '' | tr ' ' a)" "$JOBWORKS_PARAM_TOKEN"
'''

[[job]]
name = "py-secret"
[job.params.token]
type = "string"
secret = true
[job.task]
type = "python"
script = '''
import os
print("python sees", os.environ["JOBWORKS_PARAM_TOKEN"])
'''

[[job]]
name = "sql-secret"
[job.params.token]
type = "string"
secret = true
[job.task]
type = "sql"
datasource = "jobworks"
query = "SELECT ? AS token, 'x' || ? || 'y' AS wrapped"
bind = ["token", "token"]
"#;

async fn run(server: &TestServer, job: &str, params: Value) -> (Value, String) {
    let id = server.trigger(job, params).await;
    let detail = server.wait_run(id, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    let log = server.log_text(id).await;
    (detail, log)
}

fn assert_hidden(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows {secret:?}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_are_masked_in_logs_and_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let jobs = for_backend(
        JOBS,
        "SELECT ? AS token, 'x' || ? || 'y'",
        "SELECT $1 AS token, 'x' || $2 || 'y'",
    );
    server.apply("secrets.toml", &jobs).await;
    let parts = ["first-half-77", "second-half-88"];

    let (detail, log) = run(
        &server,
        "sh-secret",
        json!({"token": SECRET, "cert": MULTI}),
    )
    .await;
    assert_hidden("shell log", &log, &[SECRET, parts[0], parts[1]]);
    assert!(log.contains("token is ***, again: ***"), "{log}");
    assert!(log.contains("to stderr ***"), "{log}");
    assert!(
        log.contains("cert:\n***\n***\nend"),
        "each line of a multi-line secret: {log}"
    );
    // the 64 KiB cut falls inside the secret: neither half is left
    assert_hidden("a cut long line", &log, &["tok-3f", "9a1c77"]);
    assert!(
        log.contains("aaa***\n long-line-end"),
        "the cut line: {}",
        &log[log.len().saturating_sub(200)..]
    );
    let outputs = &detail["attempts"][0]["outputs"];
    assert_hidden("shell outputs", &outputs.to_string(), &[SECRET]);
    assert_eq!(outputs["leaked"], "***", "::set-output: {outputs}");
    assert_eq!(outputs["file"], "***", "$JOBWORKS_OUTPUT: {outputs}");
    assert_eq!(outputs["plain"], "visible", "{outputs}");

    let (_, log) = run(&server, "py-secret", json!({"token": SECRET})).await;
    assert_hidden("python log", &log, &[SECRET]);
    assert!(log.contains("python sees ***"), "{log}");

    let (detail, log) = run(&server, "sql-secret", json!({"token": SECRET})).await;
    assert_hidden("sql log", &log, &[SECRET]);
    let outputs = &detail["attempts"][0]["outputs"];
    assert_hidden("sql outputs", &outputs.to_string(), &[SECRET]);
    assert_eq!(outputs["rows"][0]["token"], "***", "{outputs}");
    assert_eq!(outputs["rows"][0]["wrapped"], "x***y", "{outputs}");
}
