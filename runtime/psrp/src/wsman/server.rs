//! Server side: request parsing and response envelopes, shaped like a
//! Windows WinRM service's.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use uuid::Uuid;

use super::xml::{self, escape};
use super::{
    parse_duration, selector, Fault, WsmanError, ACTION_COMMAND, ACTION_CREATE, ACTION_DELETE,
    ACTION_FAULT, ACTION_RECEIVE, ACTION_SEND, ACTION_SIGNAL, ANONYMOUS, COMMAND_STATE_DONE,
    NS_ADDRESSING, NS_POWERSHELL, NS_SHELL, NS_SOAP, NS_WSMAN,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    Create {
        shell_id: Option<String>,
        creation_xml: Vec<u8>,
    },
    Receive {
        command_id: Option<String>,
    },
    Command {
        command_id: Option<String>,
        arguments: Vec<u8>,
    },
    Send {
        command_id: Option<String>,
        streams: Vec<(String, Vec<u8>)>,
    },
    Signal {
        command_id: Option<String>,
        code: String,
    },
    Delete,
    /// An action this server does not implement (answered with a fault).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: String,
    /// `uuid:...` as sent, echoed in RelatesTo.
    pub message_id: String,
    pub resource_uri: Option<String>,
    pub shell_id: Option<String>,
    pub max_envelope_size: Option<u32>,
    pub operation_timeout: Option<Duration>,
    /// `wsman:Option` name/value pairs (e.g. `protocolversion`).
    pub options: Vec<(String, String)>,
    pub body: RequestBody,
}

