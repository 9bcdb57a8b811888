//! The agent registry: enrollment tokens and agents (migration 0003). Only SHA-256 hashes of
//! secrets are stored. Isolation (`READ COMMITTED`): an enrollment locks its token row
//! `FOR UPDATE` before checking it, so two enrollments with one token take turns and the
//! second sees the first's use; the agent name's uniqueness is the table's UNIQUE key (a
//! concurrent insert of one name makes the loser's transaction fail as `Conflict`, its token
//! use rolled back). State changes and deletes lock the agent row.

use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use jobworks_domain::routing::AdminState;
use jobworks_store::{
    AgentRecord, AgentReport, EnrollmentTokenRecord, NewAgent, NewEnrollmentToken, StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;

use crate::codec::{db_err, from_us, to_us};
use crate::open::PostgresStore;

macro_rules! token_columns {
    () => {
        "id, labels_json, uses_left, expires_at_us, created_at_us, created_by, revoked_at_us"
    };
}

macro_rules! agent_columns {
    () => {
        "id, name, labels_json, admin_state, enrolled_with, enrolled_at_us, state_changed_at_us, \
         last_heartbeat_at_us, heartbeat_interval_ms, version, slots_total, slots_used, \
         cpu_count, load_1m, load_5m, load_15m, cpu_percent, free_memory_bytes, \
         free_disk_bytes, running_json, stopped_at_us"
    };
}

fn get<'r, T>(row: &'r PgRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name).map_err(db_err)
}

fn labels(text: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("labels_json: {e}")))
}

fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

fn token_record(row: &PgRow) -> Result<EnrollmentTokenRecord, StoreError> {
    Ok(EnrollmentTokenRecord {
        id: get(row, "id")?,
        labels: labels(&get::<String>(row, "labels_json")?)?,
        uses_left: get::<Option<i64>>(row, "uses_left")?
            .map(|n| n.clamp(0, u32::MAX.into()) as u32),
        expires_at: get::<Option<i64>>(row, "expires_at_us")?.map(from_us),
        created_at: from_us(get(row, "created_at_us")?),
        created_by: get(row, "created_by")?,
        revoked_at: get::<Option<i64>>(row, "revoked_at_us")?.map(from_us),
    })
}

fn agent_record(row: &PgRow) -> Result<AgentRecord, StoreError> {
    let admin_state: String = get(row, "admin_state")?;
    let admin_state = admin_state
        .parse::<AdminState>()
        .map_err(StoreError::Corrupt)?;
    let last_heartbeat_at = get::<Option<i64>>(row, "last_heartbeat_at_us")?.map(from_us);
    let report = match get::<Option<String>>(row, "version")? {
        None => None,
        Some(version) => {
            let load = match (
                get::<Option<f64>>(row, "load_1m")?,
                get::<Option<f64>>(row, "load_5m")?,
                get::<Option<f64>>(row, "load_15m")?,
            ) {
                (Some(a), Some(b), Some(c)) => Some([a, b, c]),
                _ => None,
            };
            let running: Vec<i64> = match get::<Option<String>>(row, "running_json")? {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("running_json: {e}")))?,
                None => Vec::new(),
            };
            let small = |v: Option<i64>| v.map(|n| n.clamp(0, u32::MAX.into()) as u32);
            Some(AgentReport {
                version,
                slots_total: small(get(row, "slots_total")?).unwrap_or(0),
                slots_used: small(get(row, "slots_used")?).unwrap_or(0),
                cpu_count: small(get(row, "cpu_count")?),
                load,
                cpu_percent: get(row, "cpu_percent")?,
                free_memory_bytes: get::<Option<i64>>(row, "free_memory_bytes")?
                    .map(|n| n.max(0) as u64),
                free_disk_bytes: get::<Option<i64>>(row, "free_disk_bytes")?
                    .map(|n| n.max(0) as u64),
                running: running.into_iter().map(AttemptId).collect(),
            })
        }
    };
    Ok(AgentRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        labels: labels(&get::<String>(row, "labels_json")?)?,
        admin_state,
        enrolled_with: get(row, "enrolled_with")?,
        enrolled_at: from_us(get(row, "enrolled_at_us")?),
        state_changed_at: from_us(get(row, "state_changed_at_us")?),
        last_heartbeat_at,
        heartbeat_interval_ms: get::<i64>(row, "heartbeat_interval_ms")?.max(0) as u64,
        report,
        stopped_at: get::<Option<i64>>(row, "stopped_at_us")?.map(from_us),
    })
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `Store::create_enrollment_token`. Errors: `Conflict` on a duplicate id.
pub(crate) async fn create_token(
    store: &PostgresStore,
    token: NewEnrollmentToken,
    now: DateTime<Utc>,
) -> Result<EnrollmentTokenRecord, StoreError> {
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(concat!(
        "INSERT INTO enrollment_tokens (id, secret_sha256, labels_json, uses_left, \
         expires_at_us, created_at_us, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        token_columns!()
    ))
    .bind(&token.id)
    .bind(&token.secret_sha256)
    .bind(labels_json(&token.labels))
    .bind(token.uses.map(i64::from))
    .bind(token.expires_at.map(to_us))
    .bind(to_us(now))
    .bind(&token.created_by)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "an enrollment token with id {} exists already",
            token.id
        )),
        _ => db_err(e),
    })?;
    tx.commit().await.map_err(db_err)?;
    token_record(&row)
}

