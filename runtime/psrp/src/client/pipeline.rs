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
use crate::budget::{Budget, Charge};
use crate::clixml::flat::FlatBatch;
use crate::clixml::{self, ClixmlError, ClixmlErrorKind, FlatBuilder, Value};
use crate::fragment::{DefragmentLimits, Defragmenter};
use crate::message::{self, ErrorRecord, Message, MessageType, PipelineStateInfo};
use crate::state::PipelineState;
use crate::untrusted;
use crate::wsman::client::ReceiveResponse;
use crate::wsman::SIGNAL_TERMINATE;

/// How a pipeline's output objects reach the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Each object decoded into a [`Value`] ([`Pipeline::next_batch`]).
    #[default]
    Values,
    /// The objects of each envelope decoded straight into one
    /// [`FlatBatch`] ([`Pipeline::next_flat`]): no value tree, decoded on
    /// the receiving task.
    Flat,
}

/// What one message of the pipeline means to the caller.
enum Event {
    /// An object and its share of the session's budget, held until the
    /// caller took the object.
    Output(Value, Charge),
    /// The objects of consecutive messages ([`OutputFormat::Flat`]), and
    /// their share of the budget.
    Flat(FlatBatch, Charge),
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

/// Error and warning records kept per pipeline; later ones are counted, not
/// kept (a server can send a gigabyte of them).
pub const MAX_RECORDS: usize = 100;
/// Characters kept of each text of a kept record.
const MAX_RECORD_TEXT: usize = 16 * 1024;

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
    buffer: VecDeque<(Value, Charge)>,
    flat: VecDeque<(FlatBatch, Charge)>,
    /// The budget of the last batch handed out, released at the next call
    /// (the caller has copied the batch by then).
    handed_out: Vec<Charge>,
    errors: Vec<ErrorRecord>,
    warnings: Vec<String>,
    dropped_errors: usize,
    dropped_warnings: usize,
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

fn decode_event(session: &Session, message: Message) -> Result<Option<Event>, Error> {
    Ok(Some(match message.message_type {
        MessageType::PipelineOutput => {
            let budget = &session.budget;
            let (value, size) = clixml::from_bytes_within(&message.data, budget.remaining())
                .map_err(|e| output_error(budget, &e))?;
            let charge = budget.charge(size)?;
            Event::Output(value, charge)
        }
        MessageType::ErrorRecord => Event::Error(message::parse_error_record(&message)?),
        MessageType::WarningRecord => {
            Event::Warning(message::parse_informational_record(&message)?)
        }
        MessageType::VerboseRecord | MessageType::DebugRecord | MessageType::InformationRecord => {
            let text = message::parse_informational_record(&message)?;
            tracing::debug!(
                "remote {:?}: {}",
                message.message_type,
                untrusted::line(&text)
            );
            return Ok(None);
        }
        MessageType::PipelineState => Event::State(message::parse_pipeline_state(&message)?),
        _ => return Ok(None),
    }))
}

fn output_error(budget: &Budget, e: &ClixmlError) -> Error {
    match e.kind() {
        ClixmlErrorKind::DecodedLimit(_) => Error::Limit(format!(
            "an object from the server decodes to more than the client holds at once ({} MiB)",
            budget.limit() / (1024 * 1024)
        )),
        _ => Error::Protocol(untrusted::line(&format!(
            "PIPELINE_OUTPUT is not valid CLIXML: {e}"
        ))),
    }
}

/// Objects per flat batch at most. Finding an object's shape compares it
/// with the batch's shapes, so a batch of objects of all different shapes
/// (a hostile server's) costs the square of its size: bounded here, as the
/// batches a component pulls are (512 objects for the Exchange one).
pub const FLAT_BATCH_MAX_OBJECTS: usize = 512;

/// Output objects of consecutive messages, decoded flat.
#[derive(Default)]
struct FlatRun {
    builder: FlatBuilder,
    charge: Option<Charge>,
}

impl FlatRun {
    fn push(
        &mut self,
        budget: &Arc<Budget>,
        data: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), Error> {
        if self.builder.len() >= FLAT_BATCH_MAX_OBJECTS {
            self.flush(events);
        }
        let size = self
            .builder
            .push_message(data, budget.remaining())
            .map_err(|e| output_error(budget, &e))?;
        match &mut self.charge {
            Some(charge) => charge.grow(size)?,
            None => self.charge = Some(budget.charge(size)?),
        }
        Ok(())
    }

