//! HTTP + WS-Management + PSRP server side. Knows nothing of mailboxes: it
//! authenticates, keeps shells and commands, and streams what the
//! [`ExchangeBackend`] produces as Receives arrive.

mod command;
mod http;
mod kerberos;
mod shell;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::backend::{ExchangeBackend, Faults};

pub use shell::ANONYMOUS_USER;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Every request is accepted as user `anonymous`.
    #[default]
    None,
    /// `Authorization: Basic`, checked by the backend.
    Basic,
    /// `Negotiate` or `Kerberos` with the keys of `kerberos_keytab`, and
    /// every message sealed (http). A principal `alice@REALM` is the
    /// backend's user `alice`.
    Kerberos,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub auth: AuthMode,
    /// Exchange's PowerShellMaxConcurrency: shells one user may hold.
    pub max_shells_per_user: usize,
    /// The largest envelope this server sends, whatever the client asks.
    pub max_envelope_size: u32,
    /// Caps a client's OperationTimeout (how long a Receive may wait).
    pub max_operation_timeout: Duration,
    /// Appears in faults (`Machine=`) and shell owners.
    pub server_name: String,
    pub faults: Faults,
    /// Shells without any request for this long are dropped (WinRM's
    /// IdleTimeOut, 2 hours by default): a client that died without Delete
    /// does not hold a slot of the per-user limit forever.
    pub shell_idle_timeout: Duration,
    /// The service keys (`HTTP/<host>`) for `AuthMode::Kerberos`.
    pub kerberos_keytab: Option<std::path::PathBuf>,
    /// `AuthMode::Kerberos` offers (and accepts) `Negotiate`; false leaves
    /// only the raw `Kerberos` scheme, as an endpoint with Negotiate off.
    pub offer_negotiate: bool,
    /// Benchmark control: an unsealed server also seals each answer and
    /// discards it, spending what a sealing server spends (see
    /// `kerberos::sealing_work`).
    pub sealing_work: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: AuthMode::None,
            max_shells_per_user: 18,
            max_envelope_size: 512_000,
            max_operation_timeout: Duration::from_secs(180),
            server_name: "EXCH01".into(),
            faults: Faults::default(),
            shell_idle_timeout: Duration::from_secs(7200),
            kerberos_keytab: None,
            offer_negotiate: true,
            sealing_work: false,
        }
    }
}

/// Serves until the task is dropped or aborted (which also closes every
/// connection it accepted).
pub async fn serve(
    listener: TcpListener,
    backend: Arc<dyn ExchangeBackend>,
    config: ServerConfig,
) -> anyhow::Result<()> {
    serve_until(listener, backend, config, std::future::pending()).await
}

/// Serves until `shutdown` completes.
pub async fn serve_until(
    listener: TcpListener,
    backend: Arc<dyn ExchangeBackend>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = match (config.auth, &config.kerberos_keytab) {
        (AuthMode::Kerberos, Some(keytab)) => Some(kerberos::Acceptor::new(keytab)?),
        (AuthMode::Kerberos, None) => {
            anyhow::bail!("Kerberos authentication needs a keytab with the HTTP/<host> key")
        }
        _ => None,
    };
    let mut server = http::Server::new(backend, config);
    server.acceptor = acceptor;
    http::run(listener, Arc::new(server), shutdown).await
}
