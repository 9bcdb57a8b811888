//! Connections to SQL datasources kept for the next task on the same datasource, so a stream
//! of short SQL tasks does not open a connection each (on SQLite, opening one re-reads the
//! whole schema: most of a `SELECT 1` task's cost when profiled; on PostgreSQL a connection
//! costs a TCP handshake, a backend start and authentication).
//!
//! A connection goes back only after a clean end (every statement succeeded, no timeout, no
//! cancel) and only in a state where the next task cannot tell it was used before:
//! - PostgreSQL: `DISCARD ALL` succeeded on it (it resets settings, prepared statements,
//!   temporary tables, advisory locks and `LISTEN`s, and fails inside an open transaction,
//!   which then closes the connection) — pgbouncer's `server_reset_query`;
//! - SQLite: every statement was a plain query or data change (`SELECT`, `WITH`, `VALUES`,
//!   `INSERT`, `UPDATE`, `DELETE`, `REPLACE`), which leave no session state behind; a task
//!   that ran `PRAGMA`, `ATTACH`, `BEGIN`, `CREATE TEMP …` or anything else gets its
//!   connection closed.
//!
//! MySQL/MariaDB connections are not kept (sqlx offers no session reset for them).
//! A kept PostgreSQL connection is pinged before reuse (a server restarted meanwhile means
//! a fresh connection, not a failed task), and one idle longer than the idle limit is closed
//! instead of reused.

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// A connection as kept: with what its aborter needs.
pub(crate) enum Kept {
    /// A SQLite connection and the flag its progress handler reads.
    Sqlite(SqliteConnection, Arc<AtomicBool>),
    /// A PostgreSQL connection and its backend pid (for `pg_cancel_backend`).
    Postgres(PgConnection, i32),
}

struct Idle {
    connection: Kept,
    since: Instant,
}

/// Idle connections by datasource URL, shared by every SQL task of a worker. Cheap to share
/// (`Arc`); all methods are quick and never hold the lock across I/O.
pub struct SqlConnections {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    max_idle_per_datasource: usize,
    max_idle_time: Duration,
}

impl Default for SqlConnections {
    /// At most 8 idle connections per datasource, each kept at most 30 s.
    fn default() -> Self {
        SqlConnections::new(8, Duration::from_secs(30))
    }
}

impl std::fmt::Debug for SqlConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlConnections")
            .field("idle", &self.idle_count())
            .finish()
    }
}

impl SqlConnections {
    /// Keeps at most `max_idle_per_datasource` idle connections per datasource URL (0: keep
    /// none), each for at most `max_idle_time` since its last task.
    pub fn new(max_idle_per_datasource: usize, max_idle_time: Duration) -> SqlConnections {
        SqlConnections {
            idle: Mutex::new(HashMap::new()),
            max_idle_per_datasource,
            max_idle_time,
        }
    }

    /// How many idle connections are kept now, over all datasources.
    pub fn idle_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection for `url` of the wanted kind, if any young
    /// enough; older ones are dropped (closed) on the way.
    fn take(&self, url: &str, wanted: impl Fn(&Kept) -> bool) -> Option<Kept> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.lock();
            let list = idle.get_mut(url)?;
            let mut found = None;
            while let Some(entry) = list.pop() {
                if entry.since.elapsed() > self.max_idle_time || !wanted(&entry.connection) {
                    stale.push(entry);
                    continue;
                }
                found = Some(entry.connection);
                break;
            }
            found
        };
        drop(stale);
        found
    }

    /// A kept SQLite connection for `url`.
    pub(crate) fn take_sqlite(&self, url: &str) -> Option<(SqliteConnection, Arc<AtomicBool>)> {
        match self.take(url, |k| matches!(k, Kept::Sqlite(..)))? {
            Kept::Sqlite(connection, flag) => Some((connection, flag)),
            Kept::Postgres(..) => None,
        }
    }

    /// A kept PostgreSQL connection for `url` that answers a ping.
    pub(crate) async fn take_postgres(&self, url: &str) -> Option<(PgConnection, i32)> {
        loop {
            let (mut connection, pid) = match self.take(url, |k| matches!(k, Kept::Postgres(..)))? {
                Kept::Postgres(connection, pid) => (connection, pid),
                Kept::Sqlite(..) => return None,
            };
            match tokio::time::timeout(Duration::from_secs(2), connection.ping()).await {
                Ok(Ok(())) => return Some((connection, pid)),
                // dead (server restarted, idle timeout on its side): try the next one
                _ => continue,
            }
        }
    }

    /// Keeps `connection` for the next task on `url`, unless enough are kept already.
    pub(crate) fn put(&self, url: &str, connection: Kept) {
        if self.max_idle_per_datasource == 0 {
            return;
        }
        let mut idle = self.lock();
        let list = idle.entry(url.to_owned()).or_default();
        if list.len() < self.max_idle_per_datasource {
            list.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }
}

/// Whether a SQLite statement leaves no session state on its connection: it is a query or
/// a data change (first keyword, after comments and opening parentheses, one of `SELECT`,
/// `WITH`, `VALUES`, `INSERT`, `UPDATE`, `DELETE`, `REPLACE`).
pub(crate) fn sqlite_stateless(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    matches!(
        word.as_str(),
        "SELECT" | "WITH" | "VALUES" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_and_data_changes_keep_a_sqlite_connection() {
        let cases = [
            ("SELECT 1", true),
            ("  select * from t", true),
            ("-- note\nSELECT 1", true),
            ("/* a */ (SELECT 1) UNION SELECT 2", true),
            ("WITH x AS (SELECT 1) SELECT * FROM x", true),
            ("insert into t values (1)", true),
            ("UPDATE t SET a = 1", true),
            ("DELETE FROM t", true),
            ("REPLACE INTO t VALUES (1)", true),
            ("VALUES (1)", true),
            ("PRAGMA query_only = 1", false),
            ("ATTACH 'x.db' AS x", false),
            ("BEGIN", false),
            ("CREATE TEMP TABLE t (a)", false),
            ("CREATE TABLE t (a)", false),
            ("-- only a comment", false),
            ("", false),
        ];
        for (sql, stateless) in cases {
            assert_eq!(sqlite_stateless(sql), stateless, "{sql:?}");
        }
    }
}
