//! Conversions between rows and records: times as integer microseconds, enums as text,
//! specs and params as JSON.

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

/// What a SQLite result code says about retrying (<https://sqlite.org/rescode.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// `SQLITE_BUSY`, `SQLITE_LOCKED`: another connection holds the lock; retry.
    Busy,
    /// `SQLITE_IOERR`, `SQLITE_FULL`, `SQLITE_CANTOPEN`, `SQLITE_PROTOCOL`: the file cannot
    /// be read or written right now; retry.
    Unavailable,
    /// `SQLITE_CONSTRAINT` (unique, foreign key, `NOT NULL`, `CHECK`, a trigger's `RAISE`).
    Constraint,
    /// `SQLITE_CORRUPT`, `SQLITE_NOTADB`: the file is damaged.
    Corrupt,
    /// Anything else (`SQLITE_ERROR`: malformed SQL, missing table, …): not transient.
    Other,
}

/// Classifies a SQLite primary or extended result code (only its low byte matters).
pub fn classify_code(code: i64) -> CodeKind {
    match code & 0xff {
        5 | 6 => CodeKind::Busy,
        10 | 13 | 14 | 15 => CodeKind::Unavailable,
        19 => CodeKind::Constraint,
        11 | 26 => CodeKind::Corrupt,
        _ => CodeKind::Other,
    }
}

/// Maps a sqlx error to a store error: busy and locked databases are [`StoreError::Busy`],
/// I/O and connection failures [`StoreError::Unavailable`] (both transient); constraint
/// violations, decode failures and everything else are not transient.
pub fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let message = db.message().to_string();
            let code = db.code().and_then(|c| c.parse::<i64>().ok());
            match code.map(classify_code) {
                Some(CodeKind::Busy) => return StoreError::Busy(message),
                Some(CodeKind::Unavailable) => return StoreError::Unavailable(message),
                Some(CodeKind::Constraint) => return StoreError::Constraint(message),
                Some(CodeKind::Corrupt) => return StoreError::Corrupt(message),
                Some(CodeKind::Other) | None => {}
            }
        }
        sqlx::Error::PoolTimedOut => {
            return StoreError::Busy("timed out waiting for a database connection".into());
        }
        sqlx::Error::Io(_)
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
    fn result_codes_are_classified() {
        let table = [
            (5, CodeKind::Busy),          // SQLITE_BUSY
            (517, CodeKind::Busy),        // SQLITE_BUSY_SNAPSHOT
            (6, CodeKind::Busy),          // SQLITE_LOCKED
            (10, CodeKind::Unavailable),  // SQLITE_IOERR
            (778, CodeKind::Unavailable), // SQLITE_IOERR_WRITE
            (13, CodeKind::Unavailable),  // SQLITE_FULL
            (14, CodeKind::Unavailable),  // SQLITE_CANTOPEN
            (19, CodeKind::Constraint),   // SQLITE_CONSTRAINT
            (1555, CodeKind::Constraint), // SQLITE_CONSTRAINT_PRIMARYKEY
            (2067, CodeKind::Constraint), // SQLITE_CONSTRAINT_UNIQUE
            (787, CodeKind::Constraint),  // SQLITE_CONSTRAINT_FOREIGNKEY
            (1811, CodeKind::Constraint), // SQLITE_CONSTRAINT_TRIGGER
            (11, CodeKind::Corrupt),      // SQLITE_CORRUPT
            (26, CodeKind::Corrupt),      // SQLITE_NOTADB
            (1, CodeKind::Other),         // SQLITE_ERROR
            (8, CodeKind::Other),         // SQLITE_READONLY
        ];
        for (code, kind) in table {
            assert_eq!(classify_code(code), kind, "code {code}");
        }
    }

    #[test]
    fn sqlx_errors_are_classified() {
        assert!(db_err(sqlx::Error::PoolTimedOut).is_transient());
        assert!(db_err(sqlx::Error::PoolClosed).is_transient());
        assert!(db_err(sqlx::Error::Io(std::io::Error::other("gone"))).is_transient());
        assert!(matches!(
            db_err(sqlx::Error::ColumnNotFound("x".into())),
            StoreError::Corrupt(_)
        ));
        assert!(!db_err(sqlx::Error::RowNotFound).is_transient());
    }
}
