//! Batch-task directives on stdout: `::progress …` and `::checkpoint {json}`, and the
//! `$JOBWORKS_CHECKPOINT_OUT` file.
//!
//! A well-formed directive line is consumed (not logged): its value goes to the caller through
//! a [`BatchReports`] pair of `watch` channels, so only the latest progress and the latest
//! checkpoint are kept and a chatty task never slows down on them. A malformed one is logged as
//! an ordinary line, and the attempt gets one System warning for the first of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tokio::sync::watch;

/// Environment variable naming the file a task may write its last checkpoint to (JSON, read
/// when the attempt ends; it wins over the checkpoint lines printed before).
pub const CHECKPOINT_OUT_ENV: &str = "JOBWORKS_CHECKPOINT_OUT";

/// Environment variable carrying the last checkpoint stored for the task instance (JSON text),
/// set by the caller for a retry, a resumed attempt or an attempt replacing a lost one.
pub const CHECKPOINT_ENV: &str = "JOBWORKS_CHECKPOINT";

/// A checkpoint is at most this many bytes of JSON text (64 KiB); larger ones are refused with
/// a System line and the previous checkpoint stays.
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;

/// Longest accepted progress unit, in bytes.
const MAX_UNIT_BYTES: usize = 32;

const PROGRESS_PREFIX: &str = "::progress ";
const CHECKPOINT_PREFIX: &str = "::checkpoint ";

/// The latest progress a task reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Work done, in `unit` (a percentage when the task printed `45%`: `done = 45`,
    /// `total = 100`, `unit = "%"`).
    pub done: f64,
    /// Total work, when known; never 0.
    pub total: Option<f64>,
    /// What is counted (`rows`, `files`, `%`), when the task said.
    pub unit: Option<String>,
    /// When the executor read the line (UTC).
    pub at: DateTime<Utc>,
}

impl Progress {
    /// `done / total` as a percentage in `0..=100` (clamped), when the total is known.
    pub fn percent(&self) -> Option<f64> {
        self.total
            .map(|total| (self.done / total * 100.0).clamp(0.0, 100.0))
    }
}

/// A checkpoint: JSON text the task will get back as `$JOBWORKS_CHECKPOINT`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The JSON text, as compact JSON (at most [`MAX_CHECKPOINT_BYTES`]).
    pub json: String,
    /// When the executor read it (UTC).
    pub at: DateTime<Utc>,
}

/// Where the executor publishes an attempt's progress and checkpoints: the latest value of
/// each (`None` until the task reports one).
#[derive(Clone, Debug)]
pub struct BatchReports {
    /// The latest `::progress`.
    pub progress: watch::Sender<Option<Progress>>,
    /// The latest checkpoint (a line, or the file read at the end).
    pub checkpoint: watch::Sender<Option<Checkpoint>>,
}

impl BatchReports {
    /// A pair of channels, and their receivers `(progress, checkpoint)`.
    pub fn channel() -> (
        Self,
        watch::Receiver<Option<Progress>>,
        watch::Receiver<Option<Checkpoint>>,
    ) {
        let (progress, progress_rx) = watch::channel(None);
        let (checkpoint, checkpoint_rx) = watch::channel(None);
        (
            Self {
                progress,
                checkpoint,
            },
            progress_rx,
            checkpoint_rx,
        )
    }
}

/// What one stdout line is, for batch directives.
#[derive(Debug, PartialEq)]
pub(crate) enum Directive {
    /// Not a directive: an ordinary line.
    None,
    /// A valid `::progress` line.
    Progress(Progress),
    /// A valid `::checkpoint` line.
    Checkpoint(Checkpoint),
    /// A directive that does not parse (logged as an ordinary line); the reason.
    Malformed(String),
    /// A checkpoint over the size cap (refused, logged as an error, not as the line).
    TooLarge(usize),
}

