//! Per-driver parts of SQL tasks: binding parameters and turning result cells into JSON.
//!
//! The JSON mapping is documented on `SqlOutcome::rows`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::mysql::{MySql, MySqlQueryResult, MySqlRow, MySqlValueRef};
use sqlx::postgres::types::{Oid, PgInterval, PgTimeTz};
use sqlx::postgres::{PgArgumentBuffer, PgQueryResult, PgRow, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteQueryResult, SqliteRow};
use sqlx::{Column, Database, Decode, Encode, Row, Type, TypeInfo, ValueRef};

use crate::sql::SqlValue;
use crate::sql_numeric::decode_pg_numeric;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A query whose arguments are still being bound.
pub(crate) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// What differs between drivers when running one statement.
pub(crate) trait Driver: Database {
    /// Parameter types to prepare the statement with (only PostgreSQL uses them).
    fn param_types(params: &[SqlValue]) -> Vec<Self::TypeInfo>;
    /// Binds one positional parameter.
    fn bind<'q>(query: Query<'q, Self>, value: &SqlValue) -> Query<'q, Self>;
    /// The cell at `index` of `row` as JSON.
    fn cell(row: &Self::Row, index: usize) -> Value;
    /// Rows changed by the statement, as the driver reports it.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl Driver for Sqlite {
    fn param_types(_: &[SqlValue]) -> Vec<Self::TypeInfo> {
        Vec::new()
    }

    fn bind<'q>(query: Query<'q, Self>, value: &SqlValue) -> Query<'q, Self> {
        match value {
            SqlValue::Null => query.bind(None::<i64>),
            SqlValue::Bool(value) => query.bind(*value),
            SqlValue::Int(value) => query.bind(*value),
            SqlValue::Float(value) => query.bind(*value),
            SqlValue::Text(value) => query.bind(value.clone()),
        }
    }

    fn cell(row: &SqliteRow, index: usize) -> Value {
        let declared_bool = row.column(index).type_info().name() == "BOOLEAN";
        let Ok(raw) = row.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        // The value's own storage class; the declared type only says whether 0/1 is a boolean.
        let storage = raw.type_info().name().to_owned();
        let decoded = match storage.as_str() {
            "INTEGER" if declared_bool => {
                decode::<Sqlite, i64>(raw).map(|value| Value::Bool(value != 0))
            }
            "INTEGER" => decode::<Sqlite, i64>(raw).map(Value::from),
            "REAL" => decode::<Sqlite, f64>(raw).map(float),
            "BLOB" => decode::<Sqlite, Vec<u8>>(raw).map(|bytes| Value::String(hex::encode(bytes))),
            _ => decode::<Sqlite, String>(raw).map(Value::String),
        };
        decoded.unwrap_or_else(|error| undecodable(&storage, &error))
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Driver for Postgres {
    /// Declared types matching [`Postgres::bind`]; a NULL is declared with OID 0 ("unknown") so
    /// the server infers its type from the statement, as it would for a literal `NULL`.
    fn param_types(params: &[SqlValue]) -> Vec<PgTypeInfo> {
        params
            .iter()
            .map(|param| match param {
                SqlValue::Null => PgTypeInfo::with_oid(Oid(0)),
                SqlValue::Bool(_) => <bool as Type<Postgres>>::type_info(),
                SqlValue::Int(_) => <i64 as Type<Postgres>>::type_info(),
                SqlValue::Float(_) => <f64 as Type<Postgres>>::type_info(),
                SqlValue::Text(_) => <String as Type<Postgres>>::type_info(),
            })
            .collect()
    }

    fn bind<'q>(query: Query<'q, Self>, value: &SqlValue) -> Query<'q, Self> {
        match value {
            SqlValue::Null => query.bind(PgUntypedNull),
            SqlValue::Bool(value) => query.bind(*value),
            SqlValue::Int(value) => query.bind(*value),
            SqlValue::Float(value) => query.bind(*value),
            SqlValue::Text(value) => query.bind(value.clone()),
        }
    }

    fn cell(row: &PgRow, index: usize) -> Value {
        let Ok(raw) = row.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let type_name = raw.type_info().name().to_owned();
        pg_cell(&type_name, raw).unwrap_or_else(|error| undecodable(&type_name, &error))
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

fn pg_cell(type_name: &str, raw: PgValueRef<'_>) -> Result<Value, BoxError> {
    Ok(match type_name {
        "BOOL" => Value::Bool(decode::<Postgres, bool>(raw)?),
        "INT2" => Value::from(decode::<Postgres, i16>(raw)?),
        "INT4" => Value::from(decode::<Postgres, i32>(raw)?),
        "INT8" => Value::from(decode::<Postgres, i64>(raw)?),
        "OID" => Value::from(decode::<Postgres, Oid>(raw)?.0),
        "FLOAT4" => float(f64::from(decode::<Postgres, f32>(raw)?)),
        "FLOAT8" => float(decode::<Postgres, f64>(raw)?),
        "NUMERIC" => Value::String(decode_pg_numeric(raw.as_bytes()?)?),
        "UUID" => Value::String(format_uuid(raw.as_bytes()?)?),
        "JSON" | "JSONB" => decode::<Postgres, Value>(raw)?,
        "DATE" => Value::String(
            decode::<Postgres, NaiveDate>(raw)?
                .format("%Y-%m-%d")
                .to_string(),
        ),
        "TIME" => Value::String(format_time(decode::<Postgres, NaiveTime>(raw)?)),
        "TIMETZ" => {
            let time: PgTimeTz = decode::<Postgres, PgTimeTz>(raw)?;
            Value::String(format!("{}{}", format_time(time.time), time.offset))
        }
        "TIMESTAMP" => Value::String(format_naive_datetime(decode::<Postgres, NaiveDateTime>(
            raw,
        )?)),
        "TIMESTAMPTZ" => Value::String(format_utc(decode::<Postgres, DateTime<Utc>>(raw)?)),
        "INTERVAL" => Value::String(format_interval(&decode::<Postgres, PgInterval>(raw)?)),
        "BYTEA" => Value::String(hex::encode(raw.as_bytes()?)),
        "VOID" => Value::Null,
        "BOOL[]" => array(decode::<Postgres, Vec<Option<bool>>>(raw)?, Value::Bool),
        "INT2[]" => array(decode::<Postgres, Vec<Option<i16>>>(raw)?, Value::from),
        "INT4[]" => array(decode::<Postgres, Vec<Option<i32>>>(raw)?, Value::from),
        "INT8[]" => array(decode::<Postgres, Vec<Option<i64>>>(raw)?, Value::from),
        "FLOAT4[]" => array(decode::<Postgres, Vec<Option<f32>>>(raw)?, |value| {
            float(f64::from(value))
        }),
        "FLOAT8[]" => array(decode::<Postgres, Vec<Option<f64>>>(raw)?, float),
        "TEXT[]" | "VARCHAR[]" | "CHAR[]" | "NAME[]" => {
            array(decode::<Postgres, Vec<Option<String>>>(raw)?, Value::String)
        }
        // TEXT, VARCHAR, CHAR, NAME, enums, CITEXT, XML... travel as UTF-8 text.
        _ => raw_bytes(raw.as_bytes()?),
    })
}

/// A NULL parameter whose type PostgreSQL infers (declared with OID 0).
struct PgUntypedNull;

impl Type<Postgres> for PgUntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl Encode<'_, Postgres> for PgUntypedNull {
    fn encode_by_ref(&self, _: &mut PgArgumentBuffer) -> Result<sqlx::encode::IsNull, BoxError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

impl Driver for MySql {
    fn param_types(_: &[SqlValue]) -> Vec<Self::TypeInfo> {
        Vec::new()
    }

    fn bind<'q>(query: Query<'q, Self>, value: &SqlValue) -> Query<'q, Self> {
        match value {
            SqlValue::Null => query.bind(None::<String>),
            SqlValue::Bool(value) => query.bind(*value),
            SqlValue::Int(value) => query.bind(*value),
            SqlValue::Float(value) => query.bind(*value),
            SqlValue::Text(value) => query.bind(value.clone()),
        }
    }

    fn cell(row: &MySqlRow, index: usize) -> Value {
        let Ok(raw) = row.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let type_name = raw.type_info().name().to_owned();
        mysql_cell(&type_name, raw).unwrap_or_else(|error| undecodable(&type_name, &error))
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}

