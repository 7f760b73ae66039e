//! The `remote` backend: pipelines run on the connection's server
//! through the PSRP client. The guest runs on a plain thread, so each host
//! call blocks on the client's tokio runtime, bounded by the connection's
//! `HostCallTimeoutSeconds`.
//!
//! A transient failure (a dropped connection, a timed-out call, the
//! server's throttling: see transient.rs) is remembered; the next `invoke` first
//! waits as Exchange asked and, when the session may be broken, deletes it
//! and opens a new one. The component then runs its pipeline again. Each
//! such recovery counts against the connection's `MaxRetries`; past it,
//! `invoke` fails with a limit error naming the setting.
//!
//! Pipelines run concurrently: each output the component holds open runs
//! its pipeline on a shell of its own (shells.rs), receiving and decoding
//! ahead of the component by a few envelopes (the client's pipeline task),
//! so a component that pulls several outputs in turn gets the server's
//! parallelism. At most `MaxParallelPipelines` run at once; one budget
//! (`MaxServerDataMiB`) covers all of them.

use std::sync::{Arc, Mutex};

use super::shells::{Lease, ShellState, Shells, Slot};
use std::time::Duration;

use idconn_psrp::budget::Charge;
use idconn_psrp::client::{self, ClientConfig, OutputFormat, Pipeline, RunspacePool};
use idconn_psrp::clixml::flat::FlatBatch;

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
    shells: Shells,
    call_timeout: Duration,
    server: String,
    /// To open a new session after a transient failure.
    config: ClientConfig,
    connection: String,
    max_retries: u32,
    retries: u32,
    /// The final failure was logged: later calls fail without a new line.
    gave_up_logged: bool,
    /// Set by a failed call (of `invoke` or of an output's `next`): what the
    /// next `invoke` must do first.
    pending: Arc<Pending>,
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
    config.configuration_name = conn
        .configuration_name
        .clone()
        .unwrap_or_else(|| crate::settings::DEFAULT_CONFIGURATION_NAME.to_string());
    config.allow_unencrypted = conn.auth == AuthType::HttpBasic && conn.allow_unencrypted;
    config.ca_file = conn.ca_file.clone();
    config.max_server_data = conn.limits.max_server_data_bytes;
    // The job's shells hold what the server sent within one budget.
    config.shared_budget = Some(idconn_psrp::budget::Budget::new(
        conn.limits.max_server_data_bytes,
    ));
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
        let pool = open_pool(&runtime, &config, call_timeout)
            .map_err(|e| anyhow::anyhow!("connection {}: {e}", conn.id))?;
        Ok(Remote {
            runtime: Arc::new(runtime),
            shells: Shells::new(pool, conn.max_parallel_pipelines as usize),
            call_timeout,
            server: conn.server.clone(),
            config,
            connection: conn.id.clone(),
            max_retries: conn.max_retries,
            retries: 0,
            gave_up_logged: false,
            pending: Arc::new(Pending {
                slot: Mutex::new(None),
                retryable_errors: conn.retryable_errors.clone(),
            }),
        })
    }

    /// Before a call: waits and reconnects as the last transient failure
    /// needs, within `MaxRetries`.
    fn recover(&mut self) -> Result<(), CallError> {
        let Some(recovery) = take(&self.pending) else {
            return Ok(());
        };
        if self.retries >= self.max_retries {
            // The cause may name the server's address: the host's log only.
            if !self.gave_up_logged {
                self.gave_up_logged = true;
                tracing::warn!(
                    server = %self.server,
                    "gave up after {} retries (setting Connections.{}.MaxRetries); the last failure: {}",
                    self.retries,
                    self.connection,
                    recovery.cause
                );
            }
            let error = CallError::Limit(format!(
                "gave up after {} retries (setting Connections.{}.MaxRetries; the last failure is in the host's log)",
                self.retries, self.connection
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
            // Exchange counts open shells against the user's limit: the
            // broken ones are deleted before a new one is opened (by
            // `shell`, when no open one is free).
            for shell in self.shells.take_broken() {
                close_pool(&self.runtime, shell.pool, &self.server);
            }
        }
        Ok(())
    }

    /// The index of a free shell, opened now if none is and the limit
    /// allows one more.
    fn shell(&mut self) -> Result<usize, CallError> {
        match self.shells.slot() {
            Slot::Free(index) => Ok(index),
            Slot::Full => Err(CallError::Limit(format!(
                "{} pipelines are already running; finish or drop one first (setting Connections.{}.MaxParallelPipelines)",
                self.shells.max, self.connection
            ))),
            Slot::New => match open_pool(&self.runtime, &self.config, self.call_timeout) {
                Ok(pool) => {
                    self.shells.open.push(super::shells::Shell::new(pool));
                    Ok(self.shells.open.len() - 1)
                }
                Err(e) => {
                    // The error names the server: the host's log only.
                    let cause = idconn_psrp::untrusted::line(&e.to_string());
                    tracing::warn!(server = %self.server, "cannot open a new session: {cause}");
                    set(
                        &self.pending,
                        Recovery {
                            reconnect: true,
                            wait: Duration::ZERO,
                            cause,
                        },
                    );
                    Err(CallError::Transport(TRANSPORT_ERROR.into()))
                }
            },
        }
    }

    /// Shells open now (tests: one per pipeline running at once).
    pub fn open_shells(&self) -> usize {
        self.shells.open.len()
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
    // The client bounds the open itself: past the deadline it still deletes
    // the shell the server created before it returns (Exchange caps shells
    // per user, so timed-out opens, first or after a reconnect, must not
    // pile up).
    runtime
        .block_on(RunspacePool::open_within(config.clone(), call_timeout))
        .map_err(|e| match e {
            client::Error::Timeout(_) => anyhow::anyhow!(
                "{server} did not open a session within {call_timeout:?} (setting Limits.HostCallTimeoutSeconds)"
            ),
            client::Error::Limit(limit) => anyhow::anyhow!(
                "opening a session on {server}: {limit} (setting Limits.MaxServerDataMiB)"
            ),
            e => anyhow::anyhow!("cannot open a session on {server}: {e}"),
        })
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

/// The recovery the next call needs, and what decides it: the component's
/// retryable error id prefixes.
struct Pending {
    slot: Mutex<Option<Recovery>>,
    retryable_errors: Vec<String>,
}

fn take(pending: &Pending) -> Option<Recovery> {
    pending
        .slot
        .lock()
        .map(|mut p| p.take())
        .unwrap_or_default()
}

fn set(pending: &Pending, recovery: Recovery) {
    if let Ok(mut p) = pending.slot.lock() {
        *p = Some(recovery);
    }
}

impl PowerShell for Remote {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        self.recover()?;
        let index = self.shell()?;
        let shell = &self.shells.open[index];
        // Held from here: a failed start gives the shell back at once.
        let lease = shell.lease();
        let commands = pipeline.iter().map(command_to_psrp).collect();
        let running = block_on(
            &self.runtime,
            self.call_timeout,
            &self.pending,
            lease.state(),
            // Output decoded straight into the batch layout, on the
            // pipeline's receiving task (clixml/flat.rs).
            shell.pool.invoke_as(commands, OutputFormat::Flat),
        )?;
        Ok(Box::new(RemoteOutput {
            runtime: self.runtime.clone(),
            pipeline: Some(running),
            call_timeout: self.call_timeout,
            pending: self.pending.clone(),
            lease: Some(lease),
            part: None,
            handed_out: None,
        }))
    }
}

impl Drop for Remote {
    /// Exchange limits concurrent sessions per user: always delete ours.
    fn drop(&mut self) {
        for shell in self.shells.take_all() {
            close_pool(&self.runtime, shell.pool, &self.server);
        }
    }
}

struct RemoteOutput {
    runtime: Arc<tokio::runtime::Runtime>,
    /// `None` once the pipeline completed or was stopped.
    pipeline: Option<Pipeline>,
    call_timeout: Duration,
    pending: Arc<Pending>,
    /// The shell the pipeline runs on, given back once the pipeline ended
    /// (all read, or failed) or the output is dropped.
    lease: Option<Lease>,
    /// An envelope's objects larger than the component's `max`, handed out
    /// in parts: the batch, its budget and the next object.
    part: Option<(FlatBatch, Charge, usize)>,
    /// The budget of the last batch handed out, released at the next call
    /// (the component has copied the batch by then).
    handed_out: Option<Charge>,
}

impl PipelineOutput for RemoteOutput {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError> {
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Ok(None);
        };
        let Some(lease) = self.lease.as_ref() else {
            return Ok(None);
        };
        self.handed_out = None;
        let max = max.max(1);
        let (flat, charge, next) = match self.part.take() {
            Some(part) => part,
            None => {
                let received = match block_on(
                    &self.runtime,
                    self.call_timeout,
                    &self.pending,
                    lease.state(),
                    pipeline.next_flat(),
                ) {
                    Ok(received) => received,
                    Err(e) => {
                        // The pipeline is over: its shell may run the next
                        // one (or, broken, be replaced by the next invoke).
                        self.lease = None;
                        return Err(e);
                    }
                };
                let Some((flat, charge)) = received else {
                    self.lease = None;
                    return Ok(None);
                };
                (flat, charge, 0)
            }
        };
        let batch = if next == 0 && flat.len() <= max {
            BatchBuilder::from_flat(flat)
        } else {
            let end = flat.len().min(next.saturating_add(max));
            let mut builder = BatchBuilder::new();
            for object in flat.objects.get(next..end).unwrap_or_default() {
                builder.push_flat(&flat, object);
            }
            if end < flat.len() {
                self.part = Some((flat, charge, end));
                return builder
                    .finish()
                    .map(Some)
                    .map_err(|e| CallError::Limit(e.to_string()));
            }
            builder.finish()
        };
        self.handed_out = Some(charge);
        batch.map(Some).map_err(|e| CallError::Limit(e.to_string()))
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        let Some(pipeline) = self.pipeline.as_ref() else {
            return Vec::new();
        };
        let mut errors: Vec<ErrorRecord> = pipeline.errors().iter().map(error_record).collect();
        // The client keeps the first records only; the component learns how
        // many more there were.
        if pipeline.dropped_errors() > 0 {
            errors.push(ErrorRecord {
                message: format!(
                    "{} more error records from the server were dropped (only the first {} are kept)",
                    pipeline.dropped_errors(),
                    client::MAX_RECORDS
                ),
                fully_qualified_error_id: "idconn.ErrorRecordsDropped".into(),
                category: "LimitsExceeded".into(),
                target: None,
            });
        }
        errors
    }

    fn warnings(&self) -> Vec<String> {
        let Some(pipeline) = self.pipeline.as_ref() else {
            return Vec::new();
        };
        let mut warnings = pipeline.warnings().to_vec();
        if pipeline.dropped_warnings() > 0 {
            warnings.push(format!(
                "{} more warnings from the server were dropped (only the first {} are kept)",
                pipeline.dropped_warnings(),
                client::MAX_RECORDS
            ));
        }
        warnings
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
    pending: &Pending,
    shell: &ShellState,
    future: impl std::future::Future<Output = Result<T, client::Error>>,
) -> Result<T, CallError> {
    let Ok(result) = runtime.block_on(async { tokio::time::timeout(timeout, future).await }) else {
        // The component gets `timeout`; the operator learns which limit.
        tracing::warn!(
            "a call to the server took longer than {timeout:?} and was stopped (setting Limits.HostCallTimeoutSeconds)"
        );
        set(pending, transient::timed_out());
        shell.mark_broken();
        return Err(CallError::Timeout);
    };
    result.map_err(|error| {
        let recovery = transient::recovery(&error, &pending.retryable_errors);
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
            if recovery.reconnect {
                shell.mark_broken();
            }
            set(pending, recovery);
        }
        call
    })
}

/// What the guest is told when the server cannot be reached. The details
/// (address, port, the system's error) go to the host's log only: the
/// server's address never enters a component.
pub const TRANSPORT_ERROR: &str =
    "cannot reach the PowerShell endpoint (the details are in the host's log)";

fn call_error(error: client::Error) -> CallError {
    match error {
        client::Error::Remote(record) => CallError::Remote(error_record(&record)),
        client::Error::Timeout(why) => {
            tracing::warn!(
                "a call to the PowerShell endpoint timed out: {}",
                idconn_psrp::untrusted::line(&why)
            );
            CallError::Timeout
        }
        client::Error::Limit(limit) => {
            CallError::Limit(format!("{limit} (setting Limits.MaxServerDataMiB)"))
        }
        other => {
            tracing::warn!(
                "a call to the PowerShell endpoint failed: {}",
                idconn_psrp::untrusted::line(&other.to_string())
            );
            CallError::Transport(TRANSPORT_ERROR.into())
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_transport_error_reaches_the_guest_without_the_servers_address() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = ClientConfig::new(
            format!("http://localhost:{port}/PowerShell/"),
            client::Auth::None,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = match runtime.block_on(RunspacePool::open(config)) {
            Ok(_) => panic!("a session opened on a closed port"),
            Err(e) => e,
        };
        // The client's own error names the address (for the host's log)...
        assert!(error.to_string().contains(&port.to_string()), "{error}");
        // ...the guest's does not.
        match call_error(error) {
            CallError::Transport(text) => {
                assert_eq!(text, TRANSPORT_ERROR);
                assert!(!text.contains(&port.to_string()) && !text.contains("localhost"));
            }
            other => panic!("not a transport error: {other:?}"),
        }
    }
}
