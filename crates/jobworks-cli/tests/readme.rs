//! The README is checked: every `$ jobworks ...` command shown in a ```text block of
//! README.md and README.zh-CN.md runs against a fresh demo server (in a scratch directory
//! holding the files the README writes in ```toml blocks), and its output must have the
//! shape the README shows. The README blocks are the source of truth: a mismatch prints
//! the block, the command and a line diff.
//!
//! Shape: each line is split on whitespace and every word holding a digit becomes `#`
//! (times, ids, durations, pids, sizes), as do weekday names and `-` (a measurement not
//! taken), and a size unit joins its number, so column
//! widths, clock readings and measurements do not matter but words, columns and messages do. Lines are compared as sets (order and repeats
//! aside), because log streams interleave stdout and stderr and schedules add rows. For
//! `runs list`, whose rows depend on what the demo's schedules fired meanwhile, only the
//! header is compared. `runs show N` runs on the id the last `run ... --wait` printed.
//! The `cargo run --release -- ...` lines of ```sh blocks show no output: they run as
//! `jobworks ...` (`ID` standing for the last run's id) and must succeed; `server` lines are
//! not run (the test's server is the demo). Commands other than `jobworks` (`head`, `curl`)
//! are not run, except `curl` lines of ```sh blocks: each runs against the demo server (the
//! README's `$TOKEN` line is run too and must read the admin token) and its JSON must have
//! the shape of the JSON the README shows under it (the same keys, the same scalar types).

mod common;

use common::{TestServer, cli};
use std::collections::BTreeSet;
use std::path::Path;

/// One `$ command` of a README with the output shown under it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Example {
    readme: &'static str,
    /// 1-based line of the `$` line.
    line: usize,
    command: String,
    expected: Vec<String>,
    /// The last ```toml block before the command, for `-f FILE.toml`.
    toml_before: Option<String>,
    /// A `cargo run --release -- ...` line of a ```sh block: no output is shown, so only
    /// its success is checked.
    status_only: bool,
}

/// A `curl` command of a ```sh block (its `\` continuation lines joined) with the JSON
/// lines shown under it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CurlExample {
    readme: &'static str,
    /// 1-based line of the `curl` line.
    line: usize,
    command: String,
    expected: String,
}

/// The `TOKEN=$(...)` line and the `curl` examples of a README's ```sh blocks, in order.
fn curl_examples(readme: &'static str, text: &str) -> (Option<String>, Vec<CurlExample>) {
    let mut token_line = None;
    let mut found: Vec<CurlExample> = Vec::new();
    let mut in_sh = false;
    let mut continued = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continued = false;
            continue;
        }
        if !in_sh {
            continue;
        }
        if continued && let Some(last) = found.last_mut() {
            last.command.push(' ');
            last.command
                .push_str(line.trim().trim_end_matches('\\').trim_end());
            continued = line.ends_with('\\');
        } else if line.starts_with("TOKEN=$(") {
            token_line = Some(line.to_owned());
        } else if line.starts_with("curl ") {
            found.push(CurlExample {
                readme,
                line: index + 1,
                command: line.trim_end_matches('\\').trim_end().to_owned(),
                expected: String::new(),
            });
            continued = line.ends_with('\\');
        } else if (line.starts_with('{') || line.starts_with('['))
            && let Some(last) = found.last_mut()
        {
            last.expected.push_str(line);
        }
    }
    (token_line, found)
}

/// The shape of a JSON value: objects by their keys (each value's shape), arrays by their
/// first item, scalars by their type; `null` stands for any type (a field the README shows
/// unset may be set on the test's server, and the other way round).
fn json_shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), json_shape(item)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.first().map(json_shape).into_iter().collect()),
        Value::Null => Value::Null,
        Value::Bool(_) => Value::from("bool"),
        Value::Number(_) => Value::from("number"),
        Value::String(_) => Value::from("string"),
    }
}

/// Whether `actual` has the shape `expected` shows: the same keys everywhere, the same
/// scalar types, `null` on either side matching anything, an empty array matching any array.
fn same_shape(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Null, _) | (_, Value::Null) => true,
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(key, item)| a.get(key).is_some_and(|other| same_shape(item, other)))
        }
        (Value::Array(e), Value::Array(a)) => match (e.first(), a.first()) {
            (Some(e), Some(a)) => same_shape(e, a),
            _ => true,
        },
        (e, a) => e == a,
    }
}

