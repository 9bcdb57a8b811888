//! The walk over a job file's raw tree: checks every key and value, collects every problem
//! as a [`Diagnostic`], and builds [`JobSpec`]s when there are none.

use super::FileContext;
use super::diagnostic::{Diagnostic, LineIndex, item_path, key_path};
use super::raw::{Entry, Node, NodeKind};
use super::suggest::{closest, list};
use crate::concurrency::ConcurrencyPolicy;
use crate::params::is_valid_param_name;
use crate::spec::{DEFAULT_MAX_CATCHUP, DEFAULT_OUTPUT_CAP_BYTES, JobSpec, TriggerSpec};
use crate::workflow::WorkflowSpec;
use jobworks_schedule::{Backoff, CronExpr, MisfirePolicy, RetryPolicy, TimezoneError};
use std::collections::{BTreeMap, HashMap};

/// Keys allowed at the top of a file.
/// Hint for a cron expression whose day of month never occurs in its months.
const NEVER_FIRES_HINT: &str = "pick days that exist in those months; with the day of week restricted too (not `*`), a day matches when either field does";

const TOP_FIELDS: &[&str] = &["job", "workflow"];

/// Keys allowed in a job table.
pub(crate) const JOB_FIELDS: &[&str] = &[
    "name",
    "description",
    "tags",
    "schedule",
    "every",
    "timezone",
    "enabled",
    "priority",
    "timeout",
    "concurrency",
    "misfire",
    "max_catchup",
    "output_cap",
    "working_dir",
    "env",
    "task",
    "retries",
    "params",
    "run_on",
];

const RETRY_FIELDS: &[&str] = &[
    "max_attempts",
    "backoff",
    "initial_delay",
    "max_delay",
    "jitter",
];

/// Range of `max_catchup`.
pub(crate) const MAX_CATCHUP_RANGE: (i64, i64) = (1, 10_000);
/// Range of `retries.max_attempts`.
const MAX_ATTEMPTS_RANGE: (i64, i64) = (1, 100);
/// `retries.initial_delay` when not given: 1 s.
const DEFAULT_INITIAL_DELAY_MS: u64 = 1_000;
/// `retries.max_delay` when not given: 1 h.
const DEFAULT_MAX_DELAY_MS: u64 = 3_600_000;

/// Collects diagnostics while walking one file.
pub(crate) struct Validator<'a> {
    pub(crate) source_name: &'a str,
    pub(crate) lines: &'a LineIndex<'a>,
    pub(crate) ctx: &'a FileContext,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// `None`: `[[workflow]]` tables are refused (the job-only entry point); `Some`: the
    /// workflows parsed so far (see `crate::workflow::file`).
    pub(crate) workflows: Option<Vec<WorkflowSpec>>,
    /// Workflow names seen in this file, with the line of their first use.
    pub(crate) workflow_names: SeenNames,
    /// Table headers named in hints: `[job.params.x]` or `[workflow.params.x]`.
    pub(crate) headers: Headers,
}

/// Table headers named in hints, which differ between jobs and workflows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Headers {
    /// `job` or `workflow`.
    pub(crate) noun: &'static str,
    /// Where params are declared: `job.params` or `workflow.params`.
    pub(crate) params: &'static str,
    /// Where retries are set: `job.retries` or `workflow.task.retries`.
    pub(crate) retries: &'static str,
}

impl Headers {
    pub(crate) const JOB: Headers = Headers {
        noun: "job",
        params: "job.params",
        retries: "job.retries",
    };
}

/// The known entries of one table, after unknown keys were reported.
pub(crate) struct Fields<'n> {
    pub(crate) entries: Vec<&'n Entry>,
}

impl<'n> Fields<'n> {
    pub(crate) fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().copied().find(|entry| entry.key == key)
    }
}

/// A job's name with where it was first seen, for duplicate detection.
pub(crate) type SeenNames = HashMap<String, usize>;

