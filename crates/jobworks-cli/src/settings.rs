//! STUB written by the CLI engineer so the crate compiles; the lead replaces this file.
//!
//! Client settings: flags, then `JOBWORKS_URL` / `JOBWORKS_TOKEN`, then (in the real version)
//! the config file written at first server start.

/// Where the API is and how to authenticate.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub server_url: String,
    /// Bearer token.
    pub token: Option<String>,
}

/// Resolves client settings: flags > env `JOBWORKS_URL` / `JOBWORKS_TOKEN` > defaults.
pub fn resolve_client(
    url_flag: Option<String>,
    token_flag: Option<String>,
) -> anyhow::Result<ClientSettings> {
    let server_url = url_flag
        .or_else(|| std::env::var("JOBWORKS_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let token = token_flag.or_else(|| std::env::var("JOBWORKS_TOKEN").ok());
    Ok(ClientSettings { server_url, token })
}
