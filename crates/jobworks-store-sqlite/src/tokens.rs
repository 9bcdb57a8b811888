//! API tokens: create, find, list, revoke, touch. Only SHA-256 hashes are stored.

use chrono::{DateTime, Utc};
use jobworks_store::{NewToken, StoreError, TokenRecord};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use crate::codec::{db_err, from_us, to_us};
use crate::open::SqliteStore;

/// The columns [`record`] reads (a macro, so queries stay static strings).
macro_rules! columns {
    () => {
        "id, name, owner, is_admin, created_at_us, last_used_at_us, expires_at_us, revoked_at_us"
    };
}

fn record(row: &SqliteRow) -> TokenRecord {
    TokenRecord {
        id: row.get("id"),
        name: row.get("name"),
        owner: row.get("owner"),
        admin: row.get::<i64, _>("is_admin") != 0,
        created_at: from_us(row.get("created_at_us")),
        last_used_at: row.get::<Option<i64>, _>("last_used_at_us").map(from_us),
        expires_at: row.get::<Option<i64>, _>("expires_at_us").map(from_us),
        revoked_at: row.get::<Option<i64>, _>("revoked_at_us").map(from_us),
    }
}

/// `Store::create_token`. Errors: `Conflict` when a token of that name exists.
pub(crate) async fn create(
    store: &SqliteStore,
    token: NewToken,
    now: DateTime<Utc>,
) -> Result<TokenRecord, StoreError> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(concat!(
        "INSERT INTO api_tokens (name, sha256_hex, owner, is_admin, created_at_us, \
         expires_at_us) VALUES (?, ?, ?, ?, ?, ?) RETURNING ",
        columns!()
    ))
    .bind(&token.name)
    .bind(&token.sha256_hex)
    .bind(&token.owner)
    .bind(i64::from(token.admin))
    .bind(to_us(now))
    .bind(token.expires_at.map(to_us))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "a token named `{}` already exists; revoke it first or pick another name",
            token.name
        )),
        _ => db_err(e),
    })?;
    tx.commit().await.map_err(db_err)?;
    Ok(record(&row))
}

/// `Store::find_token`: the token with this SHA-256 hash, revoked or not.
pub(crate) async fn find(
    reader: &SqlitePool,
    sha256_hex: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM api_tokens WHERE sha256_hex = ?"
    ))
    .bind(sha256_hex)
    .fetch_optional(reader)
    .await
    .map_err(db_err)?;
    Ok(row.as_ref().map(record))
}

/// `Store::list_tokens`: by name.
pub(crate) async fn list(reader: &SqlitePool) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM api_tokens ORDER BY name, id"
    ))
    .fetch_all(reader)
    .await
    .map_err(db_err)?;
    Ok(rows.iter().map(record).collect())
}

/// `Store::revoke_token`. Errors: `TokenNotFound` when no unrevoked token has the name.
pub(crate) async fn revoke(
    store: &SqliteStore,
    name: &str,
    now: DateTime<Utc>,
) -> Result<TokenRecord, StoreError> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(concat!(
        "UPDATE api_tokens SET revoked_at_us = ? WHERE name = ? AND revoked_at_us IS NULL \
         RETURNING ",
        columns!()
    ))
    .bind(to_us(now))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    row.as_ref()
        .map(record)
        .ok_or_else(|| StoreError::TokenNotFound(name.to_owned()))
}

/// `Store::delete_token`.
pub(crate) async fn delete(store: &SqliteStore, id: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM api_tokens WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

/// `Store::touch_token`: sets the last use, never backwards.
pub(crate) async fn touch(
    store: &SqliteStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE api_tokens SET last_used_at_us = ? WHERE id = ? \
         AND (last_used_at_us IS NULL OR last_used_at_us < ?)",
    )
    .bind(to_us(now))
    .bind(id)
    .bind(to_us(now))
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

/// `Store::count_tokens`.
pub(crate) async fn count(writer: &SqlitePool) -> Result<i64, StoreError> {
    let n = sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
        .fetch_one(writer)
        .await
        .map_err(db_err)?
        .get("n");
    Ok(n)
}
