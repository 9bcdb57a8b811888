//! Job file tests: each case is a file and the exact diagnostics it yields (or the jobs).

use super::*;
use crate::concurrency::ConcurrencyPolicy;
use crate::params::{ParamFormat, ParamSpec, ParamType, ParamValue};
use crate::spec::{ShellKind, TaskSpec, TriggerSpec};
use jobworks_schedule::{Backoff, MisfirePolicy, RetryPolicy};
use std::collections::BTreeMap;

fn context() -> FileContext {
    FileContext {
        known_datasources: Some(vec!["warehouse".into(), "metrics".into()]),
        base_dir: Some(PathBuf::from("/srv/jobs")),
    }
}

/// Parses `input` (a leading newline is dropped so the text starts on line 1) and compares
/// the rendered diagnostics, one per line, or `ok: <names>` for a valid file.
#[track_caller]
fn check(input: &str, expected: &str) {
    let input = input.strip_prefix('\n').unwrap_or(input);
    let got = match parse_job_file("jobs/test.toml", input, &context()) {
        Ok(jobs) => {
            let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
            format!("ok: {}", names.join(", ")).trim_end().to_owned()
        }
        Err(diagnostics) => diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let expected = expected.strip_prefix('\n').unwrap_or(expected).trim_end();
    assert_eq!(
        got, expected,
        "\n--- input ---\n{input}\n--- got ---\n{got}\n--- expected ---\n{expected}\n"
    );
}

/// A valid job around `body`, which starts on line 3.
fn job_with(body: &str) -> String {
    format!("[[job]]\nname = \"j\"\n{body}\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n")
}

#[test]
fn unknown_fields() {
    check(
        &job_with("shedule = \"*/5 * * * *\""),
        r#"
jobs/test.toml:3:1: job[1].shedule: unknown field `shedule`
  hint: did you mean `schedule`?
"#,
    );
    check(
        &job_with("retry = 3\ncolour = \"red\""),
        r#"
jobs/test.toml:3:1: job[1].retry: unknown field `retry`
  hint: did you mean `retries`?
jobs/test.toml:4:1: job[1].colour: unknown field `colour`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
script = "true"
file = "x.py"
shel = "bash"
"#,
        r#"
jobs/test.toml:6:1: job[1].task.file: unknown field `file`
  hint: `file` belongs to python tasks
jobs/test.toml:7:1: job[1].task.shel: unknown field `shel`
  hint: did you mean `shell`?
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
script = "true"
[job.retries]
max_attempt = 3
"#,
        r#"
jobs/test.toml:7:1: job[1].retries.max_attempt: unknown field `max_attempt`
  hint: did you mean `max_attempts`?
"#,
    );
}

#[test]
fn top_level() {
    check("", "ok:");
    check("# nothing yet\n", "ok:");
    check(
        r#"
[[jbo]]
name = "j"
"#,
        r#"
jobs/test.toml:1:3: jbo: unknown top-level key `jbo`
  hint: did you mean `job`?
"#,
    );
    check(
        r#"
name = "j"
[[workflow]]
name = "w"
"#,
        r#"
jobs/test.toml:1:1: name: unknown top-level key `name`
  hint: `name` is a job field: put it after a [[job]] header
jobs/test.toml:2:3: workflow: only jobs are read here (parse_job_file): workflows need parse_file
"#,
    );
    check(
        r#"job = "x""#,
        r#"
jobs/test.toml:1:7: job: expected a table, found string "x"
  hint: start each job with a [[job]] header
"#,
    );
    check(
        r#"job = ["x"]"#,
        r#"
jobs/test.toml:1:8: job[1]: expected a table, found string "x"
"#,
    );
}

#[test]
fn single_job_table() {
    check(
        r#"
[job]
name = "solo"
[job.task]
type = "shell"
command = ["true"]
"#,
        "ok: solo",
    );
    check(
        r#"
[job]
name = "solo"
every = 5
[job.task]
type = "shell"
command = ["true"]
"#,
        r#"
jobs/test.toml:3:9: job[1].every: expected a string like "30s", found integer 5
  hint: durations need a unit: "5s"
"#,
    );
}

#[test]
fn toml_syntax() {
    check(
        r#"
[[job]]
name = "j
schedule = "* * * * *"
"#,
        r#"
jobs/test.toml:2:10: invalid TOML: invalid basic string, expected `"`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
name = "k"
"#,
        r#"
jobs/test.toml:3:1: invalid TOML: duplicate key
"#,
    );
    check(
        "[[job]\nname = 1\n",
        r#"
jobs/test.toml:1:7: invalid TOML: unclosed array table, expected `]`
"#,
    );
}

#[test]
fn names() {
    check(
        r#"
[[job]]
task = { type = "shell", script = "true" }
"#,
        r#"
jobs/test.toml:1:1: job[1]: missing field `name`
  hint: add name = "my-job"
"#,
    );
    check(
        r#"
[[job]]
name = "Disk Usage!"
task = { type = "shell", script = "true" }
"#,
        r#"
jobs/test.toml:2:8: job[1].name: invalid job name `Disk Usage!`
  hint: try `disk-usage`
"#,
    );
    check(
        r#"
[[job]]
name = "-"
task = { type = "shell", script = "true" }
"#,
        r#"
jobs/test.toml:2:8: job[1].name: invalid job name `-`
  hint: use 1-63 characters from a-z, 0-9, `_`, `.` and `-`, starting with a letter or digit
"#,
    );
    check(
        r#"
[[job]]
name = "backup"
task = { type = "shell", script = "true" }

[[job]]
name = "backup"
task = { type = "shell", script = "true" }
"#,
        r#"
jobs/test.toml:6:8: job[2].name: duplicate job name `backup`, first used on line 2
  hint: job names must be unique
"#,
    );
    check(
        r#"
[[job]]
name = "j"
"#,
        r#"
jobs/test.toml:1:1: job[1]: missing field `task`
  hint: add a [job.task] table with type = "shell", "python" or "sql"
"#,
    );
}

#[test]
fn job_name_rule() {
    let longest = "a".repeat(63);
    let too_long = "a".repeat(64);
    for (name, valid) in [
        ("disk-usage", true),
        ("0", true),
        ("etl.daily_v2", true),
        (longest.as_str(), true),
        (too_long.as_str(), false),
        ("", false),
        ("-x", false),
        (".x", false),
        ("_x", false),
        ("Disk", false),
        ("a b", false),
        ("ü", false),
    ] {
        assert_eq!(is_valid_job_name(name), valid, "{name:?}");
    }
}

#[test]
fn triggers() {
    check(&job_with("schedule = \"*/5 * * * *\""), "ok: j");
    check(
        &job_with("schedule = \"0 0 32 * *\""),
        r#"
jobs/test.toml:3:12: job[1].schedule: cron field 3 (day of month): 32 is out of range 1-31
"#,
    );
    check(
        &job_with("schedule = \"* * *\""),
        r#"
jobs/test.toml:3:12: job[1].schedule: expected 5 or 6 fields (or a macro such as @daily), found 3
"#,
    );
    check(
        &job_with("schedule = \"@daily\"\nevery = \"5m\""),
        r#"
jobs/test.toml:4:1: job[1].every: `schedule` and `every` are both set
  hint: use `schedule` for cron times or `every` for a fixed interval, not both
"#,
    );
    check(
        &job_with("every = \"5m\"\nschedule = \"@daily\""),
        r#"
jobs/test.toml:4:1: job[1].schedule: `schedule` and `every` are both set
  hint: use `schedule` for cron times or `every` for a fixed interval, not both
"#,
    );
    check(
        &job_with("schedule = \"0 0 32 * *\"\nevery = \"0s\""),
        r#"
jobs/test.toml:3:12: job[1].schedule: cron field 3 (day of month): 32 is out of range 1-31
jobs/test.toml:4:1: job[1].every: `schedule` and `every` are both set
  hint: use `schedule` for cron times or `every` for a fixed interval, not both
jobs/test.toml:4:9: job[1].every: `every` must be longer than zero
  hint: leave `every` out for a job that runs only when triggered
"#,
    );
    check(
        &job_with("every = \"0s\""),
        r#"
jobs/test.toml:3:9: job[1].every: `every` must be longer than zero
  hint: leave `every` out for a job that runs only when triggered
"#,
    );
    check(
        &job_with("every = \"5 minutes\""),
        r#"
jobs/test.toml:3:9: job[1].every: unknown unit `minutes` in duration `5 minutes` (expected ms, s, m, h or d)
"#,
    );
    check(
        &job_with("timezone = \"Europe/Londn\""),
        r#"
jobs/test.toml:3:12: job[1].timezone: unknown time zone `Europe/Londn`
  hint: did you mean `Europe/London`?
"#,
    );
    for (schedule, reason) in [
        ("0 0 31 2 *", "day 31 never occurs in February"),
        (
            "0 0 31 4,6,9,11 *",
            "day 31 never occurs in April, June, September or November",
        ),
        (
            "0 0 0 30-31 FEB ?",
            "days 30 and 31 never occur in February",
        ),
    ] {
        check(
            &job_with(&format!("schedule = \"{schedule}\"")),
            &format!(
                "jobs/test.toml:3:12: job[1].schedule: schedule `{schedule}` never fires: {reason}\n  hint: pick days that exist in those months; with the day of week restricted too (not `*`), a day matches when either field does"
            ),
        );
    }
    // Both day fields restricted: either may match, so Mondays in February fire.
    check(&job_with("schedule = \"0 0 31 2 1\""), "ok: j");
    check(&job_with("schedule = \"0 0 29 2 *\""), "ok: j");
    check(
        &job_with("schedule = \"@reboot\""),
        r#"
jobs/test.toml:3:12: job[1].schedule: @reboot has no schedule equivalent: it runs once when the daemon starts
"#,
    );
    check(
        &job_with("timezone = \"\""),
        r#"
jobs/test.toml:3:12: job[1].timezone: empty time zone name: expected an IANA name such as `Europe/London` or `UTC`
"#,
    );
    check(
        &job_with("timezone = \"europe/london\"\nevery = \"1h30m\""),
        "ok: j",
    );
    check(
        &job_with("every = \"30\""),
        r#"
jobs/test.toml:3:9: job[1].every: duration `30` has a number without a unit: add a unit, e.g. 30s
"#,
    );
    check(
        &job_with("schedule = 5"),
        r#"
jobs/test.toml:3:12: job[1].schedule: expected a string, found integer 5
"#,
    );
}

#[test]
fn scalar_fields() {
    check(
        &job_with("timeout = 30"),
        r#"
jobs/test.toml:3:11: job[1].timeout: expected a string like "30s", found integer 30
  hint: durations need a unit: "30s"
"#,
    );
    check(
        &job_with("timeout = 1.5"),
        r#"
jobs/test.toml:3:11: job[1].timeout: expected a string like "30s", found float 1.5
  hint: durations are strings with a unit, like "30s", "5m" or "1h30m"
"#,
    );
    check(
        &job_with("timeout = \"0s\""),
        r#"
jobs/test.toml:3:11: job[1].timeout: `timeout` must be longer than zero
  hint: leave `timeout` out for no timeout
"#,
    );
    check(
        &job_with("concurrency = \"forbidd\""),
        r#"
jobs/test.toml:3:15: job[1].concurrency: unknown concurrency policy `forbidd`
  hint: did you mean `forbid`?
"#,
    );
    check(
        &job_with("concurrency = \"never\""),
        r#"
jobs/test.toml:3:15: job[1].concurrency: unknown concurrency policy `never`
  hint: expected one of `allow`, `forbid`, `queue`, `replace`
"#,
    );
    check(
        &job_with("misfire = \"fire-all\""),
        r#"
jobs/test.toml:3:11: job[1].misfire: unknown misfire policy `fire-all`
  hint: did you mean `fire_all`?
"#,
    );
    check(
        &job_with("max_catchup = 0"),
        r#"
jobs/test.toml:3:15: job[1].max_catchup: must be between 1 and 10000, found 0
"#,
    );
    check(
        &job_with("priority = \"5\""),
        r#"
jobs/test.toml:3:12: job[1].priority: expected an integer, found string "5"
  hint: remove the quotes: 5
"#,
    );
    check(
        &job_with("priority = 3000000000"),
        r#"
jobs/test.toml:3:12: job[1].priority: must be between -2147483648 and 2147483647, found 3000000000
"#,
    );
    check(
        &job_with("priority = 99999999999999999999"),
        r#"
jobs/test.toml:3:12: job[1].priority: integer is out of the 64-bit range
"#,
    );
    check(
        &job_with("enabled = \"false\""),
        r#"
jobs/test.toml:3:11: job[1].enabled: expected true or false, found string "false"
  hint: remove the quotes: false
"#,
    );
    check(
        &job_with("output_cap = 1000"),
        r#"
jobs/test.toml:3:14: job[1].output_cap: expected a string like "10MiB", found integer 1000
  hint: sizes need a unit: "1000B"
"#,
    );
    check(
        &job_with("output_cap = \"10MB2\""),
        r#"
jobs/test.toml:3:14: job[1].output_cap: invalid size "10MB2": unknown size unit `MB2`
  hint: units: B, KiB, MiB, GiB (1024-based), KB, MB, GB (1000-based)
"#,
    );
    check(
        &job_with("output_cap = \"1.5MiB\""),
        r#"
jobs/test.toml:3:14: job[1].output_cap: invalid size "1.5MiB": a size is a whole number of a unit
  hint: use a smaller unit, like "1536KiB" for 1.5 MiB
"#,
    );
    check(
        &job_with("output_cap = \"10\""),
        r#"
jobs/test.toml:3:14: job[1].output_cap: invalid size "10": a size needs a unit
  hint: sizes need a unit: "10B" or "10MiB"
"#,
    );
    check(
        &job_with("output_cap = \"0B\""),
        r#"
jobs/test.toml:3:14: job[1].output_cap: size must be at least 1 byte
"#,
    );
    check(
        &job_with("output_cap = \"10TiB\""),
        r#"
jobs/test.toml:3:14: job[1].output_cap: invalid size "10TiB": unknown size unit `TiB`
  hint: units: B, KiB, MiB, GiB (1024-based), KB, MB, GB (1000-based)
"#,
    );
    check(&job_with("output_cap = \"10 mb\""), "ok: j");
    check(&job_with("output_cap = \"10Mib\""), "ok: j");
    check(
        &job_with("working_dir = \"\""),
        r#"
jobs/test.toml:3:15: job[1].working_dir: `working_dir` is empty
"#,
    );
    check(
        &job_with("tags = [\"ops\", \"\", \"ops\", 3]"),
        r#"
jobs/test.toml:3:16: job[1].tags[2]: tag is empty
jobs/test.toml:3:20: job[1].tags[3]: duplicate tag `ops`
jobs/test.toml:3:27: job[1].tags[4]: expected a string, found integer 3
"#,
    );
    check(
        &job_with("tags = \"ops\""),
        r#"
jobs/test.toml:3:8: job[1].tags: expected an array, found string "ops"
"#,
    );
    check(
        &job_with("description = 1979-05-27"),
        r#"
jobs/test.toml:3:15: job[1].description: expected a string, found datetime 1979-05-27
"#,
    );
}

#[test]
fn env() {
    check(
        &job_with(
            "env = { LANG = \"C.UTF-8\", JOBWORKS_RUN = \"1\", \"MY-VAR\" = \"x\", PORT = 8080 }",
        ),
        r#"
jobs/test.toml:3:27: job[1].env.JOBWORKS_RUN: `JOBWORKS_RUN` is reserved: Jobworks sets JOBWORKS_* variables
  hint: pass values to a job with params: [job.params.x] reaches the process as JOBWORKS_PARAM_X
jobs/test.toml:3:47: job[1].env.MY-VAR: invalid environment variable name `MY-VAR`
  hint: use letters, digits and `_`, not starting with a digit
jobs/test.toml:3:70: job[1].env.PORT: expected a string, found integer 8080
  hint: environment values are strings: "8080"
"#,
    );
    check(
        &job_with("[job.env]\nLANG = \"C\"\n2FA = \"x\""),
        r#"
jobs/test.toml:5:1: job[1].env.2FA: invalid environment variable name `2FA`
  hint: use letters, digits and `_`, not starting with a digit
"#,
    );
}

#[test]
fn tasks() {
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shel"
script = "true"
"#,
        r#"
jobs/test.toml:4:8: job[1].task.type: unknown task type `shel`
  hint: did you mean `shell`?
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "perl"
"#,
        r#"
jobs/test.toml:4:8: job[1].task.type: unknown task type `perl`
  hint: expected one of `shell`, `python`, `sql`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
script = "true"
"#,
        r#"
jobs/test.toml:3:1: job[1].task: missing field `type`
  hint: task types: `shell`, `python`, `sql`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
script = "true"
command = ["true"]
"#,
        r#"
jobs/test.toml:6:1: job[1].task.command: `script` and `command` are both set
  hint: use `script` for a shell script or `command` for a program with arguments, not both
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
command = []
script = ""
"#,
        r#"
jobs/test.toml:5:11: job[1].task.command: command is empty
  hint: command = ["program", "arg"]
jobs/test.toml:6:1: job[1].task.script: `script` and `command` are both set
  hint: use `script` for a shell script or `command` for a program with arguments, not both
jobs/test.toml:6:10: job[1].task.script: `script` is empty
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
stdin = "x"
"#,
        r#"
jobs/test.toml:3:1: job[1].task: shell task needs `script` or `command`
  hint: add script = "..." or command = ["program", "arg"]
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
command = "df -P /"
"#,
        r#"
jobs/test.toml:5:11: job[1].task.command: expected an array of strings, found string "df -P /"
  hint: split the program and its arguments: command = ["df", "-P", "/"], or run a command line with script = "df -P /"
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
command = []
"#,
        r#"
jobs/test.toml:5:11: job[1].task.command: command is empty
  hint: command = ["program", "arg"]
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
command = ["", 3]
shell = "bash"
"#,
        r#"
jobs/test.toml:5:12: job[1].task.command[1]: program name is empty
jobs/test.toml:5:16: job[1].task.command[2]: expected a string, found integer 3
jobs/test.toml:6:1: job[1].task.shell: `shell` has no effect with `command`
  hint: a command runs without a shell: remove `shell`, or use `script`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
script = "true"
shell = "zsh"
"#,
        r#"
jobs/test.toml:6:9: job[1].task.shell: unknown shell `zsh`
  hint: did you mean `sh`?
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "python"
file = "x.py"
script = "print(1)"
"#,
        r#"
jobs/test.toml:6:1: job[1].task.script: `script` and `file` are both set
  hint: use `script` for inline code or `file` for a script file, not both
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "python"
"#,
        r#"
jobs/test.toml:3:1: job[1].task: python task needs `script` or `file`
  hint: add script = "..." or file = "scripts/job.py"
"#,
    );
    check(
        r#"
[[job]]
name = "j"
task = "echo hi"
"#,
        r#"
jobs/test.toml:3:8: job[1].task: expected a table, found string "echo hi"
"#,
    );
}

