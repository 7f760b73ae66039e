//! A RunspacePool is one WinRM shell. Every exit path deletes it, because
//! Exchange caps concurrent shells per user (PowerShellMaxConcurrency).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use super::auth::{Authenticator, BasicAuthenticator, NoAuthenticator};
use super::error::Error;
use super::pipeline::{OutputFormat, Pipeline};
use super::transport::Transport;
use super::{Auth, ClientConfig, LARGE_MAX_ENVELOPE_SIZE};
use crate::budget::Budget;
use crate::fragment::{fragment_budget, DefragmentLimits, Defragmenter, Fragmenter};
use crate::message::{self, runspace_state, Destination, Message, MessageType};
use crate::state::{ProtocolVersion, RunspacePoolState};
use crate::untrusted;
use crate::wsman;
use crate::wsman::client::{self as ws, ReceiveResponse, RequestContext};
use crate::Command;

/// Receives allowed while opening before we call the server unresponsive
/// (each either brings a message or times out on the server's side).
const MAX_OPEN_RECEIVES: usize = 64;

pub(crate) struct Session {
    transport: tokio::sync::Mutex<Transport>,
    pub(crate) ctx: RequestContext,
    pub(crate) shell_id: String,
    pub(crate) rpid: Uuid,
    pub(crate) protocol: ProtocolVersion,
    fragmenter: Mutex<Fragmenter>,
    deleted: AtomicBool,
    /// What the server sent that the session holds at once: partial
    /// messages and decoded output of every pipeline.
    pub(crate) budget: Arc<Budget>,
    /// Response bodies and stream buffers handed back once read, for the
    /// next Receive (see [`Transport::post_into`]).
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept for reuse: a Receive in flight and one being decoded need
/// a body and a stream buffer or two each.
const SPARE_BUFFERS: usize = 8;
/// A buffer over twice the negotiated envelope size (or 1 MiB), from an
/// unusually large response, is not kept: what the spares hold beyond the
/// `MaxServerDataMiB` budget stays under 8 MiB for the usual 512 KB
/// envelopes.
const SPARE_CAPACITY_MIN: usize = 1 << 20;

impl Session {
    async fn call(&self, body: &str) -> Result<crate::wsman::xml::Element, Error> {
        let response = self.post(body).await?;
        let parsed = ws::parse_response(&response);
        self.recycle(response);
        Ok(parsed?)
    }

    async fn post(&self, body: &str) -> Result<Vec<u8>, Error> {
        let buffer = self.spare_buffer();
        self.transport.lock().await.post_into(body, buffer).await
    }

    /// An empty buffer, reused when one was handed back.
    pub(crate) fn spare_buffer(&self) -> Vec<u8> {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        spare.pop().unwrap_or_default()
    }

