//! `run_on`: where a job or workflow task runs on the fleet, as written and as validated.

use super::strategy::Strategy;
use crate::file::parse_size;
use crate::file::suggest::closest;
use crate::params::{ParamValue, is_valid_param_name};
use jobworks_schedule::parse_duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Heartbeat interval agents keep by default, ms (REFERENCE §1.8: 15 s with jitter).
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 15_000;
/// Default `agent_lost_after`: three heartbeats of 15 s = 45 s, in ms.
pub const DEFAULT_AGENT_LOST_AFTER_MS: u64 = 3 * DEFAULT_HEARTBEAT_INTERVAL_MS;
/// Smallest `agent_lost_after` accepted, ms (1 s); below it a hiccup would lose attempts.
pub const MIN_AGENT_LOST_AFTER_MS: u64 = 1_000;
/// Largest `shards = N` accepted.
pub const MAX_SHARDS: u32 = 10_000;
/// Longest label name or value, characters.
pub const MAX_LABEL_LEN: usize = 128;

/// Every key a `run_on` table may have, for unknown-key suggestions.
pub const RUN_ON_FIELDS: [&str; 10] = [
    "labels",
    "strategy",
    "hash_key",
    "shards",
    "max_cpu_percent",
    "min_free_memory",
    "placement_timeout",
    "agent_lost_after",
    "on_agent_lost",
    "offline_schedule",
];

/// `run_on = { … }` exactly as written in a job file or a workflow task, before checking.
///
/// Shape: `run_on = { labels = { site = "bj" }, strategy = "round_robin",
/// hash_key = "params.customer", shards = 4, max_cpu_percent = 80, min_free_memory = "1GiB",
/// placement_timeout = "10m", agent_lost_after = "45s", on_agent_lost = "retry",
/// offline_schedule = false }`. Every field is optional; [`RunOn::validate`] checks them
/// all and gives the typed [`RunOnPolicy`] with defaults filled in. Keys this struct does not
/// know are kept in `unknown` so validation can name them with a suggestion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOn {
    /// Labels an agent must all carry (exact values); empty = every agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A [`Strategy`] name; default `least_loaded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// `consistent_hash` only: `"job"` (the default: the job name) or `"params.NAME"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<String>,
    /// Split into this many shards spread over the group (1–[`MAX_SHARDS`]); excludes
    /// `strategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<i64>,
    /// `least_loaded` only: skip agents reporting more CPU than this percent (0–100].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_percent: Option<f64>,
    /// `least_loaded` only: skip agents reporting less free memory, e.g. `"1GiB"`
    /// (units of [`parse_size`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_free_memory: Option<String>,
    /// Fail the task when it has waited this long for an agent, e.g. `"10m"`
    /// ([`parse_duration`]); default: wait forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_timeout: Option<String>,
    /// An attempt is lost when its agent has been silent this long; default `"45s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_lost_after: Option<String>,
    /// What a lost attempt does: `"retry"` (default), `"wait"` or `"fail"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_agent_lost: Option<String>,
    /// Send the schedule to the agents so they fire it while cut off; default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_schedule: Option<bool>,
    /// Keys not listed above, kept to be reported by [`RunOn::validate`].
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// What the consistent-hash key is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// The job's name (`hash_key = "job"`, the default): every run of a job goes to the same
    /// agent.
    #[default]
    Job,
    /// A parameter's value (`hash_key = "params.customer"`): runs for one customer stick to
    /// one agent. The caller checks that the job declares the parameter and passes its value
    /// (as text) as the key to [`super::place`].
    Param(String),
}

/// What happens to an attempt whose agent has been silent for `agent_lost_after`
/// (issue 9 "Failover with fencing").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAgentLost {
    /// The attempt becomes `lost` and the retry policy places a new one elsewhere.
    #[default]
    Retry,
    /// Never re-dispatched automatically: it waits for the agent to return or an operator.
    Wait,
    /// The attempt fails.
    Fail,
}

