//! A mailbox database as `Get-MailboxDatabase` returns it. `Mounted` (and
//! the other live-state properties) are `$null` unless `-Status` was given.

use super::{ad_object_id, mv_list, quota, s, DatabaseView, Mv, RenderCtx, TYPES};
use crate::exchange::model::{Server, ADMIN_GROUP, DC_FQDN, DOMAIN, ORG_NAME};
use crate::exchange::text::{dt_local, dt_utc};
use idconn_psrp::clixml::{PsObject, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum D {
    Const(Const),
    Name,
    Server,
    Servers,
    MasterServer,
    EdbFilePath,
    LogFolderPath,
    ExchangeLegacyDn,
    Mounted,
    StatusNil,
    StatusFalse,
    DistinguishedName,
    Identity,
    Guid,
    ObjectCategory,
    WhenChanged,
    WhenCreated,
    WhenChangedUtc,
    WhenCreatedUtc,
    Quota(Option<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Const {
    Nil,
    Bool(bool),
    Str(&'static str),
    Classes,
}

pub const DATABASE_PROPERTIES: &[(&str, D)] = &[
    ("JournalRecipient", D::Const(Const::Nil)),
    ("MailboxRetention", D::Const(Const::Str("30.00:00:00"))),
    ("OfflineAddressBook", D::Const(Const::Nil)),
    ("OriginalDatabase", D::Const(Const::Nil)),
    ("PublicFolderDatabase", D::Const(Const::Nil)),
    ("ProhibitSendReceiveQuota", D::Quota(Some(2_469_606_195))),
    ("ProhibitSendQuota", D::Quota(Some(2_147_483_648))),
    ("RecoverableItemsQuota", D::Quota(Some(32_212_254_720))),
    (
        "RecoverableItemsWarningQuota",
        D::Quota(Some(21_474_836_480)),
    ),
    ("CalendarLoggingQuota", D::Quota(Some(6_442_450_944))),
    ("IndexEnabled", D::Const(Const::Bool(true))),
    ("IsExcludedFromProvisioning", D::Const(Const::Bool(false))),
    (
        "IsExcludedFromProvisioningBySpaceMonitoring",
        D::Const(Const::Bool(false)),
    ),
    (
        "IsExcludedFromInitialProvisioning",
        D::Const(Const::Bool(false)),
    ),
    ("IsSuspendedFromProvisioning", D::Const(Const::Bool(false))),
    ("DumpsterStatistics", D::StatusNil),
    ("DumpsterServersNotAvailable", D::StatusNil),
    ("ReservedFlag", D::Const(Const::Bool(false))),
    ("IsMailboxDatabase", D::Const(Const::Bool(true))),
    ("IsPublicFolderDatabase", D::Const(Const::Bool(false))),
    ("MailboxProvisioningAttributes", D::Const(Const::Nil)),
    (
        "AdminDisplayVersion",
        D::Const(Const::Str("Version 15.1 (Build 2507.6)")),
    ),
    ("AdministrativeGroup", D::Const(Const::Str(ADMIN_GROUP))),
    ("AllowFileRestore", D::Const(Const::Bool(false))),
    ("BackupInProgress", D::StatusNil),
    ("CircularLoggingEnabled", D::Const(Const::Bool(false))),
    ("DatabaseCreated", D::Const(Const::Bool(true))),
    ("Description", D::Const(Const::Str(""))),
    ("EdbFilePath", D::EdbFilePath),
    ("ExchangeLegacyDN", D::ExchangeLegacyDn),
    ("IssueWarningQuota", D::Quota(Some(2_040_109_466))),
    ("LastFullBackup", D::StatusNil),
    ("LogFilePrefix", D::Const(Const::Str("E00"))),
    ("LogFolderPath", D::LogFolderPath),
    ("MaintenanceSchedule", D::Const(Const::Nil)),
    ("MasterServerOrAvailabilityGroup", D::MasterServer),
    ("Mounted", D::Mounted),
    ("MountAtStartup", D::Const(Const::Bool(true))),
    ("OnlineMaintenanceInProgress", D::StatusFalse),
    ("Organization", D::Const(Const::Str(ORG_NAME))),
    ("Recovery", D::Const(Const::Bool(false))),
    ("ReplicationType", D::Const(Const::Str("None"))),
    ("Server", D::Server),
    ("ServerName", D::MasterServer),
    ("Servers", D::Servers),
    ("DeletedItemRetention", D::Const(Const::Str("14.00:00:00"))),
    ("AdminDisplayName", D::Name),
    ("ExchangeVersion", D::Const(Const::Str("0.10 (14.0.100.0)"))),
    ("Name", D::Name),
    ("DistinguishedName", D::DistinguishedName),
    ("Identity", D::Identity),
    ("Guid", D::Guid),
    ("ObjectCategory", D::ObjectCategory),
    ("ObjectClass", D::Const(Const::Classes)),
    ("WhenChanged", D::WhenChanged),
    ("WhenCreated", D::WhenCreated),
    ("WhenChangedUTC", D::WhenChangedUtc),
    ("WhenCreatedUTC", D::WhenCreatedUtc),
    ("OrganizationId", D::Const(Const::Str(""))),
    ("Id", D::Identity),
    ("OriginatingServer", D::Const(Const::Str(DC_FQDN))),
    ("IsValid", D::Const(Const::Bool(true))),
    ("ObjectState", D::Const(Const::Str("Unchanged"))),
];

pub fn database_object(view: &DatabaseView, ctx: &RenderCtx) -> Value {
    let adapted = DATABASE_PROPERTIES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.to_string(), database_property(view, i, ctx)))
        .collect();
    Value::Object(Box::new(PsObject {
        type_names: TYPES.database.clone(),
        to_string: Some(view.database.name.clone()),
        adapted,
        ..PsObject::default()
    }))
}

pub fn database_property(view: &DatabaseView, index: usize, ctx: &RenderCtx) -> Value {
    let Some((_, prop)) = DATABASE_PROPERTIES.get(index) else {
        return Value::Nil;
    };
    let db = &*view.database;
    let server_id = |name: &str| {
        ad_object_id(
            ctx,
            name.to_string(),
            || {
                format!(
                    "CN={name},CN=Servers,CN={ADMIN_GROUP},CN=Administrative Groups,CN={ORG_NAME},CN=Microsoft Exchange,CN=Services,CN=Configuration,{}",
                    crate::exchange::model::DOMAIN_DN
                )
            },
            None,
            name,
        )
    };
    match *prop {
        D::Const(Const::Nil) => Value::Nil,
        D::Const(Const::Bool(b)) => Value::Bool(b),
        D::Const(Const::Str(text)) => s(text),
        D::Const(Const::Classes) => mv_list(
            Mv::Strings,
            vec![s("top"), s("msExchMDB"), s("msExchPrivateMDB")],
        ),
        D::Quota(bytes) => quota(ctx, bytes),
        D::Name => s(db.name.clone()),
        D::Server => server_id(&db.server),
        D::MasterServer => s(db.server.clone()),
        D::Servers => mv_list(Mv::AdObjectIds, vec![server_id(&db.server)]),
        D::EdbFilePath => s(db.edb_file_path.clone()),
        D::LogFolderPath => s(db.log_folder_path.clone()),
        D::ExchangeLegacyDn => s(format!(
            "{}/cn=Microsoft Private MDB",
            Server {
                name: db.server.clone()
            }
            .legacy_dn()
        )),
        D::Mounted => {
            if view.with_status {
                Value::Bool(db.mounted)
            } else {
                Value::Nil
            }
        }
        D::StatusNil => Value::Nil,
        D::StatusFalse => {
            if view.with_status {
                Value::Bool(false)
            } else {
                Value::Nil
            }
        }
        D::DistinguishedName => s(db.distinguished_name()),
        D::Identity => ad_object_id(
            ctx,
            db.name.clone(),
            || db.distinguished_name(),
            Some(&db.guid),
            &db.name,
        ),
        D::Guid => Value::Guid(db.guid.clone()),
        D::ObjectCategory => s(format!("{DOMAIN}/Configuration/Schema/ms-Exch-Private-MDB")),
        D::WhenChanged => Value::DateTime(dt_local(&db.when_changed, ctx.offset)),
        D::WhenCreated => Value::DateTime(dt_local(&db.when_created, ctx.offset)),
        D::WhenChangedUtc => Value::DateTime(dt_utc(&db.when_changed)),
        D::WhenCreatedUtc => Value::DateTime(dt_utc(&db.when_created)),
    }
}
