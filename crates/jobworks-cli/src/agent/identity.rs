//! The agent's identity, kept in its data directory after enrollment: `identity.json` (mode
//! 0600, in a directory the agent makes 0700) holding the server URL, the agent's name, its
//! labels, its bearer credential `jwa_…` and the server's CA certificate pinned at first
//! contact over `https://`. With it the agent restarts as itself without
//! enrolling again; without it, it needs an enrollment token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// File name of the identity in the data directory.
pub const IDENTITY_FILE: &str = "identity.json";

/// What the agent keeps of its enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The server it enrolled with (`http://host:port`).
    pub server: String,
    /// Its name.
    pub name: String,
    /// Its labels, as the server gave them at enrollment (the server's view wins later).
    pub labels: BTreeMap<String, String>,
    /// Its bearer credential `jwa_<id>.<secret>`: a secret.
    pub credential: String,
    /// When it enrolled (the agent's clock).
    pub enrolled_at: DateTime<Utc>,
    /// The server's CA certificate (PEM) the agent pinned at its first contact over
    /// `https://` (the one whose SHA-256 equals the token's pin); from then on the only CA
    /// it trusts. `None` after enrolling over plain `http://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca: Option<String>,
}

/// Reads `<dir>/identity.json`; `None` if it does not exist. Errors: unreadable, readable by
/// others (mode & 077 ≠ 0), or not an identity — each with the fix.
pub fn load(dir: &Path) -> anyhow::Result<Option<Identity>> {
    let path = dir.join(IDENTITY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = jobworks_pki::read_private(&path).map_err(|e| {
        anyhow::anyhow!(
            "{e}\n  hint: the identity holds the agent's credential: `chmod 600 {}`",
            path.display()
        )
    })?;
    let identity = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not an agent identity ({e})\n  hint: remove it and enroll again with a new \
             enrollment token (--token)",
            path.display()
        )
    })?;
    Ok(Some(identity))
}

/// Writes `<dir>/identity.json` with mode 0600 (atomically: a temporary file renamed), the
/// directory made 0700 if it is new. Errors: the file cannot be written.
pub fn save(dir: &Path, identity: &Identity) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(identity)?;
    jobworks_pki::write_private(&dir.join(IDENTITY_FILE), text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot store the agent's identity: {e}"))
}

/// How the agent starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// As the stored identity; `ignored_token` when an enrollment token was given anyway.
    Reuse {
        /// The stored identity.
        identity: Identity,
        /// An enrollment token was given and is not needed.
        ignored_token: bool,
    },
    /// Enroll with this token text.
    Enroll(String),
}

/// Decides how to start from the stored identity (if any), the enrollment token given (if
/// any) and `--name`. Errors: nothing stored and no token (how to get one), or `--name`
/// differing from the stored name (one data directory is one agent).
pub fn choose(
    stored: Option<Identity>,
    token: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<Start> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    match (stored, token) {
        (Some(identity), token) => {
            if let Some(name) = name
                && name != identity.name
            {
                anyhow::bail!(
                    "this data directory holds agent `{}`'s identity, not `{name}`'s: drop \
                     --name, or give the new agent its own --data-dir",
                    identity.name
                );
            }
            Ok(Start::Reuse {
                identity,
                ignored_token: token.is_some(),
            })
        }
        (None, Some(token)) => Ok(Start::Enroll(token.to_owned())),
        (None, None) => anyhow::bail!(
            "this agent has not enrolled yet: pass --token with an enrollment token (an admin \
             makes one with `jobworks agents token create`)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn identity() -> Identity {
        Identity {
            server: "http://127.0.0.1:8080".into(),
            name: "edge-1".into(),
            labels: BTreeMap::from([("site".into(), "bj".into())]),
            credential: "jwa_0123456789abcdef.00".into(),
            enrolled_at: DateTime::<Utc>::UNIX_EPOCH,
            server_ca: None,
        }
    }

    #[test]
    fn start_reuses_a_stored_identity_and_enrolls_otherwise() {
        let stored = Some(identity());
        for (stored, token, name, want) in [
            (
                stored.clone(),
                None,
                None,
                Ok(Start::Reuse {
                    identity: identity(),
                    ignored_token: false,
                }),
            ),
            (
                stored.clone(),
                Some("jwe_x"),
                Some("edge-1"),
                Ok(Start::Reuse {
                    identity: identity(),
                    ignored_token: true,
                }),
            ),
            (
                stored.clone(),
                Some("  "),
                None,
                Ok(Start::Reuse {
                    identity: identity(),
                    ignored_token: false,
                }),
            ),
            (
                None,
                Some(" jwe_x "),
                Some("edge-2"),
                Ok(Start::Enroll("jwe_x".into())),
            ),
            (
                stored,
                None,
                Some("edge-2"),
                Err("holds agent `edge-1`'s identity, not `edge-2`'s"),
            ),
            (
                None,
                None,
                None,
                Err("pass --token with an enrollment token"),
            ),
            (None, Some(""), None, Err("jobworks agents token create")),
        ] {
            match (choose(stored, token, name), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{e}"),
                (got, want) => panic!("{token:?} {name:?}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn the_identity_is_stored_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("nothing stored"), None);
        save(dir.path(), &identity()).expect("save");
        let path = dir.path().join(IDENTITY_FILE);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(dir.path()).expect("load"), Some(identity()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = load(dir.path())
            .expect_err("readable by others")
            .to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::write(&path, "{}").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let e = load(dir.path()).expect_err("not an identity").to_string();
        assert!(e.contains("enroll again"), "{e}");
    }
}
