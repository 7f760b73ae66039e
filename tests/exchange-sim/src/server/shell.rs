//! Shells (runspace pools): creation with the PSRP open sequence, the
//! per-user limit, and the actions addressed to a shell.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idconn_psrp::fragment::{Defragmenter, FragmentQueue};
use idconn_psrp::message::{self, runspace_state, Destination, Message, MessageType};
use idconn_psrp::wsman::server::{self as ws, CreatedShell, RequestBody};
use idconn_psrp::wsman::{Fault, SIGNAL_PS_CTRL_C, SIGNAL_PS_CTRL_C_ALT, SIGNAL_TERMINATE};
use uuid::Uuid;

use super::command::{self, CommandRun, CommandSlot};
use super::http::{fault, Server};
use crate::backend::InvokeOptions;

/// The user of every request when authentication is off.
pub const ANONYMOUS_USER: &str = "anonymous";
/// What this server announces in its SESSION_CAPABILITY.
const SERVER_PROTOCOL: &str = "2.3";
/// OperationTimeout when a client sends none (WinRM's default).
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) enum Reply {
    Ok(String),
    Fault(String),
    Drop,
}

pub(super) struct Shell {
    pub(super) id: String,
    pub(super) rpid: Uuid,
    /// From the Create URL's query (`serializationLevel=Full`).
    pub(super) options: InvokeOptions,
    pub(super) object_ids: Arc<AtomicU64>,
    outgoing: FragmentQueue,
    commands: HashMap<String, Arc<CommandSlot>>,
}

type SharedShell = Arc<tokio::sync::Mutex<Shell>>;

struct Entry {
    owner: String,
    shell: SharedShell,
    last_used: tokio::time::Instant,
}

pub(super) struct Shells {
    by_id: Mutex<HashMap<String, Entry>>,
    /// The number of open shells, for observers (tests, logs).
    open: tokio::sync::watch::Sender<usize>,
}

impl Default for Shells {
    fn default() -> Self {
        Shells {
            by_id: Mutex::new(HashMap::new()),
            open: tokio::sync::watch::Sender::new(0),
        }
    }
}

type FaultFor = fn(&str) -> Fault;

impl Shells {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shell for a request of `user`; counts as activity.
    pub(super) fn get(&self, user: &str, shell_id: &str) -> Result<SharedShell, FaultFor> {
        let mut shells = self.lock();
        match shells.get_mut(&shell_id.to_ascii_uppercase()) {
            None => Err(Fault::unknown_shell),
            Some(entry) if !entry.owner.eq_ignore_ascii_case(user) => Err(Fault::access_denied),
            Some(entry) => {
                entry.last_used = tokio::time::Instant::now();
                Ok(entry.shell.clone())
            }
        }
    }

    /// Drops shells unused for `idle` (a client that vanished without
    /// Delete), as WinRM's IdleTimeOut does; their pipelines stop.
    pub(super) fn expire(&self, idle: Duration) {
        let mut shells = self.lock();
        let before = shells.len();
        shells.retain(|id, entry| {
            let keep = entry.last_used.elapsed() < idle;
            if !keep {
                tracing::info!(shell = %id, owner = %entry.owner, "idle shell expired");
            }
            keep
        });
        if shells.len() != before {
            self.open.send_replace(shells.len());
        }
    }

