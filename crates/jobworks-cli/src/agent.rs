//! `jobworks agent`: a remote worker. It runs the same [`jobworks_worker::Pool`] as the
//! server's own, with [`HttpControl`] as its control plane: the agent protocol of
//! `jobworks_server::api::agent` (long-poll claims, batched log lines, lease renewals, end
//! reports), spoken over HTTP with the agent's own credential.
//!
//! Identity (`identity`): at its first start the agent enrolls with an enrollment token
//! (`--token jwe_…@sha256:…`, from `jobworks agents token create`) and stores the name,
//! labels and credential it receives in `--data-dir` (`identity.json`, mode 0600); every
//! later start reuses them and needs no token. It heartbeats (`heartbeat`) at the interval
//! the server asks, with its host figures (`host`). A 401 or 403 from the server (revoked,
//! deleted) cuts it off: it stops, saying why, and exits non-zero.
//!
//! The agent dials out and never listens. Every call is retried with exponential backoff and
//! full jitter on connection errors and 5xx answers, so the agent survives a server restart
//! and reconnects by itself; an end report is retried until the server answers (a 409, the
//! attempt fenced, is final). On SIGINT or SIGTERM it stops claiming, and the pool stops the
//! running attempts, whose ends are reported `interrupted`: the server requeues them.

mod heartbeat;
mod host;
mod http;
mod identity;

pub use http::HttpControl;
pub use identity::{IDENTITY_FILE, Identity};

use anyhow::Context as _;
use jobworks_server::api::agent::agent_name;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Options of `jobworks agent`. The server URL comes from `--server`/`--url`, then the stored
/// identity, then `$JOBWORKS_URL` and the CLI config file; the enrollment token from
/// `--token`, then `$JOBWORKS_ENROLLMENT_TOKEN` (never an API token: agents enroll).
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Server URL, e.g. http://10.0.0.5:8080 (same as --url)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Agent name at enrollment: a lower-case host name of at most 63 characters, the first
    /// part of its worker id `<name>-<UUID v7>`, shown on every attempt it runs [default:
    /// the host name in lower case]
    #[arg(long)]
    pub name: Option<String>,
    /// Attempts running at once on this agent
    #[arg(long, default_value_t = 4)]
    pub slots: usize,
    /// The agent's identity (after enrollment) and the working directory of tasks without
    /// one (task output files go to `outputs/` in it)
    #[arg(long, default_value = "jobworks-agent")]
    pub data_dir: PathBuf,
    /// SIGTERM → SIGKILL grace when an attempt is stopped, e.g. 5s
    #[arg(long, default_value = "5s")]
    pub kill_grace: String,
    /// Stop (self-fence) an attempt whose lease the server has not confirmed for this long,
    /// e.g. 4s: the server retries an attempt once its lease runs out, so the agent must
    /// stop it before; shorter than the server's lease [default: two thirds of the lease,
    /// less the kill grace where needed, so the task is gone a sixth of the lease before it
    /// expires]
    #[arg(long, value_name = "DURATION")]
    pub max_disconnect: Option<String>,
}

/// The agent's worker id for `name`: `<name>-<UUID v7>`, new at every start. Errors: a name
/// the server would refuse (see `agent_name`).
pub fn worker_id(name: &str) -> anyhow::Result<String> {
    let id = format!("{name}-{}", uuid::Uuid::now_v7());
    agent_name(&id).map_err(|e| anyhow::anyhow!("--name {name}: {e}"))?;
    Ok(id)
}

/// The host name in lower case, as the server names its own worker (`host` when the system
/// gives none).
fn host_name() -> String {
    let id = jobworks_server::config::default_worker_id();
    jobworks_server::config::worker_host(&id)
        .unwrap_or("host")
        .to_ascii_lowercase()
}

fn is_https(server: &str) -> bool {
    server.trim().to_ascii_lowercase().starts_with("https://")
}

