//! A running pipeline, read in batches.
//!
//! A background task per pipeline receives and decodes: it keeps one
//! Receive in flight while it decodes the previous envelope, and hands
//! decoded envelopes over a one-slot channel. The caller's thread only takes
//! objects, so network, decoding and the caller's own work overlap, while
//! memory stays bounded by about three envelopes whatever the result size
//! (the task waits when the caller is behind: backpressure).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::error::Error;
use super::pool::Session;
use crate::clixml::{self, Value};
use crate::fragment::Defragmenter;
use crate::message::{self, ErrorRecord, Message, MessageType, PipelineStateInfo};
use crate::state::PipelineState;
use crate::wsman::client::ReceiveResponse;
use crate::wsman::SIGNAL_TERMINATE;

/// What one message of the pipeline means to the caller.
enum Event {
    Output(Value),
    Error(ErrorRecord),
    Warning(String),
    State(PipelineStateInfo),
}

/// The decoded content of one ReceiveResponse.
struct Envelope {
    events: Vec<Event>,
    /// CommandState Done: nothing more will come.
    done: bool,
}

type Feed = mpsc::Receiver<Result<Envelope, Error>>;

/// How long a finished pipeline waits for the server's Done.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Aborts a task when dropped, so an aborted receiver also abandons its
/// Receive in flight (and releases the connection at once).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Pipeline {
    session: Arc<Session>,
    runtime: tokio::runtime::Handle,
    command_id: String,
    feed: Feed,
    receiver: Option<AbortOnDrop<()>>,
    buffer: VecDeque<Value>,
    errors: Vec<ErrorRecord>,
    warnings: Vec<String>,
    state: PipelineState,
    failure: Option<ErrorRecord>,
    /// A transport or protocol error ended the receiving.
    broken: Option<Error>,
    /// The server said Done, or the pipeline was stopped: no more Receives.
    finished: bool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("command_id", &self.command_id)
            .field("state", &self.state)
            .finish()
    }
}

fn spawn_receive(
    session: &Arc<Session>,
    command_id: &str,
) -> AbortOnDrop<Result<Option<ReceiveResponse>, Error>> {
    let session = session.clone();
    let command_id = command_id.to_string();
    AbortOnDrop(tokio::spawn(async move {
        session.receive(Some(&command_id)).await
    }))
}

fn decode_event(message: Message) -> Result<Option<Event>, Error> {
    Ok(Some(match message.message_type {
        MessageType::PipelineOutput => {
            Event::Output(clixml::from_bytes(&message.data).map_err(|e| {
                Error::Protocol(format!("PIPELINE_OUTPUT is not valid CLIXML: {e}"))
            })?)
        }
        MessageType::ErrorRecord => Event::Error(message::parse_error_record(&message)?),
        MessageType::WarningRecord => {
            Event::Warning(message::parse_informational_record(&message)?)
        }
        MessageType::VerboseRecord | MessageType::DebugRecord | MessageType::InformationRecord => {
            let text = message::parse_informational_record(&message)?;
            tracing::debug!("remote {:?}: {text}", message.message_type);
            return Ok(None);
        }
        MessageType::PipelineState => Event::State(message::parse_pipeline_state(&message)?),
        _ => return Ok(None),
    }))
}

fn decode_envelope(
    defragmenter: &mut Defragmenter,
    command_id: &str,
    response: ReceiveResponse,
) -> Result<Envelope, Error> {
    let mut events = Vec::new();
    for stream in &response.streams {
        if stream
            .command_id
            .as_deref()
            .is_some_and(|id| !id.eq_ignore_ascii_case(command_id))
        {
            continue;
        }
        for bytes in defragmenter.push(&stream.data)? {
            if let Some(event) = decode_event(Message::decode(bytes)?)? {
                events.push(event);
            }
        }
    }
    Ok(Envelope {
        events,
        done: response.command_state.as_ref().is_some_and(|s| s.is_done()),
    })
}

/// Receives until Done, one Receive ahead of the decoding.
async fn receive_loop(
    session: Arc<Session>,
    command_id: String,
    pid: Uuid,
    feed: mpsc::Sender<Result<Envelope, Error>>,
) {
    let mut defragmenter = Defragmenter::default();
    let mut ahead = Some(spawn_receive(&session, &command_id));
    while let Some(mut receive) = ahead.take() {
        let received = match (&mut receive.0).await {
            Ok(result) => result,
            Err(e) => Err(Error::Transport(format!(
                "the Receive task ended abnormally: {e}"
            ))),
        };
        let response = match received {
            // w:TimedOut: nothing yet, ask again.
            Ok(None) => {
                ahead = Some(spawn_receive(&session, &command_id));
                continue;
            }
            Ok(Some(response)) => response,
            Err(e) => {
                let _ = feed.send(Err(e)).await;
                return;
            }
        };
        if !response.command_state.as_ref().is_some_and(|s| s.is_done()) {
            ahead = Some(spawn_receive(&session, &command_id));
        }
        let envelope = decode_envelope(&mut defragmenter, &command_id, response);
        let failed = envelope.is_err();
        // The caller dropped the pipeline: stop receiving.
        if feed.send(envelope).await.is_err() || failed {
            tracing::debug!(pipeline = %pid, "receiving ends");
            return;
        }
    }
}

