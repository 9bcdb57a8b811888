//! Turning a crontab's lines into an [`ImportReport`]: variables in force, jobs, notes.

use std::collections::BTreeMap;

use crate::command;
use crate::name::NameAllocator;
use crate::parse::{self, Entry, Line, LineProblem, Variable, When};
use crate::report::{CrontabKind, ImportReport, ImportedJob, Unconverted};

/// cron's shell when `SHELL` is not set (crontab(5)).
pub(crate) const DEFAULT_SHELL: &str = "/bin/sh";

/// The note attached to every `@reboot` entry.
pub(crate) const REBOOT_NOTE: &str =
    "`@reboot` has no schedule in Jobworks; imported as a manual job tagged `reboot`";

/// Parses a crontab and converts its entries into Jobworks job definitions.
///
/// `text` is the whole file; `kind` says whether entries carry a user field; `source_name`
/// (a path such as `/etc/cron.d/e2scrub_all`) only seeds job names with its file stem. This
/// never fails: entries that cannot be converted land in [`ImportReport::unconverted`] with
/// their line number and a reason.
///
/// Semantics follow crontab(5) of cronie and Vixie cron: a variable setting applies to the
/// entries after it; `SHELL`, `MAILTO` and `CRON_TZ` become [`ImportedJob::shell`],
/// [`ImportedJob::mailto`] and [`ImportedJob::timezone`], every other variable goes to
/// [`ImportedJob::env`]; `%` splits the command from its standard input (see
/// [`ImportedJob::stdin`]).
pub fn parse_crontab(text: &str, kind: CrontabKind, source_name: &str) -> ImportReport {
    let mut report = ImportReport::default();
    let mut settings = Settings::default();
    let mut names = NameAllocator::new(source_name);
    let mut last_line = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        last_line = line;
        match parse::classify(raw, kind) {
            Line::Inactive => {}
            Line::Variable(variable) => settings.apply(variable, line, &mut report.notes),
            Line::Entry(entry) => {
                match convert_entry(entry, line, &settings, &mut names, &mut report.notes) {
                    Ok(job) => report.jobs.push(job),
                    Err(problem) => report.unconverted.push(unconverted(line, raw, &problem)),
                }
            }
            Line::Invalid(problem) => report.unconverted.push(unconverted(line, raw, &problem)),
        }
    }
    let unterminated = !text.is_empty() && !text.ends_with('\n');
    if unterminated && report.jobs.last().is_some_and(|job| job.line == last_line) {
        report.notes.push((
            last_line,
            "the file does not end with a newline, so cron ignores this last entry; imported anyway"
                .to_owned(),
        ));
    }
    report
}

fn unconverted(line: usize, raw: &str, problem: &LineProblem) -> Unconverted {
    Unconverted {
        line,
        text: raw.to_owned(),
        reason: problem.to_string(),
    }
}

/// The variables in force at a point of the file.
#[derive(Debug, Default)]
struct Settings {
    shell: Option<String>,
    mailto: Option<String>,
    timezone: Option<String>,
    env: BTreeMap<String, String>,
}

impl Settings {
    fn apply(&mut self, variable: Variable, line: usize, notes: &mut Vec<(usize, String)>) {
        let Variable {
            name,
            value,
            empty_unquoted,
        } = variable;
        if empty_unquoted {
            notes.push((
                line,
                format!("`{name}=` with no value is an error for cron (write `{name}=\"\"`); imported as empty"),
            ));
        }
        match name.as_str() {
            "SHELL" => self.shell = Some(value),
            "MAILTO" => {
                if !value.is_empty() {
                    notes.push((
                        line,
                        "`MAILTO` is kept on the following jobs for reference; Jobworks does not send mail"
                            .to_owned(),
                    ));
                }
                self.mailto = Some(value);
            }
            "CRON_TZ" => self.timezone = Some(value).filter(|zone| !zone.is_empty()),
            _ => {
                if name == "RANDOM_DELAY" {
                    notes.push((
                        line,
                        "cronie's `RANDOM_DELAY` has no Jobworks equivalent; kept only as an environment variable"
                            .to_owned(),
                    ));
                }
                self.env.insert(name, value);
            }
        }
    }
}

/// Jobworks' shell for a cron `SHELL`: `bash` for a path ending in `bash`, otherwise `sh`;
/// the flag says whether that is the shell cron would have used.
pub(crate) fn jobworks_shell(shell: &str) -> (&'static str, bool) {
    match shell.rsplit('/').next().unwrap_or(shell) {
        "bash" => ("bash", true),
        "sh" | "dash" => ("sh", true),
        _ => ("sh", false),
    }
}

