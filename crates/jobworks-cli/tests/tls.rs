//! The server serving TLS itself, with real processes: `--tls auto` (a certificate of the
//! internal CA) for the CLI (trusting the CA client.toml names) and for agents (pinning the
//! CA the enrollment token names at first contact); a token pinning another CA refused; the
//! operator's `--tls-cert/--tls-key`; plain `http://` and untrusted `https://` clients told
//! the fix.

mod common;

use common::agents::{TestAgent, enrollment_token, start_agent, words};
use common::{TestServer, bin, cli};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const JOB: &str =
    "[[job]]\nname = \"hello\"\n[job.task]\ntype = \"shell\"\nscript = \"echo hello over tls\"\n";

/// `jobworks ARGS` with only the client config file `config` (no URL, token or CA from the
/// environment).
fn cli_with_config(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("JOBWORKS_CONFIG", config)
        .env_remove("JOBWORKS_URL")
        .env_remove("JOBWORKS_TOKEN")
        .env_remove("JOBWORKS_CA")
        .output()
        .expect("run jobworks")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `--tls auto`: the URL is https, client.toml names the CA, and the CLI (with nothing but
/// client.toml) applies and runs a job; plain http to the same port and https without the
/// CA fail with the fix in the message; SIGTERM still stops the server.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_runs_a_job_over_https_with_the_client_toml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = TestServer::start(dir.path(), &["--tls", "auto"]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let config = dir.path().join("data/client.toml");
    let client = std::fs::read_to_string(&config).expect("client.toml");
    let ca = dir
        .path()
        .join("data/pki/ca.crt")
        .canonicalize()
        .expect("ca.crt");
    assert!(
        client.contains(&format!("url = \"{}\"", server.url))
            && client.contains(&format!("ca = \"{}\"", ca.display())),
        "{client}"
    );
    let job = dir.path().join("hello.toml");
    std::fs::write(&job, JOB).expect("job file");
    let out = cli_with_config(&config, &["apply", "-f", job.to_str().expect("utf-8")]);
    assert!(out.status.success(), "apply: {}", text(&out));
    let out = cli_with_config(&config, &["run", "hello", "--wait"]);
    assert!(out.status.success(), "run: {}", text(&out));
    assert!(text(&out).contains("hello over tls"), "{}", text(&out));

    // plain http to the TLS port: refused, with the fix
    let plain = server.url.replace("https://", "http://");
    let out = cli_with_config(&config, &["--url", &plain, "jobs", "list"]);
    assert!(!out.status.success(), "plain http worked: {}", text(&out));
    assert!(text(&out).contains("use an https:// URL"), "{}", text(&out));

    // https without the CA: not trusted, with the fix
    let out = Command::new(bin())
        .args([
            "jobs",
            "list",
            "--url",
            &server.url,
            "--token",
            &server.token,
        ])
        .env("JOBWORKS_CONFIG", dir.path().join("none.toml"))
        .env_remove("JOBWORKS_CA")
        .output()
        .expect("run jobworks");
    assert!(
        !out.status.success(),
        "untrusted https worked: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("certificate is not trusted") && text(&out).contains("--ca FILE"),
        "{}",
        text(&out)
    );
    // … and `--ca` fixes it
    let out = Command::new(bin())
        .args([
            "jobs",
            "list",
            "--url",
            &server.url,
            "--token",
            &server.token,
        ])
        .arg("--ca")
        .arg(&ca)
        .env("JOBWORKS_CONFIG", dir.path().join("none.toml"))
        .output()
        .expect("run jobworks");
    assert!(out.status.success(), "--ca: {}", text(&out));
    assert!(text(&out).contains("hello"), "{}", text(&out));

    // graceful shutdown still ends the TLS listener
    server.terminate();
    assert!(
        server.exited_within(Duration::from_secs(15)),
        "the HTTPS server exited within 15 s of SIGTERM"
    );
}

/// An agent enrolls over https with a pinned token, stores the CA it pinned in its identity
/// (0600), runs a job, and comes back after a restart trusting only that CA.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_pins_the_ca_at_enrollment_and_runs_a_job_over_https() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--tls", "auto", "--workers", "0"]);
    let mut agent = start_agent(&server, "pinned", "", dir.path());
    server.apply("hello.toml", JOB).await;
    let run = server.trigger("hello", serde_json::json!({})).await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert!(server.log_text(run).await.contains("hello over tls"));

    let identity_path = dir.path().join("pinned/identity.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&identity_path)
            .expect("identity")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let identity: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&identity_path).expect("identity"))
            .expect("JSON");
    let ca = std::fs::read_to_string(dir.path().join("data/pki/ca.crt")).expect("ca.crt");
    assert_eq!(
        identity["server_ca"].as_str().map(str::trim),
        Some(ca.trim()),
        "the identity keeps the server's CA"
    );

    // restarted without a token: reconnects with the stored CA and runs again
    assert!(agent.stop(), "the agent stopped cleanly: {}", agent.text());
    let _again = TestAgent::start(&words(&format!(
        "--server {} --slots 1 --data-dir {}",
        server.url,
        dir.path().join("pinned").display()
    )));
    let run = server.trigger("hello", serde_json::json!({})).await;
    let detail = server.wait_run(run, Duration::from_secs(60)).await;
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
}

