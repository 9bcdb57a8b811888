//! Writing an [`ImportReport`] as a Jobworks TOML job file, with notes as comments.

use std::fmt::Write as _;

use toml_writer::{ToTomlKey as _, ToTomlValue as _, TomlKeyBuilder, TomlStringBuilder};

use crate::command;
use crate::convert::jobworks_shell;
use crate::report::{ImportReport, ImportedJob};

/// Longest description before it is cut with `…`, in characters (without the source suffix).
const MAX_SUMMARY_CHARS: usize = 100;

/// Renders the jobs of `report` as a Jobworks TOML job file; `source_name` is the path the
/// report was read from and appears in comments and descriptions.
///
/// One `[[job]]` table per job, in file order, preceded by a comment naming the source line,
/// that line's notes and its `MAILTO`:
///
/// - `name`, `description` (the command's main simple command, the user and the source
///   line), `tags`, `schedule` (omitted for `@reboot`), `timezone` (only when `CRON_TZ` was
///   set), `env` (only when not empty);
/// - `[job.task]` with `type = "shell"`, `shell = "sh"` or `"bash"` (see
///   [`ImportedJob::shell`]), `errexit = false` (cron's `sh -c` goes on after a failing
///   command; Jobworks' default `-e` would stop), `script` (the command followed by a newline, as a multi-line
///   literal string when TOML allows it) and `stdin` when the entry had one.
///
/// Notes about lines that are not jobs go in the header; unconverted lines are listed as
/// comments at the end (`# line 12 not imported: <reason>: <text>`). Every string goes
/// through a TOML encoder, so commands, input and variables read back exactly.
pub fn render_job_file(report: &ImportReport, source_name: &str) -> String {
    let mut out = String::new();
    let source = comment_text(source_name);
    let _ = writeln!(
        out,
        "# Jobworks jobs imported from {source} by `jobworks import crontab`."
    );
    let _ = writeln!(
        out,
        "# {} imported, {} not imported; review before applying.",
        plural(report.jobs.len(), "job", "jobs"),
        plural(report.unconverted.len(), "line", "lines"),
    );
    for (line, note) in &report.notes {
        if !report.jobs.iter().any(|job| job.line == *line) {
            let _ = writeln!(out, "# line {line}: {}", comment_text(note));
        }
    }
    for job in &report.jobs {
        out.push('\n');
        render_job(&mut out, job, report, source_name);
    }
    if !report.unconverted.is_empty() {
        out.push('\n');
    }
    for entry in &report.unconverted {
        let _ = writeln!(
            out,
            "# line {} not imported: {}: {}",
            entry.line,
            comment_text(&entry.reason),
            comment_text(&entry.text),
        );
    }
    out
}

