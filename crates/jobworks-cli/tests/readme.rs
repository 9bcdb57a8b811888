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
//! are not run.

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
    assert!(
        failures.is_empty(),
        "{} README example(s) out of date:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
