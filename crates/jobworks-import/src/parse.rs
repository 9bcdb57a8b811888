//! Line-level crontab(5) syntax: comments, variable settings, entries, and the `%` rule.
//!
//! Semantics follow cronie and Vixie cron: a line is a variable setting when it reads
//! `name = value`, otherwise it is an entry; entry fields are separated by spaces and tabs.

use crate::report::CrontabKind;

/// What one line of a crontab is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// Blank, or a comment (`#` after optional whitespace).
    Inactive,
    /// `name = value`.
    Variable(Variable),
    /// A schedule, maybe a user, and a command.
    Entry(Entry<'a>),
    /// An active line that is neither.
    Invalid(LineProblem),
}

/// A variable setting, with quotes removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Variable {
    pub(crate) name: String,
    pub(crate) value: String,
    /// `NAME=` with nothing after `=`: cron rejects it, we read it as empty.
    pub(crate) empty_unquoted: bool,
}

/// An entry line split into its parts; the command is still raw (`%` not yet processed).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// cronie's leading `-`: do not log the run to syslog.
    pub(crate) no_log: bool,
    pub(crate) when: When,
    /// The user field of a system crontab.
    pub(crate) user: Option<&'a str>,
    /// Everything after the fields, leading blanks removed, trailing text kept.
    pub(crate) command: &'a str,
}

/// When an entry runs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// `@reboot`: once when cron starts.
    Reboot,
    /// Five time fields joined by single spaces (a macro already expanded).
    Schedule(String),
}

/// Why an active line is not an entry cron would run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LineProblem {
    /// Fewer whitespace-separated fields than the entry needs.
    #[error("too few fields: {expected}; found {found}")]
    TooFewFields {
        expected: &'static str,
        found: usize,
    },
    /// `@something` that cron does not know (cron compares case-sensitively).
    #[error(
        "unknown time macro `@{0}`: crontab knows @reboot, @yearly, @annually, @monthly, \
         @weekly, @daily, @midnight and @hourly"
    )]
    UnknownMacro(String),
    /// A sixth time-like field where the user or command should be.
    #[error(
        "`{token}` after the five time fields looks like a sixth time field; crontab has \
         no seconds or year field"
    )]
    ExtraTimeField { token: String },
    /// A time field with characters cron never accepts there.
    #[error("{field} field `{text}` is not crontab syntax")]
    BadTimeField { field: &'static str, text: String },
    /// Nothing before the first `%`.
    #[error("the command before the first `%` is empty")]
    EmptyCommand,
}

/// The `@` macros of crontab(5) and the five fields each stands for; `None` is `@reboot`.
const MACROS: [(&str, Option<&str>); 8] = [
    ("reboot", None),
    ("yearly", Some("0 0 1 1 *")),
    ("annually", Some("0 0 1 1 *")),
    ("monthly", Some("0 0 1 * *")),
    ("weekly", Some("0 0 * * 0")),
    ("daily", Some("0 0 * * *")),
    ("midnight", Some("0 0 * * *")),
    ("hourly", Some("0 * * * *")),
];

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

const NAMES: [&str; 19] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "sun",
    "mon", "tue", "wed", "thu", "fri", "sat",
];

/// Classifies one line (without its line terminator).
pub(crate) fn classify(line: &str, kind: CrontabKind) -> Line<'_> {
    let text = line.trim_start();
    if text.trim_end().is_empty() || text.starts_with('#') {
        return Line::Inactive;
    }
    if let Some(variable) = parse_variable(text) {
        return Line::Variable(variable);
    }
    match parse_entry(text, kind) {
        Ok(entry) => Line::Entry(entry),
        Err(problem) => Line::Invalid(problem),
    }
}

