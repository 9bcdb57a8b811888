//! The HTTP client of the Jobworks API: bearer auth, typed routes, and errors that tell the
//! user what to do (problem+json answers with every diagnostic, unreachable servers, bad
//! tokens).

mod agents;
mod tokens;

use crate::settings::ClientSettings;
use crate::sse::{SseEvent, SseParser};
use anyhow::{Context as _, anyhow};
use jobworks_protocol::{
    ApplyRequest, ApplyResponse, BackfillRequest, BackfillResponse, CancelResponse,
    DecisionRequest, DiagnosticView, JobVersionView, JobView, LogPage, MarkRequest, Problem,
    RerunRequest, RunDetailView, RunView, TaskInstanceView, TriggerRequest, TriggerResponse,
    WorkflowVersionView, WorkflowView,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// How long to wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an ordinary (non-streaming) request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to one Jobworks server.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// Filters of `GET /runs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Only runs of this job.
    pub job: Option<String>,
    /// Comma-separated states.
    pub states: Option<String>,
    /// Queued at or after (RFC 3339).
    pub since: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Only runs with a smaller id (the next page after the run with this id).
    pub before: Option<i64>,
}

/// A page of `GET /runs` and how many runs match in all (`X-Total-Count`; `None` from a
/// server that does not send it).
#[derive(Clone, Debug, PartialEq)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunView>,
    /// Runs matching the filter from this page on, whatever the page size.
    pub total: Option<u64>,
}