/// `Store::list_enrollment_tokens`: newest first.
pub(crate) async fn list_tokens(reader: &PgPool) -> Result<Vec<EnrollmentTokenRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        token_columns!(),
        " FROM enrollment_tokens ORDER BY created_at_us DESC, id"
    ))
    .fetch_all(reader)
    .await
    .map_err(db_err)?;
    rows.iter().map(token_record).collect()
}

/// `Store::revoke_enrollment_token`. Errors: `EnrollmentTokenNotFound`.
pub(crate) async fn revoke_token(
    store: &PostgresStore,
    id: &str,
    now: DateTime<Utc>,
) -> Result<EnrollmentTokenRecord, StoreError> {
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(concat!(
        "UPDATE enrollment_tokens SET revoked_at_us = COALESCE(revoked_at_us, $1) WHERE id = $2 \
         RETURNING ",
        token_columns!()
    ))
    .bind(to_us(now))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    row.as_ref()
        .map(token_record)
        .transpose()?
        .ok_or_else(|| StoreError::EnrollmentTokenNotFound(id.to_owned()))
}

/// `Store::enroll_agent`: token check, use and insert in one `IMMEDIATE` transaction.
pub(crate) async fn enroll(
    store: &PostgresStore,
    token_id: &str,
    secret_sha256: &str,
    agent: NewAgent,
    now: DateTime<Utc>,
) -> Result<AgentRecord, StoreError> {
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(concat!(
        "SELECT secret_sha256, ",
        token_columns!(),
        " FROM enrollment_tokens WHERE id = $1 FOR UPDATE"
    ))
    .bind(token_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Err(unknown_token(token_id));
    };
    if get::<String>(&row, "secret_sha256")? != secret_sha256 {
        return Err(unknown_token(token_id));
    }
    let token = token_record(&row)?;
    if let Some(why) = token.refusal(now) {
        return Err(StoreError::EnrollmentRefused(why));
    }
    let taken = sqlx::query("SELECT 1 FROM agents WHERE name = $1")
        .bind(&agent.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    if taken.is_some() {
        return Err(name_taken(&agent.name));
    }
    sqlx::query(
        "UPDATE enrollment_tokens SET uses_left = uses_left - 1 \
         WHERE id = $1 AND uses_left IS NOT NULL",
    )
    .bind(token_id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let row = sqlx::query(concat!(
        "INSERT INTO agents (name, labels_json, admin_state, credential_sha256, enrolled_with, \
         enrolled_at_us, state_changed_at_us, heartbeat_interval_ms) \
         VALUES ($1, $2, 'active', $3, $4, $5, $6, $7) RETURNING ",
        agent_columns!()
    ))
    .bind(&agent.name)
    .bind(labels_json(&token.labels))
    .bind(&agent.credential_sha256)
    .bind(token_id)
    .bind(to_us(now))
    .bind(to_us(now))
    .bind(ms(agent.heartbeat_interval_ms))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => name_taken(&agent.name),
        _ => db_err(e),
    })?;
    tx.commit().await.map_err(db_err)?;
    agent_record(&row)
}

fn unknown_token(id: &str) -> StoreError {
    StoreError::EnrollmentRefused(format!(
        "unknown enrollment token {id} (or a wrong secret); copy the whole token `jobworks \
         agents token create` printed, or create a new one"
    ))
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "an agent named `{name}` is enrolled already; start this one with another --name, or, \
         if it replaces the old one, `jobworks agents revoke {name}` and `jobworks agents \
         delete {name}` first"
    ))
}

/// `Store::find_agent_by_credential`.
pub(crate) async fn find_by_credential(
    reader: &PgPool,
    credential_sha256: &str,
) -> Result<Option<AgentRecord>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        agent_columns!(),
        " FROM agents WHERE credential_sha256 = $1"
    ))
    .bind(credential_sha256)
    .fetch_optional(reader)
    .await
    .map_err(db_err)?;
    row.as_ref().map(agent_record).transpose()
}

