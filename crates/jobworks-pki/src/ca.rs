//! The internal certificate authority: created at the server's first start (or the
//! operator's own CA certificate and key), kept as `ca.crt` and `ca.key` (mode 0600) in a
//! directory, and used to issue the server's certificate and agents' client certificates.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;

use crate::agent::generate_key;
use crate::cert::{first_cert_der, to_offset};
use crate::files::{ensure_private_dir, read_private, write_private, write_public};
use crate::{BACKDATE, CertInfo, CheckedCsr, Fingerprint, KeyAlgorithm, PkiError, ServerIdentity};

/// File name of the CA certificate (PEM, mode 0644) in the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key (PKCS#8 PEM, mode 0600) in the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// Lifetime of a CA created here: 10 years (kubeadm's default for its cluster CA).
pub const DEFAULT_CA_LIFETIME: Duration = Duration::days(3650);

/// Common name of a CA created here, before its random suffix.
const CA_COMMON_NAME: &str = "Jobworks internal CA";

/// A certificate the CA issued, with what it says about itself.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The certificate as PEM (what the agent stores beside its key).
    pub pem: String,
    /// The same certificate as DER.
    pub der: CertificateDer<'static>,
    /// Validity, names, fingerprints and serial, read back from `der`.
    pub info: CertInfo,
}

/// A server certificate the CA issued, with its newly generated private key. `Debug` leaves
/// the key out.
pub struct IssuedServerCert {
    /// The certificate.
    pub cert: IssuedCert,
    /// The private key as PKCS#8 PEM: a secret; write it only with [`crate::write_private`].
    pub key_pem: String,
    /// The chain to serve: this certificate, then the CA's (so pinned clients find the CA).
    pub identity: ServerIdentity,
}