#[test]
fn sql_tasks() {
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "sql"
datasource = "warehous"
query = "select 1"
"#,
        r#"
jobs/test.toml:5:14: job[1].task.datasource: unknown datasource `warehous`
  hint: did you mean `warehouse`?
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "sql"
datasource = "billing"
query = "select 1"
"#,
        r#"
jobs/test.toml:5:14: job[1].task.datasource: unknown datasource `billing`
  hint: known datasources: `jobworks`, `warehouse`, `metrics`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "sql"
datasource = "jobworks"
query = "select * from runs where started_at > ? and state = ?"
bind = ["sinc", "state"]
[job.params.since]
type = "string"
"#,
        r#"
jobs/test.toml:7:9: job[1].task.bind[1]: bind name `sinc` is not a declared param
  hint: did you mean `since`?
jobs/test.toml:7:17: job[1].task.bind[2]: bind name `state` is not a declared param
  hint: declare it under [job.params.state]
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "sql"
"#,
        r#"
jobs/test.toml:3:1: job[1].task: missing field `datasource`
  hint: add datasource = "jobworks" to query the Jobworks store
jobs/test.toml:3:1: job[1].task: missing field `query`
  hint: add query = "select ..."
"#,
    );
}

#[test]
fn retries() {
    check(
        &job_with("[job.retries]\nmax_attempts = 0\nbackoff = \"exponentail\"\njitter = 1.5"),
        r#"
jobs/test.toml:4:16: job[1].retries.max_attempts: must be between 1 and 100, found 0
  hint: max_attempts counts every attempt including the first: 1 means no retries
jobs/test.toml:5:11: job[1].retries.backoff: unknown backoff `exponentail`
  hint: did you mean `exponential`?
jobs/test.toml:6:10: job[1].retries.jitter: must be between 0.0 and 1.0, found 1.5
  hint: jitter is the fraction of each delay that is randomized
"#,
    );
    check(
        &job_with("[job.retries]\nmax_attempts = 101"),
        r#"
jobs/test.toml:4:16: job[1].retries.max_attempts: must be between 1 and 100, found 101
"#,
    );
    check(
        &job_with("[job.retries]\ninitial_delay = \"10s\"\nmax_delay = \"5s\""),
        r#"
jobs/test.toml:5:13: job[1].retries.max_delay: max_delay 5s is shorter than initial_delay 10s
  hint: max_delay caps every delay, so it must be at least initial_delay
"#,
    );
    check(
        &job_with("[job.retries]\ninitial_delay = \"2h\""),
        r#"
jobs/test.toml:4:17: job[1].retries.initial_delay: initial_delay 2h is longer than the default max_delay 1h
  hint: max_delay caps every delay, so it must be at least initial_delay
"#,
    );
    check(
        &job_with("[job.retries]\nmax_delay = 60"),
        r#"
jobs/test.toml:4:13: job[1].retries.max_delay: expected a string like "30s", found integer 60
  hint: durations need a unit: "60s"
"#,
    );
    check(
        &job_with("retries = 3"),
        r#"
jobs/test.toml:3:11: job[1].retries: expected a table, found integer 3
  hint: retries is a table: [job.retries] with max_attempts = 3
"#,
    );
    check(
        &job_with("retries = \"3\""),
        r#"
jobs/test.toml:3:11: job[1].retries: expected a table, found string "3"
"#,
    );
}

