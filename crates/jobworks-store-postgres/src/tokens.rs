//! API tokens: create, find, list, revoke, touch. Only SHA-256 hashes are stored.

use chrono::{DateTime, Utc};
use jobworks_store::{NewToken, StoreError, TokenRecord};
use sqlx::PgPool;
use sqlx::postgres::PgRow;

use crate::codec::{col, db_err, from_us, to_us};

/// The columns [`record`] reads, in its order (a macro, so queries stay static strings).
macro_rules! columns {
    () => {
        "id, name, owner, is_admin, created_at_us, last_used_at_us, expires_at_us, revoked_at_us"
    };
}

fn record(row: &PgRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: col(row, "id")?,
        name: col(row, "name")?,
        owner: col(row, "owner")?,
        admin: col::<i64>(row, "is_admin")? != 0,
        created_at: from_us(col(row, "created_at_us")?),
        last_used_at: col::<Option<i64>>(row, "last_used_at_us")?.map(from_us),
        expires_at: col::<Option<i64>>(row, "expires_at_us")?.map(from_us),
        revoked_at: col::<Option<i64>>(row, "revoked_at_us")?.map(from_us),
    })
}

pub(crate) async fn create(
    writer: &PgPool,
    token: NewToken,
    now: DateTime<Utc>,
) -> Result<TokenRecord, StoreError> {
    let row = sqlx::query(concat!(
        "INSERT INTO api_tokens (name, sha256_hex, owner, is_admin, created_at_us, \
         expires_at_us) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        columns!()
    ))
    .bind(&token.name)
    .bind(&token.sha256_hex)
    .bind(&token.owner)
    .bind(i64::from(token.admin))
    .bind(to_us(now))
    .bind(token.expires_at.map(to_us))
    .fetch_one(writer)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "a token named `{}` already exists; revoke it first or pick another name",
            token.name
        )),
        _ => db_err(e),
    })?;
    record(&row)
}

pub(crate) async fn find(
    reader: &PgPool,
    sha256_hex: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM api_tokens WHERE sha256_hex = $1"
    ))
    .bind(sha256_hex)
    .fetch_optional(reader)
    .await
    .map_err(db_err)?;
    row.as_ref().map(record).transpose()
}

pub(crate) async fn list(reader: &PgPool) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM api_tokens ORDER BY name, id"
    ))
    .fetch_all(reader)
    .await
    .map_err(db_err)?;
    rows.iter().map(record).collect()
}

pub(crate) async fn revoke(
    writer: &PgPool,
    name: &str,
    now: DateTime<Utc>,
) -> Result<TokenRecord, StoreError> {
    let row = sqlx::query(concat!(
        "UPDATE api_tokens SET revoked_at_us = $1 WHERE name = $2 AND revoked_at_us IS NULL \
         RETURNING ",
        columns!()
    ))
    .bind(to_us(now))
    .bind(name)
    .fetch_optional(writer)
    .await
    .map_err(db_err)?;
    row.as_ref()
        .map(record)
        .ok_or_else(|| StoreError::TokenNotFound(name.to_owned()))?
}

pub(crate) async fn delete(writer: &PgPool, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(writer)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn touch(writer: &PgPool, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at_us = $1 WHERE id = $2 \
         AND (last_used_at_us IS NULL OR last_used_at_us < $3)",
    )
    .bind(to_us(now))
    .bind(id)
    .bind(to_us(now))
    .execute(writer)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn count(writer: &PgPool) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
        .fetch_one(writer)
        .await
        .map_err(db_err)?;
    let n = col(&row, "n")?;
    Ok(n)
}
