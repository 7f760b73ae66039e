//! One command (pipeline) of a shell. The backend's pipeline runs on a
//! blocking thread that serializes each event into a PSRP message and hands
//! it over a bounded channel: like Exchange's, the pipeline goes on while a
//! client is busy with the last envelope, yet never runs more than a few
//! envelopes ahead of the Receives, and a 100k-object result is never built
//! whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use idconn_psrp::clixml;
use idconn_psrp::fragment::{Defragmenter, FragmentQueue, FRAGMENT_HEADER_LEN};
use idconn_psrp::message::{self, pipeline_state_values, ErrorRecord, Message, MessageType};
use idconn_psrp::wsman::server::ReceiveResponseBuilder;
use idconn_psrp::wsman::Fault;
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use super::http::{fault, Server};
use super::shell::Reply;
use crate::backend::{InvokeOptions, PipelineEvent, SimErrorRecord};

/// Messages the producer may have ready ahead of the Receives: about three
/// envelopes of mailboxes (a megabyte or so). At 64, less than one envelope,
/// the pipeline stalled during every client's decoding, and a 100,000-mailbox
/// export took half as long again as the simulator could serve it.
const CHANNEL_DEPTH: usize = 256;
/// How long a Receive that already holds output waits for more before
/// answering: far longer than one object takes to produce, far shorter
/// than a round trip anyone would notice.
const FILL_WAIT: Duration = Duration::from_millis(5);
/// Below this much room an envelope is considered full.
pub(super) const MIN_FRAGMENT_ROOM: usize = FRAGMENT_HEADER_LEN + 256;

/// One serialized message from the producer thread.
struct Produced {
    bytes: Vec<u8>,
    is_output: bool,
}

pub(super) struct CommandRun {
    command_id: String,
    rpid: Uuid,
    /// The session's options from its Create URL.
    options: InvokeOptions,
    object_ids: Arc<AtomicU64>,
    incoming: Defragmenter,
    started: bool,
    events: Option<mpsc::Receiver<Produced>>,
    /// An output held back by the drop-after-N fault.
    held: Option<Produced>,
    outgoing: FragmentQueue,
    /// The final PIPELINE_STATE is queued; nothing more will be produced.
    finished: bool,
}

/// A command as the shell holds it. The stop signal lives outside the lock
/// because a Receive waiting for output holds the lock.
pub(super) struct CommandSlot {
    stop: Notify,
    pub(super) run: tokio::sync::Mutex<CommandRun>,
}

impl CommandSlot {
    pub(super) fn new(run: CommandRun) -> Arc<CommandSlot> {
        Arc::new(CommandSlot {
            stop: Notify::new(),
            run: tokio::sync::Mutex::new(run),
        })
    }
}

fn to_record(e: &SimErrorRecord) -> ErrorRecord {
    ErrorRecord {
        message: e.message.clone(),
        fully_qualified_error_id: e.fully_qualified_error_id.clone(),
        category: e.category.clone(),
        activity: e.activity.clone(),
        reason: e
            .exception_type
            .rsplit('.')
            .next()
            .unwrap_or(&e.exception_type)
            .to_string(),
        target_name: e.target_name.clone(),
        exception_type: e.exception_type.clone(),
    }
}