/// The fields shared by job and workflow tables, read by `Validator::header`.
pub(crate) struct Header {
    pub(crate) description: String,
    pub(crate) tags: Vec<String>,
    pub(crate) trigger: Option<TriggerSpec>,
    pub(crate) timezone: Option<String>,
    pub(crate) enabled: bool,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(
        source_name: &'a str,
        lines: &'a LineIndex<'a>,
        ctx: &'a FileContext,
    ) -> Validator<'a> {
        Validator {
            source_name,
            lines,
            ctx,
            diagnostics: Vec::new(),
            workflows: None,
            workflow_names: SeenNames::new(),
            headers: Headers::JOB,
        }
    }

    /// Walks the whole file; returns the jobs in file order (meaningful only when no
    /// diagnostics were collected).
    pub(crate) fn file(&mut self, root: &Node) -> Vec<JobSpec> {
        let Some(entries) = self.table(root, "") else {
            return Vec::new();
        };
        let mut jobs = Vec::new();
        let mut seen = SeenNames::new();
        for entry in entries {
            match entry.key.as_str() {
                "job" => match &entry.value.kind {
                    NodeKind::Array(items) => {
                        for (index, item) in items.iter().enumerate() {
                            let path = item_path("job", index);
                            jobs.extend(self.job(item, &path, &mut seen));
                        }
                    }
                    NodeKind::Table(_) => jobs.extend(self.job(&entry.value, "job[1]", &mut seen)),
                    NodeKind::Invalid => {}
                    _ => self.error(
                        &entry.value.span,
                        "job",
                        format!("expected a table, found {}", entry.value.describe()),
                        Some("start each job with a [[job]] header".to_owned()),
                    ),
                },
                "workflow" if self.workflows.is_some() => self.workflow_entry(entry),
                "workflow" => self.error(
                    &entry.key_span,
                    "workflow",
                    "only jobs are read here (parse_job_file): workflows need parse_file",
                    None,
                ),
                unknown => {
                    let hint = if JOB_FIELDS.contains(&unknown) {
                        Some(format!(
                            "`{unknown}` is a job field: put it after a [[job]] header"
                        ))
                    } else {
                        closest(unknown, TOP_FIELDS.iter().copied())
                            .map(|near| format!("did you mean `{near}`?"))
                    };
                    self.error(
                        &entry.key_span,
                        &key_path("", unknown),
                        format!("unknown top-level key `{unknown}`"),
                        hint,
                    );
                }
            }
        }
        jobs
    }

    fn job(&mut self, node: &Node, path: &str, seen: &mut SeenNames) -> Option<JobSpec> {
        let entries = self.table(node, path)?;
        let fields = self.known_fields(entries, path, JOB_FIELDS, |unknown| {
            (unknown == "rolling").then(|| {
                "rolling batches are not supported yet (issue 9); leave `rolling` out".to_owned()
            })
        });
        let errors_before = self.diagnostics.len();

        let name = match fields.get("name") {
            Some(entry) => self.job_name(entry, path, seen),
            None => {
                self.error(
                    &node.span,
                    path,
                    "missing field `name`",
                    Some("add name = \"my-job\"".to_owned()),
                );
                None
            }
        };
        let Header {
            description,
            tags,
            trigger,
            timezone,
            enabled,
        } = self.header(&fields, path);
        let priority = fields
            .get("priority")
            .and_then(|entry| self.integer_in(entry, path, (i32::MIN.into(), i32::MAX.into())))
            .and_then(|priority| i32::try_from(priority).ok())
            .unwrap_or(0);
        let timeout_ms = fields.get("timeout").and_then(|entry| {
            self.positive_duration_ms(entry, path, "leave `timeout` out for no timeout")
        });
        let concurrency = fields
            .get("concurrency")
            .and_then(|entry| {
                self.choice(
                    entry,
                    path,
                    "concurrency policy",
                    &[
                        ("allow", ConcurrencyPolicy::Allow),
                        ("forbid", ConcurrencyPolicy::Forbid),
                        ("queue", ConcurrencyPolicy::Queue),
                        ("replace", ConcurrencyPolicy::Replace),
                    ],
                )
            })
            .unwrap_or_default();
        let (misfire, max_catchup) = self.misfire(&fields, path);
        let output_cap_bytes = fields
            .get("output_cap")
            .and_then(|entry| self.size(entry, path))
            .unwrap_or(DEFAULT_OUTPUT_CAP_BYTES);
        let working_dir = fields
            .get("working_dir")
            .and_then(|entry| self.non_empty_string(entry, path))
            .map(str::to_owned);
        let env = fields
            .get("env")
            .map(|entry| self.env(entry, path))
            .unwrap_or_default();
        let retry = match fields.get("retries") {
            Some(entry) => self.retries(entry, path),
            None => Some(default_retry_policy()),
        };
        let params = fields
            .get("params")
            .map(|entry| self.params(entry, path))
            .unwrap_or_default();
        let run_on = fields
            .get("run_on")
            .and_then(|entry| self.run_on(entry, path, &params))
            .map(Box::new);
        let task = match fields.get("task") {
            Some(entry) => self.task(entry, path, &params),
            None => {
                self.error(
                    &node.span,
                    path,
                    "missing field `task`",
                    Some(
                        "add a [job.task] table with type = \"shell\", \"python\" or \"sql\""
                            .to_owned(),
                    ),
                );
                None
            }
        };

        if self.diagnostics.len() > errors_before {
            return None;
        }
        Some(JobSpec {
            name: name?,
            description,
            tags,
            trigger,
            timezone,
            task: task?,
            params,
            env,
            working_dir,
            timeout_ms,
            retry: retry?,
            concurrency,
            priority,
            misfire,
            max_catchup,
            output_cap_bytes,
            enabled,
            run_on,
        })
    }

    fn job_name(&mut self, entry: &Entry, job_path: &str, seen: &mut SeenNames) -> Option<String> {
        let name = self.string(entry, job_path)?;
        let path = key_path(job_path, "name");
        if !is_valid_job_name(name) {
            let slug = slugify(name);
            let hint = if is_valid_job_name(&slug) {
                format!("try `{slug}`")
            } else {
                "use 1-63 characters from a-z, 0-9, `_`, `.` and `-`, starting with a letter or digit"
                    .to_owned()
            };
            self.error(
                &entry.value.span,
                &path,
                format!("invalid job name `{name}`"),
                Some(hint),
            );
            return None;
        }
        let line = self.lines.line(&entry.value.span);
        if let Some(first_line) = seen.get(name) {
            self.error(
                &entry.value.span,
                &path,
                format!("duplicate job name `{name}`, first used on line {first_line}"),
                Some("job names must be unique".to_owned()),
            );
            return None;
        }
        seen.insert(name.to_owned(), line);
        Some(name.to_owned())
    }

    pub(crate) fn tags(&mut self, entry: &Entry, job_path: &str) -> Vec<String> {
        let path = key_path(job_path, "tags");
        let Some(items) = self.array(&entry.value, &path) else {
            return Vec::new();
        };
        let mut tags: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_path = item_path(&path, index);
            let Some(tag) = self.string_node(item, &item_path) else {
                continue;
            };
            if tag.trim().is_empty() {
                self.error(&item.span, &item_path, "tag is empty", None);
            } else if tags.iter().any(|seen| seen == tag) {
                self.error(
                    &item.span,
                    &item_path,
                    format!("duplicate tag `{tag}`"),
                    None,
                );
            } else {
                tags.push(tag.to_owned());
            }
        }
        tags
    }

    /// The fields every job and workflow table shares: description, tags, schedule (`trigger`),
    /// time zone and `enabled` (default true).
    pub(crate) fn header(&mut self, fields: &Fields<'_>, path: &str) -> Header {
        let description = fields
            .get("description")
            .and_then(|entry| self.string(entry, path))
            .unwrap_or_default()
            .to_owned();
        let tags = fields
            .get("tags")
            .map(|entry| self.tags(entry, path))
            .unwrap_or_default();
        let trigger = self.trigger(fields, path);
        let timezone = fields
            .get("timezone")
            .and_then(|entry| self.timezone(entry, path));
        let enabled = fields
            .get("enabled")
            .and_then(|entry| self.boolean(entry, path))
            .unwrap_or(true);
        Header {
            description,
            tags,
            trigger,
            timezone,
            enabled,
        }
    }

    /// The `misfire` policy (default `fire_once`) and `max_catchup` bound (default
    /// [`DEFAULT_MAX_CATCHUP`]) of a job or workflow table at `path`.
    pub(crate) fn misfire(&mut self, fields: &Fields<'_>, path: &str) -> (MisfirePolicy, u32) {
        let misfire = fields
            .get("misfire")
            .and_then(|entry| {
                self.choice(
                    entry,
                    path,
                    "misfire policy",
                    &[
                        ("fire_once", MisfirePolicy::FireOnce),
                        ("skip", MisfirePolicy::Skip),
                        ("fire_all", MisfirePolicy::FireAll),
                    ],
                )
            })
            .unwrap_or(MisfirePolicy::FireOnce);
        let max_catchup = fields
            .get("max_catchup")
            .and_then(|entry| self.integer_in(entry, path, MAX_CATCHUP_RANGE))
            .and_then(|max| u32::try_from(max).ok())
            .unwrap_or(DEFAULT_MAX_CATCHUP);
        (misfire, max_catchup)
    }

    /// Reads `schedule` or `every`. A cron expression that can never fire (`0 0 31 2 *`) is
    /// an error naming why, at the `schedule` value.
    pub(crate) fn trigger(&mut self, fields: &Fields<'_>, job_path: &str) -> Option<TriggerSpec> {
        let cron = fields.get("schedule").and_then(|entry| {
            let expr = self.string(entry, job_path)?;
            match CronExpr::parse(expr) {
                Ok(parsed) => match parsed.never_fires_reason() {
                    None => Some(TriggerSpec::Cron {
                        expr: expr.to_owned(),
                    }),
                    Some(reason) => {
                        self.error(
                            &entry.value.span,
                            &key_path(job_path, "schedule"),
                            format!("schedule `{expr}` never fires: {reason}"),
                            Some(NEVER_FIRES_HINT.to_owned()),
                        );
                        None
                    }
                },
                Err(error) => {
                    self.error(
                        &entry.value.span,
                        &key_path(job_path, "schedule"),
                        error.to_string(),
                        None,
                    );
                    None
                }
            }
        });
        let interval = fields.get("every").and_then(|entry| {
            let interval_ms = self.positive_duration_ms(
                entry,
                job_path,
                "leave `every` out for a job that runs only when triggered",
            )?;
            Some(TriggerSpec::Every { interval_ms })
        });
        if let (Some(schedule), Some(every)) = (fields.get("schedule"), fields.get("every")) {
            let later = later_of(schedule, every);
            self.error(
                &later.key_span,
                &key_path(job_path, &later.key),
                "`schedule` and `every` are both set",
                Some(
                    "use `schedule` for cron times or `every` for a fixed interval, not both"
                        .to_owned(),
                ),
            );
            return None;
        }
        cron.or(interval)
    }

    pub(crate) fn timezone(&mut self, entry: &Entry, job_path: &str) -> Option<String> {
        let name = self.string(entry, job_path)?;
        let error = match jobworks_schedule::parse_timezone(name) {
            Ok(zone) => return Some(zone.name().to_owned()),
            Err(error) => error,
        };
        let (message, hint) = match error {
            TimezoneError::Unknown { name, suggestions } => {
                let hint = match suggestions.as_slice() {
                    [] => "use an IANA name such as `Europe/London` or `UTC`".to_owned(),
                    [only] => format!("did you mean `{only}`?"),
                    several => format!(
                        "did you mean one of {}?",
                        list(several.iter().map(String::as_str))
                    ),
                };
                (format!("unknown time zone `{name}`"), Some(hint))
            }
            other => (other.to_string(), None),
        };
        self.error(
            &entry.value.span,
            &key_path(job_path, "timezone"),
            message,
            hint,
        );
        None
    }

    pub(crate) fn env(&mut self, entry: &Entry, job_path: &str) -> BTreeMap<String, String> {
        let path = key_path(job_path, "env");
        let mut env = BTreeMap::new();
        let Some(entries) = self.table(&entry.value, &path) else {
            return env;
        };
        for var in entries {
            let var_path = key_path(&path, &var.key);
            if !is_valid_env_name(&var.key) {
                self.error(
                    &var.key_span,
                    &var_path,
                    format!("invalid environment variable name `{}`", var.key),
                    Some("use letters, digits and `_`, not starting with a digit".to_owned()),
                );
                continue;
            }
            if var.key.starts_with("JOBWORKS_") {
                self.error(
                    &var.key_span,
                    &var_path,
                    format!("`{}` is reserved: Jobworks sets JOBWORKS_* variables", var.key),
                    Some(
                        format!(
                            "pass values to a {} with params: [{}.x] reaches the process as JOBWORKS_PARAM_X",
                            self.headers.noun, self.headers.params
                        ),
                    ),
                );
                continue;
            }
            match &var.value.kind {
                NodeKind::String(value) => {
                    env.insert(var.key.clone(), value.clone());
                }
                NodeKind::Invalid => {}
                _ => {
                    let hint = match var.value.kind {
                        NodeKind::Integer(_) | NodeKind::Float(_) | NodeKind::Bool(_) => var
                            .value
                            .scalar_text()
                            .map(|text| format!("environment values are strings: \"{text}\"")),
                        _ => None,
                    };
                    self.error(
                        &var.value.span,
                        &var_path,
                        format!("expected a string, found {}", var.value.describe()),
                        hint,
                    );
                }
            }
        }
        env
    }

    pub(crate) fn retries(&mut self, entry: &Entry, job_path: &str) -> Option<RetryPolicy> {
        let path = key_path(job_path, "retries");
        if let NodeKind::Integer(attempts) = entry.value.kind {
            self.error(
                &entry.value.span,
                &path,
                format!("expected a table, found integer {attempts}"),
                Some(format!(
                    "retries is a table: [{}] with max_attempts = {attempts}",
                    self.headers.retries
                )),
            );
            return None;
        }
        let entries = self.table(&entry.value, &path)?;
        let fields = self.known_fields(entries, &path, RETRY_FIELDS, |_| None);
        let errors_before = self.diagnostics.len();
        let mut policy = default_retry_policy();
        if let Some(entry) = fields.get("max_attempts") {
            if let NodeKind::Integer(0) = entry.value.kind {
                self.error(
                    &entry.value.span,
                    &key_path(&path, "max_attempts"),
                    "must be between 1 and 100, found 0",
                    Some(
                        "max_attempts counts every attempt including the first: 1 means no retries"
                            .to_owned(),
                    ),
                );
            } else if let Some(attempts) = self.integer_in(entry, &path, MAX_ATTEMPTS_RANGE) {
                policy.max_attempts = u32::try_from(attempts).unwrap_or(1);
            }
        }
        if let Some(entry) = fields.get("backoff")
            && let Some(backoff) = self.choice(
                entry,
                &path,
                "backoff",
                &[
                    ("fixed", Backoff::Fixed),
                    ("linear", Backoff::Linear),
                    ("exponential", Backoff::Exponential),
                ],
            )
        {
            policy.backoff = backoff;
        }
        let initial = fields.get("initial_delay");
        if let Some(entry) = initial
            && let Some(ms) = self.duration_ms(entry, &path)
        {
            policy.initial_delay_ms = ms;
        }
        let max = fields.get("max_delay");
        if let Some(entry) = max
            && let Some(ms) = self.duration_ms(entry, &path)
        {
            policy.max_delay_ms = ms;
        }
        if let Some(entry) = fields.get("jitter")
            && let Some(jitter) = self.number(entry, &path)
        {
            if (0.0..=1.0).contains(&jitter) {
                policy.jitter = jitter;
            } else {
                self.error(
                    &entry.value.span,
                    &key_path(&path, "jitter"),
                    format!("must be between 0.0 and 1.0, found {jitter}"),
                    Some("jitter is the fraction of each delay that is randomized".to_owned()),
                );
            }
        }
        if self.diagnostics.len() == errors_before && policy.max_delay_ms < policy.initial_delay_ms
        {
            let initial_text = format_ms(policy.initial_delay_ms);
            let max_text = format_ms(policy.max_delay_ms);
            // Reported at the value written last; the defaults alone are in order.
            let problem = match (initial, max) {
                (_, Some(max)) => Some((
                    max,
                    format!("max_delay {max_text} is shorter than initial_delay {initial_text}"),
                )),
                (Some(initial), None) => Some((
                    initial,
                    format!(
                        "initial_delay {initial_text} is longer than the default max_delay {max_text}"
                    ),
                )),
                (None, None) => None,
            };
            if let Some((at, message)) = problem {
                self.error(
                    &at.value.span,
                    &key_path(&path, &at.key),
                    message,
                    Some(
                        "max_delay caps every delay, so it must be at least initial_delay"
                            .to_owned(),
                    ),
                );
            }
        }
        (self.diagnostics.len() == errors_before).then_some(policy)
    }
}

