//! [`TableTransfer`] on SQLite: the schema from `sqlite_master` and the `pragma_*` table
//! functions, cells by their stored type (SQLite is dynamically typed), writes on the writer
//! connection, one `BEGIN IMMEDIATE` transaction per page.

use jobworks_store::transfer::{dependency_order, insert_sql, select_sql};
use jobworks_store::{StoreError, TableInfo, TableTransfer, Value};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, TypeInfo, ValueRef};

use crate::SqliteStore;
use crate::codec::db_err;

fn bind_value<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments>,
    value: &Value,
) -> sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments> {
    match value {
        Value::Null => query.bind(None::<i64>),
        Value::Int(i) => query.bind(*i),
        Value::Real(f) => query.bind(*f),
        Value::Text(s) => query.bind(s.clone()),
        Value::Blob(b) => query.bind(b.clone()),
    }
}

fn cell(row: &SqliteRow, i: usize) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_ascii_uppercase();
    Ok(match kind.as_str() {
        "INTEGER" | "BOOLEAN" | "INT" => Value::Int(row.try_get(i).map_err(db_err)?),
        "REAL" | "FLOAT" | "DOUBLE" => Value::Real(row.try_get(i).map_err(db_err)?),
        "BLOB" => Value::Blob(row.try_get(i).map_err(db_err)?),
        _ => Value::Text(row.try_get(i).map_err(db_err)?),
    })
}

#[async_trait::async_trait]
impl TableTransfer for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM _sqlx_migrations")
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(row.get("v"))
    }

    async fn tables(&self) -> Result<Vec<TableInfo>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let mut tables = Vec::with_capacity(names.len());
        let mut references = Vec::new();
        for name in names {
            let columns = sqlx::query("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid")
                .bind(&name)
                .fetch_all(&self.reader)
                .await
                .map_err(db_err)?;
            let mut key: Vec<(i64, String)> = columns
                .iter()
                .filter(|c| c.get::<i64, _>("pk") > 0)
                .map(|c| (c.get("pk"), c.get("name")))
                .collect();
            key.sort();
            let refs: Vec<String> =
                sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)")
                    .bind(&name)
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_err)?;
            references.extend(refs.into_iter().map(|r| (name.clone(), r)));
            tables.push(TableInfo {
                columns: columns.iter().map(|c| c.get("name")).collect(),
                key: key.into_iter().map(|(_, k)| k).collect(),
                name,
            });
        }
        dependency_order(tables, &references)
    }

    async fn read_page(
        &self,
        table: &TableInfo,
        after: Option<&[Value]>,
        limit: u32,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let sql = select_sql(table, after.is_some(), limit, |_| "?".to_string());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in after.unwrap_or_default() {
            query = bind_value(query, v);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter()
            .map(|row| (0..table.columns.len()).map(|i| cell(row, i)).collect())
            .collect()
    }

    async fn write_page(&self, table: &TableInfo, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = insert_sql(table, rows.len(), |_| "?".to_string());
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
            for v in row {
                query = bind_value(query, v);
            }
        }
        let mut tx = self.begin().await?;
        query.execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn finish_writes(&self, _tables: &[TableInfo]) -> Result<(), StoreError> {
        // `INTEGER PRIMARY KEY` ids continue from the largest rowid by themselves.
        Ok(())
    }

    async fn count(&self, table: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }
}
