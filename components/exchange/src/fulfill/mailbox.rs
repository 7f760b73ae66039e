//! Mailbox orders.
//!
//! - Added: `Enable-Mailbox` when Get-Mailbox does not find the mailbox,
//!   then whatever the order asks beyond it; an existing mailbox is brought
//!   to the requested values (nothing to do is success).
//! - Modified: the minimal calls, diffed against `Resource` (or the server's
//!   state when `Resource` lacks the addresses to diff against).
//! - Deleted: `Disable-Mailbox -Confirm:$false`; an absent mailbox is success.

use std::collections::HashSet;

use super::fields::{object_fields, Fields};
use super::{ran, with_ignored, Calls, Change};
use crate::exports::idconn::connector::fulfiller::Order;
use crate::idconn::connector::powershell::Command;
use crate::idconn::connector::types::{Element, Scalar, Value};
use crate::shell::{command, Shell};
use crate::values::PRIMARY_SMTP_PREFIX;

const SAM_ACCOUNT_NAME: &str = "SamAccountName";
const DATABASE: &str = "Database";
const EMAIL_ADDRESSES: &str = "EmailAddresses";
const EMAIL_ADDRESSES_ADD: &str = "EmailAddresses_add";
const EMAIL_ADDRESSES_REMOVE: &str = "EmailAddresses_remove";
const PRIMARY_SMTP_ADDRESS: &str = "PrimarySmtpAddress";

/// Text settings passed to `Set-Mailbox` as they are (null clears them).
pub const TEXT_SETTINGS: [&str; 12] = [
    "Alias",
    "DisplayName",
    "ForwardingAddress",
    "ForwardingSmtpAddress",
    "ProhibitSendQuota",
    "ProhibitSendReceiveQuota",
    "IssueWarningQuota",
    "RecoverableItemsQuota",
    "RecoverableItemsWarningQuota",
    "CalendarLoggingQuota",
    "MaxSendSize",
    "MaxReceiveSize",
];

/// Boolean settings passed to `Set-Mailbox`.
pub const BOOLEAN_SETTINGS: [&str; 5] = [
    "DeliverToMailboxAndForward",
    "UseDatabaseQuotaDefaults",
    "UseDatabaseRetentionDefaults",
    "RetainDeletedItemsUntilBackup",
    "AntispamBypassEnabled",
];

/// Fields that identify the mailbox or are handled by their own calls.
const HANDLED: [&str; 7] = [
    SAM_ACCOUNT_NAME,
    "Guid",
    DATABASE,
    EMAIL_ADDRESSES,
    EMAIL_ADDRESSES_ADD,
    EMAIL_ADDRESSES_REMOVE,
    PRIMARY_SMTP_ADDRESS,
];

/// `Get-Mailbox -Identity <sam> | Select-Object -Property ...`: the state an
/// order is compared with.
pub fn state_pipeline(sam: &str) -> Vec<Command> {
    let mut properties = vec![
        "Guid",
        SAM_ACCOUNT_NAME,
        DATABASE,
        PRIMARY_SMTP_ADDRESS,
        EMAIL_ADDRESSES,
    ];
    properties.extend(TEXT_SETTINGS);
    properties.extend(BOOLEAN_SETTINGS);
    vec![
        command("Get-Mailbox").text("Identity", sam).build(),
        command("Select-Object")
            .texts("Property", properties)
            .build(),
    ]
}

pub(super) fn fulfill<S: Shell>(
    calls: &Calls<'_, S>,
    change: Change,
    order: &Order,
) -> Result<String, String> {
    let changes = Fields(&order.changes);
    let resource = Fields(&order.resource);
    let sam = changes
        .text(SAM_ACCOUNT_NAME)
        .or_else(|| resource.text(SAM_ACCOUNT_NAME))
        .ok_or_else(|| {
            "the order has no SamAccountName in Changes or Resource, so the mailbox cannot be identified"
                .to_owned()
        })?;
    let message = match change {
        Change::Added => added(calls, &sam, changes)?,
        Change::Modified => modified(calls, &sam, changes, resource)?,
        Change::Deleted => return deleted(calls, &sam),
    };
    let known: Vec<&str> = HANDLED
        .iter()
        .chain(TEXT_SETTINGS.iter())
        .chain(BOOLEAN_SETTINGS.iter())
        .copied()
        .collect();
    Ok(with_ignored(message, changes, &known))
}

