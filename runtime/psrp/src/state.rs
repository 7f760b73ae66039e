//! Runspace-pool and pipeline state machines (MS-PSRP 3.1.1, 3.2.1), and
//! protocol version negotiation.

use crate::message::parse_version;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the server speaks PSRP protocol {0}; this client needs 2.1 to 2.x")]
    UnsupportedProtocol(String),
    #[error("PSRP {machine} cannot go from {from:?} to {to:?}")]
    Transition {
        machine: &'static str,
        from: String,
        to: String,
    },
    #[error("PSRP state value {0} is not defined")]
    Unknown(i32),
}

/// A negotiated protocol version (MS-PSRP 2.2.3.? `protocolversion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    pub major: u32,
    pub minor: u32,
}

impl ProtocolVersion {
    pub const V2_2: ProtocolVersion = ProtocolVersion { major: 2, minor: 2 };

    /// Accepts what a server announces in its SESSION_CAPABILITY: 2.1 and
    /// any later 2.x (we speak 2.3; a newer minor stays compatible).
    pub fn negotiate(server: &str) -> Result<ProtocolVersion, StateError> {
        let (major, minor) = parse_version(server);
        if major == 2 && minor >= 1 {
            Ok(ProtocolVersion { major, minor })
        } else {
            // The server's text: escaped and capped where it enters the error.
            Err(StateError::UnsupportedProtocol(crate::untrusted::line(
                server.trim(),
            )))
        }
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunspacePoolState {
    BeforeOpen,
    Opening,
    Opened,
    Closed,
    Closing,
    Broken,
    NegotiationSent,
    NegotiationSucceeded,
    Connecting,
    Disconnected,
}

impl RunspacePoolState {
    pub fn from_wire(value: i32) -> Result<Self, StateError> {
        use RunspacePoolState::*;
        Ok(match value {
            0 => BeforeOpen,
            1 => Opening,
            2 => Opened,
            3 => Closed,
            4 => Closing,
            5 => Broken,
            6 => NegotiationSent,
            7 => NegotiationSucceeded,
            8 => Connecting,
            9 => Disconnected,
            other => return Err(StateError::Unknown(other)),
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunspacePoolState::Closed | RunspacePoolState::Broken)
    }

    /// The client side's legal moves while opening and running.
    pub fn advance(self, to: RunspacePoolState) -> Result<RunspacePoolState, StateError> {
        use RunspacePoolState::*;
        let legal = match (self, to) {
            (from, to) if from == to => true,
            (_, Broken) | (_, Closed) | (_, Closing) => !self.is_terminal(),
            (BeforeOpen, NegotiationSent) => true,
            (NegotiationSent, NegotiationSucceeded) => true,
            (NegotiationSent | NegotiationSucceeded | BeforeOpen, Opening) => true,
            (NegotiationSent | NegotiationSucceeded | Opening, Opened) => true,
            _ => false,
        };
        if legal {
            Ok(to)
        } else {
            Err(StateError::Transition {
                machine: "runspace pool",
                from: format!("{self:?}"),
                to: format!("{to:?}"),
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineState {
    NotStarted,
    Running,
    Stopping,
    Stopped,
    Completed,
    Failed,
    Disconnected,
}

impl PipelineState {
    pub fn from_wire(value: i32) -> Result<Self, StateError> {
        use PipelineState::*;
        Ok(match value {
            0 => NotStarted,
            1 => Running,
            2 => Stopping,
            3 => Stopped,
            4 => Completed,
            5 => Failed,
            6 => Disconnected,
            other => return Err(StateError::Unknown(other)),
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PipelineState::Stopped | PipelineState::Completed | PipelineState::Failed
        )
    }

    pub fn advance(self, to: PipelineState) -> Result<PipelineState, StateError> {
        use PipelineState::*;
        let legal = match (self, to) {
            _ if self.is_terminal() => false,
            (NotStarted, _) | (Running, _) => true,
            (Stopping, Stopped | Completed | Failed) => true,
            (Disconnected, Running | Stopped | Completed | Failed) => true,
            _ => false,
        };
        if legal {
            Ok(to)
        } else {
            Err(StateError::Transition {
                machine: "pipeline",
                from: format!("{self:?}"),
                to: format!("{to:?}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_supported_versions() {
        for v in ["2.1", "2.2", "2.3"] {
            assert_eq!(ProtocolVersion::negotiate(v).unwrap().to_string(), v);
        }
        assert!(ProtocolVersion::negotiate("2.0").is_err());
        assert!(ProtocolVersion::negotiate("3.0").is_err());
        assert!(ProtocolVersion::negotiate("x").is_err());
    }

    #[test]
    fn an_unsupported_version_is_escaped_in_the_error() {
        let error = ProtocolVersion::negotiate("3.0\r\nINFO forged")
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains('\n') && error.contains("3.0\\r\\nINFO forged"),
            "{error}"
        );
    }

    #[test]
    fn pipeline_terminal_states_are_final() {
        let s = PipelineState::NotStarted
            .advance(PipelineState::Running)
            .unwrap();
        let s = s.advance(PipelineState::Completed).unwrap();
        assert!(s.advance(PipelineState::Running).is_err());
        assert!(RunspacePoolState::Closed
            .advance(RunspacePoolState::Opened)
            .is_err());
        assert!(RunspacePoolState::BeforeOpen
            .advance(RunspacePoolState::Opened)
            .is_err());
    }
}
