//! [`HttpControl`]: the worker's [`ControlPlane`] over the agent protocol of
//! `jobworks_server::api::agent` (routes, bodies and answers are documented there).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use jobworks_protocol::{EnrollReply, EnrollRequest, HeartbeatReply, HeartbeatRequest};
use jobworks_server::api::agent::{
    BatchRequest, ClaimRequest, FinishRequest, HelloReply, HelloRequest, LogsRequest, RenewRequest,
    StartedRequest,
};
use jobworks_worker::{
    Assignment, AttemptReport, BatchAck, BatchUpdate, ControlError, ControlPlane, LeaseReply,
    LogRecord,
};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long a claim asks the server to hold it, ms (under the server's 25 s cap).
const CLAIM_WAIT_MS: u64 = 20_000;
/// How long any call may take beyond what the server holds it.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Log lines sent in one request at most.
const LOG_BATCH_LINES: usize = 256;
/// Log text sent in one request at most, bytes (the reference design's 512 KiB chunk).
const LOG_BATCH_BYTES: usize = 512 * 1024;
/// How long a log line waits for others before its batch is sent.
const LOG_LINGER: Duration = Duration::from_millis(100);
/// Lines buffered before attempts wait for the sender (back-pressure).
const LOG_QUEUE: usize = 16_384;
/// First retry delay; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Once the agent is stopping, how long an end report keeps trying an unreachable server
/// before it is given up (the server then records the attempt `lost` at its lease's end).
const STOPPING_FINISH_PATIENCE: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// No answer, or one worth retrying (5xx, 429): connection refused or reset, timeout,
    /// server busy or stopping.
    Transient(String),
    /// First contact refused by TLS: the server's certificate does not match the
    /// enrollment token's CA pin, or is otherwise untrusted (rustls's words). Final.
    Untrusted(String),
    /// A final answer: `status` (4xx) with the server's `detail`.
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The problem's `detail`, or the body.
        detail: String,
    },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transient(m) | CallError::Untrusted(m) => write!(f, "{m}"),
            CallError::Refused { status, detail } => write!(f, "{status}: {detail}"),
        }
    }
}

/// Whether an answer with `status` is worth trying again: 5xx, 429 and 408 are.
pub fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The delay before retry number `failures` (1 = after the first failure): exponential from
/// 100 ms, capped at 2 s, with "full jitter" (a uniform draw in `[0, cap]`, `unit` in
/// `[0, 1)`), as AWS's backoff study recommends so reconnecting agents do not arrive at once.
pub fn backoff(failures: u32, unit: f64) -> Duration {
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(BACKOFF_MAX).mul_f64(unit.clamp(0.0, 1.0))
}

enum LogCmd {
    Line(LogRecord),
    Flush(oneshot::Sender<()>),
}

