//! `jobworks server`'s TLS flags: plain HTTP (the default), `--tls auto` (a server
//! certificate issued by the internal CA, kept in `<data dir>/pki` and reissued at start when
//! 2/3 of its lifetime has passed or its names changed), or `--tls-cert FILE --tls-key FILE`
//! (the operator's certificate chain and key, PEM).

use anyhow::{Context, bail};
use jobworks_pki::{Ca, CertInfo, ServerIdentity};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The server certificate `--tls auto` issues, in the PKI directory: leaf then CA, PEM.
pub const SERVER_CERT_FILE: &str = "server.crt";
/// Its private key (PKCS#8 PEM, mode 0600).
pub const SERVER_KEY_FILE: &str = "server.key";
/// The names it was issued for, one a line, to reissue when they change.
const SERVER_NAMES_FILE: &str = "server.names";

/// How the server speaks to its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP (`--tls off`, the default).
    Off,
    /// HTTPS with a certificate of the internal CA (`--tls auto`).
    Auto,
    /// HTTPS with the operator's certificate chain and key (`--tls-cert`, `--tls-key`).
    Files {
        /// PEM chain, leaf first.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
    },
}

/// Reads the flags: `tls` is `--tls` (`off`, `auto`, or absent). `--tls-cert` and
/// `--tls-key` go together and imply HTTPS; with `--tls auto` they are refused (one source
/// of certificate only). Errors: an unknown `--tls` value, one file flag without the other,
/// or both modes at once.
pub fn tls_mode(
    tls: Option<&str>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<TlsMode> {
    let files = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsMode::Files {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        (Some(_), None) => bail!("--tls-cert needs --tls-key (the certificate's private key)"),
        (None, Some(_)) => bail!("--tls-key needs --tls-cert (the certificate chain, PEM)"),
    };
    match (tls.map(str::trim), files) {
        (None | Some("off"), None) => Ok(TlsMode::Off),
        (None, Some(files)) => Ok(files),
        (Some("off"), Some(_)) => {
            bail!("--tls off with --tls-cert/--tls-key: leave out --tls to serve those files")
        }
        (Some("auto"), None) => Ok(TlsMode::Auto),
        (Some("auto"), Some(_)) => bail!(
            "--tls auto issues a certificate from the internal CA; with --tls-cert/--tls-key \
             leave out --tls"
        ),
        (Some(other), _) => bail!("--tls {other}: use `auto` or `off`"),
    }
}

/// The names `--tls auto` certifies: the listen address (unless it is unspecified, like
/// 0.0.0.0), `localhost`, 127.0.0.1, and the host name when it is a valid DNS name;
/// no duplicates, in that order. Pure.
pub fn server_names(listen: SocketAddr, host_name: Option<&str>) -> Vec<String> {
    let mut names = Vec::new();
    let mut push = |name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    if !listen.ip().is_unspecified() {
        push(listen.ip().to_string());
    }
    push("localhost".to_string());
    push("127.0.0.1".to_string());
    if let Some(host) = host_name.map(str::trim).filter(|h| !h.is_empty())
        && jobworks_pki::pki_types::DnsName::try_from(host).is_ok()
        && host.parse::<std::net::IpAddr>().is_err()
    {
        push(host.to_ascii_lowercase());
    }
    names
}

/// Builds the server's TLS configuration for `mode` (`None` for [`TlsMode::Off`]) and the
/// CA file clients should trust (`Some` with `--tls auto`: `<pki>/ca.crt`). `--tls auto`
/// reuses `<pki>/server.crt` while it was issued by `ca` for the same names and is not due
/// for renewal at `now`; else issues a new one (365 days). Errors: unreadable or invalid
/// files, naming them.
pub fn prepare(
    mode: &TlsMode,
    ca: &Ca,
    pki_dir: &Path,
    names: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<(jobworks_server::tls::TlsConfig, Option<PathBuf>)>> {
    let identity = match mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => {
            let cert_pem = std::fs::read_to_string(cert)
                .with_context(|| format!("--tls-cert: cannot read {}", cert.display()))?;
            let key_pem = jobworks_pki::read_private(key)
                .with_context(|| format!("--tls-key: cannot read {}", key.display()))?;
            let what = format!(
                "--tls-cert {} / --tls-key {}",
                cert.display(),
                key.display()
            );
            ServerIdentity::from_pem(&cert_pem, &key_pem, &what)?
        }
        TlsMode::Auto => auto_identity(ca, pki_dir, names, now)?,
    };
    let config = jobworks_pki::server_config(&identity, None)
        .context("cannot use the server certificate and key")?;
    let ca_file = (*mode == TlsMode::Auto).then(|| pki_dir.join(jobworks_pki::CA_CERT_FILE));
    Ok(Some((
        jobworks_server::tls::api_tls_config(config),
        ca_file,
    )))
}

/// The certificates of a CA file (`--ca`, `$JOBWORKS_CA`, `ca` in client.toml) for the
/// HTTP client. Errors: the file cannot be read, or holds no PEM certificate (naming it).
pub fn read_ca_certs(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("invalid CA certificate {}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "invalid CA certificate {}: no CERTIFICATE block in the PEM text",
            path.display()
        );
    }
    Ok(certs)
}