/// Retry policy for a job without `[job.retries]`, and the base for one with it: one
/// attempt, 1 s initial delay, 1 h maximum delay, no jitter, the schedule crate's default
/// backoff (exponential). The initial delay is the job file's documented default, set here
/// explicitly because [`RetryPolicy::default`] uses 10 s.
pub(crate) fn default_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1,
        initial_delay_ms: DEFAULT_INITIAL_DELAY_MS,
        max_delay_ms: DEFAULT_MAX_DELAY_MS,
        jitter: 0.0,
        ..RetryPolicy::default()
    }
}

/// Whether `name` is a valid job name: `[a-z0-9][a-z0-9_.-]{0,62}` (1-63 ASCII characters,
/// lower case), the rule job files are checked against.
pub fn is_valid_job_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

/// A valid job name close to `name`: lower case, other characters as `-`.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.') {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = slug.trim_start_matches(['_', '.', '-']);
    slug.chars().take(63).collect()
}

/// Of two entries of one table, the one written later.
pub(crate) fn later_of<'n>(first: &'n Entry, second: &'n Entry) -> &'n Entry {
    if first.key_span.start > second.key_span.start {
        first
    } else {
        second
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_valid_env_name(name: &str) -> bool {
    is_valid_param_name(name)
}

/// `1h30m`, `1s500ms`: a millisecond count in the schedule crate's duration syntax.
fn format_ms(ms: u64) -> String {
    jobworks_schedule::format_duration(std::time::Duration::from_millis(ms))
}
