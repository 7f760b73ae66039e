//! A hostile WS-Management endpoint for the end-to-end tests: it answers the
//! real protocol handshake (Create, the opening Receive with
//! SESSION_CAPABILITY and RunspacePoolState Opened, Command) and then plays
//! one attack on every command's Receives. Plain HTTP/1.1 over std sockets,
//! one thread per connection, so an attack can also stall or dribble bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};
use idconn_psrp::fragment::Fragment;
use idconn_psrp::message::{self, Destination, Message};
use idconn_psrp::wsman::server::{self as ws, RequestBody};
use idconn_psrp::wsman::Fault;

/// The command every Command request gets.
pub const COMMAND_ID: &str = "0A1B2C3D-0000-4000-8000-00000000C0DE";
const SHELL_ID: &str = "0A1B2C3D-0000-4000-8000-0000000005E1";

/// What the server answers.
pub enum Reply {
    /// HTTP 200 with this SOAP body.
    Soap(String),
    /// HTTP 500 with this SOAP body (a fault).
    Fault(String),
    /// HTTP 200 announcing `body`, then one byte per `every`.
    Dribble { body: String, every: Duration },
    /// No answer at all: the connection is held until the client leaves.
    Hang,
    /// HTTP 500, plain text: the attack is over.
    Over,
}

/// One attack: what to answer to the Create, and to the n-th Receive of a
/// command (n from 0; `relates_to` is the request's MessageID).
pub trait Attack: Send + Sync + 'static {
    fn create(&self, relates_to: &str) -> Reply {
        Reply::Soap(ws::create_response(
            relates_to,
            &ws::CreatedShell {
                address: "http://hostile/wsman",
                resource_uri: "http://schemas.microsoft.com/powershell/Microsoft.Exchange",
                shell_id: SHELL_ID,
                owner: "hostile",
                client_ip: "127.0.0.1",
            },
        ))
    }

    fn receive(&self, relates_to: &str, n: usize) -> Reply;
}

/// A ReceiveResponse for [`COMMAND_ID`] carrying `streams` (each the raw
/// bytes of one `rsp:Stream`), with CommandState Done when `done`.
pub fn receive_response(relates_to: &str, streams: &[Vec<u8>], done: bool) -> String {
    let mut builder = ws::ReceiveResponseBuilder::new(relates_to, Some(COMMAND_ID));
    for stream in streams {
        builder.push_stream(stream);
    }
    builder.finish(done)
}

/// One fragment on the wire.
pub fn fragment(object_id: u64, fragment_id: u64, start: bool, end: bool, blob: &[u8]) -> Vec<u8> {
    Fragment {
        object_id,
        fragment_id,
        start,
        end,
        blob,
    }
    .encode()
}

/// A whole message in one fragment.
pub fn whole(object_id: u64, message: &Message) -> Vec<u8> {
    fragment(object_id, 0, true, true, &message.encode(true))
}

/// PIPELINE_OUTPUT with this CLIXML.
pub fn output(clixml: &str) -> Message {
    message::pipeline_output(uuid::Uuid::nil(), uuid::Uuid::nil(), clixml.to_string())
}

/// PIPELINE_STATE Completed.
pub fn completed() -> Message {
    message::pipeline_state(
        uuid::Uuid::nil(),
        uuid::Uuid::nil(),
        message::pipeline_state_values::COMPLETED,
        None,
    )
}

/// A running hostile server, stopped when dropped.
pub struct HostileServer {
    /// `http://127.0.0.1:<port>/PowerShell/`
    pub url: String,
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    /// Shells created and not deleted.
    pub open_shells: Arc<AtomicUsize>,
}

impl HostileServer {
    pub fn start(attack: impl Attack) -> anyhow::Result<HostileServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let open_shells = Arc::new(AtomicUsize::new(0));
        let attack: Arc<dyn Attack> = Arc::new(attack);
        let accept = {
            let stop = stop.clone();
            let open_shells = open_shells.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let attack = attack.clone();
                    let stop = stop.clone();
                    let open_shells = open_shells.clone();
                    // Connection threads end when the client closes (the
                    // idconn child exits) or when the server stops.
                    std::thread::spawn(move || {
                        let _ = serve(stream, &*attack, &stop, &open_shells);
                    });
                }
            })
        };
        Ok(HostileServer {
            url: format!("http://127.0.0.1:{port}/PowerShell/"),
            port,
            stop,
            accept: Some(accept),
            open_shells,
        })
    }

    /// Connection settings for this server (Basic, which it ignores).
    pub fn connection(&self, limits: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "AuthType": "HttpBasic",
            "Server": self.url,
            "Login": "admin",
            "Password": "admin",
            "AllowUnencrypted": true,
            "Limits": limits,
        })
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Reads one HTTP request; `None` when the client closed the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Vec<u8>>> {
    let mut length = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if first {
            first = false;
            if !line.starts_with("POST ") {
                bail!("not a POST: {line}");
            }
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("Content-Length")?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(body))
}

