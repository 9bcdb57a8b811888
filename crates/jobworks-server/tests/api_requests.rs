//! Request handling through the router: unknown body fields, unknown routes, wrong methods
//! and oversized bodies all answer problem+json with the right status.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jobworks_server::{RunningServer, Server, ServerConfig};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

struct Api {
    server: RunningServer,
    token: String,
    _dir: tempfile::TempDir,
}

/// A started server over a fresh store, with one job `hello`, and its admin token.
async fn api(max_body_bytes: usize) -> Api {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(SqliteStoreOptions::new(dir.path().join("api.db")))
            .await
            .expect("open store"),
    );
    let mut config = ServerConfig::new(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.max_body_bytes = max_body_bytes;
    let server = Server::new(config, store);
    let token = server
        .ensure_admin_token()
        .await
        .expect("token")
        .expect("a fresh store has no token");
    let server = server.start().await.expect("start");
    let api = Api {
        server,
        token,
        _dir: dir,
    };
    let files = serde_json::json!({"files": [{
        "name": "hello.toml",
        "content": "[[job]]\nname = \"hello\"\n[job.task]\ntype = \"shell\"\ncommand = [\"true\"]\n",
    }]});
    let (status, body) = api.call("POST", "/api/v1/jobs/apply", Some(files)).await;
    assert_eq!(status, StatusCode::OK, "apply: {body}");
    api
}

impl Api {
    /// Status, `Content-Type`, and the JSON body (with the `Allow` header, if any, as
    /// `allow_header`).
    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
        let response = jobworks_server::api::router(self.server.state.clone())
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let allow = response.headers().get(header::ALLOW).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let mut body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(allow) = allow {
            body["allow_header"] = Value::String(allow.to_str().expect("ascii").into());
        }
        (status, content_type, body)
    }

    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = match body {
            Some(body) => self
                .request(method, path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => self.request(method, path).body(Body::empty()),
        }
        .expect("request");
        let (status, _, body) = self.send(request).await;
        (status, body)
    }
}

fn assert_problem(status: StatusCode, content_type: Option<&str>, body: &Value, expected: u16) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(content_type, Some("application/problem+json"), "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "a detail: {body}"
    );
}

#[tokio::test]
async fn unknown_body_fields_are_refused_with_the_closest_field() {
    let api = api(1 << 20).await;
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/jobs/hello/runs",
            Some(serde_json::json!({"parms": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "parms", "{body}");
    assert_eq!(
        body["errors"][0]["hint"], "did you mean `params`?",
        "{body}"
    );
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("`parms`") && detail.contains("`params`"),
        "{detail}"
    );

    let nested = serde_json::json!({"files": [{"name": "a.toml", "contnet": ""}]});
    let (status, body) = api.call("POST", "/api/v1/jobs/apply", Some(nested)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "files[0].contnet", "{body}");
    assert_eq!(
        body["errors"][0]["hint"], "did you mean `content`?",
        "{body}"
    );

    // declared fields still work
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/jobs/hello/runs",
            Some(serde_json::json!({"params": {}, "count": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.server.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_problems() {
    let api = api(1 << 20).await;
    let request = api
        .request("GET", "/api/v1/nope")
        .body(Body::empty())
        .expect("request");
    let (status, content_type, body) = api.send(request).await;
    assert_problem(status, content_type.as_deref(), &body, 404);
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("/api/v1/nope"),
        "{body}"
    );

    // without a token too: an unknown route reveals nothing
    let request = Request::builder()
        .uri("/nope")
        .body(Body::empty())
        .expect("request");
    let (status, content_type, body) = api.send(request).await;
    assert_problem(status, content_type.as_deref(), &body, 404);

    for (method, path) in [
        ("DELETE", "/api/v1/runs"),
        ("PUT", "/api/v1/jobs/hello"),
        ("POST", "/healthz"),
    ] {
        let request = api
            .request(method, path)
            .body(Body::empty())
            .expect("request");
        let (status, content_type, body) = api.send(request).await;
        assert_problem(status, content_type.as_deref(), &body, 405);
        assert!(
            body["allow_header"]
                .as_str()
                .is_some_and(|a| a.contains("GET")),
            "{method} {path}: {body}"
        );
    }
    api.server.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_limit_answer_413() {
    let api = api(4096).await;
    let big = serde_json::json!({"files": [{"name": "a.toml", "content": "#".repeat(8192)}]});
    let request = api
        .request("POST", "/api/v1/jobs/apply")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big.to_string()))
        .expect("request");
    let (status, content_type, body) = api.send(request).await;
    assert_problem(status, content_type.as_deref(), &body, 413);
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("--max-body"),
        "{body}"
    );

    // a body under the limit is read
    let small = serde_json::json!({"files": [], "dry_run": true});
    let (status, body) = api.call("POST", "/api/v1/jobs/apply", Some(small)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.server.shutdown().await;
}