fn added<S: Shell>(calls: &Calls<'_, S>, sam: &str, changes: Fields) -> Result<String, String> {
    if let Some(existing) = calls.find(&state_pipeline(sam))? {
        let current = object_fields(&existing);
        let steps = plan(sam, changes, Fields(&current));
        if steps.is_empty() {
            return Ok("the mailbox already exists with the requested values".to_owned());
        }
        let done = calls.run_all(&steps)?;
        return Ok(format!("the mailbox already existed; {}", ran(&done)));
    }
    let mut enable = command("Enable-Mailbox").text("Identity", sam);
    if let Some(database) = changes.text(DATABASE) {
        enable = enable.text(DATABASE, &database);
    }
    if let Some(alias) = changes.text("Alias") {
        enable = enable.text("Alias", &alias);
    }
    if let Some(primary) = desired_primary(changes) {
        enable = enable.text(PRIMARY_SMTP_ADDRESS, &primary);
    }
    calls.call(&[enable.build()])?;
    let mut done = vec!["Enable-Mailbox".to_owned()];
    if needs_follow_up(changes) {
        let state = calls.find(&state_pipeline(sam))?.ok_or_else(|| {
            format!("Enable-Mailbox succeeded but Get-Mailbox does not find the mailbox `{sam}`")
        })?;
        let current = object_fields(&state);
        done.extend(calls.run_all(&plan(sam, changes, Fields(&current)))?);
    }
    Ok(ran(&done))
}

/// Whether an Added order asks more than `Enable-Mailbox` can do.
fn needs_follow_up(changes: Fields) -> bool {
    [EMAIL_ADDRESSES, EMAIL_ADDRESSES_ADD, EMAIL_ADDRESSES_REMOVE]
        .iter()
        .chain(TEXT_SETTINGS.iter().filter(|s| **s != "Alias"))
        .chain(BOOLEAN_SETTINGS.iter())
        .any(|name| changes.has(name))
}

fn modified<S: Shell>(
    calls: &Calls<'_, S>,
    sam: &str,
    changes: Fields,
    resource: Fields,
) -> Result<String, String> {
    let server_state;
    let current = if changes.has(EMAIL_ADDRESSES) && !resource.has(EMAIL_ADDRESSES) {
        let state = calls.find(&state_pipeline(sam))?.ok_or_else(|| {
            format!("Get-Mailbox does not find the mailbox `{sam}`: it cannot be modified")
        })?;
        server_state = object_fields(&state);
        Fields(&server_state)
    } else {
        resource
    };
    let done = calls.run_all(&plan(sam, changes, current))?;
    Ok(ran(&done))
}

fn deleted<S: Shell>(calls: &Calls<'_, S>, sam: &str) -> Result<String, String> {
    let disable = command("Disable-Mailbox")
        .text("Identity", sam)
        .boolean("Confirm", false)
        .build();
    match calls.call(&[disable]) {
        Ok(_) => Ok(ran(&["Disable-Mailbox".to_owned()])),
        Err(error) if error.not_found => Ok(format!("the mailbox `{sam}` was already disabled")),
        Err(error) => Err(error.into()),
    }
}

