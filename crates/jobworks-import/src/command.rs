//! Reading a shell command just far enough to name and describe the job that runs it.
//!
//! This is a heuristic, not a shell parser: it splits the command into simple commands at
//! `&&`, `||`, `|`, `;`, `&`, `(` and `)`, honours quotes and backslashes, drops
//! redirections, and picks the first simple command that does real work.

/// What the importer takes from a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CommandFacts {
    /// Words for the job name, e.g. `["cron.daily"]` or `["certbot", "renew"]`; empty when
    /// nothing usable was found.
    pub(crate) name_words: Vec<String>,
    /// The text of the simple command the name came from, or the whole command trimmed.
    pub(crate) summary: String,
}

#[derive(Debug)]
struct Word {
    text: String,
    start: usize,
    end: usize,
    /// Contains an unquoted `<` or `>`.
    redirect: bool,
}

#[derive(Debug)]
enum Token {
    Word(Word),
    /// An operator that ends a simple command: `&&`, `||`, `|`, `;`, `&`, `(` or `)`.
    Separator,
}

/// Keywords and grouping words that may start a simple command without being it.
const LEADING_KEYWORDS: [&str; 15] = [
    "{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time",
    "exec", "command",
];

/// Programs that prepare or guard the real work (`test -x ... &&`, `cd ... &&`), and
/// keywords whose simple command is not a program.
const GUARDS: [&str; 17] = [
    "test", "[", "[[", "cd", "pushd", "true", "false", ":", "sleep", "exit", "export", "set",
    "umask", "source", ".", "for", "case",
];

/// Programs that run another program: their options (and some positional arguments) are
/// skipped. `(program, options taking an argument, positional arguments before the command)`.
const WRAPPERS: [(&str, &[&str], usize); 13] = [
    ("nice", &["-n", "--adjustment"], 0),
    (
        "ionice",
        &["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"],
        0,
    ),
    ("nohup", &[], 0),
    ("chronic", &[], 0),
    ("setsid", &[], 0),
    ("stdbuf", &["-i", "-o", "-e"], 0),
    ("env", &["-u", "-C", "-S", "--unset", "--chdir"], 0),
    (
        "sudo",
        &[
            "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group",
        ],
        0,
    ),
    ("timeout", &["-s", "-k", "--signal", "--kill-after"], 1),
    (
        "flock",
        &["-w", "-E", "--wait", "--timeout", "--conflict-exit-code"],
        1,
    ),
    ("lckdo", &["-w"], 1),
    ("run-one", &[], 0),
    ("cronic", &[], 0),
];

const SHELLS: [&str; 5] = ["sh", "bash", "dash", "zsh", "ksh"];

/// Script extensions dropped from names: `backup.sh` names a job `backup`.
const SCRIPT_EXTENSIONS: [&str; 7] = ["sh", "bash", "py", "pl", "rb", "php", "js"];

/// Analyses a command (after `%` processing).
pub(crate) fn analyze(command: &str) -> CommandFacts {
    let tokens = tokenize(command);
    let mut segments: Vec<Vec<&Word>> = vec![Vec::new()];
    for token in &tokens {
        match token {
            Token::Word(word) => segments.last_mut().expect("never empty").push(word),
            Token::Separator => segments.push(Vec::new()),
        }
    }
    let chosen = segments
        .iter()
        .find_map(|segment| meaningful(segment).map(|words| (segment, words)));
    let (name_words, summary) = match chosen {
        Some((segment, words)) => (words, segment_text(command, segment)),
        None => {
            let fallback = segments.iter().find_map(|segment| {
                program_words(segment)
                    .first()
                    .map(|word| program(&word.text))
            });
            (
                fallback
                    .map(|name| vec![name.to_owned()])
                    .unwrap_or_default(),
                command.trim().to_owned(),
            )
        }
    };
    CommandFacts {
        name_words,
        summary,
    }
}