    /// Follows the number of open shells (tests watch that clients delete
    /// theirs).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn watch(&self) -> tokio::sync::watch::Receiver<usize> {
        self.open.subscribe()
    }

    fn remove(&self, shell_id: &str) {
        let mut shells = self.lock();
        shells.remove(&shell_id.to_ascii_uppercase());
        self.open.send_replace(shells.len());
    }

    pub(super) fn create(
        &self,
        server: &Server,
        user: &str,
        query: &str,
        request: &ws::Request,
    ) -> Reply {
        let machine = &server.config.server_name;
        let relates = &request.message_id;
        let RequestBody::Create {
            shell_id,
            creation_xml,
        } = &request.body
        else {
            return fault(relates, &Fault::invalid_request(machine, "not a Create"));
        };
        let resource_uri = request.resource_uri.clone().unwrap_or_default();
        if !resource_uri.starts_with(idconn_psrp::wsman::NS_POWERSHELL) {
            return fault(
                relates,
                &Fault::invalid_request(
                    machine,
                    &format!("no PowerShell session configuration at '{resource_uri}'"),
                ),
            );
        }
        let rpid = match open_messages(creation_xml) {
            Ok(rpid) => rpid,
            Err(text) => return fault(relates, &Fault::invalid_request(machine, &text)),
        };
        let id = shell_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string())
            .to_ascii_uppercase();
        let object_ids = Arc::new(AtomicU64::new(1));
        let mut outgoing = FragmentQueue::new();
        for m in [
            message::session_capability(Destination::Client, Uuid::nil(), SERVER_PROTOCOL),
            message::application_private_data(rpid, SERVER_PROTOCOL),
            message::runspace_pool_state(rpid, runspace_state::OPENED, None),
        ] {
            outgoing
                .push_with_object_id(object_ids.fetch_add(1, Ordering::Relaxed), m.encode(true));
        }
        let shell = Shell {
            id: id.clone(),
            rpid,
            options: InvokeOptions::from_query(query),
            object_ids,
            outgoing,
            commands: HashMap::new(),
        };
        {
            let mut shells = self.lock();
            let held = shells
                .values()
                .filter(|entry| entry.owner.eq_ignore_ascii_case(user))
                .count();
            if held >= server.config.max_shells_per_user {
                return fault(
                    relates,
                    &Fault::shell_quota(machine, server.config.max_shells_per_user),
                );
            }
            if shells.contains_key(&id) {
                return fault(
                    relates,
                    &Fault::invalid_request(machine, "a shell with this ShellId already exists"),
                );
            }
            shells.insert(
                id.clone(),
                Entry {
                    owner: user.to_string(),
                    shell: Arc::new(tokio::sync::Mutex::new(shell)),
                    last_used: tokio::time::Instant::now(),
                },
            );
            self.open.send_replace(shells.len());
        }
        tracing::debug!(shell = %id, user, query, "shell created");
        Reply::Ok(ws::create_response(
            relates,
            &CreatedShell {
                address: "http://localhost/PowerShell/",
                resource_uri: &resource_uri,
                shell_id: &id,
                owner: user,
                client_ip: "127.0.0.1",
            },
        ))
    }
}

/// Checks the creationXml: SESSION_CAPABILITY and INIT_RUNSPACEPOOL, and
/// returns the RunspacePool id.
fn open_messages(creation_xml: &[u8]) -> Result<Uuid, String> {
    let mut defragmenter = Defragmenter::default();
    let messages = defragmenter.push(creation_xml).map_err(|e| e.to_string())?;
    let mut rpid = None;
    let mut capability = false;
    for bytes in messages {
        let m = Message::decode(bytes).map_err(|e| e.to_string())?;
        match m.message_type {
            MessageType::SessionCapability => {
                let version = message::parse_session_capability(&m).map_err(|e| e.to_string())?;
                idconn_psrp::state::ProtocolVersion::negotiate(&version)
                    .map_err(|e| e.to_string())?;
                capability = true;
            }
            MessageType::InitRunspacePool => rpid = Some(m.rpid),
            _ => {}
        }
    }
    match (capability, rpid) {
        (true, Some(rpid)) => Ok(rpid),
        _ => Err("creationXml must carry SESSION_CAPABILITY and INIT_RUNSPACEPOOL".into()),
    }
}

fn operation_timeout(server: &Server, request: &ws::Request) -> Duration {
    request
        .operation_timeout
        .unwrap_or(DEFAULT_OPERATION_TIMEOUT)
        .min(server.config.max_operation_timeout)
}

fn max_envelope(server: &Server, request: &ws::Request) -> u32 {
    request
        .max_envelope_size
        .unwrap_or(server.config.max_envelope_size)
        .min(server.config.max_envelope_size)
}