    /// The objects so far as one event, if any.
    fn flush(&mut self, events: &mut Vec<Event>) {
        if let Some(charge) = self.charge.take() {
            events.push(Event::Flat(self.builder.take(), charge));
        }
    }
}

/// Decodes one Receive's messages; `flat` (empty between envelopes) is
/// kept by the caller so each batch starts with the room the last one took.
fn decode_envelope(
    session: &Session,
    defragmenter: &mut Defragmenter,
    flat: &mut FlatRun,
    command_id: &str,
    response: ReceiveResponse,
    format: OutputFormat,
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
        defragmenter.push_each(&stream.data, |bytes, raw| {
            // `raw` stays charged until the message is decoded.
            let (message_type, data) = Message::peek_from_server(&bytes)?;
            if format == OutputFormat::Flat && message_type == MessageType::PipelineOutput {
                flat.push(&session.budget, data, &mut events)?;
            } else if let Some(event) =
                decode_event(session, Message::decode_from_server(bytes.into_owned())?)?
            {
                // Objects stay in order with what follows them.
                flat.flush(&mut events);
                events.push(event);
            }
            drop(raw);
            Ok::<(), Error>(())
        })?;
    }
    flat.flush(&mut events);
    let done = response.command_state.as_ref().is_some_and(|s| s.is_done());
    for stream in response.streams {
        session.recycle(stream.data);
    }
    // The final state (or Done) with a message still in pieces: its end will
    // never come. Taking the rest as complete would lose an object without a
    // word.
    let ended = done
        || events.iter().any(|e| {
            matches!(e, Event::State(info) if PipelineState::from_wire(info.state).is_ok_and(|s| s.is_terminal()))
        });
    if ended && !defragmenter.is_idle() {
        return Err(Error::Protocol(format!(
            "the command ended with {} PSRP message(s) incomplete (their end fragment never came)",
            defragmenter.partial_messages()
        )));
    }
    Ok(Envelope { events, done })
}

