//! Imports crontabs shipped by Debian packages (`/etc/crontab` from cron, `/etc/cron.d/e2scrub_all`
//! from e2fsprogs) and checks facts read from those files.

use std::io::Write as _;

use jobworks_import::{CrontabKind, ImportReport, parse_crontab, render_job_file};

/// The file's text; `None` (after a visible message) when it is missing outside CI.
fn read_or_skip(path: &str, package: &str) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("{path} missing ({error}); run `apt-get install {package}` in the CI image")
        }
        Err(_) => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {path} missing (apt-get install {package})"
            );
            None
        }
    }
}

/// The rendered job file parses back as TOML with one `[[job]]` per job.
fn assert_renders(report: &ImportReport, source_name: &str) {
    let rendered = render_job_file(report, source_name);
    let document: toml::Table = toml::from_str(&rendered).expect("the rendered job file is TOML");
    let jobs = document
        .get("job")
        .and_then(toml::Value::as_array)
        .expect("a [[job]] array");
    assert_eq!(jobs.len(), report.jobs.len());
    for (job, table) in report.jobs.iter().zip(jobs) {
        let script = table
            .get("task")
            .and_then(|task| task.get("script"))
            .and_then(toml::Value::as_str)
            .expect("a script");
        assert_eq!(script, format!("{}\n", job.command));
    }
}

#[test]
fn debian_etc_crontab() {
    let Some(text) = read_or_skip("/etc/crontab", "cron") else {
        return;
    };
    let report = parse_crontab(&text, CrontabKind::System, "/etc/crontab");
    assert!(report.unconverted.is_empty(), "{:?}", report.unconverted);
    assert!(report.notes.is_empty(), "{:?}", report.notes);

    let summary: Vec<(usize, &str, Option<&str>, Option<&str>)> = report
        .jobs
        .iter()
        .map(|job| {
            (
                job.line,
                job.name.as_str(),
                job.schedule.as_deref(),
                job.user.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (18, "crontab-cron-hourly", Some("17 * * * *"), Some("root")),
            (19, "crontab-cron-daily", Some("25 6 * * *"), Some("root")),
            (20, "crontab-cron-weekly", Some("47 6 * * 7"), Some("root")),
            (21, "crontab-cron-monthly", Some("52 6 1 * *"), Some("root")),
        ]
    );
    assert_eq!(
        report.jobs[0].command,
        "cd / && run-parts --report /etc/cron.hourly"
    );
    for (job, period) in report.jobs[1..].iter().zip(["daily", "weekly", "monthly"]) {
        assert_eq!(
            job.command,
            format!(
                "test -x /usr/sbin/anacron || {{ cd / && run-parts --report /etc/cron.{period}; }}"
            )
        );
    }
    for job in &report.jobs {
        assert_eq!(job.shell, "/bin/sh");
        assert_eq!(job.stdin, None);
        assert_eq!(job.timezone, None);
        assert_eq!(job.mailto, None);
        assert_eq!(job.tags, ["imported", "crontab", "user:root"]);
        let env: Vec<(&str, &str)> = job
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin"
            )]
        );
    }
    assert_renders(&report, "/etc/crontab");
}

#[test]
fn debian_cron_d_e2scrub_all() {
    let Some(text) = read_or_skip("/etc/cron.d/e2scrub_all", "e2fsprogs") else {
        return;
    };
    let report = parse_crontab(&text, CrontabKind::System, "/etc/cron.d/e2scrub_all");
    assert!(report.unconverted.is_empty(), "{:?}", report.unconverted);
    assert_eq!(report.jobs.len(), 2);

    let weekly = &report.jobs[0];
    assert_eq!(weekly.line, 1);
    assert_eq!(weekly.name, "e2scrub-all-cron");
    assert_eq!(weekly.schedule.as_deref(), Some("30 3 * * 0"));
    assert_eq!(weekly.user.as_deref(), Some("root"));
    // the library directory is multiarch (`x86_64-linux-gnu` on amd64)
    assert!(
        weekly
            .command
            .starts_with("test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/")
            && weekly.command.ends_with("/e2fsprogs/e2scrub_all_cron"),
        "{}",
        weekly.command
    );

    let daily = &report.jobs[1];
    assert_eq!(daily.line, 2);
    assert_eq!(daily.name, "e2scrub-all");
    assert_eq!(daily.schedule.as_deref(), Some("10 3 * * *"));
    assert_eq!(daily.user.as_deref(), Some("root"));
    assert_eq!(
        daily.command,
        "test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r"
    );

    for job in &report.jobs {
        assert_eq!(job.shell, "/bin/sh");
        assert!(job.env.is_empty(), "{:?}", job.env);
        assert_eq!(job.stdin, None);
    }
    assert_renders(&report, "/etc/cron.d/e2scrub_all");
}
