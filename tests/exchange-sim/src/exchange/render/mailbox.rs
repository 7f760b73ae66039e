//! One mailbox as Exchange serializes it.

use super::mailbox_props::{Prop, F, MAILBOX_PROPERTIES};
use super::{ad_object_id, mv_list, quota, s, MailboxView, Mv, RenderCtx, TYPES};
use crate::exchange::model::{MailboxKind, Server, DC_FQDN, DOMAIN};
use crate::exchange::text::{dt_local, dt_utc};
use idconn_psrp::clixml::{PsObject, Value};

pub fn mailbox_object(view: &MailboxView, ctx: &RenderCtx) -> Value {
    let adapted = MAILBOX_PROPERTIES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.to_string(), mailbox_property(view, i, ctx)))
        .collect();
    Value::Object(Box::new(PsObject {
        type_names: TYPES.mailbox.clone(),
        to_string: Some(view.user.name.clone()),
        adapted,
        ..PsObject::default()
    }))
}

/// The value of the property at `index` in [`MAILBOX_PROPERTIES`].
pub fn mailbox_property(view: &MailboxView, index: usize, ctx: &RenderCtx) -> Value {
    let Some((_, prop)) = MAILBOX_PROPERTIES.get(index) else {
        return Value::Nil;
    };
    match *prop {
        Prop::Nil => Value::Nil,
        Prop::Bool(b) => Value::Bool(b),
        Prop::Str(text) => s(text),
        Prop::Guid(g) => Value::Guid(g.to_string()),
        Prop::Mv(mv, items) => mv_list(mv, items.iter().map(|i| s(*i)).collect()),
        Prop::Quota(bytes) => quota(ctx, bytes),
        Prop::Languages => languages(),
        Prop::Field(field) => field_value(view, field, ctx),
    }
}

fn languages() -> Value {
    let culture = Value::Object(Box::new(PsObject {
        type_names: TYPES.culture_info.clone(),
        to_string: Some("en-US".to_string()),
        adapted: vec![
            ("LCID".to_string(), Value::I32(1033)),
            ("Name".to_string(), s("en-US")),
            ("DisplayName".to_string(), s("English (United States)")),
            ("IetfLanguageTag".to_string(), s("en-US")),
            ("ThreeLetterISOLanguageName".to_string(), s("eng")),
            ("ThreeLetterWindowsLanguageName".to_string(), s("ENU")),
            ("TwoLetterISOLanguageName".to_string(), s("en")),
        ],
        ..PsObject::default()
    }));
    mv_list(Mv::Cultures, vec![culture])
}

/// Telephone keypad digits, as Exchange's UMDtmfMap spells names.
fn dtmf(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c.to_ascii_lowercase() {
            'a'..='c' => Some('2'),
            'd'..='f' => Some('3'),
            'g'..='i' => Some('4'),
            'j'..='l' => Some('5'),
            'm'..='o' => Some('6'),
            'p'..='s' => Some('7'),
            't'..='v' => Some('8'),
            'w'..='z' => Some('9'),
            d if d.is_ascii_digit() => Some(d),
            _ => None,
        })
        .collect()
}

