//! Where the CLI finds the server and its token: flags, then environment variables
//! (`JOBWORKS_URL`, `JOBWORKS_TOKEN`, `JOBWORKS_CA`), then the client config file the server writes at first
//! start (`$JOBWORKS_CONFIG`, else `./jobworks-data/client.toml`).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Default server URL.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Resolved client settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080` (no trailing slash).
    pub server_url: String,
    /// API token, if any was found.
    pub token: Option<String>,
    /// A CA certificate (PEM file) to trust for `https://` besides the system roots.
    pub ca: Option<PathBuf>,
}

/// The client config file: `url` and `token`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// Server URL.
    pub url: Option<String>,
    /// API token.
    pub token: Option<String>,
    /// The CA certificate file of a server serving HTTPS with `--tls auto`.
    pub ca: Option<PathBuf>,
}

/// Path of the client config file: `$JOBWORKS_CONFIG`, else `./jobworks-data/client.toml`.
pub fn client_file_path() -> PathBuf {
    std::env::var_os("JOBWORKS_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("jobworks-data").join("client.toml"))
}

/// Reads a client config file; a missing file is an empty config.
///
/// Errors: the file exists but cannot be read or is not valid TOML of the expected shape.
pub fn read_client_file(path: &Path) -> anyhow::Result<ClientFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("invalid client config file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientFile::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the client config file with mode 0600 (it holds a secret).
///
/// Errors: the directory or file cannot be written.
pub fn write_client_file(path: &Path, file: &ClientFile) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = toml::to_string(file).context("cannot encode the client config")?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // `mode` applies only to a new file: tighten one that exists too
    out.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("cannot restrict {} to mode 0600", path.display()))?;
    out.write_all(
        format!("# Written by `jobworks server` at first start. Keep it secret.\n{text}")
            .as_bytes(),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Flags win over environment variables, which win over the config file.
///
/// Errors: the config file exists but is unreadable or malformed.
pub fn resolve_client(
    url_flag: Option<String>,
    token_flag: Option<String>,
    ca_flag: Option<PathBuf>,
) -> anyhow::Result<ClientSettings> {
    let file = read_client_file(&client_file_path())?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let server_url = url_flag
        .or_else(|| env("JOBWORKS_URL"))
        .or(file.url)
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let token = token_flag.or_else(|| env("JOBWORKS_TOKEN")).or(file.token);
    let ca = ca_flag
        .or_else(|| env("JOBWORKS_CA").map(PathBuf::from))
        .or(file.ca);
    Ok(ClientSettings {
        server_url: server_url.trim_end_matches('/').to_string(),
        token,
        ca,
    })
}