/// Runs one `curl` example against `server` (the README's `http://127.0.0.1:8080` replaced by
/// its URL, `$TOKEN` its admin token); returns a description of the mismatch, if any.
fn check_curl(example: &CurlExample, server: &TestServer) -> Option<String> {
    let command = example
        .command
        .replace("http://127.0.0.1:8080", &server.url);
    let output = std::process::Command::new("bash")
        .args(["-c", &command])
        .env("TOKEN", &server.token)
        .output()
        .expect("run bash");
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    let place = format!("{}:{}: `{}`", example.readme, example.line, example.command);
    let expected: serde_json::Value = match serde_json::from_str(&example.expected) {
        Ok(value) => value,
        Err(e) => return Some(format!("{place}: the README's output is not JSON ({e})")),
    };
    let actual: serde_json::Value = match serde_json::from_str(&shown) {
        Ok(value) => value,
        Err(e) => return Some(format!("{place}: the output is not JSON ({e}): {shown}")),
    };
    let (expected, actual) = (json_shape(&expected), json_shape(&actual));
    (!same_shape(&expected, &actual)).then(|| {
        format!("{place} does not print what the README shows\n  README shape: {expected}\n  output shape: {actual}\n  output was: {shown}")
    })
}

/// The `$ jobworks` examples of a README's ```text blocks, in order.
fn examples(readme: &'static str, text: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut block: Option<&str> = None;
    let mut toml = String::new();
    let mut last_toml = None;
    let mut current: Option<Example> = None;
    for (index, line) in text.lines().enumerate() {
        if let Some(kind) = block {
            if line.starts_with("```") {
                if kind == "toml" {
                    last_toml = Some(std::mem::take(&mut toml));
                }
                found.extend(current.take());
                block = None;
                continue;
            }
            match kind {
                "sh" => {
                    if let Some(rest) = line.strip_prefix("cargo run --release -- ") {
                        // drop an aligned `  # comment`
                        let command = rest.split("  #").next().unwrap_or(rest).trim_end();
                        found.push(Example {
                            readme,
                            line: index + 1,
                            command: format!("jobworks {command}"),
                            expected: Vec::new(),
                            toml_before: None,
                            status_only: true,
                        });
                    }
                }
                "toml" => {
                    toml.push_str(line);
                    toml.push('\n');
                }
                "text" => {
                    if let Some(command) = line.strip_prefix("$ ") {
                        found.extend(current.take());
                        current = Some(Example {
                            readme,
                            line: index + 1,
                            command: command.to_owned(),
                            expected: Vec::new(),
                            toml_before: last_toml.clone(),
                            status_only: false,
                        });
                    } else if let Some(example) = &mut current {
                        example.expected.push(line.to_owned());
                    }
                }
                _ => {}
            }
        } else if let Some(kind) = line.strip_prefix("```") {
            block = Some(match kind {
                "toml" => "toml",
                "text" => "text",
                "sh" => "sh",
                _ => "other",
            });
        }
    }
    found
}

/// Splits a command line as a shell would for the simple cases the README uses: words,
/// double and single quotes, and a trailing `> FILE`.
fn split(command: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    let redirect = match words.iter().position(|w| w == ">") {
        Some(at) => {
            let target = words.get(at + 1).cloned();
            words.truncate(at);
            target
        }
        None => None,
    };
    (words, redirect)
}

/// Weekday names, which change with the clock like the digits beside them.
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Size units, which change with the measurement beside them (`1.7 MiB`, `192.0 KiB`).
const SIZE_UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];

/// The shape of a line: words with a digit, weekday names and size units become `#`, and a
/// relative time that came due (`(now)`) reads as `(in #)`.
fn shape(line: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for word in line.split_whitespace() {
        if word == "(now)" {
            // a relative time that came due (`(in 30s)` a moment earlier): the clock's word
            out.extend(["(in", "#"]);
        } else if SIZE_UNITS.contains(&word) {
            // `1.4 MiB` is one measurement: the unit joins its number's `#`
            if out.last() != Some(&"#") {
                out.push("#");
            }
        } else if word.bytes().any(|b| b.is_ascii_digit())
            || WEEKDAYS.contains(&word)
            // `-`: a measurement not taken (a process too short to sample, no signal)
            || word == "-"
        {
            out.push("#");
        } else {
            out.push(word);
        }
    }
    out.join(" ")
}