impl ApiClient {
    /// A client for the server in `settings`. Over `https://` it trusts the system roots and,
    /// when `settings.ca` names one, that CA certificate (PEM) too.
    ///
    /// Errors: the URL does not parse or is not `http://` or `https://`; the CA file cannot
    /// be read or holds no PEM certificate.
    pub fn new(settings: ClientSettings) -> anyhow::Result<ApiClient> {
        let base = Url::parse(settings.server_url.trim())
            .with_context(|| format!("invalid server URL `{}`", settings.server_url))?;
        match base.scheme() {
            "http" | "https" => {}
            other => anyhow::bail!(
                "invalid server URL `{}`: scheme `{other}` is not supported, use \
                 http://HOST:PORT or https://HOST:PORT",
                settings.server_url
            ),
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("jobworks-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &settings.ca {
            builder = builder.tls_certs_merge(crate::serve_tls::read_ca_certs(ca)?);
        }
        let http = builder.build().context("cannot build the HTTP client")?;
        Ok(ApiClient {
            http,
            base,
            token: settings.token.filter(|token| !token.is_empty()),
        })
    }

    /// `GET /jobs`.
    pub async fn list_jobs(&self) -> anyhow::Result<Vec<JobView>> {
        self.get(&["jobs"], &[]).await
    }

    /// `GET /jobs/{name}`.
    pub async fn get_job(&self, name: &str) -> anyhow::Result<JobView> {
        self.get(&["jobs", name], &[]).await
    }

    /// `GET /jobs/{name}/versions`.
    pub async fn job_versions(&self, name: &str) -> anyhow::Result<Vec<JobVersionView>> {
        self.get(&["jobs", name, "versions"], &[]).await
    }

    /// `POST /jobs/apply`.
    pub async fn apply(&self, request: &ApplyRequest) -> anyhow::Result<ApplyResponse> {
        self.post(&["jobs", "apply"], request).await
    }

    /// `DELETE /jobs/{name}`.
    pub async fn delete_job(&self, name: &str) -> anyhow::Result<()> {
        self.send(self.request(Method::DELETE, &["jobs", name], &[]))
            .await?;
        Ok(())
    }

    /// `POST /jobs/{name}/pause` or `/resume`.
    pub async fn set_paused(&self, name: &str, paused: bool) -> anyhow::Result<JobView> {
        let action = if paused { "pause" } else { "resume" };
        self.post(&["jobs", name, action], &serde_json::json!({}))
            .await
    }

    /// `POST /jobs/{name}/runs`.
    pub async fn trigger(
        &self,
        name: &str,
        request: &TriggerRequest,
    ) -> anyhow::Result<TriggerResponse> {
        self.post(&["jobs", name, "runs"], request).await
    }

    /// `POST /jobs/{name}/backfill`.
    pub async fn backfill(
        &self,
        name: &str,
        request: &BackfillRequest,
    ) -> anyhow::Result<BackfillResponse> {
        self.post(&["jobs", name, "backfill"], request).await
    }

    /// `GET /workflows`.
    pub async fn list_workflows(&self) -> anyhow::Result<Vec<WorkflowView>> {
        self.get(&["workflows"], &[]).await
    }

    /// `GET /workflows/{name}`: the workflow with its definition.
    pub async fn get_workflow(&self, name: &str) -> anyhow::Result<WorkflowView> {
        self.get(&["workflows", name], &[]).await
    }

    /// `GET /workflows/{name}/versions`.
    pub async fn workflow_versions(&self, name: &str) -> anyhow::Result<Vec<WorkflowVersionView>> {
        self.get(&["workflows", name, "versions"], &[]).await
    }

    /// `DELETE /workflows/{name}`.
    pub async fn delete_workflow(&self, name: &str) -> anyhow::Result<()> {
        self.send(self.request(Method::DELETE, &["workflows", name], &[]))
            .await?;
        Ok(())
    }

    /// `POST /workflows/{name}/pause` or `/resume`.
    pub async fn set_workflow_paused(
        &self,
        name: &str,
        paused: bool,
    ) -> anyhow::Result<WorkflowView> {
        let action = if paused { "pause" } else { "resume" };
        self.post(&["workflows", name, action], &serde_json::json!({}))
            .await
    }

    /// `POST /workflows/{name}/runs`.
    pub async fn trigger_workflow(
        &self,
        name: &str,
        request: &TriggerRequest,
    ) -> anyhow::Result<TriggerResponse> {
        self.post(&["workflows", name, "runs"], request).await
    }

    /// `POST /workflows/{name}/backfill`.
    pub async fn backfill_workflow(
        &self,
        name: &str,
        request: &BackfillRequest,
    ) -> anyhow::Result<BackfillResponse> {
        self.post(&["workflows", name, "backfill"], request).await
    }

    /// `GET /runs`: a page of runs with the total count the server reports.
    pub async fn list_runs_page(&self, query: &RunQuery) -> anyhow::Result<RunPage> {
        let mut pairs = Vec::new();
        if let Some(job) = &query.job {
            pairs.push(("job", job.clone()));
        }
        if let Some(states) = &query.states {
            pairs.push(("state", states.clone()));
        }
        if let Some(since) = &query.since {
            pairs.push(("since", since.clone()));
        }
        if let Some(limit) = query.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(before) = query.before {
            pairs.push(("before", before.to_string()));
        }
        let response = self
            .send(self.request(Method::GET, &["runs"], &pairs))
            .await?;
        let total = response
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(RunPage {
            runs: decode(response).await?,
            total,
        })
    }

    /// `GET /runs/{id}`.
    pub async fn get_run(&self, id: i64) -> anyhow::Result<RunDetailView> {
        self.get(&["runs", &id.to_string()], &[]).await
    }

    /// `POST /runs/{id}/cancel`.
    pub async fn cancel(&self, id: i64) -> anyhow::Result<CancelResponse> {
        self.post(&["runs", &id.to_string(), "cancel"], &serde_json::json!({}))
            .await
    }

    /// `POST /runs/{id}/pause`: pauses a queued or running run.
    pub async fn pause(&self, id: i64) -> anyhow::Result<RunDetailView> {
        self.post(&["runs", &id.to_string(), "pause"], &serde_json::json!({}))
            .await
    }

    /// `POST /runs/{id}/resume`: resumes a paused run.
    pub async fn resume(&self, id: i64) -> anyhow::Result<RunDetailView> {
        self.post(&["runs", &id.to_string(), "resume"], &serde_json::json!({}))
            .await
    }

    /// `GET /runs/{id}/tasks`: the run's task instances in definition order.
    pub async fn run_tasks(&self, id: i64) -> anyhow::Result<Vec<TaskInstanceView>> {
        self.get(&["runs", &id.to_string(), "tasks"], &[]).await
    }

    /// `POST /runs/{id}/tasks/{task}/approve` or `/reject`: decides an approval task.
    pub async fn decide(
        &self,
        id: i64,
        task: &str,
        decision: Decision,
        request: &DecisionRequest,
    ) -> anyhow::Result<TaskInstanceView> {
        self.post(
            &["runs", &id.to_string(), "tasks", task, decision.route()],
            request,
        )
        .await
    }

    /// `POST /runs/{id}/tasks/{task}/mark`: sets a task's state by hand.
    pub async fn mark_task(
        &self,
        id: i64,
        task: &str,
        request: &MarkRequest,
    ) -> anyhow::Result<RunDetailView> {
        self.post(&["runs", &id.to_string(), "tasks", task, "mark"], request)
            .await
    }

    /// `POST /runs/{id}/tasks/{task}/clear`: the task and what follows it run again.
    pub async fn clear_task(&self, id: i64, task: &str) -> anyhow::Result<RunDetailView> {
        self.post(
            &["runs", &id.to_string(), "tasks", task, "clear"],
            &serde_json::json!({}),
        )
        .await
    }

    /// `POST /runs/{id}/rerun`: runs failed tasks (or one task) and what follows again.
    pub async fn rerun(&self, id: i64, request: &RerunRequest) -> anyhow::Result<RunDetailView> {
        self.post(&["runs", &id.to_string(), "rerun"], request)
            .await
    }

    /// `GET /runs/{id}/logs?after=`: one page of lines after sequence number `after`.
    pub async fn log_page(&self, id: i64, after: i64) -> anyhow::Result<LogPage> {
        self.get(
            &["runs", &id.to_string(), "logs"],
            &[("after", after.to_string())],
        )
        .await
    }

    /// `GET /runs/{id}/logs/follow?after=`: the live event stream of a run's log.
    pub async fn follow_logs(&self, id: i64, after: i64) -> anyhow::Result<EventStream> {
        let request = self
            .request(
                Method::GET,
                &["runs", &id.to_string(), "logs", "follow"],
                &[("after", after.to_string())],
            )
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response = self.send_untimed(request).await?;
        Ok(EventStream {
            response,
            parser: SseParser::default(),
            ready: VecDeque::new(),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let response = self
            .send(self.request(Method::GET, segments, query))
            .await?;
        decode(response).await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> anyhow::Result<T> {
        let response = self
            .send(self.request(Method::POST, segments, &[]).json(body))
            .await?;
        decode(response).await
    }

    /// `{base}/api/v1/{segments...}?{query}`, each segment percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn request(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> RequestBuilder {
        let request = self.http.request(method, self.url(segments, query));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        self.send_untimed(request.timeout(REQUEST_TIMEOUT)).await
    }

    async fn send_untimed(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_error(&error))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.status_error(response).await)
    }

    fn server(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    fn transport_error(&self, error: &reqwest::Error) -> anyhow::Error {
        let reason = transport_reason(error);
        if let Some(hint) = tls_hint(self.base.scheme(), &reason) {
            anyhow!(
                "cannot talk to the Jobworks server at {}: {reason}\n  hint: {hint}",
                self.server()
            )
        } else if error.is_connect() {
            anyhow!(
                "cannot reach the Jobworks server at {}: {reason}\n  hint: start it with \
                 `jobworks server`, or pass --url / set JOBWORKS_URL",
                self.server()
            )
        } else if error.is_timeout() {
            anyhow!(
                "the Jobworks server at {} did not answer in time: {reason}",
                self.server()
            )
        } else {
            anyhow!(
                "request to the Jobworks server at {} failed: {reason}",
                self.server()
            )
        }
    }

    async fn status_error(&self, response: Response) -> anyhow::Error {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let problem = serde_json::from_str::<Problem>(&body).ok();
        let error = ApiError {
            status,
            problem,
            body,
        };
        if status == StatusCode::UNAUTHORIZED {
            let hint = if self.token.is_some() {
                "  hint: the token was rejected; pass a valid one with --token or JOBWORKS_TOKEN"
            } else {
                "  hint: pass --token or set JOBWORKS_TOKEN, or point JOBWORKS_CONFIG at the \
                 client.toml the server wrote at first start"
            };
            return anyhow!("{error}\n{hint}");
        }
        anyhow::Error::new(error)
    }
}

/// The decision on an approval task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let the run go on past the task.
    Approve,
    /// Fail the task.
    Reject,
}

impl Decision {
    /// The last path segment of the route: `approve` or `reject`.
    pub fn route(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// Whether `error` is the server answering 404 Not Found (an unknown job, workflow, run or
/// task, or a route this server does not have).
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<ApiError>()
        .is_some_and(|api| api.status == StatusCode::NOT_FOUND)
}

/// A non-success answer of the API.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The problem details, when the body was `application/problem+json`.
    pub problem: Option<Problem>,
    /// The raw body (shown when it was not a problem document).
    body: String,
}

impl ApiError {
    /// An answer with this status and an empty body, for tests of callers.
    #[cfg(test)]
    pub fn bare(status: StatusCode) -> ApiError {
        ApiError {
            status,
            problem: None,
            body: String::new(),
        }
    }
}

impl fmt::Display for ApiError {
    /// The problem's `detail` (or the status and body), then every diagnostic as
    /// `file:line:col: field: message` with an indented `hint:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(problem) = &self.problem else {
            let body = self.body.trim();
            return if body.is_empty() {
                write!(f, "the server answered {}", self.status)
            } else {
                write!(
                    f,
                    "the server answered {}: {}",
                    self.status,
                    crate::human::truncate(body, 300)
                )
            };
        };
        f.write_str(if problem.detail.is_empty() {
            &problem.title
        } else {
            &problem.detail
        })?;
        for diagnostic in &problem.errors {
            // location-less findings (trigger parameters) are usually already in `detail`
            if diagnostic.file.is_empty() && problem.detail.contains(&diagnostic.message) {
                continue;
            }
            write!(f, "\n{}", diagnostic_text(diagnostic))?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// `file:line:col: field: message` (parts that are empty or zero left out), then
/// `\n  hint: ...` when there is a hint.
pub fn diagnostic_text(diagnostic: &DiagnosticView) -> String {
    let mut text = String::new();
    if !diagnostic.file.is_empty() {
        text.push_str(&diagnostic.file);
        if diagnostic.line > 0 {
            text.push_str(&format!(":{}:{}", diagnostic.line, diagnostic.column));
        }
        text.push_str(": ");
    }
    if !diagnostic.field.is_empty() {
        text.push_str(&diagnostic.field);
        text.push_str(": ");
    }
    text.push_str(&diagnostic.message);
    if let Some(hint) = &diagnostic.hint {
        text.push_str("\n  hint: ");
        text.push_str(hint);
    }
    text
}

/// The fix for a transport failure that looks like a TLS mismatch, given the URL's scheme
/// and the failure's innermost reason (rustls's words; hyper's for a TLS answer to plain
/// HTTP): an untrusted certificate wants the server's CA; `http://` to a TLS port wants
/// `https://`. `None` for other failures. Pure.
pub fn tls_hint(scheme: &str, reason: &str) -> Option<&'static str> {
    let reason = reason.to_ascii_lowercase();
    if scheme == "https" {
        if reason.contains("certificate") || reason.contains("unknownissuer") {
            return Some(
                "the server's certificate is not trusted: pass --ca FILE or set JOBWORKS_CA to \
                 the server's CA certificate (with `--tls auto`: <server data dir>/pki/ca.crt), \
                 or use the client.toml the server wrote (it names the CA as `ca`)",
            );
        }
        if reason.contains("corrupt message") || reason.contains("invalidcontenttype") {
            return Some("the server speaks plain HTTP here: use an http:// URL");
        }
        return None;
    }
    if reason.contains("connection closed before message completed")
        || reason.contains("invalid http version")
        || reason.contains("connection reset")
        || reason.contains("message is incomplete")
    {
        return Some(
            "if the server serves HTTPS (`jobworks server --tls auto` or --tls-cert), use an \
             https:// URL",
        );
    }
    None
}

/// The innermost useful cause of a transport failure, e.g. `connection refused`.
fn transport_reason(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut innermost = error.to_string();
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => "timed out".to_owned(),
                _ => io.to_string(),
            };
        }
        innermost = current.to_string();
        source = current.source();
    }
    innermost
}

