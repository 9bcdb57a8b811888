//! Jobworks PKI: the server's internal certificate authority, agent identities, enrollment
//! tokens and the TLS configurations that use them.
//!
//! A library only: it reads and writes the files it is pointed at and builds `rustls`
//! configurations, but opens no sockets and reads no environment or clock (callers pass
//! `now`). The server, the agent and the CLI wire it in.
//!
//! # The flow (after `kubeadm join` and the kubelet's certificate rotation)
//!
//! 1. The server creates its [`Ca`] at first start ([`Ca::load_or_create`]: `ca.crt`, and
//!    `ca.key` with mode 0600), or takes the operator's CA ([`Ca::from_pem`]). It issues
//!    itself a server certificate ([`Ca::issue_server_cert`]) and serves it with
//!    [`server_config`], which sends the CA certificate in the chain and asks clients for a
//!    certificate signed by the CA without requiring one (bearer-token clients still connect).
//! 2. An admin creates an enrollment token; the CLI prints [`EnrollmentToken`]'s full form
//!    `jwe_<id>.<secret>@sha256:<ca fingerprint>`; the server stores only its
//!    [`StoredSecret`] (id and SHA-256 of the secret).
//! 3. The agent generates its key ([`AgentKey::load_or_generate`], 0600) and a CSR for its
//!    name ([`AgentKey::csr`]). It dials the server with [`PinnedCa::client_config`]: the
//!    handshake succeeds only if the server's chain holds a CA certificate whose SHA-256
//!    equals the pin, and that CA then verifies the server certificate as a normal root. The
//!    agent keeps the CA certificate it saw ([`PinnedCa::ca_cert`]).
//! 4. The server checks the token ([`verify_secret`]) and the CSR ([`check_csr`]: signature,
//!    name, key type; returns the key's fingerprint so "same name, another key" can be
//!    refused), then signs a short-lived client certificate ([`Ca::sign_agent`], 30 days by
//!    default) and, for sites behind TLS-terminating proxies, may mint a per-agent bearer
//!    credential (`jwa_…`, [`Secret::generate`] with [`SecretKind::Agent`]).
//! 5. From then on the agent connects with [`mtls_client_config`] and renews when
//!    [`should_renew`] says so (at 2/3 of the certificate's lifetime).
//!
//! # Algorithms
//!
//! Keys made here are ECDSA P-256 with SHA-256 ([`KeyAlgorithm::EcdsaP256`]): rustls with
//! aws-lc-rs verifies it for server and client authentication, and unlike Ed25519 every TLS
//! client accepts it in a server certificate (browsers do not accept Ed25519 ones), so the CA,
//! the server and the agents use one algorithm. CSRs with Ed25519 keys are accepted too (rustls
//! with aws-lc-rs verifies Ed25519 client certificates). One crypto provider is linked:
//! aws-lc-rs; every configuration here is built with it explicitly, and
//! [`install_crypto_provider`] makes it the process default for other rustls users.

mod agent;
mod ca;
mod cert;
mod csr;
mod error;
mod files;
mod fingerprint;
mod name;
mod tls;
mod token;

pub use agent::{AGENT_KEY_FILE, AgentKey, KeyAlgorithm};
pub use ca::{CA_CERT_FILE, CA_KEY_FILE, Ca, DEFAULT_CA_LIFETIME, IssuedCert, IssuedServerCert};
pub use cert::{
    BACKDATE, CertInfo, DEFAULT_AGENT_CERT_LIFETIME, DEFAULT_SERVER_CERT_LIFETIME, should_renew,
};
pub use csr::{CheckedCsr, check_csr};
pub use error::PkiError;
pub use files::{read_private, write_private, write_public};
pub use fingerprint::{Fingerprint, FingerprintError};
pub use name::check_agent_name;
pub use tls::{
    PinnedCa, ServerIdentity, client_config_trusting, crypto_provider, install_crypto_provider,
    mtls_client_config, server_config,
};
pub use token::{
    EnrollmentToken, Secret, SecretKind, StoredSecret, TokenError, hash_secret, verify_secret,
};

/// Re-exported so callers name certificate and key types without depending on rustls
/// themselves.
pub use rustls::pki_types;