/// The original text of a simple command, from its first word after leading keywords to its
/// last word.
fn segment_text(command: &str, segment: &[&Word]) -> String {
    let first = segment
        .iter()
        .find(|word| !LEADING_KEYWORDS.contains(&word.text.as_str()));
    match (first, segment.last()) {
        (Some(first), Some(last)) => command[first.start..last.end].to_owned(),
        _ => command.trim().to_owned(),
    }
}

/// The words of a simple command without redirections, leading keywords and leading
/// variable assignments.
fn program_words<'w>(segment: &[&'w Word]) -> Vec<&'w Word> {
    let mut words = Vec::with_capacity(segment.len());
    let mut skip_target = false;
    for word in segment {
        if skip_target {
            skip_target = false;
            continue;
        }
        if word.redirect {
            skip_target = word.text.ends_with(['<', '>']);
            continue;
        }
        words.push(*word);
    }
    let start = words
        .iter()
        .position(|word| {
            !LEADING_KEYWORDS.contains(&word.text.as_str()) && !is_assignment(&word.text)
        })
        .unwrap_or(words.len());
    words.split_off(start)
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The last path component of a program or path (`/usr/sbin/anacron` -> `anacron`).
fn program(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some(last) if !last.is_empty() => last,
        _ => path,
    }
}

fn strip_script_extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() && SCRIPT_EXTENSIONS.contains(&extension) => {
            stem
        }
        _ => name,
    }
}

/// A word that reads like a subcommand (`renew`, `schedule:run`), not a path or option.
fn is_subcommand(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | ':'))
}

/// Skips options (and their arguments) at the start of `words`, then `positionals` words.
fn skip_options<'a, 'w>(
    words: &'a [&'w Word],
    with_argument: &[&str],
    positionals: usize,
) -> &'a [&'w Word] {
    let mut index = 0;
    while let Some(word) = words.get(index) {
        let text = word.text.as_str();
        if text == "--" {
            index += 1;
            break;
        }
        if text.len() > 1 && text.starts_with('-') {
            index += if with_argument.contains(&text) { 2 } else { 1 };
            continue;
        }
        break;
    }
    &words[(index + positionals).min(words.len())..]
}

/// Name words for one simple command, or `None` when it only prepares or guards.
fn meaningful(segment: &[&Word]) -> Option<Vec<String>> {
    let all_words = program_words(segment);
    let mut words: &[&Word] = &all_words;
    let mut name;
    loop {
        name = program(&words.first()?.text);
        if GUARDS.contains(&name) {
            return None;
        }
        let Some((_, with_argument, positionals)) =
            WRAPPERS.iter().find(|(wrapper, _, _)| *wrapper == name)
        else {
            break;
        };
        words = skip_options(&words[1..], with_argument, *positionals);
        let start = words
            .iter()
            .position(|word| !is_assignment(&word.text))
            .unwrap_or(words.len());
        words = &words[start..];
    }
    let arguments = &words[1..];
    if name == "run-parts" {
        let directory =
            skip_options(arguments, &["-u", "-a", "--umask", "--arg", "--regex"], 0).first();
        let name = directory.map_or(name, |directory| program(&directory.text));
        return Some(vec![name.to_owned()]);
    }
    if SHELLS.contains(&name) {
        if let Some(index) = arguments.iter().position(|word| {
            word.text.starts_with('-') && !word.text.starts_with("--") && word.text.contains('c')
        }) {
            let inner = arguments.get(index + 1).map(|word| analyze(&word.text));
            return Some(match inner {
                Some(facts) if !facts.name_words.is_empty() => facts.name_words,
                _ => vec![name.to_owned()],
            });
        }
        let script = skip_options(arguments, &["-o", "+o", "-O", "+O"], 0).first();
        let name = script.map_or(name, |script| strip_script_extension(program(&script.text)));
        return Some(vec![name.to_owned()]);
    }
    if is_interpreter(name) {
        let mut index = 0;
        while let Some(word) = arguments.get(index) {
            match word.text.as_str() {
                "-m" => {
                    let module = arguments
                        .get(index + 1)
                        .map_or(name, |module| module.text.as_str());
                    return Some(vec![module.to_owned()]);
                }
                "-c" | "-e" | "-r" => return Some(vec![name.to_owned()]),
                "-W" | "-X" | "-d" | "-I" => index += 2,
                "-f" => index += 1,
                text if text.len() > 1 && text.starts_with('-') => index += 1,
                script => {
                    let mut words = vec![strip_script_extension(program(script)).to_owned()];
                    words.extend(
                        arguments
                            .get(index + 1)
                            .filter(|word| is_subcommand(&word.text))
                            .map(|word| word.text.clone()),
                    );
                    return Some(words);
                }
            }
        }
        return Some(vec![name.to_owned()]);
    }
    let mut words = vec![strip_script_extension(name).to_owned()];
    words.extend(
        arguments
            .first()
            .filter(|word| is_subcommand(&word.text))
            .map(|word| word.text.clone()),
    );
    Some(words)
}