fn mysql_cell(type_name: &str, raw: MySqlValueRef<'_>) -> Result<Value, BoxError> {
    Ok(match type_name {
        "BOOLEAN" => Value::Bool(decode::<MySql, bool>(raw)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            Value::from(decode::<MySql, i64>(raw)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "YEAR" | "BIT" => Value::from(decode::<MySql, u64>(raw)?),
        "FLOAT" => float(f64::from(decode::<MySql, f32>(raw)?)),
        "DOUBLE" => float(decode::<MySql, f64>(raw)?),
        "DECIMAL" => Value::String(decode::<MySql, String>(raw)?),
        "JSON" => {
            let text = decode::<MySql, String>(raw)?;
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        "DATE" => Value::String(
            decode::<MySql, NaiveDate>(raw)?
                .format("%Y-%m-%d")
                .to_string(),
        ),
        "TIME" => Value::String(decode::<MySql, sqlx::mysql::types::MySqlTime>(raw)?.to_string()),
        "DATETIME" => Value::String(format_naive_datetime(decode::<MySql, NaiveDateTime>(raw)?)),
        // The connection's session time zone is UTC (sqlx's default), so TIMESTAMPs are UTC.
        "TIMESTAMP" => Value::String(format_utc(decode::<MySql, DateTime<Utc>>(raw)?)),
        "GEOMETRY" => Value::String(hex::encode(decode::<MySql, Vec<u8>>(raw)?)),
        "NULL" => Value::Null,
        // CHAR, VARCHAR, *TEXT, ENUM, SET are text. The protocol flags text with a binary
        // collation (e.g. utf8mb4_bin) like BINARY/VARBINARY/*BLOB, and sqlx does not expose the
        // collation, so those show as text when they are valid UTF-8 and as hex otherwise.
        _ => raw_bytes(&decode::<MySql, Vec<u8>>(raw)?),
    })
}

/// Decodes without sqlx's type-compatibility check: the match on the type name did that.
fn decode<'r, DB: Database, T: Decode<'r, DB>>(raw: DB::ValueRef<'r>) -> Result<T, BoxError> {
    T::decode(raw)
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map_or_else(|| Value::String(value.to_string()), Value::Number)
}

fn array<T>(items: Vec<Option<T>>, to_json: impl Fn(T) -> Value) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|item| item.map_or(Value::Null, &to_json))
            .collect(),
    )
}