/// The CA certificate the pinned first contact verified, as PEM for the identity file.
/// Errors: no handshake verified with it (cannot happen after a successful enrollment).
fn pinned_ca_pem(pinned: &jobworks_pki::PinnedCa) -> anyhow::Result<String> {
    let ca = pinned.ca_cert().context(
        "enrolled over https, but the pinned CA certificate was not seen in the handshake",
    )?;
    Ok(pem::encode_config(
        &pem::Pem::new("CERTIFICATE", ca.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

/// The TLS configuration after enrollment: over `https://` with a CA stored at enrollment,
/// that CA only; `None` (reqwest's system roots, or plain http) otherwise. Errors: a stored
/// CA that does not parse (the identity file was edited), with the fix.
fn stored_ca_config(identity: &Identity) -> anyhow::Result<Option<rustls::ClientConfig>> {
    let Some(ca_pem) = identity.server_ca.as_deref() else {
        if is_https(&identity.server) {
            tracing::warn!(server = %identity.server, "no CA pinned at enrollment (enrolled over http); trusting the system roots");
        }
        return Ok(None);
    };
    let ca = pem::parse(ca_pem)
        .map_err(|e| anyhow::anyhow!("{IDENTITY_FILE}: server_ca is not a PEM certificate ({e})\n  hint: remove the identity and enroll again"))?;
    let der = jobworks_pki::pki_types::CertificateDer::from(ca.contents().to_vec());
    Ok(Some(jobworks_pki::client_config_trusting(&der, None)?))
}

/// Runs the agent until SIGINT or SIGTERM, or until the server cuts it off. `server` is the
/// URL given on the command line, `default_server` the one from the environment or config
/// file, `token` the enrollment token (needed only before the agent has enrolled). Errors: a
/// bad name, slots, data directory or token; the server refusing the enrollment or, later,
/// the agent (revoked, deleted).
pub async fn run(
    args: AgentArgs,
    server: Option<String>,
    default_server: String,
    token: Option<String>,
) -> anyhow::Result<()> {
    crate::serve::init_logging("info");
    if args.slots == 0 {
        anyhow::bail!("--slots must be at least 1");
    }
    let kill_grace = jobworks_schedule::parse_duration(&args.kill_grace)
        .map_err(|e| anyhow::anyhow!("--kill-grace {}: {e}", args.kill_grace))?;
    std::fs::create_dir_all(args.data_dir.join("outputs")).with_context(|| {
        format!(
            "cannot create the agent's data directory {}",
            args.data_dir.display()
        )
    })?;
    let data_dir = args.data_dir.canonicalize()?;
    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone())?;
    let start = identity::choose(
        identity::load(&data_dir)?,
        token.as_deref(),
        args.name.as_deref(),
    )?;
    let (identity, server) = match start {
        identity::Start::Reuse {
            mut identity,
            ignored_token,
        } => {
            if ignored_token {
                tracing::info!(agent = %identity.name, "already enrolled; the enrollment token is not used");
            }
            if let Some(server) = server
                && server.trim_end_matches('/') != identity.server
            {
                identity.server = server.trim_end_matches('/').to_owned();
                identity::save(&data_dir, &identity)?;
            }
            tracing::info!(agent = %identity.name, server = %identity.server, "using the stored identity");
            let server = identity.server.clone();
            (identity, server)
        }
        identity::Start::Enroll(text) => {
            let token = jobworks_pki::EnrollmentToken::parse(&text).map_err(|e| {
                anyhow::anyhow!(
                    "--token: {e}\n  hint: pass the whole enrollment token `jobworks agents \
                     token create` printed (`jwe_…@sha256:…`)"
                )
            })?;
            let name = args.name.clone().unwrap_or_else(host_name);
            jobworks_server::registry::check_enroll_name(&name)
                .map_err(|e| anyhow::anyhow!("--name {name}: {e}"))?;
            let server = server
                .unwrap_or(default_server)
                .trim_end_matches('/')
                .to_owned();
            // over https the first contact trusts only the CA whose fingerprint is the pin
            let pinned = is_https(&server).then(|| jobworks_pki::PinnedCa::new(token.pin()));
            let first_contact = match &pinned {
                Some(pinned) => {
                    tracing::info!(agent = %name, %server, pin = %token.pin(), "enrolling; the server's CA must match the pin");
                    Some(pinned.client_config()?)
                }
                None => {
                    tracing::warn!(agent = %name, %server, pin = %token.pin(), "enrolling over plain http: the CA pin cannot be checked (use an https:// server URL)");
                    None
                }
            };
            let Some(reply) = http::enroll(
                &server,
                &token.secret().expose(),
                &name,
                first_contact,
                &stop,
            )
            .await?
            else {
                return Ok(()); // stopped before the server answered
            };
            let server_ca = match &pinned {
                Some(pinned) => Some(pinned_ca_pem(pinned)?),
                None => None,
            };
            let identity = Identity {
                server: server.clone(),
                name: reply.name,
                labels: reply.labels,
                credential: reply.credential,
                enrolled_at: chrono::Utc::now(),
                server_ca,
            };
            identity::save(&data_dir, &identity)?;
            println!(
                "Jobworks agent {} enrolled at {server} with labels {}; identity stored in {}",
                identity.name,
                jobworks_domain::routing::describe_labels(&identity.labels),
                data_dir.join(IDENTITY_FILE).display()
            );
            (identity, server)
        }
    };
    let name = identity.name.clone();
    let worker = worker_id(&name)?;
    let tls = stored_ca_config(&identity)?;
    let control = Arc::new(HttpControl::new(
        &server,
        &identity.credential,
        &worker,
        tls,
        stop.clone(),
    )?);
    let Some(hello) = control.hello().await? else {
        return Ok(()); // stopped before the server answered
    };
    // like the server: a cgroup per attempt where delegated, else the child subreaper
    let isolation = tokio::task::spawn_blocking(|| jobworks_executor::init_isolation(true))
        .await
        .unwrap_or(jobworks_executor::Isolation::ProcessGroupOnly);
    tracing::info!(?isolation, "attempt isolation");
    let lease = Duration::from_millis(hello.lease_ms.max(300));
    let max_disconnect = max_disconnect(args.max_disconnect.as_deref(), lease, kill_grace)?;
    println!(
        "Jobworks agent {name} ({worker}) connected to {server}: {} slots, lease {} ms, \
         max disconnect {} ms, server {}",
        args.slots,
        hello.lease_ms,
        max_disconnect.as_millis(),
        hello.version
    );
    let pool = jobworks_worker::Pool::new(
        jobworks_worker::WorkerSettings {
            worker_id: worker.clone(),
            slots: args.slots,
            lease,
            // the claim itself waits on the server; this is only the pause between two
            // claims that came back empty
            poll_interval: Duration::from_millis(100),
            data_dir: data_dir.clone(),
            kill_grace,
            max_disconnect: Some(max_disconnect),
            task_env: vec![("JOBWORKS_AGENT".into(), name.clone())],
            // the process tag: this agent's own, so no server's orphan sweep takes its
            // processes for its own
            installation: worker.clone(),
            clock: jobworks_worker::Clock::system(),
        },
        control.clone(),
    );
    let attempts = TaskTracker::new();
    let (_handoff, handoff_rx) = tokio::sync::mpsc::unbounded_channel();
    let loops = TaskTracker::new();
    loops.spawn(pool.clone().run(attempts.clone(), stop.clone(), handoff_rx));
    loops.spawn(
        pool.clone()
            .keep_leases(Arc::new(tokio::sync::Notify::new()), stop.clone()),
    );
    let heartbeats = heartbeat::Heartbeats {
        worker: worker.clone(),
        slots: u32::try_from(args.slots).unwrap_or(u32::MAX),
        running: pool.running(),
        data_dir: data_dir.clone(),
        interval: Duration::from_millis(if hello.heartbeat_interval_ms > 0 {
            hello.heartbeat_interval_ms
        } else {
            15_000
        }),
    };
    loops.spawn(heartbeats.run(control.clone(), stop.clone()));
    loops.close();
    stop.cancelled().await;
    tracing::info!("stopping: no more claims; running attempts are stopped and reported");
    loops.wait().await;
    attempts.close();
    attempts.wait().await;
    control.close_logs().await;
    if control.cut_off().is_none() {
        // off the routing table at once, not after missed heartbeats
        control.bye().await;
    }
    if let Some(why) = control.cut_off() {
        anyhow::bail!(
            "the server cut agent `{name}` off ({why})\n  hint: if it was revoked, an admin \
             runs `jobworks agents delete {name}`; then remove {} and enroll again with a new \
             enrollment token",
            data_dir.join(IDENTITY_FILE).display()
        );
    }
    Ok(())
}

/// The `max_disconnect` in force for the server's `lease`: `--max-disconnect` when given,
/// else the default ([`jobworks_worker::fence::default_max_disconnect`]); either is logged
/// as a warning when a task ignoring SIGTERM could outlive the lease (a kill grace too long
/// for the lease). Errors: a value that does not
/// parse, or is not shorter than the lease, naming the flag.
fn max_disconnect(
    flag: Option<&str>,
    lease: Duration,
    kill_grace: Duration,
) -> anyhow::Result<Duration> {
    use jobworks_worker::fence;
    let Some(text) = flag else {
        let max = fence::default_max_disconnect(lease, kill_grace);
        if let Ok(Some(warning)) = fence::check_max_disconnect(max, lease, kill_grace) {
            tracing::warn!("default max disconnect: {warning}");
        }
        return Ok(max);
    };
    let max = jobworks_schedule::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("--max-disconnect {text}: {e}"))?;
    match fence::check_max_disconnect(max, lease, kill_grace) {
        Err(e) => anyhow::bail!(
            "--max-disconnect {text}: {e} (the server's lease); pass a shorter one or none"
        ),
        Ok(Some(warning)) => tracing::warn!("--max-disconnect {text}: {warning}"),
        Ok(None) => {}
    }
    Ok(max)
}

/// Cancels `stop` at the first SIGINT or SIGTERM.
fn spawn_signal_handler(stop: CancellationToken) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_carry_the_name_and_are_new_each_time() {
        let a = worker_id("edge-1").expect("valid");
        let b = worker_id("edge-1").expect("valid");
        assert!(a.starts_with("edge-1-"), "{a}");
        assert_ne!(a, b);
        for bad in ["", "edge 1", "edge/1", &"x".repeat(64)] {
            let e = worker_id(bad).expect_err(bad).to_string();
            assert!(e.starts_with(&format!("--name {bad}: ")), "{e}");
        }
    }

    #[test]
    fn max_disconnect_defaults_from_the_lease_and_must_be_shorter() {
        let s = Duration::from_secs;
        for (flag, lease, grace, want) in [
            (None, s(30), s(5), Ok(s(20))),
            (Some("4s"), s(6), s(1), Ok(s(4))),
            (
                Some("6s"),
                s(6),
                s(1),
                Err("--max-disconnect 6s: max_disconnect (6000 ms)"),
            ),
            (Some("soon"), s(6), s(1), Err("--max-disconnect soon: ")),
        ] {
            match (max_disconnect(flag, lease, grace), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{flag:?}"),
                (Err(e), Err(start)) => {
                    let e = e.to_string();
                    assert!(e.starts_with(start), "{flag:?}: {e}");
                }
                (got, want) => panic!("{flag:?}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_default_name_is_a_valid_one() {
        worker_id(&host_name()).expect("the host name makes a valid agent name");
    }
}
