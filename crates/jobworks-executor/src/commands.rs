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
pub fn shell_command(script: &str, shell: ShellKind) -> (String, Vec<String>) {
    match shell {
        ShellKind::Sh => (
            "/bin/sh".to_owned(),
            vec!["-e".to_owned(), "-c".to_owned(), script.to_owned()],
        ),
        ShellKind::Bash => (
            "bash".to_owned(),
            vec![
                "-e".to_owned(),
                "-o".to_owned(),
                "pipefail".to_owned(),
                "-c".to_owned(),
                script.to_owned(),
            ],
        ),
    }
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
            shell_command("echo hi", ShellKind::Sh),
            (
                "/bin/sh".into(),
                vec!["-e".into(), "-c".into(), "echo hi".into()]
            )
        );
        assert_eq!(
            shell_command("x", ShellKind::Bash).1,
            ["-e", "-o", "pipefail", "-c", "x"]
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