#[test]
fn params() {
    check(
        &job_with(
            r#"[job.params.env]
type = "enum"
values = ["dev", "prod"]
default = "staging""#,
        ),
        r#"
jobs/test.toml:6:11: job[1].params.env.default: default `staging` is not one of `dev`, `prod`
"#,
    );
    check(
        &job_with(
            r#"[job.params.env]
type = "enum"
values = ["dev", "prod"]
default = "prd""#,
        ),
        r#"
jobs/test.toml:6:11: job[1].params.env.default: default `prd` is not one of `dev`, `prod`
  hint: did you mean `prod`?
"#,
    );
    check(
        &job_with(
            r#"[job.params.threshold]
type = "int"
min = 0
max = 100
default = 120"#,
        ),
        r#"
jobs/test.toml:7:11: job[1].params.threshold.default: default 120 is above the maximum 100
"#,
    );
    check(
        &job_with(
            r#"[job.params.code]
type = "string"
pattern = "^[a-z+$"
default = "abc""#,
        ),
        r#"
jobs/test.toml:5:11: job[1].params.code.pattern: invalid regex: unclosed character class
"#,
    );
    check(
        &job_with(
            r#"[job.params.code]
type = "string"
pattern = "[a-z]+"
default = "abc1""#,
        ),
        r#"
jobs/test.toml:6:11: job[1].params.code.default: default `abc1` does not match the pattern `[a-z]+`
"#,
    );
    check(
        &job_with(
            r#"[job.params.n]
type = "float"
min = 10
max = 5"#,
        ),
        r#"
jobs/test.toml:6:7: job[1].params.n.max: min 10 is greater than max 5
"#,
    );
    check(
        &job_with(
            r#"[job.params.n]
type = "int"
min = 1.5
default = "42""#,
        ),
        r#"
jobs/test.toml:5:7: job[1].params.n.min: expected an integer for an int param, found float 1.5
jobs/test.toml:6:11: job[1].params.n.default: expected an integer, found string "42"
  hint: remove the quotes: 42
"#,
    );
    check(
        &job_with(
            r#"[job.params.port]
type = "int"
format = "port"
pattern = "[0-9]+"
values = ["1"]"#,
        ),
        r#"
jobs/test.toml:5:1: job[1].params.port.format: `format` applies only to string params, not int
  hint: for a port number use type = "int" with min = 1 and max = 65535
jobs/test.toml:6:1: job[1].params.port.pattern: `pattern` applies only to string params, not int
  hint: set type = "string"
jobs/test.toml:7:1: job[1].params.port.values: `values` applies only to enum params, not int
  hint: set type = "enum" to allow only listed values
"#,
    );
    check(
        &job_with(
            r#"[job.params.flag]
type = "bool"
min = 0
default = "true""#,
        ),
        r#"
jobs/test.toml:5:1: job[1].params.flag.min: `min` does not apply to bool params
jobs/test.toml:6:11: job[1].params.flag.default: expected a boolean, found string "true"
  hint: remove the quotes: true
"#,
    );
    check(
        &job_with(
            r#"[job.params.choice]
type = "enum"
[job.params.other]
type = "enum"
values = ["a", "a"]
[job.params.name]
type = "string"
min = -1
max = 2.5
[job.params.x]
type = "integer"
required = true
[job.params.y]
description = "no type"
[job.params."my param"]
type = "string"
[job.params.z]
type = "string"
format = "mail"
default = 5"#,
        ),
        r#"
jobs/test.toml:3:1: job[1].params.choice: enum param needs `values`
  hint: add values = ["a", "b"]
jobs/test.toml:7:16: job[1].params.other.values[2]: duplicate value `a`
jobs/test.toml:10:7: job[1].params.name.min: expected a length (a whole number, 0 or more), found integer -1
  hint: for string params, min and max bound the length in characters
jobs/test.toml:11:7: job[1].params.name.max: expected a length (a whole number, 0 or more), found float 2.5
  hint: for string params, min and max bound the length in characters
jobs/test.toml:13:8: job[1].params.x.type: unknown param type `integer`
  hint: did you mean `int`?
jobs/test.toml:14:1: job[1].params.x.required: unknown field `required`
  hint: params without a default are required; give a default to make one optional
jobs/test.toml:15:1: job[1].params.y: missing field `type`
  hint: param types: `string`, `int`, `float`, `bool`, `enum`
jobs/test.toml:17:13: job[1].params."my param": invalid param name `my param`
  hint: use letters, digits and `_`, not starting with a digit
jobs/test.toml:21:10: job[1].params.z.format: unknown format `mail`
  hint: did you mean `email`?
jobs/test.toml:22:11: job[1].params.z.default: expected a string, found integer 5
  hint: quote it: "5"
"#,
    );
    check(
        &job_with(
            r#"[job.params.region]
type = "string"
[job.params.REGION]
type = "string""#,
        ),
        r#"
jobs/test.toml:5:13: job[1].params.REGION: params `region` and `REGION` both reach processes as JOBWORKS_PARAM_REGION
  hint: param names must differ in more than letter case
"#,
    );
    check(
        &job_with("params = { port = \"int\" }"),
        r#"
jobs/test.toml:3:19: job[1].params.port: expected a table, found string "int"
  hint: declare a param as a table: [job.params.port] with type = "string"
"#,
    );
    check(
        &job_with(
            r#"[job.params.email]
type = "string"
format = "email"
default = "not-an-email"
secret = true"#,
        ),
        r#"
jobs/test.toml:6:11: job[1].params.email.default: default value is not an email address
"#,
    );
    check(
        &job_with(
            r#"[job.params.port]
type = "string"
format = "port"
default = "8080""#,
        ),
        "ok: j",
    );
}

