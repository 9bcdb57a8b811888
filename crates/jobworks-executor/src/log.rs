//! Log lines streamed live from a running task, and the sink that forwards them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Which stream a [`LogLine`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// The task's standard output (for SQL tasks: the result table and row count).
    Stdout,
    /// The task's standard error (for SQL tasks: the database error, if any).
    Stderr,
    /// A line written by the executor itself: timeouts, signals, dropped output, exit status.
    System,
}

/// One line of task output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the executor read the line (UTC).
    pub at: DateTime<Utc>,
    /// Where the line came from.
    pub stream: LogStream,
    /// The line, decoded as UTF-8 with invalid bytes replaced by U+FFFD, without its trailing
    /// `\n` (or `\r\n`). At most 64 KiB of input bytes; longer lines arrive as several lines.
    pub text: String,
    /// The task's line was longer than 64 KiB and cut here: the next line of the same stream
    /// continues it (so a secret spanning the cut can be masked; see the worker's mask).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continues: bool,
}

impl LogLine {
    /// A line stamped with the current time.
    pub fn now(stream: LogStream, text: impl Into<String>) -> Self {
        Self {
            at: Utc::now(),
            stream,
            text: text.into(),
            continues: false,
        }
    }
}

/// Forwards lines to the caller's channel; a closed channel is ignored, so a caller that stops
/// listening never makes a task fail.
#[derive(Debug, Clone)]
pub(crate) struct LogSink {
    sender: mpsc::Sender<LogLine>,
}

impl LogSink {
    pub(crate) fn new(sender: mpsc::Sender<LogLine>) -> Self {
        Self { sender }
    }

    /// Sends one line, waiting while the channel is full (backpressure on the task's output).
    pub(crate) async fn send(&self, line: LogLine) {
        // An error only means the receiver is gone; the task keeps running regardless.
        let _ = self.sender.send(line).await;
    }

    /// Sends a [`LogStream::System`] line stamped now.
    pub(crate) async fn system(&self, text: impl Into<String>) {
        self.send(LogLine::now(LogStream::System, text)).await;
    }
}
