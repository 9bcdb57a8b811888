//! `jobworks server --database URL`: which store the server opens.

use std::path::{Path, PathBuf};

/// The database a server opens, from `--database` (or `--db`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the embedded store): one server, or several on one host.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`): several servers on any hosts.
    Postgres(String),
}

/// Parses a `--database` URL: `sqlite:PATH` (also `sqlite://PATH`) or `postgres://…`
/// (also `postgresql://…`). Errors say what was wrong and what is accepted.
pub fn parse_database_url(url: &str) -> Result<Database, String> {
    const ACCEPTED: &str = "use sqlite:PATH or postgres://…";
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(format!(
            "`{url}` is not a database URL (no scheme); {ACCEPTED}"
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(format!("database URL `{url}` names no file; {ACCEPTED}"));
            }
            if path.contains('?') {
                return Err(format!(
                    "database URL `{url}`: options after `?` are not supported (see --durability); {ACCEPTED}"
                ));
            }
            Ok(Database::Sqlite(PathBuf::from(path)))
        }
        "postgres" | "postgresql" => {
            if !rest.starts_with("//") {
                return Err(format!(
                    "database URL `{url}`: expected {scheme}://[user[:password]@]host[:port]/database"
                ));
            }
            Ok(Database::Postgres(url.to_string()))
        }
        other => Err(format!(
            "unsupported database URL scheme `{other}`; {ACCEPTED}"
        )),
    }
}

impl Database {
    /// The database `--database` names, else the SQLite file `--db` names.
    pub fn choose(database: Option<&str>, db: &Path) -> Result<Database, String> {
        match database {
            Some(url) => parse_database_url(url),
            None => Ok(Database::Sqlite(db.to_path_buf())),
        }
    }

    /// How the database is shown to people: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => redact_password(url),
        }
    }
}

/// `url` with the password of its `user:password@` part replaced by `***`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let sqlite = |p: &str| Ok(Database::Sqlite(PathBuf::from(p)));
        let pg = |u: &str| Ok(Database::Postgres(u.to_string()));
        for (url, want) in [
            ("sqlite:jobworks.db", sqlite("jobworks.db")),
            (
                "sqlite:/var/lib/jobworks/jobworks.db",
                sqlite("/var/lib/jobworks/jobworks.db"),
            ),
            ("sqlite://data/j.db", sqlite("data/j.db")),
            ("SQLite:j.db", sqlite("j.db")),
            (
                "postgres://jobworks@db.internal:5432/jobworks",
                pg("postgres://jobworks@db.internal:5432/jobworks"),
            ),
            ("postgresql://u:p@h/d", pg("postgresql://u:p@h/d")),
        ] {
            assert_eq!(parse_database_url(url), want, "{url}");
        }
    }

    #[test]
    fn bad_database_urls_say_what_is_wrong() {
        for (url, said) in [
            (
                "mysql://root@127.0.0.1:3306/jobs",
                "unsupported database URL scheme `mysql`; use sqlite:PATH or postgres://…",
            ),
            ("jobworks.db", "is not a database URL (no scheme)"),
            ("sqlite:", "names no file"),
            ("sqlite:j.db?mode=ro", "options after `?` are not supported"),
            ("postgres:db.internal", "expected postgres://"),
        ] {
            let err = parse_database_url(url).expect_err(url);
            assert!(err.contains(said), "{url}: {err}");
        }
    }

    #[test]
    fn the_database_flag_wins_over_db() {
        let db = Path::new("old.db");
        assert_eq!(
            Database::choose(None, db),
            Ok(Database::Sqlite(PathBuf::from("old.db")))
        );
        assert_eq!(
            Database::choose(Some("sqlite:new.db"), db),
            Ok(Database::Sqlite(PathBuf::from("new.db")))
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        for (url, shown) in [
            ("postgres://u:secret@h:5432/d", "postgres://u:***@h:5432/d"),
            ("postgres://u@h/d", "postgres://u@h/d"),
            ("postgres://h/d", "postgres://h/d"),
            ("postgres://u:p@ss@h/d", "postgres://u:***@h/d"),
        ] {
            assert_eq!(redact_password(url), shown, "{url}");
        }
    }
}