#[test]
fn many_errors_at_once_sorted_by_line() {
    check(
        r#"
[[job]]
name = "first"
shedule = "*/5 * * * *"
timeout = 30

[job.task]
type = "sql"
datasource = "warehous"
query = "select 1"
bind = ["since"]

[[job]]
name = "first"
every = "1h"
schedule = "0 0 32 * *"
concurrency = "forbidd"

[job.task]
type = "shell"
script = "true"
command = ["true"]

[job.retries]
max_attempts = 0

[job.params.level]
type = "enum"
values = ["low", "high"]
default = "medium"
"#,
        r#"
jobs/test.toml:3:1: job[1].shedule: unknown field `shedule`
  hint: did you mean `schedule`?
jobs/test.toml:4:11: job[1].timeout: expected a string like "30s", found integer 30
  hint: durations need a unit: "30s"
jobs/test.toml:8:14: job[1].task.datasource: unknown datasource `warehous`
  hint: did you mean `warehouse`?
jobs/test.toml:10:9: job[1].task.bind[1]: bind name `since` is not a declared param
  hint: declare it under [job.params.since]
jobs/test.toml:13:8: job[2].name: duplicate job name `first`, first used on line 2
  hint: job names must be unique
jobs/test.toml:15:1: job[2].schedule: `schedule` and `every` are both set
  hint: use `schedule` for cron times or `every` for a fixed interval, not both
jobs/test.toml:15:12: job[2].schedule: cron field 3 (day of month): 32 is out of range 1-31
jobs/test.toml:16:15: job[2].concurrency: unknown concurrency policy `forbidd`
  hint: did you mean `forbid`?
jobs/test.toml:21:1: job[2].task.command: `script` and `command` are both set
  hint: use `script` for a shell script or `command` for a program with arguments, not both
jobs/test.toml:24:16: job[2].retries.max_attempts: must be between 1 and 100, found 0
  hint: max_attempts counts every attempt including the first: 1 means no retries
jobs/test.toml:29:11: job[2].params.level.default: default `medium` is not one of `low`, `high`
"#,
    );
}

