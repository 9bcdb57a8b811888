//! Definitions (jobs and workflows share the `jobs` table and its versions): apply, delete,
//! pause, read back, and the schedules that are due. Every function serves both kinds
//! (`DefinitionKind`, or a [`StoredDefinition`] record type).

use chrono::{DateTime, Utc};
use jobworks_domain::{ConcurrencyPolicy, JobId};
use jobworks_store::*;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};

use crate::codec::*;
use crate::open::{SqliteStore, Tx};
use crate::rows::StoredDefinition;

/// A definition to store, whatever its kind.
pub struct NewDefinition<'a> {
    /// Job or workflow.
    pub kind: DefinitionKind,
    /// Its name.
    pub name: &'a str,
    /// Its canonical JSON.
    pub json: String,
    /// Concurrency policy name (`queue` for workflows: their runs wait for `max_active_runs`).
    pub concurrency: &'a str,
    /// Priority of its tasks.
    pub priority: i64,
}

/// What of a definition decides its next fire time: trigger, time zone and `enabled`, which
/// jobs and workflows both serialize under these names.
fn trigger_key(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    format!(
        "{}|{}|{}",
        value["trigger"], value["timezone"], value["enabled"]
    )
}

/// `Store::apply_job` and `Store::apply_workflow`: one transaction. Errors: `NameTaken` when
/// the other kind has the name.
pub(crate) async fn apply(
    store: &SqliteStore,
    new: &NewDefinition<'_>,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ApplyOutcome, StoreError> {
    let mut tx = store.begin().await?;
    let outcome = apply_definition(&mut tx, new, next_fire_at, now).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(outcome)
}

