//! Reading certificates back (validity, names, key fingerprint) and deciding when to renew.

use chrono::{DateTime, Duration, Utc};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{Fingerprint, PkiError};

/// Default lifetime of an agent's client certificate: 30 days (short-lived, so a revoked
/// agent's certificate stops working soon even without revocation lists).
pub const DEFAULT_AGENT_CERT_LIFETIME: Duration = Duration::days(30);

/// Default lifetime of a server certificate issued by the internal CA: 365 days.
pub const DEFAULT_SERVER_CERT_LIFETIME: Duration = Duration::days(365);

/// How far before `now` issued certificates start (`not_before = now − BACKDATE`), so a
/// peer whose clock is a little behind accepts them at once: 5 minutes, as cfssl backdates.
pub const BACKDATE: Duration = Duration::minutes(5);

/// What a certificate says about itself, read with x509-parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Start of validity (second precision, as X.509 carries it).
    pub not_before: DateTime<Utc>,
    /// End of validity (second precision).
    pub not_after: DateTime<Utc>,
    /// The subject's first common name, if any.
    pub common_name: Option<String>,
    /// The DNS names of the subject alternative name extension, in order.
    pub dns_names: Vec<String>,
    /// Whether basic constraints mark it as a CA.
    pub is_ca: bool,
    /// SHA-256 of the whole certificate's DER (the CA pin when this is the CA).
    pub fingerprint: Fingerprint,
    /// SHA-256 of the subject's SubjectPublicKeyInfo DER (an agent's identity).
    pub key_fingerprint: Fingerprint,
    /// The serial number in lower-case hex.
    pub serial: String,
}

impl CertInfo {
    /// Reads a DER certificate. Errors: [`PkiError::Parse`] naming `what` (e.g. "agent
    /// certificate agent.crt") and x509-parser's complaint.
    pub fn from_der(der: &[u8], what: &str) -> Result<CertInfo, PkiError> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PkiError::parse(what, format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(PkiError::parse(
                what,
                format!("{} bytes after the certificate", rest.len()),
            ));
        }
        let time = |t: x509_parser::time::ASN1Time, which: &str| {
            DateTime::<Utc>::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| PkiError::parse(what, format!("{which} is out of range")))
        };
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                    dns_names.push((*dns).to_string());
                }
            }
        }
        Ok(CertInfo {
            not_before: time(cert.validity().not_before, "not-before")?,
            not_after: time(cert.validity().not_after, "not-after")?,
            common_name,
            dns_names,
            is_ca: cert.is_ca(),
            fingerprint: Fingerprint::of(der),
            key_fingerprint: Fingerprint::of(cert.public_key().raw),
            serial: hex::encode(cert.raw_serial()),
        })
    }

    /// [`should_renew`] for this certificate's validity at `now`.
    pub fn should_renew(&self, now: DateTime<Utc>) -> bool {
        should_renew(self.not_before, self.not_after, now)
    }

    /// Reads the first certificate of a PEM text. Errors: as [`CertInfo::from_der`], and
    /// [`PkiError::Parse`] if the text holds no certificate.
    pub fn from_pem(pem: &str, what: &str) -> Result<CertInfo, PkiError> {
        let der = first_cert_der(pem, what)?;
        CertInfo::from_der(&der, what)
    }
}

/// Whether a certificate valid from `not_before` to `not_after` should be renewed at `now`:
/// once 2/3 of its lifetime has passed (the kubelet's rotation point, without its jitter),
/// and of course once it has expired. A certificate whose period is empty or reversed is
/// always due. Pure; the caller passes `now`.
pub fn should_renew(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let lifetime = not_after - not_before;
    if lifetime <= Duration::zero() {
        return true;
    }
    now >= not_before + lifetime * 2 / 3
}

/// The first `CERTIFICATE` block of a PEM text as DER.
pub(crate) fn first_cert_der(pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    all_cert_ders(pem, what)?
        .into_iter()
        .next()
        .ok_or_else(|| PkiError::parse(what, "no CERTIFICATE block in the PEM text"))
}

/// Every `CERTIFICATE` block of a PEM text, in order.
pub(crate) fn all_cert_ders(
    pem: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::parse(what, format!("bad PEM: {e}")))
}

/// A chrono time as the `time` crate's, which rcgen takes. Errors: [`PkiError::Time`] for a
/// time X.509 cannot carry.
pub(crate) fn to_offset(t: DateTime<Utc>) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|e| PkiError::Time(format!("time {t} cannot go into a certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_renew_table() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let days = Duration::days;
        // (not_before, not_after, now, due)
        let table = [
            (t0, t0 + days(30), t0, false),
            (t0, t0 + days(30), t0 + days(19), false),
            (
                t0,
                t0 + days(30),
                t0 + days(20) - Duration::seconds(1),
                false,
            ),
            (t0, t0 + days(30), t0 + days(20), true),
            (t0, t0 + days(30), t0 + days(29), true),
            (t0, t0 + days(30), t0 + days(31), true),
            (t0, t0 + days(30), t0 - days(1), false),
            (t0, t0 + days(3), t0 + days(2), true),
            (t0, t0 + days(3), t0 + days(1), false),
            (t0, t0, t0, true),
            (t0 + days(1), t0, t0, true),
        ];
        for (nb, na, now, due) in table {
            assert_eq!(should_renew(nb, na, now), due, "{nb} .. {na} at {now}");
        }
    }
}
