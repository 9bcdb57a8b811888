//! SHA-256 fingerprints, written `sha256:<64 lowercase hex>`, the shape of kubeadm's
//! `--discovery-token-ca-cert-hash` (there of the CA's public key; here of the whole CA
//! certificate for the CA pin, and of the SubjectPublicKeyInfo for agent identities).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The prefix naming the hash in a fingerprint's text form.
const PREFIX: &str = "sha256:";

/// A SHA-256 digest shown as `sha256:<hex>`. Comparison is by value; for secrets use
/// [`crate::verify_secret`], which compares in constant time (fingerprints are public).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint([u8; 32]);

/// Why a fingerprint's text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// The text does not start with `sha256:`.
    #[error("fingerprint `{0}` must start with `sha256:`")]
    Prefix(String),
    /// The hex part is not 64 characters long.
    #[error("fingerprint `{text}` must have 64 hex digits after `sha256:`, it has {len}")]
    Length {
        /// The whole text.
        text: String,
        /// How many characters follow the prefix.
        len: usize,
    },
    /// A character of the hex part is not a hex digit.
    #[error(
        "fingerprint `{text}` has `{ch}` at position {pos} after `sha256:`; only 0-9 and a-f \
         are hex digits"
    )]
    Digit {
        /// The whole text.
        text: String,
        /// The offending character.
        ch: char,
        /// Its position (0-based) in the hex part.
        pos: usize,
    },
}

impl Fingerprint {
    /// SHA-256 of `bytes` (a certificate's DER, or a SubjectPublicKeyInfo's DER).
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(bytes).into())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without the prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses `sha256:<64 hex digits>`; upper-case digits are accepted (the form printed is
    /// lower-case). Errors: [`FingerprintError`] naming the wrong part.
    pub fn parse(text: &str) -> Result<Fingerprint, FingerprintError> {
        let Some(digits) = text.strip_prefix(PREFIX) else {
            return Err(FingerprintError::Prefix(text.to_string()));
        };
        if let Some((pos, ch)) = digits
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_hexdigit())
        {
            return Err(FingerprintError::Digit {
                text: text.to_string(),
                ch,
                pos,
            });
        }
        if digits.len() != 64 {
            return Err(FingerprintError::Length {
                text: text.to_string(),
                len: digits.len(),
            });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| FingerprintError::Length {
            text: text.to_string(),
            len: digits.len(),
        })?;
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fingerprint::parse(s)
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = FingerprintError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Fingerprint::parse(&s)
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_case() {
        let f = Fingerprint::of(b"abc");
        let text = f.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Fingerprint::parse(&text), Ok(f));
        let upper = format!("sha256:{}", f.hex().to_uppercase());
        assert_eq!(Fingerprint::parse(&upper), Ok(f));
        let json = serde_json_like(&f);
        assert_eq!(json, text);
    }

    fn serde_json_like(f: &Fingerprint) -> String {
        String::from(*f)
    }

    #[test]
    fn parse_errors_name_the_part() {
        let hex64 = "a".repeat(64);
        let table: &[(&str, &str)] = &[
            ("", "must start with `sha256:`"),
            ("SHA256:aa", "must start with `sha256:`"),
            ("sha1:aa", "must start with `sha256:`"),
            ("sha256:", "64 hex digits after `sha256:`, it has 0"),
            ("sha256:abc", "64 hex digits after `sha256:`, it has 3"),
            ("sha256:zz", "has `z` at position 0"),
        ];
        for (text, want) in table {
            let err = Fingerprint::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let long = format!("sha256:{hex64}0");
        assert!(matches!(
            Fingerprint::parse(&long),
            Err(FingerprintError::Length { len: 65, .. })
        ));
    }
}