impl OnAgentLost {
    /// Every value, as written: `retry`, `wait`, `fail`.
    pub const NAMES: [&'static str; 3] = ["retry", "wait", "fail"];

    fn from_name(name: &str) -> Option<OnAgentLost> {
        match name {
            "retry" => Some(OnAgentLost::Retry),
            "wait" => Some(OnAgentLost::Wait),
            "fail" => Some(OnAgentLost::Fail),
            _ => None,
        }
    }
}

/// A checked `run_on`: typed values, defaults filled in. Stored with the job version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOnPolicy {
    /// Labels an agent must all carry; empty = every agent.
    pub labels: BTreeMap<String, String>,
    /// How one agent is chosen; [`Strategy::LeastLoaded`] by default. Unused when `shards`
    /// is set.
    pub strategy: Strategy,
    /// The consistent-hash key ([`HashKey::Job`] unless `hash_key` names a parameter).
    pub hash_key: HashKey,
    /// `shards = N`: N shards spread evenly over the group.
    pub shards: Option<u32>,
    /// CPU ceiling for `least_loaded`, percent.
    pub max_cpu_percent: Option<f64>,
    /// Free-memory floor for `least_loaded`, bytes.
    pub min_free_memory_bytes: Option<u64>,
    /// How long a task may wait for an agent before it fails, ms; `None` = forever.
    pub placement_timeout_ms: Option<u64>,
    /// Silence after which an agent's attempts are lost, ms; default
    /// [`DEFAULT_AGENT_LOST_AFTER_MS`].
    pub agent_lost_after_ms: u64,
    /// What a lost attempt does.
    pub on_agent_lost: OnAgentLost,
    /// Whether agents fire the schedule themselves while cut off.
    pub offline_schedule: bool,
}

impl RunOnPolicy {
    /// The key [`super::place`] hashes for `consistent_hash`: the job name for
    /// [`HashKey::Job`]; for [`HashKey::Param`], the parameter's value as its process sees it
    /// ([`ParamValue::to_env_string`]), or the job name when the run has no value for it.
    /// `params` are the run's validated parameters by name.
    pub fn routing_key(&self, job_name: &str, params: &BTreeMap<String, ParamValue>) -> String {
        match &self.hash_key {
            HashKey::Job => job_name.to_owned(),
            HashKey::Param(name) => params
                .get(name)
                .map_or_else(|| job_name.to_owned(), ParamValue::to_env_string),
        }
    }
}

impl RunOnPolicy {
    /// One line for people, as `jobs show` and `workflow show` print it:
    /// `site=bj, round_robin`, then what differs from the defaults (`hash on
    /// params.customer`, `max CPU 80%`, `min free memory 1GiB`, `placement timeout 2s`);
    /// `any agent, least_loaded` for `run_on = {}`.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            if self.labels.is_empty() {
                "any agent".to_owned()
            } else {
                super::describe_labels(&self.labels)
            },
            self.strategy.as_str().to_owned(),
        ];
        if let HashKey::Param(name) = &self.hash_key {
            parts.push(format!("hash on params.{name}"));
        }
        if let Some(cpu) = self.max_cpu_percent {
            parts.push(format!("max CPU {cpu}%"));
        }
        if let Some(bytes) = self.min_free_memory_bytes {
            parts.push(format!("min free memory {}", super::human_bytes(bytes)));
        }
        if let Some(ms) = self.placement_timeout_ms {
            parts.push(format!(
                "placement timeout {}",
                jobworks_schedule::format_duration(std::time::Duration::from_millis(ms))
            ));
        }
        parts.join(", ")
    }
}

impl Default for RunOnPolicy {
    /// `run_on = {}`: any online agent, `least_loaded`, lost after 45 s, then retried.
    fn default() -> Self {
        RunOnPolicy {
            labels: BTreeMap::new(),
            strategy: Strategy::default(),
            hash_key: HashKey::Job,
            shards: None,
            max_cpu_percent: None,
            min_free_memory_bytes: None,
            placement_timeout_ms: None,
            agent_lost_after_ms: DEFAULT_AGENT_LOST_AFTER_MS,
            on_agent_lost: OnAgentLost::Retry,
            offline_schedule: false,
        }
    }
}

/// One thing wrong with a `run_on`: the field path and what is wrong.
///
/// Displays as `run_on.strategy: unknown strategy "round-robin"; did you mean
/// "round_robin"?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOnProblem {
    /// Dotted path of the field, starting with the path given to [`RunOn::validate_at`]
    /// (`run_on.labels.site`).
    pub path: String,
    /// What is wrong, with a hint after `; ` when there is one.
    pub message: String,
}

