use crate::message::ErrorRecord;

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
}

impl From<crate::wsman::WsmanError> for Error {
    fn from(error: crate::wsman::WsmanError) -> Error {
        match error {
            crate::wsman::WsmanError::Fault(fault) => Error::Fault {
                code: fault.code,
                subcode: fault.subcode.clone(),
                message: fault.message().to_string(),
            },
            other => Error::Protocol(other.to_string()),
        }
    }
}

impl From<crate::fragment::FragmentError> for Error {
    fn from(error: crate::fragment::FragmentError) -> Error {
        Error::Protocol(error.to_string())
    }
}

impl From<crate::message::MessageError> for Error {
    fn from(error: crate::message::MessageError) -> Error {
        Error::Protocol(error.to_string())
    }
}

impl From<crate::state::StateError> for Error {
    fn from(error: crate::state::StateError) -> Error {
        Error::Protocol(error.to_string())
    }
}
