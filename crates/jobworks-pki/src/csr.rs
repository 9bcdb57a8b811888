//! Checking an agent's certificate signing request before the CA signs it.

use rcgen::{CertificateSigningRequestParams, DnType, DnValue, IsCa, PublicKeyData, SanType};

use crate::{Fingerprint, PkiError, check_agent_name};

/// A CSR that passed [`check_csr`]: its name and public key, and nothing else from it (the
/// CA decides every other field of the certificate).
#[derive(Debug)]
pub struct CheckedCsr {
    name: String,
    key_fingerprint: Fingerprint,
    public_key: rcgen::PublicKey,
}

impl CheckedCsr {
    /// The agent name the CSR asks for (checked by [`check_agent_name`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the CSR's SubjectPublicKeyInfo DER: the agent's identity. The caller
    /// compares it with the key fingerprint it holds for `name` and refuses another key.
    pub fn key_fingerprint(&self) -> Fingerprint {
        self.key_fingerprint
    }

    pub(crate) fn public_key(&self) -> &rcgen::PublicKey {
        &self.public_key
    }
}

/// Checks a PEM CSR from an agent:
/// - it parses, and its signature verifies with the key it carries (proof of possession);
/// - its key is ECDSA P-256 or Ed25519 (what Jobworks agents make and rustls with aws-lc-rs
///   verifies in client certificates);
/// - its subject has exactly one common name, which [`check_agent_name`] accepts;
/// - its subject alternative names, if any, are exactly that name as one DNS name;
/// - it does not ask to be a CA.
///
/// Errors: [`PkiError::Csr`] saying which check failed; [`PkiError::Name`] for the name.
pub fn check_csr(pem: &str) -> Result<CheckedCsr, PkiError> {
    let csr = CertificateSigningRequestParams::from_pem(pem).map_err(|e| {
        PkiError::Csr(match e {
            rcgen::Error::InvalidCertificationRequestSignature => {
                "its signature does not verify with the key it carries".to_string()
            }
            rcgen::Error::CouldNotParseCertificationRequest => {
                "it is not a PEM or DER PKCS#10 certificate request".to_string()
            }
            rcgen::Error::UnsupportedExtension => {
                "it requests an extension other than subject alternative names, key usage, \
                 extended key usage and basic constraints"
                    .to_string()
            }
            other => format!("it cannot be read: {other}"),
        })
    })?;
    let alg = csr.public_key.algorithm();
    if alg != &rcgen::PKCS_ECDSA_P256_SHA256 && alg != &rcgen::PKCS_ED25519 {
        return Err(PkiError::Csr(format!(
            "its key is {alg:?}; agent keys must be ECDSA P-256 or Ed25519"
        )));
    }
    let params = &csr.params;
    let names: Vec<&DnValue> = params
        .distinguished_name
        .iter()
        .filter(|(ty, _)| **ty == DnType::CommonName)
        .map(|(_, v)| v)
        .collect();
    let name = match names.as_slice() {
        [one] => dn_text(one).ok_or_else(|| {
            PkiError::Csr("its common name is not a printable or UTF-8 string".to_string())
        })?,
        [] => return Err(PkiError::Csr("its subject has no common name".to_string())),
        _ => {
            return Err(PkiError::Csr(format!(
                "its subject has {} common names; it must have one, the agent name",
                names.len()
            )));
        }
    };
    check_agent_name(&name)?;
    for san in &params.subject_alt_names {
        match san {
            SanType::DnsName(dns) if dns.as_str() == name => {}
            other => {
                return Err(PkiError::Csr(format!(
                    "it asks for the subject alternative name {other:?}; only the agent name \
                     `{name}` as a DNS name is allowed"
                )));
            }
        }
    }
    if params.subject_alt_names.len() > 1 {
        return Err(PkiError::Csr(
            "it repeats the agent name in its subject alternative names".to_string(),
        ));
    }
    if !matches!(params.is_ca, IsCa::NoCa | IsCa::ExplicitNoCa) {
        return Err(PkiError::Csr("it asks to be a CA".to_string()));
    }
    let key_fingerprint = Fingerprint::of(&csr.public_key.subject_public_key_info());
    Ok(CheckedCsr {
        name,
        key_fingerprint,
        public_key: csr.public_key,
    })
}

fn dn_text(value: &DnValue) -> Option<String> {
    match value {
        DnValue::PrintableString(s) => Some(s.as_str().to_string()),
        DnValue::Utf8String(s) => Some(s.clone()),
        DnValue::Ia5String(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}
