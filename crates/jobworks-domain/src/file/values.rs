//! Reading tables and typed values from the raw tree: each reader reports a diagnostic
//! when the value has the wrong type or does not parse, and returns `None`.

use super::diagnostic::{Diagnostic, key_path};
use super::raw::{Entry, Node, NodeKind};
use super::size::{SizeError, parse_size};
use super::suggest::{closest, hint};
use super::validate::{Fields, Validator};
use std::ops::Range;

impl Validator<'_> {
    /// The entries of a table, or a diagnostic when `node` is not a table.
    pub(crate) fn table<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Entry]> {
        match &node.kind {
            NodeKind::Table(entries) => Some(entries),
            NodeKind::Invalid => None,
            _ => {
                self.error(
                    &node.span,
                    path,
                    format!("expected a table, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    /// The entries whose keys are in `known`; the others are reported as unknown fields,
    /// with a did-you-mean hint, or else `extra_hint`'s.
    pub(crate) fn known_fields<'n>(
        &mut self,
        entries: &'n [Entry],
        path: &str,
        known: &[&str],
        extra_hint: impl Fn(&str) -> Option<String>,
    ) -> Fields<'n> {
        let mut fields = Vec::with_capacity(entries.len());
        for entry in entries {
            if known.contains(&entry.key.as_str()) {
                fields.push(entry);
                continue;
            }
            let hint = extra_hint(&entry.key).or_else(|| {
                closest(&entry.key, known.iter().copied())
                    .map(|near| format!("did you mean `{near}`?"))
            });
            self.error(
                &entry.key_span,
                &key_path(path, &entry.key),
                format!("unknown field `{}`", entry.key),
                hint,
            );
        }
        Fields { entries: fields }
    }

    pub(crate) fn array<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Array(items) => Some(items),
            NodeKind::Invalid => None,
            _ => {
                self.error(
                    &node.span,
                    path,
                    format!("expected an array, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    pub(crate) fn string<'n>(&mut self, entry: &'n Entry, table_path: &str) -> Option<&'n str> {
        self.string_node(&entry.value, &key_path(table_path, &entry.key))
    }

    pub(crate) fn string_node<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match &node.kind {
            NodeKind::String(text) => Some(text),
            NodeKind::Invalid => None,
            _ => {
                self.error(
                    &node.span,
                    path,
                    format!("expected a string, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    pub(crate) fn non_empty_string<'n>(
        &mut self,
        entry: &'n Entry,
        table_path: &str,
    ) -> Option<&'n str> {
        let text = self.string(entry, table_path)?;
        if text.trim().is_empty() {
            self.error(
                &entry.value.span,
                &key_path(table_path, &entry.key),
                format!("`{}` is empty", entry.key),
                None,
            );
            return None;
        }
        Some(text)
    }

    pub(crate) fn boolean(&mut self, entry: &Entry, table_path: &str) -> Option<bool> {
        match &entry.value.kind {
            NodeKind::Bool(flag) => Some(*flag),
            NodeKind::Invalid => None,
            found => {
                let hint = match found {
                    NodeKind::String(text) if matches!(text.as_str(), "true" | "false") => {
                        Some(format!("remove the quotes: {text}"))
                    }
                    _ => None,
                };
                self.error(
                    &entry.value.span,
                    &key_path(table_path, &entry.key),
                    format!("expected true or false, found {}", entry.value.describe()),
                    hint,
                );
                None
            }
        }
    }

    /// An integer within `range` (inclusive).
    pub(crate) fn integer_in(
        &mut self,
        entry: &Entry,
        table_path: &str,
        range: (i64, i64),
    ) -> Option<i64> {
        let path = key_path(table_path, &entry.key);
        match &entry.value.kind {
            NodeKind::Integer(int) if (range.0..=range.1).contains(int) => Some(*int),
            NodeKind::Integer(int) => {
                self.error(
                    &entry.value.span,
                    &path,
                    format!("must be between {} and {}, found {int}", range.0, range.1),
                    None,
                );
                None
            }
            NodeKind::Invalid => None,
            found => {
                let hint = match found {
                    NodeKind::String(text) if text.trim().parse::<i64>().is_ok() => {
                        Some(format!("remove the quotes: {}", text.trim()))
                    }
                    _ => None,
                };
                self.error(
                    &entry.value.span,
                    &path,
                    format!("expected an integer, found {}", entry.value.describe()),
                    hint,
                );
                None
            }
        }
    }

    /// An integer or float, as f64.
    pub(crate) fn number(&mut self, entry: &Entry, table_path: &str) -> Option<f64> {
        match &entry.value.kind {
            // Numbers in job files are typed by a person; they are exact below 2^53.
            NodeKind::Integer(int) => Some(*int as f64),
            NodeKind::Float(float) => Some(*float),
            NodeKind::Invalid => None,
            found => {
                let hint = match found {
                    NodeKind::String(text) if text.trim().parse::<f64>().is_ok() => {
                        Some(format!("remove the quotes: {}", text.trim()))
                    }
                    _ => None,
                };
                self.error(
                    &entry.value.span,
                    &key_path(table_path, &entry.key),
                    format!("expected a number, found {}", entry.value.describe()),
                    hint,
                );
                None
            }
        }
    }

    /// A duration string like `"30s"`, in ms.
    pub(crate) fn duration_ms(&mut self, entry: &Entry, table_path: &str) -> Option<u64> {
        let path = key_path(table_path, &entry.key);
        match &entry.value.kind {
            NodeKind::String(text) => match jobworks_schedule::parse_duration(text) {
                Ok(duration) => match u64::try_from(duration.as_millis()) {
                    Ok(ms) => Some(ms),
                    Err(_) => {
                        self.error(&entry.value.span, &path, "duration is too long", None);
                        None
                    }
                },
                Err(error) => {
                    // The schedule crate's messages already say how to write a duration.
                    self.error(&entry.value.span, &path, error.to_string(), None);
                    None
                }
            },
            NodeKind::Invalid => None,
            found => {
                let hint = match found {
                    NodeKind::Integer(int) => format!("durations need a unit: \"{int}s\""),
                    _ => "durations are strings with a unit, like \"30s\", \"5m\" or \"1h30m\""
                        .to_owned(),
                };
                self.error(
                    &entry.value.span,
                    &path,
                    format!(
                        "expected a string like \"30s\", found {}",
                        entry.value.describe()
                    ),
                    Some(hint),
                );
                None
            }
        }
    }

    /// A duration of at least 1 ms.
    pub(crate) fn positive_duration_ms(
        &mut self,
        entry: &Entry,
        table_path: &str,
        zero_hint: &str,
    ) -> Option<u64> {
        let ms = self.duration_ms(entry, table_path)?;
        if ms == 0 {
            self.error(
                &entry.value.span,
                &key_path(table_path, &entry.key),
                format!("`{}` must be longer than zero", entry.key),
                Some(zero_hint.to_owned()),
            );
            return None;
        }
        Some(ms)
    }

    /// A size string like `"10MiB"`, in bytes, at least 1.
    pub(crate) fn size(&mut self, entry: &Entry, table_path: &str) -> Option<u64> {
        let path = key_path(table_path, &entry.key);
        let units = "units: B, KiB, MiB, GiB (1024-based), KB, MB, GB (1000-based)";
        match &entry.value.kind {
            NodeKind::String(text) => match parse_size(text) {
                Ok(0) => {
                    self.error(
                        &entry.value.span,
                        &path,
                        "size must be at least 1 byte",
                        None,
                    );
                    None
                }
                Ok(bytes) => Some(bytes),
                Err(error) => {
                    let hint = match &error {
                        SizeError::NoUnit => format!(
                            "sizes need a unit: \"{}B\" or \"{}MiB\"",
                            text.trim(),
                            text.trim()
                        ),
                        SizeError::Fraction => {
                            "use a smaller unit, like \"1536KiB\" for 1.5 MiB".to_owned()
                        }
                        SizeError::UnknownUnit(_) | SizeError::NoNumber | SizeError::TooLarge => {
                            units.to_owned()
                        }
                    };
                    self.error(
                        &entry.value.span,
                        &path,
                        format!("invalid size {text:?}: {error}"),
                        Some(hint),
                    );
                    None
                }
            },
            NodeKind::Invalid => None,
            found => {
                let hint = match found {
                    NodeKind::Integer(int) => format!("sizes need a unit: \"{int}B\""),
                    _ => units.to_owned(),
                };
                self.error(
                    &entry.value.span,
                    &path,
                    format!(
                        "expected a string like \"10MiB\", found {}",
                        entry.value.describe()
                    ),
                    Some(hint),
                );
                None
            }
        }
    }

    /// One of a fixed set of names.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        entry: &Entry,
        table_path: &str,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let name = self.string(entry, table_path)?;
        if let Some((_, value)) = options.iter().find(|(option, _)| *option == name) {
            return Some(*value);
        }
        let names = options.iter().map(|(option, _)| *option);
        self.error(
            &entry.value.span,
            &key_path(table_path, &entry.key),
            format!("unknown {what} `{name}`"),
            Some(hint(name, names)),
        );
        None
    }

    pub(crate) fn error(
        &mut self,
        span: &Range<usize>,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = self.lines.position(span.start);
        self.diagnostics.push(Diagnostic {
            file: self.source_name.to_owned(),
            line,
            column,
            field: field.to_owned(),
            message: message.into(),
            hint,
        });
    }
}
