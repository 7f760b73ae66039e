//! Client side: request envelopes and response parsing.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use uuid::Uuid;

use super::xml::{self, escape, Element};
use super::{
    envelope_body, format_duration, selector, WsmanError, ACTION_COMMAND, ACTION_CREATE,
    ACTION_DELETE, ACTION_RECEIVE, ACTION_SEND, ACTION_SIGNAL, ANONYMOUS, COMMAND_STATE_DONE,
    NS_ADDRESSING, NS_SHELL, NS_WSMAN,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What every request of one shell has in common.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The endpoint URL exactly as configured (`http://host/PowerShell/?x=y`).
    pub to: String,
    pub resource_uri: String,
    pub max_envelope_size: u32,
    pub operation_timeout: Duration,
    pub locale: String,
    pub session_id: Uuid,
}

/// A request body and the MessageID it carries.
#[derive(Debug, Clone)]
pub struct Request {
    pub message_id: Uuid,
    pub body: String,
}

fn guid(id: Uuid) -> String {
    id.hyphenated().to_string().to_uppercase()
}

struct Header<'a> {
    action: &'a str,
    options: &'a [(&'a str, &'a str, bool)],
    shell_id: Option<&'a str>,
}

fn envelope(ctx: &RequestContext, header: Header<'_>, body: &str) -> Request {
    let message_id = Uuid::new_v4();
    let mut out = String::with_capacity(1600 + body.len());
    let locale = escape(&ctx.locale);
    // Prefixes as pypsrp and PowerShell's client write them.
    let _ = write!(
        out,
        concat!(
            "<s:Envelope xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\" ",
            "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" ",
            "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" ",
            "xmlns:wsman=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" ",
            "xmlns:wsmv=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"><s:Header>",
            "<wsa:Action s:mustUnderstand=\"true\">{action}</wsa:Action>",
            "<wsmv:DataLocale s:mustUnderstand=\"false\" xml:lang=\"{locale}\" />",
            "<wsman:Locale s:mustUnderstand=\"false\" xml:lang=\"{locale}\" />",
            "<wsman:MaxEnvelopeSize s:mustUnderstand=\"true\">{max}</wsman:MaxEnvelopeSize>",
            "<wsa:MessageID>uuid:{message_id}</wsa:MessageID>",
            "<wsman:OperationTimeout>{timeout}</wsman:OperationTimeout>",
            "<wsa:ReplyTo><wsa:Address s:mustUnderstand=\"true\">{anonymous}</wsa:Address></wsa:ReplyTo>",
            "<wsman:ResourceURI s:mustUnderstand=\"true\">{resource}</wsman:ResourceURI>",
            "<wsmv:SessionId s:mustUnderstand=\"false\">uuid:{session}</wsmv:SessionId>",
            "<wsa:To>{to}</wsa:To>"
        ),
        action = header.action,
        locale = locale,
        max = ctx.max_envelope_size,
        message_id = guid(message_id),
        timeout = format_duration(ctx.operation_timeout),
        anonymous = ANONYMOUS,
        resource = escape(&ctx.resource_uri),
        session = guid(ctx.session_id),
        to = escape(&ctx.to),
    );
    if !header.options.is_empty() {
        out.push_str("<wsman:OptionSet s:mustUnderstand=\"true\">");
        for (name, value, must_comply) in header.options {
            if *must_comply {
                let _ = write!(
                    out,
                    "<wsman:Option MustComply=\"true\" Name=\"{name}\">{value}</wsman:Option>"
                );
            } else {
                let _ = write!(out, "<wsman:Option Name=\"{name}\">{value}</wsman:Option>");
            }
        }
        out.push_str("</wsman:OptionSet>");
    }
    if let Some(shell_id) = header.shell_id {
        let _ = write!(
            out,
            "<wsman:SelectorSet><wsman:Selector Name=\"ShellId\">{}</wsman:Selector></wsman:SelectorSet>",
            escape(shell_id)
        );
    }
    out.push_str("</s:Header>");
    if body.is_empty() {
        out.push_str("<s:Body />");
    } else {
        out.push_str("<s:Body>");
        out.push_str(body);
        out.push_str("</s:Body>");
    }
    out.push_str("</s:Envelope>");
    Request {
        message_id,
        body: out,
    }
}