impl fmt::Display for RunOnProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for RunOnProblem {}

impl RunOn {
    /// [`RunOn::validate_at`] with the path `run_on`.
    ///
    /// # Errors
    /// Every problem found, each with its field path.
    pub fn validate(&self) -> Result<RunOnPolicy, Vec<RunOnProblem>> {
        self.validate_at("run_on")
    }

    /// Checks every field and returns the typed policy, or every problem found (not only
    /// the first), paths starting with `path` (e.g. `workflow.task[2].run_on`).
    ///
    /// # Errors
    /// Unknown keys (with the closest known one); label names or values that are empty,
    /// longer than [`MAX_LABEL_LEN`] or not made of letters, digits, `_ - . / :`; an unknown
    /// strategy or `on_agent_lost` (with a suggestion); a `hash_key` other than `job` or
    /// `params.NAME`, or set without `consistent_hash`; `shards` outside 1–[`MAX_SHARDS`]
    /// or given with `strategy`; `max_cpu_percent` outside (0, 100]; a size or duration that
    /// does not parse; a zero `placement_timeout`; `agent_lost_after` under 1 s; thresholds
    /// given with a strategy other than `least_loaded`.
    pub fn validate_at(&self, path: &str) -> Result<RunOnPolicy, Vec<RunOnProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(RunOnProblem {
                path: format!("{path}.{field}"),
                message,
            });
        };
        let mut policy = RunOnPolicy::default();

        for key in self.unknown.keys() {
            let hint = match closest(key, RUN_ON_FIELDS) {
                Some(near) => format!("did you mean \"{near}\"?"),
                None => format!("expected one of {}", quoted(RUN_ON_FIELDS)),
            };
            problem(key, format!("unknown field; {hint}"));
        }

        for (key, value) in &self.labels {
            let field = if label_problem(key).is_none() {
                format!("labels.{key}")
            } else {
                format!("labels.{key:?}")
            };
            if let Some(why) = label_problem(key) {
                problem(&field, format!("label name {why}"));
            }
            if let Some(why) = label_problem(value) {
                problem(&field, format!("label value {why}"));
            }
        }
        policy.labels = self.labels.clone();

        if let Some(name) = &self.strategy {
            match Strategy::from_name(name) {
                Some(strategy) => policy.strategy = strategy,
                None => {
                    let names = Strategy::ALL.map(Strategy::as_str);
                    let hint = match closest(name, names) {
                        Some(near) => format!("did you mean \"{near}\"?"),
                        None => format!("expected one of {}", quoted(names)),
                    };
                    problem("strategy", format!("unknown strategy {name:?}; {hint}"));
                }
            }
        }
        let strategy_known = self
            .strategy
            .as_deref()
            .is_none_or(|name| Strategy::from_name(name).is_some());

        if let Some(key) = &self.hash_key {
            match parse_hash_key(key) {
                Ok(hash_key) => policy.hash_key = hash_key,
                Err(why) => problem("hash_key", why),
            }
            if strategy_known && policy.strategy != Strategy::ConsistentHash {
                problem(
                    "hash_key",
                    format!(
                        "only used by strategy \"consistent_hash\" (strategy is \"{}\")",
                        policy.strategy
                    ),
                );
            }
        }

        if let Some(shards) = self.shards {
            match u32::try_from(shards) {
                Ok(n @ 1..=MAX_SHARDS) => policy.shards = Some(n),
                _ => problem(
                    "shards",
                    format!("{shards} shards: expected a whole number from 1 to {MAX_SHARDS}"),
                ),
            }
            if let Some(name) = &self.strategy {
                problem(
                    "strategy",
                    format!(
                        "strategy {name:?} cannot be combined with shards: `shards` spreads its \
                         shards evenly over the group; leave out one of the two \
                         (\"sharding_broadcast\" runs one shard per agent)"
                    ),
                );
            }
        }

        let thresholds_apply =
            strategy_known && policy.strategy == Strategy::LeastLoaded && self.shards.is_none();
        let threshold_misplaced = |field: &str| {
            let used = match &self.strategy {
                _ if self.shards.is_some() => "shards".to_owned(),
                Some(name) => format!("strategy {name:?}"),
                None => "the default strategy".to_owned(),
            };
            (
                field.to_owned(),
                format!("only used by strategy \"least_loaded\", not with {used}"),
            )
        };
        if let Some(cpu) = self.max_cpu_percent {
            if cpu.is_finite() && cpu > 0.0 && cpu <= 100.0 {
                policy.max_cpu_percent = Some(cpu);
            } else {
                problem(
                    "max_cpu_percent",
                    format!("{cpu}: expected a percentage above 0 and at most 100"),
                );
            }
            if strategy_known && !thresholds_apply {
                let (field, message) = threshold_misplaced("max_cpu_percent");
                problem(&field, message);
            }
        }
        if let Some(text) = &self.min_free_memory {
            match parse_size(text) {
                Ok(bytes) => policy.min_free_memory_bytes = Some(bytes),
                Err(err) => problem(
                    "min_free_memory",
                    format!("{text:?}: {err}; write e.g. \"512MiB\" or \"1GiB\""),
                ),
            }
            if strategy_known && !thresholds_apply {
                let (field, message) = threshold_misplaced("min_free_memory");
                problem(&field, message);
            }
        }

        if let Some(text) = &self.placement_timeout {
            match duration_ms(text) {
                Ok(0) => problem(
                    "placement_timeout",
                    "must be longer than 0s; leave it out to wait without limit".to_owned(),
                ),
                Ok(ms) => policy.placement_timeout_ms = Some(ms),
                Err(why) => problem("placement_timeout", why),
            }
        }
        if let Some(text) = &self.agent_lost_after {
            match duration_ms(text) {
                Ok(ms) if ms >= MIN_AGENT_LOST_AFTER_MS => policy.agent_lost_after_ms = ms,
                Ok(_) => problem(
                    "agent_lost_after",
                    format!(
                        "{text:?} is too short: at least 1s (the default is 45s, three \
                         heartbeats)"
                    ),
                ),
                Err(why) => problem("agent_lost_after", why),
            }
        }
        if let Some(name) = &self.on_agent_lost {
            match OnAgentLost::from_name(name) {
                Some(action) => policy.on_agent_lost = action,
                None => {
                    let hint = match closest(name, OnAgentLost::NAMES) {
                        Some(near) => format!("did you mean \"{near}\"?"),
                        None => format!("expected one of {}", quoted(OnAgentLost::NAMES)),
                    };
                    problem("on_agent_lost", format!("unknown value {name:?}; {hint}"));
                }
            }
        }
        policy.offline_schedule = self.offline_schedule.unwrap_or(false);

        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(problems)
        }
    }
}

