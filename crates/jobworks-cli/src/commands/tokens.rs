//! `jobworks token create|list|revoke`: API tokens by name, through the API (admin tokens
//! only).

use crate::client::ApiClient;
use crate::human::Clock;
use crate::output::{self, OutputFormat, outln, print_json};
use chrono::{DateTime, Utc};
use comfy_table::Table;
use jobworks_protocol::{CreateTokenRequest, CreatedTokenView, TokenView};

/// `jobworks token ...`.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once (only its SHA-256 is stored)
    ///
    /// NAME is what approval tasks list in `approvers`.
    Create(CreateArgs),
    /// List tokens (never their secrets), revoked and expired ones included
    List,
    /// Revoke the live token NAME: it is refused from the next request on
    Revoke(NameArg),
}

/// `token create` flags.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Token name: letters, digits, `.`, `_`, `-` (e.g. release-manager)
    pub name: String,
    /// Lifetime, e.g. 90d or 12h [default: never expires]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Who the token acts for [default: NAME]
    #[arg(long, value_name = "OWNER")]
    pub owner: Option<String>,
    /// Let the token manage tokens too
    #[arg(long)]
    pub admin: bool,
}

/// A token name.
#[derive(clap::Args, Debug)]
pub struct NameArg {
    /// Token name
    pub name: String,
}

/// `--expires` as seconds. Errors: not a duration, or zero.
pub fn expires_in_s(text: Option<&str>) -> anyhow::Result<Option<u64>> {
    let Some(text) = text else { return Ok(None) };
    let duration = jobworks_schedule::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("--expires {text}: {e}"))?;
    if duration.as_secs() == 0 {
        anyhow::bail!("--expires {text}: a token must live at least 1s");
    }
    Ok(Some(duration.as_secs()))
}

/// Runs one token command against the server.
pub async fn run(
    client: &ApiClient,
    command: TokenCommand,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => {
            let request = CreateTokenRequest {
                expires_in_s: expires_in_s(args.expires.as_deref())?,
                name: args.name,
                owner: args.owner,
                admin: args.admin,
            };
            let created = client.create_token(&request).await?;
            print_created(&created, format)
        }
        TokenCommand::List => {
            let tokens = client.list_tokens().await?;
            match format {
                OutputFormat::Json => print_json(&tokens),
                OutputFormat::Table => {
                    output::print_table(&tokens_table(&tokens, &Clock::system()))
                }
            }
        }
        TokenCommand::Revoke(args) => {
            let token = client.revoke_token(&args.name).await?;
            match format {
                OutputFormat::Json => print_json(&token),
                OutputFormat::Table => {
                    outln!("token {} revoked; it is refused from now on", token.name);
                    Ok(())
                }
            }
        }
    }
}

/// Prints a new token: the secret once, with how to use it.
pub fn print_created(created: &CreatedTokenView, format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(created),
        OutputFormat::Table => {
            let info = &created.info;
            let expires = info
                .expires_at
                .map(|at| format!(", expires {}", crate::human::rfc3339(at)))
                .unwrap_or_default();
            let role = if info.admin { "admin token" } else { "token" };
            outln!(
                "{role} {} created{expires}; its secret (shown once):",
                info.name
            );
            outln!("  {}", created.token);
            outln!("use it with --token, JOBWORKS_TOKEN or the `token` key of client.toml");
            Ok(())
        }
    }
}

fn when(clock: &Clock, at: Option<DateTime<Utc>>) -> String {
    at.map(|at| clock.date_time(at))
        .unwrap_or_else(|| "-".into())
}

/// `token list` as a table: NAME, OWNER, ROLE, STATE, CREATED, LAST USED, EXPIRES.
pub fn tokens_table(tokens: &[TokenView], clock: &Clock) -> Table {
    let mut table = output::table(&[
        "NAME",
        "OWNER",
        "ROLE",
        "STATE",
        "CREATED",
        "LAST USED",
        "EXPIRES",
    ]);
    for token in tokens {
        table.add_row(vec![
            token.name.clone(),
            token.owner.clone(),
            if token.admin { "admin" } else { "-" }.to_string(),
            token.state.clone(),
            clock.date_time(token.created_at),
            when(clock, token.last_used_at),
            when(clock, token.expires_at),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn expires_takes_durations() {
        assert_eq!(expires_in_s(None).unwrap(), None);
        assert_eq!(expires_in_s(Some("90d")).unwrap(), Some(90 * 86_400));
        assert_eq!(expires_in_s(Some("12h")).unwrap(), Some(12 * 3600));
        let err = expires_in_s(Some("90")).unwrap_err().to_string();
        assert!(err.starts_with("--expires 90: "), "{err}");
        assert!(expires_in_s(Some("0s")).is_err());
    }

    #[test]
    fn token_list_table() {
        let at = |s: i64| Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap();
        let clock = Clock::fixed(at(1000), chrono_tz::Tz::UTC);
        let tokens = vec![TokenView {
            name: "release-manager".into(),
            owner: "release-manager".into(),
            admin: false,
            created_at: at(0),
            last_used_at: None,
            expires_at: Some(at(90 * 86_400)),
            revoked_at: None,
            state: "active".into(),
        }];
        let text = output::render(&tokens_table(&tokens, &clock));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{text}");
        assert!(lines[0].contains("LAST USED"), "{text}");
        assert!(lines[1].starts_with("release-manager"), "{text}");
        assert!(lines[1].contains("active"), "{text}");
    }
}
