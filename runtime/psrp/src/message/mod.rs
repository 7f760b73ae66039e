//! PSRP messages (MS-PSRP 2.2.1, 2.2.2): the header every message carries and
//! the typed bodies both directions exchange.

mod body;
mod client;
mod error_record;
mod server;

pub use client::{
    create_pipeline, init_runspace_pool, parse_create_pipeline, parse_session_capability,
    parse_version, session_capability, PROTOCOL_VERSION,
};
pub use error_record::ErrorRecord;
pub use server::{
    application_private_data, error_record, informational_record, parse_error_record,
    parse_informational_record, parse_pipeline_state, parse_progress_record,
    parse_runspace_pool_state, pipeline_output, pipeline_state, pipeline_state_values,
    progress_record, runspace_pool_state, runspace_state, PipelineStateInfo, ProgressRecord,
    RunspacePoolStateInfo,
};

use uuid::Uuid;

const HEADER_LEN: usize = 40;
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("PSRP message too short: {0} bytes, the header needs 40")]
    TooShort(usize),
    #[error("PSRP message destination {0} is neither client (1) nor server (2)")]
    BadDestination(u32),
    #[error("the server sent a PSRP {0:?} message addressed to the server (destination 2), not to the client")]
    WrongDestination(MessageType),
    #[error("PSRP message data is not UTF-8: {0}")]
    NotUtf8(String),
    #[error("PSRP {message_type:?} message is not valid CLIXML: {detail}")]
    Clixml {
        message_type: MessageType,
        detail: String,
    },
    #[error("PSRP {message_type:?} message lacks {what}")]
    Missing {
        message_type: MessageType,
        what: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Client = 1,
    Server = 2,
}

macro_rules! message_types {
    ($($name:ident = $value:literal,)*) => {
        /// Every message type of MS-PSRP 2.2.1.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $($name,)*
            /// A type this implementation does not know; kept so a peer's
            /// newer message can be skipped instead of failing the session.
            Unknown(u32),
        }

        impl MessageType {
            pub fn from_u32(value: u32) -> MessageType {
                match value {
                    $($value => MessageType::$name,)*
                    other => MessageType::Unknown(other),
                }
            }

            pub fn as_u32(self) -> u32 {
                match self {
                    $(MessageType::$name => $value,)*
                    MessageType::Unknown(other) => other,
                }
            }
        }
    };
}

message_types! {
    SessionCapability = 0x0001_0002,
    InitRunspacePool = 0x0001_0004,
    PublicKey = 0x0001_0005,
    EncryptedSessionKey = 0x0001_0006,
    PublicKeyRequest = 0x0001_0007,
    ConnectRunspacePool = 0x0001_0008,
    SetMaxRunspaces = 0x0002_1002,
    SetMinRunspaces = 0x0002_1003,
    RunspaceAvailability = 0x0002_1004,
    RunspacePoolState = 0x0002_1005,
    CreatePipeline = 0x0002_1006,
    GetAvailableRunspaces = 0x0002_1007,
    UserEvent = 0x0002_1008,
    ApplicationPrivateData = 0x0002_1009,
    GetCommandMetadata = 0x0002_100A,
    RunspacePoolInitData = 0x0002_100B,
    ResetRunspaceState = 0x0002_100C,
    RunspacePoolHostCall = 0x0002_1100,
    RunspacePoolHostResponse = 0x0002_1101,
    PipelineInput = 0x0004_1002,
    EndOfPipelineInput = 0x0004_1003,
    PipelineOutput = 0x0004_1004,
    ErrorRecord = 0x0004_1005,
    PipelineState = 0x0004_1006,
    DebugRecord = 0x0004_1007,
    VerboseRecord = 0x0004_1008,
    WarningRecord = 0x0004_1009,
    ProgressRecord = 0x0004_1010,
    InformationRecord = 0x0004_1011,
    PipelineHostCall = 0x0004_1100,
    PipelineHostResponse = 0x0004_1101,
}

/// A decoded message. `data` is the CLIXML body without its BOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub destination: Destination,
    pub message_type: MessageType,
    pub rpid: Uuid,
    pub pid: Uuid,
    pub data: Vec<u8>,
}

impl Message {
    pub fn new(
        destination: Destination,
        message_type: MessageType,
        rpid: Uuid,
        pid: Uuid,
        data: impl Into<Vec<u8>>,
    ) -> Message {
        Message {
            destination,
            message_type,
            rpid,
            pid,
            data: data.into(),
        }
    }