impl Request {
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn decode_b64(text: &str, what: &str) -> Result<Vec<u8>, WsmanError> {
    B64.decode(text.trim())
        .map_err(|e| WsmanError::Unexpected(format!("{what} is not base64: {e}")))
}

pub fn parse_request(bytes: &[u8]) -> Result<Request, WsmanError> {
    let root = xml::parse(bytes)?;
    if !root.is(NS_SOAP, "Envelope") {
        return Err(WsmanError::Unexpected(
            "root element is not a SOAP 1.2 Envelope".into(),
        ));
    }
    let header = root
        .child(NS_SOAP, "Header")
        .ok_or_else(|| WsmanError::Unexpected("envelope has no Header".into()))?;
    let body = root
        .child(NS_SOAP, "Body")
        .ok_or_else(|| WsmanError::Unexpected("envelope has no Body".into()))?;
    let text = |ns: &str, name: &str| header.child(ns, name).map(|e| e.trimmed_text().to_string());
    let action = text(NS_ADDRESSING, "Action")
        .ok_or_else(|| WsmanError::Unexpected("request has no wsa:Action".into()))?;
    let options = header
        .child(NS_WSMAN, "OptionSet")
        .map(|set| {
            set.children_named(NS_WSMAN, "Option")
                .map(|o| {
                    (
                        o.attr("Name").unwrap_or_default().to_string(),
                        o.trimmed_text().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let shell_id = selector(header.child(NS_WSMAN, "SelectorSet"), "ShellId").map(str::to_string);
    let body = match action.as_str() {
        ACTION_CREATE => {
            let shell = body.child(NS_SHELL, "Shell");
            let creation = shell
                .and_then(|s| s.child(NS_POWERSHELL, "creationXml"))
                .ok_or_else(|| WsmanError::Unexpected("Create carries no creationXml".into()))?;
            RequestBody::Create {
                shell_id: shell.and_then(|s| s.attr("ShellId")).map(str::to_string),
                creation_xml: decode_b64(&creation.text, "creationXml")?,
            }
        }
        ACTION_RECEIVE => RequestBody::Receive {
            command_id: body
                .path(&[(NS_SHELL, "Receive"), (NS_SHELL, "DesiredStream")])
                .and_then(|d| d.attr("CommandId"))
                .map(str::to_string),
        },
        ACTION_COMMAND => {
            let line = body
                .child(NS_SHELL, "CommandLine")
                .ok_or_else(|| WsmanError::Unexpected("Command carries no CommandLine".into()))?;
            let arguments = match line.child(NS_SHELL, "Arguments") {
                Some(a) => decode_b64(&a.text, "Arguments")?,
                None => Vec::new(),
            };
            RequestBody::Command {
                command_id: line.attr("CommandId").map(str::to_string),
                arguments,
            }
        }
        ACTION_SEND => {
            let send = body
                .child(NS_SHELL, "Send")
                .ok_or_else(|| WsmanError::Unexpected("Send carries no rsp:Send".into()))?;
            let mut command_id = None;
            let mut streams = Vec::new();
            for stream in send.children_named(NS_SHELL, "Stream") {
                if command_id.is_none() {
                    command_id = stream.attr("CommandId").map(str::to_string);
                }
                streams.push((
                    stream.attr("Name").unwrap_or_default().to_string(),
                    decode_b64(&stream.text, "Send stream")?,
                ));
            }
            RequestBody::Send {
                command_id,
                streams,
            }
        }
        ACTION_SIGNAL => {
            let signal = body
                .child(NS_SHELL, "Signal")
                .ok_or_else(|| WsmanError::Unexpected("Signal carries no rsp:Signal".into()))?;
            RequestBody::Signal {
                command_id: signal.attr("CommandId").map(str::to_string),
                code: signal
                    .child(NS_SHELL, "Code")
                    .map(|c| c.trimmed_text().to_string())
                    .unwrap_or_default(),
            }
        }
        ACTION_DELETE => RequestBody::Delete,
        _ => RequestBody::Other,
    };
    Ok(Request {
        message_id: text(NS_ADDRESSING, "MessageID").unwrap_or_default(),
        resource_uri: text(NS_WSMAN, "ResourceURI"),
        shell_id,
        max_envelope_size: text(NS_WSMAN, "MaxEnvelopeSize").and_then(|t| t.parse().ok()),
        operation_timeout: text(NS_WSMAN, "OperationTimeout").and_then(|t| parse_duration(&t)),
        options,
        action,
        body,
    })
}

/// Starts a response envelope with Windows' prefixes and header.
fn open(out: &mut String, action: &str, relates_to: &str) {
    let _ = write!(
        out,
        concat!(
            "<s:Envelope xml:lang=\"en-US\" xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" ",
            "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" ",
            "xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\" ",
            "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" ",
            "xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\" ",
            "xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\">",
            "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{id}</a:MessageID>",
            "<a:To>{anonymous}</a:To><a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body>"
        ),
        action = action,
        id = Uuid::new_v4().hyphenated().to_string().to_uppercase(),
        anonymous = ANONYMOUS,
        relates = escape(relates_to),
    );
}

const CLOSE: &str = "</s:Body></s:Envelope>";

fn simple(action: &str, relates_to: &str, body: &str) -> String {
    let mut out = String::with_capacity(1024 + body.len());
    open(&mut out, action, relates_to);
    out.push_str(body);
    out.push_str(CLOSE);
    out
}

pub struct CreatedShell<'a> {
    pub address: &'a str,
    pub resource_uri: &'a str,
    pub shell_id: &'a str,
    pub owner: &'a str,
    pub client_ip: &'a str,
}

pub fn create_response(relates_to: &str, shell: &CreatedShell<'_>) -> String {
    let body = format!(
        concat!(
            "<x:ResourceCreated><a:Address>{address}</a:Address><a:ReferenceParameters>",
            "<w:ResourceURI>{resource}</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">{id}</w:Selector></w:SelectorSet>",
            "</a:ReferenceParameters></x:ResourceCreated>",
            "<rsp:Shell><rsp:ShellId>{id}</rsp:ShellId><rsp:ResourceUri>{resource}</rsp:ResourceUri>",
            "<rsp:Owner>{owner}</rsp:Owner><rsp:ClientIP>{ip}</rsp:ClientIP>",
            "<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>",
            "<rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:MaxIdleTimeOut>PT43200.000S</rsp:MaxIdleTimeOut>",
            "<rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>",
            "<rsp:CompressionMode>NoCompression</rsp:CompressionMode><rsp:ProfileLoaded>Yes</rsp:ProfileLoaded>",
            "<rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode><rsp:State>Connected</rsp:State>",
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
        ),
        address = escape(shell.address),
        resource = escape(shell.resource_uri),
        id = escape(shell.shell_id),
        owner = escape(shell.owner),
        ip = escape(shell.client_ip),
    );
    simple(&format!("{ACTION_CREATE}Response"), relates_to, &body)
}

pub fn command_response(relates_to: &str, command_id: &str) -> String {
    let body = format!(
        "<rsp:CommandResponse><rsp:CommandId>{}</rsp:CommandId></rsp:CommandResponse>",
        escape(command_id)
    );
    simple(&format!("{ACTION_COMMAND}Response"), relates_to, &body)
}

pub fn send_response(relates_to: &str) -> String {
    simple(
        &format!("{ACTION_SEND}Response"),
        relates_to,
        "<rsp:SendResponse/>",
    )
}

pub fn signal_response(relates_to: &str) -> String {
    simple(
        &format!("{ACTION_SIGNAL}Response"),
        relates_to,
        "<rsp:SignalResponse/>",
    )
}

pub fn delete_response(relates_to: &str) -> String {
    simple(&format!("{ACTION_DELETE}Response"), relates_to, "")
}

pub fn fault_response(relates_to: &str, fault: &Fault) -> String {
    simple(ACTION_FAULT, relates_to, &fault.to_xml())
}

/// Builds a ReceiveResponse stream by stream, base64-encoding each fragment
/// straight into the envelope, so a sender can fill an envelope up to
/// MaxEnvelopeSize without re-encoding.
pub struct ReceiveResponseBuilder {
    out: String,
    command_id: Option<String>,
}

/// Room kept for the closing tags and CommandState.
const CLOSING_RESERVE: usize = 400;

impl ReceiveResponseBuilder {
    pub fn new(relates_to: &str, command_id: Option<&str>) -> Self {
        let mut out = String::with_capacity(4096);
        open(&mut out, &format!("{ACTION_RECEIVE}Response"), relates_to);
        out.push_str("<rsp:ReceiveResponse>");
        ReceiveResponseBuilder {
            out,
            command_id: command_id.map(|c| escape(c).into_owned()),
        }
    }

    fn stream_overhead(&self) -> usize {
        // <rsp:Stream Name="stdout" CommandId="...">...</rsp:Stream>
        60 + self.command_id.as_ref().map_or(0, |c| c.len() + 13)
    }

    /// Raw fragment bytes that still fit in one more stream element within
    /// `max_envelope_size`.
    pub fn room_for_fragment(&self, max_envelope_size: u32) -> usize {
        let used = self.out.len() + self.stream_overhead() + CLOSING_RESERVE;
        let room = (max_envelope_size as usize).saturating_sub(used);
        (room / 4) * 3
    }

    pub fn push_stream(&mut self, fragment: &[u8]) {
        self.out.push_str("<rsp:Stream Name=\"stdout\"");
        if let Some(id) = &self.command_id {
            let _ = write!(self.out, " CommandId=\"{id}\"");
        }
        self.out.push('>');
        B64.encode_string(fragment, &mut self.out);
        self.out.push_str("</rsp:Stream>");
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Closes the envelope; `done` adds the CommandState Done of a command.
    pub fn finish(mut self, done: bool) -> String {
        if done {
            if let Some(id) = &self.command_id {
                let _ = write!(
                    self.out,
                    "<rsp:CommandState CommandId=\"{id}\" State=\"{COMMAND_STATE_DONE}\"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"
                );
            }
        }
        self.out.push_str("</rsp:ReceiveResponse>");
        self.out.push_str(CLOSE);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_receive_response_stays_within_max_envelope_size() {
        for max in [4_096u32, 153_600, 512_000] {
            let mut builder = ReceiveResponseBuilder::new(
                "uuid:0D4C4F5E-0000-0000-0000-000000000000",
                Some("7A3E9C2B-5A4D-4E2B-9C1D-0123456789AB"),
            );
            let mut pushed = 0;
            loop {
                let room = builder.room_for_fragment(max);
                if room < 100 {
                    break;
                }
                builder.push_stream(&vec![0xAB; room.min(1000 + pushed * 37)]);
                pushed += 1;
            }
            let xml = builder.finish(true);
            assert!(xml.len() <= max as usize, "{} > {max}", xml.len());
            assert!(
                xml.len() > max as usize * 9 / 10,
                "{} leaves too much unused",
                xml.len()
            );
        }
    }
}
