//! Diagnostics: one problem in a job file, with its position, field path and an optional
//! hint; and the byte-offset to line/column conversion behind the positions.

use std::fmt;
use std::ops::Range;

/// One problem found in a job file.
///
/// Displays as `file:line:column: field: message`, then `\n  hint: ...` when there is a
/// hint, e.g.
///
/// ```text
/// jobs/disk.toml:12:1: job[1].shedule: unknown field `shedule`
///   hint: did you mean `schedule`?
/// ```
///
/// `field: ` is left out when `field` is empty (TOML syntax errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The source name given to [`crate::file::parse_job_file`], usually the file path.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column, counted in characters (Unicode scalar values) from the line start.
    pub column: usize,
    /// Where in the job the problem is, as a path of keys from the top of the file:
    /// jobs by 1-based position in the file (`job[2]`, also for a single `[job]` table),
    /// then table keys joined with `.`, and array items by 1-based position
    /// (`job[1].task.command[2]`). Keys that are not bare TOML keys are quoted
    /// (`job[1].params."my param"`). Examples: `job[2].retries.backoff`,
    /// `job[1].params.threshold.default`, `workflow`. Empty for TOML syntax errors.
    pub field: String,
    /// What is wrong: a lowercase fragment without a trailing period.
    pub message: String,
    /// How to fix it, e.g. ``did you mean `schedule`?``.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Converts byte offsets of one text to 1-based line and column numbers.
#[derive(Debug)]
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset where each line starts; the first is 0.
    line_starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(crate) fn new(text: &'t str) -> LineIndex<'t> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineIndex { text, line_starts }
    }

    /// The 1-based (line, column) of byte `offset`; offsets past the end point after the
    /// last character, offsets inside a character point at that character.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let line_start = self.line_starts[line - 1];
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// The file's text in `span` (empty when out of range).
    pub(crate) fn slice(&self, span: &Range<usize>) -> &'t str {
        self.text.get(span.clone()).unwrap_or_default()
    }

    /// The 1-based line of the start of `span`.
    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        self.position(span.start).0
    }
}

/// `path.key`, quoting keys that are not bare TOML keys.
pub(crate) fn key_path(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else if key.is_empty() {
        path.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[n]` for the item at 0-based `index`: field paths count items from 1.
pub(crate) fn item_path(path: &str, index: usize) -> String {
    format!("{path}[{}]", index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let text = "ab\ncé\n\nx";
        let index = LineIndex::new(text);
        let cases = [
            (0, (1, 1)),
            (1, (1, 2)),
            (2, (1, 3)),
            (3, (2, 1)),
            (4, (2, 2)),
            // inside `é`
            (5, (2, 2)),
            (6, (2, 3)),
            (7, (3, 1)),
            (8, (4, 1)),
            (9, (4, 2)),
            (100, (4, 2)),
        ];
        for (offset, want) in cases {
            assert_eq!(index.position(offset), want, "offset {offset}");
        }
    }

    #[test]
    fn display() {
        let mut diagnostic = Diagnostic {
            file: "jobs/disk.toml".into(),
            line: 12,
            column: 1,
            field: "job[1].shedule".into(),
            message: "unknown field `shedule`".into(),
            hint: Some("did you mean `schedule`?".into()),
        };
        assert_eq!(
            diagnostic.to_string(),
            "jobs/disk.toml:12:1: job[1].shedule: unknown field `shedule`\n  hint: did you mean `schedule`?"
        );
        diagnostic.field.clear();
        diagnostic.hint = None;
        assert_eq!(
            diagnostic.to_string(),
            "jobs/disk.toml:12:1: unknown field `shedule`"
        );
    }
}
