//! Helpers shared by the message bodies: CLIXML in and out, and the shapes
//! PSRP uses again and again (enums, MS-only objects).

use crate::clixml::{self, PsObject, Value};

use super::{MessageError, MessageType};

pub(crate) fn encode(value: &Value) -> String {
    clixml::to_string(value)
}

/// The most any message but pipeline output may decode to: real state,
/// capability and error records are a few KiB, and a server must not make the
/// client build a huge one (output is budgeted by the session instead).
pub const MAX_RECORD_DECODED: usize = 16 * 1024 * 1024;

pub(crate) fn decode(message_type: MessageType, data: &[u8]) -> Result<Value, MessageError> {
    clixml::from_bytes_within(data, MAX_RECORD_DECODED)
        .map(|(value, _)| value)
        .map_err(|e| MessageError::Clixml {
            message_type,
            detail: e.to_string(),
        })
}

/// A .NET enum value as PowerShell serializes it.
pub(crate) fn enum_value(type_name: &str, name: &str, value: i32) -> Value {
    PsObject::new()
        .with_type_names([
            type_name,
            "System.Enum",
            "System.ValueType",
            "System.Object",
        ])
        .with_to_string(name)
        .with_value(Value::I32(value))
        .into()
}

/// The object of a message whose fields are all `<MS>` members.
pub(crate) fn members(message_type: MessageType, value: &Value) -> Result<&PsObject, MessageError> {
    value.as_object().ok_or(MessageError::Missing {
        message_type,
        what: "its <Obj> body",
    })
}

pub(crate) fn member<'a>(
    message_type: MessageType,
    object: &'a PsObject,
    name: &'static str,
) -> Result<&'a Value, MessageError> {
    object.property(name).ok_or(MessageError::Missing {
        message_type,
        what: name,
    })
}

/// An integer held directly or by an enum object.
pub(crate) fn int_of(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_object()
            .and_then(|o| o.value.as_ref())
            .and_then(Value::as_i64)
    })
}

pub(crate) fn text_of(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::to_display_string)
}
