//! Splitting a SQL task's query into statements with a real SQL tokenizer (the `sqlparser`
//! crate's), so `;` inside strings, quoted identifiers, comments and PostgreSQL dollar-quoted
//! bodies never splits a statement.

use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// The SQL dialect a query is tokenized in: the datasource's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// SQLite (also the Jobworks store): `?`, `?N` placeholders.
    Sqlite,
    /// PostgreSQL: `$N` placeholders, `$tag$ … $tag$` bodies.
    Postgres,
    /// MySQL and MariaDB: `?` placeholders, `#` comments, backslash escapes.
    MySql,
}

impl SqlDialect {
    /// Every dialect, for checks made before the datasource's kind is known.
    pub const ALL: [SqlDialect; 3] = [SqlDialect::Postgres, SqlDialect::MySql, SqlDialect::Sqlite];

    fn tokenizer_dialect(self) -> &'static dyn Dialect {
        match self {
            SqlDialect::Sqlite => &SQLiteDialect {},
            SqlDialect::Postgres => &PostgreSqlDialect {},
            SqlDialect::MySql => &MySqlDialect {},
        }
    }
}

/// One statement of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    /// Its text: from its first token up to (not including) its `;`, trailing blanks removed.
    pub text: String,
    /// Byte offset of its first token in the query.
    pub offset: usize,
    /// 1-based line of its first token in the query.
    pub line: usize,
    /// 1-based column (characters) of its first token in the query.
    pub column: usize,
    /// How many `?` placeholders it has (positional).
    pub positional_params: usize,
    /// The highest `N` of its numbered placeholders (`$N`, `?N`), 0 when it has none.
    pub max_numbered_param: usize,
}

/// The statements of `query` in `dialect`: text between `;` tokens that holds anything but
/// blanks and comments, so a trailing `;` (or a trailing comment) adds none.
///
/// # Errors
/// The tokenizer's message (for example an unterminated string) with its line and column;
/// such a query is left for the database to refuse.
pub fn split_statements(query: &str, dialect: SqlDialect) -> Result<Vec<SqlStatement>, String> {
    let tokens = Tokenizer::new(dialect.tokenizer_dialect(), query)
        .tokenize_with_location()
        .map_err(|error| error.to_string())?;
    let lines = LineStarts::new(query);
    let mut statements = Vec::new();
    let mut current: Option<SqlStatement> = None;
    let close = |current: &mut Option<SqlStatement>, end: usize, out: &mut Vec<SqlStatement>| {
        if let Some(mut statement) = current.take() {
            statement.text = query[statement.offset..end].trim_end().to_owned();
            out.push(statement);
        }
    };
    for token in &tokens {
        let start = token.span.start;
        let offset = lines.offset(start.line as usize, start.column as usize);
        match &token.token {
            Token::SemiColon => close(&mut current, offset, &mut statements),
            Token::Whitespace(
                Whitespace::Space
                | Whitespace::Tab
                | Whitespace::Newline
                | Whitespace::SingleLineComment { .. }
                | Whitespace::MultiLineComment(_),
            )
            | Token::EOF => {}
            other => {
                let statement = current.get_or_insert_with(|| SqlStatement {
                    text: String::new(),
                    offset,
                    line: start.line as usize,
                    column: start.column as usize,
                    positional_params: 0,
                    max_numbered_param: 0,
                });
                if let Token::Placeholder(placeholder) = other {
                    let number = placeholder
                        .strip_prefix('?')
                        .or_else(|| placeholder.strip_prefix('$'))
                        .unwrap_or_default();
                    match number.parse::<usize>() {
                        Ok(n) => statement.max_numbered_param = statement.max_numbered_param.max(n),
                        Err(_) if placeholder == "?" => statement.positional_params += 1,
                        Err(_) => {}
                    }
                }
            }
        }
    }
    close(&mut current, query.len(), &mut statements);
    Ok(statements)
}

/// The second statement of `query` when it holds more than one in every dialect that can
/// tokenize it (what `validate` and `apply` refuse without `multi_statement = true`); `None`
/// for one statement, or when no dialect tokenizes it (the database will say why).
pub fn second_statement(query: &str) -> Option<SqlStatement> {
    let mut fewest: Option<Vec<SqlStatement>> = None;
    for dialect in SqlDialect::ALL {
        if let Ok(statements) = split_statements(query, dialect)
            && fewest
                .as_ref()
                .is_none_or(|best| statements.len() < best.len())
        {
            fewest = Some(statements);
        }
    }
    fewest
        .filter(|statements| statements.len() > 1)?
        .into_iter()
        .nth(1)
}

