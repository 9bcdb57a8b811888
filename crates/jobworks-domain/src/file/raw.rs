//! The raw tree of a job file: every key and value with its byte span, tables in file
//! order. Built from the TOML parser's spanned tree; the validator walks only this tree, so
//! another syntax could feed it too.

use super::diagnostic::{Diagnostic, LineIndex, item_path, key_path};
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A value with the byte span it came from.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// For scalars and inline tables/arrays: the value's text. For `[header]` tables: the
    /// header. For tables only implied by a dotted key or header: that key.
    pub(crate) span: Range<usize>,
    pub(crate) kind: NodeKind,
}

/// The shape of a value.
#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// A TOML date/time, kept as written; Jobworks files have no date fields.
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in file order.
    Table(Vec<Entry>),
    /// A value the parser accepted but Jobworks cannot represent (an integer beyond `i64`);
    /// already reported, skipped by the validator.
    Invalid,
}

/// One `key = value` of a table.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_span: Range<usize>,
    pub(crate) value: Node,
}

impl Node {
    /// `integer 30`, `string "30"`, `boolean true`, `array`, `table`: what a value is, for
    /// "found ..." messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            NodeKind::String(text) => {
                let shown: String = text.chars().take(60).collect();
                let cut = if shown.len() < text.len() { "…" } else { "" };
                format!("string {:?}", format!("{shown}{cut}"))
            }
            NodeKind::Integer(int) => format!("integer {int}"),
            NodeKind::Float(float) => format!("float {float}"),
            NodeKind::Bool(flag) => format!("boolean {flag}"),
            NodeKind::Datetime(text) => format!("datetime {text}"),
            NodeKind::Array(_) => "array".to_owned(),
            NodeKind::Table(_) => "table".to_owned(),
            NodeKind::Invalid => "an invalid value".to_owned(),
        }
    }

    /// A scalar's text as a string value would hold it (`8080`, `true`, `1.5`), for hints
    /// like `quote it: "8080"`; `None` for arrays, tables and invalid values.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::String(text) => Some(text.clone()),
            NodeKind::Integer(int) => Some(int.to_string()),
            NodeKind::Float(float) => Some(float.to_string()),
            NodeKind::Bool(flag) => Some(flag.to_string()),
            NodeKind::Datetime(text) => Some(text.clone()),
            NodeKind::Array(_) | NodeKind::Table(_) | NodeKind::Invalid => None,
        }
    }
}

/// Parses TOML text into a [`Node`] table.
///
/// Errors: every syntax error the TOML parser reports (it recovers and goes on), as
/// diagnostics with an empty field path; and numbers beyond the `i64`/`f64` range.
pub(crate) fn parse_toml(
    source_name: &str,
    text: &str,
    lines: &LineIndex<'_>,
) -> (Node, Vec<Diagnostic>) {
    let (root, errors) = DeTable::parse_recoverable(text);
    let mut diagnostics: Vec<Diagnostic> = errors
        .iter()
        .map(|error| {
            let (line, column) = lines.position(error.span().map_or(0, |span| span.start));
            Diagnostic {
                file: source_name.to_owned(),
                line,
                column,
                field: String::new(),
                message: format!("invalid TOML: {}", error.message().trim_end_matches('.')),
                hint: None,
            }
        })
        .collect();
    let mut convert = Convert {
        source_name,
        lines,
        diagnostics: &mut diagnostics,
    };
    let node = Node {
        span: 0..0,
        kind: NodeKind::Table(convert.table(root.get_ref(), "")),
    };
    (node, diagnostics)
}

struct Convert<'a, 't> {
    source_name: &'a str,
    lines: &'a LineIndex<'t>,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Convert<'_, '_> {
    fn table(&mut self, table: &DeTable<'_>, path: &str) -> Vec<Entry> {
        let mut entries: Vec<Entry> = table
            .iter()
            .map(|(key, value)| Entry {
                key: key.get_ref().to_string(),
                key_span: key.span(),
                value: self.value(
                    value.get_ref(),
                    value.span(),
                    &key_path(path, key.get_ref()),
                ),
            })
            .collect();
        // The parser's map is sorted by key; the file order is the order of the key spans.
        entries.sort_by_key(|entry| entry.key_span.start);
        entries
    }

    fn value(&mut self, value: &DeValue<'_>, span: Range<usize>, path: &str) -> Node {
        let kind = match value {
            DeValue::String(text) => NodeKind::String(text.to_string()),
            DeValue::Integer(int) => match i64::from_str_radix(int.as_str(), int.radix()) {
                Ok(int) => NodeKind::Integer(int),
                Err(_) => {
                    self.report(&span, path, "integer is out of the 64-bit range");
                    NodeKind::Invalid
                }
            },
            DeValue::Float(float) => match parse_toml_float(float.as_str()) {
                Some(float) => NodeKind::Float(float),
                None => {
                    self.report(&span, path, "float is out of range");
                    NodeKind::Invalid
                }
            },
            DeValue::Boolean(flag) => NodeKind::Bool(*flag),
            DeValue::Datetime(datetime) => NodeKind::Datetime(datetime.to_string()),
            DeValue::Array(items) => NodeKind::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        self.value(item.get_ref(), item.span(), &item_path(path, index))
                    })
                    .collect(),
            ),
            DeValue::Table(table) => NodeKind::Table(self.table(table, path)),
        };
        Node { span, kind }
    }

    fn report(&mut self, span: &Range<usize>, path: &str, message: &str) {
        let (line, column) = self.lines.position(span.start);
        self.diagnostics.push(Diagnostic {
            file: self.source_name.to_owned(),
            line,
            column,
            field: path.to_owned(),
            message: message.to_owned(),
            hint: None,
        });
    }
}

/// TOML floats: Rust's syntax plus `inf`/`nan` with an optional sign; a finite literal
/// that overflows to infinity is rejected.
fn parse_toml_float(text: &str) -> Option<f64> {
    if text.contains("nan") {
        return Some(f64::NAN);
    }
    let float: f64 = text.parse().ok()?;
    if float.is_infinite() && !text.contains("inf") {
        None
    } else {
        Some(float)
    }
}