pub(super) async fn handle(
    server: &Server,
    shell: SharedShell,
    user: &str,
    request: ws::Request,
) -> Reply {
    let machine = &server.config.server_name;
    let relates = request.message_id.clone();
    match request.body.clone() {
        RequestBody::Receive { command_id: None } => {
            {
                let mut shell = shell.lock().await;
                if !shell.outgoing.is_empty() {
                    let mut builder = ws::ReceiveResponseBuilder::new(&relates, None);
                    let max = max_envelope(server, &request);
                    let mut scratch = Vec::new();
                    while !shell.outgoing.is_empty() {
                        let room = builder.room_for_fragment(max);
                        if room < command::MIN_FRAGMENT_ROOM {
                            break;
                        }
                        scratch.clear();
                        shell.outgoing.pop_into(room, &mut scratch);
                        builder.push_stream(&scratch);
                    }
                    return Reply::Ok(builder.finish(false));
                }
            }
            // Nothing will ever come on the shell itself once open.
            tokio::time::sleep(operation_timeout(server, &request)).await;
            fault(&relates, &Fault::timed_out(machine))
        }
        RequestBody::Receive {
            command_id: Some(command_id),
        } => {
            let Some(run) = shell
                .lock()
                .await
                .commands
                .get(&command_id.to_ascii_uppercase())
                .cloned()
            else {
                return fault(&relates, &Fault::unknown_command(machine));
            };
            let reply = command::receive(
                server,
                &run,
                &relates,
                max_envelope(server, &request),
                operation_timeout(server, &request),
            )
            .await;
            if run.run.lock().await.is_done() {
                shell
                    .lock()
                    .await
                    .commands
                    .remove(&command_id.to_ascii_uppercase());
            }
            reply
        }
        RequestBody::Command {
            command_id,
            arguments,
        } => {
            let mut shell = shell.lock().await;
            let command_id = command_id
                .unwrap_or_else(|| Uuid::new_v4().to_string())
                .to_ascii_uppercase();
            let mut run = CommandRun::new(
                command_id.clone(),
                shell.rpid,
                shell.options,
                shell.object_ids.clone(),
            );
            if let Err(text) = run.feed(server, user, &arguments) {
                return fault(&relates, &Fault::invalid_request(machine, &text));
            }
            shell
                .commands
                .insert(command_id.clone(), CommandSlot::new(run));
            Reply::Ok(ws::command_response(&relates, &command_id))
        }
        RequestBody::Send {
            command_id,
            streams,
        } => {
            let Some(command_id) = command_id else {
                // Input for the pool itself (host responses): not used.
                return Reply::Ok(ws::send_response(&relates));
            };
            let Some(run) = shell
                .lock()
                .await
                .commands
                .get(&command_id.to_ascii_uppercase())
                .cloned()
            else {
                return fault(&relates, &Fault::unknown_command(machine));
            };
            let mut run = run.run.lock().await;
            for (_, data) in streams {
                if let Err(text) = run.feed(server, user, &data) {
                    return fault(&relates, &Fault::invalid_request(machine, &text));
                }
            }
            Reply::Ok(ws::send_response(&relates))
        }
        RequestBody::Signal { command_id, code } => {
            let known = [SIGNAL_TERMINATE, SIGNAL_PS_CTRL_C, SIGNAL_PS_CTRL_C_ALT];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(&code)) {
                return fault(
                    &relates,
                    &Fault::invalid_request(machine, &format!("unknown signal code '{code}'")),
                );
            }
            if let Some(command_id) = command_id {
                let key = command_id.to_ascii_uppercase();
                let run = shell.lock().await.commands.get(&key).cloned();
                let Some(run) = run else {
                    return fault(&relates, &Fault::unknown_command(machine));
                };
                command::request_stop(&run).await;
                if code.eq_ignore_ascii_case(SIGNAL_TERMINATE) {
                    shell.lock().await.commands.remove(&key);
                }
            }
            Reply::Ok(ws::signal_response(&relates))
        }
        RequestBody::Delete => {
            let limit = server.config.faults.drop_deletes;
            if server
                .deletes_dropped
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < limit).then_some(n + 1)
                })
                .is_ok()
            {
                tracing::debug!("a shell Delete dropped (fault --drop-deletes)");
                return Reply::Drop;
            }
            let id = shell.lock().await.id.clone();
            let runs: Vec<_> = shell
                .lock()
                .await
                .commands
                .drain()
                .map(|(_, r)| r)
                .collect();
            for run in runs {
                command::request_stop(&run).await;
            }
            server.shells.remove(&id);
            tracing::debug!(shell = %id, "shell deleted");
            Reply::Ok(ws::delete_response(&relates))
        }
        RequestBody::Create { .. } | RequestBody::Other => fault(
            &relates,
            &Fault::invalid_request(machine, "unexpected action for a shell"),
        ),
    }
}
