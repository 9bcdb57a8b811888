//! The CA and agent key on disk, operator CAs, CSR checks and issued certificates.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use jobworks_pki::{
    AGENT_KEY_FILE, AgentKey, BACKDATE, CA_CERT_FILE, CA_KEY_FILE, Ca, CertInfo,
    DEFAULT_AGENT_CERT_LIFETIME, DEFAULT_CA_LIFETIME, DEFAULT_SERVER_CERT_LIFETIME, PkiError,
    check_csr,
};
use rcgen::{CertificateParams, DnType, KeyPair, SanType};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn now() -> DateTime<Utc> {
    // whole seconds, as certificates carry them
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now")
}

#[test]
fn ca_is_saved_with_private_key_mode_0600_and_loads_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("pki");
    let (ca, created) = Ca::load_or_create(&dir, now()).expect("create");
    assert!(created);
    assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(CA_CERT_FILE)), 0o644);
    assert_eq!(mode(&dir), 0o700);
    let (again, created) = Ca::load_or_create(&dir, now()).expect("load");
    assert!(!created);
    assert_eq!(again.fingerprint(), ca.fingerprint());
    assert_eq!(again.cert_der(), ca.cert_der());
    let shown = ca.fingerprint().to_string();
    assert!(
        shown.starts_with("sha256:") && shown.len() == 7 + 64,
        "{shown}"
    );
    assert_eq!(
        jobworks_pki::Fingerprint::of(ca.cert_der()),
        ca.fingerprint()
    );
    let info = ca.info();
    assert!(info.is_ca);
    let cn = info.common_name.as_deref().unwrap_or_default();
    assert!(
        cn.starts_with("Jobworks internal CA ") && cn.len() == 21 + 8,
        "{cn}"
    );
    assert!(info.not_after - info.not_before >= DEFAULT_CA_LIFETIME);
    // the loaded CA still signs certificates its old self verifies as issuer
    let key = AgentKey::generate().expect("key");
    let csr = check_csr(&key.csr("web-01").expect("csr")).expect("checked");
    let issued = again
        .sign_agent(&csr, now(), DEFAULT_AGENT_CERT_LIFETIME)
        .expect("sign");
    assert_eq!(issued.info.key_fingerprint, key.fingerprint());
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ca, _) = Ca::load_or_create(tmp.path(), now()).expect("create");
    drop(ca);
    let key_path = tmp.path().join(CA_KEY_FILE);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    match Ca::load(tmp.path()) {
        Err(PkiError::KeyPermissions { path, mode }) => {
            assert_eq!(path, key_path);
            assert_eq!(mode, 0o644);
        }
        other => panic!("wanted KeyPermissions, got {other:?}"),
    }
    let agent_dir = tmp.path().join("agent");
    let (key, created) = AgentKey::load_or_generate(&agent_dir).expect("agent key");
    assert!(created);
    let agent_key = agent_dir.join(AGENT_KEY_FILE);
    assert_eq!(mode(&agent_key), 0o600);
    std::fs::set_permissions(&agent_key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = AgentKey::load(&agent_dir).expect_err("group-readable key refused");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    // writing again restores 0600 and the same key loads
    key.save(&agent_dir).expect("save");
    assert_eq!(mode(&agent_key), 0o600);
    let (loaded, created) = AgentKey::load_or_generate(&agent_dir).expect("load");
    assert!(!created);
    assert_eq!(loaded.fingerprint(), key.fingerprint());
}