/// Parses one stdout line. `at` is when it was read.
pub(crate) fn parse_directive(line: &str, at: DateTime<Utc>) -> Directive {
    if let Some(rest) = line.strip_prefix(PROGRESS_PREFIX) {
        return match parse_progress(rest.trim(), at) {
            Ok(progress) => Directive::Progress(progress),
            Err(reason) => Directive::Malformed(reason),
        };
    }
    if let Some(rest) = line.strip_prefix(CHECKPOINT_PREFIX) {
        return match parse_checkpoint(rest.trim().as_bytes(), at) {
            Ok(checkpoint) => Directive::Checkpoint(checkpoint),
            Err(CheckpointError::TooLarge(bytes)) => Directive::TooLarge(bytes),
            // a line cut at the line limit cannot hold valid JSON: say why
            Err(CheckpointError::Invalid(_)) if line.len() >= crate::MAX_LINE_BYTES => {
                Directive::TooLarge(line.len())
            }
            Err(CheckpointError::Invalid(reason)) => Directive::Malformed(reason),
        };
    }
    Directive::None
}

/// `45%`, `45.5 %`, `4500/10000`, `4500/10000 rows`, `4500 rows`.
fn parse_progress(text: &str, at: DateTime<Utc>) -> Result<Progress, String> {
    let number = |s: &str| -> Result<f64, String> {
        let value: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number"))?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("`{s}` is not a finite number ≥ 0"));
        }
        Ok(value)
    };
    if let Some(percent) = text.strip_suffix('%') {
        let done = number(percent)?;
        if done > 100.0 {
            return Err(format!("{done}% is over 100%"));
        }
        return Ok(Progress {
            done,
            total: Some(100.0),
            unit: Some("%".to_owned()),
            at,
        });
    }
    let (amount, unit) = match text.split_once(char::is_whitespace) {
        Some((amount, unit)) => (amount, Some(unit.trim())),
        None => (text, None),
    };
    let (done, total) = match amount.split_once('/') {
        Some((done, total)) => (number(done)?, Some(number(total)?)),
        None => (number(amount)?, None),
    };
    if total == Some(0.0) {
        return Err("the total is 0".to_owned());
    }
    let unit = match unit.filter(|unit| !unit.is_empty()) {
        Some(unit) if unit.len() > MAX_UNIT_BYTES => {
            return Err(format!("the unit is over {MAX_UNIT_BYTES} bytes"));
        }
        Some(unit) if unit.chars().any(char::is_control) => {
            return Err("the unit holds control characters".to_owned());
        }
        other => other.map(str::to_owned),
    };
    Ok(Progress {
        done,
        total,
        unit,
        at,
    })
}

/// Why checkpoint text was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum CheckpointError {
    /// Over [`MAX_CHECKPOINT_BYTES`]: its size in bytes.
    TooLarge(usize),
    /// Not JSON: the parser's message.
    Invalid(String),
}

/// Checks checkpoint text: JSON within the size cap; kept as compact JSON.
pub(crate) fn parse_checkpoint(
    bytes: &[u8],
    at: DateTime<Utc>,
) -> Result<Checkpoint, CheckpointError> {
    if bytes.len() > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::TooLarge(bytes.len()));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| CheckpointError::Invalid(format!("not valid JSON: {error}")))?;
    let json = value.to_string();
    if json.len() > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::TooLarge(json.len()));
    }
    Ok(Checkpoint { json, at })
}

/// Reads the checkpoint file a task wrote at `$JOBWORKS_CHECKPOINT_OUT`: `Ok(None)` when it
/// wrote none, `Err(message)` (for a System line) when it is unreadable, too large or not JSON.
pub(crate) async fn read_checkpoint_file(path: &Path) -> Result<Option<Checkpoint>, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read checkpoint file: {error}")),
    };
    if metadata.len() > MAX_CHECKPOINT_BYTES as u64 {
        return Err(too_large_message(metadata.len() as usize));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|error| format!("cannot read checkpoint file: {error}"))?;
    match parse_checkpoint(&bytes, Utc::now()) {
        Ok(checkpoint) => Ok(Some(checkpoint)),
        Err(CheckpointError::TooLarge(bytes)) => Err(too_large_message(bytes)),
        Err(CheckpointError::Invalid(reason)) => Err(format!("checkpoint file refused: {reason}")),
    }
}

