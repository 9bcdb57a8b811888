//! Moving a whole installation between backends, table by table (`jobworks admin
//! copy-store`).
//!
//! [`TableTransfer`] is a small interface below the [`Store`](crate::Store) trait: it sees
//! tables, columns and rows, not jobs and runs, so a copy takes every row of every table
//! (definitions with all versions, runs, task instances, attempts, events, logs, tokens, the
//! installation id) without a method per record type. Both backends keep the same table and
//! column names, times as integer microseconds and flags as integer 0/1, so a row read from
//! one can be written to the other after a per-column type conversion the writer does.
//!
//! The shared pieces here are backend-free: the canonical row encoding and its SHA-256
//! ([`checksum`]), the comparison of two schemas ([`schema_difference`]), the foreign-key
//! order of tables ([`dependency_order`]) and the `INSERT … ON CONFLICT` text
//! ([`insert_sql`]).

use crate::StoreError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// One cell, in the few types both backends store.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer (ids, times in µs, counts, 0/1 flags).
    Int(i64),
    /// A floating-point number (batch progress).
    Real(f64),
    /// Text (names, states, JSON documents).
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// A table as the copy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// Table name (e.g. `runs`).
    pub name: String,
    /// Column names; rows are read and written in this order.
    pub columns: Vec<String>,
    /// Primary-key columns, in key order; pages are read ordered by them.
    pub key: Vec<String>,
}

impl TableInfo {
    /// Positions of the key columns in `columns`. Errors: `Corrupt` if a key column is not
    /// among the columns.
    pub fn key_positions(&self) -> Result<Vec<usize>, StoreError> {
        self.key
            .iter()
            .map(|k| {
                self.columns.iter().position(|c| c == k).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "table {}: key column {k} is not among its columns",
                        self.name
                    ))
                })
            })
            .collect()
    }
}

/// A table's row count and SHA-256 (lowercase hex) of its rows in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableChecksum {
    /// Rows.
    pub rows: u64,
    /// SHA-256 over the canonical encoding (see [`encode_row`]), hex.
    pub sha256: String,
}

/// Table-level access to a backend, for copying an installation.
#[async_trait::async_trait]
pub trait TableTransfer: Send + Sync {
    /// The backend's name for messages (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// The latest applied schema migration (its version number), for messages.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Every table except `_sqlx_migrations`, dependencies first (a table comes after every
    /// table its foreign keys reference), with columns and primary key as the schema says.
    async fn tables(&self) -> Result<Vec<TableInfo>, StoreError>;

    /// Up to `limit` rows of `table` whose key is above `after` (all rows from the first when
    /// `None`), ordered by key; cells in `table.columns` order.
    async fn read_page(
        &self,
        table: &TableInfo,
        after: Option<&[Value]>,
        limit: u32,
    ) -> Result<Vec<Vec<Value>>, StoreError>;

    /// Writes `rows` (cells in `table.columns` order) in one transaction, converting each
    /// cell to the column's type here; a row whose key exists replaces it (the installation
    /// id a fresh schema makes). Errors: `Corrupt` for a cell the column cannot hold.
    async fn write_page(&self, table: &TableInfo, rows: &[Vec<Value>]) -> Result<(), StoreError>;

    /// After the last page: makes generated ids continue above the copied ones.
    async fn finish_writes(&self, tables: &[TableInfo]) -> Result<(), StoreError>;

    /// Rows in `table`.
    async fn count(&self, table: &str) -> Result<u64, StoreError>;
}

