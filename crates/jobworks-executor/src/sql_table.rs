//! SQL results rendered as a text table for the task log.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value};

/// At most this many rows are drawn in the log (the outcome still holds up to `max_rows`).
pub const MAX_LOGGED_ROWS: usize = 100;

/// Cells longer than this many characters are cut and end with `…`.
const MAX_CELL_CHARS: usize = 200;

/// The lines of an ASCII table of the first [`MAX_LOGGED_ROWS`] rows; empty without columns.
pub(crate) fn render_table(columns: &[String], rows: &[Map<String, Value>]) -> Vec<String> {
    if columns.is_empty() {
        return Vec::new();
    }
    let mut table = Table::new();
    table
        .load_style(presets::ASCII_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty()
        .set_header(columns.iter().map(String::as_str));
    for row in rows.iter().take(MAX_LOGGED_ROWS) {
        table.add_row(
            columns
                .iter()
                .map(|column| cell_text(row.get(column).unwrap_or(&Value::Null))),
        );
    }
    table.lines().collect()
}

/// One line of text per cell: `NULL`, strings as-is, other JSON as JSON; newlines and tabs
/// escaped; long text cut.
fn cell_text(value: &Value) -> String {
    let text = match value {
        Value::Null => "NULL".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let text = text
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t");
    match text.char_indices().nth(MAX_CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table() {
        let columns = vec!["id".to_owned(), "name".to_owned()];
        let row = |id: i64, name: Value| {
            let mut row = Map::new();
            row.insert("id".into(), Value::from(id));
            row.insert("name".into(), name);
            row
        };
        let lines = render_table(&columns, &[row(1, "a\nb".into()), row(22, Value::Null)]);
        assert_eq!(
            lines,
            [
                "+----+------+",
                "| id | name |",
                "+===========+",
                "| 1  | a\\nb |",
                "| 22 | NULL |",
                "+----+------+",
            ]
        );
        assert!(render_table(&[], &[]).is_empty());
    }

    #[test]
    fn cuts_long_cells() {
        let text = cell_text(&Value::String("é".repeat(300)));
        assert_eq!(text.chars().count(), MAX_CELL_CHARS + 1);
        assert!(text.ends_with('…'));
    }
}