/// Creates or updates a definition inside `tx`. Errors: `NameTaken` when the other kind has
/// the name.
async fn apply_definition(
    tx: &mut Tx,
    new: &NewDefinition<'_>,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ApplyOutcome, StoreError> {
    let existing = sqlx::query(
        "SELECT j.id, j.version, j.deleted_at_us, v.spec_json, j.kind FROM jobs j \
         JOIN job_versions v ON v.job_id = j.id AND v.version = j.version WHERE j.name = ?",
    )
    .bind(new.name)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let now_us = to_us(now);
    let outcome = |id: i64, version: i64, change: ApplyChange| ApplyOutcome {
        job_id: JobId(id),
        name: new.name.to_owned(),
        version,
        change,
    };
    let Some(row) = existing else {
        let id: i64 = sqlx::query(
            "INSERT INTO jobs (name, kind, version, next_fire_at_us, schedule_anchor_us, \
             created_at_us, updated_at_us) VALUES (?, ?, 1, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.name)
        .bind(new.kind.as_str())
        .bind(next_fire_at.map(to_us))
        .bind(now_us)
        .bind(now_us)
        .bind(now_us)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?
        .get("id");
        insert_version(tx, id, 1, new, now_us).await?;
        return Ok(outcome(id, 1, ApplyChange::Created));
    };
    let id: i64 = row.get("id");
    let version: i64 = row.get("version");
    let deleted = row.get::<Option<i64>, _>("deleted_at_us").is_some();
    let old_json: &str = row.get("spec_json");
    let old_kind = DefinitionKind::parse(row.get("kind"));
    if old_kind != new.kind && !deleted {
        return Err(StoreError::NameTaken {
            name: new.name.to_owned(),
            existing: old_kind.as_str().to_owned(),
        });
    }
    if old_json == new.json && !deleted {
        return Ok(outcome(id, version, ApplyChange::Unchanged));
    }
    let new_version = version + 1;
    let reschedule = deleted || trigger_key(old_json) != trigger_key(&new.json);
    insert_version(tx, id, new_version, new, now_us).await?;
    if reschedule {
        sqlx::query(
            "UPDATE jobs SET version = ?, kind = ?, deleted_at_us = NULL, paused = 0, \
             next_fire_at_us = ?, schedule_anchor_us = ?, updated_at_us = ? WHERE id = ?",
        )
        .bind(new_version)
        .bind(new.kind.as_str())
        .bind(next_fire_at.map(to_us))
        .bind(now_us)
        .bind(now_us)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    } else {
        sqlx::query("UPDATE jobs SET version = ?, updated_at_us = ? WHERE id = ?")
            .bind(new_version)
            .bind(now_us)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    let change = if deleted {
        ApplyChange::Created
    } else {
        ApplyChange::Updated
    };
    Ok(outcome(id, new_version, change))
}

async fn insert_version(
    tx: &mut Tx,
    job_id: i64,
    version: i64,
    new: &NewDefinition<'_>,
    now_us: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_versions (job_id, version, spec_json, concurrency, priority, created_at_us) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(job_id)
    .bind(version)
    .bind(&new.json)
    .bind(new.concurrency)
    .bind(new.priority)
    .bind(now_us)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

fn not_found(kind: DefinitionKind, name: &str) -> StoreError {
    match kind {
        DefinitionKind::Job => StoreError::JobNotFound(name.to_owned()),
        DefinitionKind::Workflow => StoreError::WorkflowNotFound(name.to_owned()),
    }
}

/// `Store::delete_job` and `Store::delete_workflow`: marks the definition deleted and
/// cancels its queued runs, in one transaction. Errors: `JobNotFound` / `WorkflowNotFound`.
pub(crate) async fn delete(
    store: &SqliteStore,
    kind: DefinitionKind,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query(
        "UPDATE jobs SET deleted_at_us = ?, next_fire_at_us = NULL, updated_at_us = ? \
         WHERE name = ? AND kind = ? AND deleted_at_us IS NULL RETURNING id",
    )
    .bind(to_us(now))
    .bind(to_us(now))
    .bind(name)
    .bind(kind.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| not_found(kind, name))?
    .get("id");
    let queued: Vec<i64> = sqlx::query("SELECT id FROM runs WHERE job_id = ? AND state = 'queued'")
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.get("id"))
        .collect();
    let why = format!("{} deleted", kind.as_str());
    for run in queued {
        crate::runs::cancel_in_tx(&mut tx, run, &why, now).await?;
    }
    tx.commit().await.map_err(db_err)
}

/// `Store::set_paused` and `Store::set_workflow_paused`: pauses or resumes a definition's
/// schedule (resuming sets `next_fire_at`), then reads it back. Errors: `JobNotFound` /
/// `WorkflowNotFound`.
pub(crate) async fn set_paused<R: StoredDefinition>(
    store: &SqliteStore,
    name: &str,
    paused: bool,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<R, StoreError> {
    let kind = R::KIND;
    let mut tx = store.begin().await?;
    let done = if paused {
        sqlx::query(
            "UPDATE jobs SET paused = 1, updated_at_us = ? \
             WHERE name = ? AND kind = ? AND deleted_at_us IS NULL",
        )
        .bind(to_us(now))
        .bind(name)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await
    } else {
        sqlx::query(
            "UPDATE jobs SET paused = 0, next_fire_at_us = ?, updated_at_us = ? \
             WHERE name = ? AND kind = ? AND deleted_at_us IS NULL",
        )
        .bind(next_fire_at.map(to_us))
        .bind(to_us(now))
        .bind(name)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await
    }
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(not_found(kind, name));
    }
    tx.commit().await.map_err(db_err)?;
    get(&store.writer, name).await
}

/// Definitions of kind `R` that are not deleted, by name; only `name` when given.
async fn list_in(
    conn: &mut SqliteConnection,
    kind: DefinitionKind,
    name: Option<&str>,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    sqlx::query(
        "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
         ON v.job_id = j.id AND v.version = j.version \
         WHERE j.deleted_at_us IS NULL AND j.kind = ?1 AND (?2 IS NULL OR j.name = ?2) \
         ORDER BY j.name",
    )
    .bind(kind.as_str())
    .bind(name)
    .fetch_all(conn)
    .await
    .map_err(db_err)
}

/// `Store::list_jobs` and `Store::list_workflows`: those not deleted, by name.
pub(crate) async fn list<R: StoredDefinition>(pool: &SqlitePool) -> Result<Vec<R>, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    list_in(&mut conn, R::KIND, None)
        .await?
        .iter()
        .map(R::from_row)
        .collect()
}

/// `Store::get_job` and `Store::get_workflow`. Errors: `JobNotFound` / `WorkflowNotFound`.
pub(crate) async fn get<R: StoredDefinition>(
    pool: &SqlitePool,
    name: &str,
) -> Result<R, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let rows = list_in(&mut conn, R::KIND, Some(name)).await?;
    rows.first()
        .map(R::from_row)
        .unwrap_or_else(|| Err(not_found(R::KIND, name)))
}