async fn decode<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
    let url = response.url().path().to_owned();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("cannot read the answer of {url}"))?;
    serde_json::from_slice(&body).with_context(|| {
        format!("unexpected answer from {url}; is the server the same version as this CLI?")
    })
}

/// Server-Sent Events read from a streaming answer.
#[derive(Debug)]
pub struct EventStream {
    response: Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl EventStream {
    /// The next event, or `None` when the server closed the stream. Cancel-safe: dropping
    /// the future between events loses nothing.
    pub async fn next_event(&mut self) -> anyhow::Result<Option<SseEvent>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let chunk = self
                .response
                .chunk()
                .await
                .context("the log stream broke off")?;
            match chunk {
                Some(bytes) => self.ready.extend(self.parser.push(&bytes)),
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> ApiClient {
        ApiClient::new(ClientSettings {
            server_url: url.to_owned(),
            token: None,
            ca: None,
        })
        .expect("valid url")
    }

    #[test]
    fn urls_encode_segments_and_keep_a_base_path() {
        let plain = client("http://127.0.0.1:8080");
        assert_eq!(
            plain.url(&["jobs", "a b/c"], &[]).as_str(),
            "http://127.0.0.1:8080/api/v1/jobs/a%20b%2Fc"
        );
        let prefixed = client("http://example.test/jobworks/");
        assert_eq!(
            prefixed
                .url(&["runs"], &[("state", "failed,running".into())])
                .as_str(),
            "http://example.test/jobworks/api/v1/runs?state=failed%2Crunning"
        );
    }

    #[test]
    fn only_http_and_https_urls() {
        for url in ["http://example.test", "https://example.test"] {
            client(url);
        }
        for url in ["localhost:8080", "ftp://example.test"] {
            assert!(
                ApiClient::new(ClientSettings {
                    server_url: url.into(),
                    token: None,
                    ca: None,
                })
                .is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn tls_failures_get_the_fix() {
        let table: [(&str, &str, Option<&str>); 5] = [
            (
                "https",
                "invalid peer certificate: UnknownIssuer",
                Some("pass --ca FILE"),
            ),
            (
                "https",
                "received corrupt message of type InvalidContentType",
                Some("use an http:// URL"),
            ),
            (
                "http",
                "connection closed before message completed",
                Some("use an https:// URL"),
            ),
            ("http", "connection refused", None),
            ("https", "connection refused", None),
        ];
        for (scheme, reason, want) in table {
            let got = tls_hint(scheme, reason);
            match want {
                Some(want) => assert!(got.is_some_and(|h| h.contains(want)), "{reason}: {got:?}"),
                None => assert_eq!(got, None, "{reason}"),
            }
        }
    }

    #[test]
    fn problems_show_detail_and_every_diagnostic() {
        let error = ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            problem: Some(Problem {
                kind: "https://jobworks.dev/problems/validation".into(),
                title: "Invalid input".into(),
                status: 422,
                detail: "2 errors in job files".into(),
                errors: vec![
                    DiagnosticView {
                        file: "jobs/a.toml".into(),
                        line: 3,
                        column: 1,
                        field: "job[1].shedule".into(),
                        message: "unknown field `shedule`".into(),
                        hint: Some("did you mean `schedule`?".into()),
                    },
                    DiagnosticView {
                        file: String::new(),
                        line: 0,
                        column: 0,
                        field: "params.threshold".into(),
                        message: "expected an integer".into(),
                        hint: None,
                    },
                    DiagnosticView {
                        file: String::new(),
                        line: 0,
                        column: 0,
                        field: "params.day".into(),
                        message: "2 errors in job files".into(),
                        hint: None,
                    },
                ],
            }),
            body: String::new(),
        };
        assert_eq!(
            error.to_string(),
            "2 errors in job files\njobs/a.toml:3:1: job[1].shedule: unknown field `shedule`\n  \
             hint: did you mean `schedule`?\nparams.threshold: expected an integer"
        );
        let plain = ApiError {
            status: StatusCode::BAD_GATEWAY,
            problem: None,
            body: "upstream down\n".into(),
        };
        assert_eq!(
            plain.to_string(),
            "the server answered 502 Bad Gateway: upstream down"
        );
    }

    #[test]
    fn not_found_is_recognised_through_context() {
        let missing = |status| {
            anyhow::Error::new(ApiError {
                status,
                problem: None,
                body: String::new(),
            })
        };
        assert!(is_not_found(&missing(StatusCode::NOT_FOUND)));
        assert!(is_not_found(
            &missing(StatusCode::NOT_FOUND).context("while triggering")
        ));
        assert!(!is_not_found(&missing(StatusCode::CONFLICT)));
        assert!(!is_not_found(&anyhow!("connection refused")));
    }

    #[test]
    fn task_routes() {
        let plain = client("http://127.0.0.1:8080");
        assert_eq!(
            plain
                .url(
                    &["runs", "42", "tasks", "gate", Decision::Reject.route()],
                    &[]
                )
                .as_str(),
            "http://127.0.0.1:8080/api/v1/runs/42/tasks/gate/reject"
        );
        assert_eq!(Decision::Approve.route(), "approve");
    }
}