fn convert_entry(
    entry: Entry<'_>,
    line: usize,
    settings: &Settings,
    names: &mut NameAllocator,
    notes: &mut Vec<(usize, String)>,
) -> Result<ImportedJob, LineProblem> {
    let (command, stdin) = parse::split_percent(entry.command);
    if command.trim().is_empty() {
        return Err(LineProblem::EmptyCommand);
    }
    let facts = command::analyze(&command);
    let shell = settings
        .shell
        .clone()
        .unwrap_or_else(|| DEFAULT_SHELL.to_owned());

    let schedule = match entry.when {
        When::Reboot => {
            notes.push((line, REBOOT_NOTE.to_owned()));
            None
        }
        When::Schedule(fields) => {
            if fields.contains('~') {
                notes.push((
                    line,
                    "`~` makes cronie pick a random value once when it loads the file; check that Jobworks accepts the schedule"
                        .to_owned(),
                ));
            }
            Some(fields)
        }
    };
    if entry.no_log {
        notes.push((
            line,
            "the leading `-` (do not log to syslog) was dropped; Jobworks records every run"
                .to_owned(),
        ));
    }
    let (jobworks, faithful) = jobworks_shell(&shell);
    if !faithful {
        notes.push((
            line,
            format!("Jobworks runs shell tasks with sh or bash, not `{shell}`; this job will run with {jobworks}"),
        ));
    }

    let mut tags = vec!["imported".to_owned(), "crontab".to_owned()];
    if let Some(user) = entry.user {
        tags.push(format!("user:{user}"));
    }
    if schedule.is_none() {
        tags.push("reboot".to_owned());
    }
    Ok(ImportedJob {
        line,
        name: names.allocate(&facts.name_words),
        schedule,
        timezone: settings.timezone.clone(),
        user: entry.user.map(str::to_owned),
        command,
        stdin,
        shell,
        env: settings.env.clone(),
        mailto: settings.mailto.clone(),
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_crontab(text: &str) -> ImportReport {
        parse_crontab(text, CrontabKind::User, "/var/spool/cron/crontabs/alice")
    }

    fn job_at(report: &ImportReport, line: usize) -> &ImportedJob {
        report
            .jobs
            .iter()
            .find(|job| job.line == line)
            .unwrap_or_else(|| panic!("a job at line {line} in {report:#?}"))
    }

    #[test]
    fn variables_apply_only_to_later_entries() {
        let report = user_crontab(
            "0 1 * * * first\n\
             PATH=/usr/local/bin:/usr/bin\n\
             0 2 * * * second\n\
             FOO = \" spaced \"\n\
             PATH='/opt/bin'\n\
             0 3 * * * third\n",
        );
        let env = |line| {
            job_at(&report, line)
                .env
                .clone()
                .into_iter()
                .collect::<Vec<_>>()
        };
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(env(1), vec![]);
        assert_eq!(env(3), vec![pair("PATH", "/usr/local/bin:/usr/bin")]);
        assert_eq!(
            env(6),
            vec![pair("FOO", " spaced "), pair("PATH", "/opt/bin")]
        );
    }

    #[test]
    fn special_variables_leave_env_alone() {
        let report = user_crontab(
            "0 0 * * * before\n\
             SHELL=/bin/bash\n\
             MAILTO=ops@example.com\n\
             CRON_TZ=Europe/Paris\n\
             LANG=C.UTF-8\n\
             0 0 * * * after\n\
             CRON_TZ=\n\
             MAILTO=\"\"\n\
             0 0 * * * later\n",
        );
        let before = job_at(&report, 1);
        assert_eq!(before.shell, "/bin/sh");
        assert_eq!(before.mailto, None);
        assert_eq!(before.timezone, None);
        let after = job_at(&report, 6);
        assert_eq!(after.shell, "/bin/bash");
        assert_eq!(after.mailto.as_deref(), Some("ops@example.com"));
        assert_eq!(after.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(after.env.keys().collect::<Vec<_>>(), ["LANG"]);
        let later = job_at(&report, 9);
        assert_eq!(later.timezone, None);
        assert_eq!(later.mailto.as_deref(), Some(""));
        assert!(
            report
                .notes
                .iter()
                .any(|(line, note)| *line == 3 && note.contains("MAILTO"))
        );
        assert!(
            report
                .notes
                .iter()
                .any(|(line, note)| *line == 7 && note.contains("`CRON_TZ=` with no value"))
        );
        assert!(report.unconverted.is_empty(), "{:?}", report.unconverted);
    }

    #[test]
    fn percent_gives_stdin() {
        let report = user_crontab(
            "0 22 * * 1-5 mail -s \"It's 10pm\" joe%Joe,%%Where are your kids?%\n\
             5 0 * * * date +\\%F >> /tmp/dates\n",
        );
        let mail = job_at(&report, 1);
        assert_eq!(mail.command, "mail -s \"It's 10pm\" joe");
        assert_eq!(
            mail.stdin.as_deref(),
            Some("Joe,\n\nWhere are your kids?\n")
        );
        let date = job_at(&report, 2);
        assert_eq!(date.command, "date +%F >> /tmp/dates");
        assert_eq!(date.stdin, None);
    }

    #[test]
    fn reboot_becomes_a_tagged_manual_job() {
        let report = parse_crontab(
            "@reboot root /usr/local/bin/warmup\n",
            CrontabKind::System,
            "/etc/cron.d/warmup",
        );
        let job = job_at(&report, 1);
        assert_eq!(job.schedule, None);
        assert_eq!(job.tags, ["imported", "crontab", "user:root", "reboot"]);
        assert_eq!(job.name, "warmup");
        assert_eq!(report.notes, vec![(1, REBOOT_NOTE.to_owned())]);
    }

    #[test]
    fn user_and_system_kinds() {
        let line = "*/5 * * * * www-data php /srv/app/artisan schedule:run\n";
        let system = parse_crontab(line, CrontabKind::System, "/etc/cron.d/app");
        let job = job_at(&system, 1);
        assert_eq!(job.user.as_deref(), Some("www-data"));
        assert_eq!(job.command, "php /srv/app/artisan schedule:run");
        assert_eq!(job.name, "app-artisan-schedule-run");
        assert_eq!(job.tags, ["imported", "crontab", "user:www-data"]);

        let user = parse_crontab(line, CrontabKind::User, "/var/spool/cron/crontabs/bob");
        let job = job_at(&user, 1);
        assert_eq!(job.user, None);
        assert_eq!(job.command, "www-data php /srv/app/artisan schedule:run");
        assert_eq!(job.tags, ["imported", "crontab"]);
    }

    #[test]
    fn unconverted_lines_keep_their_number_and_text() {
        let report = user_crontab(
            "# header\n\
             \n\
             0 5 * *\n\
             @every 1h /bin/x\n\
             0 0 0 * * * /bin/six\n\
             * * * * * %only stdin\n\
             0 5 * * * /bin/ok\n",
        );
        let lines: Vec<(usize, &str)> = report
            .unconverted
            .iter()
            .map(|entry| (entry.line, entry.text.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, "0 5 * *"),
                (4, "@every 1h /bin/x"),
                (5, "0 0 0 * * * /bin/six"),
                (6, "* * * * * %only stdin")
            ]
        );
        assert!(report.unconverted[0].reason.starts_with("too few fields"));
        assert_eq!(
            report.unconverted[3].reason,
            "the command before the first `%` is empty"
        );
        assert_eq!(report.jobs.len(), 1);
        assert_eq!(report.jobs[0].line, 7);
    }

    #[test]
    fn names_are_unique_across_the_file() {
        let report = parse_crontab(
            "0 1 * * * root /usr/local/bin/backup.sh db\n\
             0 2 * * * root /usr/local/bin/backup.sh db\n\
             0 3 * * * root cd /srv && ./backup.sh db\n\
             0 4 * * * root test -x /usr/bin/x\n",
            CrontabKind::System,
            "/etc/cron.d/site",
        );
        let names: Vec<&str> = report.jobs.iter().map(|job| job.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "site-backup-db",
                "site-backup-db-2",
                "site-backup-db-3",
                "site-test"
            ]
        );
    }

    #[test]
    fn notes_for_behaviour_that_changes() {
        let report = parse_crontab(
            "SHELL=/usr/bin/zsh\n\
             RANDOM_DELAY=10\n\
             -0~10 2 * * * root a; b\n\
             0 3 * * * root last",
            CrontabKind::System,
            "x",
        );
        let notes: Vec<(usize, &str)> = report
            .notes
            .iter()
            .map(|(line, note)| (*line, note.as_str()))
            .collect();
        assert_eq!(
            notes,
            [
                (
                    2,
                    "cronie's `RANDOM_DELAY` has no Jobworks equivalent; kept only as an environment variable"
                ),
                (
                    3,
                    "`~` makes cronie pick a random value once when it loads the file; check that Jobworks accepts the schedule"
                ),
                (
                    3,
                    "the leading `-` (do not log to syslog) was dropped; Jobworks records every run"
                ),
                (
                    3,
                    "Jobworks runs shell tasks with sh or bash, not `/usr/bin/zsh`; this job will run with sh"
                ),
                (
                    4,
                    "Jobworks runs shell tasks with sh or bash, not `/usr/bin/zsh`; this job will run with sh"
                ),
                (
                    4,
                    "the file does not end with a newline, so cron ignores this last entry; imported anyway"
                ),
            ]
        );
        assert_eq!(job_at(&report, 3).schedule.as_deref(), Some("0~10 2 * * *"));
    }

    #[test]
    fn crlf_and_empty_input() {
        let report = user_crontab("PATH=/bin\r\n0 5 * * * /bin/x\r\n");
        let job = job_at(&report, 2);
        assert_eq!(job.command, "/bin/x");
        assert_eq!(job.env.get("PATH").map(String::as_str), Some("/bin"));
        assert_eq!(user_crontab(""), ImportReport::default());
    }

    #[test]
    fn shells_map_to_jobworks_shells() {
        let table = [
            ("/bin/sh", ("sh", true)),
            ("/bin/dash", ("sh", true)),
            ("/bin/bash", ("bash", true)),
            ("/usr/local/bin/bash", ("bash", true)),
            ("/bin/zsh", ("sh", false)),
            ("/usr/bin/fish", ("sh", false)),
        ];
        for (shell, expected) in table {
            assert_eq!(jobworks_shell(shell), expected, "{shell}");
        }
    }
}
