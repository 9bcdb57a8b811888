//! Serving the API over TLS: a listener that accepts TCP connections, runs each TLS
//! handshake in a task of its own (so a slow or silent client never holds up the others) and
//! hands finished connections to axum's `serve`, which keeps its graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig as RustlsConfig;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its TLS handshake before it is dropped: 10 s.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for axum, at most this many at once.
const QUEUE: usize = 128;

/// The TLS configuration the API is served with ([`crate::ServerConfig::tls`]).
pub type TlsConfig = Arc<RustlsConfig>;

/// A TLS server configuration for the API: `config` with ALPN set to HTTP/1.1 (the only
/// protocol the server speaks). Build `config` with `jobworks_pki::server_config`.
pub fn api_tls_config(mut config: RustlsConfig) -> TlsConfig {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// An [`axum::serve::Listener`] yielding TLS connections. Dropping it (when axum's graceful
/// shutdown stops accepting) stops the accept task and closes the TCP listener.
pub struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Wraps a bound `listener`; handshakes use `config` (see [`api_tls_config`]).
    /// Errors: the listener's local address cannot be read.
    pub fn new(listener: TcpListener, config: Arc<RustlsConfig>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(QUEUE);
        let accept_task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and the like: back off briefly, as axum's own loop does
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // small request/response exchanges: do not wait to fill segments
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            addr,
            ready,
            accept_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // the accept task never ends while the listener lives; should it, accept nothing
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