    /// Wire form. `with_bom` mirrors Windows servers, which start the data
    /// with a UTF-8 BOM (clients send none).
    pub fn encode(&self, with_bom: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + BOM.len() + self.data.len());
        encode_header(
            &mut out,
            self.destination,
            self.message_type,
            self.rpid,
            self.pid,
        );
        if with_bom {
            out.extend_from_slice(BOM);
        }
        out.extend_from_slice(&self.data);
        out
    }

    /// Decodes a reassembled message, taking ownership to avoid copying the
    /// (possibly large) body.
    pub fn decode(mut bytes: Vec<u8>) -> Result<Message, MessageError> {
        let header = Header::read(&bytes)?;
        bytes.drain(..header.data_at);
        Ok(Message {
            destination: header.destination,
            message_type: header.message_type,
            rpid: header.rpid,
            pid: header.pid,
            data: bytes,
        })
    }

    /// [`Message::decode`] for a client: a message the server sends must be
    /// addressed to the client (MS-PSRP 2.2.1: Destination 0x00000001). One
    /// addressed to the server is refused rather than read as ours.
    pub fn decode_from_server(bytes: Vec<u8>) -> Result<Message, MessageError> {
        let message = Message::decode(bytes)?;
        if message.destination != Destination::Client {
            return Err(MessageError::WrongDestination(message.message_type));
        }
        Ok(message)
    }

    /// A server's message read in place, with the checks of
    /// [`Message::decode_from_server`]: its type and its data (past the
    /// header and any BOM). Output objects are decoded from here without
    /// moving their bytes into a message of their own.
    pub fn peek_from_server(bytes: &[u8]) -> Result<(MessageType, &[u8]), MessageError> {
        let header = Header::read(bytes)?;
        if header.destination != Destination::Client {
            return Err(MessageError::WrongDestination(header.message_type));
        }
        Ok((
            header.message_type,
            bytes.get(header.data_at..).unwrap_or_default(),
        ))
    }

    pub fn data_str(&self) -> Result<&str, MessageError> {
        std::str::from_utf8(&self.data).map_err(|e| MessageError::NotUtf8(e.to_string()))
    }
}

/// A message's 40-byte header, and where its data starts (past any BOM).
struct Header {
    destination: Destination,
    message_type: MessageType,
    rpid: Uuid,
    pid: Uuid,
    data_at: usize,
}

impl Header {
    fn read(bytes: &[u8]) -> Result<Header, MessageError> {
        let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(MessageError::TooShort(bytes.len()));
        };
        let u32_at =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let destination = match u32_at(0) {
            1 => Destination::Client,
            2 => Destination::Server,
            other => return Err(MessageError::BadDestination(other)),
        };
        let guid_at = |i: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&header[i..i + 16]);
            Uuid::from_bytes_le(b)
        };
        let data_at = if bytes[HEADER_LEN..].starts_with(BOM) {
            HEADER_LEN + BOM.len()
        } else {
            HEADER_LEN
        };
        Ok(Header {
            destination,
            message_type: MessageType::from_u32(u32_at(4)),
            rpid: guid_at(8),
            pid: guid_at(24),
            data_at,
        })
    }
}

/// Writes the 40-byte header; GUIDs in .NET (`Guid.ToByteArray`) order.
pub fn encode_header(
    out: &mut Vec<u8>,
    destination: Destination,
    message_type: MessageType,
    rpid: Uuid,
    pid: Uuid,
) {
    out.extend_from_slice(&(destination as u32).to_le_bytes());
    out.extend_from_slice(&message_type.as_u32().to_le_bytes());
    out.extend_from_slice(&rpid.to_bytes_le());
    out.extend_from_slice(&pid.to_bytes_le());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_with_bom() {
        let rpid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let m = Message::new(
            Destination::Client,
            MessageType::PipelineOutput,
            rpid,
            Uuid::nil(),
            "<S>hi</S>",
        );
        let bytes = m.encode(true);
        assert_eq!(&bytes[0..8], &[1, 0, 0, 0, 0x04, 0x10, 0x04, 0x00]);
        // .NET order: the first three groups are little-endian.
        assert_eq!(&bytes[8..12], &[4, 3, 2, 1]);
        assert_eq!(Message::decode(bytes).unwrap(), m);
        assert_eq!(
            MessageType::from_u32(0x0004_1006),
            MessageType::PipelineState
        );
        assert_eq!(MessageType::from_u32(7), MessageType::Unknown(7));
    }

    #[test]
    fn rejects_short_and_bad_destination() {
        assert!(matches!(
            Message::decode(vec![0; 3]),
            Err(MessageError::TooShort(3))
        ));
        assert!(matches!(
            Message::decode(vec![9; 40]),
            Err(MessageError::BadDestination(_))
        ));
    }
}
