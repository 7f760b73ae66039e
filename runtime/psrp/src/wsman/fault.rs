//! SOAP faults as WS-Management sends them (MS-WSMV 2.2.4.43 WSManFault).

use super::xml::{escape, Element};
use super::{NS_SOAP, NS_WSMAN_FAULT};

/// `w:TimedOut`: nothing arrived within OperationTimeout; Receive again.
pub const CODE_TIMED_OUT: u32 = 2150858793;
/// `w:InvalidSelectors`: unknown shell or command.
pub const CODE_INVALID_SELECTORS: u32 = 2150858843;
/// WinRM's shells-per-user quota (ERROR_WSMAN_QUOTA_MAX_SHELLS_PPQ).
pub const CODE_SHELL_QUOTA: u32 = 2150859173;
pub const CODE_ACCESS_DENIED: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WS-Management fault {}{}: {}", self.subcode, self.code.map(|c| format!(" (code {c})")).unwrap_or_default(), self.message())]
pub struct Fault {
    /// `Sender` or `Receiver` (the SOAP fault code, prefix stripped).
    pub role: String,
    /// The subcode's local name, e.g. `TimedOut`, `InvalidSelectors`.
    pub subcode: String,
    /// `WSManFault/@Code`.
    pub code: Option<u32>,
    /// `Reason/Text`.
    pub reason: String,
    /// `WSManFault/Message` text (innermost provider text included).
    pub detail: String,
    pub machine: Option<String>,
}

fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname).trim()
}

impl Fault {
    pub fn from_element(fault: &Element) -> Fault {
        let code = fault.child(NS_SOAP, "Code");
        let role = code
            .and_then(|c| c.child(NS_SOAP, "Value"))
            .map(|v| local(v.trimmed_text()).to_string())
            .unwrap_or_default();
        let subcode = code
            .and_then(|c| c.path(&[(NS_SOAP, "Subcode"), (NS_SOAP, "Value")]))
            .map(|v| local(v.trimmed_text()).to_string())
            .unwrap_or_default();
        let reason = fault
            .path(&[(NS_SOAP, "Reason"), (NS_SOAP, "Text")])
            .map(|t| t.trimmed_text().to_string())
            .unwrap_or_default();
        let wsman = fault.descendant(NS_WSMAN_FAULT, "WSManFault");
        Fault {
            role,
            subcode,
            code: wsman
                .and_then(|w| w.attr("Code"))
                .and_then(|c| c.trim().parse().ok()),
            reason,
            detail: wsman
                .and_then(|w| w.child(NS_WSMAN_FAULT, "Message"))
                .map(|m| m.deep_text().trim().to_string())
                .unwrap_or_default(),
            machine: wsman.and_then(|w| w.attr("Machine")).map(str::to_string),
        }
    }

    /// The most specific human text available.
    pub fn message(&self) -> &str {
        if self.detail.is_empty() {
            &self.reason
        } else {
            &self.detail
        }
    }

    pub fn is_timed_out(&self) -> bool {
        self.code == Some(CODE_TIMED_OUT) || self.subcode == "TimedOut"
    }

    pub fn timed_out(machine: &str) -> Fault {
        let text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.";
        Fault::new(
            "Receiver",
            "w:TimedOut",
            CODE_TIMED_OUT,
            text,
            text,
            machine,
        )
    }

    pub fn unknown_shell(machine: &str) -> Fault {
        Fault::new(
            "Sender",
            "w:InvalidSelectors",
            CODE_INVALID_SELECTORS,
            "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.",
            "The request for the Windows Remote Shell with ShellId failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation.",
            machine,
        )
    }

    pub fn unknown_command(machine: &str) -> Fault {
        Fault::new(
            "Sender",
            "w:InvalidSelectors",
            CODE_INVALID_SELECTORS,
            "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.",
            "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier.",
            machine,
        )
    }

    pub fn access_denied(machine: &str) -> Fault {
        Fault::new(
            "Sender",
            "w:AccessDenied",
            CODE_ACCESS_DENIED,
            "Access is denied.",
            "Access is denied.",
            machine,
        )
    }

    /// What Exchange answers when a user already holds PowerShellMaxConcurrency
    /// shells.
    pub fn shell_quota(machine: &str, limit: usize) -> Fault {
        let text = format!(
            "Fail to create a runspace because you have exceeded the maximum number of connections allowed : {limit} for the policy party : MaxConcurrency. Please close existing runspace and try again."
        );
        Fault::new(
            "Receiver",
            "w:InternalError",
            CODE_SHELL_QUOTA,
            &text,
            &text,
            machine,
        )
    }

    /// A request the server cannot make sense of.
    pub fn invalid_request(machine: &str, text: &str) -> Fault {
        Fault::new(
            "Sender",
            "w:SchemaValidationError",
            2150858817,
            "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry.",
            text,
            machine,
        )
    }

    pub fn new(
        role: &str,
        subcode: &str,
        code: u32,
        reason: &str,
        detail: &str,
        machine: &str,
    ) -> Fault {
        Fault {
            role: role.to_string(),
            subcode: subcode.to_string(),
            code: Some(code),
            reason: reason.to_string(),
            detail: detail.to_string(),
            machine: Some(machine.to_string()),
        }
    }

    /// The `<s:Fault>` element; the enclosing envelope binds `s` and `w`.
    pub fn to_xml(&self) -> String {
        let subcode = if self.subcode.contains(':') {
            self.subcode.clone()
        } else {
            format!("w:{}", self.subcode)
        };
        format!(
            concat!(
                "<s:Fault><s:Code><s:Value>s:{role}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>",
                "<s:Reason><s:Text xml:lang=\"en-US\">{reason}</s:Text></s:Reason>",
                "<s:Detail><f:WSManFault xmlns:f=\"{ns}\" Code=\"{code}\" Machine=\"{machine}\"><f:Message>{detail}</f:Message></f:WSManFault></s:Detail></s:Fault>"
            ),
            role = escape(&self.role),
            subcode = escape(&subcode),
            reason = escape(&self.reason),
            ns = NS_WSMAN_FAULT,
            code = self.code.unwrap_or(0),
            machine = escape(self.machine.as_deref().unwrap_or("")),
            detail = escape(&self.detail),
        )
    }
}
