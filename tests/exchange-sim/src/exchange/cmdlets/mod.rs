//! The cmdlets the simulator knows, their parameters and how each builds
//! its pipeline stage.

mod database;
mod get_mailbox;
pub mod get_user;
mod mailbox_settings;
mod mailbox_write;
mod move_request;
mod utility;

use super::args::{self, mandatory, named, positional, switch, Bound, ParamSpec};
use super::errors::{self, CmdletId};
use super::model::Directory;
use super::pipeline::{Ev, Fixed, Item, Stage, Upstream};
use super::render::RenderCtx;
use super::text::eq_ci;
use super::Shared;
use crate::backend::SimErrorRecord;
use std::sync::Arc;

/// What every stage of one pipeline shares.
pub struct Invocation {
    pub org: Arc<Shared>,
    pub render: RenderCtx,
}

impl Invocation {
    pub fn server(&self) -> &str {
        &self.org.server_name
    }
}

pub type Build = fn(&Invocation, Bound, Upstream) -> Box<dyn Stage>;

pub struct CmdletDef {
    pub id: CmdletId,
    pub params: &'static [ParamSpec],
    pub build: Build,
}

const fn id(name: &'static str, type_name: &'static str) -> CmdletId {
    CmdletId { name, type_name }
}

pub const GET_MAILBOX: CmdletId = id(
    "Get-Mailbox",
    "Microsoft.Exchange.Management.RecipientTasks.GetMailbox",
);
pub const GET_USER: CmdletId = id(
    "Get-User",
    "Microsoft.Exchange.Management.RecipientTasks.GetUser",
);
pub const SET_MAILBOX: CmdletId = id(
    "Set-Mailbox",
    "Microsoft.Exchange.Management.RecipientTasks.SetMailbox",
);
pub const ENABLE_MAILBOX: CmdletId = id(
    "Enable-Mailbox",
    "Microsoft.Exchange.Management.RecipientTasks.EnableMailbox",
);
pub const DISABLE_MAILBOX: CmdletId = id(
    "Disable-Mailbox",
    "Microsoft.Exchange.Management.RecipientTasks.DisableMailbox",
);
// The cmdlet type in Exchange's error ids: KB 2998144 quotes
// "...,Microsoft.Exchange.Management.RecipientTasks.NewMoveRequest".
pub const NEW_MOVE_REQUEST: CmdletId = id(
    "New-MoveRequest",
    "Microsoft.Exchange.Management.RecipientTasks.NewMoveRequest",
);
pub const GET_MOVE_REQUEST: CmdletId = id(
    "Get-MoveRequest",
    "Microsoft.Exchange.Management.RecipientTasks.GetMoveRequest",
);
pub const GET_MOVE_REQUEST_STATISTICS: CmdletId = id(
    "Get-MoveRequestStatistics",
    "Microsoft.Exchange.Management.RecipientTasks.GetMoveRequestStatistics",
);
pub const REMOVE_MOVE_REQUEST: CmdletId = id(
    "Remove-MoveRequest",
    "Microsoft.Exchange.Management.RecipientTasks.RemoveMoveRequest",
);
pub const GET_MAILBOX_DATABASE: CmdletId = id(
    "Get-MailboxDatabase",
    "Microsoft.Exchange.Management.SystemConfigurationTasks.GetMailboxDatabase",
);
pub const NEW_MAILBOX_DATABASE: CmdletId = id(
    "New-MailboxDatabase",
    "Microsoft.Exchange.Management.SystemConfigurationTasks.NewMailboxDatabase",
);
pub const SET_MAILBOX_DATABASE: CmdletId = id(
    "Set-MailboxDatabase",
    "Microsoft.Exchange.Management.SystemConfigurationTasks.SetMailboxDatabase",
);
pub const REMOVE_MAILBOX_DATABASE: CmdletId = id(
    "Remove-MailboxDatabase",
    "Microsoft.Exchange.Management.SystemConfigurationTasks.RemoveMailboxDatabase",
);
pub const MOUNT_DATABASE: CmdletId = id(
    "Mount-Database",
    "Microsoft.Exchange.Management.SystemConfigurationTasks.MountDatabase",
);
pub const DISMOUNT_DATABASE: CmdletId = id(
    "Dismount-Database",
    "Microsoft.Exchange.Management.SystemConfigurationTasks.DismountDatabase",
);
pub const SELECT_OBJECT: CmdletId = id(
    "Select-Object",
    "Microsoft.PowerShell.Commands.SelectObjectCommand",
);
pub const MEASURE_OBJECT: CmdletId = id(
    "Measure-Object",
    "Microsoft.PowerShell.Commands.MeasureObjectCommand",
);

