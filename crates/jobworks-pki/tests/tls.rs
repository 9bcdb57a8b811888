//! Real TLS over loopback TCP (tokio-rustls): the server serves a certificate of its own CA
//! and asks for client certificates; clients pin the CA, or present agent certificates.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jobworks_pki::pki_types::{CertificateDer, ServerName};
use jobworks_pki::{
    AgentKey, Ca, DEFAULT_AGENT_CERT_LIFETIME, DEFAULT_CA_LIFETIME, DEFAULT_SERVER_CERT_LIFETIME,
    Fingerprint, KeyAlgorithm, PinnedCa, check_csr, client_config_trusting,
    install_crypto_provider, mtls_client_config, server_config,
};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Deadline for every network step.
const STEP: Duration = Duration::from_secs(10);

/// What the server saw of one connection: the client certificate's fingerprint and key
/// fingerprint if one was presented and verified, `Ok(None)` for an anonymous client, or the
/// handshake error.
type Seen = Result<Option<(Fingerprint, Fingerprint)>, String>;

struct Server {
    ca: Ca,
    addr: std::net::SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
}

/// A TLS server on 127.0.0.1 with a server certificate from a fresh CA, asking for client
/// certificates from that CA; it answers each connection with `hello` and reports what it saw.
async fn start_server() -> Server {
    install_crypto_provider();
    let now = Utc::now();
    let ca = Ca::create(now, DEFAULT_CA_LIFETIME).expect("CA");
    let issued = ca
        .issue_server_cert(
            &["localhost", "127.0.0.1"],
            now,
            DEFAULT_SERVER_CERT_LIFETIME,
        )
        .expect("server cert");
    let config = server_config(&issued.identity, Some(ca.cert_der())).expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let peer = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                        let peer = peer.map(|c| {
                            let info = jobworks_pki::CertInfo::from_der(c, "peer").expect("peer");
                            (info.fingerprint, info.key_fingerprint)
                        });
                        let _ = tls.write_all(b"hello").await;
                        let _ = tls.shutdown().await;
                        let _ = tx.send(Ok(peer));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    Server { ca, addr, seen }
}

impl Server {
    async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(STEP, self.seen.recv())
            .await
            .expect("server reported within the deadline")
            .expect("server task alive")
    }
}

/// Connects with `config` to `localhost` and reads the greeting; the error text otherwise.
async fn talk(addr: std::net::SocketAddr, config: ClientConfig) -> Result<String, String> {
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut tls = tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    tokio::time::timeout(STEP, tls.read_to_string(&mut out))
        .await
        .map_err(|_| "read timed out".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// An agent key and a certificate for it signed by `ca` at `now` for `lifetime`.
fn agent_cert(
    ca: &Ca,
    key: &AgentKey,
    name: &str,
    now: chrono::DateTime<Utc>,
    lifetime: chrono::Duration,
) -> CertificateDer<'static> {
    let csr = key.csr(name).expect("csr");
    let checked = check_csr(&csr).expect("csr accepted");
    ca.sign_agent(&checked, now, lifetime).expect("signed").der
}

#[tokio::test]
async fn pinned_client_accepts_the_server_of_its_ca_and_learns_the_ca() {
    let mut server = start_server().await;
    let pinned = PinnedCa::new(server.ca.fingerprint());
    assert_eq!(pinned.ca_cert(), None);
    let got = talk(server.addr, pinned.client_config().expect("config")).await;
    assert_eq!(got.as_deref(), Ok("hello"));
    assert_eq!(server.next_seen().await, Ok(None), "anonymous client");
    let learned = pinned.ca_cert().expect("the CA seen in the chain");
    assert_eq!(&learned, server.ca.cert_der());
    assert_eq!(Fingerprint::of(&learned), server.ca.fingerprint());
    // then trusting it as the only root works too
    let config = client_config_trusting(&learned, Some(server.ca.fingerprint())).expect("trust");
    assert_eq!(talk(server.addr, config).await.as_deref(), Ok("hello"));
}

#[tokio::test]
async fn pinned_client_refuses_a_server_whose_ca_does_not_match_the_pin() {
    let mut server = start_server().await;
    let other = Ca::create(Utc::now(), DEFAULT_CA_LIFETIME).expect("other CA");
    let pinned = PinnedCa::new(other.fingerprint());
    let err = talk(server.addr, pinned.client_config().expect("config"))
        .await
        .expect_err("wrong pin refused");
    assert!(
        err.contains("no CA certificate matching the pin")
            && err.contains(&other.fingerprint().to_string()),
        "{err}"
    );
    assert!(
        err.contains(&server.ca.fingerprint().to_string()),
        "names what was sent: {err}"
    );
    assert_eq!(pinned.ca_cert(), None);
    assert!(
        server.next_seen().await.is_err(),
        "server saw the handshake fail"
    );
    // and a client trusting another CA as root refuses the server as well
    let config = client_config_trusting(other.cert_der(), None).expect("config");
    let err = talk(server.addr, config).await.expect_err("unknown issuer");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
}

#[tokio::test]
async fn trusting_a_ca_checks_the_pin_first() {
    let server = start_server().await;
    let other = Ca::create(Utc::now(), DEFAULT_CA_LIFETIME).expect("other CA");
    let err = client_config_trusting(server.ca.cert_der(), Some(other.fingerprint()))
        .expect_err("pin mismatch");
    assert!(err.to_string().contains("does not match the pin"), "{err}");
}

#[tokio::test]
async fn agent_certificate_from_the_ca_is_accepted_for_mtls() {
    let mut server = start_server().await;
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let key = AgentKey::generate_with(alg).expect("key");
        let cert = agent_cert(
            &server.ca,
            &key,
            "web-01",
            Utc::now(),
            DEFAULT_AGENT_CERT_LIFETIME,
        );
        let config = mtls_client_config(
            server.ca.cert_der(),
            vec![cert.clone()],
            key.private_key_der(),
        )
        .expect("mtls config");
        assert_eq!(
            talk(server.addr, config).await.as_deref(),
            Ok("hello"),
            "{alg:?}"
        );
        let seen = server.next_seen().await;
        assert_eq!(
            seen,
            Ok(Some((Fingerprint::of(&cert), key.fingerprint()))),
            "{alg:?}: the server sees the agent's certificate and identity"
        );
    }
}

