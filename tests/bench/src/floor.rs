//! The floor: a client that opens a runspace pool, runs the export's two
//! pipelines and drains their Receive streams without decoding anything
//! (no XML parse, no base64, no CLIXML). What is left is the simulator and
//! the loopback: no PSRP client can be faster on this server.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use idconn_psrp::fragment::{fragment_budget, Defragmenter, Fragmenter};
use idconn_psrp::message::{self, Destination, Message, MessageType};
use idconn_psrp::state::RunspacePoolState;
use idconn_psrp::wsman::{self, client as ws};
use uuid::Uuid;

/// What one drain moved.
pub struct Drained {
    pub wall: Duration,
    pub response_bytes: u64,
    pub receives: u64,
}

struct Http {
    sender: SendRequest<Full<Bytes>>,
    target: Uri,
    host: String,
    authorization: String,
}

impl Http {
    async fn post(&mut self, body: String) -> anyhow::Result<Bytes> {
        let request = Request::post(self.target.clone())
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/soap+xml;charset=UTF-8")
            .header(AUTHORIZATION, &self.authorization)
            .body(Full::new(Bytes::from(body)))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "the simulator answered HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok(body)
    }
}

/// Runs `pipelines` one after the other on a new shell, draining each.
pub async fn drain(
    url: &str,
    user: &str,
    password: &str,
    pipelines: &[Vec<idconn_psrp::Command>],
) -> anyhow::Result<Drained> {
    let started = Instant::now();
    let uri: Uri = url.parse().context("the simulator URL")?;
    let host = uri
        .authority()
        .context("the simulator URL has no host")?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection);
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut http = Http {
        sender,
        target: uri.path_and_query().map_or("/", |p| p.as_str()).parse()?,
        host,
        authorization: format!("Basic {credentials}"),
    };
    let mut ctx = ws::RequestContext {
        to: url.to_string(),
        resource_uri: wsman::resource_uri("Microsoft.Exchange"),
        max_envelope_size: idconn_psrp::client::DEFAULT_MAX_ENVELOPE_SIZE,
        operation_timeout: Duration::from_secs(60),
        locale: "en-US".into(),
        session_id: Uuid::new_v4(),
    };
    let rpid = Uuid::new_v4();
    let mut fragmenter = Fragmenter::new();
    let mut creation = Vec::new();
    let budget = fragment_budget(ctx.max_envelope_size, ws::envelope_overhead(&ctx));
    for m in [
        message::session_capability(Destination::Server, rpid, message::PROTOCOL_VERSION),
        message::init_runspace_pool(rpid, None),
    ] {
        for fragment in fragmenter.fragment(&m.encode(false), budget) {
            fragment.encode_into(&mut creation);
        }
    }
    let create = ws::create(&ctx, rpid, message::PROTOCOL_VERSION, &creation);
    let shell_id = ws::created_shell_id(&ws::parse_response(&http.post(create.body).await?)?)?;
    wait_opened(&mut http, &ctx, &shell_id).await?;
    // The simulator speaks protocol 2.3, so the large envelope applies.
    ctx.max_envelope_size = idconn_psrp::client::LARGE_MAX_ENVELOPE_SIZE;

    let (mut response_bytes, mut receives) = (0u64, 0u64);
    for commands in pipelines {
        let pid = Uuid::new_v4();
        let create = message::create_pipeline(rpid, pid, commands, message::PROTOCOL_VERSION);
        let budget = fragment_budget(ctx.max_envelope_size, ws::envelope_overhead(&ctx));
        let mut fragments = Vec::new();
        for fragment in fragmenter.fragment(&create.encode(false), budget) {
            fragment.encode_into(&mut fragments);
        }
        if fragments.len() > budget {
            bail!("the pipeline does not fit one Command envelope");
        }
        let command = ws::command(&ctx, &shell_id, pid, &fragments);
        let command_id = ws::command_id(&ws::parse_response(&http.post(command.body).await?)?)?;
        loop {
            let receive = ws::receive(&ctx, &shell_id, Some(&command_id));
            let body = http.post(receive.body).await?;
            response_bytes += body.len() as u64;
            receives += 1;
            // The CommandState closes the ReceiveResponse: look at the tail only.
            let tail = &body[body.len().saturating_sub(1024)..];
            if contains(tail, b"CommandState/Done") {
                break;
            }
        }
    }
    http.post(ws::delete(&ctx, &shell_id).body).await?;
    Ok(Drained {
        wall: started.elapsed(),
        response_bytes,
        receives,
    })
}

async fn wait_opened(
    http: &mut Http,
    ctx: &ws::RequestContext,
    shell_id: &str,
) -> anyhow::Result<()> {
    let mut defragmenter = Defragmenter::default();
    for _ in 0..64 {
        let root = ws::parse_response(&http.post(ws::receive(ctx, shell_id, None).body).await?)?;
        for stream in ws::receive_response(&root)?.streams {
            for bytes in defragmenter.push(&stream.data)? {
                let m = Message::decode(bytes)?;
                if m.message_type == MessageType::RunspacePoolState {
                    let info = message::parse_runspace_pool_state(&m)?;
                    if RunspacePoolState::from_wire(info.state)? == RunspacePoolState::Opened {
                        return Ok(());
                    }
                }
            }
        }
    }
    bail!("the runspace pool did not open")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
