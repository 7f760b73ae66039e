//! The `remote` backend: pipelines run on the connection's Exchange server
//! through the PSRP client. The guest runs on a plain thread, so each host
//! call blocks on the client's tokio runtime, bounded by the connection's
//! `HostCallTimeoutSeconds`.
//!
//! A transient failure (a dropped connection, a timed-out call, Exchange's
//! throttling: see transient.rs) is remembered; the next `invoke` first
//! waits as Exchange asked and, when the session may be broken, deletes it
//! and opens a new one. The component then runs its pipeline again. Each
//! such recovery counts against the connection's `MaxRetries`; past it,
//! `invoke` fails with a limit error naming the setting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use idconn_psrp::client::{self, ClientConfig, Pipeline, RunspacePool};

use super::batch::BatchBuilder;
use super::mapping::command_to_psrp;
use super::transient::{self, Recovery};
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
    /// To open a new session after a transient failure.
    config: ClientConfig,
    connection: String,
    max_retries: u32,
    retries: u32,
    /// Set by a failed call (of `invoke` or of an output's `next`): what the
    /// next `invoke` must do first.
    pending: Arc<Mutex<Option<Recovery>>>,
}

/// The client settings of a connection. The password stays inside the
/// client's `Secret`.
pub fn client_config(conn: &Connection) -> anyhow::Result<ClientConfig> {
    let auth = match conn.auth {
        AuthType::None => client::Auth::None,
        AuthType::Basic => client::Auth::Basic {
            username: conn.login.clone().unwrap_or_default(),
            password: client::Secret::new(
                conn.password
                    .as_ref()
                    .map(|p| p.expose())
                    .unwrap_or_default(),
            ),
        },
        AuthType::Kerberos => client::Auth::Kerberos {
            credentials: kerberos_credentials(conn),
            scheme: client::KerberosScheme::Negotiate,
        },
        AuthType::Replay => {
            anyhow::bail!("connection {}: Replay is not a remote connection", conn.id)
        }
    };
    let mut config = ClientConfig::new(conn.server.clone(), auth);
    config.configuration_name = conn.configuration_name.clone();
    config.allow_unencrypted = conn.allow_unencrypted;
    config.ca_file = conn.ca_file.clone();
    Ok(config)
}

/// Kerberos credentials: a client keytab, else Login + Password (a
/// private ticket), else the ticket cache.
fn kerberos_credentials(conn: &Connection) -> client::KerberosCredentials {
    // Usercube's `DOMAIN\user` is not a principal: the user in the default
    // realm is the closest meaning; `user@REALM` is taken as is.
    let principal = conn
        .login
        .as_deref()
        .map(|login| match login.split_once('\\') {
            Some((_, user)) => user.to_string(),
            None => login.to_string(),
        });
    match (&conn.client_keytab, principal, &conn.password) {
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
        let pool = open_pool(&runtime, &config, call_timeout)
            .map_err(|e| anyhow::anyhow!("connection {}: {e}", conn.id))?;
        Ok(Remote {
            runtime: Arc::new(runtime),
            pool: Some(pool),
            call_timeout,
            server: conn.server.clone(),
            config,
            connection: conn.id.clone(),
            max_retries: conn.max_retries,
            retries: 0,
            pending: Arc::new(Mutex::new(None)),
        })
    }

    /// Before a call: waits and reconnects as the last transient failure
    /// needs, within `MaxRetries`.
    fn recover(&mut self) -> Result<(), CallError> {
        let Some(recovery) = take(&self.pending) else {
            return Ok(());
        };
        if self.retries >= self.max_retries {
            let error = CallError::Limit(format!(
                "gave up after {} retries (setting Connections.{}.MaxRetries); the last failure: {}",
                self.retries, self.connection, recovery.cause
            ));
            // Every later call fails the same way.
            set(&self.pending, recovery);
            return Err(error);
        }
        self.retries += 1;
        tracing::warn!(
            server = %self.server,
            "retry {} of {} after: {}; waiting {:?}{}",
            self.retries,
            self.max_retries,
            recovery.cause,
            recovery.wait,
            if recovery.reconnect { ", then a new session" } else { "" }
        );
        if !recovery.wait.is_zero() {
            // On the host's clock, outside the component's CPU budget.
            // The timer is created inside the runtime, which owns it.
            let wait = recovery.wait;
            self.runtime
                .block_on(async move { tokio::time::sleep(wait).await });
        }
        if recovery.reconnect {
            // Exchange counts open shells against the user's limit: the old
            // one is deleted before a new one is opened.
            if let Some(pool) = self.pool.take() {
                close_pool(&self.runtime, pool, &self.server);
            }
            match open_pool(&self.runtime, &self.config, self.call_timeout) {
                Ok(pool) => self.pool = Some(pool),
                Err(e) => {
                    let cause = idconn_psrp::untrusted::line(&e.to_string());
                    set(
                        &self.pending,
                        Recovery {
                            reconnect: true,
                            wait: Duration::ZERO,
                            cause: cause.clone(),
                        },
                    );
                    return Err(CallError::Transport(cause));
                }
            }
        }
        Ok(())
    }
}

