//! Enrollment tokens (`jwe_…`) and per-agent bearer credentials (`jwa_…`): random secrets of
//! which the server stores only an id and a SHA-256 hash, as kubeadm's bootstrap tokens
//! (`<id>.<secret>`) and GitLab's prefixed runner tokens do.
//!
//! # Format
//!
//! A secret is `<prefix><id>.<secret>`: the prefix `jwe_` (enrollment) or `jwa_` (agent),
//! an id of 16 hex digits (64 random bits: the row key, not secret), a dot, and the secret
//! of 64 hex digits (256 bits from the operating system's CSPRNG). Hex is printed lower-case
//! and read in either case (the value is the bytes, so case does not matter); the prefix
//! must be lower-case, so secret scanners can match it.
//!
//! The enrollment token the CLI prints carries the CA pin after an `@`:
//!
//! ```text
//! jwe_0123456789abcdef.<64 hex digits>@sha256:<64 hex digits of the CA certificate's SHA-256>
//! ```
//!
//! One string, so there is one thing to copy into `jobworks agent --token`; `@` never
//! occurs in the first part, so splitting at it is unambiguous, and every part is made of
//! shell-safe characters. The agent sends only the part before `@` to the server.
//!
//! SHA-256 rather than a slow password hash is right for 256-bit random secrets: there is
//! nothing to guess. Hashes are compared in constant time (`subtle`).

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Fingerprint, FingerprintError};

/// Hex digits of a secret's id.
const ID_HEX: usize = 16;
/// Hex digits of a secret's secret part.
const SECRET_HEX: usize = 64;

/// Which kind of secret, told by its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// An enrollment token: `jwe_`.
    Enrollment,
    /// A per-agent bearer credential for the TLS-terminating-proxy fallback: `jwa_`.
    Agent,
}

impl SecretKind {
    /// The text prefix: `jwe_` or `jwa_`.
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::Enrollment => "jwe_",
            SecretKind::Agent => "jwa_",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            SecretKind::Enrollment => "enrollment token",
            SecretKind::Agent => "agent credential",
        }
    }
}

/// Why a token's text was refused. Messages name the part that is wrong and never repeat
/// the secret part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The text does not start with the kind's prefix.
    #[error("{noun} must start with `{prefix}`{hint}")]
    Prefix {
        /// What was expected, e.g. "enrollment token".
        noun: &'static str,
        /// The prefix expected.
        prefix: &'static str,
        /// A hint when the prefix is there in another case or of the other kind.
        hint: &'static str,
    },
    /// No `.` between id and secret.
    #[error("{noun} must be `{prefix}<id>.<secret>`: there is no `.` after the id")]
    NoDot {
        /// What was expected.
        noun: &'static str,
        /// The prefix.
        prefix: &'static str,
    },
    /// The id or the secret part has the wrong length or a non-hex character.
    #[error("{noun}: the {part} must be {want} hex digits{detail}")]
    Part {
        /// What was expected.
        noun: &'static str,
        /// `id` or `secret`.
        part: &'static str,
        /// The number of hex digits required.
        want: usize,
        /// What was found instead (length, or a bad character's position).
        detail: String,
    },
    /// An enrollment token without `@sha256:<pin>`.
    #[error(
        "enrollment token has no CA pin: it must end with `@sha256:<64 hex digits>`, as \
         `jobworks agents token create` prints it"
    )]
    NoPin,
    /// The pin after `@` is malformed.
    #[error("enrollment token's CA pin: {0}")]
    Pin(FingerprintError),
}

/// A random secret with its id: an enrollment token without its pin, or an agent credential.
/// `Debug` shows the kind and id only; [`Secret::expose`] is the one way to the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    kind: SecretKind,
    id: String,
    secret: [u8; 32],
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}{}.<redacted>)", self.kind.prefix(), self.id)
    }
}

impl Secret {
    /// A new secret of `kind`: a 64-bit id and a 256-bit secret from the operating system's
    /// CSPRNG (`rand`'s thread RNG, seeded from it).
    pub fn generate(kind: SecretKind) -> Secret {
        let mut rng = rand::rng();
        let mut id = [0u8; ID_HEX / 2];
        rng.fill_bytes(&mut id);
        let mut secret = [0u8; SECRET_HEX / 2];
        rng.fill_bytes(&mut secret);
        Secret {
            kind,
            id: hex::encode(id),
            secret,
        }
    }

