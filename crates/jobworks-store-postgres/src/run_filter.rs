//! The `FROM ... WHERE` of run listings, shared by `list_runs` and `count_runs`.

use crate::codec::{db_err, to_us};
use jobworks_store::{RunFilter, StoreError};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder, Row};

/// Appends `FROM runs r JOIN jobs j ... WHERE ...` for `filter` (everything but its limit).
pub(crate) fn push_from_where(q: &mut QueryBuilder<Postgres>, filter: &RunFilter) {
    q.push(" FROM runs r JOIN jobs j ON j.id = r.job_id WHERE 1 = 1");
    if let Some(job) = &filter.job {
        q.push(" AND j.name = ").push_bind(job.clone());
    }
    if !filter.states.is_empty() {
        q.push(" AND r.state IN (");
        let mut sep = q.separated(", ");
        for state in &filter.states {
            sep.push_bind(state.as_str());
        }
        q.push(")");
    }
    if let Some(since) = filter.since {
        q.push(" AND r.queued_at_us >= ").push_bind(to_us(since));
    }
    if let Some(until) = filter.until {
        q.push(" AND r.queued_at_us < ").push_bind(to_us(until));
    }
    if let Some(before) = filter.before_id {
        q.push(" AND r.id < ").push_bind(before.0);
    }
}

/// `Store::count_runs`: one `COUNT(*)` over the same rows `list_runs` pages through.
pub(crate) async fn count_runs(reader: &PgPool, filter: &RunFilter) -> Result<u64, StoreError> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT COUNT(*) AS n");
    push_from_where(&mut q, filter);
    let row = q.build().fetch_one(reader).await.map_err(db_err)?;
    let count: i64 = row.try_get("n").map_err(db_err)?;
    Ok(u64::try_from(count).unwrap_or(0))
}
