//! rustls configurations: the server serving a certificate of its own CA (asking for, not
//! requiring, client certificates from that CA), the agent's first contact pinned to a CA
//! fingerprint, and clients trusting exactly the CA (with or without a client certificate).
//!
//! Every configuration is built with aws-lc-rs explicitly ([`crypto_provider`]), so none
//! depends on the process default; [`install_crypto_provider`] sets that default for crates
//! that use it (reqwest, sqlx).

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::cert::all_cert_ders;
use crate::{Fingerprint, PkiError};

/// The one crypto provider of Jobworks: aws-lc-rs, with rustls's default cipher suites and
/// key exchange groups.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes aws-lc-rs the process-wide default rustls provider. Idempotent: a second call (or
/// one after another part of the program installed it) does nothing. Call it at the start of
/// binaries and tests that use rustls through other crates.
pub fn install_crypto_provider() {
    if CryptoProvider::get_default().is_none() {
        // a concurrent caller may win the race; either way aws-lc-rs is installed
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// What a TLS server presents: its certificate chain (leaf first) and private key.
#[derive(Debug)]
pub struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl ServerIdentity {
    /// A chain (leaf first; include the CA certificate so pinned clients can find it) and
    /// its key.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        ServerIdentity { chain, key }
    }

    /// The operator's `--tls-cert` (PEM, leaf first, intermediates after) and `--tls-key`
    /// (PKCS#8, SEC1 or PKCS#1 PEM). `what` names the files in errors. Errors:
    /// [`PkiError::Parse`] for no certificate, bad PEM or no key.
    pub fn from_pem(cert_pem: &str, key_pem: &str, what: &str) -> Result<Self, PkiError> {
        let chain = all_cert_ders(cert_pem, &format!("TLS certificate ({what})"))?;
        if chain.is_empty() {
            return Err(PkiError::parse(
                format!("TLS certificate ({what})"),
                "no CERTIFICATE block in the PEM text",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| PkiError::parse(format!("TLS key ({what})"), e))?;
        Ok(ServerIdentity { chain, key })
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

/// A server configuration presenting `identity`. With `client_ca`, the server asks every
/// client for a certificate and verifies one it gets against that CA (chain, validity,
/// extended key usage client authentication), but lets clients without one finish the
/// handshake (`allow_unauthenticated`), so bearer-credential clients behind a TLS-terminating
/// proxy still connect; the application then reads the verified peer certificate from the
/// connection, or falls back to the bearer credential. ALPN is left empty for the caller to
/// set. Errors: [`PkiError::Tls`] for a key that does not match the leaf or a CA rustls
/// refuses as a root.
pub fn server_config(
    identity: &ServerIdentity,
    client_ca: Option<&CertificateDer<'static>>,
) -> Result<ServerConfig, PkiError> {
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = Arc::new(roots_of(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| PkiError::Tls(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| PkiError::Tls(format!("server certificate and key: {e}")))
}

/// A client configuration trusting exactly `ca` as its only root (no system roots): what
/// the CLI uses with the server's CA, and the agent after enrollment without a client
/// certificate (bearer fallback). With `pin`, `ca`'s SHA-256 must equal it. Errors:
/// [`PkiError::Tls`] for a pin mismatch or a certificate rustls refuses as a root.
pub fn client_config_trusting(
    ca: &CertificateDer<'static>,
    pin: Option<Fingerprint>,
) -> Result<ClientConfig, PkiError> {
    check_pin(ca, pin)?;
    ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))
        .and_then(|b| {
            Ok(b.with_root_certificates(roots_of(ca)?)
                .with_no_client_auth())
        })
}

/// The agent's configuration after enrollment: `ca` as the only root, and its client
/// certificate chain (leaf first, as the CA issued it) with its key for mutual TLS.
/// Errors: [`PkiError::Tls`] for a root rustls refuses or a key that does not match.
pub fn mtls_client_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, PkiError> {
    ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_root_certificates(roots_of(ca)?)
        .with_client_auth_cert(chain, key)
        .map_err(|e| PkiError::Tls(format!("agent certificate and key: {e}")))
}

fn check_pin(ca: &CertificateDer<'_>, pin: Option<Fingerprint>) -> Result<(), PkiError> {
    match pin {
        Some(pin) if Fingerprint::of(ca) != pin => Err(PkiError::Tls(format!(
            "CA certificate {} does not match the pin {pin}",
            Fingerprint::of(ca)
        ))),
        _ => Ok(()),
    }
}

fn roots_of(ca: &CertificateDer<'static>) -> Result<RootCertStore, PkiError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| PkiError::Tls(format!("CA certificate as a root: {e}")))?;
    Ok(roots)
}

/// First contact, before the agent has the CA certificate: trust the server only if its
/// chain carries a CA certificate whose SHA-256 equals the pin from the enrollment token;
/// that certificate then verifies the server's leaf as an ordinary root would (signature,
/// validity, server name, extended key usage). The CA seen is kept for the agent to store
/// ([`PinnedCa::ca_cert`]), after which it uses [`mtls_client_config`]. Our
/// [`server_config`] chains always carry the CA (see [`crate::IssuedServerCert`]).
#[derive(Clone, Debug)]
pub struct PinnedCa {
    verifier: Arc<PinVerifier>,
}

impl PinnedCa {
    /// A pinned verifier for `pin` (the CA fingerprint from the token).
    pub fn new(pin: Fingerprint) -> Self {
        let provider = crypto_provider();
        PinnedCa {
            verifier: Arc::new(PinVerifier {
                pin,
                provider,
                seen: Mutex::new(None),
            }),
        }
    }

    /// A client configuration (no client certificate) whose handshakes succeed only with a
    /// server as described on [`PinnedCa`]. Errors: [`PkiError::Tls`] (none expected with
    /// the built-in provider).
    pub fn client_config(&self) -> Result<ClientConfig, PkiError> {
        Ok(
            ClientConfig::builder_with_provider(self.verifier.provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| PkiError::Tls(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(self.verifier.clone())
                .with_no_client_auth(),
        )
    }

    /// The CA certificate matching the pin, once a handshake has verified with it.
    pub fn ca_cert(&self) -> Option<CertificateDer<'static>> {
        self.verifier
            .seen
            .lock()
            .ok()
            .and_then(|seen| seen.as_ref().cloned())
    }
}

#[derive(Debug)]
struct PinVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

/// Why a pinned handshake was refused, carried to the caller inside rustls's error.
/// (Its `Debug` is its message: rustls shows a custom certificate error with `{:?}`.)
#[derive(thiserror::Error)]
#[error(
    "the server's certificate chain has no CA certificate matching the pin {pin} (it sent: \
     {sent}); the token may be for another server, or the connection is intercepted"
)]
struct PinMismatch {
    pin: Fingerprint,
    sent: String,
}

impl std::fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates
            .iter()
            .find(|c| Fingerprint::of(c) == self.pin)
        else {
            let sent = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| Fingerprint::of(c).to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    pin: self.pin,
                    sent,
                })),
            )));
        };
        let ca = ca.clone().into_owned();
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("pinned CA verifier: {e}")))?;
        let verified =
            inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(ca);
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
