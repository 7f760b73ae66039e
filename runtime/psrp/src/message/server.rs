//! Messages a server sends (and a client parses).

use uuid::Uuid;

use crate::clixml::{PsObject, Value};

use super::body::{decode, encode, enum_value, int_of, member, members, text_of};
use super::{Destination, ErrorRecord, Message, MessageError, MessageType};

/// RunspacePoolState values (MS-PSRP 2.2.3.4).
pub mod runspace_state {
    pub const BEFORE_OPEN: i32 = 0;
    pub const OPENING: i32 = 1;
    pub const OPENED: i32 = 2;
    pub const CLOSED: i32 = 3;
    pub const CLOSING: i32 = 4;
    pub const BROKEN: i32 = 5;
}

/// PSInvocationState values (MS-PSRP 2.2.3.5).
pub mod pipeline_state_values {
    pub const NOT_STARTED: i32 = 0;
    pub const RUNNING: i32 = 1;
    pub const STOPPING: i32 = 2;
    pub const STOPPED: i32 = 3;
    pub const COMPLETED: i32 = 4;
    pub const FAILED: i32 = 5;
    pub const DISCONNECTED: i32 = 6;
}

fn to_client(message_type: MessageType, rpid: Uuid, pid: Uuid, body: String) -> Message {
    Message::new(Destination::Client, message_type, rpid, pid, body)
}

fn with_error(object: PsObject, error: Option<&ErrorRecord>) -> PsObject {
    match error {
        Some(e) => object.with_extended("ExceptionAsErrorRecord", e.to_value()),
        None => object,
    }
}

