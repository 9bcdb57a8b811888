//! The data an import produces: jobs, lines that could not be converted, and notes.

use std::collections::BTreeMap;

/// Which crontab dialect a file is written in; it decides whether entries carry a user field.
///
/// Semantics follow crontab(5) of cronie and Vixie cron (Debian's `cron` package).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrontabKind {
    /// A per-user crontab (`crontab -e`, `/var/spool/cron/...`): five time fields, then the
    /// command. The jobs run as the crontab's owner, who is not named in the file.
    User,
    /// The system crontab `/etc/crontab` or a file in `/etc/cron.d/`: five time fields, a
    /// user name, then the command.
    System,
}

/// Everything one crontab file turned into.
///
/// Lines are 1-based. Every active line ends up either in `jobs` or in `unconverted`;
/// `notes` explain where the Jobworks job behaves differently from the cron entry or where a
/// setting was dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Converted entries, in file order, with unique names.
    pub jobs: Vec<ImportedJob>,
    /// Active lines that are not variable settings and could not become a job.
    pub unconverted: Vec<Unconverted>,
    /// `(line, message)` pairs, in file order; a message is a lowercase sentence fragment
    /// (it may start with a quoted name such as `` `@reboot` ``).
    pub notes: Vec<(usize, String)>,
}

/// One crontab entry as a Jobworks job definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedJob {
    /// 1-based line of the entry in the source file.
    pub line: usize,
    /// Unique job name within the report: `[a-z0-9-]`, at most 63 characters, derived from
    /// the command (see the crate documentation).
    pub name: String,
    /// The five time fields joined by single spaces, as written (Jobworks validates them);
    /// `@` macros are expanded to the fields crontab(5) gives them (`@daily` is
    /// `0 0 * * *`). `None` for `@reboot`.
    pub schedule: Option<String>,
    /// The `CRON_TZ` in force at this line (cronie: the zone the time fields are read in);
    /// `None` when unset or set to an empty value.
    pub timezone: Option<String>,
    /// The user field of a system crontab entry; `None` for a user crontab.
    pub user: Option<String>,
    /// The shell command: the text after the fields up to the first unescaped `%`, with
    /// `\%` turned into `%` (crontab(5): `%` ends the command, the rest is stdin).
    pub command: String,
    /// What cron writes to the command's standard input: the text after the first
    /// unescaped `%`, each further unescaped `%` turned into a newline, `\%` into `%`, and a
    /// final newline added when the data does not end in one (as cron does). `None` when
    /// nothing follows the first `%` or there is no `%`.
    pub stdin: Option<String>,
    /// The `SHELL` in force at this line, or `/bin/sh` (cron's default).
    pub shell: String,
    /// The other variables in force at this line (`PATH` and any name except `SHELL`,
    /// `MAILTO` and `CRON_TZ`), exactly as set; cron does not expand `$VAR` in them.
    pub env: BTreeMap<String, String>,
    /// The `MAILTO` in force at this line; `Some("")` means mail was switched off. Jobworks
    /// does not send mail, so this is informational.
    pub mailto: Option<String>,
    /// `imported`, `crontab`, `user:<name>` for system entries, and `reboot` for `@reboot`.
    pub tags: Vec<String>,
}

/// An active line that did not become a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unconverted {
    /// 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Why it was not converted: a lowercase sentence fragment.
    pub reason: String,
}
