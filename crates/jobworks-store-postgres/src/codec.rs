//! Conversions between rows and records (times as BIGINT microseconds, enums as text, specs
//! and params as JSON) and the mapping of PostgreSQL errors to store errors.

use chrono::{DateTime, TimeZone, Utc};
use jobworks_store::StoreError;

/// UTC time → microseconds since the Unix epoch.
pub fn to_us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Microseconds since the Unix epoch → UTC time (out-of-range values clamp to the epoch).
pub fn from_us(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// Optional variant of [`from_us`].
pub fn opt_from_us(us: Option<i64>) -> Option<DateTime<Utc>> {
    us.map(from_us)
}

/// What a PostgreSQL SQLSTATE says about retrying
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// `40001` serialization failure, `40P01` deadlock detected, `55P03` lock not available:
    /// the transaction lost a race; running it again may succeed.
    Busy,
    /// Class `08` (connection exception), `53` (insufficient resources: disk full, out of
    /// memory, too many connections), `57P01`-`57P03` (admin shutdown, crash shutdown,
    /// cannot connect now), `58` (system error: I/O): the server cannot serve now.
    Unavailable,
    /// Class `23`: integrity constraint violation (unique, foreign key, check, not-null).
    Constraint,
    /// `XX001`/`XX002`: data or index corrupted.
    Corrupt,
    /// Anything else (syntax, missing table, …): not transient.
    Other,
}

/// Classifies a five-character SQLSTATE.
pub fn classify_code(code: &str) -> CodeKind {
    match code {
        "40001" | "40P01" | "55P03" => CodeKind::Busy,
        "57P01" | "57P02" | "57P03" => CodeKind::Unavailable,
        "XX001" | "XX002" => CodeKind::Corrupt,
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("58") => {
            CodeKind::Unavailable
        }
        _ if code.starts_with("23") => CodeKind::Constraint,
        _ => CodeKind::Other,
    }
}

/// Maps a sqlx error to a store error: lost races (deadlock, serialization failure) are
/// [`StoreError::Busy`]; connection, I/O and pool failures (refused, closed, pool timeout)
/// [`StoreError::Unavailable`] (both transient); constraint violations
/// [`StoreError::Constraint`], decode failures [`StoreError::Corrupt`], everything else
/// [`StoreError::Database`].
pub fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let message = db.message().to_string();
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            match classify_code(&code) {
                CodeKind::Busy => return StoreError::Busy(format!("{message} ({code})")),
                CodeKind::Unavailable => {
                    return StoreError::Unavailable(format!("{message} ({code})"));
                }
                CodeKind::Constraint => {
                    return StoreError::Constraint(format!("{message} ({code})"));
                }
                CodeKind::Corrupt => return StoreError::Corrupt(format!("{message} ({code})")),
                CodeKind::Other => {}
            }
        }
        sqlx::Error::PoolTimedOut => {
            return StoreError::Unavailable("timed out waiting for a database connection".into());
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => return StoreError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => return StoreError::Corrupt(e.to_string()),
        _ => {}
    }
    StoreError::Database(Box::new(e))
}

/// Reads column `name` of `row`: a missing column or a value of another type is
/// [`StoreError::Corrupt`] (a manual edit of the database), never a panic.
pub fn col<'r, T>(row: &'r sqlx::postgres::PgRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    use sqlx::Row;
    row.try_get(name).map_err(db_err)
}

/// Decodes a JSON column.
pub fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Decodes a state column.
pub fn parse_state<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: unknown value `{text}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified() {
        let table = [
            ("40001", CodeKind::Busy),        // serialization_failure
            ("40P01", CodeKind::Busy),        // deadlock_detected
            ("55P03", CodeKind::Busy),        // lock_not_available
            ("08006", CodeKind::Unavailable), // connection_failure
            ("53100", CodeKind::Unavailable), // disk_full
            ("53300", CodeKind::Unavailable), // too_many_connections
            ("57P01", CodeKind::Unavailable), // admin_shutdown
            ("58030", CodeKind::Unavailable), // io_error
            ("23505", CodeKind::Constraint),  // unique_violation
            ("23503", CodeKind::Constraint),  // foreign_key_violation
            ("23502", CodeKind::Constraint),  // not_null_violation
            ("23514", CodeKind::Constraint),  // check_violation
            ("XX001", CodeKind::Corrupt),     // data_corrupted
            ("42P01", CodeKind::Other),       // undefined_table
            ("42601", CodeKind::Other),       // syntax_error
        ];
        for (code, kind) in table {
            assert_eq!(classify_code(code), kind, "code {code}");
        }
    }

    #[test]
    fn sqlx_errors_are_classified() {
        assert!(matches!(
            db_err(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(db_err(sqlx::Error::PoolClosed).is_transient());
        assert!(db_err(sqlx::Error::Io(std::io::Error::other("refused"))).is_transient());
        assert!(matches!(
            db_err(sqlx::Error::ColumnNotFound("x".into())),
            StoreError::Corrupt(_)
        ));
        assert!(!db_err(sqlx::Error::RowNotFound).is_transient());
    }
}
