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

/// Maps a sqlx error to a store error: busy and locked databases are transient.
pub fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        let code = db.code().map(|c| c.to_string()).unwrap_or_default();
        // SQLITE_BUSY = 5, SQLITE_LOCKED = 6, and their extended codes (low byte)
        if let Ok(n) = code.parse::<i64>()
            && matches!(n & 0xff, 5 | 6)
        {
            return StoreError::Busy(db.message().to_string());
        }
    }
    if matches!(e, sqlx::Error::PoolTimedOut) {
        return StoreError::Busy("timed out waiting for a database connection".into());
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
