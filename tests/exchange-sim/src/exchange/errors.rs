//! Error records written the way Exchange and PowerShell write them.

use super::model::DC_FQDN;
use super::text::en_us;
use crate::backend::SimErrorRecord;

/// The cmdlet an error comes from: its name and .NET type (the tail of
/// Exchange's FullyQualifiedErrorId).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdletId {
    pub name: &'static str,
    pub type_name: &'static str,
}

/// A stable 8-hex-digit code per (exception, cmdlet), like the opaque code
/// Exchange puts before the cmdlet type in its error ids.
fn code(exception: &str, cmdlet: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in exception.bytes().chain(cmdlet.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08X}")
}

/// An error raised by an Exchange task: FQEID
/// `[Server=..,RequestId=..,TimeStamp=..] [FailureCategory=Cmdlet-<Exception>] <code>,<cmdlet type>`.
pub fn exchange_error(
    server: &str,
    cmdlet: CmdletId,
    exception_type: &str,
    category: &str,
    message: String,
    target: Option<String>,
) -> SimErrorRecord {
    let short = exception_type.rsplit('.').next().unwrap_or(exception_type);
    let now = chrono::Utc::now();
    SimErrorRecord {
        message,
        fully_qualified_error_id: format!(
            "[Server={server},RequestId={},TimeStamp={}] [FailureCategory=Cmdlet-{short}] {},{}",
            uuid::Uuid::new_v4(),
            en_us(&now),
            code(short, cmdlet.type_name),
            cmdlet.type_name
        ),
        exception_type: exception_type.to_string(),
        category: category.to_string(),
        activity: cmdlet.name.to_string(),
        target_name: target,
    }
}

pub fn not_found(server: &str, cmdlet: CmdletId, identity: &str) -> SimErrorRecord {
    exchange_error(
        server,
        cmdlet,
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        "ObjectNotFound",
        format!(
            "The operation couldn't be performed because object '{identity}' couldn't be found on '{DC_FQDN}'."
        ),
        Some(identity.to_string()),
    )
}

pub fn ambiguous(server: &str, cmdlet: CmdletId, identity: &str) -> SimErrorRecord {
    exchange_error(
        server,
        cmdlet,
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
        "NotSpecified",
        format!(
            "The operation couldn't be performed because '{identity}' matches multiple entries."
        ),
        Some(identity.to_string()),
    )
}

pub fn invalid_argument(server: &str, cmdlet: CmdletId, message: String) -> SimErrorRecord {
    exchange_error(
        server,
        cmdlet,
        "System.ArgumentException",
        "InvalidArgument",
        message,
        None,
    )
}

pub fn task_error(
    server: &str,
    cmdlet: CmdletId,
    message: String,
    target: Option<String>,
) -> SimErrorRecord {
    exchange_error(
        server,
        cmdlet,
        "Microsoft.Exchange.Configuration.Tasks.RecipientTaskException",
        "InvalidOperation",
        message,
        target,
    )
}

/// PowerShell's own parameter binding errors (not Exchange-decorated).
pub fn parameter_binding(cmdlet: CmdletId, error_id: &str, message: String) -> SimErrorRecord {
    SimErrorRecord {
        message,
        fully_qualified_error_id: format!("{error_id},{}", cmdlet.type_name),
        exception_type: "System.Management.Automation.ParameterBindingException".to_string(),
        category: "InvalidArgument".to_string(),
        activity: cmdlet.name.to_string(),
        target_name: None,
    }
}

pub fn command_not_found(name: &str) -> SimErrorRecord {
    SimErrorRecord {
        message: format!(
            "The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
        ),
        fully_qualified_error_id: "CommandNotFoundException".to_string(),
        exception_type: "System.Management.Automation.CommandNotFoundException".to_string(),
        category: "ObjectNotFound".to_string(),
        activity: String::new(),
        target_name: Some(name.to_string()),
    }
}

pub const NO_LANGUAGE: &str =
    "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.";

pub fn script_refused() -> SimErrorRecord {
    SimErrorRecord {
        message: NO_LANGUAGE.to_string(),
        fully_qualified_error_id: "ScriptsNotAllowed".to_string(),
        exception_type: "System.Management.Automation.ParseException".to_string(),
        category: "ParserError".to_string(),
        activity: String::new(),
        target_name: None,
    }
}

/// Exchange's resource-health warning when it slows a client down.
pub const MICRO_DELAY: &str = "Micro delay applied. Actual delayed: 500 msecs, Enforced: True, Capped delay: 500 msecs, Required: True, Additional info: [Resource: Processor, Load: 90].";

pub fn throttled(server: &str) -> SimErrorRecord {
    exchange_error(
        server,
        CmdletId {
            name: "",
            type_name: "Microsoft.Exchange.Configuration.Authorization.ExchangeRunspaceConfiguration",
        },
        "Microsoft.Exchange.Data.Directory.OverBudgetException",
        "ResourceUnavailable",
        "Fail to create a runspace because you have exceeded your budget to create runspace. Please wait for 5 seconds. Policy: GlobalThrottlingPolicy; Budget: PowerShellMaxCmdlets."
            .to_string(),
        None,
    )
}
