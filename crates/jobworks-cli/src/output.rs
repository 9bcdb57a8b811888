//! Output: tables for people, JSON for scripts, and writing to stdout without panicking on
//! a closed pipe (`jobworks logs 7 | head`).

use comfy_table::{Cell, ColumnConstraint, Table, Width, presets};
use serde::Serialize;
use std::io::{IsTerminal as _, Write as _};

/// How a command prints its answer (`--output`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns and short summaries for people.
    #[default]
    Table,
    /// JSON (one document, or one per line for log lines) for scripts.
    Json,
}

/// Writes a line to stdout; `?` turns a closed pipe into an error that `main` exits quietly on.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock())?
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use outln;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    outln!("{text}");
    Ok(())
}

/// Prints `value` as one compact JSON line on stdout (streams of log lines).
pub fn print_json_line<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    outln!("{text}");
    Ok(())
}

/// A borderless table with the given column headers, columns two spaces apart.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(headers.iter().map(|header| Cell::new(*header)));
    pad_columns(&mut table);
    table
}

/// A borderless two-column `key  value` table without header, for details of one item.
pub fn details(rows: Vec<(&str, String)>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    for (key, value) in rows {
        table.add_row(vec![Cell::new(key), Cell::new(value)]);
    }
    pad_columns(&mut table);
    // long scripts and descriptions wrap instead of being cut
    if let Some(column) = table.column_mut(1) {
        column.set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(100)));
    }
    table
}

fn pad_columns(table: &mut Table) {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
}

/// The table as text, without trailing spaces, lines joined by `\n`.
pub fn render(table: &Table) -> String {
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints a table on stdout.
pub fn print_table(table: &Table) -> anyhow::Result<()> {
    outln!("{}", render(table));
    Ok(())
}

/// Whether colors may be used on stdout: it is a terminal and `NO_COLOR` is not set.
pub fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Wraps `text` in red when `color` is on.
pub fn red(text: &str, color: bool) -> String {
    if color {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Writes a line to stderr, ignoring failures (there is nowhere left to report them).
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A failed command under `--output json`: `{"error": ..., "detail": ...}`, printed as one
/// line on stderr (stdout carries only results) with the exit status unchanged. `error` is
/// the first line of the outermost message (`run 99 not found`); `detail` is the whole
/// message with every cause and hint, as the table format prints it.
pub fn error_object(error: &anyhow::Error) -> serde_json::Value {
    let full = format!("{error:#}");
    let headline = error.to_string();
    let headline = headline
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    serde_json::json!({ "error": headline, "detail": full })
}

/// Prints `error` on stderr the way `format` asks: `error: ...` text, or [`error_object`].
pub fn print_error(error: &anyhow::Error, format: OutputFormat) {
    match format {
        OutputFormat::Table => note(&format!("error: {error:#}")),
        OutputFormat::Json => note(&error_object(error).to_string()),
    }
}

/// Whether the raw arguments ask for `--output json` (before clap has parsed them, so that
/// usage errors can be reported in the asked format too).
pub fn json_requested<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> bool {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
    args.iter().enumerate().any(|(i, arg)| {
        *arg == "--output=json"
            || (*arg == "--output" && args.get(i + 1).is_some_and(|v| *v == "json"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_as_json_objects() {
        let error = anyhow::anyhow!("connection refused")
            .context("cannot reach the server at http://127.0.0.1:9\n  hint: is it running?");
        assert_eq!(
            error_object(&error),
            serde_json::json!({
                "error": "cannot reach the server at http://127.0.0.1:9",
                "detail": "cannot reach the server at http://127.0.0.1:9\n  hint: is it running?: connection refused",
            })
        );
        assert!(json_requested(&[
            "jobworks", "runs", "show", "1", "--output", "json"
        ]));
        assert!(json_requested(&["jobworks", "--output=json", "x"]));
        assert!(!json_requested(&["jobworks", "--output", "table", "json"]));
    }

    #[test]
    fn tables_have_no_borders_or_trailing_spaces() {
        let mut table = table(&["NAME", "STATE"]);
        table.add_row(vec!["backup", "enabled"]);
        table.add_row(vec!["a-much-longer-name", "paused"]);
        assert_eq!(
            render(&table),
            "NAME                STATE\nbackup              enabled\na-much-longer-name  paused"
        );
    }

    #[test]
    fn details_have_no_header() {
        let table = details(vec![("name", "backup".into()), ("version", "3".into())]);
        assert_eq!(render(&table), "name     backup\nversion  3");
    }
}