/// A token whose pin names another CA: the agent refuses the server at first contact and
/// exits non-zero, saying the pin does not match; nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_pinning_another_ca_is_refused_at_first_contact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--tls", "auto", "--workers", "0"]);
    let token = enrollment_token(&server);
    let other = jobworks_pki::Ca::create(chrono::Utc::now(), chrono::Duration::days(30))
        .expect("another CA");
    let (secret, _) = token.split_once('@').expect("token with a pin");
    let forged = format!("{secret}@sha256:{}", other.fingerprint().hex());
    let (mut agent, _) = TestAgent::spawn(&words(&format!(
        "--server {} --token {forged} --name fooled --data-dir {}",
        server.url,
        dir.path().join("fooled").display()
    )));
    let status = agent
        .exit_within(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the agent gave up within 30 s: {}", agent.text()));
    assert!(!status.success(), "{}", agent.text());
    let said = agent.text();
    assert!(
        said.contains("refused the server") && said.contains("matching the pin"),
        "{said}"
    );
    assert!(!dir.path().join("fooled/identity.json").exists());
    // the token was not spent: the server never saw it
    let agents = server.get("/api/v1/agents").await;
    assert_eq!(agents.as_array().map(Vec::len), Some(0), "{agents}");
}

/// `--tls-cert/--tls-key` with the operator's certificate (from a CA of its own): the CLI
/// trusting that CA (`JOBWORKS_CA`) lists jobs and runs one; client.toml names no CA.
#[tokio::test(flavor = "multi_thread")]
async fn the_operators_certificate_and_key_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let now = chrono::Utc::now();
    let operator_ca = jobworks_pki::Ca::create(now, chrono::Duration::days(30)).expect("CA");
    let issued = operator_ca
        .issue_server_cert(&["localhost", "127.0.0.1"], now, chrono::Duration::days(7))
        .expect("server certificate");
    let (cert, key, ca) = (
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        dir.path().join("operator-ca.crt"),
    );
    std::fs::write(&cert, &issued.cert.pem).expect("cert");
    jobworks_pki::write_private(&key, issued.key_pem.as_bytes()).expect("key");
    std::fs::write(&ca, operator_ca.cert_pem()).expect("ca");
    let server = TestServer::start_trusting(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
        Some(&ca),
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let client = std::fs::read_to_string(dir.path().join("data/client.toml")).expect("client");
    assert!(!client.contains("ca = "), "{client}");
    server.apply("hello.toml", JOB).await;
    let out = cli(&server)
        .args(["run", "hello", "--wait"])
        .output()
        .expect("run");
    assert!(out.status.success(), "run: {}", text(&out));
    // the internal CA does not vouch for the operator's certificate
    let out = cli(&server)
        .env("JOBWORKS_CA", dir.path().join("data/pki/ca.crt"))
        .args(["jobs", "list"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("certificate is not trusted"),
        "{}",
        text(&out)
    );
}

/// Bad TLS flags stop the server before it binds, naming the flag.
#[test]
fn bad_tls_flags_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (flags, said) in [
        (&["--tls", "yes"][..], "--tls yes: use `auto` or `off`"),
        (
            &["--tls-cert", "/nonexistent.pem"][..],
            "--tls-cert needs --tls-key",
        ),
        (
            &[
                "--tls-cert",
                "/nonexistent.pem",
                "--tls-key",
                "/nonexistent.key",
            ][..],
            "--tls-cert: cannot read /nonexistent.pem",
        ),
    ] {
        let out = Command::new(bin())
            .arg("server")
            .arg("--db")
            .arg(dir.path().join("j.db"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .args(flags)
            .output()
            .expect("run jobworks server");
        assert!(!out.status.success(), "{flags:?}: {}", text(&out));
        assert!(text(&out).contains(said), "{flags:?}: {}", text(&out));
    }
}