/// `--tls auto`'s certificate: the stored one when still good, else a new one, saved.
fn auto_identity(
    ca: &Ca,
    pki_dir: &Path,
    names: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ServerIdentity> {
    let cert_path = pki_dir.join(SERVER_CERT_FILE);
    let key_path = pki_dir.join(SERVER_KEY_FILE);
    let names_path = pki_dir.join(SERVER_NAMES_FILE);
    let wanted = names.join("\n");
    let stored = (|| -> Option<ServerIdentity> {
        let cert_pem = std::fs::read_to_string(&cert_path).ok()?;
        let key_pem = jobworks_pki::read_private(&key_path).ok()?;
        let stored_names = std::fs::read_to_string(&names_path).ok()?;
        if stored_names.trim_end() != wanted {
            return None;
        }
        let info = CertInfo::from_pem(&cert_pem, "server.crt").ok()?;
        if info.should_renew(now) {
            return None;
        }
        let identity = ServerIdentity::from_pem(&cert_pem, &key_pem, "server.crt").ok()?;
        // issued by this CA: the chain carries it after the leaf
        identity
            .chain()
            .iter()
            .any(|c| c.as_ref() == ca.cert_der().as_ref())
            .then_some(identity)
    })();
    if let Some(identity) = stored {
        return Ok(identity);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let issued = ca
        .issue_server_cert(&refs, now, jobworks_pki::DEFAULT_SERVER_CERT_LIFETIME)
        .context("cannot issue the server certificate (--tls auto)")?;
    jobworks_pki::write_private(&key_path, issued.key_pem.as_bytes())?;
    let chain = format!("{}{}", issued.cert.pem, ca.cert_pem());
    jobworks_pki::write_public(&cert_path, chain.as_bytes())?;
    jobworks_pki::write_public(&names_path, format!("{wanted}\n").as_bytes())?;
    tracing::info!(names = %names.join(", "), not_after = %issued.cert.info.not_after,
        "issued the server certificate from the internal CA");
    Ok(issued.identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--tls`, `--tls-cert`, `--tls-key`.
    type Flags<'a> = (Option<&'a str>, Option<&'a Path>, Option<&'a Path>);

    #[test]
    fn the_flags_choose_one_mode() {
        let (c, k) = (Some(Path::new("c.pem")), Some(Path::new("k.pem")));
        let files = TlsMode::Files {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        };
        let ok: [(Flags, TlsMode); 4] = [
            ((None, None, None), TlsMode::Off),
            ((Some("off"), None, None), TlsMode::Off),
            ((Some("auto"), None, None), TlsMode::Auto),
            ((None, c, k), files),
        ];
        for ((tls, cert, key), want) in ok {
            assert_eq!(tls_mode(tls, cert, key).expect("valid"), want, "{tls:?}");
        }
        let bad: [(Flags, &str); 5] = [
            ((Some("on"), None, None), "--tls on: use `auto` or `off`"),
            ((None, c, None), "--tls-cert needs --tls-key"),
            ((None, None, k), "--tls-key needs --tls-cert"),
            ((Some("auto"), c, k), "--tls auto issues"),
            ((Some("off"), c, k), "--tls off with"),
        ];
        for ((tls, cert, key), start) in bad {
            let err = tls_mode(tls, cert, key).expect_err("refused").to_string();
            assert!(err.starts_with(start), "{tls:?}: {err}");
        }
    }

    #[test]
    fn auto_names_cover_the_listen_address_loopback_and_the_host() {
        let table: [(&str, Option<&str>, &[&str]); 4] = [
            (
                "0.0.0.0:8080",
                Some("build-1"),
                &["localhost", "127.0.0.1", "build-1"],
            ),
            (
                "10.0.0.5:8080",
                Some("Edge.example"),
                &["10.0.0.5", "localhost", "127.0.0.1", "edge.example"],
            ),
            ("127.0.0.1:0", None, &["127.0.0.1", "localhost"]),
            (
                "[::1]:8080",
                Some("bad name!"),
                &["::1", "localhost", "127.0.0.1"],
            ),
        ];
        for (listen, host, want) in table {
            let got = server_names(listen.parse().expect("addr"), host);
            assert_eq!(got, want, "{listen} {host:?}");
        }
    }
}