/// Bytes of envelope around the payload of a Command or Send, to size
/// fragments: the real header plus room for the body's elements.
pub fn envelope_overhead(ctx: &RequestContext) -> usize {
    let header = envelope(
        ctx,
        Header {
            action: ACTION_COMMAND,
            options: &[
                ("WINRS_SKIP_CMD_SHELL", "False", false),
                ("protocolversion", "2.3", true),
            ],
            shell_id: Some("00000000-0000-0000-0000-000000000000"),
        },
        "",
    );
    header.body.len() + 512
}

/// Create a shell (RunspacePool) with the fragments of SESSION_CAPABILITY and
/// INIT_RUNSPACEPOOL in `creation_fragments`.
pub fn create(
    ctx: &RequestContext,
    shell_id: Uuid,
    protocol_version: &str,
    creation_fragments: &[u8],
) -> Request {
    let body = format!(
        concat!(
            "<rsp:Shell ShellId=\"{id}\"><rsp:InputStreams>stdin pr</rsp:InputStreams>",
            "<rsp:OutputStreams>stdout</rsp:OutputStreams>",
            "<creationXml xmlns=\"http://schemas.microsoft.com/powershell\">{data}</creationXml></rsp:Shell>"
        ),
        id = guid(shell_id),
        data = B64.encode(creation_fragments),
    );
    envelope(
        ctx,
        Header {
            action: ACTION_CREATE,
            options: &[("protocolversion", protocol_version, true)],
            shell_id: None,
        },
        &body,
    )
}

/// Receive on the shell (`command_id` None) or on a pipeline.
pub fn receive(ctx: &RequestContext, shell_id: &str, command_id: Option<&str>) -> Request {
    let body = match command_id {
        Some(id) => format!(
            "<rsp:Receive><rsp:DesiredStream CommandId=\"{}\">stdout</rsp:DesiredStream></rsp:Receive>",
            escape(id)
        ),
        None => "<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>".to_string(),
    };
    envelope(
        ctx,
        Header {
            action: ACTION_RECEIVE,
            options: &[("WSMAN_CMDSHELL_OPTION_KEEPALIVE", "True", false)],
            shell_id: Some(shell_id),
        },
        &body,
    )
}

/// Command: starts a pipeline with the first fragments of CREATE_PIPELINE.
pub fn command(
    ctx: &RequestContext,
    shell_id: &str,
    command_id: Uuid,
    fragments: &[u8],
) -> Request {
    let body = format!(
        "<rsp:CommandLine CommandId=\"{}\"><rsp:Command /><rsp:Arguments>{}</rsp:Arguments></rsp:CommandLine>",
        guid(command_id),
        B64.encode(fragments)
    );
    envelope(
        ctx,
        Header {
            action: ACTION_COMMAND,
            options: &[("WINRS_SKIP_CMD_SHELL", "False", false)],
            shell_id: Some(shell_id),
        },
        &body,
    )
}

/// Send: more fragments on the `stdin` (or `pr`) stream.
pub fn send(
    ctx: &RequestContext,
    shell_id: &str,
    command_id: Option<&str>,
    stream: &str,
    fragments: &[u8],
) -> Request {
    let command = command_id
        .map(|id| format!(" CommandId=\"{}\"", escape(id)))
        .unwrap_or_default();
    let body = format!(
        "<rsp:Send><rsp:Stream Name=\"{}\"{}>{}</rsp:Stream></rsp:Send>",
        escape(stream),
        command,
        B64.encode(fragments)
    );
    envelope(
        ctx,
        Header {
            action: ACTION_SEND,
            options: &[],
            shell_id: Some(shell_id),
        },
        &body,
    )
}

pub fn signal(
    ctx: &RequestContext,
    shell_id: &str,
    command_id: Option<&str>,
    code: &str,
) -> Request {
    let command = command_id
        .map(|id| format!(" CommandId=\"{}\"", escape(id)))
        .unwrap_or_default();
    let body = format!(
        "<rsp:Signal{}><rsp:Code>{}</rsp:Code></rsp:Signal>",
        command,
        escape(code)
    );
    envelope(
        ctx,
        Header {
            action: ACTION_SIGNAL,
            options: &[],
            shell_id: Some(shell_id),
        },
        &body,
    )
}

pub fn delete(ctx: &RequestContext, shell_id: &str) -> Request {
    envelope(
        ctx,
        Header {
            action: ACTION_DELETE,
            options: &[],
            shell_id: Some(shell_id),
        },
        "",
    )
}

/// Parses a response, turning a SOAP fault into `WsmanError::Fault`.
pub fn parse_response(body: &[u8]) -> Result<Element, WsmanError> {
    let root = xml::parse(body)?;
    envelope_body(&root)?;
    Ok(root)
}

