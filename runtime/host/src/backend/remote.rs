//! The `remote` backend: pipelines run on the connection's Exchange server
//! through the PSRP client. The guest runs on a plain thread, so each host
//! call blocks on the client's tokio runtime, bounded by the connection's
//! `HostCallTimeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use idconn_psrp::client::{self, ClientConfig, Pipeline, RunspacePool};

use super::batch::BatchBuilder;
use super::mapping::command_to_psrp;
use super::{PipelineOutput, PowerShell};
use crate::bindings::{Batch, CallError, Command, ErrorRecord};
use crate::settings::{AuthType, Connection};

/// How long closing a session may take before the host gives up on it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Remote {
    runtime: Arc<tokio::runtime::Runtime>,
    pool: Option<RunspacePool>,
    call_timeout: Duration,
    server: String,
}

/// The client settings of a connection. A password given by reference is
/// read here, when the session opens; it stays inside the client's
/// `Secret`.
pub fn client_config(conn: &Connection) -> anyhow::Result<ClientConfig> {
    let password = conn.password.as_ref().map(|p| p.resolve()).transpose()?;
    let auth = match conn.auth {
        AuthType::None => client::Auth::None,
        AuthType::HttpBasic => client::Auth::Basic {
            username: conn.login.clone().unwrap_or_default(),
            password: client::Secret::new(
                password.as_ref().map(|p| p.expose()).unwrap_or_default(),
            ),
        },
        // Usercube's Basic: Kerberos with the explicit Login and Password
        // (settings guarantee both), exactly what Kerberos + Login/Password is.
        AuthType::Kerberos | AuthType::Basic => client::Auth::Kerberos {
            credentials: kerberos_credentials(conn, password.as_ref()),
            scheme: client::KerberosScheme::Negotiate,
        },
        AuthType::Replay => {
            anyhow::bail!("connection {}: Replay is not a remote connection", conn.id)
        }
    };
    let mut config = ClientConfig::new(conn.server.clone(), auth);
    config.configuration_name = conn.configuration_name.clone();
    config.allow_unencrypted = conn.auth == AuthType::HttpBasic && conn.allow_unencrypted;
    config.ca_file = conn.ca_file.clone();
    Ok(config)
}

/// Kerberos credentials: a client keytab, else Login + Password (a
/// private ticket), else the ticket cache.
fn kerberos_credentials(
    conn: &Connection,
    password: Option<&crate::settings::Secret>,
) -> client::KerberosCredentials {
    // Usercube's `DOMAIN\user` is not a principal: the user in the default
    // realm is the closest meaning; `user@REALM` is taken as is.
    let principal = conn
        .login
        .as_deref()
        .map(|login| match login.split_once('\\') {
            Some((_, user)) => user.to_string(),
            None => login.to_string(),
        });
    match (&conn.client_keytab, principal, password) {
        (Some(keytab), principal, _) => client::KerberosCredentials::Keytab {
            keytab: keytab.clone(),
            principal,
        },
        (None, Some(principal), Some(password)) => client::KerberosCredentials::Password {
            principal,
            password: client::Secret::new(password.expose()),
        },
        _ => client::KerberosCredentials::Ambient,
    }
}

impl Remote {
    /// Opens a session on the connection's server (fails fast on a wrong
    /// address or credentials, before any component runs).
    pub fn open(conn: &Connection) -> anyhow::Result<Remote> {
        let config = client_config(conn)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("idconn-psrp")
            .enable_all()
            .build()?;
        let call_timeout = conn.limits.host_call_timeout;
        let pool = runtime
            .block_on(async { tokio::time::timeout(call_timeout, RunspacePool::open(config)).await })
            .map_err(|_| {
                anyhow::anyhow!(
                    "connection {}: {} did not open a session within {call_timeout:?} (setting Limits.HostCallTimeoutSeconds)",
                    conn.id,
                    conn.server
                )
            })?
            .map_err(|e| anyhow::anyhow!("connection {}: cannot open a session on {}: {e}", conn.id, conn.server))?;
        Ok(Remote {
            runtime: Arc::new(runtime),
            pool: Some(pool),
            call_timeout,
            server: conn.server.clone(),
        })
    }
}

impl PowerShell for Remote {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| CallError::Transport("the session is closed".into()))?;
        let commands = pipeline.iter().map(command_to_psrp).collect();
        let running = block_on(&self.runtime, self.call_timeout, pool.invoke(commands))?;
        Ok(Box::new(RemoteOutput {
            runtime: self.runtime.clone(),
            pipeline: Some(running),
            call_timeout: self.call_timeout,
        }))
    }
}

impl Drop for Remote {
    /// Exchange limits concurrent sessions per user: always delete ours.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let closed = self
                .runtime
                .block_on(async { tokio::time::timeout(CLOSE_TIMEOUT, pool.close()).await });
            match closed {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(server = %self.server, "closing the session failed: {e}")
                }
                Err(_) => tracing::warn!(server = %self.server, "closing the session timed out"),
            }
        }
    }
}

struct RemoteOutput {
    runtime: Arc<tokio::runtime::Runtime>,
    /// `None` once the pipeline completed or was stopped.
    pipeline: Option<Pipeline>,
    call_timeout: Duration,
}

impl PipelineOutput for RemoteOutput {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError> {
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Ok(None);
        };
        let batch = block_on(&self.runtime, self.call_timeout, pipeline.next_batch(max))?;
        let Some(values) = batch else {
            return Ok(None);
        };
        let mut builder = BatchBuilder::new();
        for value in &values {
            builder.push_clixml(value);
        }
        builder
            .finish()
            .map(Some)
            .map_err(|e| CallError::Limit(e.to_string()))
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        self.pipeline
            .as_ref()
            .map(|p| p.errors().iter().map(error_record).collect())
            .unwrap_or_default()
    }

    fn warnings(&self) -> Vec<String> {
        self.pipeline
            .as_ref()
            .map(|p| p.warnings().to_vec())
            .unwrap_or_default()
    }
}

impl Drop for RemoteOutput {
    /// A guest that drops its output early stops the pipeline on the server
    /// rather than letting it run on.
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(CLOSE_TIMEOUT, pipeline.stop()).await });
        }
    }
}

fn block_on<T>(
    runtime: &tokio::runtime::Runtime,
    timeout: Duration,
    future: impl std::future::Future<Output = Result<T, client::Error>>,
) -> Result<T, CallError> {
    runtime
        .block_on(async { tokio::time::timeout(timeout, future).await })
        .map_err(|_| CallError::Timeout)?
        .map_err(call_error)
}

fn call_error(error: client::Error) -> CallError {
    match error {
        client::Error::Remote(record) => CallError::Remote(error_record(&record)),
        client::Error::Timeout(_) => CallError::Timeout,
        other => CallError::Transport(other.to_string()),
    }
}

fn error_record(record: &idconn_psrp::message::ErrorRecord) -> ErrorRecord {
    ErrorRecord {
        message: record.message.clone(),
        fully_qualified_error_id: record.fully_qualified_error_id.clone(),
        category: record.category.clone(),
        target: record.target_name.clone(),
    }
}
