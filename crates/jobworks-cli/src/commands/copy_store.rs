//! `jobworks admin copy-store --from URL --to URL`: moves a whole installation to another
//! database (SQLite → PostgreSQL to grow into a cluster, PostgreSQL → SQLite to go back).
//!
//! Every table is copied row for row through [`TableTransfer`], so ids, every definition
//! version, runs, task instances, attempts, events, logs, tokens and the installation id stay
//! as they were. Refused when the schemas differ, when a server still holds the source's
//! leader lease, or when the target already holds data. Ends by comparing each table's row
//! count and SHA-256 on both sides.

use crate::database::{Database, parse_database_url, redact_password};
use crate::output::{OutputFormat, outln, print_json, print_table, table};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use jobworks_store::transfer::{checksum, schema_difference};
use jobworks_store::{TableChecksum, TableInfo, TableTransfer, Value};
use jobworks_store_postgres::{PostgresStore, PostgresStoreOptions};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};

/// `admin copy-store` flags.
#[derive(clap::Args, Debug)]
pub struct CopyStoreArgs {
    /// The database to copy from: sqlite:PATH or postgres://… (stop its servers first)
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The empty database to copy into (created or migrated): sqlite:PATH or postgres://…
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// Most bound parameters one page's `INSERT` uses (SQLite allows 32766, PostgreSQL 65535).
const PARAMS_PER_PAGE: usize = 30_000;
/// Most rows per page.
const ROWS_PER_PAGE: usize = 500;

/// Tables a fresh schema fills by itself or that hold no user data.
const SEEDED_TABLES: [&str; 2] = ["meta", "leader"];

enum Opened {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Opened {
    fn transfer(&self) -> &dyn TableTransfer {
        match self {
            Opened::Sqlite(s) => s,
            Opened::Postgres(s) => s,
        }
    }

    async fn close(&self) {
        match self {
            Opened::Sqlite(s) => s.close().await,
            Opened::Postgres(s) => s.close().await,
        }
    }
}

/// Opens `url`; the source must exist already (a mistyped path must not copy an empty new
/// file), the target is created or migrated.
async fn open(flag: &str, url: &str, must_exist: bool) -> anyhow::Result<(Opened, String)> {
    let database = parse_database_url(url).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    let shown = database.display();
    let opened = match &database {
        Database::Sqlite(path) => {
            if must_exist && !path.is_file() {
                bail!("{flag}: no Jobworks database at {}", path.display());
            }
            let store = SqliteStore::open(SqliteStoreOptions::new(path))
                .await
                .with_context(|| format!("{flag}: cannot open {}", path.display()))?;
            Opened::Sqlite(store)
        }
        Database::Postgres(url) => {
            let store = PostgresStore::connect(PostgresStoreOptions::new(url.clone()))
                .await
                .with_context(|| format!("{flag}: cannot open {}", redact_password(url)))?;
            Opened::Postgres(store)
        }
    };
    Ok((opened, shown))
}

/// Rows per page for `table`.
fn page_rows(table: &TableInfo) -> u32 {
    (PARAMS_PER_PAGE / table.columns.len().max(1)).clamp(1, ROWS_PER_PAGE) as u32
}

/// One table's verification.
#[derive(serde::Serialize)]
struct TableReport {
    table: String,
    source_rows: u64,
    target_rows: u64,
    source_sha256: String,
    target_sha256: String,
    matches: bool,
}

/// Runs `admin copy-store`.
pub async fn run(args: CopyStoreArgs, format: OutputFormat) -> anyhow::Result<()> {
    if args.from.trim() == args.to.trim() {
        bail!("--from and --to name the same database");
    }
    let (source, from_shown) = open("--from", &args.from, true).await?;
    let result = match open("--to", &args.to, false).await {
        Ok((target, to_shown)) => {
            let r = copy(
                source.transfer(),
                target.transfer(),
                &from_shown,
                &to_shown,
                format,
            )
            .await;
            target.close().await;
            r
        }
        Err(e) => Err(e),
    };
    source.close().await;
    result
}

async fn copy(
    source: &dyn TableTransfer,
    target: &dyn TableTransfer,
    from_shown: &str,
    to_shown: &str,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let tables = source.tables().await?;
    let target_tables = target.tables().await?;
    if let Some(diff) = schema_difference(&tables, &target_tables) {
        bail!(
            "the schemas differ ({}: {} schema version {}, {}: {} schema version {}): {diff}; \
             upgrade both to the same Jobworks release first",
            from_shown,
            source.backend(),
            source.schema_version().await?,
            to_shown,
            target.backend(),
            target.schema_version().await?,
        );
    }
    refuse_live_leader(source, &tables).await?;
    refuse_non_empty(target, &tables).await?;

    let mut counts = Vec::with_capacity(tables.len());
    for t in &tables {
        counts.push(source.count(&t.name).await?);
    }
    let bar = ProgressBar::new(counts.iter().sum());
    bar.set_style(
        ProgressStyle::with_template("{msg:16} [{bar:40}] {pos}/{len} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    for t in &tables {
        bar.set_message(t.name.clone());
        copy_table(source, target, t, &bar)
            .await
            .with_context(|| format!("copying table {}", t.name))?;
    }
    bar.finish_and_clear();
    target.finish_writes(&tables).await?;

    let mut reports = Vec::with_capacity(tables.len());
    for t in &tables {
        let page = page_rows(t);
        let a: TableChecksum = checksum(source, t, page).await?;
        let b: TableChecksum = checksum(target, t, page).await?;
        reports.push(TableReport {
            table: t.name.clone(),
            matches: a == b,
            source_rows: a.rows,
            target_rows: b.rows,
            source_sha256: a.sha256,
            target_sha256: b.sha256,
        });
    }
    let verified = reports.iter().all(|r| r.matches);
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "from": from_shown,
            "to": to_shown,
            "verified": verified,
            "tables": reports,
        }))?,
        OutputFormat::Table => {
            let mut out = table(&["TABLE", "ROWS", "COPIED", "SHA-256", "CHECK"]);
            for r in &reports {
                out.add_row(vec![
                    r.table.clone(),
                    r.source_rows.to_string(),
                    r.target_rows.to_string(),
                    r.source_sha256.chars().take(16).collect(),
                    if r.matches { "ok" } else { "MISMATCH" }.to_string(),
                ]);
            }
            print_table(&out)?;
            if verified {
                outln!(
                    "copied {from_shown} to {to_shown}: {} rows in {} tables, counts and checksums match",
                    reports.iter().map(|r| r.source_rows).sum::<u64>(),
                    reports.len()
                );
            }
        }
    }
    if !verified {
        let bad: Vec<_> = reports
            .iter()
            .filter(|r| !r.matches)
            .map(|r| r.table.as_str())
            .collect();
        bail!(
            "verification failed for {}: the target differs from the source; do not use it",
            bad.join(", ")
        );
    }
    Ok(())
}

