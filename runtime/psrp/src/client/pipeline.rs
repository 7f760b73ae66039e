//! A running pipeline, read in batches, with backpressure: at most one
//! Receive is in flight ahead of what the caller has consumed, so memory
//! stays bounded by two envelopes whatever the result size. That one
//! Receive ahead lets the server prepare the next envelope while this side
//! decodes the current one.

use std::collections::VecDeque;
use std::sync::Arc;

use uuid::Uuid;

use super::error::Error;
use super::pool::Session;
use crate::clixml::{self, Value};
use crate::fragment::Defragmenter;
use crate::message::{self, ErrorRecord, Message, MessageType};
use crate::state::PipelineState;
use crate::wsman::client::ReceiveResponse;
use crate::wsman::SIGNAL_TERMINATE;

type PendingReceive = tokio::task::JoinHandle<Result<Option<ReceiveResponse>, Error>>;

pub struct Pipeline {
    session: Arc<Session>,
    runtime: tokio::runtime::Handle,
    command_id: String,
    pid: Uuid,
    defragmenter: Defragmenter,
    buffer: VecDeque<Value>,
    errors: Vec<ErrorRecord>,
    warnings: Vec<String>,
    state: PipelineState,
    failure: Option<ErrorRecord>,
    /// No more Receives are needed (ended, failed or stopped).
    finished: bool,
    /// The Receive issued ahead, if any.
    pending: Option<PendingReceive>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("command_id", &self.command_id)
            .field("state", &self.state)
            .finish()
    }
}

impl Pipeline {
    pub(crate) fn new(
        session: Arc<Session>,
        runtime: tokio::runtime::Handle,
        command_id: String,
        pid: Uuid,
    ) -> Pipeline {
        Pipeline {
            session,
            runtime,
            command_id,
            pid,
            defragmenter: Defragmenter::default(),
            buffer: VecDeque::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            state: PipelineState::Running,
            failure: None,
            finished: false,
            pending: None,
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
            if self.finished {
                if let Some(pending) = self.pending.take() {
                    // Let the Receive ahead end cleanly (it answers Done at
                    // once) so the connection stays usable.
                    let _ = pending.await;
                }
                if let Some(record) = &self.failure {
                    return Err(Error::Remote(Box::new(record.clone())));
                }
                if self.state == PipelineState::Stopped {
                    return Err(Error::Protocol("the pipeline was stopped".into()));
                }
                return Ok(None);
            }
            self.receive_once().await?;
        }
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

    fn receive_ahead(&mut self) {
        let session = self.session.clone();
        let command_id = self.command_id.clone();
        self.pending = Some(
            self.runtime
                .spawn(async move { session.receive(Some(&command_id)).await }),
        );
    }

    async fn receive_once(&mut self) -> Result<(), Error> {
        let received = match self.pending.take() {
            Some(pending) => pending
                .await
                .map_err(|e| Error::Transport(format!("the Receive task ended abnormally: {e}")))?,
            None => self.session.receive(Some(&self.command_id)).await,
        };
        let Some(response) = received? else {
            return Ok(());
        };
        if !response.command_state.as_ref().is_some_and(|s| s.is_done()) {
            self.receive_ahead();
        }
        for stream in &response.streams {
            if stream
                .command_id
                .as_deref()
                .is_some_and(|id| !id.eq_ignore_ascii_case(&self.command_id))
            {
                continue;
            }
            for bytes in self.defragmenter.push(&stream.data)? {
                self.dispatch(Message::decode(bytes)?)?;
            }
        }
        if response.command_state.as_ref().is_some_and(|s| s.is_done()) {
            self.finished = true;
            if !self.state.is_terminal() {
                // Done without PIPELINE_STATE: nothing more will come.
                self.state = PipelineState::Completed;
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, message: Message) -> Result<(), Error> {
        match message.message_type {
            MessageType::PipelineOutput => {
                let value = clixml::from_bytes(&message.data).map_err(|e| {
                    Error::Protocol(format!("PIPELINE_OUTPUT is not valid CLIXML: {e}"))
                })?;
                self.buffer.push_back(value);
            }
            MessageType::ErrorRecord => self.errors.push(message::parse_error_record(&message)?),
            MessageType::WarningRecord => self
                .warnings
                .push(message::parse_informational_record(&message)?),
            MessageType::VerboseRecord
            | MessageType::DebugRecord
            | MessageType::InformationRecord => {
                let text = message::parse_informational_record(&message)?;
                tracing::debug!(pipeline = %self.pid, "remote {:?}: {text}", message.message_type);
            }
            MessageType::PipelineState => {
                let info = message::parse_pipeline_state(&message)?;
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
            _ => {}
        }
        Ok(())
    }

    /// Stops the pipeline on the server (Signal terminate).
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
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
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
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