/// A file using every field, shared by the round-trip and robustness tests.
const FULL_FILE: &str = r#"
[[job]]
name = "disk-usage"
description = "Fail when / is fuller than the threshold"
tags = ["ops", "disk"]
schedule = "*/5 * * * *"
timezone = "Europe/London"
enabled = false
priority = -3
timeout = "1m30s"
concurrency = "forbid"
misfire = "fire_all"
max_catchup = 50
output_cap = "512KiB"
working_dir = "/tmp"
env = { LANG = "C.UTF-8", TZ = "UTC" }

[job.task]
type = "shell"
script = """df -P / """
shell = "bash"
stdin = "input"

[job.retries]
max_attempts = 3
backoff = "linear"
initial_delay = "2s"
max_delay = "5m"
jitter = 0.1

# params keep file order, not name order
[job.params.threshold]
type = "int"
default = 90
min = 0
max = 100
description = "percent"

[job.params.mode]
type = "enum"
values = ["warn", "fail"]
default = "fail"

[job.params.contact]
type = "string"
pattern = "[a-z.]+@example[.]com"
format = "email"
min = 5
max = 64
secret = true

[job.params.ratio]
type = "float"
default = 1

[job.params.dry_run]
type = "bool"
default = true

[[job]]
name = "report"
every = "30s"
[job.task]
type = "python"
file = "scripts/report.py"

