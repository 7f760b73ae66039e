//! Messages a client sends (and a server parses): SESSION_CAPABILITY,
//! INIT_RUNSPACEPOOL, CREATE_PIPELINE.

use uuid::Uuid;

use crate::clixml::{CollectionKind, PsObject, Value};
use crate::command::{Command, Parameter};

use super::body::{decode, encode, enum_value, member, members, text_of};
use super::{Destination, Message, MessageError, MessageType};

/// The protocol version we announce; servers answer 2.1, 2.2 or 2.3.
pub const PROTOCOL_VERSION: &str = "2.3";

const LIST_OF_PSOBJECT: &str = "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]";

/// SESSION_CAPABILITY; a server sends it with the nil RPID, as Windows does.
pub fn session_capability(destination: Destination, rpid: Uuid, protocol_version: &str) -> Message {
    let body: Value = PsObject::new()
        .with_extended("protocolversion", Value::Version(protocol_version.into()))
        .with_extended("PSVersion", Value::Version("2.0".into()))
        .with_extended("SerializationVersion", Value::Version("1.1.0.1".into()))
        .into();
    Message::new(
        destination,
        MessageType::SessionCapability,
        rpid,
        Uuid::nil(),
        encode(&body),
    )
}

/// The peer's `protocolversion` from its SESSION_CAPABILITY.
pub fn parse_session_capability(message: &Message) -> Result<String, MessageError> {
    let value = decode(MessageType::SessionCapability, &message.data)?;
    let object = members(MessageType::SessionCapability, &value)?;
    text_of(Some(member(
        MessageType::SessionCapability,
        object,
        "protocolversion",
    )?))
    .ok_or(MessageError::Missing {
        message_type: MessageType::SessionCapability,
        what: "protocolversion",
    })
}

fn host_info() -> Value {
    PsObject::new()
        .with_extended("_isHostNull", true)
        .with_extended("_isHostUINull", true)
        .with_extended("_isHostRawUINull", true)
        .with_extended("_useRunspaceHost", true)
        .into()
}

/// INIT_RUNSPACEPOOL with one runspace, no host, and optional
/// ApplicationArguments (a PSPrimitiveDictionary).
pub fn init_runspace_pool(
    rpid: Uuid,
    application_arguments: Option<Vec<(String, Value)>>,
) -> Message {
    let arguments = match application_arguments {
        None => Value::Nil,
        Some(entries) => PsObject::new()
            .with_type_names([
                "System.Management.Automation.PSPrimitiveDictionary",
                "System.Collections.Hashtable",
                "System.Object",
            ])
            .with_dictionary(
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::String(k), v))
                    .collect(),
            )
            .into(),
    };
    let body: Value = PsObject::new()
        .with_extended("MinRunspaces", 1)
        .with_extended("MaxRunspaces", 1)
        .with_extended(
            "PSThreadOptions",
            enum_value(
                "System.Management.Automation.Runspaces.PSThreadOptions",
                "Default",
                0,
            ),
        )
        .with_extended(
            "ApartmentState",
            enum_value(
                "System.Management.Automation.Runspaces.ApartmentState",
                "UNKNOWN",
                2,
            ),
        )
        .with_extended("HostInfo", host_info())
        .with_extended("ApplicationArguments", arguments)
        .into();
    Message::new(
        Destination::Server,
        MessageType::InitRunspacePool,
        rpid,
        Uuid::nil(),
        encode(&body),
    )
}

fn merge(name: &'static str) -> (&'static str, Value) {
    (
        name,
        enum_value(
            "System.Management.Automation.Runspaces.PipelineResultTypes",
            "None",
            0,
        ),
    )
}

fn command_value(command: &Command, server_protocol: &str) -> Value {
    let args: Vec<Value> = command
        .parameters
        .iter()
        .map(|p| {
            PsObject::new()
                .with_extended("N", p.name.clone().map(Value::String).unwrap_or(Value::Nil))
                .with_extended("V", p.value.clone())
                .into()
        })
        .collect();
    let mut object = PsObject::new()
        .with_extended("Cmd", command.name.as_str())
        .with_extended("IsScript", command.is_script)
        .with_extended("UseLocalScope", Value::Nil);
    for (name, value) in [
        merge("MergeMyResult"),
        merge("MergeToResult"),
        merge("MergePreviousResults"),
    ] {
        object = object.with_extended(name, value);
    }
    object = object.with_extended(
        "Args",
        PsObject::new()
            .with_type_names([LIST_OF_PSOBJECT, "System.Object"])
            .with_list(CollectionKind::List, args),
    );
    // Protocol 2.2 added per-stream merging, 2.3 the information stream;
    // an older server rejects members it does not know.
    let version = parse_version(server_protocol);
    if version >= (2, 2) {
        for name in ["MergeError", "MergeWarning", "MergeVerbose", "MergeDebug"] {
            let (name, value) = merge(name);
            object = object.with_extended(name, value);
        }
    }
    if version >= (2, 3) {
        let (name, value) = merge("MergeInformation");
        object = object.with_extended(name, value);
    }
    object.into()
}