fn shapes(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|line| shape(line))
        .filter(|line| !line.is_empty())
        .collect()
}

/// Runs one example; returns a description of the mismatch, if any.
fn check(
    example: &Example,
    server: &TestServer,
    dir: &Path,
    last_run: &mut Option<String>,
) -> Option<String> {
    let (mut words, redirect) = split(&example.command);
    if words.first().map(String::as_str) != Some("jobworks") {
        return None;
    }
    words.remove(0);
    if words.first().map(String::as_str) == Some("server") {
        return None;
    }
    if let Some(id) = last_run.as_ref() {
        for word in &mut words {
            if word == "ID" {
                word.clone_from(id);
            }
        }
    }
    if words.len() == 3
        && words[0] == "runs"
        && words[1] == "show"
        && let Some(id) = last_run
    {
        words[2] = id.clone();
    }
    // files the command reads that a ```toml block above defines
    if let Some(at) = words.iter().position(|w| w == "-f")
        && let (Some(file), Some(toml)) = (words.get(at + 1), &example.toml_before)
        && file.ends_with(".toml")
    {
        std::fs::write(dir.join(file), toml).expect("write the README's toml");
    }
    if words.iter().any(|w| w == "/etc/crontab") && !Path::new("/etc/crontab").exists() {
        eprintln!("not covered here: {} (no /etc/crontab)", example.command);
        return None;
    }
    let output = cli(server)
        .args(&words)
        .current_dir(dir)
        .output()
        .expect("run jobworks");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let shown = match &redirect {
        Some(file) => {
            std::fs::write(dir.join(file), &stdout).expect("write the redirected output");
            stderr
        }
        None => format!("{stdout}{stderr}"),
    };
    let actual: Vec<String> = shown.lines().map(str::to_owned).collect();
    if words.first().map(String::as_str) == Some("run")
        && let Some(id) = actual
            .last()
            .and_then(|line| line.strip_prefix("run "))
            .and_then(|rest| rest.split_whitespace().next())
    {
        *last_run = Some(id.to_owned());
    }
    if example.status_only {
        return (!output.status.success()).then(|| {
            format!(
                "{}:{}: `{}` fails ({:?}):\n{shown}",
                example.readme,
                example.line,
                example.command,
                output.status.code()
            )
        });
    }
    let header_only = words.len() >= 2 && words[0] == "runs" && words[1] == "list";
    let (expected, actual) = if header_only {
        (
            shapes(&example.expected[..example.expected.len().min(1)]),
            shapes(&actual[..actual.len().min(1)]),
        )
    } else {
        (shapes(&example.expected), shapes(&actual))
    };
    if expected == actual {
        return None;
    }
    let mut report = format!(
        "{}:{}: `{}` does not print what the README shows\n",
        example.readme, example.line, example.command
    );
    for line in expected.difference(&actual) {
        report.push_str(&format!("  - {line}\n"));
    }
    for line in actual.difference(&expected) {
        report.push_str(&format!("  + {line}\n"));
    }
    report.push_str(
        "  (- README only, + output only; shapes: words with digits shown as #)\n  output was:\n",
    );
    for line in shown.lines() {
        report.push_str(&format!("    {line}\n"));
    }
    Some(report)
}