fn render_job(out: &mut String, job: &ImportedJob, report: &ImportReport, source_name: &str) {
    let source = comment_text(source_name);
    let _ = writeln!(
        out,
        "# Imported from {source} by `jobworks import crontab` — line {}",
        job.line
    );
    for (_, note) in report.notes.iter().filter(|(line, _)| *line == job.line) {
        let _ = writeln!(out, "# note: {}", comment_text(note));
    }
    if let Some(mailto) = &job.mailto {
        if mailto.is_empty() {
            let _ = writeln!(out, "# MAILTO=\"\": cron mail was off for this job");
        } else {
            let _ = writeln!(
                out,
                "# MAILTO={}: Jobworks does not send mail; set up notifications by hand",
                comment_text(mailto)
            );
        }
    }

    let summary = summary(&command::analyze(&job.command).summary);
    let description = match &job.user {
        Some(user) => format!("{summary} (user {user}, {source} line {})", job.line),
        None => format!("{summary} ({source} line {})", job.line),
    };
    out.push_str("[[job]]\n");
    let _ = writeln!(out, "name = {}", string(&job.name));
    let _ = writeln!(out, "description = {}", string(&description));
    let tags: Vec<String> = job.tags.iter().map(|tag| string(tag)).collect();
    let _ = writeln!(out, "tags = [{}]", tags.join(", "));
    if let Some(schedule) = &job.schedule {
        let _ = writeln!(out, "schedule = {}", string(schedule));
    }
    if let Some(timezone) = &job.timezone {
        let _ = writeln!(out, "timezone = {}", string(timezone));
    }
    if !job.env.is_empty() {
        let pairs: Vec<String> = job
            .env
            .iter()
            .map(|(name, value)| format!("{} = {}", key(name), string(value)))
            .collect();
        let _ = writeln!(out, "env = {{ {} }}", pairs.join(", "));
    }

    let (shell, _) = jobworks_shell(&job.shell);
    out.push_str("\n[job.task]\ntype = \"shell\"\n");
    let _ = writeln!(out, "shell = {}", string(shell));
    // cron runs the command with `sh -c` (or `$SHELL -c`), which goes on after a failing
    // command: keep that, not Jobworks' `-e` default.
    out.push_str("errexit = false\n");
    let _ = writeln!(out, "script = {}", script(&format!("{}\n", job.command)));
    if let Some(stdin) = &job.stdin {
        let _ = writeln!(out, "stdin = {}", string(stdin));
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The summary cut to [`MAX_SUMMARY_CHARS`].
fn summary(text: &str) -> String {
    if text.chars().count() <= MAX_SUMMARY_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Text safe inside a `#` comment and on one line: control characters other than tab are
/// escaped.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A TOML string in the encoder's preferred form; one line unless the text has newlines.
fn string(value: &str) -> String {
    let builder = TomlStringBuilder::new(value);
    if value.contains('\n') {
        return builder.as_default().to_toml_value();
    }
    builder
        .as_basic_pretty()
        .or_else(|| builder.as_literal())
        .unwrap_or_else(|| builder.as_basic())
        .to_toml_value()
}

/// A TOML key, bare when it can be.
fn key(name: &str) -> String {
    TomlKeyBuilder::new(name).as_default().to_toml_key()
}

/// A multi-line literal string (`'''`), or a multi-line basic string when the text has
/// characters a literal string cannot hold.
fn script(text: &str) -> String {
    let builder = TomlStringBuilder::new(text);
    builder
        .as_ml_literal()
        .unwrap_or_else(|| builder.as_ml_basic())
        .to_toml_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CrontabKind, parse_crontab};
    use jobworks_domain::{ShellKind, TaskSpec};

    fn toml_jobs(rendered: &str) -> Vec<toml::Table> {
        let document: toml::Table = toml::from_str(rendered)
            .unwrap_or_else(|error| panic!("rendered file is not TOML: {error}\n{rendered}"));
        document
            .get("job")
            .and_then(toml::Value::as_array)
            .map(|jobs| {
                jobs.iter()
                    .map(|job| job.as_table().expect("each job is a table").clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn str_at<'t>(table: &'t toml::Table, path: &[&str]) -> Option<&'t str> {
        let (last, parents) = path.split_last().expect("a non-empty path");
        let mut table = table;
        for parent in parents {
            table = table.get(*parent)?.as_table()?;
        }
        table.get(*last)?.as_str()
    }

    #[test]
    fn renders_the_documented_layout() {
        let report = parse_crontab(
            "SHELL=/bin/sh\n\
             PATH=/usr/local/sbin:/usr/bin\n\
             CRON_TZ=Europe/Paris\n\
             25 6\t* * *\troot\tcd / && run-parts --report /etc/cron.daily\n",
            CrontabKind::System,
            "/etc/crontab",
        );
        let rendered = render_job_file(&report, "/etc/crontab");
        let expected = "\
# Jobworks jobs imported from /etc/crontab by `jobworks import crontab`.
# 1 job imported, 0 lines not imported; review before applying.

# Imported from /etc/crontab by `jobworks import crontab` — line 4
[[job]]
name = \"crontab-cron-daily\"
description = \"run-parts --report /etc/cron.daily (user root, /etc/crontab line 4)\"
tags = [\"imported\", \"crontab\", \"user:root\"]
schedule = \"25 6 * * *\"
timezone = \"Europe/Paris\"
env = { PATH = \"/usr/local/sbin:/usr/bin\" }

[job.task]
type = \"shell\"
shell = \"sh\"
errexit = false
script = '''
cd / && run-parts --report /etc/cron.daily
'''
";
        assert_eq!(rendered, expected);
    }

    #[test]
    fn reboot_mailto_notes_and_unconverted_lines_are_comments() {
        let report = parse_crontab(
            "MAILTO=ops@example.com\n\
             SHELL=/bin/bash\n\
             @reboot /opt/warm-cache.sh\n\
             0 0 * * * * six-fields\n",
            CrontabKind::User,
            "alice",
        );
        let rendered = render_job_file(&report, "alice");
        let expected = "\
# Jobworks jobs imported from alice by `jobworks import crontab`.
# 1 job imported, 1 line not imported; review before applying.
# line 1: `MAILTO` is kept on the following jobs for reference; Jobworks does not send mail

# Imported from alice by `jobworks import crontab` — line 3
# note: `@reboot` has no schedule in Jobworks; imported as a manual job tagged `reboot`
# MAILTO=ops@example.com: Jobworks does not send mail; set up notifications by hand
[[job]]
name = \"alice-warm-cache\"
description = \"/opt/warm-cache.sh (alice line 3)\"
tags = [\"imported\", \"crontab\", \"reboot\"]

[job.task]
type = \"shell\"
shell = \"bash\"
errexit = false
script = '''
/opt/warm-cache.sh
'''

# line 4 not imported: `*` after the five time fields looks like a sixth time field; crontab has no seconds or year field: 0 0 * * * * six-fields
";
        assert_eq!(rendered, expected);
        let jobs = toml_jobs(&rendered);
        assert_eq!(jobs.len(), 1);
        assert!(!jobs[0].contains_key("schedule"));
    }

    /// Issue 7 point 6: cron runs `false; echo x` to the `echo`; the imported job must too,
    /// so it is written with `errexit = false` and Jobworks' own parser reads it so.
    #[test]
    fn imported_jobs_keep_crons_shell_semantics() {
        for (shell_line, shell) in [("", ShellKind::Sh), ("SHELL=/bin/bash\n", ShellKind::Bash)] {
            let report = parse_crontab(
                &format!("{shell_line}* * * * * false; echo x\n"),
                CrontabKind::User,
                "alice",
            );
            let rendered = render_job_file(&report, "alice");
            let jobs = jobworks_domain::file::parse_job_file(
                "alice.toml",
                &rendered,
                &jobworks_domain::file::FileContext::default(),
            )
            .unwrap_or_else(|errors| panic!("imported file does not validate: {errors:?}"));
            assert_eq!(
                jobs[0].task,
                TaskSpec::Shell {
                    script: Some("false; echo x\n".into()),
                    command: None,
                    shell,
                    errexit: false,
                    stdin: None,
                },
                "{rendered}"
            );
        }
    }

    #[test]
    fn commands_stdin_and_env_round_trip() {
        let commands = [
            r#"echo "it's" 'quoted' \"nested\" | tee -a /tmp/log"#,
            r"printf '%s\n' a\tb \\ back\\slash",
            "echo ''' triple ''' single",
            "echo \"\"\" triple double\"\"\"",
            "echo tab\there and trailing spaces   ",
            "echo unicode ✓ café",
            "echo control \u{7} bell \u{1b}[0m",
            "echo ends with quote'",
            "echo ends with two quotes''",
        ];
        let mut crontab = String::from(
            "PATH=\"/a b/bin:/usr/bin\"\nWEIRD='x = \"y\" \\ z'\n\"SPACED NAME\"=1\nEMPTY=\"\"\n",
        );
        for command in commands {
            let escaped = command.replace('%', "\\%");
            crontab.push_str(&format!("* * * * * {escaped}\n"));
        }
        crontab.push_str(
            "0 9 * * * mail -s 'report' root%Line one%  50\\% done  %%\"quoted\" ''' end\n",
        );
        let report = parse_crontab(&crontab, CrontabKind::User, "roundtrip");
        assert!(report.unconverted.is_empty(), "{:?}", report.unconverted);
        assert_eq!(report.jobs.len(), commands.len() + 1);

        let rendered = render_job_file(&report, "round\ntrip");
        let descriptions: Vec<&str> = rendered
            .lines()
            .filter(|line| line.starts_with("description = "))
            .collect();
        assert_eq!(descriptions.len(), report.jobs.len());
        for line in descriptions {
            let value = &line["description = ".len()..];
            assert!(
                !value.starts_with("\"\"\"") && !value.starts_with("'''"),
                "single-line descriptions stay on one line: {line}"
            );
        }
        let jobs = toml_jobs(&rendered);
        assert_eq!(jobs.len(), report.jobs.len());
        for (job, table) in report.jobs.iter().zip(&jobs) {
            let script = str_at(table, &["task", "script"]).expect("a script");
            assert_eq!(
                script,
                format!("{}\n", job.command),
                "script of line {}",
                job.line
            );
            assert_eq!(
                str_at(table, &["task", "stdin"]),
                job.stdin.as_deref(),
                "stdin of line {}",
                job.line
            );
            assert_eq!(str_at(table, &["name"]), Some(job.name.as_str()));
            let env: Vec<(String, String)> = table
                .get("env")
                .and_then(toml::Value::as_table)
                .expect("env is set")
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().expect("a string").to_owned()))
                .collect();
            let expected: Vec<(String, String)> = job.env.clone().into_iter().collect();
            assert_eq!(env, expected);
        }
        for (job, command) in report.jobs.iter().zip(commands) {
            assert_eq!(job.command, command);
        }
        let mail = report.jobs.last().expect("the mail job");
        assert_eq!(
            mail.stdin.as_deref(),
            Some("Line one\n  50% done  \n\n\"quoted\" ''' end\n")
        );
        assert_eq!(
            job_env(mail),
            [
                ("EMPTY", ""),
                ("PATH", "/a b/bin:/usr/bin"),
                ("SPACED NAME", "1"),
                ("WEIRD", "x = \"y\" \\ z")
            ]
        );
    }

    fn job_env(job: &ImportedJob) -> Vec<(&str, &str)> {
        job.env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    #[test]
    fn long_descriptions_are_cut() {
        let long = format!("/usr/bin/tool {}", "--flag ".repeat(30));
        let cut = summary(long.trim_end());
        assert_eq!(cut.chars().count(), MAX_SUMMARY_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn empty_report_is_an_empty_toml_document() {
        let rendered = render_job_file(&ImportReport::default(), "/etc/cron.d/none");
        assert!(toml_jobs(&rendered).is_empty());
        assert!(
            rendered.lines().all(|line| line.starts_with('#')),
            "{rendered}"
        );
    }
}
