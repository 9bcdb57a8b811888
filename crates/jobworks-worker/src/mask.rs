//! Masking secret parameter values in what an attempt produces (log lines, outputs, errors)
//! before anything is stored or streamed, the way CI systems mask secrets (GitHub Actions'
//! `::add-mask::` rule: every occurrence, each line of a multi-line value too).

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;
use std::borrow::Cow;

/// What a masked occurrence becomes.
pub const MASK: &str = "***";

/// Values (and lines of multi-line values) shorter than this many characters (4) are not
/// masked: masking `1` or `on` would garble every log without hiding anything guessable.
pub const MIN_SECRET_CHARS: usize = 4;

/// Replaces every occurrence of a set of secret values with [`MASK`].
///
/// A value is masked whole, and so is each of its lines (split at `\n`, a trailing `\r`
/// removed) of at least [`MIN_SECRET_CHARS`] characters, so a secret with a newline is masked
/// in the log although the log holds it as two lines. Matching is exact and case-sensitive;
/// encoded forms (base64, URL or JSON escapes, hex) are not searched for.
#[derive(Debug, Clone)]
pub struct SecretMask {
    /// `None` when there is nothing to mask.
    matcher: Option<AhoCorasick>,
}

impl SecretMask {
    /// A mask for `secrets` (raw values, in any order; short and empty ones are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<&str> = Vec::new();
        for secret in secrets {
            let parts = std::iter::once(secret).chain(
                secret
                    .contains('\n')
                    .then(|| secret.split('\n').map(|line| line.trim_end_matches('\r')))
                    .into_iter()
                    .flatten(),
            );
            for part in parts {
                if part.chars().count() >= MIN_SECRET_CHARS && !patterns.contains(&part) {
                    patterns.push(part);
                }
            }
        }
        let matcher = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                // the longest secret wins where several start at the same place
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("literal patterns always build")
        });
        Self { matcher }
    }

    /// True when no value is masked (no secrets, or all too short).
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `text` with every occurrence of a secret (or a secret's line) replaced by [`MASK`];
    /// borrowed when nothing matched.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(matcher) if matcher.is_match(text) => {
                let mut masked = String::with_capacity(text.len());
                matcher.replace_all_with(text, &mut masked, |_, _, out| {
                    out.push_str(MASK);
                    true
                });
                Cow::Owned(masked)
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// Masks two pieces of one line that the executor cut at its length limit (`head`, then
    /// `tail`, which continues it): every secret wholly inside either piece, and every secret
    /// that spans the cut, whose characters are masked on both sides (`***` ends `head`, the
    /// rest of the secret is removed from the start of `tail`). Returns the masked pieces.
    pub fn across<'h, 't>(&self, head: &'h str, tail: &'t str) -> (Cow<'h, str>, Cow<'t, str>) {
        let Some(matcher) = &self.matcher else {
            return (Cow::Borrowed(head), Cow::Borrowed(tail));
        };
        let joined = format!("{head}{tail}");
        let cut = head.len();
        let spanning = matcher
            .find_iter(&joined)
            .find(|found| found.start() < cut && found.end() > cut);
        match spanning {
            None => (self.text(head), self.text(tail)),
            Some(found) => {
                let head = format!("{}{MASK}", self.text(&head[..found.start()]));
                let tail = self.text(&joined[found.end()..]).into_owned();
                (Cow::Owned(head), Cow::Owned(tail))
            }
        }
    }

    /// Masks every string in a JSON value in place: object keys, strings, nested values; a
    /// number whose text holds a secret (an `int` secret selected back) becomes the string
    /// [`MASK`].
    pub fn json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(text) => {
                if let Cow::Owned(masked) = self.text(text) {
                    *text = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.json(item)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    self.json(&mut item);
                    map.insert(self.text(&key).into_owned(), item);
                }
            }
            Value::Number(number) => {
                if let Cow::Owned(_) = self.text(&number.to_string()) {
                    *value = Value::String(MASK.to_owned());
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(secrets: &[&str], text: &str, expected: &str) {
        let mask = SecretMask::new(secrets.iter().copied());
        assert_eq!(mask.text(text), expected, "secrets {secrets:?} in {text:?}");
    }

    #[test]
    fn masks_every_occurrence() {
        check(
            &["hunter22"],
            "pw=hunter22 again hunter22",
            "pw=*** again ***",
        );
        check(&["hunter22"], "nothing here", "nothing here");
        check(&[], "hunter22", "hunter22");
        // the longest secret wins where two overlap
        check(&["abcd", "abcdef"], "xabcdefx", "x***x");
        check(&["s3cr3t", "cr3t-token"], "s3cr3t-token", "***-token");
        // unicode is matched as text
        check(&["пароль123"], "a пароль123 b", "a *** b");
    }

    #[test]
    fn short_values_are_not_masked() {
        check(&["abc"], "abc abcd", "abc abcd");
        check(&["abcd"], "abc abcd", "abc ***");
        check(&[""], "anything", "anything");
        assert!(SecretMask::new(["", "ab"]).is_empty());
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_masked() {
        let secret = "first-line\r\nsecond-line\nab";
        check(&[secret], "first-line", "***");
        check(&[secret], "x second-line y", "x *** y");
        // the short last line is not masked on its own
        check(&[secret], "ab", "ab");
        // nor is the whole value left visible where it stays in one piece
        check(&[secret], &format!("<{secret}>"), "<***>");
    }

    #[test]
    fn a_secret_cut_between_two_pieces_is_masked_on_both_sides() {
        let mask = SecretMask::new(["hunter22", "zz-token"]);
        for (head, tail, want_head, want_tail) in [
            // spans the cut
            ("aaa hunt", "er22 bbb", "aaa ***", " bbb"),
            ("aaa h", "unter22 bbb", "aaa ***", " bbb"),
            ("aaa hunter2", "2", "aaa ***", ""),
            // wholly on one side, or both
            ("hunter22 x", "y hunter22", "*** x", "y ***"),
            ("x hunter22", "", "x ***", ""),
            // secrets on each side and one across
            ("hunter22 zz-to", "ken hunter22", "*** ***", " ***"),
            // nothing to mask
            ("plain", "text", "plain", "text"),
            // a prefix alone is not a secret
            ("aaa hunt", "ing", "aaa hunt", "ing"),
        ] {
            let (h, t) = mask.across(head, tail);
            assert_eq!(
                (h.as_ref(), t.as_ref()),
                (want_head, want_tail),
                "{head:?} | {tail:?}"
            );
        }
        let none = SecretMask::new([""]);
        assert_eq!(
            none.across("a", "b"),
            (Cow::Borrowed("a"), Cow::Borrowed("b"))
        );
    }

    #[test]
    fn json_strings_and_keys_are_masked() {
        let mask = SecretMask::new(["hunter22", "987654"]);
        let mut value = json!({
            "rows": [{"pw": "hunter22", "n": 1}],
            "hunter22": true,
            "note": "is hunter22",
            "count": 7,
            "pin": 987654
        });
        mask.json(&mut value);
        assert_eq!(
            value,
            json!({"rows": [{"pw": "***", "n": 1}], "***": true, "note": "is ***", "count": 7, "pin": "***"})
        );
    }
}
