//! Shared by the server benches: which store a bench runs on, chosen by
//! `JOBWORKS_BENCH_DATABASE` (`sqlite`, the default: a fresh SQLite file in a temp dir; or a
//! `postgres://…` URL: a fresh database named `jwbench_<pid>_<n>` is created on that server and
//! dropped by [`BenchDb::drop_db`]), and small helpers every bench needs.

// each bench binary compiles this module and uses a different part of it
#![allow(dead_code)]

use jobworks_server::{Server, ServerConfig};
use jobworks_store::Store;
use jobworks_store_postgres::{PostgresStore, PostgresStoreOptions};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An env var parsed as a count, or `default` when unset or not a number.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `JOBWORKS_BENCH_DATABASE` if it is a PostgreSQL URL, else `None` (SQLite).
pub fn postgres_url() -> Option<String> {
    std::env::var("JOBWORKS_BENCH_DATABASE")
        .ok()
        .filter(|v| v.starts_with("postgres://") || v.starts_with("postgresql://"))
}

/// A short name of the backend for the report: `sqlite` or `postgres`.
pub fn backend() -> &'static str {
    if postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// The load average (1, 5, 15 min) from `/proc/loadavg`, as printed there; `?` if unreadable.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One bench database: the URL SQL tasks reach as datasource `jobworks`, and, on PostgreSQL,
/// the database to drop at the end.
pub struct BenchDb {
    /// URL of this database (the store's own; for SQLite a read-only `sqlite:` URL).
    pub url: String,
    /// `(admin URL, database name)` to drop, on PostgreSQL.
    pg: Option<(String, String)>,
}

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// Replaces the database part of a PostgreSQL URL (`…/db?opts` → `…/name?opts`).
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl BenchDb {
    /// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database.
    pub async fn create(dir: &Path) -> BenchDb {
        match postgres_url() {
            None => BenchDb {
                url: format!("sqlite:{}?mode=ro", dir.join("bench.db").display()),
                pg: None,
            },
            Some(admin) => {
                let name = format!(
                    "jwbench_{}_{}",
                    std::process::id(),
                    NEXT_DB.fetch_add(1, Ordering::Relaxed)
                );
                let pool = sqlx::PgPool::connect(&admin).await.expect("connect admin");
                let sql = format!("CREATE DATABASE \"{name}\"");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .expect("create database");
                pool.close().await;
                BenchDb {
                    url: with_database(&admin, &name),
                    pg: Some((admin, name)),
                }
            }
        }
    }

    /// Opens a store handle on this database (`max_connections` matters on PostgreSQL only).
    pub async fn open(&self, dir: &Path, max_connections: u32) -> Arc<dyn Store> {
        if self.pg.is_some() {
            let mut options = PostgresStoreOptions::new(self.url.clone());
            options.max_connections = max_connections;
            Arc::new(
                PostgresStore::connect(options)
                    .await
                    .expect("connect store"),
            )
        } else {
            Arc::new(
                SqliteStore::open(SqliteStoreOptions::new(dir.join("bench.db")))
                    .await
                    .expect("open store"),
            )
        }
    }

    /// Starts an in-process server on `store` with `workers` workers, its data in
    /// `dir/data-<worker>`, listening on an ephemeral port.
    pub async fn start_server(
        &self,
        dir: &Path,
        store: Arc<dyn Store>,
        workers: usize,
        worker: &str,
    ) -> jobworks_server::RunningServer {
        let mut config = ServerConfig::new(dir.join(format!("data-{worker}")));
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.workers = workers;
        config.worker_id = format!("{worker}-{}", uuid::Uuid::now_v7());
        config.store_url = Some(self.url.clone());
        Server::new(config, store)
            .start()
            .await
            .expect("start server")
    }

    /// Drops the PostgreSQL database (closing what still holds it); nothing for SQLite (the
    /// temp dir goes with its guard).
    pub async fn drop_db(self) {
        if let Some((admin, name)) = self.pg {
            let pool = sqlx::PgPool::connect(&admin).await.expect("connect admin");
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await {
                eprintln!("could not drop database {name}: {e}");
            }
            pool.close().await;
        }
    }
}

/// Applies `job_file` (one job named `job`), enqueues `n` manual runs of it durably (1000 per
/// transaction), then wakes every server's dispatcher and returns runs per second until no run
/// is queued or running. Panics (a bench, not a test) if any run failed or it takes over 600 s.
pub async fn drain_queue(
    servers: &[jobworks_server::RunningServer],
    store: &Arc<dyn Store>,
    job_file: &str,
    job: &str,
    n: usize,
) -> f64 {
    use jobworks_domain::{RunState, TriggerKind};
    use jobworks_store::{NewRun, RunFilter};
    use std::time::{Duration, Instant};
    let files = vec![jobworks_protocol::SourceFile {
        name: "bench.toml".into(),
        content: job_file.into(),
    }];
    jobworks_server::api::apply_files(&servers[0].state, &files, false)
        .await
        .expect("apply bench job");
    let record = store.get_job(job).await.expect("job");
    let run = NewRun::new(
        record.id,
        record.version,
        TriggerKind::Manual,
        serde_json::json!({}),
        "bench",
    );
    for chunk in 0..n.div_ceil(1000) {
        let size = (n - chunk * 1000).min(1000);
        store
            .enqueue_runs(vec![run.clone(); size], chrono::Utc::now())
            .await
            .expect("enqueue");
    }
    let start = Instant::now();
    for server in servers {
        server.wake_dispatcher();
    }
    loop {
        // a cheap indexed probe, so the benchmark does not compete with what it measures
        let mut active = 0;
        for state in [RunState::Queued, RunState::Running] {
            active += store
                .list_runs(&RunFilter {
                    states: vec![state],
                    limit: 1,
                    ..Default::default()
                })
                .await
                .expect("probe")
                .len();
        }
        if active == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let failed = store
        .list_runs(&RunFilter {
            states: vec![RunState::Failed],
            limit: 3,
            ..Default::default()
        })
        .await
        .expect("list");
    if let Some(first) = failed.first() {
        let detail = store.get_run(first.id).await.expect("run");
        panic!("runs failed: {:?}", detail.run.reason);
    }
    rate
}