    /// Parses `<prefix><id>.<secret>` of `kind` (surrounding whitespace ignored). Errors:
    /// [`TokenError`] naming the wrong part.
    pub fn parse(kind: SecretKind, text: &str) -> Result<Secret, TokenError> {
        let text = text.trim();
        let noun = kind.noun();
        let prefix = kind.prefix();
        let Some(rest) = text.strip_prefix(prefix) else {
            let other = match kind {
                SecretKind::Enrollment => SecretKind::Agent,
                SecretKind::Agent => SecretKind::Enrollment,
            };
            let head = text.get(..prefix.len()).unwrap_or(text);
            let hint = if head.eq_ignore_ascii_case(prefix) {
                " (the prefix is lower-case)"
            } else if head == other.prefix() {
                match other {
                    SecretKind::Agent => " (this is an agent credential, not an enrollment token)",
                    SecretKind::Enrollment => {
                        " (this is an enrollment token, not an agent credential)"
                    }
                }
            } else {
                ""
            };
            return Err(TokenError::Prefix { noun, prefix, hint });
        };
        let Some((id, secret)) = rest.split_once('.') else {
            return Err(TokenError::NoDot { noun, prefix });
        };
        let id_bytes: [u8; ID_HEX / 2] = decode_part(noun, "id", id)?;
        let secret: [u8; SECRET_HEX / 2] = decode_part(noun, "secret", secret)?;
        Ok(Secret {
            kind,
            id: hex::encode(id_bytes),
            secret,
        })
    }

    /// The kind.
    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// The id: 16 lower-case hex digits, the key the server finds the stored hash by.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The full text `<prefix><id>.<secret>`, to show once to whoever receives it.
    pub fn expose(&self) -> String {
        format!(
            "{}{}.{}",
            self.kind.prefix(),
            self.id,
            hex::encode(self.secret)
        )
    }

    /// What the server stores: kind, id and SHA-256 of the secret, never the secret.
    pub fn stored(&self) -> StoredSecret {
        StoredSecret {
            kind: self.kind,
            id: self.id.clone(),
            secret_sha256: hash_secret(self),
        }
    }
}

/// What the server keeps of a [`Secret`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    /// Enrollment token or agent credential.
    pub kind: SecretKind,
    /// The id (16 lower-case hex digits).
    pub id: String,
    /// SHA-256 of the 32 secret bytes, 64 lower-case hex digits.
    pub secret_sha256: String,
}

/// SHA-256 of a secret's 32 bytes, as 64 lower-case hex digits (what [`StoredSecret`] holds).
pub fn hash_secret(secret: &Secret) -> String {
    hex::encode(Sha256::digest(secret.secret))
}

/// Whether `presented` is the secret `stored` was made from: same kind, same id, and equal
/// hashes compared in constant time. A malformed stored hash never matches.
pub fn verify_secret(stored: &StoredSecret, presented: &Secret) -> bool {
    if stored.kind != presented.kind || stored.id != presented.id {
        return false;
    }
    let mut want = [0u8; 32];
    if hex::decode_to_slice(&stored.secret_sha256, &mut want).is_err() {
        return false;
    }
    let got: [u8; 32] = Sha256::digest(presented.secret).into();
    bool::from(want.ct_eq(&got))
}

/// An enrollment token with the CA pin, as the CLI prints it and the agent reads it (see the
/// module documentation for the format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollmentToken {
    secret: Secret,
    pin: Fingerprint,
}

impl EnrollmentToken {
    /// A new enrollment token pinned to `pin` (the CA's [`crate::Ca::fingerprint`]).
    pub fn generate(pin: Fingerprint) -> EnrollmentToken {
        EnrollmentToken {
            secret: Secret::generate(SecretKind::Enrollment),
            pin,
        }
    }

    /// Parses `jwe_<id>.<secret>@sha256:<hex>` (surrounding whitespace ignored). Errors:
    /// [`TokenError`] naming the wrong part.
    pub fn parse(text: &str) -> Result<EnrollmentToken, TokenError> {
        let text = text.trim();
        let (secret, pin) = match text.split_once('@') {
            Some((secret, pin)) => (secret, Some(pin)),
            None => (text, None),
        };
        let secret = Secret::parse(SecretKind::Enrollment, secret)?;
        let pin = Fingerprint::parse(pin.ok_or(TokenError::NoPin)?).map_err(TokenError::Pin)?;
        Ok(EnrollmentToken { secret, pin })
    }

    /// The secret part (what the agent sends to the server).
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The CA pin.
    pub fn pin(&self) -> Fingerprint {
        self.pin
    }

    /// The full text `jwe_<id>.<secret>@sha256:<hex>`, to print once.
    pub fn expose(&self) -> String {
        format!("{}@{}", self.secret.expose(), self.pin)
    }
}

fn decode_part<const N: usize>(
    noun: &'static str,
    part: &'static str,
    text: &str,
) -> Result<[u8; N], TokenError> {
    let want = N * 2;
    let err = |detail: String| TokenError::Part {
        noun,
        part,
        want,
        detail,
    };
    if let Some((pos, ch)) = text.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        // the character is shown only for the id; the secret's content is never echoed
        return Err(err(if part == "id" {
            format!(", `{ch}` at position {pos} is not one")
        } else {
            format!(", position {pos} is not one")
        }));
    }
    if text.len() != want {
        return Err(err(format!(", found {}", text.len())));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|e| err(format!(" ({e})")))?;
    Ok(out)
}