const IDENTITY: ParamSpec = positional("Identity", 0);

pub const CMDLETS: &[CmdletDef] = &[
    CmdletDef {
        id: GET_MAILBOX,
        params: &[
            IDENTITY,
            named("ResultSize"),
            named("Filter"),
            named("SortBy"),
            named("Database"),
            named("OrganizationalUnit"),
            named("RecipientTypeDetails"),
            switch("IgnoreDefaultScope"),
        ],
        build: get_mailbox::build,
    },
    // Parameters from Get-User.md (the ones the simulator implements).
    CmdletDef {
        id: GET_USER,
        params: &[IDENTITY, named("ResultSize"), named("Filter")],
        build: get_user::build,
    },
    CmdletDef {
        id: SET_MAILBOX,
        params: &[
            IDENTITY,
            named("EmailAddresses"),
            named("PrimarySmtpAddress"),
            named("EmailAddressPolicyEnabled"),
            named("DisplayName"),
            named("Alias"),
            named("ForwardingAddress"),
            named("ForwardingSmtpAddress"),
            named("DeliverToMailboxAndForward"),
            named("ProhibitSendQuota"),
            named("ProhibitSendReceiveQuota"),
            named("IssueWarningQuota"),
            named("RecoverableItemsQuota"),
            named("RecoverableItemsWarningQuota"),
            named("CalendarLoggingQuota"),
            named("MaxSendSize"),
            named("MaxReceiveSize"),
            named("UseDatabaseQuotaDefaults"),
            named("UseDatabaseRetentionDefaults"),
            named("RetainDeletedItemsUntilBackup"),
            named("AntispamBypassEnabled"),
            switch("Force"),
        ],
        build: mailbox_write::set_mailbox,
    },
    CmdletDef {
        id: ENABLE_MAILBOX,
        params: &[
            IDENTITY,
            named("Database"),
            named("Alias"),
            named("PrimarySmtpAddress"),
            named("DisplayName"),
            switch("Shared"),
            switch("Room"),
            switch("Equipment"),
        ],
        build: mailbox_write::enable_mailbox,
    },
    CmdletDef {
        id: DISABLE_MAILBOX,
        params: &[IDENTITY, switch("IgnoreLegalHold")],
        build: mailbox_write::disable_mailbox,
    },
    CmdletDef {
        id: NEW_MOVE_REQUEST,
        params: &[
            IDENTITY,
            mandatory(named("TargetDatabase")),
            named("BatchName"),
            named("BadItemLimit"),
        ],
        build: move_request::new_move_request,
    },
    CmdletDef {
        id: GET_MOVE_REQUEST,
        params: &[
            IDENTITY,
            named("MoveStatus"),
            named("TargetDatabase"),
            named("BatchName"),
            named("ResultSize"),
        ],
        build: move_request::get_move_request,
    },
    CmdletDef {
        id: GET_MOVE_REQUEST_STATISTICS,
        params: &[IDENTITY, switch("IncludeReport")],
        build: move_request::get_statistics,
    },
    CmdletDef {
        id: REMOVE_MOVE_REQUEST,
        params: &[IDENTITY],
        build: move_request::remove_move_request,
    },
    CmdletDef {
        id: GET_MAILBOX_DATABASE,
        params: &[
            IDENTITY,
            switch("Status"),
            named("Server"),
            switch("IncludePreExchange2013"),
        ],
        build: database::get,
    },
    CmdletDef {
        id: NEW_MAILBOX_DATABASE,
        params: &[
            mandatory(positional("Name", 0)),
            mandatory(named("Server")),
            named("EdbFilePath"),
            named("LogFolderPath"),
        ],
        build: database::new,
    },
    CmdletDef {
        id: SET_MAILBOX_DATABASE,
        params: &[IDENTITY, named("Name")],
        build: database::set,
    },
    CmdletDef {
        id: REMOVE_MAILBOX_DATABASE,
        params: &[IDENTITY],
        build: database::remove,
    },
    CmdletDef {
        id: MOUNT_DATABASE,
        params: &[IDENTITY, switch("Force")],
        build: database::mount,
    },
    CmdletDef {
        id: DISMOUNT_DATABASE,
        params: &[IDENTITY],
        build: database::dismount,
    },
    CmdletDef {
        id: SELECT_OBJECT,
        params: &[
            positional("Property", 0),
            named("First"),
            named("Skip"),
            named("ExpandProperty"),
        ],
        build: utility::select_object,
    },
    CmdletDef {
        id: MEASURE_OBJECT,
        params: &[positional("Property", 0)],
        build: utility::measure_object,
    },
];

