//! WS-Management (MS-WSMV) envelopes for the PowerShell plugin, both sides:
//! `client` builds requests and reads responses, `server` reads requests and
//! builds responses. Matching is by namespace URI, never by prefix.

pub mod client;
mod duration;
mod fault;
pub mod receive;
pub mod server;
pub mod xml;

pub use duration::{format_duration, parse_duration};
pub use fault::Fault;

pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
pub const NS_WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
pub const NS_WSMV: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
pub const NS_SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
pub const NS_TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
pub const NS_WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
pub const NS_POWERSHELL: &str = "http://schemas.microsoft.com/powershell";

pub const ACTION_CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
pub const ACTION_DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
pub const ACTION_RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
pub const ACTION_COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
pub const ACTION_SEND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send";
pub const ACTION_SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
pub const ACTION_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";

pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
pub const COMMAND_STATE_DONE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
pub const COMMAND_STATE_RUNNING: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";

/// Ends a command or shell (MS-WSMV 2.2.5.6).
pub const SIGNAL_TERMINATE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
/// Stops a pipeline. MS-PSRP 3.1.5.3.9 spells it `crtl_c` (and PowerShell
/// sends that); MS-WSMV lists `ctrl_c`, which Windows accepts too.
pub const SIGNAL_PS_CTRL_C: &str = "powershell/signal/crtl_c";
pub const SIGNAL_PS_CTRL_C_ALT: &str = "powershell/signal/ctrl_c";

/// The ResourceURI of a PowerShell session configuration, e.g.
/// `Microsoft.Exchange`.
pub fn resource_uri(configuration_name: &str) -> String {
    format!("{NS_POWERSHELL}/{configuration_name}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsmanError {
    #[error(transparent)]
    Xml(#[from] xml::XmlError),
    #[error(transparent)]
    Fault(Box<Fault>),
    #[error("unexpected WS-Management message: {0}")]
    Unexpected(String),
}

/// Checks the envelope and returns its Body, or the Fault it carries.
pub fn envelope_body(root: &xml::Element) -> Result<&xml::Element, WsmanError> {
    if !root.is(NS_SOAP, "Envelope") {
        return Err(WsmanError::Unexpected(format!(
            "root element is {{{}}}{}, not a SOAP 1.2 Envelope",
            root.namespace, root.name
        )));
    }
    let body = root
        .child(NS_SOAP, "Body")
        .ok_or_else(|| WsmanError::Unexpected("envelope has no Body".into()))?;
    if let Some(fault) = body.child(NS_SOAP, "Fault") {
        return Err(WsmanError::Fault(Box::new(Fault::from_element(fault))));
    }
    Ok(body)
}

/// The value of `<w:Selector Name="...">` in a SelectorSet.
pub(crate) fn selector<'a>(set: Option<&'a xml::Element>, name: &str) -> Option<&'a str> {
    set?.children_named(NS_WSMAN, "Selector")
        .find(|s| s.attr("Name") == Some(name))
        .map(|s| s.trimmed_text())
}