fn write_response(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

const SOAP: &str = "application/soap+xml;charset=UTF-8";

fn serve(
    stream: TcpStream,
    attack: &dyn Attack,
    stop: &AtomicBool,
    open_shells: &AtomicUsize,
) -> anyhow::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    // Receives of the command, counted per connection's server (the client
    // keeps one connection; a reconnect starts the attack over).
    let mut receives = 0usize;
    let mut opened = false;
    while let Some(body) = read_request(&mut reader)? {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // A Basic or anonymous client sends its envelope at once.
        let request = ws::parse_request(&body).context("a request that is not WS-Management")?;
        let relates = request.message_id.clone();
        let reply = match &request.body {
            RequestBody::Create { .. } => {
                let reply = attack.create(&relates);
                if matches!(reply, Reply::Soap(_)) {
                    open_shells.fetch_add(1, Ordering::SeqCst);
                }
                reply
            }
            RequestBody::Receive { command_id: None } if !opened => {
                opened = true;
                let capability = message::session_capability(
                    Destination::Client,
                    uuid::Uuid::nil(),
                    message::PROTOCOL_VERSION,
                );
                let state = message::runspace_pool_state(
                    uuid::Uuid::nil(),
                    message::runspace_state::OPENED,
                    None,
                );
                let mut b = ws::ReceiveResponseBuilder::new(&relates, None);
                b.push_stream(&whole(1, &capability));
                b.push_stream(&whole(2, &state));
                Reply::Soap(b.finish(false))
            }
            RequestBody::Receive { command_id: None } => {
                Reply::Fault(ws::fault_response(&relates, &Fault::timed_out("hostile")))
            }
            RequestBody::Command { .. } => Reply::Soap(ws::command_response(&relates, COMMAND_ID)),
            RequestBody::Receive {
                command_id: Some(_),
            } => {
                let n = receives;
                receives += 1;
                attack.receive(&relates, n)
            }
            RequestBody::Send { .. } => Reply::Soap(ws::send_response(&relates)),
            RequestBody::Signal { .. } => Reply::Soap(ws::signal_response(&relates)),
            RequestBody::Delete => {
                let _ = open_shells
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                Reply::Soap(ws::delete_response(&relates))
            }
            RequestBody::Other => Reply::Over,
        };
        match reply {
            Reply::Soap(body) => write_response(&mut writer, "200 OK", SOAP, body.as_bytes())?,
            Reply::Fault(body) => write_response(
                &mut writer,
                "500 Internal Server Error",
                SOAP,
                body.as_bytes(),
            )?,
            Reply::Over => write_response(
                &mut writer,
                "500 Internal Server Error",
                "text/plain",
                b"the attack is over",
            )?,
            Reply::Dribble { body, every } => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {SOAP}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                writer.write_all(head.as_bytes())?;
                for byte in body.as_bytes() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    writer.write_all(&[*byte])?;
                    writer.flush()?;
                    // The attack itself is slowness: this sleep is the
                    // server's behaviour, not a synchronization.
                    std::thread::sleep(every);
                }
            }
            Reply::Hang => {
                // Waits until the client gives up (it closes the socket).
                let mut sink = [0u8; 1];
                let _ = reader.get_mut().read(&mut sink);
                break;
            }
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

/// How a measured child ended.
#[derive(Debug)]
pub struct MeasuredRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The child's peak resident set (getrusage's ru_maxrss of that one
    /// child, through wait4), in KiB.
    pub peak_rss_kib: u64,
}

impl MeasuredRun {
    pub fn text(&self) -> String {
        format!(
            "success {}, peak RSS {} MiB\n--- stdout\n{}\n--- stderr\n{}",
            self.success,
            self.peak_rss_kib / 1024,
            crate::clip(&self.stdout),
            crate::clip(&self.stderr)
        )
    }
}

/// Runs `idconn <args>` and measures its peak RSS.
pub fn run_idconn_measured(args: &[std::ffi::OsString]) -> anyhow::Result<MeasuredRun> {
    let stdout = tempfile::NamedTempFile::new()?;
    let stderr = tempfile::NamedTempFile::new()?;
    let child = std::process::Command::new(crate::binary("idconn")?)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(stdout.reopen()?)
        .stderr(stderr.reopen()?)
        .spawn()
        .context("cannot run idconn")?;
    let pid = libc::pid_t::try_from(child.id()).context("pid")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; the pointers are
    // to live locals. std's Child is never waited on after this.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    Ok(MeasuredRun {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: std::fs::read_to_string(stdout.path()).unwrap_or_default(),
        stderr: std::fs::read_to_string(stderr.path()).unwrap_or_default(),
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}