#[test]
fn shell_words_and_shapes() {
    assert_eq!(
        split(r#"jobworks schedule preview "*/15 * * * * *" --tz 'Europe/London'"#),
        (
            [
                "jobworks",
                "schedule",
                "preview",
                "*/15 * * * * *",
                "--tz",
                "Europe/London"
            ]
            .map(String::from)
            .to_vec(),
            None
        )
    );
    assert_eq!(
        split("jobworks import crontab /etc/crontab > cron.toml"),
        (
            ["jobworks", "import", "crontab", "/etc/crontab"]
                .map(String::from)
                .to_vec(),
            Some("cron.toml".to_owned())
        )
    );
    assert_eq!(
        shape("2   flaky       succeeded  manual    -   3.20s"),
        "# flaky succeeded manual # #"
    );
    // a peak RSS too short to sample (`-`) has the shape of a measured one (`1.4 MiB`)
    assert_eq!(
        shape("1  failed  0ms/0ms  1.4 MiB  -"),
        shape("1  failed  0ms/0ms  -        -")
    );
    // a next fire that came due while listing reads as one a moment ahead
    assert_eq!(
        shape("heartbeat  * * * * *  -  shell  1  enabled  2026-12-04 23:06:30 (now)"),
        shape("heartbeat  * * * * *  -  shell  1  enabled  2026-12-04 23:06:40 (in 10s)")
    );
    let text =
        "a\n```toml\nx = 1\n```\n```text\n$ jobworks validate -f x.toml\nok\n\n$ jobworks b\n```\n";
    let found = examples("R", text);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].command, "jobworks validate -f x.toml");
    assert_eq!(found[0].expected, ["ok", ""]);
    assert_eq!(found[0].toml_before.as_deref(), Some("x = 1\n"));
    assert_eq!(found[1].line, 9);
    let api =
        "```sh\nTOKEN=$(x)\n\ncurl -s -X POST u \\\n  -H 'A: b'\n{\"a\": 1}\ncurl -s v\n[1]\n```\n";
    let (token, curls) = curl_examples("R", api);
    assert_eq!(token.as_deref(), Some("TOKEN=$(x)"));
    assert_eq!(curls.len(), 2);
    assert_eq!(curls[0].command, "curl -s -X POST u -H 'A: b'");
    assert_eq!(curls[0].expected, "{\"a\": 1}");
    assert_eq!((curls[1].line, curls[1].expected.as_str()), (7, "[1]"));
    let shape_of = |text: &str| json_shape(&serde_json::from_str(text).expect("json"));
    for (expected, actual, same) in [
        (r#"{"a":1,"b":"x"}"#, r#"{"b":"y","a":2}"#, true),
        (r#"{"a":1}"#, r#"{"a":1,"b":2}"#, false),
        (r#"{"a":null}"#, r#"{"a":"now set"}"#, true),
        (r#"{"a":1}"#, r#"{"a":"1"}"#, false),
        (r#"[{"id":1}]"#, r#"[]"#, true),
        (r#"[{"id":1}]"#, r#"[{"ident":1}]"#, false),
    ] {
        assert_eq!(
            same_shape(&shape_of(expected), &shape_of(actual)),
            same,
            "{expected} ~ {actual}"
        );
    }
    let sh = "```sh\ncargo run --release -- runs show ID   # a run\ncargo build\n```\n";
    let found = examples("R", sh);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].command, "jobworks runs show ID");
    assert!(found[0].status_only);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_commands_print_what_the_readme_shows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &["--demo"]);
    let mut all = examples("README.md", include_str!("../../../README.md"));
    all.extend(examples(
        "README.zh-CN.md",
        include_str!("../../../README.zh-CN.md"),
    ));
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let mut last_run = None;
    let mut covered = 0;
    for example in &all {
        // the two READMEs show the same commands: run each distinct one once
        if !seen.insert((example.command.clone(), example.expected.clone())) {
            continue;
        }
        covered += 1;
        if let Some(failure) = check(example, &server, &work, &mut last_run) {
            failures.push(failure);
        }
    }
    assert!(covered >= 10, "found only {covered} README commands");
    // the API examples: `TOKEN=$(...)` reads the admin token from the data dir's client.toml
    let (token_line, curls) = curl_examples("README.md", include_str!("../../../README.md"));
    let token_line = token_line.expect("README.md shows how to read the token");
    std::os::unix::fs::symlink(server.dir.join("data"), work.join("jobworks-data"))
        .expect("link the data dir where the README has it");
    let read = std::process::Command::new("bash")
        .args(["-c", &format!("{token_line}\nprintf %s \"$TOKEN\"")])
        .current_dir(&work)
        .output()
        .expect("run bash");
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        server.token,
        "README.md's `{token_line}` does not read the admin token"
    );
    assert!(curls.len() >= 4, "found only {} curl examples", curls.len());
    for example in &curls {
        if let Some(failure) = check_curl(example, &server) {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} README example(s) out of date:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
