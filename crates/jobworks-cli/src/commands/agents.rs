//! `jobworks agents …`: the agent registry through the API (admin tokens only) — enrollment
//! tokens (`token create|list|revoke`) and agents (`list`, `show`, `drain`, `undrain`,
//! `revoke`, `delete`).

use crate::client::ApiClient;
use crate::human::{self, Clock};
use crate::output::{self, OutputFormat, outln, print_json};
use comfy_table::Table;
use jobworks_protocol::{
    AgentView, CreateEnrollmentTokenRequest, CreatedEnrollmentTokenView, EnrollmentTokenView,
};
use std::collections::BTreeMap;

/// `jobworks agents ...`.
#[derive(clap::Subcommand, Debug)]
pub enum AgentsCommand {
    /// Enrollment tokens: what a new agent starts with (`jobworks agent --token`)
    #[command(subcommand)]
    Token(TokenCommand),
    /// List agents: state, labels, slots, load, free memory, last heartbeat, version
    List,
    /// Show one agent with its last heartbeat's report
    Show(NameArg),
    /// Drain an agent: it finishes what it runs and takes nothing new
    Drain(NameArg),
    /// Undo a drain: the agent takes work again
    Undrain(NameArg),
    /// Revoke an agent: every call it makes is refused from now on
    Revoke(NameArg),
    /// Delete a revoked agent, so its name can enroll again
    Delete(NameArg),
}

/// `jobworks agents token ...`.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an enrollment token; it is printed once (only its SHA-256 is stored)
    Create(CreateArgs),
    /// List enrollment tokens (never their secrets)
    List,
    /// Revoke enrollment token ID: no agent enrolls with it from now on
    Revoke(IdArg),
}

/// `agents token create` flags.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Labels of the agents it enrolls, e.g. site=bj,role=db
    #[arg(long, value_name = "K=V,...")]
    pub labels: Option<String>,
    /// How many agents may enroll with it [default: unlimited]
    #[arg(long, value_name = "N")]
    pub uses: Option<u32>,
    /// Lifetime, e.g. 1h or 7d [default: never expires]
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
}

/// An agent name.
#[derive(clap::Args, Debug)]
pub struct NameArg {
    /// Agent name
    pub name: String,
}

/// An enrollment token id.
#[derive(clap::Args, Debug)]
pub struct IdArg {
    /// Token id: the 16 hex digits after `jwe_` (shown by `agents token list`)
    pub id: String,
}

/// Parses `--labels site=bj,role=db` (spaces around items ignored, empty text = none).
/// Errors: an item without `=`, an empty name, a name given twice — naming the item.
pub fn parse_labels(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            anyhow::bail!("--labels: `{item}` is not NAME=VALUE (e.g. --labels site=bj,role=db)");
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            anyhow::bail!("--labels: `{item}` has no label name before `=`");
        }
        if labels.insert(key.to_owned(), value.to_owned()).is_some() {
            anyhow::bail!("--labels: label `{key}` is given twice");
        }
    }
    Ok(labels)
}

/// `--ttl` as seconds. Errors: not a duration, or zero.
pub fn ttl_s(text: Option<&str>) -> anyhow::Result<Option<u64>> {
    let Some(text) = text else { return Ok(None) };
    let duration = jobworks_schedule::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("--ttl {text}: {e}"))?;
    if duration.as_secs() == 0 {
        anyhow::bail!("--ttl {text}: a token must live at least 1s");
    }
    Ok(Some(duration.as_secs()))
}

