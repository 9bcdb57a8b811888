//! Crontab import: turns crontab(5) files into Jobworks job definitions and job files.
//!
//! A pure library: text in, data out. It reads no files and knows nothing about the store,
//! the server or how jobs run; the `jobworks import crontab` command reads the file, calls
//! [`parse_crontab`], shows the [`ImportReport`] and writes [`render_job_file`]'s output.
//!
//! # Semantics (cronie and Vixie cron, crontab(5))
//!
//! - Blank lines and lines whose first non-blank character is `#` are ignored; a `#` later
//!   in a line is part of it.
//! - `name = value` sets a variable for the entries *after* it. `SHELL` (default `/bin/sh`),
//!   `MAILTO` and `CRON_TZ` fill [`ImportedJob::shell`], [`ImportedJob::mailto`] and
//!   [`ImportedJob::timezone`]; every other variable, `PATH` included, goes to
//!   [`ImportedJob::env`] unexpanded.
//! - An entry is five time fields (copied as text; Jobworks validates them), a user field in
//!   a [`CrontabKind::System`] file, then the command; fields are separated by spaces and
//!   tabs. `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`
//!   replace the time fields and are expanded; `@reboot` becomes a job without schedule,
//!   tagged `reboot`. cronie's leading `-` (no syslog line) is dropped with a note.
//! - The first unescaped `%` ends the command; the rest is standard input, each further `%`
//!   a newline; `\%` is a literal `%`.
//! - Lines that cron would reject or misread (too few fields, an unknown `@` macro, a sixth
//!   time field, characters no time field allows) are [`Unconverted`], with their line
//!   number and a reason.
//!
//! # Job names
//!
//! A name is a slug (`[a-z0-9-]`, at most 63 characters) of the first simple command that
//! does the work: guards and preparation (`test ... &&`, `[ ... ] &&`, `cd ... &&`, `sleep`),
//! variable assignments and wrappers (`nice`, `ionice`, `timeout`, `flock`, `env`, `sudo`,
//! ...) are skipped; `run-parts DIR` names the job after the directory (`cron.daily`); an
//! interpreter names it after its script; a following subcommand word is kept
//! (`certbot renew`). The slug is prefixed with the source file's stem (`crontab-cron-daily`)
//! unless it already starts with it (`e2scrub-all-cron` from `/etc/cron.d/e2scrub_all`);
//! repeated names get `-2`, `-3`, ...

mod command;
mod convert;
mod name;
mod parse;
mod render;
mod report;

pub use convert::parse_crontab;
pub use render::render_job_file;
pub use report::{CrontabKind, ImportReport, ImportedJob, Unconverted};