/// `Store::record_heartbeat`. Errors: `AgentNotFound`.
pub(crate) async fn heartbeat(
    store: &PostgresStore,
    name: &str,
    report: AgentReport,
    interval_ms: u64,
    now: DateTime<Utc>,
) -> Result<AgentRecord, StoreError> {
    let running: Vec<i64> = report.running.iter().map(|a| a.0).collect();
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(concat!(
        "UPDATE agents SET last_heartbeat_at_us = $1, heartbeat_interval_ms = $2, version = $3, \
         slots_total = $4, slots_used = $5, cpu_count = $6, load_1m = $7, load_5m = $8, \
         load_15m = $9, cpu_percent = $10, free_memory_bytes = $11, free_disk_bytes = $12, \
         running_json = $13, stopped_at_us = NULL WHERE name = $14 RETURNING ",
        agent_columns!()
    ))
    .bind(to_us(now))
    .bind(ms(interval_ms))
    .bind(&report.version)
    .bind(i64::from(report.slots_total))
    .bind(i64::from(report.slots_used))
    .bind(report.cpu_count.map(i64::from))
    .bind(report.load.map(|l| l[0]))
    .bind(report.load.map(|l| l[1]))
    .bind(report.load.map(|l| l[2]))
    .bind(report.cpu_percent.filter(|c| c.is_finite()))
    .bind(report.free_memory_bytes.map(ms))
    .bind(report.free_disk_bytes.map(ms))
    .bind(serde_json::to_string(&running).unwrap_or_else(|_| "[]".into()))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    row.as_ref()
        .map(agent_record)
        .transpose()?
        .ok_or_else(|| StoreError::AgentNotFound(name.to_owned()))
}

/// `Store::record_agent_stopped`. Errors: `AgentNotFound`.
pub(crate) async fn stopped(
    store: &PostgresStore,
    name: &str,
    now: DateTime<Utc>,
) -> Result<AgentRecord, StoreError> {
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(concat!(
        "UPDATE agents SET stopped_at_us = $1 WHERE name = $2 RETURNING ",
        agent_columns!()
    ))
    .bind(to_us(now))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    row.as_ref()
        .map(agent_record)
        .transpose()?
        .ok_or_else(|| StoreError::AgentNotFound(name.to_owned()))
}

/// `Store::list_agents`: by name.
pub(crate) async fn list(reader: &PgPool) -> Result<Vec<AgentRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        agent_columns!(),
        " FROM agents ORDER BY name"
    ))
    .fetch_all(reader)
    .await
    .map_err(db_err)?;
    rows.iter().map(agent_record).collect()
}

/// `Store::get_agent`. Errors: `AgentNotFound`.
pub(crate) async fn get_agent(reader: &PgPool, name: &str) -> Result<AgentRecord, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        agent_columns!(),
        " FROM agents WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(reader)
    .await
    .map_err(db_err)?;
    row.as_ref()
        .map(agent_record)
        .transpose()?
        .ok_or_else(|| StoreError::AgentNotFound(name.to_owned()))
}

/// `Store::set_agent_state`. Errors: `AgentNotFound`, `Conflict` (leaving `revoked`).
pub(crate) async fn set_state(
    store: &PostgresStore,
    name: &str,
    state: AdminState,
    now: DateTime<Utc>,
) -> Result<AgentRecord, StoreError> {
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT admin_state FROM agents WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    let Some(current) = current else {
        return Err(StoreError::AgentNotFound(name.to_owned()));
    };
    let current = current.parse::<AdminState>().map_err(StoreError::Corrupt)?;
    if current == AdminState::Revoked && state != AdminState::Revoked {
        return Err(revoked_is_final(name, state));
    }
    let row = sqlx::query(concat!(
        "UPDATE agents SET admin_state = $1, \
         state_changed_at_us = CASE WHEN admin_state = $2 THEN state_changed_at_us ELSE $3 END \
         WHERE name = $4 RETURNING ",
        agent_columns!()
    ))
    .bind(state.as_str())
    .bind(state.as_str())
    .bind(to_us(now))
    .bind(name)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    agent_record(&row)
}

pub(crate) fn revoked_is_final(name: &str, state: AdminState) -> StoreError {
    StoreError::Conflict(format!(
        "agent `{name}` is revoked, which is final (asked: {state}); `jobworks agents delete \
         {name}` removes it, then it can enroll again with a new token"
    ))
}

/// `Store::delete_agent`. Errors: `AgentNotFound`, `Conflict` (not revoked).
pub(crate) async fn delete(store: &PostgresStore, name: &str) -> Result<(), StoreError> {
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT admin_state FROM agents WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    match current.as_deref() {
        None => return Err(StoreError::AgentNotFound(name.to_owned())),
        Some("revoked") => {}
        Some(_) => {
            return Err(StoreError::Conflict(format!(
                "agent `{name}` is not revoked; `jobworks agents revoke {name}` first (a live \
                 agent is never deleted)"
            )));
        }
    }
    sqlx::query("DELETE FROM agents WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}
