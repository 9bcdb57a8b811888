//! Which statements a SQL task runs, with which bound values: one statement, or with
//! `multi_statement` every statement of the query, checked again here in the datasource's own
//! dialect (defence in depth behind `validate` and `apply`).

use jobworks_domain::sql::{SqlDialect, SqlStatement, split_statements};

use crate::datasource::DatasourceKind;
use crate::sql::SqlValue;

/// One statement to run and the values bound to its placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

/// The statements of `query`: the query unchanged when it is one statement (or cannot be
/// tokenized, so the database reports why); with `multi_statement`, each statement with its
/// values: `?` placeholders take the bind values in order across the statements, and a
/// statement with numbered placeholders (`$N`, `?N`) gets values 1 to its highest `N`.
///
/// # Errors
/// A message naming the second statement's line and column when the query holds several
/// statements and `multi_statement` is false, or when the placeholders need more values than
/// are bound.
pub(crate) fn plan(
    query: &str,
    params: &[SqlValue],
    multi_statement: bool,
    kind: DatasourceKind,
) -> Result<Vec<Planned>, String> {
    let dialect = match kind {
        DatasourceKind::Sqlite => SqlDialect::Sqlite,
        DatasourceKind::Postgres => SqlDialect::Postgres,
        DatasourceKind::MySql => SqlDialect::MySql,
    };
    let statements = match split_statements(query, dialect) {
        Ok(statements) if statements.len() > 1 => statements,
        _ => {
            return Ok(vec![Planned {
                sql: query.to_owned(),
                params: params.to_vec(),
            }]);
        }
    };
    if !multi_statement {
        let second = &statements[1];
        return Err(format!(
            "the query holds {} statements (the second starts at line {}, column {} of the \
             query); a SQL task runs one statement unless multi_statement = true",
            statements.len(),
            second.line,
            second.column
        ));
    }
    let mut next_positional = 0;
    statements
        .iter()
        .map(|statement| {
            let values = values_for(statement, params, &mut next_positional)?;
            Ok(Planned {
                sql: statement.text.clone(),
                params: values,
            })
        })
        .collect()
}

fn values_for(
    statement: &SqlStatement,
    params: &[SqlValue],
    next_positional: &mut usize,
) -> Result<Vec<SqlValue>, String> {
    let range = if statement.max_numbered_param > 0 {
        0..statement.max_numbered_param
    } else {
        *next_positional..*next_positional + statement.positional_params
    };
    if statement.max_numbered_param == 0 {
        *next_positional = range.end;
    }
    params.get(range.clone()).map(<[_]>::to_vec).ok_or_else(|| {
        format!(
            "the statement at line {}, column {} of the query needs bind values {} to {}, but {} \
             are bound",
            statement.line,
            statement.column,
            range.start + 1,
            range.end,
            params.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i64) -> SqlValue {
        SqlValue::Int(i)
    }

    #[test]
    fn one_statement_runs_as_written() {
        for query in ["select ?", "select ?;", "select 1; -- done", "select 'open"] {
            let planned = plan(query, &[int(1)], false, DatasourceKind::Sqlite).expect("one");
            assert_eq!(
                planned,
                [Planned {
                    sql: query.into(),
                    params: vec![int(1)]
                }]
            );
        }
    }

    #[test]
    fn several_statements_are_refused_without_the_opt_in() {
        let refused = plan(
            "SELECT count(*) AS n FROM t;\n  DELETE FROM t",
            &[],
            false,
            DatasourceKind::Postgres,
        );
        assert_eq!(
            refused,
            Err(
                "the query holds 2 statements (the second starts at line 2, column 3 of the \
                 query); a SQL task runs one statement unless multi_statement = true"
                    .to_owned()
            )
        );
        // the executor checks in the datasource's own dialect
        assert!(plan("select 1 # ; drop t", &[], false, DatasourceKind::MySql).is_ok());
        assert!(plan("select 1 # ; drop t", &[], false, DatasourceKind::Sqlite).is_err());
    }

    #[test]
    fn bind_values_are_shared_out_by_placeholder() {
        let params = [int(1), int(2), int(3)];
        let planned = plan(
            "insert into t values (?, ?); update t set a = ?; select 1",
            &params,
            true,
            DatasourceKind::MySql,
        )
        .expect("planned");
        let shared: Vec<_> = planned.iter().map(|p| p.params.clone()).collect();
        assert_eq!(shared, [vec![int(1), int(2)], vec![int(3)], vec![]]);
        let numbered = plan(
            "select $2; select $1",
            &params,
            true,
            DatasourceKind::Postgres,
        )
        .expect("planned");
        let shared: Vec<_> = numbered.iter().map(|p| p.params.clone()).collect();
        assert_eq!(shared, [vec![int(1), int(2)], vec![int(1)]]);
        assert!(
            plan(
                "select ?; select ?",
                &[int(1)],
                true,
                DatasourceKind::Sqlite
            )
            .expect_err("too few")
            .contains("needs bind values 2 to 2, but 1 are bound")
        );
    }
}