/// Runs one `agents` command against the server.
pub async fn run(
    client: &ApiClient,
    command: AgentsCommand,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let clock = Clock::system();
    match command {
        AgentsCommand::Token(TokenCommand::Create(args)) => {
            if args.uses == Some(0) {
                anyhow::bail!("--uses 0: a token must allow at least 1 enrollment");
            }
            let request = CreateEnrollmentTokenRequest {
                labels: parse_labels(args.labels.as_deref().unwrap_or_default())?,
                uses: args.uses,
                expires_in_s: ttl_s(args.ttl.as_deref())?,
            };
            let created = client.create_enrollment_token(&request).await?;
            print_created(&created, format)
        }
        AgentsCommand::Token(TokenCommand::List) => {
            let tokens = client.list_enrollment_tokens().await?;
            match format {
                OutputFormat::Json => print_json(&tokens),
                OutputFormat::Table => output::print_table(&tokens_table(&tokens, &clock)),
            }
        }
        AgentsCommand::Token(TokenCommand::Revoke(args)) => {
            let token = client.revoke_enrollment_token(&args.id).await?;
            match format {
                OutputFormat::Json => print_json(&token),
                OutputFormat::Table => {
                    outln!(
                        "enrollment token {} revoked; agents it enrolled keep working",
                        token.id
                    );
                    Ok(())
                }
            }
        }
        AgentsCommand::List => {
            let agents = client.list_agents().await?;
            match format {
                OutputFormat::Json => print_json(&agents),
                OutputFormat::Table => output::print_table(&agents_table(&agents, &clock)),
            }
        }
        AgentsCommand::Show(args) => {
            let agent = client.get_agent(&args.name).await?;
            match format {
                OutputFormat::Json => print_json(&agent),
                OutputFormat::Table => {
                    for line in show_lines(&agent, &clock) {
                        outln!("{line}");
                    }
                    Ok(())
                }
            }
        }
        AgentsCommand::Drain(args) => {
            action(client, &args.name, "drain", format, |name| {
                format!("agent {name} draining: it finishes what it runs and takes nothing new")
            })
            .await
        }
        AgentsCommand::Undrain(args) => {
            action(client, &args.name, "undrain", format, |name| {
                format!("agent {name} takes work again")
            })
            .await
        }
        AgentsCommand::Revoke(args) => {
            action(client, &args.name, "revoke", format, |name| {
                format!(
                    "agent {name} revoked: its calls are refused from now on \
                     (`jobworks agents delete {name}` lets the name enroll again)"
                )
            })
            .await
        }
        AgentsCommand::Delete(args) => {
            client.delete_agent(&args.name).await?;
            match format {
                OutputFormat::Json => print_json(&serde_json::json!({ "deleted": args.name })),
                OutputFormat::Table => {
                    outln!("agent {} deleted; the name may enroll again", args.name);
                    Ok(())
                }
            }
        }
    }
}

async fn action(
    client: &ApiClient,
    name: &str,
    action: &str,
    format: OutputFormat,
    said: impl Fn(&str) -> String,
) -> anyhow::Result<()> {
    let agent = client.agent_action(name, action).await?;
    match format {
        OutputFormat::Json => print_json(&agent),
        OutputFormat::Table => {
            outln!("{}", said(&agent.name));
            Ok(())
        }
    }
}

