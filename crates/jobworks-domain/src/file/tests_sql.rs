//! SQL task files: one statement unless `multi_statement = true` (issue 7, point 7); the
//! refusal points at the second statement in the file.

use super::*;
use crate::spec::TaskSpec;

fn context() -> FileContext {
    FileContext {
        known_datasources: Some(vec!["warehouse".into()]),
        base_dir: None,
    }
}

/// The rendered diagnostics of `input` (without its leading newline), or `ok`.
fn diagnostics(input: &str) -> String {
    let input = input.strip_prefix('\n').unwrap_or(input);
    match parse_file("jobs/test.toml", input, &context()) {
        Ok(_) => "ok".to_owned(),
        Err(diagnostics) => diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn job(task: &str) -> String {
    format!(
        "[[job]]\nname = \"q\"\n[job.task]\ntype = \"sql\"\ndatasource = \"warehouse\"\n{task}\n"
    )
}

const HINT: &str = "  hint: a SQL task runs one statement; split it into tasks, or set \
                    multi_statement = true to run them all in one transaction";

#[test]
fn a_second_statement_is_refused_where_it_starts() {
    let cases: &[(&str, &str)] = &[
        (
            r#"query = "SELECT count(*) AS n FROM t; DELETE FROM t""#,
            "jobs/test.toml:6:39: job[1].task.query: `query` holds more than one statement: a \
             second one starts here (`DELETE FROM t`)",
        ),
        // escapes before the second statement move it in the file, not in the value
        (
            r#"query = "SELECT '\"a\"' AS q; DELETE FROM t""#,
            "jobs/test.toml:6:31: job[1].task.query: `query` holds more than one statement: a \
             second one starts here (`DELETE FROM t`)",
        ),
        (
            "query = '''\nSELECT 1;\n  -- then\n  DELETE FROM t\n'''",
            "jobs/test.toml:9:3: job[1].task.query: `query` holds more than one statement: a \
             second one starts here (`DELETE FROM t`)",
        ),
    ];
    for (task, expected) in cases {
        assert_eq!(
            diagnostics(&job(task)),
            format!("{expected}\n{HINT}"),
            "{task}"
        );
    }
}

#[test]
fn one_statement_or_the_opt_in_is_accepted() {
    for task in [
        r#"query = "SELECT 1;""#,
        r#"query = "SELECT ';' AS semi -- ; DELETE""#,
        r#"query = "SELECT \"a;b\" FROM t; -- trailing comment""#,
        "query = '''\nCREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql'''",
        "query = \"SELECT 1; DELETE FROM t\"\nmulti_statement = true",
    ] {
        assert_eq!(diagnostics(&job(task)), "ok", "{task}");
    }
    let parsed = parse_file(
        "jobs/test.toml",
        &job("query = \"SELECT 1; SELECT 2\"\nmulti_statement = true"),
        &context(),
    )
    .expect("valid");
    assert!(matches!(
        &parsed.jobs[0].task,
        TaskSpec::Sql {
            multi_statement: true,
            ..
        }
    ));
    assert_eq!(
        diagnostics(&job("query = \"SELECT 1\"\nmulti_statement = \"yes\"")),
        "jobs/test.toml:7:19: job[1].task.multi_statement: expected true or false, found string \"yes\""
    );
}

#[test]
fn workflow_sql_tasks_are_checked_too() {
    let file = r#"
[[workflow]]
name = "w"
[[workflow.task]]
id = "q"
type = "sql"
datasource = "warehouse"
query = "SELECT 1; DELETE FROM t"
"#;
    assert_eq!(
        diagnostics(file),
        format!(
            "jobs/test.toml:7:20: workflow[1].task[1].query: `query` holds more than one \
             statement: a second one starts here (`DELETE FROM t`)\n{HINT}"
        )
    );
}
