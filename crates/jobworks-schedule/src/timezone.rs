//! Parses IANA time zone names, suggesting close matches for typos.

use chrono_tz::{TZ_VARIANTS, Tz};

/// Why a time zone name was rejected by [`parse_timezone`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimezoneError {
    /// The name was empty or only whitespace.
    #[error("empty time zone name: expected an IANA name such as `Europe/London` or `UTC`")]
    Empty,
    /// No IANA zone has this name; `suggestions` holds up to three close names, best first.
    #[error("unknown time zone `{name}`{}", hint(suggestions))]
    Unknown {
        /// The name as given (trimmed).
        name: String,
        /// Close IANA names, best first; may be empty.
        suggestions: Vec<String>,
    },
}

/// At most this many names are suggested.
const MAX_SUGGESTIONS: usize = 3;

fn hint(suggestions: &[String]) -> String {
    let quoted: Vec<String> = suggestions.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [] => " (expected an IANA name such as `Europe/London` or `UTC`)".to_owned(),
        [only] => format!(", did you mean {only}?"),
        [init @ .., last] => format!(", did you mean {} or {last}?", init.join(", ")),
    }
}

/// Parses an IANA time zone name such as `Europe/London`, `America/New_York` or `UTC`
/// (tzdata as bundled by chrono-tz). Surrounding whitespace is ignored; if there is no
/// exact match, a case-insensitive match is accepted (`europe/london`).
///
/// # Errors
///
/// [`TimezoneError::Empty`] for an empty name; [`TimezoneError::Unknown`] otherwise, with
/// the closest names by edit distance (on the whole name or its last segment), e.g.
/// "unknown time zone `Europe/Londn`, did you mean `Europe/London`?".
pub fn parse_timezone(name: &str) -> Result<Tz, TimezoneError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TimezoneError::Empty);
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    if let Some(tz) = TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
    {
        return Ok(*tz);
    }
    Err(TimezoneError::Unknown {
        name: name.to_owned(),
        suggestions: suggest(name),
    })
}

/// Up to [`MAX_SUGGESTIONS`] zone names close to `name`, best first.
fn suggest(name: &str) -> Vec<String> {
    let wanted = name.to_ascii_lowercase().replace(' ', "_");
    // Allow roughly one typo per four characters, at least one.
    let tolerance = (wanted.chars().count() / 4).max(1);
    let mut scored: Vec<(usize, &'static str)> = TZ_VARIANTS
        .iter()
        .filter_map(|tz| {
            let candidate = tz.name().to_ascii_lowercase();
            let last_segment = candidate.rsplit('/').next().unwrap_or(&candidate);
            let distance = strsim::levenshtein(&wanted, &candidate)
                .min(strsim::levenshtein(&wanted, last_segment));
            (distance <= tolerance).then_some((distance, tz.name()))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, name)| name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    use super::parse_timezone;

    fn check_ok(name: &str, expected: Tz) {
        assert_eq!(parse_timezone(name), Ok(expected), "for `{name}`");
    }

    fn check_error(name: &str, expected: &str) {
        let error = parse_timezone(name).expect_err("name should be rejected");
        assert_eq!(error.to_string(), expected, "for `{name}`");
    }

    #[test]
    fn accepts_iana_names() {
        check_ok("Europe/London", chrono_tz::Europe::London);
        check_ok(" America/New_York ", chrono_tz::America::New_York);
        check_ok("Australia/Lord_Howe", chrono_tz::Australia::Lord_Howe);
        check_ok("UTC", Tz::UTC);
        check_ok("utc", Tz::UTC);
        check_ok("europe/london", chrono_tz::Europe::London);
    }

    #[test]
    fn suggests_close_names() {
        check_error(
            "Europe/Londn",
            "unknown time zone `Europe/Londn`, did you mean `Europe/London`?",
        );
        check_error(
            "London",
            "unknown time zone `London`, did you mean `Europe/London`?",
        );
        check_error(
            "America/New York",
            "unknown time zone `America/New York`, did you mean `America/New_York`?",
        );
        check_error(
            "Mars/Olympus_Mons",
            "unknown time zone `Mars/Olympus_Mons` (expected an IANA name such as `Europe/London` or `UTC`)",
        );
        check_error(
            "",
            "empty time zone name: expected an IANA name such as `Europe/London` or `UTC`",
        );
    }
}