[[job]]
name = "cleanup"
[job.task]
type = "sql"
datasource = "warehouse"
query = "delete from t where at < ?"
bind = ["before"]
[job.params.before]
type = "string"

[[job]]
name = "abs"
task = { type = "python", file = "/opt/x.py" }

[[job]]
name = "cmd"
task = { type = "shell", command = ["df", "-P", "/"] }
"#;

#[test]
fn full_file_round_trips() {
    let text = FULL_FILE;
    let jobs = parse_job_file("jobs/full.toml", text, &context()).expect("the full file is valid");
    let [disk, report, cleanup, abs, cmd] = jobs.as_slice() else {
        panic!("expected 5 jobs, got {jobs:#?}");
    };

    let param = |name: &str, kind| ParamSpec::new(name, kind);
    let expected_disk = JobSpec {
        name: "disk-usage".into(),
        description: "Fail when / is fuller than the threshold".into(),
        tags: vec!["ops".into(), "disk".into()],
        trigger: Some(TriggerSpec::Cron {
            expr: "*/5 * * * *".into(),
        }),
        timezone: Some("Europe/London".into()),
        task: TaskSpec::Shell {
            script: Some("df -P / ".into()),
            command: None,
            shell: ShellKind::Bash,
            errexit: true,
            stdin: Some("input".into()),
        },
        params: vec![
            ParamSpec {
                default: Some(ParamValue::Int(90)),
                min: Some(0.0),
                max: Some(100.0),
                description: "percent".into(),
                ..param("threshold", ParamType::Int)
            },
            ParamSpec {
                values: vec!["warn".into(), "fail".into()],
                default: Some(ParamValue::String("fail".into())),
                ..param("mode", ParamType::Enum)
            },
            ParamSpec {
                pattern: Some("[a-z.]+@example[.]com".into()),
                format: Some(ParamFormat::Email),
                min: Some(5.0),
                max: Some(64.0),
                secret: true,
                ..param("contact", ParamType::String)
            },
            ParamSpec {
                default: Some(ParamValue::Float(1.0)),
                ..param("ratio", ParamType::Float)
            },
            ParamSpec {
                default: Some(ParamValue::Bool(true)),
                ..param("dry_run", ParamType::Bool)
            },
        ],
        env: BTreeMap::from([
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("TZ".to_owned(), "UTC".to_owned()),
        ]),
        working_dir: Some("/tmp".into()),
        timeout_ms: Some(90_000),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::Linear,
            initial_delay_ms: 2_000,
            max_delay_ms: 300_000,
            jitter: 0.1,
        },
        concurrency: ConcurrencyPolicy::Forbid,
        priority: -3,
        misfire: MisfirePolicy::FireAll,
        max_catchup: 50,
        output_cap_bytes: 512 * 1024,
        enabled: false,
        run_on: None,
    };
    assert_eq!(disk, &expected_disk);

    // Defaults everywhere else.
    let defaults = |name: &str, trigger, task| JobSpec {
        name: name.into(),
        description: String::new(),
        tags: Vec::new(),
        trigger,
        timezone: None,
        task,
        params: Vec::new(),
        env: BTreeMap::new(),
        working_dir: None,
        timeout_ms: None,
        retry: RetryPolicy {
            max_attempts: 1,
            initial_delay_ms: 1_000,
            max_delay_ms: 3_600_000,
            jitter: 0.0,
            ..RetryPolicy::default()
        },
        concurrency: ConcurrencyPolicy::Allow,
        priority: 0,
        misfire: MisfirePolicy::FireOnce,
        max_catchup: 10,
        output_cap_bytes: 10 * 1024 * 1024,
        enabled: true,
        run_on: None,
    };
    assert_eq!(
        report,
        &defaults(
            "report",
            Some(TriggerSpec::Every {
                interval_ms: 30_000
            }),
            TaskSpec::Python {
                script: None,
                file: Some("/srv/jobs/scripts/report.py".into()),
            },
        )
    );
    assert_eq!(
        cleanup,
        &JobSpec {
            params: vec![param("before", ParamType::String)],
            ..defaults(
                "cleanup",
                None,
                TaskSpec::Sql {
                    datasource: "warehouse".into(),
                    query: "delete from t where at < ?".into(),
                    bind: vec!["before".into()],
                    multi_statement: false,
                },
            )
        }
    );
    assert_eq!(
        abs,
        &defaults(
            "abs",
            None,
            TaskSpec::Python {
                script: None,
                file: Some("/opt/x.py".into()),
            },
        )
    );
    assert_eq!(
        cmd,
        &defaults(
            "cmd",
            None,
            TaskSpec::Shell {
                script: None,
                command: Some(vec!["df".into(), "-P".into(), "/".into()]),
                shell: ShellKind::Sh,
                errexit: true,
                stdin: None,
            },
        )
    );

    // The specs survive their JSON form (what the store keeps) unchanged.
    for job in &jobs {
        let back: JobSpec =
            serde_json::from_str(&job.canonical_json()).expect("canonical JSON parses back");
        assert_eq!(&back, job);
    }
}

