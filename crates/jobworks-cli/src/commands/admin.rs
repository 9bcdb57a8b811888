//! `jobworks admin ...`: offline maintenance on the database file, no server needed.
//!
//! - `admin token create NAME`: recovery when no admin token is at hand (lost, revoked,
//!   expired): makes an admin token directly in the database, prints it once, stores only
//!   its hash. Works with the server stopped (or running: SQLite serialises the write).
//! - `admin vacuum`: reclaims the space of deleted runs (SQLite `VACUUM`). Offline by design:
//!   it rewrites the whole file and holds the only write lock while it runs, so run it with
//!   the server stopped.
//! - `admin copy-store --from URL --to URL`: moves an installation to another database
//!   (`copy_store`).

use crate::commands::tokens::{expires_in_s, print_created};
use crate::output::{OutputFormat, outln, print_json};
use anyhow::{Context, bail};
use jobworks_protocol::CreatedTokenView;
use jobworks_server::tokens::{TokenRequest, mint_token};
use jobworks_store_sqlite::{SqliteStore, SqliteStoreOptions};
use std::path::{Path, PathBuf};

/// `jobworks admin ...`.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Tokens, offline
    #[command(subcommand)]
    Token(AdminTokenCommand),
    /// Reclaim the space of deleted runs (SQLite VACUUM); stop the server first
    Vacuum(DatabaseArg),
    /// Copy a whole installation to an empty database (e.g. SQLite to PostgreSQL), then
    /// verify counts and checksums per table; stop the servers first
    CopyStore(crate::commands::copy_store::CopyStoreArgs),
}

/// `jobworks admin token ...`.
#[derive(clap::Subcommand, Debug)]
pub enum AdminTokenCommand {
    /// Create an admin token directly in the database (recovery; no server or token needed)
    ///
    /// The secret is printed once; only its SHA-256 is stored.
    Create(AdminTokenArgs),
}

/// The database file.
#[derive(clap::Args, Debug)]
pub struct DatabaseArg {
    /// The server's SQLite database file (its --db)
    #[arg(
        long,
        env = "JOBWORKS_DB",
        default_value = "jobworks.db",
        value_name = "PATH"
    )]
    pub database: PathBuf,
}

/// `admin token create` flags.
#[derive(clap::Args, Debug)]
pub struct AdminTokenArgs {
    /// Token name (e.g. admin2)
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Lifetime, e.g. 90d [default: never expires]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

/// Opens an existing database (never creates one: a mistyped path must not yield a token
/// in a new, empty database).
async fn open_existing(path: &Path) -> anyhow::Result<SqliteStore> {
    if !path.is_file() {
        bail!(
            "no Jobworks database at {}: pass the server's database file with --database PATH \
             (the server's --db, default jobworks.db in the directory it was started in)",
            path.display()
        );
    }
    SqliteStore::open(SqliteStoreOptions::new(path))
        .await
        .with_context(|| format!("cannot open the Jobworks database {}", path.display()))
}

/// Runs one admin command.
pub async fn run(command: AdminCommand, format: OutputFormat) -> anyhow::Result<()> {
    match command {
        AdminCommand::Token(AdminTokenCommand::Create(args)) => {
            let store = open_existing(&args.database.database).await?;
            let now = chrono::Utc::now();
            let expires_at = match expires_in_s(args.expires.as_deref())? {
                Some(s) => Some(
                    i64::try_from(s)
                        .ok()
                        .and_then(chrono::TimeDelta::try_seconds)
                        .and_then(|lifetime| now.checked_add_signed(lifetime))
                        .ok_or_else(|| {
                            anyhow::anyhow!("--expires: {s} s is too far in the future")
                        })?,
                ),
                None => None,
            };
            let request = TokenRequest {
                name: args.name,
                owner: None,
                admin: true,
                expires_at,
            };
            let minted = mint_token(&store, request, now).await;
            store.close().await;
            let (secret, record) = minted?;
            let created = CreatedTokenView {
                token: secret,
                info: jobworks_server::api::token_view(&record, now),
            };
            print_created(&created, format)
        }
        AdminCommand::CopyStore(args) => crate::commands::copy_store::run(args, format).await,
        AdminCommand::Vacuum(args) => {
            let store = open_existing(&args.database).await?;
            let report = store.vacuum().await;
            store.close().await;
            let report = report.with_context(|| {
                format!(
                    "cannot vacuum {} (stop the server first)",
                    args.database.display()
                )
            })?;
            match format {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "database": args.database,
                    "bytes_before": report.bytes_before,
                    "bytes_after": report.bytes_after,
                })),
                OutputFormat::Table => {
                    outln!(
                        "vacuumed {}: {} → {}",
                        args.database.display(),
                        crate::human::bytes(report.bytes_before as i64),
                        crate::human::bytes(report.bytes_after as i64)
                    );
                    Ok(())
                }
            }
        }
    }
}