#[test]
fn operator_ca_is_loaded_from_pem_and_checked() {
    // the operator's CA, made with rcgen directly as openssl would
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Operator CA");
    let cert = params.self_signed(&key).expect("self-signed");
    let ca = Ca::from_pem(&cert.pem(), &key.serialize_pem(), "ops.crt and ops.key").expect("CA");
    assert_eq!(ca.info().common_name.as_deref(), Some("Operator CA"));
    assert_eq!(ca.fingerprint(), jobworks_pki::Fingerprint::of(cert.der()));
    let agent = AgentKey::generate().expect("agent");
    let csr = check_csr(&agent.csr("db-1").expect("csr")).expect("checked");
    assert!(
        ca.sign_agent(&csr, now(), DEFAULT_AGENT_CERT_LIFETIME)
            .is_ok()
    );

    // a key that is not the certificate's
    let other = KeyPair::generate().expect("other key");
    let err = Ca::from_pem(&cert.pem(), &other.serialize_pem(), "ops").expect_err("mismatch");
    assert!(
        err.to_string()
            .contains("is not the key of the CA certificate"),
        "{err}"
    );
    // a certificate that is not a CA
    let leaf = CertificateParams::new(vec!["x.example".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("leaf");
    let err = Ca::from_pem(&leaf.pem(), &key.serialize_pem(), "leaf").expect_err("not a CA");
    assert!(err.to_string().contains("is not a CA certificate"), "{err}");
    // not PEM at all
    let err = Ca::from_pem("hello", &key.serialize_pem(), "junk").expect_err("junk");
    assert!(err.to_string().contains("CA certificate (junk)"), "{err}");
}

#[test]
fn csr_round_trip_gives_name_and_key_fingerprint() {
    let t = now();
    let ca = Ca::create(t, DEFAULT_CA_LIFETIME).expect("CA");
    let key = AgentKey::generate().expect("key");
    let pem = key.csr("web-01.bj").expect("csr");
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{pem}"
    );
    let csr = check_csr(&pem).expect("accepted");
    assert_eq!(csr.name(), "web-01.bj");
    assert_eq!(csr.key_fingerprint(), key.fingerprint());

    let issued = ca
        .sign_agent(&csr, t, DEFAULT_AGENT_CERT_LIFETIME)
        .expect("signed");
    let info = &issued.info;
    assert_eq!(info.common_name.as_deref(), Some("web-01.bj"));
    assert_eq!(info.dns_names, vec!["web-01.bj".to_string()]);
    assert_eq!(info.key_fingerprint, key.fingerprint());
    assert!(!info.is_ca);
    assert_eq!(info.not_before, t - BACKDATE);
    assert_eq!(info.not_after, t + DEFAULT_AGENT_CERT_LIFETIME);
    assert_eq!(CertInfo::from_pem(&issued.pem, "pem").expect("pem"), *info);
    assert_eq!(info.serial.len(), 32, "16-byte serial: {}", info.serial);
    // renewal at 2/3 of the lifetime (which starts BACKDATE before issue)
    let two_thirds = (DEFAULT_AGENT_CERT_LIFETIME + BACKDATE) * 2 / 3;
    assert!(!info.should_renew(t));
    assert!(!info.should_renew(t - BACKDATE + two_thirds - Duration::seconds(1)));
    assert!(info.should_renew(t - BACKDATE + two_thirds));

    // same name, another key: a different identity, for the caller to refuse
    let other = AgentKey::generate().expect("other key");
    let again = check_csr(&other.csr("web-01.bj").expect("csr")).expect("accepted");
    assert_eq!(again.name(), csr.name());
    assert_ne!(again.key_fingerprint(), csr.key_fingerprint());

    // a loaded key keeps its identity
    let tmp = tempfile::tempdir().expect("tmp");
    key.save(tmp.path()).expect("save");
    assert_eq!(
        AgentKey::load(tmp.path()).expect("load").fingerprint(),
        key.fingerprint()
    );
}

#[test]
fn issued_lifetimes_are_capped_by_the_ca_and_must_be_positive() {
    let t = now();
    let ca = Ca::create(t, Duration::days(10)).expect("CA");
    let key = AgentKey::generate().expect("key");
    let csr = check_csr(&key.csr("a").expect("csr")).expect("checked");
    let issued = ca.sign_agent(&csr, t, Duration::days(30)).expect("signed");
    assert_eq!(
        issued.info.not_after,
        ca.info().not_after,
        "capped at the CA's end"
    );
    let err = ca
        .sign_agent(&csr, t, Duration::zero())
        .expect_err("empty lifetime");
    assert!(
        err.to_string().contains("lifetime must be positive"),
        "{err}"
    );
    let err = ca
        .sign_agent(&csr, t + Duration::days(11), Duration::days(1))
        .expect_err("CA expired");
    assert!(err.to_string().contains("the CA expired"), "{err}");
}

#[test]
fn server_certificate_carries_its_names_and_the_ca_in_its_chain() {
    let t = now();
    let ca = Ca::create(t, DEFAULT_CA_LIFETIME).expect("CA");
    let issued = ca
        .issue_server_cert(
            &["jobs.example.com", "localhost", "127.0.0.1", "::1"],
            t,
            DEFAULT_SERVER_CERT_LIFETIME,
        )
        .expect("server cert");
    let info = &issued.cert.info;
    assert_eq!(info.common_name.as_deref(), Some("jobs.example.com"));
    assert_eq!(
        info.dns_names,
        vec!["jobs.example.com".to_string(), "localhost".to_string()]
    );
    assert_eq!(info.not_after, t + DEFAULT_SERVER_CERT_LIFETIME);
    assert_eq!(issued.identity.chain().len(), 2);
    assert_eq!(&issued.identity.chain()[1], ca.cert_der());
    assert!(issued.key_pem.contains("PRIVATE KEY"));
    for shown in [
        format!("{issued:?}"),
        format!("{ca:?}"),
        format!("{:?}", issued.identity),
    ] {
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains(&issued.key_pem[28..60]),
            "Debug shows a key: {shown}"
        );
    }
    let from_pem = jobworks_pki::ServerIdentity::from_pem(
        &format!("{}{}", issued.cert.pem, ca.cert_pem()),
        &issued.key_pem,
        "files",
    )
    .expect("identity from PEM");
    assert_eq!(from_pem.chain(), issued.identity.chain());
    let err = ca
        .issue_server_cert(&[], t, DEFAULT_SERVER_CERT_LIFETIME)
        .expect_err("no names");
    assert!(err.to_string().contains("at least one"), "{err}");
    let err = ca
        .issue_server_cert(&["bad name!"], t, DEFAULT_SERVER_CERT_LIFETIME)
        .expect_err("bad name");
    assert!(err.to_string().contains("DNS name or an IP"), "{err}");
}

