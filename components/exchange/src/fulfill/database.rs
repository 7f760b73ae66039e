//! Mailbox database orders.
//!
//! - Added: `New-MailboxDatabase -Name -Server [-EdbFilePath]
//!   [-LogFolderPath]`, then `Mount-Database` unless `Mounted` is false; an
//!   existing database only gets its mount state matched.
//! - Modified: `Set-MailboxDatabase -Name` for a rename, then
//!   `Mount-Database` / `Dismount-Database` to match `Mounted`.
//! - Deleted: `Remove-MailboxDatabase` only. It needs no dismount
//!   (Remove-MailboxDatabase.md asks for none), and Exchange refuses to
//!   remove a database that still holds mailboxes: dismounting first would
//!   take every mailbox in it offline for an order that then fails. A
//!   refused delete leaves the database as it was and is `Errored` with
//!   Exchange's message; an absent database is success.

use super::fields::{object_fields, Fields};
use super::{ran, with_ignored, Calls, Change};
use idconn_sdk::Command;
use idconn_sdk::Order;
use idconn_sdk::{command, Shell};

const NAME: &str = "Name";
const GUID: &str = "Guid";
const SERVER: &str = "Server";
const MOUNTED: &str = "Mounted";
const EDB_FILE_PATH: &str = "EdbFilePath";
const LOG_FOLDER_PATH: &str = "LogFolderPath";
const HANDLED: [&str; 6] = [NAME, GUID, SERVER, MOUNTED, EDB_FILE_PATH, LOG_FOLDER_PATH];

/// `Get-MailboxDatabase -Identity <id> -Status | Select-Object -Property
/// Name,Server,Mounted,Guid`.
pub fn state_pipeline(identity: &str) -> Vec<Command> {
    vec![
        command("Get-MailboxDatabase")
            .text("Identity", identity)
            .switch("Status")
            .build(),
        command("Select-Object")
            .texts("Property", [NAME, SERVER, MOUNTED, GUID])
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
    let message = match change {
        Change::Added => added(calls, changes)?,
        Change::Modified => modified(calls, changes, resource)?,
        Change::Deleted => return deleted(calls, &identity(changes, resource, change)?),
    };
    Ok(with_ignored(message, changes, &HANDLED))
}

/// The database's identity: its Guid (Changes, then Resource), else its
/// name. For a rename the current name is in Resource, so Resource's name
/// wins there.
fn identity(changes: Fields, resource: Fields, change: Change) -> Result<String, String> {
    let guid = changes.text(GUID).or_else(|| resource.text(GUID));
    let name = match change {
        Change::Modified => resource.text(NAME).or_else(|| changes.text(NAME)),
        _ => changes.text(NAME).or_else(|| resource.text(NAME)),
    };
    guid.or(name).ok_or_else(|| {
        "the order has no Guid or Name in Changes or Resource, so the database cannot be identified"
            .to_owned()
    })
}

fn added<S: Shell>(calls: &Calls<'_, S>, changes: Fields) -> Result<String, String> {
    let name = changes
        .text(NAME)
        .ok_or_else(|| "the order has no Name in Changes: a new database needs one".to_owned())?;
    let mounted = changes.boolean(MOUNTED).unwrap_or(true);
    if let Some(existing) = calls.find(&state_pipeline(&name))? {
        let current = object_fields(&existing);
        let steps = mount_steps(&name, Fields(&current).boolean(MOUNTED), mounted);
        if steps.is_empty() {
            return Ok("the database already exists with the requested values".to_owned());
        }
        let done = calls.run_all(&steps)?;
        return Ok(format!("the database already existed; {}", ran(&done)));
    }
    let server = changes
        .text(SERVER)
        .ok_or_else(|| "the order has no Server in Changes: a new database needs one".to_owned())?;
    let mut create = command("New-MailboxDatabase")
        .text(NAME, &name)
        .text(SERVER, &server);
    for optional in [EDB_FILE_PATH, LOG_FOLDER_PATH] {
        if let Some(path) = changes.text(optional) {
            create = create.text(optional, &path);
        }
    }
    let mut steps = vec![create.build()];
    if mounted {
        steps.push(command("Mount-Database").text("Identity", &name).build());
    }
    Ok(ran(&calls.run_all(&steps)?))
}

fn modified<S: Shell>(
    calls: &Calls<'_, S>,
    changes: Fields,
    resource: Fields,
) -> Result<String, String> {
    let mut identity = identity(changes, resource, Change::Modified)?;
    let mut steps = Vec::new();
    if let Some(new_name) = changes.text(NAME) {
        if resource.text(NAME).as_deref() != Some(new_name.as_str()) {
            steps.push(
                command("Set-MailboxDatabase")
                    .text("Identity", &identity)
                    .text(NAME, &new_name)
                    .build(),
            );
            // Later calls must find the database under its new name.
            if changes.text(GUID).or_else(|| resource.text(GUID)).is_none() {
                identity = new_name;
            }
        }
    }
    if let Some(mounted) = changes.boolean(MOUNTED) {
        steps.extend(mount_steps(&identity, resource.boolean(MOUNTED), mounted));
    }
    Ok(ran(&calls.run_all(&steps)?))
}

fn deleted<S: Shell>(calls: &Calls<'_, S>, identity: &str) -> Result<String, String> {
    let remove = command("Remove-MailboxDatabase")
        .text("Identity", identity)
        .boolean("Confirm", false)
        .build();
    match calls.call(&[remove]) {
        Ok(_) => Ok(ran(&["Remove-MailboxDatabase".to_owned()])),
        Err(error) if error.not_found => {
            Ok(format!("the database `{identity}` was already removed"))
        }
        Err(error) => Err(error.into()),
    }
}

/// Mount or dismount when the current state (if known) differs.
fn mount_steps(identity: &str, current: Option<bool>, mounted: bool) -> Vec<Command> {
    if current == Some(mounted) {
        return Vec::new();
    }
    let step = if mounted {
        command("Mount-Database").text("Identity", identity)
    } else {
        command("Dismount-Database")
            .text("Identity", identity)
            .boolean("Confirm", false)
    };
    vec![step.build()]
}