fn body_of(root: &Element) -> Result<&Element, WsmanError> {
    envelope_body(root)
}

/// The ShellId the server assigned (CreateResponse).
pub fn created_shell_id(root: &Element) -> Result<String, WsmanError> {
    let body = body_of(root)?;
    let id = match body.path(&[(NS_SHELL, "Shell"), (NS_SHELL, "ShellId")]) {
        Some(id) => id.trimmed_text(),
        None => selector(body.descendant(NS_WSMAN, "SelectorSet"), "ShellId")
            .ok_or_else(|| WsmanError::Unexpected("CreateResponse carries no ShellId".into()))?,
    };
    // The id goes into every later request and into log lines: a GUID
    // (MS-WSMV 2.2.4.37, as Exchange sends it) is all that is accepted.
    if !is_guid_like(id) {
        return Err(WsmanError::Unexpected(format!(
            "CreateResponse carries a ShellId that is not a GUID: '{}'",
            crate::untrusted::for_log(id, 64)
        )));
    }
    Ok(id.to_string())
}

/// Hex digits and dashes, 1 to 64 of them.
fn is_guid_like(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The CommandId of a CommandResponse.
pub fn command_id(root: &Element) -> Result<String, WsmanError> {
    body_of(root)?
        .path(&[(NS_SHELL, "CommandResponse"), (NS_SHELL, "CommandId")])
        .map(|id| id.trimmed_text().to_string())
        .ok_or_else(|| WsmanError::Unexpected("CommandResponse carries no CommandId".into()))
}

/// One `<rsp:Stream>` of a ReceiveResponse, base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedStream {
    pub name: String,
    pub command_id: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandState {
    pub command_id: Option<String>,
    pub state: String,
    pub exit_code: Option<i64>,
}

impl CommandState {
    pub fn is_done(&self) -> bool {
        self.state == COMMAND_STATE_DONE
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiveResponse {
    pub streams: Vec<ReceivedStream>,
    pub command_state: Option<CommandState>,
}

pub fn receive_response(root: &Element) -> Result<ReceiveResponse, WsmanError> {
    let response = body_of(root)?
        .child(NS_SHELL, "ReceiveResponse")
        .ok_or_else(|| WsmanError::Unexpected("expected a ReceiveResponse".into()))?;
    let mut out = ReceiveResponse::default();
    for stream in response.children_named(NS_SHELL, "Stream") {
        let text = stream.trimmed_text();
        let data = base64_simd::STANDARD
            .decode_to_vec(text.as_bytes())
            .map_err(|e| WsmanError::Unexpected(format!("Receive stream is not base64: {e}")))?;
        out.streams.push(ReceivedStream {
            name: stream.attr("Name").unwrap_or_default().to_string(),
            command_id: stream.attr("CommandId").map(str::to_string),
            data,
        });
    }
    if let Some(state) = response.child(NS_SHELL, "CommandState") {
        out.command_state = Some(CommandState {
            command_id: state.attr("CommandId").map(str::to_string),
            state: state.attr("State").unwrap_or_default().to_string(),
            exit_code: state
                .child(NS_SHELL, "ExitCode")
                .and_then(|c| c.trimmed_text().parse().ok()),
        });
    }
    Ok(out)
}

/// The `wsa:Action` of a response (for diagnostics).
pub fn action(root: &Element) -> Option<&str> {
    root.path(&[(super::NS_SOAP, "Header"), (NS_ADDRESSING, "Action")])
        .map(Element::trimmed_text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::NS_SOAP;
    use super::*;

    fn create_response(id: &str) -> Result<String, WsmanError> {
        let body = format!(
            "<s:Envelope xmlns:s=\"{NS_SOAP}\" xmlns:rsp=\"{NS_SHELL}\"><s:Body><rsp:Shell><rsp:ShellId>{id}</rsp:ShellId></rsp:Shell></s:Body></s:Envelope>"
        );
        created_shell_id(&parse_response(body.as_bytes()).unwrap())
    }

    #[test]
    fn a_shell_id_must_be_a_guid() {
        let guid = "01AA3E43-9E21-424B-A7FC-BC16AA34F4CE";
        assert_eq!(create_response(guid).unwrap(), guid);
        for bad in ["", "x", "1234&#10;INFO forged", &"a".repeat(65)] {
            let error = create_response(bad).unwrap_err().to_string();
            assert!(
                error.contains("not a GUID") && !error.contains('\n'),
                "{error}"
            );
        }
    }
}