/// The agent's control plane: one HTTP client, the agent's worker id, and the log sender
/// task that batches lines.
pub struct HttpControl {
    http: reqwest::Client,
    base: Url,
    token: String,
    worker: String,
    stop: CancellationToken,
    cut_off: Arc<OnceLock<String>>,
    logs: mpsc::Sender<LogCmd>,
    log_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl HttpControl {
    /// A control plane for `worker` on the server at `server` (an `http://` or `https://`
    /// URL), calling with bearer `token`; over `https://`, `tls` (the CA pinned at
    /// enrollment, [`jobworks_pki::client_config_trusting`]) decides whom to trust, else the
    /// system roots. `stop` ends retries and held claims. Starts the log sender (call from
    /// within the runtime). Errors: a URL that does not parse or is not http(s).
    pub fn new(
        server: &str,
        token: &str,
        worker: &str,
        tls: Option<rustls::ClientConfig>,
        stop: CancellationToken,
    ) -> anyhow::Result<HttpControl> {
        let base = base_url(server)?;
        let http = http_client(tls)?;
        let (logs, rx) = mpsc::channel(LOG_QUEUE);
        let mut control = HttpControl {
            http,
            base,
            token: token.to_owned(),
            worker: worker.to_owned(),
            stop,
            cut_off: Arc::new(OnceLock::new()),
            logs,
            log_task: Mutex::new(None),
        };
        let sender = LogSender {
            calls: control.caller(),
            worker: worker.to_owned(),
        };
        control.log_task = Mutex::new(Some(tokio::spawn(sender.run(rx))));
        Ok(control)
    }

    fn caller(&self) -> Caller {
        Caller {
            http: self.http.clone(),
            base: self.base.clone(),
            token: self.token.clone(),
            stop: self.stop.clone(),
            cut_off: Some(self.cut_off.clone()),
        }
    }

    /// Why the server cut this agent off (revoked, deleted, unknown credential), once it has:
    /// the agent then stops.
    pub fn cut_off(&self) -> Option<String> {
        self.cut_off.get().cloned()
    }

    /// One heartbeat (not retried: the next one comes at the next interval).
    pub async fn heartbeat(&self, body: &HeartbeatRequest) -> Result<HeartbeatReply, CallError> {
        self.caller().call("heartbeat", body, Duration::ZERO).await
    }

    /// Tells the server this agent stopped cleanly (`POST /api/v1/agent/bye`), so it is
    /// offline at once and routing moves work placed on it to another agent. One try of at
    /// most 2 s: a failure is only logged (the agent then goes offline after missed
    /// heartbeats, as one that died would).
    pub async fn bye(&self) {
        let body = jobworks_server::api::agent_auth::ByeRequest {
            worker: self.worker.clone(),
        };
        let caller = self.caller();
        let call = caller.call::<_, ()>("bye", &body, Duration::ZERO);
        match tokio::time::timeout(Duration::from_secs(2), call).await {
            Ok(Ok(())) => tracing::info!("told the server this agent stopped"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not tell the server this agent stopped")
            }
            Err(_) => tracing::warn!("the server did not answer the goodbye within 2 s"),
        }
    }

    /// First contact: retried while the server cannot be reached; `None` when the agent was
    /// stopped first. Errors: any final refusal (a bad token: 401), with the server's words.
    pub async fn hello(&self) -> anyhow::Result<Option<HelloReply>> {
        let body = HelloRequest {
            worker: self.worker.clone(),
        };
        match self
            .caller()
            .retrying("hello", &body, Duration::ZERO, None)
            .await
        {
            Ok(reply) => Ok(reply),
            Err(CallError::Refused { status, detail })
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN =>
            {
                anyhow::bail!(
                    "the server at {} refused this agent ({status}): {detail}",
                    self.base
                )
            }
            Err(e) => anyhow::bail!("the server at {} refused the agent: {e}", self.base),
        }
    }

    /// Sends the log lines still buffered and ends the log sender.
    pub async fn close_logs(&self) {
        self.flush_logs().await;
        if let Some(task) = self.log_task.lock().await.take() {
            task.abort();
        }
    }
}

/// What every call needs; cheap to clone into the log sender.
#[derive(Clone)]
struct Caller {
    http: reqwest::Client,
    base: Url,
    token: String,
    stop: CancellationToken,
    /// Set (with the server's words) and `stop` cancelled at the first 401 or 403: the agent
    /// is revoked or unknown, so nothing it sends will be taken. `None` for enrollment, whose
    /// refusals are the caller's to report.
    cut_off: Option<Arc<OnceLock<String>>>,
}

/// The server's base URL with a trailing slash, so routes join under any path prefix.
/// Errors: a URL that does not parse or is not `http` or `https`.
fn base_url(server: &str) -> anyhow::Result<Url> {
    let base = Url::parse(&format!("{}/", server.trim().trim_end_matches('/')))
        .map_err(|e| anyhow::anyhow!("invalid server URL `{server}`: {e}"))?;
    if base.scheme() != "http" && base.scheme() != "https" {
        anyhow::bail!("invalid server URL `{server}`: use http://HOST:PORT or https://HOST:PORT");
    }
    Ok(base)
}

/// The agent's HTTP client; with `tls`, exactly that rustls configuration (the pinned
/// first-contact one, or the stored CA), else reqwest's default roots.
fn http_client(tls: Option<rustls::ClientConfig>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls(tls);
    }
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))
}

