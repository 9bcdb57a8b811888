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

/// `url` with the password of its user info and any `password=` query parameter replaced by
/// `***`, for logs and error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = url[authority_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |offset| authority_start + offset);
        let authority = &url[authority_start..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            redacted = format!(
                "{}***{}",
                &url[..authority_start + colon + 1],
                &url[authority_start + at..]
            );
        }
    }
    if let Some(query_start) = redacted.find('?') {
        let (base, query) = redacted.split_at(query_start + 1);
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        redacted = format!("{base}{query}");
    }
    redacted
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
    }
}
