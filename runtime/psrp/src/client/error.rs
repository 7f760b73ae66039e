use crate::message::ErrorRecord;
use crate::untrusted;

/// Why a remote PowerShell operation failed. Messages never include
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid PowerShell client settings: {0}")]
    Config(String),
    #[error("cannot reach the PowerShell endpoint: {0}")]
    Transport(String),
    #[error("the PowerShell endpoint answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("WS-Management fault{}: {message}", code.map(|c| format!(" {c}")).unwrap_or_default())]
    Fault {
        code: Option<u32>,
        subcode: String,
        message: String,
    },
    #[error("the pipeline failed: {0}")]
    Remote(Box<ErrorRecord>),
    #[error("PowerShell remoting protocol error: {0}")]
    Protocol(String),
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server sent more than the client's budget holds
    /// ([`super::ClientConfig::max_server_data`]).
    #[error("{0}")]
    Limit(String),
}

impl From<crate::wsman::WsmanError> for Error {
    fn from(error: crate::wsman::WsmanError) -> Error {
        match error {
            // The fault's text is the server's: one escaped, capped line
            // (a fault at session open once printed a 7 MiB line).
            crate::wsman::WsmanError::Fault(fault) => Error::Fault {
                code: fault.code,
                subcode: untrusted::line(&fault.subcode),
                message: untrusted::line(fault.message()),
            },
            other => Error::Protocol(untrusted::line(&other.to_string())),
        }
    }
}

impl From<crate::fragment::FragmentError> for Error {
    fn from(error: crate::fragment::FragmentError) -> Error {
        use crate::fragment::FragmentError;
        match error {
            FragmentError::OverBudget(_) | FragmentError::MessageTooLarge { .. } => {
                Error::Limit(error.to_string())
            }
            other => Error::Protocol(other.to_string()),
        }
    }
}

impl From<crate::budget::OverBudget> for Error {
    fn from(error: crate::budget::OverBudget) -> Error {
        Error::Limit(error.to_string())
    }
}

impl From<crate::message::MessageError> for Error {
    fn from(error: crate::message::MessageError) -> Error {
        // CLIXML errors quote a little of the server's input.
        Error::Protocol(untrusted::line(&error.to_string()))
    }
}

impl From<crate::state::StateError> for Error {
    // Server text in a StateError (the announced protocol version) is
    // escaped where the error is made (`ProtocolVersion::negotiate`); the rest
    // is the client's own.
    fn from(error: crate::state::StateError) -> Error {
        Error::Protocol(error.to_string())
    }
}