/// Text when the bytes are UTF-8, otherwise lowercase hex.
fn raw_bytes(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => Value::String(hex::encode(bytes)),
    }
}

fn undecodable(type_name: &str, error: &BoxError) -> Value {
    Value::String(format!("<cannot decode {type_name}: {error}>"))
}

fn format_time(time: NaiveTime) -> String {
    time.format("%H:%M:%S%.f").to_string()
}

fn format_naive_datetime(datetime: NaiveDateTime) -> String {
    datetime.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

fn format_utc(datetime: DateTime<Utc>) -> String {
    datetime.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// ISO 8601 duration, e.g. `P1Y2M3DT4H5M6.5S`; `PT0S` for zero. Signs follow PostgreSQL's
/// fields (months, days and microseconds may each be negative).
fn format_interval(interval: &PgInterval) -> String {
    let mut text = String::from("P");
    let (years, months) = (interval.months / 12, interval.months % 12);
    for (amount, unit) in [(years, 'Y'), (months, 'M'), (interval.days, 'D')] {
        if amount != 0 {
            text.push_str(&format!("{amount}{unit}"));
        }
    }
    let micros = interval.microseconds;
    if micros != 0 || text.len() == 1 {
        text.push('T');
        let sign = if micros < 0 { "-" } else { "" };
        let micros = micros.unsigned_abs();
        let (hours, minutes) = (micros / 3_600_000_000, micros / 60_000_000 % 60);
        let (seconds, fraction) = (micros / 1_000_000 % 60, micros % 1_000_000);
        if hours != 0 {
            text.push_str(&format!("{sign}{hours}H"));
        }
        if minutes != 0 {
            text.push_str(&format!("{sign}{minutes}M"));
        }
        if seconds != 0 || fraction != 0 || (hours == 0 && minutes == 0) {
            let fraction = if fraction == 0 {
                String::new()
            } else {
                format!(".{fraction:06}").trim_end_matches('0').to_owned()
            };
            text.push_str(&format!("{sign}{seconds}{fraction}S"));
        }
    }
    text
}

/// `8-4-4-4-12` lowercase hex.
fn format_uuid(bytes: &[u8]) -> Result<String, BoxError> {
    if bytes.len() != 16 {
        return Err(format!("expected 16 bytes, got {}", bytes.len()).into());
    }
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        let check = |months, days, microseconds, expected: &str| {
            let interval = PgInterval {
                months,
                days,
                microseconds,
            };
            assert_eq!(format_interval(&interval), expected);
        };
        check(0, 0, 0, "PT0S");
        check(14, 3, 0, "P1Y2M3D");
        check(0, 1, 3_723_500_000, "P1DT1H2M3.5S");
        check(0, 0, -90_000_000, "PT-1M-30S");
        check(0, 0, 1, "PT0.000001S");
    }

    #[test]
    fn uuids_and_floats() {
        assert_eq!(
            format_uuid(&[0x12; 16]).expect("16 bytes"),
            "12121212-1212-1212-1212-121212121212"
        );
        assert!(format_uuid(&[1, 2]).is_err());
        assert_eq!(float(1.5), Value::from(1.5));
        assert_eq!(float(f64::NAN), Value::String("NaN".into()));
        assert_eq!(raw_bytes(&[0xff, 0x01]), Value::String("ff01".into()));
    }
}
