//! Enrollment tokens and agent credentials: generation, parsing, storage and verification.

use jobworks_pki::{
    EnrollmentToken, Fingerprint, Secret, SecretKind, StoredSecret, TokenError, hash_secret,
    verify_secret,
};

fn pin() -> Fingerprint {
    Fingerprint::of(b"a CA certificate")
}

#[test]
fn enrollment_token_round_trips_and_verifies() {
    let token = EnrollmentToken::generate(pin());
    let text = token.expose();
    let (head, tail) = text.split_once('@').expect("pin after @");
    assert_eq!(tail, pin().to_string());
    assert!(head.starts_with("jwe_"), "{text}");
    assert_eq!(head.len(), 4 + 16 + 1 + 64, "{text}");
    assert_eq!(text.len(), 4 + 16 + 1 + 64 + 1 + 7 + 64);
    assert!(
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@:".contains(c)),
        "shell-safe: {text}"
    );

    let parsed = EnrollmentToken::parse(&format!("  {text}\n")).expect("parse");
    assert_eq!(parsed, token);
    assert_eq!(parsed.pin(), pin());

    let stored = token.secret().stored();
    assert_eq!(stored.kind, SecretKind::Enrollment);
    assert_eq!(stored.id, token.secret().id());
    assert_eq!(stored.secret_sha256, hash_secret(token.secret()));
    assert!(
        !stored.secret_sha256.contains(&head[21..]),
        "the secret itself is not stored"
    );
    assert!(verify_secret(&stored, parsed.secret()));
    // what the agent sends: the part before `@`
    let sent = Secret::parse(SecretKind::Enrollment, head).expect("sent part");
    assert!(verify_secret(&stored, &sent));
}

#[test]
fn verification_refuses_wrong_secret_id_kind_and_bad_hash() {
    let secret = Secret::generate(SecretKind::Agent);
    let stored = secret.stored();
    let text = secret.expose();
    // one secret digit changed
    let mut wrong = text.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    let wrong = Secret::parse(
        SecretKind::Agent,
        std::str::from_utf8(&wrong).expect("utf8"),
    )
    .expect("well formed");
    assert!(!verify_secret(&stored, &wrong));
    // another secret altogether
    assert!(!verify_secret(
        &stored,
        &Secret::generate(SecretKind::Agent)
    ));
    // same secret presented under another id
    let other_id = StoredSecret {
        id: "0000000000000000".to_string(),
        ..stored.clone()
    };
    assert!(!verify_secret(&other_id, &secret));
    // same hex as an enrollment token
    let as_enrollment =
        Secret::parse(SecretKind::Enrollment, &text.replacen("jwa_", "jwe_", 1)).expect("parse");
    assert!(!verify_secret(&stored, &as_enrollment));
    // a malformed stored hash never matches
    let bad = StoredSecret {
        secret_sha256: "zz".to_string(),
        ..stored.clone()
    };
    assert!(!verify_secret(&bad, &secret));
    assert!(verify_secret(&stored, &secret));
}

#[test]
fn hex_case_does_not_matter_but_the_prefix_is_lower_case() {
    let token = EnrollmentToken::generate(pin());
    let text = token.expose();
    let upper_hex = format!(
        "jwe_{}",
        text["jwe_".len()..]
            .to_uppercase()
            .replace("SHA256:", "sha256:")
    );
    let parsed = EnrollmentToken::parse(&upper_hex).expect("upper-case hex accepted");
    assert_eq!(parsed, token);
    assert!(verify_secret(&token.secret().stored(), parsed.secret()));
    assert_eq!(
        parsed.secret().id(),
        token.secret().id(),
        "id kept lower-case"
    );

    let err = EnrollmentToken::parse(&text.to_uppercase()).expect_err("JWE_ refused");
    assert_eq!(
        err.to_string(),
        "enrollment token must start with `jwe_` (the prefix is lower-case)"
    );
}

#[test]
fn generated_secrets_differ() {
    let a = Secret::generate(SecretKind::Enrollment);
    let b = Secret::generate(SecretKind::Enrollment);
    assert_ne!(a.id(), b.id());
    assert_ne!(a.expose(), b.expose());
    assert_eq!(
        format!("{a:?}"),
        format!("Secret(jwe_{}.<redacted>)", a.id()),
        "Debug hides the secret"
    );
}

#[test]
fn malformed_tokens_say_which_part_is_wrong() {
    let id = "0123456789abcdef";
    let secret = "ab".repeat(32);
    let p = pin();
    let table: Vec<(String, &str)> = vec![
        (String::new(), "must start with `jwe_`"),
        (format!("jw_{id}.{secret}@{p}"), "must start with `jwe_`"),
        (
            format!("jwa_{id}.{secret}@{p}"),
            "this is an agent credential, not an enrollment token",
        ),
        (
            format!("jwe_{id}{secret}@{p}"),
            "there is no `.` after the id",
        ),
        (
            format!("jwe_{}.{secret}@{p}", &id[1..]),
            "the id must be 16 hex digits, found 15",
        ),
        (
            format!("jwe_{}g.{secret}@{p}", &id[1..]),
            "the id must be 16 hex digits, `g` at position 15 is not one",
        ),
        (
            format!("jwe_{id}.{}@{p}", &secret[2..]),
            "the secret must be 64 hex digits, found 62",
        ),
        (
            format!("jwe_{id}.{}x@{p}", &secret[1..]),
            "the secret must be 64 hex digits, position 63 is not one",
        ),
        (format!("jwe_{id}.{secret}"), "has no CA pin"),
        (
            format!("jwe_{id}.{secret}@"),
            "CA pin: fingerprint `` must start with `sha256:`",
        ),
        (
            format!("jwe_{id}.{secret}@md5:00"),
            "must start with `sha256:`",
        ),
        (
            format!("jwe_{id}.{secret}@sha256:00"),
            "64 hex digits after `sha256:`, it has 2",
        ),
        (
            format!("jwe_{id}.{secret}@{p}@{p}"),
            "has `@` at position 64",
        ),
    ];
    for (text, want) in &table {
        let err = EnrollmentToken::parse(text).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(
            !err.contains(&secret[..16]),
            "error repeats the secret: {err}"
        );
    }
    let err = Secret::parse(SecretKind::Agent, &format!("jwe_{id}.{secret}")).expect_err("kind");
    assert!(
        matches!(err, TokenError::Prefix { prefix: "jwa_", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("this is an enrollment token, not an agent credential")
    );
    let ok = Secret::parse(SecretKind::Agent, &format!("jwa_{id}.{secret}")).expect("ok");
    assert_eq!(ok.expose(), format!("jwa_{id}.{secret}"));
}
