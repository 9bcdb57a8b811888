//! Did-you-mean suggestions: the known word closest to a misspelled one.

/// Words people write for a known one that edit distance would not find.
const ALIASES: &[(&str, &str)] = &[
    ("cron", "schedule"),
    ("interval", "every"),
    ("retry", "retries"),
    ("tz", "timezone"),
    ("time_zone", "timezone"),
    ("cwd", "working_dir"),
    ("workdir", "working_dir"),
    ("dir", "working_dir"),
    ("environment", "env"),
    ("kind", "type"),
    ("param", "params"),
    ("parameters", "params"),
    ("arguments", "params"),
    ("args", "command"),
    ("attempts", "max_attempts"),
    ("retries", "max_attempts"),
    ("delay", "initial_delay"),
    ("choices", "values"),
    ("options", "values"),
    ("regex", "pattern"),
    ("sh", "shell"),
    ("bash", "shell"),
    ("py", "python"),
    ("python3", "python"),
    ("cmd", "command"),
    ("code", "script"),
    ("sql", "query"),
    ("database", "datasource"),
    ("db", "datasource"),
    ("binds", "bind"),
    ("integer", "int"),
    ("boolean", "bool"),
    ("number", "float"),
    ("double", "float"),
    ("str", "string"),
    ("text", "string"),
    ("choice", "enum"),
];

/// The candidate closest to `word`, if one is close enough to be a likely misspelling.
///
/// In order: an exact match ignoring case and `-`/`_`; a known alias (`retry` → `retries`)
/// that is among the candidates; the candidate with the smallest Damerau-Levenshtein
/// distance (ignoring case) when that distance is at most a third of the longer word
/// (at least 1); for words of 4+ characters, a candidate that contains `word` or that
/// `word` starts with (`integers` → `int`).
pub fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str> + Clone,
) -> Option<&'c str> {
    let normal = normalize(word);
    if let Some(same) = candidates
        .clone()
        .into_iter()
        .find(|candidate| normalize(candidate) == normal)
    {
        return Some(same);
    }
    if let Some(alias) = ALIASES
        .iter()
        .filter(|(from, _)| *from == normal)
        .find_map(|(_, to)| candidates.clone().into_iter().find(|c| c == to))
    {
        return Some(alias);
    }
    let best = candidates
        .clone()
        .into_iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&normal, &normalize(candidate));
            (distance, candidate)
        })
        .min_by_key(|(distance, _)| *distance);
    if let Some((distance, candidate)) = best {
        let longer = normal.chars().count().max(candidate.chars().count());
        if distance <= (longer / 3).max(1) {
            return Some(candidate);
        }
    }
    if normal.chars().count() >= 4 {
        return candidates.into_iter().find(|candidate| {
            let candidate = normalize(candidate);
            candidate.contains(&normal)
                || (candidate.chars().count() >= 3 && normal.starts_with(&candidate))
        });
    }
    None
}

/// `` `a`, `b`, `c` ``: candidates for a hint like "expected one of ...".
pub fn list<'c>(items: impl IntoIterator<Item = &'c str>) -> String {
    items
        .into_iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `did you mean `x`?` when a close candidate exists, else `expected one of `a`, `b``.
pub(crate) fn hint<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str> + Clone,
) -> String {
    match closest(word, candidates.clone()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("expected one of {}", list(candidates)),
    }
}

fn normalize(word: &str) -> String {
    word.to_lowercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_words() {
        let fields = [
            "name",
            "schedule",
            "every",
            "retries",
            "timezone",
            "working_dir",
            "output_cap",
        ];
        let cases = [
            ("shedule", Some("schedule")),
            ("scheduel", Some("schedule")),
            ("Schedule", Some("schedule")),
            ("working-dir", Some("working_dir")),
            ("retry", Some("retries")),
            ("cron", Some("schedule")),
            ("tz", Some("timezone")),
            ("nmae", Some("name")),
            ("output", Some("output_cap")),
            ("xyz", None),
            ("enabled", None),
        ];
        for (word, want) in cases {
            assert_eq!(closest(word, fields), want, "{word}");
        }
    }

    #[test]
    fn hints() {
        assert_eq!(
            hint("forbidd", ["allow", "forbid"]),
            "did you mean `forbid`?"
        );
        assert_eq!(
            hint("never", ["allow", "forbid"]),
            "expected one of `allow`, `forbid`"
        );
    }
}