/// Copies one table page by page, in key order.
async fn copy_table(
    source: &dyn TableTransfer,
    target: &dyn TableTransfer,
    t: &TableInfo,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let keys = t.key_positions()?;
    if keys.is_empty() {
        bail!("table {} has no primary key to page by", t.name);
    }
    let page = page_rows(t);
    let mut after: Option<Vec<Value>> = None;
    loop {
        let rows = source.read_page(t, after.as_deref(), page).await?;
        target.write_page(t, &rows).await?;
        bar.inc(rows.len() as u64);
        match rows.last() {
            Some(last) if rows.len() as u32 == page => {
                after = Some(keys.iter().map(|&i| last[i].clone()).collect());
            }
            _ => return Ok(()),
        }
    }
}

/// Refuses while the source's leader lease is unexpired: a server is (or just was) running.
async fn refuse_live_leader(
    source: &dyn TableTransfer,
    tables: &[TableInfo],
) -> anyhow::Result<()> {
    let Some(leader) = tables.iter().find(|t| t.name == "leader") else {
        return Ok(());
    };
    let position = |c: &str| leader.columns.iter().position(|x| x == c);
    let (Some(holder), Some(expires)) = (position("holder"), position("expires_at_us")) else {
        return Ok(());
    };
    let now_us = chrono::Utc::now().timestamp_micros();
    for row in source.read_page(leader, None, 10).await? {
        if let (Value::Text(who), Value::Int(until)) = (&row[holder], &row[expires])
            && *until > now_us
        {
            bail!(
                "a server is running on the source: {who} holds the leader lease for another {} ms; \
                 stop every server using it, then copy",
                (until - now_us) / 1000
            );
        }
    }
    Ok(())
}

/// Refuses a target that holds any data (beyond what a fresh schema makes).
async fn refuse_non_empty(target: &dyn TableTransfer, tables: &[TableInfo]) -> anyhow::Result<()> {
    let mut holding = Vec::new();
    for t in tables
        .iter()
        .filter(|t| !SEEDED_TABLES.contains(&t.name.as_str()))
    {
        let n = target.count(&t.name).await?;
        if n > 0 {
            holding.push((t.name.as_str(), n));
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    let runs = holding
        .iter()
        .find(|(name, _)| *name == "runs")
        .map_or(0, |(_, n)| *n);
    let listed: Vec<String> = holding.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    bail!(
        "target holds {runs} runs ({}); copy-store needs an empty database",
        listed.join(", ")
    )
}