/// A CSR made by hand with rcgen, for the cases our `AgentKey::csr` never produces.
fn raw_csr(key: &KeyPair, cn: Option<&str>, sans: Vec<SanType>, ca: bool) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params.subject_alt_names = sans;
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    params
        .serialize_request(key)
        .expect("csr")
        .pem()
        .expect("pem")
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.to_string().try_into().expect("ia5"))
}

#[test]
fn csr_checks_table() {
    let p256 = KeyPair::generate().expect("p256");
    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("p384");
    let ok = raw_csr(&p256, Some("web-01"), vec![dns("web-01")], false);
    // a signature that does not verify: flip the last byte of the DER
    let tampered = {
        let mut der = pem::parse(&ok).expect("pem").into_contents();
        if let Some(last) = der.last_mut() {
            *last ^= 0x01;
        }
        pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der))
    };
    let table: Vec<(&str, String, Option<&str>)> = vec![
        ("well formed", ok.clone(), None),
        (
            "no SAN is fine",
            raw_csr(&p256, Some("web-01"), vec![], false),
            None,
        ),
        ("bad signature", tampered, Some("signature does not verify")),
        (
            "not a CSR",
            "garbage".to_string(),
            Some("not a PEM or DER PKCS#10"),
        ),
        (
            "P-384 key",
            raw_csr(&p384, Some("web-01"), vec![], false),
            Some("must be ECDSA P-256 or Ed25519"),
        ),
        (
            "no common name",
            raw_csr(&p256, None, vec![], false),
            Some("no common name"),
        ),
        (
            "bad name",
            raw_csr(&p256, Some("Web_01"), vec![], false),
            Some("agent name `Web_01`"),
        ),
        (
            "other SAN",
            raw_csr(&p256, Some("web-01"), vec![dns("evil.example")], false),
            Some("only the agent name"),
        ),
        (
            "two SANs",
            raw_csr(
                &p256,
                Some("web-01"),
                vec![dns("web-01"), dns("web-01")],
                false,
            ),
            Some("repeats the agent name"),
        ),
        (
            "IP SAN",
            raw_csr(
                &p256,
                Some("web-01"),
                vec![SanType::IpAddress([10, 0, 0, 1].into())],
                false,
            ),
            Some("only the agent name"),
        ),
        (
            "asks to be CA",
            raw_csr(&p256, Some("web-01"), vec![], true),
            Some("asks to be a CA"),
        ),
    ];
    for (case, pem, want) in table {
        match (check_csr(&pem), want) {
            (Ok(csr), None) => assert_eq!(csr.name(), "web-01", "{case}"),
            (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{case}: {e}"),
            (got, want) => panic!("{case}: wanted {want:?}, got {got:?}"),
        }
    }
}