#[tokio::test]
async fn agent_certificate_from_another_ca_is_refused() {
    let mut server = start_server().await;
    let other = Ca::create(Utc::now(), DEFAULT_CA_LIFETIME).expect("other CA");
    let key = AgentKey::generate().expect("key");
    let cert = agent_cert(
        &other,
        &key,
        "web-01",
        Utc::now(),
        DEFAULT_AGENT_CERT_LIFETIME,
    );
    let config = mtls_client_config(server.ca.cert_der(), vec![cert], key.private_key_der())
        .expect("mtls config");
    let got = talk(server.addr, config).await;
    assert_ne!(got.as_deref(), Ok("hello"), "client must not get through");
    let seen = server
        .next_seen()
        .await
        .expect_err("server refused the certificate");
    assert!(
        seen.contains("UnknownIssuer") || seen.contains("unknown issuer"),
        "{seen}"
    );
}

#[tokio::test]
async fn expired_agent_certificate_is_refused() {
    let mut server = start_server().await;
    let key = AgentKey::generate().expect("key");
    // issued 40 days ago for 30 days: expired 10 days ago
    let then = Utc::now() - chrono::Duration::days(40);
    let cert = agent_cert(
        &server.ca,
        &key,
        "web-01",
        then,
        DEFAULT_AGENT_CERT_LIFETIME,
    );
    let info = jobworks_pki::CertInfo::from_der(&cert, "expired").expect("info");
    assert!(info.not_after < Utc::now());
    let config = mtls_client_config(server.ca.cert_der(), vec![cert], key.private_key_der())
        .expect("mtls config");
    let got = talk(server.addr, config).await;
    assert_ne!(got.as_deref(), Ok("hello"), "client must not get through");
    let seen = server
        .next_seen()
        .await
        .expect_err("server refused the certificate");
    assert!(
        seen.contains("Expired") || seen.contains("expired"),
        "{seen}"
    );
}

#[test]
fn installing_the_crypto_provider_is_idempotent() {
    install_crypto_provider();
    install_crypto_provider();
    let installed = rustls::crypto::CryptoProvider::get_default().expect("a default provider");
    let ours = jobworks_pki::crypto_provider();
    assert_eq!(
        installed.cipher_suites.len(),
        ours.cipher_suites.len(),
        "the default is aws-lc-rs's provider"
    );
}