pub fn runspace_pool_state(rpid: Uuid, state: i32, error: Option<&ErrorRecord>) -> Message {
    let body = with_error(
        PsObject::new().with_extended("RunspaceState", Value::I32(state)),
        error,
    );
    to_client(
        MessageType::RunspacePoolState,
        rpid,
        Uuid::nil(),
        encode(&body.into()),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunspacePoolStateInfo {
    pub state: i32,
    pub error: Option<ErrorRecord>,
}

pub fn parse_runspace_pool_state(message: &Message) -> Result<RunspacePoolStateInfo, MessageError> {
    const T: MessageType = MessageType::RunspacePoolState;
    let value = decode(T, &message.data)?;
    let object = members(T, &value)?;
    let state = int_of(member(T, object, "RunspaceState")?).ok_or(MessageError::Missing {
        message_type: T,
        what: "an integer RunspaceState",
    })?;
    Ok(RunspacePoolStateInfo {
        state: i32::try_from(state).unwrap_or(-1),
        error: object
            .property("ExceptionAsErrorRecord")
            .map(ErrorRecord::from_value),
    })
}

/// APPLICATION_PRIVATE_DATA with a PSVersionTable like Windows PowerShell 5.1's.
pub fn application_private_data(rpid: Uuid, protocol_version: &str) -> Message {
    let dictionary_types = [
        "System.Management.Automation.PSPrimitiveDictionary",
        "System.Collections.Hashtable",
        "System.Object",
    ];
    let version_table = PsObject::new()
        .with_type_names(dictionary_types)
        .with_dictionary(vec![
            ("PSVersion".into(), Value::Version("5.1.14393.2248".into())),
            ("PSEdition".into(), "Desktop".into()),
            (
                "CLRVersion".into(),
                Value::Version("4.0.30319.42000".into()),
            ),
            (
                "BuildVersion".into(),
                Value::Version("10.0.14393.2248".into()),
            ),
            ("WSManStackVersion".into(), Value::Version("3.0".into())),
            (
                "PSRemotingProtocolVersion".into(),
                Value::Version(protocol_version.into()),
            ),
            (
                "SerializationVersion".into(),
                Value::Version("1.1.0.1".into()),
            ),
        ]);
    let data = PsObject::new()
        .with_type_names(dictionary_types)
        .with_dictionary(vec![("PSVersionTable".into(), version_table.into())]);
    let body: Value = PsObject::new()
        .with_extended("ApplicationPrivateData", data)
        .into();
    to_client(
        MessageType::ApplicationPrivateData,
        rpid,
        Uuid::nil(),
        encode(&body),
    )
}

/// PIPELINE_OUTPUT from an already-serialized CLIXML value (the server
/// serializes each object once, straight into the message).
pub fn pipeline_output(rpid: Uuid, pid: Uuid, clixml: String) -> Message {
    to_client(MessageType::PipelineOutput, rpid, pid, clixml)
}

pub fn error_record(rpid: Uuid, pid: Uuid, error: &ErrorRecord) -> Message {
    to_client(
        MessageType::ErrorRecord,
        rpid,
        pid,
        encode(&error.to_value()),
    )
}

pub fn parse_error_record(message: &Message) -> Result<ErrorRecord, MessageError> {
    Ok(ErrorRecord::from_value(&decode(
        MessageType::ErrorRecord,
        &message.data,
    )?))
}

/// WARNING/VERBOSE/DEBUG records (InformationalRecord), or an
/// INFORMATION_RECORD with a text MessageData.
pub fn informational_record(
    rpid: Uuid,
    pid: Uuid,
    message_type: MessageType,
    text: &str,
) -> Message {
    let body: Value = if message_type == MessageType::InformationRecord {
        PsObject::new()
            .with_type_names([
                "System.Management.Automation.InformationRecord",
                "System.Object",
            ])
            .with_to_string(text)
            .with_extended("MessageData", text)
            .with_extended("Source", "")
            .with_extended("Tags", Value::Nil)
            .with_extended("User", "")
            .with_extended("Computer", "")
            .with_extended("ProcessId", Value::U32(0))
            .with_extended("NativeThreadId", Value::U32(0))
            .with_extended("ManagedThreadId", Value::U32(0))
            .into()
    } else {
        let kind = match message_type {
            MessageType::VerboseRecord => "VerboseRecord",
            MessageType::DebugRecord => "DebugRecord",
            _ => "WarningRecord",
        };
        PsObject::new()
            .with_type_names([
                format!("System.Management.Automation.{kind}"),
                "System.Management.Automation.InformationalRecord".to_string(),
                "System.Object".to_string(),
            ])
            .with_to_string(text)
            .with_extended("InformationalRecord_Message", text)
            .with_extended("InformationalRecord_SerializeInvocationInfo", false)
            .into()
    };
    to_client(message_type, rpid, pid, encode(&body))
}

/// The text of a WARNING/VERBOSE/DEBUG/INFORMATION record.
pub fn parse_informational_record(message: &Message) -> Result<String, MessageError> {
    let value = decode(message.message_type, &message.data)?;
    let text = match value.as_object() {
        Some(object) => text_of(object.property("InformationalRecord_Message"))
            .or_else(|| text_of(object.property("MessageData")))
            .or_else(|| object.to_string.clone()),
        None => value.to_display_string(),
    };
    Ok(text.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRecord {
    pub activity: String,
    pub status: String,
    pub percent_complete: i32,
}

pub fn progress_record(rpid: Uuid, pid: Uuid, record: &ProgressRecord) -> Message {
    let body: Value = PsObject::new()
        .with_extended("Activity", record.activity.as_str())
        .with_extended("ActivityId", Value::I32(0))
        .with_extended("StatusDescription", record.status.as_str())
        .with_extended("CurrentOperation", Value::Nil)
        .with_extended("ParentActivityId", Value::I32(-1))
        .with_extended("PercentComplete", Value::I32(record.percent_complete))
        .with_extended(
            "Type",
            enum_value(
                "System.Management.Automation.ProgressRecordType",
                "Processing",
                0,
            ),
        )
        .with_extended("SecondsRemaining", Value::I32(-1))
        .into();
    to_client(MessageType::ProgressRecord, rpid, pid, encode(&body))
}

pub fn parse_progress_record(message: &Message) -> Result<ProgressRecord, MessageError> {
    const T: MessageType = MessageType::ProgressRecord;
    let value = decode(T, &message.data)?;
    let object = members(T, &value)?;
    Ok(ProgressRecord {
        activity: text_of(object.property("Activity")).unwrap_or_default(),
        status: text_of(object.property("StatusDescription")).unwrap_or_default(),
        percent_complete: object
            .property("PercentComplete")
            .and_then(int_of)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(-1),
    })
}

pub fn pipeline_state(rpid: Uuid, pid: Uuid, state: i32, error: Option<&ErrorRecord>) -> Message {
    let body = with_error(
        PsObject::new().with_extended("PipelineState", Value::I32(state)),
        error,
    );
    to_client(MessageType::PipelineState, rpid, pid, encode(&body.into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineStateInfo {
    pub state: i32,
    pub error: Option<ErrorRecord>,
}

pub fn parse_pipeline_state(message: &Message) -> Result<PipelineStateInfo, MessageError> {
    const T: MessageType = MessageType::PipelineState;
    let value = decode(T, &message.data)?;
    let object = members(T, &value)?;
    let state = int_of(member(T, object, "PipelineState")?).ok_or(MessageError::Missing {
        message_type: T,
        what: "an integer PipelineState",
    })?;
    Ok(PipelineStateInfo {
        state: i32::try_from(state).unwrap_or(-1),
        error: object
            .property("ExceptionAsErrorRecord")
            .map(ErrorRecord::from_value),
    })
}