    /// Hands a buffer back for a later response.
    pub(crate) fn recycle(&self, mut buffer: Vec<u8>) {
        let most = usize::try_from(self.ctx.max_envelope_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .max(SPARE_CAPACITY_MIN);
        if buffer.capacity() == 0 || buffer.capacity() > most {
            return;
        }
        buffer.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_BUFFERS {
            spare.push(buffer);
        }
    }

    /// One Receive; `None` when the server answered `w:TimedOut`.
    pub(crate) async fn receive(
        &self,
        command_id: Option<&str>,
    ) -> Result<Option<ReceiveResponse>, Error> {
        let request = ws::receive(&self.ctx, &self.shell_id, command_id);
        let response = self.post(&request.body).await?;
        // The plain shape of a Receive response is read in place; anything
        // else (a fault among it) goes through the tree.
        let direct = wsman::receive::receive_response_direct(&response, || self.spare_buffer());
        if let Some(direct) = direct {
            self.recycle(response);
            return Ok(Some(direct));
        }
        let parsed = ws::parse_response(&response);
        self.recycle(response);
        match parsed.map_err(Error::from) {
            Ok(root) => Ok(Some(ws::receive_response(&root)?)),
            Err(Error::Fault { code, subcode, .. })
                if code == Some(2150858793) || subcode == "TimedOut" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Fragments a message and groups the fragments per envelope.
    pub(crate) fn envelopes_for(&self, message: &Message) -> Vec<Vec<u8>> {
        let budget = fragment_budget(self.ctx.max_envelope_size, ws::envelope_overhead(&self.ctx));
        let bytes = message.encode(false);
        let mut fragmenter = self.fragmenter.lock().unwrap_or_else(|e| e.into_inner());
        let mut envelopes: Vec<Vec<u8>> = Vec::new();
        for fragment in fragmenter.fragment(&bytes, budget) {
            match envelopes.last_mut() {
                Some(last) if last.len() + fragment.encoded_len() <= budget => {
                    fragment.encode_into(last)
                }
                _ => envelopes.push(fragment.encode()),
            }
        }
        envelopes
    }

    pub(crate) async fn start_pipeline(
        &self,
        pid: Uuid,
        create: &Message,
    ) -> Result<String, Error> {
        let mut envelopes = self.envelopes_for(create).into_iter();
        let first = envelopes.next().unwrap_or_default();
        let root = self
            .call(&ws::command(&self.ctx, &self.shell_id, pid, &first).body)
            .await?;
        let command_id = ws::command_id(&root)?;
        for rest in envelopes {
            let request = ws::send(&self.ctx, &self.shell_id, Some(&command_id), "stdin", &rest);
            self.call(&request.body).await?;
        }
        Ok(command_id)
    }

    pub(crate) async fn signal(&self, command_id: Option<&str>, code: &str) -> Result<(), Error> {
        let request = ws::signal(&self.ctx, &self.shell_id, command_id, code);
        self.call(&request.body).await.map(|_| ())
    }

    /// Deletes the shell. A Delete whose connection failed before any
    /// answer is sent once more, on a fresh connection: Exchange caps the
    /// shells a user holds at once (the throttling policy's
    /// PowerShellMaxConcurrency) and keeps a shell nobody deletes until its
    /// idle timeout (PowerShell session configurations' `IdleTimeoutSec`,
    /// "7200 (2 hours)" by default: New-PSTransportOption,
    /// MicrosoftDocs/PowerShell-Docs; Exchange's endpoint may set its own),
    /// so a Delete lost on the way would hold one of the account's shells
    /// that long. Sending it twice is safe: if the first did reach the
    /// server, the second gets a fault for an unknown shell, which is
    /// returned as the error it is.
    pub(crate) async fn delete(&self) -> Result<(), Error> {
        if self.deleted.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let request = ws::delete(&self.ctx, &self.shell_id);
        match self.call(&request.body).await {
            Err(Error::Transport(first)) => {
                tracing::debug!(
                    "deleting shell {} failed ({}); trying once more",
                    untrusted::line(&self.shell_id),
                    untrusted::for_log(&first, 300)
                );
                self.call(&request.body).await.map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }
}

/// An open remote runspace pool on the endpoint.
pub struct RunspacePool {
    session: Arc<Session>,
    runtime: tokio::runtime::Handle,
    closed: bool,
}

impl std::fmt::Debug for RunspacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunspacePool")
            .field("shell_id", &self.session.shell_id)
            .field("protocol", &self.session.protocol)
            .finish()
    }
}

fn authenticator(config: &ClientConfig) -> Result<Box<dyn Authenticator>, Error> {
    match &config.auth {
        Auth::None => Ok(Box::new(NoAuthenticator)),
        Auth::Basic { username, password } => {
            let plain_http = config
                .endpoint
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("http://");
            if plain_http && !config.allow_unencrypted {
                return Err(Error::Config(format!(
                    "Basic authentication over plain http would send the password unencrypted to {}: use an https:// endpoint, or set AllowUnencrypted to true to accept that risk",
                    config.endpoint
                )));
            }
            Ok(Box::new(BasicAuthenticator::new(username, password)))
        }
        Auth::Kerberos {
            credentials,
            scheme,
        } => super::kerberos::for_config(config, credentials, *scheme),
    }
}

/// How long an open abandoned at its deadline may still take to delete the
/// shell the server created (one Delete, or the Create still in flight then
/// its Delete).
const ABANDON_TIMEOUT: Duration = Duration::from_secs(15);

/// Resolves once the caller gave up on the open (its deadline passed or its
/// future was dropped).
async fn abandoned(signal: &mut watch::Receiver<bool>) {
    while !*signal.borrow_and_update() {
        if signal.changed().await.is_err() {
            return;
        }
    }
}

/// Creates the shell and waits until its runspace pool opened. Once the
/// server answered the Create, every failure, abandonment included, deletes
/// the shell: Exchange caps shells per user (18 by default), so a shell left
/// behind by each timed-out open would lock the account out.
async fn open_session(
    config: ClientConfig,
    auth: Box<dyn Authenticator>,
    mut abandon: watch::Receiver<bool>,
) -> Result<Session, Error> {
    let transport = Transport::new(&config, auth)?;
    let rpid = Uuid::new_v4();
    let mut ctx = RequestContext {
        to: config.endpoint.clone(),
        resource_uri: wsman::resource_uri(&config.configuration_name),
        max_envelope_size: config.max_envelope_size,
        operation_timeout: config.operation_timeout,
        locale: config.locale.clone(),
        session_id: Uuid::new_v4(),
    };
    let mut session = Session {
        transport: tokio::sync::Mutex::new(transport),
        ctx: ctx.clone(),
        shell_id: String::new(),
        rpid,
        protocol: ProtocolVersion { major: 2, minor: 1 },
        fragmenter: Mutex::new(Fragmenter::new()),
        deleted: AtomicBool::new(false),
        budget: config
            .shared_budget
            .clone()
            .unwrap_or_else(|| Budget::new(config.max_server_data)),
        spare: Mutex::new(Vec::new()),
    };
    let mut creation = Vec::new();
    for m in [
        message::session_capability(Destination::Server, rpid, message::PROTOCOL_VERSION),
        message::init_runspace_pool(rpid, None),
    ] {
        for envelope in session.envelopes_for(&m) {
            creation.extend_from_slice(&envelope);
        }
    }
    let create = ws::create(&ctx, rpid, message::PROTOCOL_VERSION, &creation);
    // The Create is not cut short when the caller gives up: the server may
    // already have created the shell, and only its answer names it.
    let root = session.call(&create.body).await?;
    session.shell_id = ws::created_shell_id(&root)?;
    let opened = tokio::select! {
        opened = RunspacePool::wait_opened(&session) => opened,
        () = abandoned(&mut abandon) => Err(Error::Timeout("the open was abandoned".into())),
    };
    match opened {
        Ok(protocol) => {
            session.protocol = protocol;
            if protocol >= ProtocolVersion::V2_2 {
                ctx.max_envelope_size = ctx.max_envelope_size.max(LARGE_MAX_ENVELOPE_SIZE);
                session.ctx = ctx;
            }
            Ok(session)
        }
        Err(e) => {
            match session.delete().await {
                Ok(()) => {
                    tracing::debug!(shell = %session.shell_id, "deleted the shell of a failed open")
                }
                Err(delete) => tracing::warn!(
                    "could not delete shell {} after a failed open: {delete}",
                    untrusted::line(&session.shell_id)
                ),
            }
            Err(e)
        }
    }
}

impl RunspacePool {
    /// Opens a runspace pool with the authentication of `config.auth`.
    pub async fn open(config: ClientConfig) -> Result<RunspacePool, Error> {
        let auth = authenticator(&config)?;
        Self::open_with(config, auth).await
    }

    /// Opens with a caller-supplied authenticator (e.g. Kerberos).
    pub async fn open_with(
        config: ClientConfig,
        auth: Box<dyn Authenticator>,
    ) -> Result<RunspacePool, Error> {
        Self::open_with_within(config, auth, Duration::MAX).await
    }

    /// [`Self::open`] bounded by `limit`. Past it the open is abandoned with
    /// [`Error::Timeout`], but only after the shell the server created (if
    /// any) is deleted, which may take up to 15 s more.
    pub async fn open_within(config: ClientConfig, limit: Duration) -> Result<RunspacePool, Error> {
        let auth = authenticator(&config)?;
        Self::open_with_within(config, auth, limit).await
    }

    /// [`Self::open_with`] bounded by `limit` (see [`Self::open_within`]).
    pub async fn open_with_within(
        config: ClientConfig,
        auth: Box<dyn Authenticator>,
        limit: Duration,
    ) -> Result<RunspacePool, Error> {
        if config.request_timeout <= config.operation_timeout {
            return Err(Error::Config(format!(
                "request timeout ({:?}) must exceed the operation timeout ({:?}), or every idle Receive fails",
                config.request_timeout, config.operation_timeout
            )));
        }
        // The open runs as its own task so that it can still delete its
        // shell when this future is dropped (the caller's own timeout, an
        // agent shutting down): dropping the sender tells it to give up.
        let (abandon, signal) = watch::channel(false);
        let mut task = tokio::spawn(open_session(config, auth, signal));
        let session = match tokio::time::timeout(limit, &mut task).await {
            Ok(joined) => joined
                .map_err(|e| Error::Transport(format!("the open task ended abnormally: {e}")))??,
            Err(_) => {
                let _ = abandon.send(true);
                if tokio::time::timeout(ABANDON_TIMEOUT, task).await.is_err() {
                    tracing::warn!(
                        "an abandoned session open did not end within {ABANDON_TIMEOUT:?}: a shell may be left on the server"
                    );
                }
                return Err(Error::Timeout(format!(
                    "the session did not open within {limit:?}"
                )));
            }
        };
        Ok(RunspacePool {
            session: Arc::new(session),
            runtime: tokio::runtime::Handle::current(),
            closed: false,
        })
    }

    async fn wait_opened(session: &Session) -> Result<ProtocolVersion, Error> {
        let mut defragmenter =
            Defragmenter::with_budget(DefragmentLimits::default(), session.budget.clone());
        let mut protocol = None;
        let mut state = RunspacePoolState::NegotiationSent;
        for _ in 0..MAX_OPEN_RECEIVES {
            let Some(response) = session.receive(None).await? else {
                continue;
            };
            for stream in &response.streams {
                for bytes in defragmenter.push(&stream.data)? {
                    let message = Message::decode_from_server(bytes)?;
                    match message.message_type {
                        MessageType::SessionCapability => {
                            let version = message::parse_session_capability(&message)?;
                            protocol = Some(ProtocolVersion::negotiate(&version)?);
                            state = state.advance(RunspacePoolState::NegotiationSucceeded)?;
                        }
                        MessageType::RunspacePoolState => {
                            let info = message::parse_runspace_pool_state(&message)?;
                            let next = RunspacePoolState::from_wire(info.state)?;
                            if next == RunspacePoolState::Opened {
                                state.advance(next)?;
                                return protocol.ok_or_else(|| {
                                    Error::Protocol(
                                        "the runspace pool opened without a SESSION_CAPABILITY"
                                            .into(),
                                    )
                                });
                            }
                            if info.state == runspace_state::BROKEN
                                || info.state == runspace_state::CLOSED
                            {
                                return Err(match info.error {
                                    Some(record) => Error::Remote(Box::new(record)),
                                    None => Error::Protocol(format!(
                                        "the server moved the runspace pool to {next:?}"
                                    )),
                                });
                            }
                            state = state.advance(next)?;
                        }
                        // APPLICATION_PRIVATE_DATA and anything else are not
                        // needed by this client.
                        _ => {}
                    }
                }
            }
        }
        Err(Error::Timeout("the runspace pool did not open".into()))
    }

    /// The protocol version the server announced.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.session.protocol
    }

    pub fn shell_id(&self) -> &str {
        &self.session.shell_id
    }

    /// Starts a pipeline of commands (never a script).
    pub async fn invoke(&self, commands: Vec<Command>) -> Result<Pipeline, Error> {
        self.invoke_as(commands, OutputFormat::Values).await
    }

    /// Starts a pipeline whose output is read as `format`.
    pub async fn invoke_as(
        &self,
        commands: Vec<Command>,
        format: OutputFormat,
    ) -> Result<Pipeline, Error> {
        if commands.is_empty() {
            return Err(Error::Config(
                "a pipeline needs at least one command".into(),
            ));
        }
        let pid = Uuid::new_v4();
        let protocol = self.session.protocol.to_string();
        let create = message::create_pipeline(self.session.rpid, pid, &commands, &protocol);
        let command_id = self.session.start_pipeline(pid, &create).await?;
        Ok(Pipeline::new(
            self.session.clone(),
            self.runtime.clone(),
            command_id,
            pid,
            format,
        ))
    }

    /// Deletes the shell.
    pub async fn close(mut self) -> Result<(), Error> {
        self.closed = true;
        self.session.delete().await
    }
}

impl Drop for RunspacePool {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let session = self.session.clone();
        self.runtime.spawn(async move {
            if let Err(e) = session.delete().await {
                tracing::warn!(
                    "could not delete shell {}: {e}",
                    untrusted::line(&session.shell_id)
                );
            }
        });
    }
}