impl CommandRun {
    pub(super) fn new(
        command_id: String,
        rpid: Uuid,
        options: InvokeOptions,
        object_ids: Arc<AtomicU64>,
    ) -> CommandRun {
        CommandRun {
            command_id,
            rpid,
            options,
            object_ids,
            incoming: Defragmenter::default(),
            started: false,
            events: None,
            held: None,
            outgoing: FragmentQueue::new(),
            finished: false,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.finished && self.outgoing.is_empty() && self.held.is_none()
    }

    /// Feeds fragments from Command or Send; starts the pipeline once
    /// CREATE_PIPELINE is complete.
    pub(super) fn feed(&mut self, server: &Server, user: &str, data: &[u8]) -> Result<(), String> {
        for bytes in self.incoming.push(data).map_err(|e| e.to_string())? {
            let m = Message::decode(bytes).map_err(|e| e.to_string())?;
            if m.message_type != MessageType::CreatePipeline {
                // PIPELINE_INPUT, END_OF_PIPELINE_INPUT, host responses:
                // Exchange cmdlets used here take no pipeline input.
                continue;
            }
            if self.started {
                return Err("a second CREATE_PIPELINE for one command".into());
            }
            let commands = message::parse_create_pipeline(&m).map_err(|e| e.to_string())?;
            self.start(server, user.to_string(), commands, m.pid);
        }
        Ok(())
    }

    fn start(
        &mut self,
        server: &Server,
        user: String,
        commands: Vec<idconn_psrp::Command>,
        pid: Uuid,
    ) {
        self.started = true;
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        self.events = Some(rx);
        let backend = server.backend.clone();
        let rpid = self.rpid;
        let options = self.options;
        tokio::task::spawn_blocking(move || {
            let mut run = backend.invoke_with_options(&user, commands, options);
            let send = |bytes: Vec<u8>, is_output: bool| {
                tx.blocking_send(Produced { bytes, is_output }).is_ok()
            };
            loop {
                let (bytes, is_output, last) = match run.next_event() {
                    Some(PipelineEvent::Output(value)) => (
                        message::pipeline_output(rpid, pid, clixml::to_string(&value)).encode(true),
                        true,
                        false,
                    ),
                    Some(PipelineEvent::Error(e)) => (
                        message::error_record(rpid, pid, &to_record(&e)).encode(true),
                        false,
                        false,
                    ),
                    Some(PipelineEvent::Warning(text)) => (
                        message::informational_record(rpid, pid, MessageType::WarningRecord, &text)
                            .encode(true),
                        false,
                        false,
                    ),
                    Some(PipelineEvent::Failed(e)) => (
                        message::pipeline_state(
                            rpid,
                            pid,
                            pipeline_state_values::FAILED,
                            Some(&to_record(&e)),
                        )
                        .encode(true),
                        false,
                        true,
                    ),
                    None => (
                        message::pipeline_state(rpid, pid, pipeline_state_values::COMPLETED, None)
                            .encode(true),
                        false,
                        true,
                    ),
                };
                // A closed channel means the command was stopped or deleted.
                if !send(bytes, is_output) || last {
                    return;
                }
            }
        });
    }

    fn enqueue(&mut self, produced: Produced) {
        let id = self.object_ids.fetch_add(1, Ordering::Relaxed);
        self.outgoing.push_with_object_id(id, produced.bytes);
    }

    /// Ends the pipeline as Stopped (ctrl_c, terminate, or shell deletion).
    fn apply_stop(&mut self) {
        if self.finished {
            return;
        }
        self.events = None;
        self.held = None;
        self.finished = true;
        let record = ErrorRecord {
            message: "The pipeline has been stopped.".into(),
            fully_qualified_error_id: "PipelineStopped".into(),
            category: "OperationStopped".into(),
            activity: String::new(),
            reason: "PipelineStoppedException".into(),
            target_name: None,
            exception_type: "System.Management.Automation.PipelineStoppedException".into(),
        };
        // The pid is not known if CREATE_PIPELINE never completed.
        let m = message::pipeline_state(
            self.rpid,
            Uuid::nil(),
            pipeline_state_values::STOPPED,
            Some(&record),
        );
        let id = self.object_ids.fetch_add(1, Ordering::Relaxed);
        self.outgoing.push_with_object_id(id, m.encode(true));
    }
}

/// Stops the command; a Receive waiting on it returns at once.
pub(super) async fn request_stop(slot: &CommandSlot) {
    slot.stop.notify_one();
    slot.run.lock().await.apply_stop();
}

enum Next {
    Item(Produced),
    Closed,
    Stopped,
    TimedOut,
}

/// Fills one ReceiveResponse with as many fragments as MaxEnvelopeSize
/// allows, waiting up to `timeout` only while it is still empty.
pub(super) async fn receive(
    server: &Server,
    slot: &CommandSlot,
    relates: &str,
    max_envelope: u32,
    timeout: Duration,
) -> Reply {
    let machine = &server.config.server_name;
    let mut guard = slot.run.lock().await;
    let run = &mut *guard;
    let mut builder = ReceiveResponseBuilder::new(relates, Some(&run.command_id));
    let mut pushed_any = false;
    let mut scratch = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let drop_after = server.config.faults.drop_after_objects;
    loop {
        while !run.outgoing.is_empty() {
            let room = builder.room_for_fragment(max_envelope);
            if room < MIN_FRAGMENT_ROOM {
                break;
            }
            scratch.clear();
            run.outgoing.pop_into(room, &mut scratch);
            builder.push_stream(&scratch);
            pushed_any = true;
        }
        if !run.outgoing.is_empty() || run.finished {
            break;
        }
        let next = if let Some(held) = run.held.take() {
            Next::Item(held)
        } else {
            let Some(events) = run.events.as_mut() else {
                // CREATE_PIPELINE still incomplete: nothing to send yet.
                if pushed_any {
                    break;
                }
                tokio::time::sleep_until(deadline).await;
                return fault(relates, &Fault::timed_out(machine));
            };
            match events.try_recv() {
                Ok(item) => Next::Item(item),
                Err(mpsc::error::TryRecvError::Disconnected) => Next::Closed,
                Err(mpsc::error::TryRecvError::Empty) if pushed_any => {
                    // The producer is busy with the next object: wait a
                    // moment for it rather than answering a nearly empty
                    // envelope (a client would pay a round trip per few
                    // objects); a pipeline that pauses longer gets what is
                    // ready.
                    match tokio::time::timeout(FILL_WAIT, events.recv()).await {
                        Ok(Some(item)) => Next::Item(item),
                        Ok(None) => Next::Closed,
                        Err(_) => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    server.waiting_receives.send_modify(|n| *n += 1);
                    let next = tokio::select! {
                        item = events.recv() => item.map_or(Next::Closed, Next::Item),
                        _ = slot.stop.notified() => Next::Stopped,
                        _ = tokio::time::sleep_until(deadline) => Next::TimedOut,
                    };
                    server
                        .waiting_receives
                        .send_modify(|n| *n = n.saturating_sub(1));
                    next
                }
            }
        };
        match next {
            Next::Item(item) => {
                if item.is_output {
                    let sent = server.objects_sent.load(Ordering::SeqCst);
                    let drop_now = drop_after.is_some_and(|limit| sent >= limit)
                        && !server.dropped.load(Ordering::SeqCst);
                    if drop_now {
                        if pushed_any {
                            run.held = Some(item);
                            break;
                        }
                        server.dropped.store(true, Ordering::SeqCst);
                        return Reply::Drop;
                    }
                    server.objects_sent.fetch_add(1, Ordering::SeqCst);
                }
                run.enqueue(item);
            }
            Next::Closed => {
                // The producer ends after queuing the final state.
                run.events = None;
                run.finished = true;
            }
            Next::Stopped => run.apply_stop(),
            Next::TimedOut => return fault(relates, &Fault::timed_out(machine)),
        }
    }
    Reply::Ok(builder.finish(run.is_done()))
}
