//! `jobworks logs RUN [-f]`: prints a run's log, page by page or live; also the live
//! follower behind `jobworks run --wait`.

use crate::client::ApiClient;
use crate::human::Clock;
use crate::output::{self, OutputFormat, outln, print_json_line};
use anyhow::{Context as _, anyhow};
use jobworks_protocol::{LogLineView, RunView};
use std::time::Duration;

/// Reconnects in a row, without a line arriving in between, before following gives up.
const MAX_RECONNECTS: u32 = 10;
/// Pause before reconnecting a broken follow stream.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Runs the command: every line so far, or with `follow` every line until the run ends.
pub async fn run(
    client: &ApiClient,
    id: i64,
    follow_live: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let printer = LinePrinter::new(format);
    if follow_live {
        let end = follow(client, id, 0, |line| printer.print(line)).await?;
        output::note(&format!("run {id} ended: {}", end.state));
        return Ok(());
    }
    let mut after = 0;
    loop {
        let page = client.log_page(id, after).await?;
        if page.lines.is_empty() {
            return Ok(());
        }
        for line in &page.lines {
            printer.print(line)?;
        }
        after = page.next_after;
    }
}

/// Follows the log of run `id` from after sequence number `after`, calling `on_line` for
/// each new line, until the server sends the `end` event; returns the final run. A stream
/// that breaks off is resumed after the last line seen.
///
/// Errors: the run does not exist; the stream cannot be resumed; `on_line` fails.
pub async fn follow(
    client: &ApiClient,
    id: i64,
    mut after: i64,
    mut on_line: impl FnMut(&LogLineView) -> anyhow::Result<()>,
) -> anyhow::Result<RunView> {
    let mut reconnects = 0;
    loop {
        let mut stream = match client.follow_logs(id, after).await {
            Ok(stream) => stream,
            // the first connection must work; later ones may wait for a restarting server
            Err(error) if reconnects == 0 => return Err(error),
            Err(error) => {
                reconnects += 1;
                if reconnects > MAX_RECONNECTS {
                    return Err(error.context(format!("lost the log stream of run {id}")));
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        let broke_off = loop {
            let event = match stream.next_event().await {
                Ok(Some(event)) => event,
                Ok(None) => break anyhow!("the server closed the stream"),
                Err(error) => break error,
            };
            match event.event.as_str() {
                "log" => {
                    let line: LogLineView = serde_json::from_str(&event.data)
                        .with_context(|| format!("unexpected log event: {}", event.data))?;
                    if line.seq > after {
                        after = line.seq;
                        reconnects = 0;
                        on_line(&line)?;
                    }
                }
                "end" => {
                    return serde_json::from_str(&event.data)
                        .with_context(|| format!("unexpected end event: {}", event.data));
                }
                _ => {}
            }
        };
        reconnects += 1;
        if reconnects > MAX_RECONNECTS {
            return Err(broke_off.context(format!(
                "lost the log stream of run {id}; `jobworks logs {id} -f` resumes it"
            )));
        }
        tracing::debug!(run = id, after, error = %broke_off, "reconnecting the log stream");
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Prints log lines as text (`HH:MM:SS.mmm stream| text`) or as JSON lines.
#[derive(Clone, Copy, Debug)]
pub struct LinePrinter {
    format: OutputFormat,
    clock: Clock,
    color: bool,
}

impl LinePrinter {
    /// A printer for stdout; stderr lines are red when stdout is a terminal.
    pub fn new(format: OutputFormat) -> LinePrinter {
        LinePrinter {
            format,
            clock: Clock::system(),
            color: output::stdout_color(),
        }
    }

    /// Prints one line on stdout.
    pub fn print(&self, line: &LogLineView) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json => print_json_line(line),
            OutputFormat::Table => {
                outln!("{}", format_line(line, &self.clock, self.color));
                Ok(())
            }
        }
    }
}

/// `14:05:00.123 stdout| text`, or `14:05:00.123 extract stdout| text` for a workflow task's
/// line; the whole line red for `stderr` when `color` is on. The text is made
/// [`terminal_safe`](crate::human::terminal_safe): the job's own escape sequences and control
/// characters never reach the terminal raw (JSON output keeps the text as stored).
pub fn format_line(line: &LogLineView, clock: &Clock, color: bool) -> String {
    let task = line
        .task
        .as_deref()
        .map(|t| format!("{t} "))
        .unwrap_or_default();
    let text = format!(
        "{} {task}{:<6}| {}",
        clock.time_of_day_ms(line.at),
        line.stream,
        crate::human::terminal_safe(&line.text)
    );
    if line.stream == "stderr" {
        output::red(&text, color)
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn line(stream: &str, text: &str) -> LogLineView {
        LogLineView {
            seq: 1,
            attempt_id: 1,
            task: None,
            at: "2026-03-08T12:00:01.042Z".parse().expect("instant"),
            stream: stream.into(),
            text: text.into(),
        }
    }

    #[test]
    fn line_format() {
        let clock = Clock::fixed("2026-03-08T12:00:00Z".parse().expect("instant"), Tz::UTC);
        assert_eq!(
            format_line(&line("stdout", "hello"), &clock, true),
            "12:00:01.042 stdout| hello"
        );
        assert_eq!(
            format_line(&line("stderr", "oops"), &clock, false),
            "12:00:01.042 stderr| oops"
        );
        assert_eq!(
            format_line(&line("stderr", "oops"), &clock, true),
            "\x1b[31m12:00:01.042 stderr| oops\x1b[0m"
        );
        assert_eq!(
            format_line(&line("system", "attempt 2 starts"), &clock, true),
            "12:00:01.042 system| attempt 2 starts"
        );
        assert_eq!(
            format_line(
                &line("stdout", "\x1b[32mok\x1b[0m\x1b]0;title\x07 \u{fffd}"),
                &clock,
                true
            ),
            "12:00:01.042 stdout| ok \u{fffd}"
        );
    }
}