/// Appends the canonical encoding of one row to `out`: the cell count (u32 big-endian), then
/// per cell a tag byte and its payload — `0` NULL; `1` integer, 8 bytes big-endian; `2` real,
/// its IEEE-754 bits as 8 bytes big-endian; `3` text and `4` bytes, a u64 big-endian length
/// then the bytes. Lengths make the encoding unambiguous: no two different rows encode alike.
pub fn encode_row(row: &[Value], out: &mut Vec<u8>) {
    out.extend_from_slice(&(row.len() as u32).to_be_bytes());
    for cell in row {
        match cell {
            Value::Null => out.push(0),
            Value::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Value::Real(f) => {
                out.push(2);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Text(s) => {
                out.push(3);
                out.extend_from_slice(&(s.len() as u64).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Blob(b) => {
                out.push(4);
                out.extend_from_slice(&(b.len() as u64).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
}

/// Counts `table`'s rows and hashes them in key order, reading pages of `page` rows.
pub async fn checksum(
    store: &dyn TableTransfer,
    table: &TableInfo,
    page: u32,
) -> Result<TableChecksum, StoreError> {
    let keys = table.key_positions()?;
    let mut hasher = Sha256::new();
    let mut rows = 0u64;
    let mut after: Option<Vec<Value>> = None;
    let mut buf = Vec::new();
    loop {
        let batch = store.read_page(table, after.as_deref(), page).await?;
        for row in &batch {
            buf.clear();
            encode_row(row, &mut buf);
            hasher.update(&buf);
        }
        rows += batch.len() as u64;
        match batch.last() {
            Some(last) if batch.len() as u32 == page => {
                after = Some(keys.iter().map(|&i| last[i].clone()).collect());
            }
            _ => break,
        }
    }
    Ok(TableChecksum {
        rows,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// What differs between two schemas' tables and columns (names compared; column order and
/// types may differ), one line per difference; `None` when they match.
pub fn schema_difference(from: &[TableInfo], to: &[TableInfo]) -> Option<String> {
    let by_name = |ts: &[TableInfo]| -> BTreeMap<String, BTreeSet<String>> {
        ts.iter()
            .map(|t| (t.name.clone(), t.columns.iter().cloned().collect()))
            .collect()
    };
    let (a, b) = (by_name(from), by_name(to));
    let mut lines = Vec::new();
    for (name, cols) in &a {
        match b.get(name) {
            None => lines.push(format!("table {name} is only in the source")),
            Some(other) => {
                for c in cols.difference(other) {
                    lines.push(format!("column {name}.{c} is only in the source"));
                }
                for c in other.difference(cols) {
                    lines.push(format!("column {name}.{c} is only in the target"));
                }
            }
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        lines.push(format!("table {name} is only in the target"));
    }
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// Orders `tables` so that each comes after the tables it references; `references` holds
/// (table, referenced table) pairs. Self-references are ignored; ties go by name. Errors:
/// `Corrupt` on a reference cycle between tables.
pub fn dependency_order(
    tables: Vec<TableInfo>,
    references: &[(String, String)],
) -> Result<Vec<TableInfo>, StoreError> {
    let mut pending: BTreeMap<String, TableInfo> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .keys()
            .find(|name| {
                !references
                    .iter()
                    .any(|(t, r)| t == *name && r != *name && pending.contains_key(r))
            })
            .cloned();
        let Some(name) = ready else {
            let names: Vec<_> = pending.keys().cloned().collect();
            return Err(StoreError::Corrupt(format!(
                "foreign keys form a cycle among tables {}",
                names.join(", ")
            )));
        };
        ordered.extend(pending.remove(&name));
    }
    Ok(ordered)
}

/// `INSERT INTO "t" ("a", …) VALUES (…), … ON CONFLICT ("key", …) DO UPDATE SET …` for
/// `rows` rows, placeholders made by `placeholder(n)` (n from 1). Identifiers are quoted;
/// they come from the schema, never from users.
pub fn insert_sql(table: &TableInfo, rows: usize, placeholder: impl Fn(usize) -> String) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let cols: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        quote(&table.name),
        cols.join(", ")
    );
    let width = table.columns.len();
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let cells: Vec<String> = (1..=width).map(|c| placeholder(r * width + c)).collect();
        sql.push('(');
        sql.push_str(&cells.join(", "));
        sql.push(')');
    }
    if !table.key.is_empty() {
        let keys: Vec<String> = table.key.iter().map(|k| quote(k)).collect();
        let updates: Vec<String> = table
            .columns
            .iter()
            .filter(|c| !table.key.contains(c))
            .map(|c| format!("{0} = excluded.{0}", quote(c)))
            .collect();
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                updates.join(", ")
            ));
        }
    }
    sql
}

/// `SELECT "a", … FROM "t" [WHERE ("k", …) > (…)] ORDER BY "k", … LIMIT n`, with the key
/// bound through `placeholder(n)` (n from 1) when `after` is set.
pub fn select_sql(
    table: &TableInfo,
    after: bool,
    limit: u32,
    placeholder: impl Fn(usize) -> String,
) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let cols: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    let keys: Vec<String> = table.key.iter().map(|k| quote(k)).collect();
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), quote(&table.name));
    if after && !keys.is_empty() {
        let marks: Vec<String> = (1..=keys.len()).map(&placeholder).collect();
        sql.push_str(&format!(
            " WHERE ({}) > ({})",
            keys.join(", "),
            marks.join(", ")
        ));
    }
    if !keys.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
    }
    sql.push_str(&format!(" LIMIT {limit}"));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_encoding_is_fixed_and_unambiguous() {
        let mut out = Vec::new();
        encode_row(
            &[
                Value::Null,
                Value::Int(1),
                Value::Real(0.5),
                Value::Text("ab".into()),
                Value::Blob(vec![7]),
            ],
            &mut out,
        );
        let want: Vec<u8> = [
            vec![0, 0, 0, 5, 0],
            vec![1, 0, 0, 0, 0, 0, 0, 0, 1],
            vec![2, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0],
            vec![3, 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b'],
            vec![4, 0, 0, 0, 0, 0, 0, 0, 1, 7],
        ]
        .concat();
        assert_eq!(out, want);
        // splitting text differently changes the bytes: lengths keep rows apart
        let enc = |row: &[Value]| {
            let mut v = Vec::new();
            encode_row(row, &mut v);
            v
        };
        let a = enc(&[Value::Text("a".into()), Value::Text("bc".into())]);
        let b = enc(&[Value::Text("ab".into()), Value::Text("c".into())]);
        assert_ne!(a, b);
        // NULL, 0 and "" are three different cells
        let cells = [Value::Null, Value::Int(0), Value::Text(String::new())];
        let encoded: BTreeSet<Vec<u8>> =
            cells.iter().map(|c| enc(std::slice::from_ref(c))).collect();
        assert_eq!(encoded.len(), 3);
    }

    fn table(name: &str, columns: &[&str]) -> TableInfo {
        TableInfo {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            key: vec![columns[0].to_string()],
        }
    }

    #[test]
    fn schema_differences_are_named() {
        let a = [table("runs", &["id", "state"]), table("jobs", &["id"])];
        let b = [table("runs", &["id", "kind"]), table("meta", &["key"])];
        let diff = schema_difference(&a, &b).expect("differs");
        assert_eq!(
            diff,
            "table jobs is only in the source; column runs.state is only in the source; \
             column runs.kind is only in the target; table meta is only in the target"
        );
        assert_eq!(schema_difference(&a, &a), None);
    }

    #[test]
    fn tables_come_after_what_they_reference() {
        let tables = vec![
            table("attempts", &["id"]),
            table("runs", &["id"]),
            table("jobs", &["id"]),
        ];
        let refs = [
            ("attempts".to_string(), "runs".to_string()),
            ("runs".to_string(), "jobs".to_string()),
            ("runs".to_string(), "runs".to_string()),
        ];
        let names: Vec<_> = dependency_order(tables, &refs)
            .expect("no cycle")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["jobs", "runs", "attempts"]);
        let cycle = [
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
        ];
        let err = dependency_order(vec![table("a", &["id"]), table("b", &["id"])], &cycle);
        assert!(err.is_err());
    }

    #[test]
    fn statements_quote_and_number_their_parameters() {
        let t = TableInfo {
            name: "meta".into(),
            columns: vec!["key".into(), "value".into()],
            key: vec!["key".into()],
        };
        let pg = |n: usize| format!("${n}");
        assert_eq!(
            insert_sql(&t, 2, pg),
            "INSERT INTO \"meta\" (\"key\", \"value\") VALUES ($1, $2), ($3, $4) \
             ON CONFLICT (\"key\") DO UPDATE SET \"value\" = excluded.\"value\""
        );
        assert_eq!(
            select_sql(&t, true, 10, |_| "?".into()),
            "SELECT \"key\", \"value\" FROM \"meta\" WHERE (\"key\") > (?) ORDER BY \"key\" LIMIT 10"
        );
    }
}
