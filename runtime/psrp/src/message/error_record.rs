//! ErrorRecord (MS-PSRP 2.2.3.15): what a failed command reports.

use crate::clixml::{PsObject, Value};

use super::body::{int_of, text_of};

const CATEGORIES: [&str; 32] = [
    "NotSpecified",
    "OpenError",
    "CloseError",
    "DeviceError",
    "DeadlockDetected",
    "InvalidArgument",
    "InvalidData",
    "InvalidOperation",
    "InvalidResult",
    "InvalidType",
    "MetadataError",
    "NotImplemented",
    "NotInstalled",
    "ObjectNotFound",
    "OperationStopped",
    "OperationTimeout",
    "SyntaxError",
    "ParserError",
    "PermissionDenied",
    "ResourceBusy",
    "ResourceExists",
    "ResourceUnavailable",
    "ReadError",
    "WriteError",
    "FromStdErr",
    "SecurityError",
    "ProtocolError",
    "ConnectionError",
    "AuthenticationError",
    "LimitsExceeded",
    "QuotaExceeded",
    "NotEnabled",
];

/// The fields of an error record a caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorRecord {
    pub message: String,
    pub fully_qualified_error_id: String,
    /// An `ErrorCategory` name, e.g. `ObjectNotFound`.
    pub category: String,
    pub activity: String,
    pub reason: String,
    pub target_name: Option<String>,
    /// The exception's .NET type, without any `Deserialized.` prefix.
    pub exception_type: String,
}

impl std::fmt::Display for ErrorRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The server's text: one escaped, capped line wherever it is shown.
        write!(
            f,
            "{} ({})",
            crate::untrusted::line(&self.message),
            crate::untrusted::for_log(&self.fully_qualified_error_id, 256)
        )
    }
}

fn strip_deserialized(name: &str) -> &str {
    name.strip_prefix("Deserialized.").unwrap_or(name)
}

impl ErrorRecord {
    /// Reads an ErrorRecord object; tolerant of missing members since
    /// servers differ in what they serialize.
    pub fn from_value(value: &Value) -> ErrorRecord {
        let Some(object) = value.as_object() else {
            return ErrorRecord {
                message: value.to_display_string().unwrap_or_default(),
                ..ErrorRecord::default()
            };
        };
        let exception = object.property("Exception").and_then(Value::as_object);
        let exception_message = exception.and_then(|e| text_of(e.property("Message")));
        let details_message = text_of(object.property("ErrorDetails_Message"));
        let message = details_message
            .or(exception_message)
            .or_else(|| object.to_string.clone())
            .unwrap_or_default();
        let category = match object.property("ErrorCategory_Category").and_then(int_of) {
            Some(n) => usize::try_from(n)
                .ok()
                .and_then(|i| CATEGORIES.get(i))
                .map_or_else(|| n.to_string(), |s| (*s).to_string()),
            None => CATEGORIES[0].to_string(),
        };
        let target_name =
            text_of(object.property("ErrorCategory_TargetName")).filter(|t| !t.is_empty());
        ErrorRecord {
            message,
            fully_qualified_error_id: text_of(object.property("FullyQualifiedErrorId"))
                .unwrap_or_default(),
            category,
            activity: text_of(object.property("ErrorCategory_Activity")).unwrap_or_default(),
            reason: text_of(object.property("ErrorCategory_Reason")).unwrap_or_default(),
            target_name,
            exception_type: exception
                .and_then(|e| e.type_names.first())
                .map(|t| strip_deserialized(t).to_string())
                .unwrap_or_default(),
        }
    }

    /// The ErrorRecord object as a Windows server serializes it.
    pub fn to_value(&self) -> Value {
        let category_index = CATEGORIES
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&self.category))
            .unwrap_or(0);
        let category = CATEGORIES[category_index];
        let exception_type = if self.exception_type.is_empty() {
            "System.Management.Automation.RuntimeException"
        } else {
            &self.exception_type
        };
        let exception = PsObject::new()
            .with_type_names([exception_type, "System.Exception", "System.Object"])
            .with_to_string(format!("{exception_type}: {}", self.message))
            .with_adapted("Message", self.message.as_str())
            .with_adapted("InnerException", Value::Nil)
            .with_adapted("HResult", -2146233087i32);
        let target = self.target_name.clone().unwrap_or_default();
        let reason = if self.reason.is_empty() {
            exception_type
                .rsplit('.')
                .next()
                .unwrap_or(exception_type)
                .to_string()
        } else {
            self.reason.clone()
        };
        PsObject::new()
            .with_type_names(["System.Management.Automation.ErrorRecord", "System.Object"])
            .with_to_string(self.message.as_str())
            .with_extended("Exception", exception)
            .with_extended(
                "TargetObject",
                self.target_name.clone().map_or(Value::Nil, Value::String),
            )
            .with_extended(
                "FullyQualifiedErrorId",
                self.fully_qualified_error_id.as_str(),
            )
            .with_extended("InvocationInfo", Value::Nil)
            .with_extended("ErrorCategory_Category", Value::I32(category_index as i32))
            .with_extended("ErrorCategory_Activity", self.activity.as_str())
            .with_extended("ErrorCategory_Reason", reason.as_str())
            .with_extended("ErrorCategory_TargetName", target.as_str())
            .with_extended(
                "ErrorCategory_TargetType",
                if target.is_empty() { "" } else { "String" },
            )
            .with_extended(
                "ErrorCategory_Message",
                format!(
                    "{category}: ({target}:String) [{}], {reason}",
                    self.activity
                ),
            )
            .with_extended("SerializeExtendedInfo", false)
            .into()
    }
}
