//! Program and arguments for the built-in task kinds (shell and Python scripts).
//!
//! Parameters are never spliced into script text: callers pass them as environment variables
//! (`ProcessTask::env`) and the script reads them, quoted, like `"$JOBWORKS_PARAM_X"`.

use std::path::PathBuf;

/// Which shell runs a shell script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShellKind {
    /// `/bin/sh -e -c <script>`: POSIX shell, stop at the first failing command.
    Sh,
    /// `bash -e -o pipefail -c <script>` (bash from `PATH`): also fail when any command of a
    /// pipeline fails.
    Bash,
}

/// What a Python task runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScriptOrFile {
    /// Inline source, run with `python3 -u -c <source>`.
    Script(String),
    /// A file, run with `python3 -u <path>` (a non-UTF-8 path is converted lossily).
    File(PathBuf),
}

/// `(program, args)` running `script` with the given shell.
///
/// With `errexit` the shell stops at the first failing command: `/bin/sh -e -c`, or
/// `bash -e -o pipefail -c`. Without it the script runs as cron runs a crontab command:
/// `/bin/sh -c` or `bash -c`, where only the last command's status counts.
pub fn shell_command(script: &str, shell: ShellKind, errexit: bool) -> (String, Vec<String>) {
    let (program, strict): (&str, &[&str]) = match shell {
        ShellKind::Sh => ("/bin/sh", &["-e"]),
        ShellKind::Bash => ("bash", &["-e", "-o", "pipefail"]),
    };
    let mut args: Vec<String> = Vec::with_capacity(strict.len() + 2);
    if errexit {
        args.extend(strict.iter().map(|&arg| arg.to_owned()));
    }
    args.push("-c".to_owned());
    args.push(script.to_owned());
    (program.to_owned(), args)
}

/// `(program, args)` running Python 3 unbuffered (`-u`, so output is logged live).
pub fn python_command(source: &ScriptOrFile) -> (String, Vec<String>) {
    let mut args = vec!["-u".to_owned()];
    match source {
        ScriptOrFile::Script(script) => {
            args.push("-c".to_owned());
            args.push(script.clone());
        }
        ScriptOrFile::File(path) => args.push(path.to_string_lossy().into_owned()),
    }
    ("python3".to_owned(), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            shell_command("echo hi", ShellKind::Sh, true),
            (
                "/bin/sh".into(),
                vec!["-e".into(), "-c".into(), "echo hi".into()]
            )
        );
        assert_eq!(
            shell_command("x", ShellKind::Bash, true).1,
            ["-e", "-o", "pipefail", "-c", "x"]
        );
        assert_eq!(
            shell_command("x", ShellKind::Sh, false),
            ("/bin/sh".into(), vec!["-c".into(), "x".into()])
        );
        assert_eq!(
            shell_command("x", ShellKind::Bash, false),
            ("bash".into(), vec!["-c".into(), "x".into()])
        );
        assert_eq!(
            python_command(&ScriptOrFile::Script("print(1)".into())),
            (
                "python3".into(),
                vec!["-u".into(), "-c".into(), "print(1)".into()]
            )
        );
        assert_eq!(
            python_command(&ScriptOrFile::File("/jobs/a.py".into())).1,
            ["-u", "/jobs/a.py"]
        );
    }
}
