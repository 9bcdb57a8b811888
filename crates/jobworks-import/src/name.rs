//! Job names: lowercase slugs built from the command, unique within one import.

use std::collections::HashSet;
use std::path::Path;

/// Longest job name, in characters (all ASCII).
pub(crate) const MAX_NAME_LEN: usize = 63;

/// Lowercases ASCII letters and digits, turns every run of other characters into one `-`,
/// and trims `-` at both ends.
pub(crate) fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// Cuts an ASCII slug to `max` characters without leaving a trailing `-`.
fn clip(slug: &str, max: usize) -> &str {
    slug[..slug.len().min(max)].trim_end_matches('-')
}

/// Hands out unique names for one source file.
#[derive(Debug)]
pub(crate) struct NameAllocator {
    /// Slug of the source file's stem (`crontab`, `e2scrub-all`); may be empty.
    prefix: String,
    used: HashSet<String>,
}

impl NameAllocator {
    /// An allocator whose names start with the stem of `source_name` (`/etc/crontab` ->
    /// `crontab`), unless that stem slugs to nothing.
    pub(crate) fn new(source_name: &str) -> Self {
        let stem = Path::new(source_name)
            .file_stem()
            .map(|stem| stem.to_string_lossy())
            .unwrap_or_default();
        NameAllocator {
            prefix: slugify(&stem),
            used: HashSet::new(),
        }
    }

    /// A new unique name from the command's name words: `<prefix>-<slug>`, or just `<slug>`
    /// when the slug already starts with the prefix; `job` stands in for an empty slug;
    /// `-2`, `-3`, ... are appended on collisions; the result has at most 63 characters.
    pub(crate) fn allocate(&mut self, name_words: &[String]) -> String {
        let mut slug = slugify(&name_words.join("-"));
        if slug.is_empty() {
            slug = "job".to_owned();
        }
        let prefixed = slug == self.prefix || slug.starts_with(&format!("{}-", self.prefix));
        let base = if self.prefix.is_empty() || prefixed {
            slug
        } else {
            format!("{}-{slug}", self.prefix)
        };
        let base = clip(&base, MAX_NAME_LEN).to_owned();
        let mut candidate = base.clone();
        let mut counter = 1;
        while self.used.contains(&candidate) {
            counter += 1;
            let suffix = format!("-{counter}");
            candidate = format!("{}{suffix}", clip(&base, MAX_NAME_LEN - suffix.len()));
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        let table = [
            ("cron.daily", "cron-daily"),
            ("e2scrub_all", "e2scrub-all"),
            ("Backup  Nightly!", "backup-nightly"),
            ("--x--", "x"),
            ("schedule:run", "schedule-run"),
            ("café-läuft", "caf-l-uft"),
            ("", ""),
            ("___", ""),
        ];
        for (text, slug) in table {
            assert_eq!(slugify(text), slug, "{text:?}");
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn prefix_when_useful() {
        let mut names = NameAllocator::new("/etc/crontab");
        assert_eq!(names.allocate(&words("cron.daily")), "crontab-cron-daily");
        let mut names = NameAllocator::new("/etc/cron.d/e2scrub_all");
        assert_eq!(
            names.allocate(&words("e2scrub_all_cron")),
            "e2scrub-all-cron"
        );
        assert_eq!(names.allocate(&words("e2scrub_all")), "e2scrub-all");
        assert_eq!(names.allocate(&words("fstrim")), "e2scrub-all-fstrim");
        let mut names = NameAllocator::new("-");
        assert_eq!(names.allocate(&words("certbot renew")), "certbot-renew");
        let mut names = NameAllocator::new("");
        assert_eq!(names.allocate(&[]), "job");
    }

    #[test]
    fn collisions_get_numbered() {
        let mut names = NameAllocator::new("/var/spool/cron/crontabs/alice");
        assert_eq!(names.allocate(&words("backup")), "alice-backup");
        assert_eq!(names.allocate(&words("backup")), "alice-backup-2");
        assert_eq!(names.allocate(&words("backup 2")), "alice-backup-2-2");
        assert_eq!(names.allocate(&words("backup")), "alice-backup-3");
    }

    #[test]
    fn names_are_at_most_63_characters() {
        let mut names = NameAllocator::new("/etc/cron.d/a-rather-long-file-name");
        let long = ["x".repeat(40) + "-" + &"y".repeat(40)];
        let first = names.allocate(&long);
        let second = names.allocate(&long);
        let tenth = (3..=10)
            .map(|_| names.allocate(&long))
            .last()
            .expect("some names");
        for name in [&first, &second, &tenth] {
            assert!(name.len() <= MAX_NAME_LEN, "{name} is too long");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            assert!(!name.ends_with('-') && !name.starts_with('-'));
        }
        assert_eq!(first.len(), MAX_NAME_LEN);
        assert!(second.ends_with("-2"), "{second}");
        assert!(tenth.ends_with("-10"), "{tenth}");
    }
}
