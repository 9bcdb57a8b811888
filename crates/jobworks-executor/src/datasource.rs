//! Datasource URLs: which driver a URL needs, and a form safe to show in logs and errors.

/// The database driver a datasource URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DatasourceKind {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres://` and `postgresql://` URLs.
    Postgres,
    /// `mysql://` and `mariadb://` URLs.
    MySql,
}

impl DatasourceKind {
    /// The driver for `url`'s scheme (case-insensitive), or `None` for an unsupported scheme.
    pub(crate) fn from_url(url: &str) -> Option<Self> {
        let (scheme, _) = url.split_once(':')?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            _ => None,
        }
    }
}

/// `url` with the password of its user info and any `password=` query parameter (any case)
/// replaced by `***`, for logs and error messages. Parsed with the `url` crate (WHATWG
/// syntax); a URL it cannot parse is shown as its scheme and `***` only, since where its
/// password sits cannot be known.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return match url.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:***"),
            None => "***".to_owned(),
        };
    };
    if parsed.password().is_some() {
        // only URLs that cannot have a password refuse one, and this one has one
        let _ = parsed.set_password(Some("***"));
    }
    let has_password_param = parsed
        .query_pairs()
        .any(|(key, _)| key.eq_ignore_ascii_case("password"));
    if has_password_param {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            DatasourceKind::from_url("sqlite:/tmp/a.db"),
            Some(DatasourceKind::Sqlite)
        );
        assert_eq!(
            DatasourceKind::from_url("sqlite::memory:"),
            Some(DatasourceKind::Sqlite)
        );
        assert_eq!(
            DatasourceKind::from_url("postgres://h/db"),
            Some(DatasourceKind::Postgres)
        );
        assert_eq!(
            DatasourceKind::from_url("PostgreSQL://h/db"),
            Some(DatasourceKind::Postgres)
        );
        assert_eq!(
            DatasourceKind::from_url("mysql://h/db"),
            Some(DatasourceKind::MySql)
        );
        assert_eq!(
            DatasourceKind::from_url("mariadb://h/db"),
            Some(DatasourceKind::MySql)
        );
        assert_eq!(DatasourceKind::from_url("mssql://h/db"), None);
        assert_eq!(DatasourceKind::from_url("no-scheme"), None);
    }

    #[test]
    fn redaction() {
        let check = |url: &str, expected: &str| assert_eq!(redact_url(url), expected, "url {url}");
        check(
            "postgres://u:secret@h:5432/db",
            "postgres://u:***@h:5432/db",
        );
        check("mysql://u:p@ss@h/db", "mysql://u:***@h/db");
        check("postgres://u@h/db", "postgres://u@h/db");
        check(
            "postgres://h/db?user=u&password=x&sslmode=disable",
            "postgres://h/db?user=u&password=***&sslmode=disable",
        );
        check("sqlite:/tmp/a.db?mode=ro", "sqlite:/tmp/a.db?mode=ro");
        check("sqlite::memory:", "sqlite::memory:");
        check(
            "postgres://h/db?PASSWORD=x%26y&user=u",
            "postgres://h/db?PASSWORD=***&user=u",
        );
        check("postgres://u:pw@[::1:5432/db", "postgres:***");
    }
}