/// The whole cause chain of a transport failure, outermost first, joined by `: ` (rustls's
/// certificate complaints sit at the bottom).
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(current) = source {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = current.source();
    }
    parts.join(": ")
}

/// Enrolls agent `name` at `server` with enrollment token `token` (its secret part
/// `jwe_<id>.<secret>` is sent as the bearer), retried with backoff and jitter while the
/// server cannot be reached; `None` when `stop` came first. Errors: the server's refusal with
/// the fix (a bad, used-up, expired or revoked token; a name already enrolled; a bad name).
///
/// Over `https://`, `tls` is the first-contact configuration pinned to the token's CA
/// ([`jobworks_pki::PinnedCa::client_config`]): a server presenting another CA is refused
/// at once (not retried) with the pin mismatch in the message.
pub async fn enroll(
    server: &str,
    token: &str,
    name: &str,
    tls: Option<rustls::ClientConfig>,
    stop: &CancellationToken,
) -> anyhow::Result<Option<EnrollReply>> {
    let caller = Caller {
        http: http_client(tls)?,
        base: base_url(server)?,
        token: token.to_owned(),
        stop: stop.clone(),
        cut_off: None,
    };
    let body = EnrollRequest {
        token: None,
        name: name.to_owned(),
    };
    match caller.retrying("enroll", &body, Duration::ZERO, None).await {
        Ok(reply) => Ok(reply),
        Err(CallError::Refused { status, detail }) if status == StatusCode::UNAUTHORIZED => {
            // the server's words say what to do; a hint only where they do not
            let hint = if detail.contains("jobworks agents token create") {
                ""
            } else {
                "\n  hint: an admin makes a new one with `jobworks agents token create`"
            };
            anyhow::bail!("the server at {server} refused the enrollment token: {detail}{hint}")
        }
        Err(CallError::Refused { status, detail }) => {
            anyhow::bail!("the server at {server} refused to enroll `{name}` ({status}): {detail}")
        }
        Err(CallError::Untrusted(e)) => anyhow::bail!(
            "refused the server at {server} at first contact: {e}\n  hint: check that the \
             enrollment token was made by this server (`jobworks agents token create` on it); \
             its `@sha256:` pin is the fingerprint of the server's CA"
        ),
        Err(e) => anyhow::bail!("cannot enroll at {server}: {e}"),
    }
}

impl Caller {
    /// One call of `route` with `body`, held by the server at most `held` (a long poll).
    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
        held: Duration,
    ) -> Result<R, CallError> {
        let url = self
            .base
            .join(&format!("api/v1/agent/{route}"))
            .map_err(|e| CallError::Transient(format!("bad route {route}: {e}")))?;
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .timeout(held + CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                let chain = error_chain(&e);
                // at enrollment (no cut-off watch) a certificate refusal is final: retrying
                // cannot make an intercepted or foreign server trusted
                if self.cut_off.is_none() && chain.contains("certificate") {
                    CallError::Untrusted(format!("{route}: {chain}"))
                } else {
                    CallError::Transient(format!("{route}: {chain}"))
                }
            })?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT || status == StatusCode::ACCEPTED {
            // answers without a body: `null` fits `()`
            return serde_json::from_value(serde_json::Value::Null).map_err(|e| {
                CallError::Transient(format!("{route}: unexpected empty answer: {e}"))
            });
        }
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transient(format!("{route}: answer cut off: {e}")))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| CallError::Refused {
                status,
                detail: format!("{route}: answer is not what this agent expects: {e}"),
            });
        }
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or(text);
        if let Some(cut_off) = &self.cut_off
            && (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
        {
            if cut_off.set(format!("{status}: {detail}")).is_ok() {
                tracing::error!(%status, %detail, "the server cut this agent off; stopping");
            }
            self.stop.cancel();
        }
        if retryable(status) {
            Err(CallError::Transient(format!("{route}: {status}: {detail}")))
        } else {
            Err(CallError::Refused { status, detail })
        }
    }

    /// [`Caller::call`] retried on transient failures with backoff and jitter, until it
    /// succeeds, is refused, the agent stops (`Ok(None)`), or `patience` has passed since the
    /// agent began stopping (`Err`; `None` = retry through a stop too until it stops).
    async fn retrying<B: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
        held: Duration,
        patience: Option<Duration>,
    ) -> Result<Option<R>, CallError> {
        let mut failures = 0u32;
        let mut stopping_since: Option<tokio::time::Instant> = None;
        loop {
            if patience.is_none() && self.stop.is_cancelled() {
                return Ok(None);
            }
            let error = match self.call(route, body, held).await {
                Ok(reply) => return Ok(Some(reply)),
                Err(CallError::Transient(e)) => e,
                Err(refused) => return Err(refused),
            };
            failures = failures.saturating_add(1);
            if failures == 1 || failures.is_multiple_of(20) {
                tracing::warn!(error = %error, failures, "server call failed; retrying");
            }
            if let Some(patience) = patience
                && self.stop.is_cancelled()
            {
                let since = *stopping_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= patience {
                    return Err(CallError::Transient(error));
                }
            }
            let delay = backoff(failures, rand::random());
            if patience.is_some() {
                tokio::time::sleep(delay).await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = self.stop.cancelled() => return Ok(None),
                }
            }
        }
    }
}

