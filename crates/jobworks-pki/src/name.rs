//! Agent names: what goes into an agent certificate's common name and DNS SAN.

use crate::PkiError;

/// Longest agent name, in bytes (a DNS name's limit, RFC 1035 §2.3.4).
const MAX_NAME: usize = 253;
/// Longest dot-separated label, in bytes (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;

/// Checks an agent name: a host name as RFC 1123 §2.1 allows, in lower case — dot-separated
/// labels of `a-z`, `0-9` and `-`, each 1–63 characters, not starting or ending with `-`, at
/// most 253 characters in all, and not an IP address. The name is the certificate's common
/// name and DNS SAN, so it must be one a DNS SAN can carry. Upper case is refused rather
/// than folded, so one agent has one spelling (the agent lower-cases its host name before
/// proposing it). Errors: [`PkiError::Name`] saying what is wrong and where.
pub fn check_agent_name(name: &str) -> Result<(), PkiError> {
    let bad = |why: String| Err(PkiError::Name(format!("agent name `{name}` {why}")));
    if name.is_empty() {
        return Err(PkiError::Name("agent name is empty".to_string()));
    }
    if name.len() > MAX_NAME {
        return bad(format!(
            "is {} characters long; at most {MAX_NAME} are allowed",
            name.len()
        ));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return bad("is an IP address; use a host name".to_string());
    }
    if let Some((pos, ch)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
    {
        let hint = if ch.is_ascii_uppercase() {
            " (names are lower case)"
        } else {
            ""
        };
        return bad(format!(
            "has `{ch}` at position {pos}; only a-z, 0-9, `-` and `.` are allowed{hint}"
        ));
    }
    for (index, label) in name.split('.').enumerate() {
        let n = index + 1;
        if label.is_empty() {
            return bad(format!(
                "has an empty label {n} (a leading, trailing or doubled `.`)"
            ));
        }
        if label.len() > MAX_LABEL {
            return bad(format!(
                "has label {n} of {} characters; at most {MAX_LABEL} are allowed",
                label.len()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad(format!(
                "has label {n} `{label}` starting or ending with `-`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_name_table() {
        let long_label = "a".repeat(64);
        let long_name = vec!["a".repeat(63); 5].join(".");
        let table: &[(&str, Option<&str>)] = &[
            ("web-01", None),
            ("web-01.bj.example.com", None),
            ("a", None),
            ("0abc", None),
            ("", Some("is empty")),
            (
                "Web-01",
                Some(
                    "`W` at position 0; only a-z, 0-9, `-` and `.` are allowed (names are lower case)",
                ),
            ),
            ("web_01", Some("`_` at position 3")),
            ("web 01", Some("` ` at position 3")),
            ("-web", Some("label 1 `-web` starting or ending with `-`")),
            ("web.-x", Some("label 2 `-x`")),
            ("web.", Some("empty label 2")),
            (".web", Some("empty label 1")),
            ("a..b", Some("empty label 2")),
            ("10.0.0.1", Some("is an IP address")),
            ("::1", Some("is an IP address")),
            ("é", Some("`é` at position 0")),
            (&long_label, Some("label 1 of 64 characters")),
            (&long_name, Some("is 319 characters long")),
        ];
        for (name, want) in table {
            let got = check_agent_name(name);
            match (want, got) {
                (None, Ok(())) => {}
                (Some(want), Err(e)) => {
                    assert!(e.to_string().contains(want), "{name:?}: {e}")
                }
                (want, got) => panic!("{name:?}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
