//! The leader lease: one row, taken over with the next epoch when it has expired.

use chrono::{DateTime, Duration, Utc};
use jobworks_store::{Leadership, StoreError};
use sqlx::PgPool;
use sqlx::postgres::PgRow;

use crate::tx::Tx;

use crate::codec::{col, db_err, from_us, to_us};

fn record(row: &PgRow) -> Result<Leadership, StoreError> {
    Ok(Leadership {
        holder: col(row, "holder")?,
        epoch: col(row, "epoch")?,
        since: from_us(col(row, "since_us")?),
        expires_at: from_us(col(row, "expires_at_us")?),
    })
}

/// `Store::acquire_leadership`: one `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`,
/// atomic however many servers race (the row lock it takes orders them). A caller that wrote
/// gets exactly the lease it wrote (never one a racer wrote after it); a caller that did not
/// gets the current lease as read afterwards (another holder's, valid at `now`).
pub(crate) async fn acquire(
    writer: &PgPool,
    holder: &str,
    ttl_ms: u64,
    now: DateTime<Utc>,
) -> Result<Leadership, StoreError> {
    let ttl = Duration::milliseconds(i64::try_from(ttl_ms).unwrap_or(i64::MAX / 1000));
    let expires = now
        .checked_add_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    // Insert the first lease, or take over an expired one (next epoch), or renew our own;
    // a valid lease of another holder matches neither branch and is left as it is.
    let written = sqlx::query(
        "INSERT INTO leader (id, holder, epoch, since_us, expires_at_us) VALUES (1, $1, 1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET \
           epoch = CASE WHEN leader.holder = $1 AND leader.expires_at_us > $2 \
                        THEN leader.epoch ELSE leader.epoch + 1 END, \
           since_us = CASE WHEN leader.holder = $1 AND leader.expires_at_us > $2 \
                           THEN leader.since_us ELSE $2 END, \
           holder = $1, expires_at_us = $3 \
         WHERE leader.holder = $1 OR leader.expires_at_us <= $2 \
         RETURNING holder, epoch, since_us, expires_at_us",
    )
    .bind(holder)
    .bind(to_us(now))
    .bind(to_us(expires))
    .fetch_optional(writer)
    .await
    .map_err(db_err)?;
    if let Some(row) = written {
        return record(&row);
    }
    let row = sqlx::query("SELECT holder, epoch, since_us, expires_at_us FROM leader WHERE id = 1")
        .fetch_one(writer)
        .await
        .map_err(db_err)?;
    record(&row)
}

/// `Store::release_leadership`: expires the lease now if `holder` holds it at `epoch`.
pub(crate) async fn release(
    writer: &PgPool,
    holder: &str,
    epoch: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE leader SET expires_at_us = $3 WHERE id = 1 AND holder = $1 AND epoch = $2 \
         AND expires_at_us > $3",
    )
    .bind(holder)
    .bind(epoch)
    .bind(to_us(now))
    .execute(writer)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// `Store::leadership`.
pub(crate) async fn current(reader: &PgPool) -> Result<Option<Leadership>, StoreError> {
    let row = sqlx::query("SELECT holder, epoch, since_us, expires_at_us FROM leader WHERE id = 1")
        .fetch_optional(reader)
        .await
        .map_err(db_err)?;
    row.as_ref().map(record).transpose()
}

/// The fencing check of a leader-only write, inside its transaction: `Err(NotLeader)` unless
/// `epoch` is the stored epoch and its lease is valid at `now`. The row is read `FOR SHARE`:
/// a takeover waits until this transaction ends, so the write it guards cannot commit after
/// another server became leader.
pub(crate) async fn check_fence(
    tx: &mut Tx,
    epoch: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let valid: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM leader WHERE id = 1 AND epoch = $1 AND expires_at_us > $2 FOR SHARE",
    )
    .bind(epoch)
    .bind(to_us(now))
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    match valid {
        Some(_) => Ok(()),
        None => Err(StoreError::NotLeader(epoch)),
    }
}