/// Why a label name or value is not acceptable, or `None`.
fn label_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("is empty".to_owned());
    }
    if text.chars().count() > MAX_LABEL_LEN {
        return Some(format!("is longer than {MAX_LABEL_LEN} characters"));
    }
    let bad = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')))?;
    Some(format!(
        "{text:?} has {bad:?}: use letters, digits, `_`, `-`, `.`, `/` or `:`"
    ))
}

/// `"job"` or `"params.NAME"` with a valid parameter name.
fn parse_hash_key(text: &str) -> Result<HashKey, String> {
    if text == "job" {
        return Ok(HashKey::Job);
    }
    match text.strip_prefix("params.") {
        Some(name) if is_valid_param_name(name) => Ok(HashKey::Param(name.to_owned())),
        Some(name) => Err(format!(
            "{name:?} is not a parameter name (letters, digits and `_`, not starting with a \
             digit)"
        )),
        None => Err(format!(
            "{text:?}: expected \"job\" (the job name) or \"params.NAME\" (a parameter's value)"
        )),
    }
}

/// A duration in whole milliseconds, or the parser's message.
fn duration_ms(text: &str) -> Result<u64, String> {
    let duration = parse_duration(text).map_err(|err| err.to_string())?;
    u64::try_from(duration.as_millis()).map_err(|_| format!("duration {text:?} is too large"))
}

fn quoted<const N: usize>(names: [&str; N]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
