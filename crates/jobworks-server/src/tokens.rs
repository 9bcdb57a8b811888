//! API tokens: opaque random secrets, stored only as SHA-256 hashes.
//!
//! A token is `jw_` followed by 43 URL-safe characters (256 random bits). SHA-256 (not a slow
//! password hash) is right for high-entropy random tokens: there is nothing to brute-force.
//!
//! Tokens have names (what approval `approvers` lists), an owner, an optional expiry and can be
//! revoked; only admin tokens manage tokens. The decisions are plain functions here
//! ([`check_token`], [`touch_due`], [`check_token_name`]); the store keeps the rows.

use chrono::{DateTime, Duration, Utc};
use jobworks_store::{NewToken, Store, StoreError, TokenRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every Jobworks token, so secret scanners can recognise them.
pub const TOKEN_PREFIX: &str = "jw_";

/// A new random token (returned once; store only [`hash_token`] of it).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::from(TOKEN_PREFIX);
    // 32 bytes → 256 bits → 43 base64url characters
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

/// Lowercase hex SHA-256 of a token: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Name of the token made at first start.
pub const FIRST_ADMIN: &str = "admin";

/// How stale `last_used_at` may get before a request records a new one: at most one write
/// per token a minute, whatever the request rate.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Whether `record` may authenticate at `now`. Errors: why not (revoked, expired), for the
/// 401 answer.
pub fn check_token(record: &TokenRecord, now: DateTime<Utc>) -> Result<(), String> {
    if let Some(at) = record.revoked_at {
        return Err(format!(
            "API token `{}` was revoked at {}",
            record.name,
            at.to_rfc3339()
        ));
    }
    match record.expires_at {
        Some(at) if at <= now => Err(format!(
            "API token `{}` expired at {}; an admin can create a new one with `jobworks token \
             create`",
            record.name,
            at.to_rfc3339()
        )),
        _ => Ok(()),
    }
}

/// `active`, `expired` or `revoked`: a token's state at `now`, for listings.
pub fn token_state(record: &TokenRecord, now: DateTime<Utc>) -> &'static str {
    if record.revoked_at.is_some() {
        "revoked"
    } else if record.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

/// Whether a request at `now` should record itself as the token's last use.
pub fn touch_due(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY)
}

/// Checks a token name: 1–64 characters of `a-z A-Z 0-9 . _ -`, the first a letter or
/// digit (names appear in approvals' `approvers` and in `token:NAME` audit entries).
/// Errors: what is wrong, naming the name.
pub fn check_token_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "token name `{name}` must be 1 to 64 characters long"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.chars().all(ok_char) {
        return Err(format!(
            "token name `{name}` may use only letters, digits, `.`, `_` and `-`, and must \
             start with a letter or digit"
        ));
    }
    Ok(())
}

/// What [`mint_token`] stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// Name (see [`check_token_name`]).
    pub name: String,
    /// Who it acts for; `None` = the name.
    pub owner: Option<String>,
    /// May manage tokens.
    pub admin: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Makes a token: a new random secret, stored only as its hash. Returns the secret (show it
/// once) and the stored record. Errors: `Conflict` for a bad or taken name.
pub async fn mint_token(
    store: &dyn Store,
    request: TokenRequest,
    now: DateTime<Utc>,
) -> Result<(String, TokenRecord), StoreError> {
    check_token_name(&request.name).map_err(StoreError::Conflict)?;
    let secret = new_token();
    let record = store
        .create_token(
            NewToken {
                owner: request.owner.unwrap_or_else(|| request.name.clone()),
                name: request.name,
                sha256_hex: hash_token(&secret),
                admin: request.admin,
                expires_at: request.expires_at,
            },
            now,
        )
        .await?;
    Ok((secret, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn record(expires: Option<i64>, revoked: Option<i64>) -> TokenRecord {
        TokenRecord {
            id: 1,
            name: "release-manager".into(),
            owner: "release-manager".into(),
            admin: false,
            created_at: at(0),
            last_used_at: None,
            expires_at: expires.map(at),
            revoked_at: revoked.map(at),
        }
    }

    #[test]
    fn tokens_are_refused_once_revoked_or_expired() {
        let table = [
            (None, None, 100, "active"),
            (Some(200), None, 100, "active"),
            (Some(200), None, 200, "expired"),
            (Some(200), None, 300, "expired"),
            (None, Some(50), 100, "revoked"),
            (Some(200), Some(50), 300, "revoked"),
        ];
        for (expires, revoked, now, want) in table {
            let token = record(expires, revoked);
            assert_eq!(token_state(&token, at(now)), want, "{token:?} at {now}");
            assert_eq!(check_token(&token, at(now)).is_ok(), want == "active");
        }
        let why = check_token(&record(None, Some(50)), at(100)).unwrap_err();
        assert!(why.contains("`release-manager` was revoked"), "{why}");
    }

    #[test]
    fn last_use_is_recorded_at_most_once_a_minute() {
        assert!(touch_due(None, at(0)));
        assert!(!touch_due(Some(at(0)), at(59)));
        assert!(touch_due(Some(at(0)), at(60)));
    }

    #[test]
    fn token_names_are_checked() {
        for good in ["admin", "release-manager", "ci.bot_2", "7up"] {
            assert_eq!(check_token_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-x", "a b", "x/y", "é", &"a".repeat(65)] {
            assert!(check_token_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), 3 + 43);
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