/// Prints a new enrollment token once, with how to use it.
pub fn print_created(
    created: &CreatedEnrollmentTokenView,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(created),
        OutputFormat::Table => {
            let info = &created.info;
            let uses = match info.uses_left {
                Some(1) => "1 use".to_owned(),
                Some(n) => format!("{n} uses"),
                None => "unlimited uses".to_owned(),
            };
            let expires = info
                .expires_at
                .map(|at| format!(", expires {}", human::rfc3339(at)))
                .unwrap_or_default();
            let labels = if info.labels.is_empty() {
                String::new()
            } else {
                format!(", labels {}", labels_text(&info.labels))
            };
            outln!(
                "enrollment token {} created ({uses}{expires}{labels}); shown once:",
                info.id
            );
            outln!("  {}", created.token);
            outln!("start an agent with: jobworks agent --server URL --token <the token>");
            Ok(())
        }
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `agents token list` as a table: ID, STATE, LABELS, USES LEFT, EXPIRES, CREATED, BY.
pub fn tokens_table(tokens: &[EnrollmentTokenView], clock: &Clock) -> Table {
    let mut table = output::table(&[
        "ID",
        "STATE",
        "LABELS",
        "USES LEFT",
        "EXPIRES",
        "CREATED",
        "BY",
    ]);
    for token in tokens {
        table.add_row(vec![
            token.id.clone(),
            token.state.clone(),
            labels_text(&token.labels),
            token
                .uses_left
                .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
            token
                .expires_at
                .map_or_else(|| "-".to_owned(), |at| clock.date_time(at)),
            clock.date_time(token.created_at),
            token.created_by.clone(),
        ]);
    }
    table
}

fn memory(agent: &AgentView) -> String {
    agent
        .report
        .as_ref()
        .and_then(|r| r.free_memory_bytes)
        .map_or_else(
            || "-".to_owned(),
            |b| human::bytes(i64::try_from(b).unwrap_or(i64::MAX)),
        )
}

fn load(agent: &AgentView) -> String {
    agent
        .report
        .as_ref()
        .and_then(|r| r.load)
        .map_or_else(|| "-".to_owned(), |l| format!("{:.2}", l[0]))
}

fn slots(agent: &AgentView) -> String {
    agent.report.as_ref().map_or_else(
        || "-".to_owned(),
        |r| format!("{}/{}", r.slots_used, r.slots_total),
    )
}

fn last_heartbeat(agent: &AgentView, clock: &Clock) -> String {
    agent
        .last_heartbeat_at
        .map_or_else(|| "never".to_owned(), |at| clock.relative(at))
}

/// `agents list` as a table: NAME, STATE, LABELS, SLOTS (used/total), LOAD (1 min), MEM FREE,
/// LAST HEARTBEAT (`3s ago`), VERSION.
pub fn agents_table(agents: &[AgentView], clock: &Clock) -> Table {
    let mut table = output::table(&[
        "NAME",
        "STATE",
        "LABELS",
        "SLOTS",
        "LOAD",
        "MEM FREE",
        "LAST HEARTBEAT",
        "VERSION",
    ]);
    for agent in agents {
        table.add_row(vec![
            agent.name.clone(),
            agent.state.clone(),
            labels_text(&agent.labels),
            slots(agent),
            load(agent),
            memory(agent),
            last_heartbeat(agent, clock),
            agent
                .report
                .as_ref()
                .map_or_else(|| "-".to_owned(), |r| r.version.clone()),
        ]);
    }
    table
}

/// `agents show NAME` as `key: value` lines.
pub fn show_lines(agent: &AgentView, clock: &Clock) -> Vec<String> {
    let mut lines = vec![
        format!("agent:           {}", agent.name),
        format!("state:           {}", agent.state),
        format!("labels:          {}", labels_text(&agent.labels)),
        format!(
            "enrolled:        {} (token {})",
            clock.date_time_relative(agent.enrolled_at),
            agent.enrolled_with
        ),
        format!("last heartbeat:  {}", last_heartbeat(agent, clock)),
        format!(
            "heartbeat every: {}",
            human::duration_ms(i64::try_from(agent.heartbeat_interval_ms).unwrap_or(i64::MAX))
        ),
    ];
    if let Some(report) = &agent.report {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        lines.push(format!("version:         {}", report.version));
        lines.push(format!("slots:           {}", slots(agent)));
        lines.push(format!(
            "cpus:            {}",
            opt(report.cpu_count.map(|n| n.to_string()))
        ));
        lines.push(format!(
            "load:            {}",
            opt(report
                .load
                .map(|l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])))
        ));
        lines.push(format!(
            "cpu:             {}",
            opt(report.cpu_percent.map(|c| format!("{c:.1}%")))
        ));
        lines.push(format!("memory free:     {}", memory(agent)));
        lines.push(format!(
            "disk free:       {}",
            opt(report
                .free_disk_bytes
                .map(|b| human::bytes(i64::try_from(b).unwrap_or(i64::MAX))))
        ));
        let running = if report.running.is_empty() {
            "-".to_owned()
        } else {
            report
                .running
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(format!("running:         {running}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use jobworks_protocol::AgentReportView;

    #[test]
    fn labels_parse_with_errors_naming_the_item() {
        assert!(parse_labels("").expect("empty").is_empty());
        let labels = parse_labels("site=bj, role=db").expect("two");
        assert_eq!(labels["site"], "bj");
        assert_eq!(labels["role"], "db");
        for (text, want) in [
            ("site", "`site` is not NAME=VALUE"),
            ("=bj", "has no label name"),
            ("site=bj,site=sh", "`site` is given twice"),
        ] {
            let e = parse_labels(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn ttl_takes_durations() {
        assert_eq!(ttl_s(None).expect("none"), None);
        assert_eq!(ttl_s(Some("1h")).expect("1h"), Some(3600));
        assert!(ttl_s(Some("0s")).is_err());
        assert!(
            ttl_s(Some("soon"))
                .expect_err("bad")
                .to_string()
                .starts_with("--ttl soon: ")
        );
    }

    #[test]
    fn the_agent_table_shows_slots_load_memory_and_heartbeat_age() {
        let at = |s: i64| Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap();
        let clock = Clock::fixed(at(3), chrono_tz::Tz::UTC);
        let agent = AgentView {
            name: "edge-1".into(),
            state: "online".into(),
            admin_state: "active".into(),
            labels: BTreeMap::from([("site".into(), "bj".into())]),
            enrolled_at: at(0),
            enrolled_with: "0123456789abcdef".into(),
            last_heartbeat_at: Some(at(0)),
            heartbeat_interval_ms: 15_000,
            report: Some(AgentReportView {
                version: "0.1.0".into(),
                slots_total: 4,
                slots_used: 1,
                load: Some([0.5, 0.25, 0.0]),
                free_memory_bytes: Some(3 << 30),
                ..AgentReportView::default()
            }),
        };
        let fresh = AgentView {
            name: "edge-2".into(),
            last_heartbeat_at: None,
            report: None,
            ..agent.clone()
        };
        let text = output::render(&agents_table(&[agent.clone(), fresh], &clock));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{text}");
        for want in [
            "edge-1", "online", "site=bj", "1/4", "0.50", "3.0 GiB", "3s ago", "0.1.0",
        ] {
            assert!(lines[1].contains(want), "{want}: {text}");
        }
        assert!(lines[2].contains("never"), "{text}");
        let show = show_lines(&agent, &clock).join("\n");
        assert!(show.contains("heartbeat every: 15s"), "{show}");
        assert!(show.contains("load:            0.50 0.25 0.00"), "{show}");
    }
}