#[test]
fn timezone_names_are_canonical() {
    let text = "[job]\nname = \"t\"\ntimezone = \" america/new_york \"\ntask = { type = \"shell\", script = \"true\" }\n";
    let jobs = parse_job_file("t.toml", text, &FileContext::default()).expect("valid");
    assert_eq!(jobs[0].timezone.as_deref(), Some("America/New_York"));
}

#[test]
fn base_dir_is_optional() {
    let text = "[job]\nname = \"p\"\ntask = { type = \"python\", file = \"x.py\" }\n";
    let jobs = parse_job_file("p.toml", text, &FileContext::default()).expect("valid");
    assert_eq!(
        jobs[0].task,
        TaskSpec::Python {
            script: None,
            file: Some("x.py".into()),
        }
    );
    // Without a datasource list, any datasource is accepted.
    let text = "[job]\nname = \"q\"\ntask = { type = \"sql\", datasource = \"anything\", query = \"select 1\" }\n";
    assert!(parse_job_file("q.toml", text, &FileContext::default()).is_ok());
}

#[test]
fn unique_names_across_files() {
    let job = |name: &str| {
        let text =
            format!("[job]\nname = \"{name}\"\ntask = {{ type = \"shell\", script = \"true\" }}\n");
        parse_job_file("x.toml", &text, &FileContext::default())
            .expect("valid")
            .remove(0)
    };
    let files = vec![
        ("jobs/a.toml".to_owned(), vec![job("backup"), job("report")]),
        ("jobs/b.toml".to_owned(), vec![job("clean"), job("backup")]),
        ("jobs/c.toml".to_owned(), vec![job("backup")]),
    ];
    let errors = check_unique_names(&files).expect_err("backup is defined three times");
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "job name `backup` is defined more than once: jobs/a.toml job[1] and jobs/b.toml job[2]",
            "job name `backup` is defined more than once: jobs/a.toml job[1] and jobs/c.toml job[1]",
        ]
    );
    assert_eq!(
        errors[0].duplicate,
        JobLocation {
            source: "jobs/b.toml".into(),
            index: 2
        }
    );
    assert!(check_unique_names(&files[..1]).is_ok());
}

