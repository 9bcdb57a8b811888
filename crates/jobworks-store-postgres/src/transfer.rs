//! [`TableTransfer`] on PostgreSQL: the schema from `information_schema` and `pg_constraint`
//! (the current schema only, so a store in its own schema sees its own tables), cells decoded
//! and bound by the column's declared type, one transaction per page, identity sequences
//! moved past the copied ids at the end with `setval`.

use jobworks_store::transfer::{dependency_order, insert_sql, select_sql};
use jobworks_store::{StoreError, TableInfo, TableTransfer, Value};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Row, TypeInfo, ValueRef};

use crate::PostgresStore;
use crate::codec::db_err;

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

/// The column types the schema uses, as `information_schema.columns.data_type` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnType {
    Int,
    Real,
    Bool,
    Text,
    Bytes,
}

fn column_type(data_type: &str) -> ColumnType {
    match data_type {
        "bigint" | "integer" | "smallint" => ColumnType::Int,
        "double precision" | "real" | "numeric" => ColumnType::Real,
        "boolean" => ColumnType::Bool,
        "bytea" => ColumnType::Bytes,
        _ => ColumnType::Text,
    }
}

/// Binds `value` as the column's type: integers become reals or booleans (0/1) where the
/// column says so. Errors: `Corrupt` for a cell the column cannot hold.
fn bind_as<'q>(
    query: PgQuery<'q>,
    table: &str,
    column: &str,
    ty: ColumnType,
    value: &Value,
) -> Result<PgQuery<'q>, StoreError> {
    Ok(match (ty, value) {
        (ColumnType::Int, Value::Null) => query.bind(None::<i64>),
        (ColumnType::Real, Value::Null) => query.bind(None::<f64>),
        (ColumnType::Bool, Value::Null) => query.bind(None::<bool>),
        (ColumnType::Text, Value::Null) => query.bind(None::<String>),
        (ColumnType::Bytes, Value::Null) => query.bind(None::<Vec<u8>>),
        (ColumnType::Int, Value::Int(i)) => query.bind(*i),
        (ColumnType::Real, Value::Int(i)) => query.bind(*i as f64),
        (ColumnType::Real, Value::Real(f)) => query.bind(*f),
        (ColumnType::Bool, Value::Int(i)) => query.bind(*i != 0),
        (ColumnType::Text, Value::Text(s)) => query.bind(s.clone()),
        (ColumnType::Bytes, Value::Blob(b)) => query.bind(b.clone()),
        (ColumnType::Bytes, Value::Text(s)) => query.bind(s.as_bytes().to_vec()),
        (ty, v) => {
            return Err(StoreError::Corrupt(format!(
                "table {table}, column {column}: cannot store {v:?} in a {ty:?} column"
            )));
        }
    })
}

fn bind_key<'q>(query: PgQuery<'q>, value: &Value) -> PgQuery<'q> {
    match value {
        Value::Null => query.bind(None::<i64>),
        Value::Int(i) => query.bind(*i),
        Value::Real(f) => query.bind(*f),
        Value::Text(s) => query.bind(s.clone()),
        Value::Blob(b) => query.bind(b.clone()),
    }
}

fn cell(row: &PgRow, i: usize) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let name = raw.type_info().name().to_ascii_uppercase();
    Ok(match name.as_str() {
        "INT8" => Value::Int(row.try_get(i).map_err(db_err)?),
        "INT4" => Value::Int(row.try_get::<i32, _>(i).map_err(db_err)?.into()),
        "INT2" => Value::Int(row.try_get::<i16, _>(i).map_err(db_err)?.into()),
        "BOOL" => Value::Int(row.try_get::<bool, _>(i).map_err(db_err)?.into()),
        "FLOAT8" => Value::Real(row.try_get(i).map_err(db_err)?),
        "FLOAT4" => Value::Real(row.try_get::<f32, _>(i).map_err(db_err)?.into()),
        "BYTEA" => Value::Blob(row.try_get(i).map_err(db_err)?),
        _ => Value::Text(row.try_get(i).map_err(db_err)?),
    })
}

impl PostgresStore {
    /// Each column's type in `table`, in `table.columns` order.
    async fn column_types(&self, table: &TableInfo) -> Result<Vec<ColumnType>, StoreError> {
        let rows = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS ty FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&table.name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        table
            .columns
            .iter()
            .map(|c| {
                rows.iter()
                    .find(|r| r.get::<String, _>("name") == *c)
                    .map(|r| column_type(&r.get::<String, _>("ty")))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("table {}: no column {c} here", table.name))
                    })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl TableTransfer for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0)::int8 AS v FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.get("v"))
    }

    async fn tables(&self) -> Result<Vec<TableInfo>, StoreError> {
        let columns = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
             ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let keys = sqlx::query(
            "SELECT kcu.table_name::text AS t, kcu.column_name::text AS c \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_name = tc.constraint_name \
              AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name \
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() \
             ORDER BY kcu.table_name, kcu.ordinal_position",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let references: Vec<(String, String)> = sqlx::query(
            "SELECT c.relname::text AS t, r.relname::text AS r FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE k.contype = 'f' AND n.nspname = current_schema()",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| (row.get("t"), row.get("r")))
        .collect();
        let mut tables: Vec<TableInfo> = Vec::new();
        for row in &columns {
            let (t, c): (String, String) = (row.get("t"), row.get("c"));
            match tables.last_mut() {
                Some(last) if last.name == t => last.columns.push(c),
                _ => tables.push(TableInfo {
                    name: t,
                    columns: vec![c],
                    key: Vec::new(),
                }),
            }
        }
        for row in &keys {
            let (t, c): (String, String) = (row.get("t"), row.get("c"));
            if let Some(table) = tables.iter_mut().find(|x| x.name == t) {
                table.key.push(c);
            }
        }
        dependency_order(tables, &references)
    }

    async fn read_page(
        &self,
        table: &TableInfo,
        after: Option<&[Value]>,
        limit: u32,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let sql = select_sql(table, after.is_some(), limit, |n| format!("${n}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in after.unwrap_or_default() {
            query = bind_key(query, v);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|row| (0..table.columns.len()).map(|i| cell(row, i)).collect())
            .collect()
    }

    async fn write_page(&self, table: &TableInfo, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let types = self.column_types(table).await?;
        let sql = insert_sql(table, rows.len(), |n| format!("${n}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in rows {
            if row.len() != table.columns.len() {
                return Err(StoreError::Corrupt(format!(
                    "table {}: a row has {} cells for {} columns",
                    table.name,
                    row.len(),
                    table.columns.len()
                )));
            }
            for ((v, ty), column) in row.iter().zip(&types).zip(&table.columns) {
                query = bind_as(query, &table.name, column, *ty, v)?;
            }
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        query.execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn finish_writes(&self, tables: &[TableInfo]) -> Result<(), StoreError> {
        for table in tables {
            let [key] = table.key.as_slice() else {
                continue;
            };
            let quoted_table = format!("\"{}\"", table.name.replace('"', "\"\""));
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1::text, $2::text)")
                    .bind(&quoted_table)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
            // only identity columns have a sequence; an empty table leaves it alone
            let Some(sequence) = sequence else {
                continue;
            };
            let quoted_key = format!("\"{}\"", key.replace('"', "\"\""));
            let sql = format!(
                "SELECT setval($1::regclass, MAX({quoted_key})) FROM {quoted_table} \
                 HAVING MAX({quoted_key}) IS NOT NULL"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(sequence)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn count(&self, table: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }
}
