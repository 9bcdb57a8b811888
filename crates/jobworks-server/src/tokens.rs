//! API tokens: opaque random secrets, stored only as SHA-256 hashes.
//!
//! A token is `jw_` followed by 43 URL-safe characters (256 random bits). SHA-256 (not a slow
//! password hash) is right for high-entropy random tokens: there is nothing to brute-force.

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

#[cfg(test)]
mod tests {
    use super::*;

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