impl Pipeline {
    pub(crate) fn new(
        session: Arc<Session>,
        runtime: tokio::runtime::Handle,
        command_id: String,
        pid: Uuid,
    ) -> Pipeline {
        let (sender, feed) = mpsc::channel(1);
        let receiver = runtime.spawn(receive_loop(
            session.clone(),
            command_id.clone(),
            pid,
            sender,
        ));
        Pipeline {
            session,
            runtime,
            command_id,
            feed,
            receiver: Some(AbortOnDrop(receiver)),
            buffer: VecDeque::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            state: PipelineState::Running,
            failure: None,
            broken: None,
            finished: false,
        }
    }

    /// The next objects, at most `max` (at least one), or `None` once the
    /// pipeline completed. A failed pipeline yields what it output first,
    /// then `Error::Remote` with its terminating error.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Value>>, Error> {
        loop {
            if !self.buffer.is_empty() {
                let n = max.max(1).min(self.buffer.len());
                return Ok(Some(self.buffer.drain(..n).collect()));
            }
            if let Some(error) = &self.broken {
                return Err(error.clone());
            }
            if self.finished {
                self.settle().await;
                if let Some(record) = &self.failure {
                    return Err(Error::Remote(Box::new(record.clone())));
                }
                if self.state == PipelineState::Stopped {
                    return Err(Error::Protocol("the pipeline was stopped".into()));
                }
                return Ok(None);
            }
            match self.feed.recv().await {
                Some(Ok(envelope)) => self.apply(envelope)?,
                Some(Err(error)) => self.broken = Some(error),
                None => {
                    self.broken = Some(Error::Protocol(
                        "receiving ended before the pipeline completed".into(),
                    ))
                }
            }
        }
    }

    /// Lets the receiving task end by itself (the server answers Done right
    /// after the final state), so no Receive is cut mid-request and the
    /// connection (and its authentication) stays usable.
    async fn settle(&mut self) {
        if self.receiver.is_none() {
            return;
        }
        let drained = async { while self.feed.recv().await.is_some() {} };
        if tokio::time::timeout(SETTLE_TIMEOUT, drained).await.is_err() {
            tracing::debug!(command = %self.command_id, "the server did not say Done; abandoning the Receive");
        }
        self.receiver.take();
    }

    fn apply(&mut self, envelope: Envelope) -> Result<(), Error> {
        for event in envelope.events {
            match event {
                Event::Output(value) => self.buffer.push_back(value),
                Event::Error(record) => self.errors.push(record),
                Event::Warning(text) => self.warnings.push(text),
                Event::State(info) => {
                    let next = PipelineState::from_wire(info.state)?;
                    self.state = self.state.advance(next)?;
                    if next == PipelineState::Failed {
                        self.failure = Some(info.error.unwrap_or_else(|| ErrorRecord {
                            message: "the pipeline failed without an error record".into(),
                            ..ErrorRecord::default()
                        }));
                    }
                    if next.is_terminal() {
                        self.finished = true;
                    }
                }
            }
        }
        if envelope.done {
            self.finished = true;
            if !self.state.is_terminal() {
                // Done without PIPELINE_STATE: nothing more will come.
                self.state = PipelineState::Completed;
            }
        }
        Ok(())
    }

    /// Non-terminating error records seen so far.
    pub fn errors(&self) -> &[ErrorRecord] {
        &self.errors
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn state(&self) -> PipelineState {
        self.state
    }

    pub fn command_id(&self) -> &str {
        &self.command_id
    }

    /// Stops the pipeline on the server (Signal terminate).
    pub async fn stop(mut self) -> Result<(), Error> {
        self.receiver.take();
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.session
            .signal(Some(&self.command_id), SIGNAL_TERMINATE)
            .await
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.receiver.take();
        if self.finished {
            return;
        }
        let session = self.session.clone();
        let command_id = std::mem::take(&mut self.command_id);
        self.runtime.spawn(async move {
            if let Err(e) = session.signal(Some(&command_id), SIGNAL_TERMINATE).await {
                tracing::debug!("could not stop command {command_id}: {e}");
            }
        });
    }
}
