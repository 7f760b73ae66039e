//! An async WinRM/PSRP client for Exchange's `/PowerShell/` endpoint.
//!
//! Layers: [`transport`] (HTTP/1.1 keep-alive connection, TLS, and an
//! [`Authenticator`] that authenticates and may seal bodies) -> WS-Management
//! envelopes -> PSRP fragments and messages -> CLIXML values.

mod auth;
mod error;
mod kerberos;
mod pipeline;
mod pool;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

pub use auth::{Authenticator, BasicAuthenticator, NoAuthenticator, SealedBody};
pub use error::Error;
pub use kerberos::KerberosAuthenticator;
pub use pipeline::{OutputFormat, Pipeline, MAX_RECORDS};
pub use pool::RunspacePool;

/// A password: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

#[derive(Debug, Clone)]
pub enum Auth {
    /// No Authorization header (tests against a simulator).
    None,
    /// Basic: refused over plain http unless `allow_unencrypted`.
    Basic { username: String, password: Secret },
    /// Kerberos through the system's GSSAPI; every message sealed over
    /// plain http.
    Kerberos {
        credentials: KerberosCredentials,
        /// `Negotiate` (SPNEGO, the default) or raw `Kerberos`; switches
        /// once if the server offers only the other.
        scheme: KerberosScheme,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KerberosScheme {
    #[default]
    Negotiate,
    Kerberos,
}

/// Where the Kerberos ticket comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KerberosCredentials {
    /// The ticket cache (`KRB5CCNAME` or the default), from kinit.
    Ambient,
    /// A ticket for this principal and password, in a private in-memory
    /// cache (the user's cache is never touched).
    Password { principal: String, password: Secret },
    /// A ticket from a client keytab, in a private in-memory cache.
    Keytab {
        keytab: PathBuf,
        principal: Option<String>,
    },
}

/// MaxEnvelopeSize pypsrp and PowerShell start with; raised once the server
/// reports protocol 2.2 or later.
pub const DEFAULT_MAX_ENVELOPE_SIZE: u32 = 153_600;
/// What servers speaking protocol >= 2.2 accept.
pub const LARGE_MAX_ENVELOPE_SIZE: u32 = 512_000;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `http://exch01.contoso.com/PowerShell/`; path and query are sent
    /// exactly as given.
    pub endpoint: String,
    /// The session configuration, e.g. `Microsoft.Exchange`.
    pub configuration_name: String,
    pub auth: Auth,
    /// Allows Basic over plain http (the password then crosses the network
    /// in clear).
    pub allow_unencrypted: bool,
    /// PEM file of CA certificates to trust for https instead of the
    /// system's.
    pub ca_file: Option<PathBuf>,
    /// WS-Management OperationTimeout: how long the server may hold a
    /// Receive before answering `w:TimedOut`.
    pub operation_timeout: Duration,
    pub connect_timeout: Duration,
    /// Limit for one HTTP exchange; must exceed `operation_timeout`.
    pub request_timeout: Duration,
    pub max_envelope_size: u32,
    pub locale: String,
    /// Bytes of what the server sent that the client holds at once (partial
    /// messages and decoded objects not yet taken, over all pipelines); more
    /// fails with [`Error::Limit`].
    pub max_server_data: usize,
    /// One budget for every session opened with this configuration (the
    /// several shells of one job that runs pipelines in parallel), so
    /// `max_server_data` bounds them together; `None`: a budget per session.
    pub shared_budget: Option<std::sync::Arc<crate::budget::Budget>>,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, auth: Auth) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            configuration_name: "Microsoft.Exchange".into(),
            auth,
            allow_unencrypted: false,
            ca_file: None,
            operation_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
            max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE,
            locale: "en-US".into(),
            max_server_data: crate::budget::DEFAULT_MAX_SERVER_DATA,
            shared_budget: None,
        }
    }
}