/// Opens a session within `call_timeout`; the error says what happened
/// without the password (it stays inside the client's `Secret`).
fn open_pool(
    runtime: &tokio::runtime::Runtime,
    config: &ClientConfig,
    call_timeout: Duration,
) -> anyhow::Result<RunspacePool> {
    let server = &config.endpoint;
    runtime
        .block_on(async {
            tokio::time::timeout(call_timeout, RunspacePool::open(config.clone())).await
        })
        .map_err(|_| {
            anyhow::anyhow!(
                "{server} did not open a session within {call_timeout:?} (setting Limits.HostCallTimeoutSeconds)"
            )
        })?
        .map_err(|e| anyhow::anyhow!("cannot open a session on {server}: {e}"))
}

/// Deletes a session's shell, giving up after [`CLOSE_TIMEOUT`].
fn close_pool(runtime: &tokio::runtime::Runtime, pool: RunspacePool, server: &str) {
    let closed =
        runtime.block_on(async { tokio::time::timeout(CLOSE_TIMEOUT, pool.close()).await });
    match closed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(server = %server, "closing the session failed: {e}"),
        Err(_) => tracing::warn!(server = %server, "closing the session timed out"),
    }
}

fn take(pending: &Mutex<Option<Recovery>>) -> Option<Recovery> {
    pending.lock().map(|mut p| p.take()).unwrap_or_default()
}

fn set(pending: &Mutex<Option<Recovery>>, recovery: Recovery) {
    if let Ok(mut p) = pending.lock() {
        *p = Some(recovery);
    }
}

impl PowerShell for Remote {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        self.recover()?;
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| CallError::Transport("the session is closed".into()))?;
        let commands = pipeline.iter().map(command_to_psrp).collect();
        let running = block_on(
            &self.runtime,
            self.call_timeout,
            &self.pending,
            pool.invoke(commands),
        )?;
        Ok(Box::new(RemoteOutput {
            runtime: self.runtime.clone(),
            pipeline: Some(running),
            call_timeout: self.call_timeout,
            pending: self.pending.clone(),
        }))
    }
}

impl Drop for Remote {
    /// Exchange limits concurrent sessions per user: always delete ours.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            close_pool(&self.runtime, pool, &self.server);
        }
    }
}

struct RemoteOutput {
    runtime: Arc<tokio::runtime::Runtime>,
    /// `None` once the pipeline completed or was stopped.
    pipeline: Option<Pipeline>,
    call_timeout: Duration,
    pending: Arc<Mutex<Option<Recovery>>>,
}

impl PipelineOutput for RemoteOutput {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError> {
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Ok(None);
        };
        let batch = block_on(
            &self.runtime,
            self.call_timeout,
            &self.pending,
            pipeline.next_batch(max),
        )?;
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

/// Runs a client call within `timeout`; a transient failure is recorded in
/// `pending` for the next `invoke`.
fn block_on<T>(
    runtime: &tokio::runtime::Runtime,
    timeout: Duration,
    pending: &Mutex<Option<Recovery>>,
    future: impl std::future::Future<Output = Result<T, client::Error>>,
) -> Result<T, CallError> {
    let Ok(result) = runtime.block_on(async { tokio::time::timeout(timeout, future).await }) else {
        set(pending, transient::timed_out());
        return Err(CallError::Timeout);
    };
    result.map_err(|error| {
        let recovery = transient::recovery(&error);
        let call = call_error(error);
        // Every failure the component sees as a transport failure may be
        // retried by it, so each one counts against MaxRetries and gets a
        // new session (a garbled answer leaves the session's state unknown).
        let recovery = recovery.or_else(|| match &call {
            CallError::Transport(cause) => Some(Recovery {
                reconnect: true,
                wait: Duration::ZERO,
                cause: idconn_psrp::untrusted::line(cause),
            }),
            _ => None,
        });
        if let Some(recovery) = recovery {
            set(pending, recovery);
        }
        call
    })
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
