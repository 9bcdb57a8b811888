//! The one error type of the certificate side of this crate (tokens have [`crate::TokenError`]).

use std::path::PathBuf;

/// What went wrong creating, loading, issuing or checking certificates and keys. Every variant
/// names the file, the name or the part of the input that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading, writing or creating a file or directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `writing`, `creating directory`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A private key file is readable or writable by group or others.
    #[error(
        "private key {path} has mode {mode:04o}, readable by others; run `chmod 600 {path}` \
         (Jobworks writes its keys with mode 0600)",
        path = path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A PEM or DER input could not be parsed as what it should be.
    #[error("{what}: {detail}")]
    Parse {
        /// What the input was meant to be, and where it came from.
        what: String,
        /// Why it was refused.
        detail: String,
    },
    /// rcgen could not build, sign or serialize something.
    #[error("{what}: {source}")]
    Rcgen {
        /// What was being made.
        what: String,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// A certificate signing request was refused.
    #[error("certificate signing request refused: {0}")]
    Csr(String),
    /// An agent name does not have the required syntax.
    #[error("{0}")]
    Name(String),
    /// A given CA certificate and key do not form a usable CA.
    #[error("CA {0}")]
    Ca(String),
    /// A time is outside what certificates can carry, or a validity period is empty.
    #[error("{0}")]
    Time(String),
    /// rustls refused a configuration (a key that does not match, a bad root).
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl PkiError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PkiError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        PkiError::Parse {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn rcgen(what: impl Into<String>, source: rcgen::Error) -> Self {
        PkiError::Rcgen {
            what: what.into(),
            source,
        }
    }
}