/// The System line for a refused checkpoint of `bytes` bytes.
pub(crate) fn too_large_message(bytes: usize) -> String {
    format!(
        "error: checkpoint refused: {bytes} bytes is over the {MAX_CHECKPOINT_BYTES} byte limit; \
         the previous checkpoint stays"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("valid time")
    }

    fn progress(line: &str) -> Progress {
        match parse_directive(line, at()) {
            Directive::Progress(progress) => progress,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn malformed(line: &str) {
        assert!(
            matches!(parse_directive(line, at()), Directive::Malformed(_)),
            "{line:?} should be malformed"
        );
    }

    #[test]
    fn progress_forms() {
        let p = progress("::progress 45%");
        assert_eq!(
            (p.done, p.total, p.unit.as_deref()),
            (45.0, Some(100.0), Some("%"))
        );
        assert_eq!(p.percent(), Some(45.0));
        let p = progress("::progress 4500/10000 rows");
        assert_eq!(
            (p.done, p.total, p.unit.as_deref()),
            (4500.0, Some(10000.0), Some("rows"))
        );
        assert_eq!(p.percent(), Some(45.0));
        let p = progress("::progress 12/10");
        assert_eq!(
            (p.total, p.unit.as_deref(), p.percent()),
            (Some(10.0), None, Some(100.0))
        );
        let p = progress("::progress 7 files ");
        assert_eq!(
            (p.done, p.total, p.unit.as_deref()),
            (7.0, None, Some("files"))
        );
        assert_eq!(p.percent(), None);
        let p = progress("::progress 33.5 %");
        assert_eq!(p.done, 33.5);
    }

    #[test]
    fn malformed_progress() {
        malformed("::progress ");
        malformed("::progress lots");
        malformed("::progress 101%");
        malformed("::progress -1/10");
        malformed("::progress 1/0 rows");
        malformed("::progress NaN");
        malformed("::progress inf/10");
        malformed(&format!("::progress 1/2 {}", "u".repeat(40)));
        assert_eq!(parse_directive("::progressing 1", at()), Directive::None);
        assert_eq!(parse_directive(" ::progress 1", at()), Directive::None);
    }

    #[test]
    fn checkpoint_lines() {
        match parse_directive(r#"::checkpoint {"offset": 20000, "file": "a.csv"}"#, at()) {
            Directive::Checkpoint(c) => assert_eq!(c.json, r#"{"file":"a.csv","offset":20000}"#),
            other => panic!("{other:?}"),
        }
        malformed("::checkpoint {offset: 1}");
        malformed("::checkpoint ");
        let big = format!(r#"::checkpoint "{}""#, "x".repeat(MAX_CHECKPOINT_BYTES));
        assert!(matches!(
            parse_directive(&big, at()),
            Directive::TooLarge(_)
        ));
    }

    #[tokio::test]
    async fn checkpoint_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        assert_eq!(read_checkpoint_file(&path).await, Ok(None));
        std::fs::write(&path, br#"{"offset": 3}"#).expect("write");
        let read = read_checkpoint_file(&path)
            .await
            .expect("valid")
            .expect("some");
        assert_eq!(read.json, r#"{"offset":3}"#);
        std::fs::write(&path, b"{").expect("write");
        assert!(
            read_checkpoint_file(&path)
                .await
                .expect_err("invalid")
                .contains("not valid JSON")
        );
        std::fs::write(&path, vec![b' '; MAX_CHECKPOINT_BYTES + 1]).expect("write");
        assert!(
            read_checkpoint_file(&path)
                .await
                .expect_err("too large")
                .contains("byte limit")
        );
    }
}