/// The calls that bring `current` to what `changes` asks, in this order:
/// the primary address (its own call, with the policy off so it sticks),
/// the other addresses (hashtable form), the other settings, the database
/// (a move request).
fn plan(sam: &str, changes: Fields, current: Fields) -> Vec<Command> {
    let mut steps = Vec::new();
    let current_addresses = current.list(EMAIL_ADDRESSES).unwrap_or_default();
    if let Some(primary) = desired_primary(changes) {
        let current_primary = current
            .text(PRIMARY_SMTP_ADDRESS)
            .or_else(|| primary_in(&current_addresses));
        if !current_primary.is_some_and(|c| c.eq_ignore_ascii_case(&primary)) {
            steps.push(
                command("Set-Mailbox")
                    .text("Identity", sam)
                    .text(PRIMARY_SMTP_ADDRESS, &primary)
                    .boolean("EmailAddressPolicyEnabled", false)
                    .build(),
            );
        }
    }
    let (add, remove) = address_delta(changes, &current_addresses);
    if !add.is_empty() || !remove.is_empty() {
        let mut entries = Vec::new();
        for (key, items) in [("Add", add), ("Remove", remove)] {
            if !items.is_empty() {
                let items = items.into_iter().map(Scalar::Text).collect();
                entries.push((key.to_owned(), Element::List(items)));
            }
        }
        steps.push(
            command("Set-Mailbox")
                .text("Identity", sam)
                .dictionary(EMAIL_ADDRESSES, entries)
                .build(),
        );
    }
    let mut settings = command("Set-Mailbox").text("Identity", sam);
    let mut any_setting = false;
    for name in TEXT_SETTINGS {
        if changes.has(name) {
            let desired = changes.text(name);
            if desired != current.text(name) {
                settings = match desired {
                    Some(text) => settings.text(name, &text),
                    None => settings.value(name, Value::Scalar(Scalar::Null)),
                };
                any_setting = true;
            }
        }
    }
    for name in BOOLEAN_SETTINGS {
        if let Some(flag) = changes.boolean(name) {
            if current.boolean(name) != Some(flag) {
                settings = settings.boolean(name, flag);
                any_setting = true;
            }
        }
    }
    if any_setting {
        steps.push(settings.build());
    }
    if let Some(database) = changes.text(DATABASE) {
        let same = current
            .text(DATABASE)
            .is_some_and(|c| c.eq_ignore_ascii_case(&database));
        if !same {
            steps.push(
                command("New-MoveRequest")
                    .text("Identity", sam)
                    .text("TargetDatabase", &database)
                    .build(),
            );
        }
    }
    steps
}

/// The requested primary SMTP address, without its prefix: the
/// `PrimarySmtpAddress` field, else the `SMTP:` entry of the addresses.
fn desired_primary(changes: Fields) -> Option<String> {
    changes.text(PRIMARY_SMTP_ADDRESS).or_else(|| {
        [EMAIL_ADDRESSES, EMAIL_ADDRESSES_ADD]
            .iter()
            .filter_map(|name| changes.list(name))
            .find_map(|list| primary_in(&list))
    })
}

fn primary_in(addresses: &[String]) -> Option<String> {
    addresses
        .iter()
        .find_map(|a| a.strip_prefix(PRIMARY_SMTP_PREFIX))
        .map(str::to_owned)
}

/// Addresses to add and to remove. A full `EmailAddresses` value is diffed
/// against the current addresses; otherwise `EmailAddresses_add` /
/// `_remove` are taken as they are (minus no-ops when the current addresses
/// are known). The primary is left to its own call; addresses compare
/// case-insensitively, prefix included (`SMTP:a` and `smtp:a` are one
/// address).
fn address_delta(changes: Fields, current: &[String]) -> (Vec<String>, Vec<String>) {
    let current_keys: HashSet<String> = current.iter().map(|a| a.to_lowercase()).collect();
    if let Some(desired) = changes.list(EMAIL_ADDRESSES) {
        let desired_keys: HashSet<String> = desired.iter().map(|a| a.to_lowercase()).collect();
        let add = desired
            .iter()
            .filter(|a| !a.starts_with(PRIMARY_SMTP_PREFIX))
            .filter(|a| !current_keys.contains(&a.to_lowercase()))
            .cloned()
            .collect();
        let remove = current
            .iter()
            .filter(|a| !desired_keys.contains(&a.to_lowercase()))
            .map(|a| secondary_form(a))
            .collect();
        return (add, remove);
    }
    let known = !current.is_empty();
    let add = changes
        .list(EMAIL_ADDRESSES_ADD)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !a.starts_with(PRIMARY_SMTP_PREFIX))
        .filter(|a| !current_keys.contains(&a.to_lowercase()))
        .collect();
    let remove = changes
        .list(EMAIL_ADDRESSES_REMOVE)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !known || current_keys.contains(&a.to_lowercase()))
        .map(|a| secondary_form(&a))
        .collect();
    (add, remove)
}

/// A former primary is removed after the primary moved, so as `smtp:`.
fn secondary_form(address: &str) -> String {
    match address.strip_prefix(PRIMARY_SMTP_PREFIX) {
        Some(rest) => format!("smtp:{rest}"),
        None => address.to_owned(),
    }
}