/// Byte offsets of the starts of lines, to turn the tokenizer's line and column (characters)
/// into a byte offset.
struct LineStarts<'q> {
    query: &'q str,
    starts: Vec<usize>,
}

impl<'q> LineStarts<'q> {
    fn new(query: &'q str) -> Self {
        let starts = std::iter::once(0)
            .chain(query.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self { query, starts }
    }

    fn offset(&self, line: usize, column: usize) -> usize {
        let Some(&start) = line.checked_sub(1).and_then(|index| self.starts.get(index)) else {
            return self.query.len();
        };
        self.query[start..]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(self.query.len(), |(at, _)| start + at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements' texts of `query` in `dialect`.
    fn texts(query: &str, dialect: SqlDialect) -> Vec<String> {
        split_statements(query, dialect)
            .expect("tokenizes")
            .into_iter()
            .map(|statement| statement.text)
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_strings_identifiers_and_comments() {
        use SqlDialect::*;
        let cases: &[(&str, SqlDialect, &[&str])] = &[
            ("select 1", Sqlite, &["select 1"]),
            ("select 1;", Sqlite, &["select 1"]),
            ("select 1;  \n -- done\n", Postgres, &["select 1"]),
            ("select 1; /* ; */ ;", MySql, &["select 1"]),
            (
                "SELECT count(*) AS n FROM t; DELETE FROM t",
                Sqlite,
                &["SELECT count(*) AS n FROM t", "DELETE FROM t"],
            ),
            (
                "select ';' as a; select 2",
                Sqlite,
                &["select ';' as a", "select 2"],
            ),
            ("select 'it''s;' ", Postgres, &["select 'it''s;'"]),
            (
                "select \"a;b\" from t",
                Postgres,
                &["select \"a;b\" from t"],
            ),
            ("select `a;b` from t", MySql, &["select `a;b` from t"]),
            ("select 'a\\';b'", MySql, &["select 'a\\';b'"]),
            ("select 1 -- ; drop\n", Sqlite, &["select 1 -- ; drop"]),
            ("select 1 # ; drop\n", MySql, &["select 1 # ; drop"]),
            (
                "create function f() returns int as $$ begin return 1; end $$ language plpgsql; select f()",
                Postgres,
                &[
                    "create function f() returns int as $$ begin return 1; end $$ language plpgsql",
                    "select f()",
                ],
            ),
            (
                "do $body$ begin perform 1; end $body$",
                Postgres,
                &["do $body$ begin perform 1; end $body$"],
            ),
            (";;", Sqlite, &[]),
        ];
        for (query, dialect, expected) in cases {
            assert_eq!(
                &texts(query, *dialect),
                expected,
                "{query:?} in {dialect:?}"
            );
        }
    }

    #[test]
    fn statements_know_their_position_and_placeholders() {
        let query = "-- first\nselect ?, ?;\n  ünï; select $2, $1";
        let statements = split_statements(query, SqlDialect::Postgres).expect("tokenizes");
        let found: Vec<_> = statements
            .iter()
            .map(|s| (s.line, s.column, query[s.offset..].chars().next()))
            .collect();
        assert_eq!(
            found,
            [(2, 1, Some('s')), (3, 3, Some('ü')), (3, 8, Some('s'))]
        );
        let sqlite = split_statements("select ?, ?; select ?2", SqlDialect::Sqlite).expect("ok");
        let params: Vec<_> = sqlite
            .iter()
            .map(|s| (s.positional_params, s.max_numbered_param))
            .collect();
        assert_eq!(params, [(2, 0), (0, 2)]);
        let pg: Vec<_> = statements.iter().map(|s| s.max_numbered_param).collect();
        assert_eq!(pg, [0, 0, 2]);
    }

    #[test]
    fn second_statement_needs_every_dialect_to_agree() {
        let second = |query: &str| second_statement(query).map(|s| (s.line, s.column, s.text));
        assert_eq!(
            second("SELECT count(*) AS n FROM t; DELETE FROM t"),
            Some((1, 30, "DELETE FROM t".to_owned()))
        );
        assert_eq!(second("select 1;\n"), None);
        // `#` starts a comment in MySQL: one statement there, so not refused before the
        // datasource's kind is known (the executor checks again in its own dialect)
        assert_eq!(second("select 1 # ; drop table t\n"), None);
        assert_eq!(second("select 'unterminated; drop"), None);
        assert_eq!(
            second("select $$;$$;\nselect 2"),
            Some((2, 1, "select 2".to_owned()))
        );
    }
}
