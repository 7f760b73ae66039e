//! The two CSV files' columns (Usercube's, in Usercube's order) and the
//! pipelines that fetch them. Replay fixtures match these pipelines exactly:
//! keep README.md in step with any change here.

use crate::idconn::connector::powershell::Command;
use crate::shell::command;

pub const COMMAND: &str = "Command";
pub const GUID: &str = "Guid";
pub const WHEN_CHANGED_UTC: &str = "WhenChangedUTC";
pub const WHEN_CREATED_UTC: &str = "WhenCreatedUTC";
pub const EMAIL_ADDRESSES: &str = "EmailAddresses";
/// Not an Exchange property (Exchange has `AccountDisabled` and
/// `IsDirSynced`): kept for Usercube compatibility and always empty.
pub const ACCOUNT_DISABLED_IS_DIR_SYNCED: &str = "AccountDisabledIsDirSynced";

pub const MAILBOX_COLUMNS: [&str; 44] = [
    COMMAND,
    "Database",
    EMAIL_ADDRESSES,
    "UseDatabaseRetentionDefaults",
    "RetainDeletedItemsUntilBackup",
    "DeliverToMailboxAndForward",
    "ExchangeGuid",
    "ExchangeUserAccountControl",
    "ForwardingAddress",
    "ForwardingSmtpAddress",
    "IsMailboxEnabled",
    "ProhibitSendQuota",
    "ProhibitSendReceiveQuota",
    "RecoverableItemsQuota",
    "RecoverableItemsWarningQuota",
    "CalendarLoggingQuota",
    "IsResource",
    "IsLinked",
    "IsShared",
    "SamAccountName",
    "AntispamBypassEnabled",
    "ServerName",
    "UseDatabaseQuotaDefaults",
    "UserPrincipalName",
    "WhenMailboxCreated",
    "IsInactiveMailbox",
    ACCOUNT_DISABLED_IS_DIR_SYNCED,
    "Alias",
    "OrganizationalUnit",
    "DisplayName",
    "MaxSendSize",
    "MaxReceiveSize",
    "PrimarySmtpAddress",
    "RecipientType",
    "RecipientTypeDetails",
    "Identity",
    "IsValid",
    "Name",
    "DistinguishedName",
    GUID,
    "ObjectCategory",
    WHEN_CHANGED_UTC,
    WHEN_CREATED_UTC,
    "ObjectState",
];

pub const DATABASE_COLUMNS: [&str; 9] = [
    COMMAND,
    "Name",
    "Server",
    "Mounted",
    "ObjectCategory",
    GUID,
    WHEN_CHANGED_UTC,
    WHEN_CREATED_UTC,
    "ObjectState",
];

/// The columns asked of the server: all but those we fill ourselves.
pub fn selected(columns: &[&'static str]) -> Vec<&'static str> {
    columns
        .iter()
        .copied()
        .filter(|c| *c != COMMAND && *c != ACCOUNT_DISABLED_IS_DIR_SYNCED)
        .collect()
}

fn select(properties: Vec<&str>) -> Command {
    command("Select-Object")
        .texts("Property", properties)
        .build()
}

/// `Get-MailboxDatabase -Status | Select-Object -Property Name,Server,...`
/// (`-Status` because `Mounted` is empty without it).
pub fn databases_pipeline() -> Vec<Command> {
    vec![
        command("Get-MailboxDatabase").switch("Status").build(),
        select(selected(&DATABASE_COLUMNS)),
    ]
}

/// Every mailbox, every column.
pub fn all_mailboxes_pipeline() -> Vec<Command> {
    vec![
        command("Get-Mailbox")
            .text("ResultSize", "Unlimited")
            .build(),
        select(selected(&MAILBOX_COLUMNS)),
    ]
}

/// The OPATH filter of an incremental export: `WhenChangedUTC` from
/// `since` on, the date as `yyyy-MM-ddTHH:mm:ssZ`. No upper bound: a change
/// made while the export runs is reported now and again next time, which is
/// harmless, while an upper bound on the agent's clock would lose changes a
/// DC stamped with a clock behind it (README.md, "Incremental export").
pub fn changed_filter(since: &str) -> String {
    format!("WhenChangedUTC -ge '{since}'")
}

/// The mailboxes changed from `since` on, every column.
pub fn changed_mailboxes_pipeline(since: &str) -> Vec<Command> {
    vec![
        command("Get-Mailbox")
            .text("ResultSize", "Unlimited")
            .text("Filter", &changed_filter(since))
            .build(),
        select(selected(&MAILBOX_COLUMNS)),
    ]
}

/// The guids of every mailbox, to find deleted ones.
pub fn mailbox_guids_pipeline() -> Vec<Command> {
    vec![
        command("Get-Mailbox")
            .text("ResultSize", "Unlimited")
            .build(),
        select(vec![GUID]),
    ]
}

pub const RECIPIENT_TYPE_DETAILS: &str = "RecipientTypeDetails";

/// The mailboxes of one database (by guid), every column: one part of a
/// partitioned complete export (partition.rs).
pub fn database_mailboxes_pipeline(database: &str) -> Vec<Command> {
    vec![
        command("Get-Mailbox")
            .text("ResultSize", "Unlimited")
            .text("Database", database)
            .build(),
        select(selected(&MAILBOX_COLUMNS)),
    ]
}

/// The users changed from `since` on, with what tells a mailbox from a
/// user without one: the cheap way to see disabled mailboxes (deletions.rs).
pub fn changed_users_pipeline(since: &str) -> Vec<Command> {
    vec![
        command("Get-User")
            .text("ResultSize", "Unlimited")
            .text("Filter", &changed_filter(since))
            .build(),
        select(vec![GUID, RECIPIENT_TYPE_DETAILS]),
    ]
}