#[test]
fn never_panics_on_truncated_or_mutated_input() {
    let ctx = context();
    // Every prefix: unterminated strings, tables and arrays at every position.
    for (end, _) in FULL_FILE.char_indices() {
        let _ = parse_job_file("cut.toml", &FULL_FILE[..end], &ctx);
    }
    // Deterministic mutations: replace one byte with a character that often matters in
    // TOML or in our value syntaxes.
    let specials = b"\"'[]{}=,.#\n\\0-+_:@ x9";
    let bytes = FULL_FILE.as_bytes();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..3_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = usize::try_from(state % bytes.len() as u64).expect("index fits usize");
        let with = specials
            [usize::try_from((state >> 32) % specials.len() as u64).expect("index fits usize")];
        let mut mutated = bytes.to_vec();
        mutated[at] = with;
        if let Ok(text) = String::from_utf8(mutated)
            && let Err(diagnostics) = parse_job_file("mutated.toml", &text, &ctx)
        {
            for diagnostic in diagnostics {
                assert!(
                    diagnostic.line >= 1 && diagnostic.column >= 1,
                    "{diagnostic}"
                );
                assert!(!diagnostic.message.is_empty(), "{diagnostic}");
            }
        }
    }
}

/// Issue 7 point 6: `errexit` defaults to on, `errexit = false` turns it off, and it is
/// refused where it means nothing (with `command`) or is not a boolean.
#[test]
fn shell_errexit_switch() {
    let errexit_of = |task_lines: &str| {
        let text = format!(
            "[[job]]\nname = \"j\"\n[job.task]\ntype = \"shell\"\nscript = \"false; echo x\"\n{task_lines}"
        );
        let jobs = parse_job_file("jobs/test.toml", &text, &context()).expect("valid");
        match &jobs[0].task {
            TaskSpec::Shell { errexit, .. } => *errexit,
            other => panic!("not a shell task: {other:?}"),
        }
    };
    assert!(errexit_of(""));
    assert!(errexit_of("errexit = true\n"));
    assert!(!errexit_of("errexit = false\n"));
    assert!(!errexit_of("shell = \"bash\"\nerrexit = false\n"));
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
script = "true"
errexit = "no"
"#,
        r#"
jobs/test.toml:6:11: job[1].task.errexit: expected true or false, found string "no"
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "shell"
command = ["true"]
errexit = false
"#,
        r#"
jobs/test.toml:6:1: job[1].task.errexit: `errexit` has no effect with `command`
  hint: a command runs without a shell: remove `errexit`, or use `script`
"#,
    );
    check(
        r#"
[[job]]
name = "j"
[job.task]
type = "python"
script = "print(1)"
errexit = false
"#,
        r#"
jobs/test.toml:6:1: job[1].task.errexit: unknown field `errexit`
  hint: `errexit` belongs to shell tasks
"#,
    );
}

/// The stored spec keeps its old JSON shape when `errexit` is on (the default is not
/// written), and a spec stored before the field existed reads back with it on.
#[test]
fn shell_errexit_json_shape() {
    let task = TaskSpec::Shell {
        script: Some("true".into()),
        command: None,
        shell: ShellKind::Sh,
        errexit: true,
        stdin: None,
    };
    let json = serde_json::to_value(&task).expect("serializes");
    assert!(json.get("errexit").is_none(), "{json}");
    assert_eq!(
        serde_json::from_value::<TaskSpec>(json).expect("reads back"),
        task
    );
    let off = TaskSpec::Shell {
        script: Some("true".into()),
        command: None,
        shell: ShellKind::Sh,
        errexit: false,
        stdin: None,
    };
    let json = serde_json::to_value(&off).expect("serializes");
    assert_eq!(json["errexit"], serde_json::json!(false));
    assert_eq!(
        serde_json::from_value::<TaskSpec>(json).expect("reads"),
        off
    );
}
