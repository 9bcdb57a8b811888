//! Definitions (jobs and workflows share the `jobs` table and its versions): apply, delete,
//! pause, and reading workflows back.

use chrono::{DateTime, Utc};
use jobworks_domain::JobId;
use jobworks_store::*;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};

use crate::codec::*;

use crate::tx::Tx;

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

/// Creates or updates a definition (see `Store::apply_job`). Errors: `NameTaken` when the
/// other kind has the name.
pub async fn apply_definition(
    tx: &mut Tx,
    new: &NewDefinition<'_>,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ApplyOutcome, StoreError> {
    let existing = sqlx::query(
        "SELECT j.id, j.version, j.deleted_at_us, v.spec_json, j.kind FROM jobs j \
         JOIN job_versions v ON v.job_id = j.id AND v.version = j.version WHERE j.name = $1 \
         FOR UPDATE OF j",
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
             created_at_us, updated_at_us) VALUES ($1, $2, 1, $3, $4, $5, $6) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(new.name)
        .bind(new.kind.as_str())
        .bind(next_fire_at.map(to_us))
        .bind(now_us)
        .bind(now_us)
        .bind(now_us)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        // another server created the name since our read: run again, as an update
        .ok_or_else(|| StoreError::Busy(format!("`{}` was created concurrently", new.name)))?
        .get("id");
        insert_version(tx, id, 1, new, now_us).await?;
        tx.definitions_changed();
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
    tx.definitions_changed();
    let reschedule = deleted || trigger_key(old_json) != trigger_key(&new.json);
    insert_version(tx, id, new_version, new, now_us).await?;
    if reschedule {
        sqlx::query(
            "UPDATE jobs SET version = $1, kind = $2, deleted_at_us = NULL, paused = 0, \
             next_fire_at_us = $3, schedule_anchor_us = $4, updated_at_us = $5 WHERE id = $6",
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
        sqlx::query("UPDATE jobs SET version = $1, updated_at_us = $2 WHERE id = $3")
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
         VALUES ($1, $2, $3, $4, $5, $6)",
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

/// Deletes a definition and cancels its queued runs. Errors: `JobNotFound` /
/// `WorkflowNotFound`.
pub async fn delete_definition(
    tx: &mut Tx,
    kind: DefinitionKind,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id: i64 = sqlx::query(
        "UPDATE jobs SET deleted_at_us = $1, next_fire_at_us = NULL, updated_at_us = $2 \
         WHERE name = $3 AND kind = $4 AND deleted_at_us IS NULL RETURNING id",
    )
    .bind(to_us(now))
    .bind(to_us(now))
    .bind(name)
    .bind(kind.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| not_found(kind, name))?
    .get("id");
    tx.definitions_changed();
    let queued: Vec<i64> =
        sqlx::query("SELECT id FROM runs WHERE job_id = $1 AND state = 'queued'")
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.get("id"))
            .collect();
    let why = format!("{} deleted", kind.as_str());
    for run in queued {
        crate::runs::cancel_in_tx(tx, run, &why, now).await?;
    }
    Ok(())
}

/// Pauses or resumes a definition's schedule. Errors: `JobNotFound` / `WorkflowNotFound`.
pub async fn pause_definition(
    tx: &mut Tx,
    kind: DefinitionKind,
    name: &str,
    paused: bool,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let done = if paused {
        sqlx::query(
            "UPDATE jobs SET paused = 1, updated_at_us = $1 \
             WHERE name = $2 AND kind = $3 AND deleted_at_us IS NULL",
        )
        .bind(to_us(now))
        .bind(name)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await
    } else {
        sqlx::query(
            "UPDATE jobs SET paused = 0, next_fire_at_us = $1, updated_at_us = $2 \
             WHERE name = $3 AND kind = $4 AND deleted_at_us IS NULL",
        )
        .bind(next_fire_at.map(to_us))
        .bind(to_us(now))
        .bind(name)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await
    }
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(not_found(kind, name));
    }
    tx.definitions_changed();
    Ok(())
}

fn workflow_from_row(row: &PgRow) -> Result<WorkflowRecord, StoreError> {
    Ok(WorkflowRecord {
        id: JobId(row.get("id")),
        name: row.get("name"),
        version: row.get("version"),
        spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
        paused: row.get::<i64, _>("paused") != 0,
        next_fire_at: opt_from_us(row.get("next_fire_at_us")),
        created_at: from_us(row.get("created_at_us")),
        updated_at: from_us(row.get("updated_at_us")),
    })
}

/// Workflows that are not deleted, by name; only `name` when given.
pub async fn list_workflows(
    conn: &mut PgConnection,
    name: Option<&str>,
) -> Result<Vec<WorkflowRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT j.*, v.spec_json FROM jobs j JOIN job_versions v \
         ON v.job_id = j.id AND v.version = j.version \
         WHERE j.deleted_at_us IS NULL AND j.kind = 'workflow' AND ($1 IS NULL OR j.name = $1) \
         ORDER BY j.name",
    )
    .bind(name)
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.iter().map(workflow_from_row).collect()
}

/// All versions of workflow `id`, oldest first.
pub async fn workflow_versions(
    conn: &mut PgConnection,
    id: JobId,
) -> Result<Vec<WorkflowVersionRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT version, spec_json, created_at_us FROM job_versions WHERE job_id = $1 \
         ORDER BY version",
    )
    .bind(id.0)
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            Ok(WorkflowVersionRecord {
                version: row.get("version"),
                spec: from_json("job_versions.spec_json", row.get("spec_json"))?,
                created_at: from_us(row.get("created_at_us")),
            })
        })
        .collect()
}