fn field_value(view: &MailboxView, field: F, ctx: &RenderCtx) -> Value {
    let user = &*view.user;
    let Some(mbx) = user.mailbox.as_ref() else {
        return Value::Nil;
    };
    let db = view.database.as_deref();
    match field {
        F::Database => db.map_or(Value::Nil, |d| {
            ad_object_id(
                ctx,
                d.name.clone(),
                || d.distinguished_name(),
                Some(&d.guid),
                &d.name,
            )
        }),
        F::ExchangeGuid => Value::Guid(mbx.exchange_guid.clone()),
        F::MailboxLocations => mv_list(
            Mv::MailboxLocations,
            vec![s(format!(
                "1;{};Primary;{DOMAIN};{}",
                mbx.exchange_guid,
                db.map_or("", |d| d.guid.as_str())
            ))],
        ),
        F::ExchangeUserAccountControl => s(if user.account_disabled {
            "AccountDisabled"
        } else {
            "None"
        }),
        F::ForwardingAddress => mbx.forwarding_address.as_ref().map_or(Value::Nil, |f| {
            let name = f.rsplit('/').next().unwrap_or(f).to_string();
            ad_object_id(ctx, f.clone(), String::new, None, &name)
        }),
        F::ForwardingSmtpAddress => mbx
            .forwarding_smtp_address
            .as_ref()
            .map_or(Value::Nil, |f| s(f.clone())),
        F::DeliverToMailboxAndForward => Value::Bool(mbx.deliver_to_mailbox_and_forward),
        F::ProhibitSendQuota => quota(ctx, mbx.prohibit_send_quota),
        F::ProhibitSendReceiveQuota => quota(ctx, mbx.prohibit_send_receive_quota),
        F::IssueWarningQuota => quota(ctx, mbx.issue_warning_quota),
        F::MaxSendSize => quota(ctx, mbx.max_send_size),
        F::MaxReceiveSize => quota(ctx, mbx.max_receive_size),
        F::RecoverableItemsQuota => quota(ctx, mbx.settings.recoverable_items_quota),
        F::RecoverableItemsWarningQuota => quota(ctx, mbx.settings.recoverable_items_warning_quota),
        F::CalendarLoggingQuota => quota(ctx, mbx.settings.calendar_logging_quota),
        F::UseDatabaseRetentionDefaults => {
            Value::Bool(mbx.settings.use_database_retention_defaults)
        }
        F::RetainDeletedItemsUntilBackup => {
            Value::Bool(mbx.settings.retain_deleted_items_until_backup)
        }
        F::AntispamBypassEnabled => Value::Bool(mbx.settings.antispam_bypass_enabled),
        F::IsResource => Value::Bool(matches!(
            mbx.kind,
            MailboxKind::Room | MailboxKind::Equipment
        )),
        F::IsLinked => Value::Bool(mbx.kind == MailboxKind::Linked),
        F::IsShared => Value::Bool(mbx.kind == MailboxKind::Shared),
        F::LinkedMasterAccount => s(mbx.linked_master_account.clone()),
        F::ResourceCapacity => Value::Nil,
        F::ResourceType => match mbx.kind {
            MailboxKind::Room => s("Room"),
            MailboxKind::Equipment => s("Equipment"),
            _ => Value::Nil,
        },
        F::RoomMailboxAccountEnabled => match mbx.kind {
            MailboxKind::Room => Value::Bool(false),
            _ => Value::Nil,
        },
        F::SamAccountName => s(user.sam_account_name.clone()),
        F::ServerLegacyDn => db.map_or(Value::Nil, |d| {
            s(Server {
                name: d.server.clone(),
            }
            .legacy_dn())
        }),
        F::ServerName => db.map_or(Value::Nil, |d| s(d.server.to_lowercase())),
        F::UseDatabaseQuotaDefaults => Value::Bool(mbx.use_database_quota_defaults),
        F::UserPrincipalName => s(user.user_principal_name.clone()),
        F::WhenMailboxCreated => Value::DateTime(dt_local(&mbx.when_mailbox_created, ctx.offset)),
        F::AccountDisabled => Value::Bool(user.account_disabled),
        F::Alias => s(mbx.alias.clone()),
        F::OrganizationalUnit => {
            let ou = &user.organizational_unit;
            let name = ou.rsplit('/').next().unwrap_or(ou).to_string();
            ad_object_id(
                ctx,
                ou.clone(),
                || crate::exchange::model::ou_distinguished_name(ou),
                None,
                &name,
            )
        }
        F::DisplayName => s(user.display_name.clone()),
        F::EmailAddresses => mv_list(
            Mv::ProxyAddresses,
            mbx.email_addresses.iter().map(|a| s(a.clone())).collect(),
        ),
        F::LegacyExchangeDn => s(mbx.legacy_exchange_dn.clone()),
        F::EmailAddressPolicyEnabled => Value::Bool(mbx.email_address_policy_enabled),
        F::PrimarySmtpAddress | F::WindowsEmailAddress => s(mbx.primary_smtp_address().to_string()),
        F::RecipientType => s("UserMailbox"),
        F::RecipientTypeDetails => s(mbx.kind.recipient_type_details()),
        F::SimpleDisplayName => s(""),
        F::UmDtmfMap => {
            let name = dtmf(&user.display_name);
            mv_list(
                Mv::Strings,
                vec![
                    s(format!("emailAddress:{}", dtmf(&mbx.alias))),
                    s(format!("lastNameFirstName:{name}")),
                    s(format!("firstNameLastName:{name}")),
                ],
            )
        }
        F::Identity | F::Id => ad_object_id(
            ctx,
            user.identity(),
            || user.distinguished_name(),
            Some(&user.guid),
            &user.name,
        ),
        F::Name => s(user.name.clone()),
        F::DistinguishedName => s(user.distinguished_name()),
        F::Guid => Value::Guid(user.guid.clone()),
        F::ObjectCategory => ad_object_id(
            ctx,
            format!("{DOMAIN}/Configuration/Schema/Person"),
            || {
                format!(
                    "CN=Person,CN=Schema,CN=Configuration,{}",
                    crate::exchange::model::DOMAIN_DN
                )
            },
            None,
            "Person",
        ),
        F::WhenChanged => Value::DateTime(dt_local(&user.when_changed, ctx.offset)),
        F::WhenCreated => Value::DateTime(dt_local(&user.when_created, ctx.offset)),
        F::WhenChangedUtc => Value::DateTime(dt_utc(&user.when_changed)),
        F::WhenCreatedUtc => Value::DateTime(dt_utc(&user.when_created)),
        F::OriginatingServer => s(DC_FQDN),
    }
}