/// `2.3` -> (2, 3); anything unreadable counts as the oldest, 2.0.
pub fn parse_version(text: &str) -> (u32, u32) {
    let mut parts = text.trim().split('.');
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    major.map_or((2, 0), |m| (m, minor))
}

/// CREATE_PIPELINE for a pipeline of commands, no input, no history.
pub fn create_pipeline(
    rpid: Uuid,
    pid: Uuid,
    commands: &[Command],
    server_protocol: &str,
) -> Message {
    let cmds: Vec<Value> = commands
        .iter()
        .map(|c| command_value(c, server_protocol))
        .collect();
    let powershell = PsObject::new()
        .with_extended("IsNested", false)
        .with_extended("ExtraCmds", Value::Nil)
        .with_extended(
            "Cmds",
            PsObject::new()
                .with_type_names([LIST_OF_PSOBJECT, "System.Object"])
                .with_list(CollectionKind::List, cmds),
        )
        .with_extended("History", Value::Nil)
        .with_extended("RedirectShellErrorOutputPipe", false);
    let body: Value = PsObject::new()
        .with_extended("NoInput", true)
        .with_extended(
            "ApartmentState",
            enum_value(
                "System.Management.Automation.Runspaces.ApartmentState",
                "UNKNOWN",
                2,
            ),
        )
        .with_extended(
            "RemoteStreamOptions",
            enum_value(
                "System.Management.Automation.Runspaces.RemoteStreamOptions",
                "AddInvocationInfo",
                15,
            ),
        )
        .with_extended("AddToHistory", false)
        .with_extended("HostInfo", host_info())
        .with_extended("PowerShell", powershell)
        .with_extended("IsNested", false)
        .into();
    Message::new(
        Destination::Server,
        MessageType::CreatePipeline,
        rpid,
        pid,
        encode(&body),
    )
}

/// The commands of a CREATE_PIPELINE (server side). When a client sends
/// several statements, `ExtraCmds` holds all of them (and `Cmds` repeats the
/// first); they are returned one after another.
pub fn parse_create_pipeline(message: &Message) -> Result<Vec<Command>, MessageError> {
    const T: MessageType = MessageType::CreatePipeline;
    let value = decode(T, &message.data)?;
    let object = members(T, &value)?;
    let powershell = members(T, member(T, object, "PowerShell")?)?;
    let statements: Vec<&Value> = match powershell.property("ExtraCmds").and_then(Value::as_list) {
        Some(statements) => statements
            .iter()
            .filter_map(|s| s.as_object().and_then(|s| s.property("Cmds")))
            .collect(),
        None => vec![member(T, powershell, "Cmds")?],
    };
    let mut commands = Vec::new();
    for list in statements {
        let items = list.as_list().ok_or(MessageError::Missing {
            message_type: T,
            what: "a Cmds list",
        })?;
        for item in items {
            commands.push(parse_command(item)?);
        }
    }
    Ok(commands)
}

fn parse_command(value: &Value) -> Result<Command, MessageError> {
    const T: MessageType = MessageType::CreatePipeline;
    let object = members(T, value)?;
    let name = member(T, object, "Cmd")?
        .to_display_string()
        .ok_or(MessageError::Missing {
            message_type: T,
            what: "Cmd text",
        })?;
    let is_script = object
        .property("IsScript")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut parameters = Vec::new();
    if let Some(args) = object.property("Args").and_then(Value::as_list) {
        for arg in args {
            let arg = members(T, arg)?;
            let name = arg
                .property("N")
                .and_then(Value::as_str)
                .map(str::to_string);
            let value = arg.property("V").cloned().unwrap_or(Value::Nil);
            parameters.push(Parameter { name, value });
        }
    }
    Ok(Command {
        name,
        is_script,
        parameters,
    })
}