/// Sends log lines in batches: when 256 lines or 512 KiB are buffered, 100 ms after the
/// first buffered line, and at once on a flush (with `flush: true`, so the answer means
/// stored).
struct LogSender {
    calls: Caller,
    worker: String,
}

impl LogSender {
    async fn run(self, mut rx: mpsc::Receiver<LogCmd>) {
        let mut lines: Vec<LogRecord> = Vec::new();
        let mut bytes = 0usize;
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let cmd = match due {
                Some(at) => tokio::select! {
                    cmd = rx.recv() => cmd,
                    _ = tokio::time::sleep_until(at) => None,
                },
                None => match rx.recv().await {
                    Some(cmd) => Some(cmd),
                    None => return,
                },
            };
            match cmd {
                Some(LogCmd::Line(line)) => {
                    bytes += line.text.len();
                    lines.push(line);
                    due.get_or_insert_with(|| tokio::time::Instant::now() + LOG_LINGER);
                    if lines.len() < LOG_BATCH_LINES && bytes < LOG_BATCH_BYTES {
                        continue;
                    }
                }
                Some(LogCmd::Flush(ack)) => flushes.push(ack),
                None => {}
            }
            let flush = !flushes.is_empty();
            self.send(std::mem::take(&mut lines), flush).await;
            bytes = 0;
            due = None;
            for ack in flushes.drain(..) {
                let _ = ack.send(());
            }
        }
    }

    /// Sends one batch, retried while the server is unreachable (for at most 10 s once the
    /// agent is stopping); a refused batch is dropped with a warning.
    async fn send(&self, lines: Vec<LogRecord>, flush: bool) {
        if lines.is_empty() && !flush {
            return;
        }
        let count = lines.len();
        let body = LogsRequest {
            worker: self.worker.clone(),
            lines,
            flush,
        };
        let sent: Result<Option<()>, CallError> = self
            .calls
            .retrying(
                "logs",
                &body,
                Duration::ZERO,
                Some(STOPPING_FINISH_PATIENCE),
            )
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, lines = count, "log lines dropped");
        }
    }
}

fn control_error(route: &str, e: CallError) -> ControlError {
    ControlError {
        transient: matches!(e, CallError::Transient(_)),
        message: format!("{route}: {e}"),
    }
}

#[async_trait]
impl ControlPlane for HttpControl {
    /// A long poll, retried with backoff and jitter while the server is unreachable; empty
    /// once the agent stops.
    async fn claim(&self, max: u32) -> Result<Vec<Assignment>, ControlError> {
        let body = ClaimRequest {
            worker: self.worker.clone(),
            max,
            wait_ms: CLAIM_WAIT_MS,
        };
        let held = Duration::from_millis(CLAIM_WAIT_MS);
        let caller = self.caller();
        tokio::select! {
            claimed = caller.retrying("claim", &body, held, None) => match claimed {
                Ok(assignments) => Ok(assignments.unwrap_or_default()),
                Err(e) => Err(control_error("claim", e)),
            },
            // a claim the server answers after this is left to its lease
            _ = self.stop.cancelled() => Ok(Vec::new()),
        }
    }