/// Receives until Done, one Receive ahead of the decoding.
async fn receive_loop(
    session: Arc<Session>,
    command_id: String,
    pid: Uuid,
    format: OutputFormat,
    feed: mpsc::Sender<Result<Envelope, Error>>,
) {
    let limits = DefragmentLimits {
        max_message_len: DefragmentLimits::default()
            .max_message_len
            .min(session.budget.limit()),
        ..DefragmentLimits::default()
    };
    let mut defragmenter = Defragmenter::with_budget(limits, session.budget.clone());
    let mut flat = FlatRun::default();
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
        let envelope = decode_envelope(
            &session,
            &mut defragmenter,
            &mut flat,
            &command_id,
            response,
            format,
        );
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
        format: OutputFormat,
    ) -> Pipeline {
        let (sender, feed) = mpsc::channel(1);
        let receiver = runtime.spawn(receive_loop(
            session.clone(),
            command_id.clone(),
            pid,
            format,
            sender,
        ));
        Pipeline {
            session,
            runtime,
            command_id,
            feed,
            receiver: Some(AbortOnDrop(receiver)),
            buffer: VecDeque::new(),
            flat: VecDeque::new(),
            handed_out: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            dropped_errors: 0,
            dropped_warnings: 0,
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
        self.handed_out.clear();
        self.next_ready(|pipeline| {
            if pipeline.buffer.is_empty() {
                return None;
            }
            let n = max.max(1).min(pipeline.buffer.len());
            let mut batch = Vec::with_capacity(n);
            for (value, charge) in pipeline.buffer.drain(..n) {
                batch.push(value);
                pipeline.handed_out.push(charge);
            }
            Some(batch)
        })
        .await
    }

    /// For a pipeline started with [`OutputFormat::Flat`]: the objects of
    /// the next envelope (at least one), with their share of the session's
    /// memory budget, held until the caller drops it; `None` once the
    /// pipeline completed. Fails as [`Self::next_batch`] does.
    pub async fn next_flat(&mut self) -> Result<Option<(FlatBatch, Charge)>, Error> {
        self.next_ready(|pipeline| pipeline.flat.pop_front()).await
    }

    /// What `take` finds once received, or how the pipeline ended.
    async fn next_ready<T>(
        &mut self,
        mut take: impl FnMut(&mut Self) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        loop {
            if let Some(ready) = take(self) {
                return Ok(Some(ready));
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
                Event::Output(value, charge) => self.buffer.push_back((value, charge)),
                Event::Flat(batch, charge) => self.flat.push_back((batch, charge)),
                Event::Error(record) => {
                    if self.errors.len() < MAX_RECORDS {
                        self.errors.push(cap_record(record));
                    } else {
                        self.dropped_errors += 1;
                    }
                }
                Event::Warning(text) => {
                    if self.warnings.len() < MAX_RECORDS {
                        self.warnings.push(cap_text(text));
                    } else {
                        self.dropped_warnings += 1;
                    }
                }
                Event::State(info) => {
                    let next = PipelineState::from_wire(info.state)?;
                    self.state = self.state.advance(next)?;
                    if next == PipelineState::Failed {
                        self.failure =
                            Some(cap_record(info.error.unwrap_or_else(|| ErrorRecord {
                                message: "the pipeline failed without an error record".into(),
                                ..ErrorRecord::default()
                            })));
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

    /// Non-terminating error records seen so far: the first
    /// [`MAX_RECORDS`], each text cut to 16 Ki characters.
    pub fn errors(&self) -> &[ErrorRecord] {
        &self.errors
    }

    /// Error records received past the first [`MAX_RECORDS`], not kept.
    pub fn dropped_errors(&self) -> usize {
        self.dropped_errors
    }

    /// The first [`MAX_RECORDS`] warnings, each cut to 16 Ki characters.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Warnings received past the first [`MAX_RECORDS`], not kept.
    pub fn dropped_warnings(&self) -> usize {
        self.dropped_warnings
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

/// `text` cut to [`MAX_RECORD_TEXT`] characters, with a note of the cut.
/// Not escaped: the caller gets the server's text as data.
fn cap_text(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_RECORD_TEXT) {
        let dropped = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("… [{dropped} more bytes]"));
    }
    text
}

fn cap_record(record: ErrorRecord) -> ErrorRecord {
    ErrorRecord {
        message: cap_text(record.message),
        fully_qualified_error_id: cap_text(record.fully_qualified_error_id),
        category: cap_text(record.category),
        activity: cap_text(record.activity),
        reason: cap_text(record.reason),
        target_name: record.target_name.map(cap_text),
        exception_type: cap_text(record.exception_type),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn flat_batches(events: &[Event]) -> Vec<usize> {
        events
            .iter()
            .map(|e| match e {
                Event::Flat(batch, _) => batch.len(),
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn an_envelope_of_many_objects_becomes_flat_batches_of_at_most_the_maximum() {
        let budget = Budget::new(64 << 20);
        let mut run = FlatRun::default();
        let mut events = Vec::new();
        // Each object of a shape of its own: the case the bound is for.
        for i in 0..(FLAT_BATCH_MAX_OBJECTS * 2 + 3) {
            let object = format!(r#"<Obj RefId="0"><MS><S N="p{i}">x</S></MS></Obj>"#);
            run.push(&budget, object.as_bytes(), &mut events).unwrap();
        }
        run.flush(&mut events);
        assert_eq!(
            flat_batches(&events),
            [FLAT_BATCH_MAX_OBJECTS, FLAT_BATCH_MAX_OBJECTS, 3]
        );
        // Every object is charged to the budget until its batch is dropped.
        assert!(budget.used() > 0);
        drop(events);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_flat_object_over_the_budget_is_a_limit_error() {
        let budget = Budget::new(1024);
        let mut run = FlatRun::default();
        let big = format!(
            r#"<Obj RefId="0"><MS><S N="p">{}</S></MS></Obj>"#,
            "x".repeat(4096)
        );
        match run.push(&budget, big.as_bytes(), &mut Vec::new()) {
            Err(Error::Limit(message)) => assert!(message.contains("decodes to more"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert!(run.builder.is_empty());
    }
}
