//! `jobworks validate` and `jobworks apply` accept and refuse exactly the same files, with
//! the same located diagnostics: one shared check (the domain's `check_files`), run locally
//! by one and on the server by the other.

mod common;

use common::{TestServer, bin, cli};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Writes `files` (relative name, text) under `dir` and returns their paths.
fn write(dir: &Path, files: &[(&str, &str)]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write test file");
            path
        })
        .collect()
}

fn with_files(mut command: Command, paths: &[PathBuf]) -> Output {
    for path in paths {
        command.arg("-f").arg(path);
    }
    command.output().expect("run jobworks")
}

/// The diagnostic lines (`file:line:col: ...` and their hints) of an output, with the
/// directory prefix removed.
fn diagnostics(output: &Output, dir: &Path) -> Vec<String> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let prefix = format!("{}/", dir.display());
    let mut lines = Vec::new();
    let mut in_diagnostic = false;
    for line in text.lines() {
        let line = line.replace(&prefix, "");
        let located = line
            .split(':')
            .nth(1)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && line.contains(".toml:");
        if located || (in_diagnostic && line.starts_with("  hint: ")) {
            in_diagnostic = true;
            lines.push(line);
        } else {
            in_diagnostic = false;
        }
    }
    lines
}

/// Runs `validate` and `apply --dry-run` on the same files and checks they agree: both
/// succeed, or both fail with exactly `expected` (diagnostic lines).
#[track_caller]
fn check_both(server: &TestServer, dir: &Path, files: &[(&str, &str)], expected: &[&str]) {
    let paths = write(dir, files);
    let mut validate = Command::new(bin());
    validate.arg("validate");
    let validated = with_files(validate, &paths);
    let mut apply = cli(server);
    apply.args(["apply", "--dry-run"]);
    let applied = with_files(apply, &paths);
    let show = |output: &Output| {
        format!(
            "status {:?}\n{}{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    assert_eq!(
        validated.status.success(),
        expected.is_empty(),
        "validate:\n{}",
        show(&validated)
    );
    assert_eq!(
        applied.status.success(),
        expected.is_empty(),
        "apply:\n{}",
        show(&applied)
    );
    assert_eq!(
        diagnostics(&validated, dir),
        expected,
        "validate:\n{}",
        show(&validated)
    );
    assert_eq!(
        diagnostics(&applied, dir),
        expected,
        "apply:\n{}",
        show(&applied)
    );
}

const JOB: &str = "[[job]]\nname = \"nightly\"\nschedule = \"0 3 * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n";

#[test]
fn validate_and_apply_agree_on_every_file_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path(), &[]);
    let files = dir.path().join("files");
    std::fs::create_dir(&files).expect("files dir");
    let files = files.as_path();

    // point 11: a schedule that never fires
    check_both(
        &server,
        files,
        &[(
            "never.toml",
            "[[job]]\nname = \"leap\"\nschedule = \"0 0 31 2 *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )],
        &[
            "never.toml:3:12: job[1].schedule: schedule `0 0 31 2 *` never fires: day 31 never occurs in February",
            "  hint: pick days that exist in those months; with the day of week restricted too (not `*`), a day matches when either field does",
        ],
    );
    // ... but Mondays in February do (the day fields are OR-ed)
    check_both(
        &server,
        files,
        &[(
            "never.toml",
            "[[job]]\nname = \"leap\"\nschedule = \"0 0 31 2 1\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n",
        )],
        &[],
    );

    // point 20: a call cycle between workflows of two files, located at the call
    let one = "[[workflow]]\nname = \"one\"\n[[workflow.task]]\nid = \"t\"\nworkflow = \"two\"\n";
    let two = "[[workflow]]\nname = \"two\"\n[[workflow.task]]\nid = \"t\"\nworkflow = \"one\"\n";
    check_both(
        &server,
        files,
        &[("one.toml", one), ("two.toml", two)],
        &[
            "one.toml:5:12: workflow[1].task[1].workflow: workflow call cycle: one -> two -> one",
            "  hint: a workflow must not call itself, directly or through other workflows",
        ],
    );

    // every error at once: a duplicate id, an unknown dependency and a dependency cycle
    let broken = "[[workflow]]\nname = \"w\"\n[[workflow.task]]\nid = \"a\"\ndepends_on = [\"b\", \"nope\"]\ntype = \"shell\"\nscript = \"true\"\n[[workflow.task]]\nid = \"b\"\ndepends_on = [\"a\"]\ntype = \"shell\"\nscript = \"true\"\n[[workflow.task]]\nid = \"b\"\ntype = \"shell\"\nscript = \"true\"\n";
    check_both(
        &server,
        files,
        &[("broken.toml", broken)],
        &[
            "broken.toml:5:15: workflow[1].task[1].depends_on[1]: dependency cycle: a -> b -> a",
            "  hint: a workflow must be acyclic: remove one of these dependencies",
            "broken.toml:5:20: workflow[1].task[1].depends_on[2]: unknown task `nope`",
            "  hint: tasks: `a`, `b`, `b`",
            "broken.toml:14:6: workflow[1].task[3].id: duplicate task id `b`, first used on line 9",
            "  hint: task ids must be unique within a workflow",
        ],
    );

    // a name shared by a job and a workflow in different files
    let flow =
        "[[workflow]]\nname = \"nightly\"\n[[workflow.task]]\nid = \"t\"\njob = \"nightly\"\n";
    check_both(
        &server,
        files,
        &[("job.toml", JOB), ("flow.toml", flow)],
        &[
            "flow.toml:2:8: workflow[1].name: `nightly` is already defined as a job at job.toml:2:8",
            "  hint: jobs and workflows share one namespace: names must be unique across all files; rename one",
        ],
    );

    // valid workflows are just valid: no "cannot run yet"
    let caller =
        "[[workflow]]\nname = \"caller\"\n[[workflow.task]]\nid = \"t\"\njob = \"nightly\"\n";
    check_both(
        &server,
        files,
        &[("job.toml", JOB), ("caller.toml", caller)],
        &[],
    );
    let paths = write(files, &[("job.toml", JOB), ("caller.toml", caller)]);
    let mut validate = Command::new(bin());
    validate.arg("validate");
    let out = with_files(validate, &paths);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "1 job and 1 workflow valid in 2 files",
        "{text}"
    );
}