fn is_interpreter(name: &str) -> bool {
    ["python", "perl", "ruby", "node", "php"]
        .iter()
        .any(|prefix| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
        })
        || name == "nodejs"
}

/// Splits a command into words and control operators; quotes are removed from words and
/// each word remembers its byte span in the command.
fn tokenize(command: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = command.char_indices().collect();
    let mut tokens = Vec::new();
    let mut current: Option<Word> = None;
    let mut index = 0;

    fn word_at(current: &mut Option<Word>, start: usize) -> &mut Word {
        current.get_or_insert_with(|| Word {
            text: String::new(),
            start,
            end: start,
            redirect: false,
        })
    }
    fn finish(current: &mut Option<Word>, tokens: &mut Vec<Token>, end: usize) {
        if let Some(mut word) = current.take() {
            word.end = end;
            tokens.push(Token::Word(word));
        }
    }

    while let Some(&(position, c)) = chars.get(index) {
        let next = chars.get(index + 1).map(|&(_, next)| next);
        match c {
            c if c.is_whitespace() => {
                finish(&mut current, &mut tokens, position);
                index += 1;
            }
            '\'' => {
                let word = word_at(&mut current, position);
                index += 1;
                while let Some(&(_, c)) = chars.get(index) {
                    index += 1;
                    if c == '\'' {
                        break;
                    }
                    word.text.push(c);
                }
            }
            '"' => {
                let word = word_at(&mut current, position);
                index += 1;
                while let Some(&(_, c)) = chars.get(index) {
                    index += 1;
                    match c {
                        '"' => break,
                        '\\' => match chars.get(index) {
                            Some(&(_, escaped @ ('"' | '\\' | '$' | '`'))) => {
                                word.text.push(escaped);
                                index += 1;
                            }
                            _ => word.text.push('\\'),
                        },
                        c => word.text.push(c),
                    }
                }
            }
            '\\' => {
                let word = word_at(&mut current, position);
                word.text.push(next.unwrap_or('\\'));
                index += 2;
            }
            '$' if matches!(next, Some('(' | '{')) => {
                let (open, close) = if next == Some('(') {
                    ('(', ')')
                } else {
                    ('{', '}')
                };
                let word = word_at(&mut current, position);
                word.text.push('$');
                index += 1;
                let mut depth = 0usize;
                while let Some(&(_, c)) = chars.get(index) {
                    word.text.push(c);
                    index += 1;
                    if c == open {
                        depth += 1;
                    } else if c == close {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
            }
            '`' => {
                let word = word_at(&mut current, position);
                word.text.push('`');
                index += 1;
                while let Some(&(_, c)) = chars.get(index) {
                    word.text.push(c);
                    index += 1;
                    if c == '`' {
                        break;
                    }
                }
            }
            '&' if next == Some('&') => {
                finish(&mut current, &mut tokens, position);
                tokens.push(Token::Separator);
                index += 2;
            }
            '&' if next == Some('>')
                || current
                    .as_ref()
                    .is_some_and(|word| word.redirect && word.text.ends_with(['<', '>'])) =>
            {
                let word = word_at(&mut current, position);
                word.text.push('&');
                word.redirect = true;
                index += 1;
            }
            '&' | '|' | ';' | '(' | ')' => {
                finish(&mut current, &mut tokens, position);
                tokens.push(Token::Separator);
                index += if (c, next) == ('|', Some('|')) { 2 } else { 1 };
            }
            '<' | '>' => {
                let word = word_at(&mut current, position);
                word.text.push(c);
                word.redirect = true;
                index += 1;
            }
            c => {
                word_at(&mut current, position).text.push(c);
                index += 1;
            }
        }
    }
    finish(&mut current, &mut tokens, command.len());
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(command: &str, name_words: &[&str], summary: &str) {
        let facts = analyze(command);
        assert_eq!(facts.name_words, name_words, "name words of {command:?}");
        assert_eq!(facts.summary, summary, "summary of {command:?}");
    }

    #[test]
    fn picks_the_simple_command_that_does_the_work() {
        check(
            "cd / && run-parts --report /etc/cron.hourly",
            &["cron.hourly"],
            "run-parts --report /etc/cron.hourly",
        );
        check(
            "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
            &["cron.daily"],
            "run-parts --report /etc/cron.daily",
        );
        check(
            "test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r",
            &["e2scrub_all"],
            "SERVICE_MODE=1 /sbin/e2scrub_all -A -r",
        );
        check(
            "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi",
            &["sessionclean"],
            "/usr/lib/php/sessionclean",
        );
        check(
            "[[ -f /etc/x ]] && backup.sh nightly",
            &["backup", "nightly"],
            "backup.sh nightly",
        );
        check(
            "nice -n 19 ionice -c3 /usr/local/bin/backup.sh >/dev/null 2>&1",
            &["backup"],
            "nice -n 19 ionice -c3 /usr/local/bin/backup.sh >/dev/null 2>&1",
        );
        check(
            "LANG=C FOO='a b' certbot renew --quiet",
            &["certbot", "renew"],
            "LANG=C FOO='a b' certbot renew --quiet",
        );
        check(
            "env -i PATH=/bin timeout 5m flock -n /tmp/l rsync -a /a /b",
            &["rsync"],
            "env -i PATH=/bin timeout 5m flock -n /tmp/l rsync -a /a /b",
        );
        check(
            "/usr/bin/python3 -u /opt/app/jobs/cleanup.py --days 7",
            &["cleanup"],
            "/usr/bin/python3 -u /opt/app/jobs/cleanup.py --days 7",
        );
        check(
            "python3 -m app.tasks.nightly",
            &["app.tasks.nightly"],
            "python3 -m app.tasks.nightly",
        );
        check(
            "php /var/www/artisan schedule:run >> /dev/null 2>&1",
            &["artisan", "schedule:run"],
            "php /var/www/artisan schedule:run >> /dev/null 2>&1",
        );
        check(
            "bash -lc 'cd /srv && ./deploy.sh'",
            &["deploy"],
            "bash -lc 'cd /srv && ./deploy.sh'",
        );
        check(
            "sleep $((RANDOM % 60)) && /usr/bin/fetch-feeds",
            &["fetch-feeds"],
            "/usr/bin/fetch-feeds",
        );
        check(
            "$HOME/bin/daily.job >> $HOME/tmp/out 2>&1",
            &["daily.job"],
            "$HOME/bin/daily.job >> $HOME/tmp/out 2>&1",
        );
        check(
            "echo \"a && b\" | mail -s hi root",
            &["echo"],
            "echo \"a && b\"",
        );
        check("(cd /tmp; make clean)", &["make", "clean"], "make clean");
    }

    #[test]
    fn falls_back_to_the_first_program() {
        check("test -x /usr/bin/foo", &["test"], "test -x /usr/bin/foo");
        check("  cd /tmp  ", &["cd"], "cd /tmp");
        check(">/tmp/empty", &[], ">/tmp/empty");
    }
}