/// `Store::job_versions` and `Store::workflow_versions`: all versions, oldest first. Errors:
/// `JobNotFound` / `WorkflowNotFound`.
pub(crate) async fn versions<R: StoredDefinition>(
    pool: &SqlitePool,
    name: &str,
) -> Result<Vec<R::Version>, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let id: i64 =
        sqlx::query("SELECT id FROM jobs WHERE name = ? AND kind = ? AND deleted_at_us IS NULL")
            .bind(name)
            .bind(R::KIND.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| not_found(R::KIND, name))?
            .get("id");
    let rows = sqlx::query(
        "SELECT version, spec_json, created_at_us FROM job_versions WHERE job_id = ? \
         ORDER BY version",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| R::version_from_row(JobId(id), row))
        .collect()
}

/// `Store::due_schedules`: definitions of either kind whose next fire time is at or before
/// `now`, soonest first. Read on the writer, so a tick just moved is never seen again.
pub(crate) async fn due_schedules(
    writer: &SqlitePool,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DueSchedule>, StoreError> {
    let rows = sqlx::query(
        "SELECT j.id, j.version, v.spec_json, j.next_fire_at_us, j.schedule_anchor_us, j.kind \
         FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version \
         WHERE j.next_fire_at_us IS NOT NULL AND j.paused = 0 AND j.deleted_at_us IS NULL \
         AND j.next_fire_at_us <= ? ORDER BY j.next_fire_at_us LIMIT ?",
    )
    .bind(to_us(now))
    .bind(i64::from(limit))
    .fetch_all(writer)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let json: &str = row.get("spec_json");
            let spec = match DefinitionKind::parse(row.get("kind")) {
                DefinitionKind::Job => Definition::Job(from_json("job_versions.spec_json", json)?),
                DefinitionKind::Workflow => {
                    Definition::Workflow(from_json("job_versions.spec_json", json)?)
                }
            };
            Ok(DueSchedule {
                job_id: JobId(row.get("id")),
                version: row.get("version"),
                spec,
                next_fire_at: from_us(row.get("next_fire_at_us")),
                schedule_anchor_at: from_us(row.get("schedule_anchor_us")),
            })
        })
        .collect()
}

/// `Store::next_due_at`: the soonest fire time of any definition not paused or deleted.
pub(crate) async fn next_due_at(writer: &SqlitePool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = sqlx::query(
        "SELECT MIN(next_fire_at_us) AS next_fire_at_us FROM jobs \
         WHERE next_fire_at_us IS NOT NULL AND paused = 0 AND deleted_at_us IS NULL",
    )
    .fetch_one(writer)
    .await
    .map_err(db_err)?;
    Ok(opt_from_us(row.get("next_fire_at_us")))
}

/// What enqueueing needs of a definition version.
pub(crate) struct Policy {
    /// Job or workflow.
    pub kind: DefinitionKind,
    /// The version's concurrency policy (`queue` for workflows).
    pub policy: ConcurrencyPolicy,
    /// Priority of its tasks.
    pub priority: i64,
    /// The version's canonical JSON.
    pub spec_json: String,
    /// Its job runs are routed to agents (the spec has `run_on`).
    pub targeted: bool,
}

/// The kind, concurrency policy, priority and spec of a definition version. Errors:
/// `JobNotFound`; `Corrupt` for an unknown policy.
pub(crate) async fn policy(
    conn: &mut SqliteConnection,
    job_id: i64,
    version: i64,
) -> Result<Policy, StoreError> {
    let row = sqlx::query(
        "SELECT v.concurrency, v.priority, j.kind, v.spec_json FROM job_versions v \
         JOIN jobs j ON j.id = v.job_id WHERE v.job_id = ? AND v.version = ?",
    )
    .bind(job_id)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::JobNotFound(format!("id {job_id} version {version}")))?;
    let policy: ConcurrencyPolicy = from_json(
        "job_versions.concurrency",
        &format!("\"{}\"", row.get::<&str, _>("concurrency")),
    )?;
    let kind = DefinitionKind::parse(row.get("kind"));
    let spec_json: String = row.get("spec_json");
    Ok(Policy {
        kind,
        policy,
        priority: row.get("priority"),
        targeted: jobworks_store::placement::job_spec_json_is_targeted(kind, &spec_json),
        spec_json,
    })
}
