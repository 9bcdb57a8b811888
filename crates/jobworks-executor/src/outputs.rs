//! Task outputs: `::set-output name=value` lines on stdout and the `$JOBWORKS_OUTPUT` JSON file.

use std::collections::BTreeMap;
use std::path::Path;

/// Environment variable naming the JSON file a task may write its outputs to.
pub const OUTPUT_FILE_ENV: &str = "JOBWORKS_OUTPUT";

/// The outputs file is ignored (with a System line) above this size: 1 MiB.
pub const MAX_OUTPUT_FILE_BYTES: u64 = 1024 * 1024;

const SET_OUTPUT_PREFIX: &str = "::set-output ";

/// Parses `::set-output name=value`, and GitHub Actions' older `::set-output name=NAME::VALUE`
/// form so scripts written for it work unchanged. The name is non-empty and made of ASCII
/// letters, digits, `_`, `-` and `.`; the value is everything after the first `=` (or after
/// `::` in the GitHub form), verbatim (may be empty).
pub(crate) fn parse_set_output(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix(SET_OUTPUT_PREFIX)?;
    let github = rest
        .strip_prefix("name=")
        .and_then(|r| r.split_once("::"))
        .filter(|(name, _)| !name.contains('='));
    let (name, value) = match github {
        Some(pair) => pair,
        None => rest.split_once('=')?,
    };
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'));
    valid_name.then(|| (name.to_owned(), value.to_owned()))
}

/// Reads the outputs file written by the task.
///
/// `Ok(None)` when the task did not write it; `Err(message)` (a lowercase fragment for a System
/// log line) when it is unreadable, too large, not JSON, or not a JSON object. String values are
/// kept as-is; other values are serialized as JSON text.
pub(crate) async fn read_outputs_file(
    path: &Path,
) -> Result<Option<BTreeMap<String, String>>, String> {
    // one stat inline: most tasks write no outputs file, so this is usually all there is
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read outputs file: {error}")),
    };
    if metadata.len() > MAX_OUTPUT_FILE_BYTES {
        return Err(format!(
            "outputs file ignored: {} bytes is over the {MAX_OUTPUT_FILE_BYTES} byte limit",
            metadata.len()
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|error| format!("cannot read outputs file: {error}"))?;
    parse_outputs_json(&bytes).map(Some)
}

/// Parses the outputs file's content: a JSON object.
fn parse_outputs_json(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| format!("outputs file is not valid JSON: {error}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err("outputs file must hold a JSON object".to_owned());
    };
    Ok(object
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Option<(&str, &str)>) {
        let expected = expected.map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(parse_set_output(line), expected, "line {line:?}");
    }

    #[test]
    fn set_output_lines() {
        check("::set-output rows=42", Some(("rows", "42")));
        check("::set-output a.b-c_d=x=y ", Some(("a.b-c_d", "x=y ")));
        check("::set-output empty=", Some(("empty", "")));
        check("::set-output name=used::26", Some(("used", "26")));
        check("::set-output name=x=1", Some(("name", "x=1")));
        check("::set-output =1", None);
        check("::set-output bad name=1", None);
        check("::set-output novalue", None);
        check(" ::set-output a=1", None);
        check("::set-outputa=1", None);
    }

    #[test]
    fn outputs_json() {
        let parsed = parse_outputs_json(
            br#"{"s": "text", "n": 1.5, "b": true, "o": {"k": [1]}, "z": null}"#,
        )
        .expect("valid object");
        let expected: BTreeMap<String, String> = [
            ("s", "text"),
            ("n", "1.5"),
            ("b", "true"),
            ("o", r#"{"k":[1]}"#),
            ("z", "null"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(parsed, expected);
        assert!(
            parse_outputs_json(b"[1]")
                .expect_err("array")
                .contains("JSON object")
        );
        assert!(
            parse_outputs_json(b"{")
                .expect_err("truncated")
                .contains("not valid JSON")
        );
    }
}