impl std::fmt::Debug for IssuedServerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedServerCert")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// A certificate authority: its certificate and signing key. `Debug` leaves the key out.
pub struct Ca {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
    info: CertInfo,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &self.info.fingerprint)
            .field("common_name", &self.info.common_name)
            .field("not_after", &self.info.not_after)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA with an ECDSA P-256 key: common name `Jobworks internal CA
    /// <8 random hex digits>` (organization `Jobworks`), valid from `now − BACKDATE` for
    /// `lifetime` ([`DEFAULT_CA_LIFETIME`] is the usual value), basic constraints CA with
    /// path length 0 (it signs only end-entity certificates), key usages certificate and CRL
    /// signing. Errors: [`PkiError::Time`] for an empty lifetime, [`PkiError::Rcgen`].
    pub fn create(now: DateTime<Utc>, lifetime: Duration) -> Result<Ca, PkiError> {
        let key = generate_key(KeyAlgorithm::EcdsaP256, "the CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Jobworks");
        // a random suffix tells installations apart: a certificate of another Jobworks CA is
        // then refused as "unknown issuer", not matched by name and failed on its signature
        let mut suffix = [0u8; 4];
        rand::rng().fill_bytes(&mut suffix);
        dn.push(
            DnType::CommonName,
            format!("{CA_COMMON_NAME} {}", hex::encode(suffix)),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, now, lifetime, None)?;
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|e| PkiError::rcgen("self-signing the CA certificate", e))?;
        let key_pem = key.serialize_pem();
        Ca::from_parts(cert.der().clone(), key, key_pem, "new CA certificate")
    }

    /// A CA from the operator's PEM certificate and PKCS#8 (or SEC1) PEM key. Checks that the
    /// certificate is a CA (basic constraints) and that the key is the certificate's.
    /// `what` names the source in errors (e.g. the file names). Errors: [`PkiError::Parse`],
    /// [`PkiError::Ca`].
    pub fn from_pem(cert_pem: &str, key_pem: &str, what: &str) -> Result<Ca, PkiError> {
        let der = first_cert_der(cert_pem, &format!("CA certificate ({what})"))?;
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| PkiError::parse(format!("CA key ({what})"), e))?;
        Ca::from_parts(der, key, key_pem.to_string(), what)
    }

    fn from_parts(
        der: CertificateDer<'static>,
        key: KeyPair,
        key_pem: String,
        what: &str,
    ) -> Result<Ca, PkiError> {
        let info = CertInfo::from_der(&der, &format!("CA certificate ({what})"))?;
        if !info.is_ca {
            return Err(PkiError::Ca(format!(
                "certificate ({what}) is not a CA certificate (its basic constraints do not \
                 say CA:TRUE)"
            )));
        }
        if Fingerprint::of(&key.subject_public_key_info()) != info.key_fingerprint {
            return Err(PkiError::Ca(format!(
                "key ({what}) is not the key of the CA certificate"
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|e| PkiError::rcgen(format!("reading CA certificate ({what})"), e))?;
        let cert_pem = pem_of(&der);
        Ok(Ca {
            cert_der: der,
            cert_pem,
            key_pem,
            info,
            issuer,
        })
    }

    /// Writes `<dir>/ca.crt` (0644) and `<dir>/ca.key` (0600), creating `dir` with mode 0700
    /// if needed. Errors: [`PkiError::Io`].
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        ensure_private_dir(dir)?;
        write_private(&dir.join(CA_KEY_FILE), self.key_pem.as_bytes())?;
        write_public(&dir.join(CA_CERT_FILE), self.cert_pem.as_bytes())
    }

    /// Reads `<dir>/ca.crt` and `<dir>/ca.key` as [`Ca::save`] wrote them. Errors:
    /// [`PkiError::Io`], [`PkiError::KeyPermissions`] (key readable by others), and those
    /// of [`Ca::from_pem`].
    pub fn load(dir: &Path) -> Result<Ca, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = std::fs::read_to_string(&cert_path)
            .map_err(|e| PkiError::io("reading", &cert_path, e))?;
        let key_pem = read_private(&key_path)?;
        Ca::from_pem(
            &cert_pem,
            &key_pem,
            &format!("{} and {}", cert_path.display(), key_path.display()),
        )
    }

    /// [`Ca::load`] if `<dir>/ca.crt` exists, else [`Ca::create`] (with
    /// [`DEFAULT_CA_LIFETIME`]) and [`Ca::save`]. Returns the CA and whether it was created
    /// now. Errors: as those.
    pub fn load_or_create(dir: &Path, now: DateTime<Utc>) -> Result<(Ca, bool), PkiError> {
        if dir.join(CA_CERT_FILE).exists() {
            return Ok((Ca::load(dir)?, false));
        }
        let ca = Ca::create(now, DEFAULT_CA_LIFETIME)?;
        ca.save(dir)?;
        Ok((ca, true))
    }

    /// The CA certificate as DER (the root agents and the CLI trust).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The pin: SHA-256 of the CA certificate's DER, shown as `sha256:<hex>`.
    pub fn fingerprint(&self) -> Fingerprint {
        self.info.fingerprint
    }

    /// What the CA certificate says (validity, names).
    pub fn info(&self) -> &CertInfo {
        &self.info
    }

    /// Issues a server certificate with a new ECDSA P-256 key for `names` (each a DNS name or
    /// an IP address, e.g. `["jobworks.example.com", "localhost", "127.0.0.1"]`; the first is
    /// also the common name), extended key usage server authentication, valid from
    /// `now − BACKDATE` for `lifetime` but never past the CA's own end. Errors:
    /// [`PkiError::Name`] for no names or a name that is neither, [`PkiError::Time`],
    /// [`PkiError::Rcgen`].
    pub fn issue_server_cert(
        &self,
        names: &[&str],
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<IssuedServerCert, PkiError> {
        let Some(first) = names.first() else {
            return Err(PkiError::Name(
                "a server certificate needs at least one DNS name or IP address".to_string(),
            ));
        };
        for name in names {
            let is_ip = name.parse::<std::net::IpAddr>().is_ok();
            if !is_ip && rustls::pki_types::DnsName::try_from(*name).is_err() {
                return Err(PkiError::Name(format!(
                    "server certificate name `{name}` must be a DNS name or an IP address"
                )));
            }
        }
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(|e| {
                    PkiError::Name(format!(
                        "server certificate names {names:?}: each must be a DNS name or an IP \
                         address ({e})"
                    ))
                })?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, *first);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = generate_key(KeyAlgorithm::EcdsaP256, "the server key")?;
        let cert = self.sign(params, &key, now, lifetime, "the server certificate")?;
        let key_pem = key.serialize_pem();
        let identity = ServerIdentity::new(
            vec![cert.der.clone(), self.cert_der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        );
        Ok(IssuedServerCert {
            cert,
            key_pem,
            identity,
        })
    }

    /// Signs an agent's client certificate for a CSR [`crate::check_csr`] accepted: common
    /// name and DNS SAN = the agent name, the CSR's key, extended key usage client
    /// authentication, key usage digital signature, a random 127-bit serial, valid from
    /// `now − BACKDATE` for `lifetime` ([`crate::DEFAULT_AGENT_CERT_LIFETIME`] is the usual
    /// value) but never past the CA's own end. Nothing else is taken from the CSR: labels
    /// and roles live on the server, not in the certificate. Errors: [`PkiError::Time`] (empty
    /// lifetime, CA expired at `now`), [`PkiError::Rcgen`].
    pub fn sign_agent(
        &self,
        csr: &CheckedCsr,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<IssuedCert, PkiError> {
        let name = csr.name();
        let dns = name
            .to_string()
            .try_into()
            .map_err(|e| PkiError::rcgen(format!("agent name `{name}` as a DNS SAN"), e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::DnsName(dns)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(
            params,
            csr.public_key(),
            now,
            lifetime,
            &format!("the certificate of agent `{name}`"),
        )
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        public_key: &impl PublicKeyData,
        now: DateTime<Utc>,
        lifetime: Duration,
        what: &str,
    ) -> Result<IssuedCert, PkiError> {
        if now >= self.info.not_after {
            return Err(PkiError::Time(format!(
                "the CA expired at {}; {what} cannot be issued at {now}",
                self.info.not_after
            )));
        }
        set_validity(&mut params, now, lifetime, Some(self.info.not_after))?;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(|e| PkiError::rcgen(format!("signing {what}"), e))?;
        let der = cert.der().clone();
        let info = CertInfo::from_der(&der, what)?;
        Ok(IssuedCert {
            pem: cert.pem(),
            der,
            info,
        })
    }
}

/// Sets `not_before = now − BACKDATE` and `not_after = now + lifetime`, the latter capped at
/// `cap`. Errors: [`PkiError::Time`] for a lifetime ≤ 0 or a time X.509 cannot carry.
fn set_validity(
    params: &mut CertificateParams,
    now: DateTime<Utc>,
    lifetime: Duration,
    cap: Option<DateTime<Utc>>,
) -> Result<(), PkiError> {
    if lifetime <= Duration::zero() {
        return Err(PkiError::Time(format!(
            "certificate lifetime must be positive, got {lifetime}"
        )));
    }
    let mut not_after = now + lifetime;
    if let Some(cap) = cap {
        not_after = not_after.min(cap);
    }
    params.not_before = to_offset(now - BACKDATE)?;
    params.not_after = to_offset(not_after)?;
    Ok(())
}

/// 16 random bytes with the top bit clear: a positive serial of 127 random bits (RFC 5280
/// §4.1.2.2 allows up to 20 octets; CA/Browser Forum rules ask for at least 64 random bits).
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// PEM text of a DER certificate.
fn pem_of(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