/// Reads `name = value` (leading whitespace already removed).
///
/// crontab(5): spaces around `=` are optional; the name and the value may each be wrapped in
/// matching single or double quotes, which keeps leading and trailing blanks of the value;
/// an unquoted value loses its trailing blanks; anything after a closing quote other than
/// blanks makes the line not a setting. `NAME=` with nothing after it is accepted as an
/// empty value (cron rejects it) and flagged.
pub(crate) fn parse_variable(text: &str) -> Option<Variable> {
    let (name, rest) = match text.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let body = &text[1..];
            let end = body.find(quote)?;
            let name = &body[..end];
            if name.contains('=') {
                return None;
            }
            (name, &body[end + 1..])
        }
        _ => {
            let end = text.find(|c: char| c == '=' || c.is_whitespace())?;
            text.split_at(end)
        }
    };
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let (value, empty_unquoted) = match rest.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let body = &rest[1..];
            let end = body.find(quote)?;
            if !body[end + 1..].trim().is_empty() {
                return None;
            }
            (&body[..end], false)
        }
        None => ("", true),
        Some(_) => (rest.trim_end(), false),
    };
    Some(Variable {
        name: name.to_owned(),
        value: value.to_owned(),
        empty_unquoted,
    })
}

/// Splits off the next space- or tab-separated field; `None` when only blanks remain.
fn next_field(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start_matches(is_blank);
    if text.is_empty() {
        return None;
    }
    let end = text.find(is_blank).unwrap_or(text.len());
    Some(text.split_at(end))
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn count_fields(text: &str) -> usize {
    text.split(is_blank)
        .filter(|field| !field.is_empty())
        .count()
}

fn parse_entry(text: &str, kind: CrontabKind) -> Result<Entry<'_>, LineProblem> {
    let found = count_fields(text);
    let (no_log, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let is_macro = text.starts_with('@');
    let too_few = || LineProblem::TooFewFields {
        expected: match (kind, is_macro) {
            (CrontabKind::User, false) => "an entry needs five time fields and a command",
            (CrontabKind::System, false) => {
                "a system crontab entry needs five time fields, a user and a command"
            }
            (CrontabKind::User, true) => "an `@` entry needs a command",
            (CrontabKind::System, true) => {
                "an `@` entry in a system crontab needs a user and a command"
            }
        },
        found,
    };
    let (when, rest) = if let Some(after_at) = text.strip_prefix('@') {
        let (word, rest) = next_field(after_at).unwrap_or(("", ""));
        let (_, fields) = MACROS
            .into_iter()
            .find(|(name, _)| *name == word)
            .ok_or_else(|| LineProblem::UnknownMacro(word.to_owned()))?;
        let when = match fields {
            None => When::Reboot,
            Some(fields) => When::Schedule(fields.to_owned()),
        };
        (when, rest)
    } else {
        let mut fields = Vec::with_capacity(FIELD_NAMES.len());
        let mut rest = text;
        for field_name in FIELD_NAMES {
            let (field, after) = next_field(rest).ok_or_else(too_few)?;
            check_time_field(field_name, field)?;
            fields.push(field);
            rest = after;
        }
        let when = When::Schedule(fields.join(" "));
        (when, rest)
    };
    let (user, rest) = match kind {
        CrontabKind::User => (None, rest),
        CrontabKind::System => {
            let (user, rest) = next_field(rest).ok_or_else(too_few)?;
            if looks_like_time_field(user) {
                return Err(LineProblem::ExtraTimeField {
                    token: user.to_owned(),
                });
            }
            (Some(user), rest)
        }
    };
    let command = rest.trim_start_matches(is_blank);
    let Some((first_word, _)) = next_field(command) else {
        return Err(too_few());
    };
    if user.is_none() && looks_like_time_field(first_word) {
        return Err(LineProblem::ExtraTimeField {
            token: first_word.to_owned(),
        });
    }
    Ok(Entry {
        no_log,
        when,
        user,
        command,
    })
}

/// Rejects characters cron never accepts in a time field: digits, `*`, `,`, `-`, `/` and
/// cronie's `~` everywhere, plus three-letter names in the month and day-of-week fields.
fn check_time_field(field_name: &'static str, text: &str) -> Result<(), LineProblem> {
    let names_allowed = matches!(field_name, "month" | "day-of-week");
    let valid = text.chars().all(|c| {
        c.is_ascii_digit()
            || matches!(c, '*' | ',' | '-' | '/' | '~')
            || (names_allowed && c.is_ascii_alphabetic())
    });
    if valid {
        Ok(())
    } else {
        Err(LineProblem::BadTimeField {
            field: field_name,
            text: text.to_owned(),
        })
    }
}

/// Whether a token in the user or command position is really a sixth time field: made of
/// time-field characters with a digit or `*`, or a list or range of month/day names.
fn looks_like_time_field(token: &str) -> bool {
    let numeric = token
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '*' | ',' | '-' | '/' | '~'))
        && token.chars().any(|c| c.is_ascii_digit() || c == '*');
    let name_list = token.contains([',', '-'])
        && token.split([',', '-', '/']).all(|part| {
            NAMES.contains(&part.to_ascii_lowercase().as_str())
                || (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        });
    numeric || name_list
}