    fn started(&self, attempt: AttemptId, pid: u32, at: DateTime<Utc>) {
        // a hint: one try in the background (the end report carries it too)
        let caller = self.caller();
        let body = StartedRequest {
            worker: self.worker.clone(),
            attempt_id: attempt,
            pid,
            at,
        };
        tokio::spawn(async move {
            if let Err(e) = caller.call::<_, ()>("started", &body, Duration::ZERO).await {
                tracing::debug!(error = %e, "start hint not delivered");
            }
        });
    }

    async fn log(&self, line: LogRecord) -> bool {
        self.logs.send(LogCmd::Line(line)).await.is_ok()
    }

    /// Waits (at most 15 s) until the server has stored every line sent before.
    async fn flush_logs(&self) {
        let (ack, flushed) = oneshot::channel();
        if self.logs.send(LogCmd::Flush(ack)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(15), flushed).await;
        }
    }

    async fn report_batch(&self, update: BatchUpdate) -> Result<BatchAck, ControlError> {
        let body = BatchRequest {
            worker: self.worker.clone(),
            update,
        };
        self.caller()
            .call("batch", &body, Duration::ZERO)
            .await
            .map_err(|e| control_error("batch", e))
    }

    async fn renew(&self, attempts: &[AttemptId]) -> Result<Vec<LeaseReply>, ControlError> {
        let body = RenewRequest {
            worker: self.worker.clone(),
            attempts: attempts.to_vec(),
        };
        self.caller()
            .call("renew", &body, Duration::ZERO)
            .await
            .map_err(|e| control_error("renew", e))
    }

    /// Retried until the server answers: accepted, or refused for good (409: the attempt
    /// was fenced, its lease lost). Once the agent is stopping, an unreachable server is
    /// given 10 s more, then the report is dropped (the attempt is recorded `lost`).
    async fn finish(&self, assignment: &Assignment, report: AttemptReport) {
        let attempt = assignment.attempt_id;
        let body = FinishRequest {
            worker: self.worker.clone(),
            assignment: assignment.clone(),
            report,
        };
        let sent: Result<Option<()>, CallError> = self
            .caller()
            .retrying(
                "finish",
                &body,
                Duration::ZERO,
                Some(STOPPING_FINISH_PATIENCE),
            )
            .await;
        match sent {
            Ok(_) => tracing::debug!(%attempt, "end reported"),
            Err(CallError::Refused { status, detail }) if status == StatusCode::CONFLICT => {
                tracing::warn!(%attempt, %detail, "end report refused: the attempt was fenced");
            }
            Err(e) => tracing::error!(%attempt, error = %e, "end report not delivered"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_two_seconds_with_full_jitter() {
        let ms = Duration::from_millis;
        for (failures, unit, delay) in [
            (1, 1.0, ms(100)),
            (2, 1.0, ms(200)),
            (3, 1.0, ms(400)),
            (5, 1.0, ms(1600)),
            (6, 1.0, ms(2000)),
            (1000, 1.0, ms(2000)),
            (3, 0.5, ms(200)),
            (3, 0.0, ms(0)),
            (0, 1.0, ms(100)),
        ] {
            assert_eq!(backoff(failures, unit), delay, "{failures} {unit}");
        }
    }

    #[test]
    fn server_errors_and_throttling_are_retried_refusals_are_not() {
        for (status, retry) in [
            (StatusCode::SERVICE_UNAVAILABLE, true),
            (StatusCode::INTERNAL_SERVER_ERROR, true),
            (StatusCode::BAD_GATEWAY, true),
            (StatusCode::TOO_MANY_REQUESTS, true),
            (StatusCode::REQUEST_TIMEOUT, true),
            (StatusCode::UNAUTHORIZED, false),
            (StatusCode::CONFLICT, false),
            (StatusCode::BAD_REQUEST, false),
            (StatusCode::PAYLOAD_TOO_LARGE, false),
        ] {
            assert_eq!(retryable(status), retry, "{status}");
        }
    }
}