pub fn find(name: &str) -> Option<&'static CmdletDef> {
    CMDLETS.iter().find(|d| eq_ci(d.id.name, name.trim()))
}

/// A stage that reports one error record and produces nothing.
pub fn fail_with(ev: Ev) -> Box<dyn Stage> {
    Box::new(Fixed([ev].into()))
}

/// The identity a cmdlet acts on: from pipeline input, else `-Identity`.
pub fn input_identity(item: Option<&Item>, bound: &Bound) -> Option<Target> {
    match item {
        Some(Item::Mailbox(view)) => Some(Target::Id(view.user.id)),
        Some(Item::Database(view)) => Some(Target::Id(view.database.id)),
        Some(Item::Object(value)) => {
            let text = match value {
                idconn_psrp::clixml::Value::Object(o) => o
                    .property("Identity")
                    .and_then(args::as_text)
                    .or_else(|| o.to_string.clone()),
                other => args::as_text(other),
            };
            text.map(Target::Text)
        }
        None => bound.text("Identity").map(Target::Text),
    }
}

#[derive(Debug, Clone)]
pub enum Target {
    /// An object that came down the pipeline (already resolved).
    Id(u64),
    Text(String),
}

/// Resolves a mailbox-enabled (or, with `need_mailbox` false, any) user.
pub fn resolve_user(
    dir: &Directory,
    server: &str,
    cmdlet: CmdletId,
    target: &Target,
    need_mailbox: bool,
) -> Result<u64, SimErrorRecord> {
    let text = match target {
        Target::Id(id) => {
            return match dir.users.get(id) {
                Some(u) if !need_mailbox || u.mailbox.is_some() => Ok(*id),
                Some(u) => Err(errors::not_found(server, cmdlet, &u.identity())),
                None => Err(errors::not_found(server, cmdlet, &id.to_string())),
            }
        }
        Target::Text(text) => text,
    };
    let ids: Vec<u64> = dir
        .find_users(text, false)
        .into_iter()
        .filter(|id| !need_mailbox || dir.users.get(id).is_some_and(|u| u.mailbox.is_some()))
        .collect();
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(errors::not_found(server, cmdlet, text)),
        _ => Err(errors::ambiguous(server, cmdlet, text)),
    }
}

pub fn resolve_database(
    dir: &Directory,
    server: &str,
    cmdlet: CmdletId,
    target: &Target,
) -> Result<u64, SimErrorRecord> {
    let text = match target {
        Target::Id(id) if dir.databases.contains_key(id) => return Ok(*id),
        Target::Id(id) => return Err(errors::not_found(server, cmdlet, &id.to_string())),
        Target::Text(text) => text,
    };
    let ids = dir.find_databases(text, false);
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(errors::not_found(server, cmdlet, text)),
        _ => Err(errors::ambiguous(server, cmdlet, text)),
    }
}

/// Exchange's warning when a Set-* changed nothing.
pub fn no_change_warning(identity: &str) -> Ev {
    Ev::Warning(format!(
        "The command completed successfully but no settings of '{identity}' have been modified."
    ))
}

pub fn missing_identity(cmdlet: CmdletId) -> Ev {
    Ev::Failed(errors::parameter_binding(
        cmdlet,
        "MissingMandatoryParameter",
        "Cannot process command because of one or more missing mandatory parameters: Identity."
            .to_string(),
    ))
}

/// The warnings Get-Mailbox writes when more results exist: after the
/// default 1000, and after an explicit `-ResultSize`.
pub fn get_mailbox_warnings() -> (&'static str, &'static str) {
    (
        get_mailbox::DEFAULT_LIMIT_WARNING,
        get_mailbox::EXPLICIT_LIMIT_WARNING,
    )
}