/// Splits a raw command at its first unescaped `%` into the command and standard input.
///
/// crontab(5) and cron's `do_command`: in the command, `\%` becomes `%` and a backslash
/// before any other character is kept together with that character; the first unescaped `%`
/// ends the command. In the input, `\%` becomes `%`, every other unescaped `%` becomes a
/// newline, other backslashes are kept, and a newline is appended when the data written does
/// not end in one. Nothing after the first `%` means no input at all.
pub(crate) fn split_percent(raw: &str) -> (String, Option<String>) {
    let mut command = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    let mut input = "";
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '%')) => command.push('%'),
                Some((_, next)) => {
                    command.push('\\');
                    command.push(next);
                }
                None => command.push('\\'),
            },
            '%' => {
                input = &raw[index + 1..];
                break;
            }
            other => command.push(other),
        }
    }
    if input.is_empty() {
        return (command, None);
    }
    let mut stdin = String::with_capacity(input.len() + 1);
    let mut escaped = false;
    let mut needs_newline = false;
    for c in input.chars() {
        let c = if escaped {
            if c != '%' {
                stdin.push('\\');
            }
            c
        } else if c == '%' {
            '\n'
        } else {
            c
        };
        escaped = c == '\\';
        if !escaped {
            stdin.push(c);
            needs_newline = c != '\n';
        }
    }
    if escaped {
        stdin.push('\\');
    }
    if needs_newline {
        stdin.push('\n');
    }
    (command, Some(stdin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_variable(line: &str, expected: Option<(&str, &str)>) {
        let actual = parse_variable(line.trim_start());
        let actual = actual
            .as_ref()
            .map(|variable| (variable.name.as_str(), variable.value.as_str()));
        assert_eq!(actual, expected, "variable line {line:?}");
    }

    #[test]
    fn variable_lines() {
        check_variable("PATH=/usr/bin:/bin", Some(("PATH", "/usr/bin:/bin")));
        check_variable("  SHELL = /bin/bash  ", Some(("SHELL", "/bin/bash")));
        check_variable("A\t=\tone two  ", Some(("A", "one two")));
        check_variable("A = \"  padded  \"", Some(("A", "  padded  ")));
        check_variable("A='x \"y\" z'", Some(("A", "x \"y\" z")));
        check_variable("A=\"\"", Some(("A", "")));
        check_variable("A=''  ", Some(("A", "")));
        check_variable("'MY VAR' = 1", Some(("MY VAR", "1")));
        check_variable("\"MY VAR\"=1", Some(("MY VAR", "1")));
        check_variable("A=a\"b", Some(("A", "a\"b")));
        check_variable("A=x=y", Some(("A", "x=y")));
        check_variable("A=$HOME/bin:$PATH", Some(("A", "$HOME/bin:$PATH")));
        check_variable("A=", Some(("A", "")));
        check_variable("A = ", Some(("A", "")));
        // not settings
        check_variable("A=\"x\" y", None);
        check_variable("A=\"unterminated", None);
        check_variable("A B = c", None);
        check_variable("\"A=B\" = c", None);
        check_variable("=value", None);
        check_variable("* * * * * FOO=bar cmd", None);
        check_variable("0 5 * * * a=b", None);
        check_variable("@daily X=1 cmd", None);
        check_variable("cmd", None);
    }

    #[test]
    fn empty_unquoted_value_is_flagged() {
        let empty = parse_variable("MAILTO=").expect("a setting");
        assert!(empty.empty_unquoted);
        let quoted = parse_variable("MAILTO=\"\"").expect("a setting");
        assert!(!quoted.empty_unquoted);
    }

    fn check_percent(raw: &str, command: &str, stdin: Option<&str>) {
        let (actual_command, actual_stdin) = split_percent(raw);
        assert_eq!(actual_command, command, "command of {raw:?}");
        assert_eq!(actual_stdin.as_deref(), stdin, "stdin of {raw:?}");
    }

    #[test]
    fn percent_rules() {
        check_percent("echo hi", "echo hi", None);
        check_percent("cat%hello", "cat", Some("hello\n"));
        check_percent("cat%", "cat", None);
        check_percent("cat%%", "cat", Some("\n"));
        check_percent("cat%a%b", "cat", Some("a\nb\n"));
        check_percent("cat%a%b%", "cat", Some("a\nb\n"));
        check_percent(
            "mail -s \"It's 10pm\" joe%Joe,%%Where are your kids?%",
            "mail -s \"It's 10pm\" joe",
            Some("Joe,\n\nWhere are your kids?\n"),
        );
        check_percent(r"date +\%Y-\%m-\%d", "date +%Y-%m-%d", None);
        check_percent(
            r"date +\%s%in: 50\% done",
            "date +%s",
            Some("in: 50% done\n"),
        );
        check_percent(r"printf 'a\tb'", r"printf 'a\tb'", None);
        check_percent(r"echo a\\%rest", r"echo a\\", Some("rest\n"));
        check_percent(r"cat%a\\%b", "cat", Some("a\\%b\n"));
        check_percent(r"cat%a\nb", "cat", Some("a\\nb\n"));
        check_percent(r"cat%ends in \", "cat", Some("ends in \\\n"));
        check_percent(r"echo trailing\", r"echo trailing\", None);
        check_percent("cmd  %  spaced  ", "cmd  ", Some("  spaced  \n"));
    }

    fn entry(line: &str, kind: CrontabKind) -> Result<Entry<'_>, LineProblem> {
        match classify(line, kind) {
            Line::Entry(entry) => Ok(entry),
            Line::Invalid(problem) => Err(problem),
            other => panic!("{line:?} should be an entry line, got {other:?}"),
        }
    }

    #[test]
    fn fields_are_separated_by_tabs_and_runs_of_spaces() {
        let parsed = entry(
            "17 *\t* * *\troot\tcd / && run-parts  --report /etc/cron.hourly",
            CrontabKind::System,
        )
        .expect("a valid entry");
        assert_eq!(parsed.when, When::Schedule("17 * * * *".to_owned()));
        assert_eq!(parsed.user, Some("root"));
        assert_eq!(
            parsed.command,
            "cd / && run-parts  --report /etc/cron.hourly"
        );
    }

    #[test]
    fn macros_expand_to_crontab_fields() {
        let table = [
            ("@yearly", Some("0 0 1 1 *")),
            ("@annually", Some("0 0 1 1 *")),
            ("@monthly", Some("0 0 1 * *")),
            ("@weekly", Some("0 0 * * 0")),
            ("@daily", Some("0 0 * * *")),
            ("@midnight", Some("0 0 * * *")),
            ("@hourly", Some("0 * * * *")),
            ("@reboot", None),
        ];
        for (name, fields) in table {
            let line = format!("{name}\tbackup.sh");
            let parsed = entry(&line, CrontabKind::User).expect("a valid macro entry");
            let actual = match parsed.when {
                When::Reboot => None,
                When::Schedule(fields) => Some(fields),
            };
            assert_eq!(actual.as_deref(), fields, "{name}");
            assert_eq!(parsed.command, "backup.sh");
        }
    }

    fn check_problem(line: &str, kind: CrontabKind, reason: &str) {
        let problem = entry(line, kind).expect_err("the line should not convert");
        assert_eq!(problem.to_string(), reason, "{line:?}");
    }

    #[test]
    fn odd_lines_are_reported() {
        use CrontabKind::{System, User};
        let system_too_few =
            "too few fields: a system crontab entry needs five time fields, a user and a command";
        let user_too_few = "too few fields: an entry needs five time fields and a command";
        check_problem("* * * *", User, &format!("{user_too_few}; found 4"));
        check_problem("0 5 * * *", User, &format!("{user_too_few}; found 5"));
        check_problem(
            "0 5 * * * root",
            System,
            &format!("{system_too_few}; found 6"),
        );
        check_problem("0 5 * *", System, &format!("{system_too_few}; found 4"));
        check_problem(
            "@daily",
            User,
            "too few fields: an `@` entry needs a command; found 1",
        );
        check_problem(
            "@reboot root",
            System,
            "too few fields: an `@` entry in a system crontab needs a user and a command; found 2",
        );
        check_problem(
            "@every 5m cmd",
            User,
            "unknown time macro `@every`: crontab knows @reboot, @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly",
        );
        check_problem(
            "@Daily cmd",
            User,
            "unknown time macro `@Daily`: crontab knows @reboot, @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly",
        );
        check_problem(
            "0 0 12 * * * /bin/job",
            User,
            "`*` after the five time fields looks like a sixth time field; crontab has no seconds or year field",
        );
        check_problem(
            "*/10 0 12 * * 1-5 /bin/job",
            User,
            "`1-5` after the five time fields looks like a sixth time field; crontab has no seconds or year field",
        );
        check_problem(
            "0 0 12 * * mon-fri root /bin/job",
            System,
            "`mon-fri` after the five time fields looks like a sixth time field; crontab has no seconds or year field",
        );
        check_problem(
            "0 0 12 ? * MON /bin/job",
            User,
            "month field `?` is not crontab syntax",
        );
        check_problem(
            "every day at noon run it",
            User,
            "minute field `every` is not crontab syntax",
        );
        check_problem(
            "0 0 1W * * /bin/job",
            User,
            "day-of-month field `1W` is not crontab syntax",
        );
    }

    #[test]
    fn names_and_lists_are_valid_fields() {
        let parsed = entry("0 9 * jan-mar,dec Mon,WED,fri /bin/job", CrontabKind::User)
            .expect("names are allowed in month and day-of-week");
        assert_eq!(
            parsed.when,
            When::Schedule("0 9 * jan-mar,dec Mon,WED,fri".to_owned())
        );
    }

    #[test]
    fn leading_dash_disables_logging() {
        let parsed = entry("-*/5 * * * * root /bin/job", CrontabKind::System).expect("valid");
        assert!(parsed.no_log);
        assert_eq!(parsed.user, Some("root"));
        let parsed = entry("-@hourly /bin/job", CrontabKind::User).expect("valid");
        assert!(parsed.no_log);
    }

    #[test]
    fn comments_and_blank_lines_are_inactive() {
        for line in [
            "",
            "   ",
            "\t",
            "# comment",
            "   # indented comment",
            "#0 5 * * * cmd",
        ] {
            assert_eq!(
                classify(line, CrontabKind::User),
                Line::Inactive,
                "{line:?}"
            );
        }
    }
}
