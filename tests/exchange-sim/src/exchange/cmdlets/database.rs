//! Get/New/Set/Remove-MailboxDatabase, Mount-Database, Dismount-Database.

use super::{
    fail_with, input_identity, missing_identity, no_change_warning, resolve_database, Invocation,
    DISMOUNT_DATABASE, GET_MAILBOX_DATABASE, MOUNT_DATABASE, NEW_MAILBOX_DATABASE,
    REMOVE_MAILBOX_DATABASE, SET_MAILBOX_DATABASE,
};
use crate::backend::SimErrorRecord;
use crate::exchange::args::Bound;
use crate::exchange::errors::{self, exchange_error, CmdletId};
use crate::exchange::model::{now_seconds, Directory, MailboxDatabase, DC_FQDN};
use crate::exchange::pipeline::{Ev, Fixed, Item, PerInput, Stage, Upstream};
use crate::exchange::render::DatabaseView;
use crate::exchange::text::eq_ci;
use crate::exchange::Shared;
use std::sync::Arc;

pub fn get(inv: &Invocation, bound: Bound, _upstream: Upstream) -> Box<dyn Stage> {
    let dir = inv.org.read();
    let with_status = bound.flag("Status") == Some(true);
    let ids: Vec<u64> = match bound.text("Identity") {
        Some(identity) => {
            let ids = dir.find_databases(&identity, true);
            if ids.is_empty() {
                return fail_with(Ev::Error(errors::not_found(
                    inv.server(),
                    GET_MAILBOX_DATABASE,
                    &identity,
                )));
            }
            ids
        }
        None => dir.databases.keys().copied().collect(),
    };
    let server = bound.text("Server");
    let events = ids
        .iter()
        .filter_map(|id| dir.databases.get(id))
        .filter(|d| server.as_ref().is_none_or(|s| eq_ci(s, &d.server)))
        .map(|d| {
            Ev::Item(Item::Database(DatabaseView {
                database: d.clone(),
                with_status,
            }))
        })
        .collect();
    Box::new(Fixed(events))
}

fn already_exists(server: &str, cmdlet: CmdletId, dn: &str) -> SimErrorRecord {
    exchange_error(
        server,
        cmdlet,
        "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException",
        "NotSpecified",
        format!(
            "Active Directory operation failed on {DC_FQDN}. The object '{dn}' already exists."
        ),
        Some(dn.to_string()),
    )
}

pub fn new(inv: &Invocation, bound: Bound, _upstream: Upstream) -> Box<dyn Stage> {
    let server = inv.server().to_string();
    let name = bound.text("Name").unwrap_or_default();
    let host = bound.text("Server").unwrap_or_default();
    let result = inv.org.mutate(|dir| {
        let Some(host) = dir.server(&host).map(|s| s.name.clone()) else {
            return Err(errors::not_found(&server, NEW_MAILBOX_DATABASE, &host));
        };
        if let Some(existing) = dir.databases.values().find(|d| eq_ci(&d.name, &name)) {
            return Err(already_exists(
                &server,
                NEW_MAILBOX_DATABASE,
                &existing.distinguished_name(),
            ));
        }
        let folder = format!("C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Mailbox\\{name}");
        let now = now_seconds();
        let id = dir.allocate_id();
        let db = Arc::new(MailboxDatabase {
            id,
            guid: uuid::Uuid::new_v4().to_string(),
            edb_file_path: bound
                .text("EdbFilePath")
                .unwrap_or_else(|| format!("{folder}\\{name}.edb")),
            log_folder_path: bound.text("LogFolderPath").unwrap_or(folder),
            name: name.clone(),
            server: host,
            mounted: false,
            when_created: now,
            when_changed: now,
        });
        dir.databases.insert(id, db.clone());
        Ok((db, true))
    });
    match result {
        Ok(db) => Box::new(Fixed(
            [Ev::Item(Item::Database(DatabaseView {
                database: db,
                with_status: false,
            }))]
            .into(),
        )),
        Err(e) => fail_with(Ev::Error(e)),
    }
}

/// Applies one cmdlet to one database: (directory, server name, parameters,
/// database id) -> events to report.
type DatabaseChange = fn(&mut Directory, &str, &Bound, u64) -> Result<Vec<Ev>, SimErrorRecord>;

/// A database cmdlet that changes one database per input.
fn per_database(
    inv: &Invocation,
    bound: Bound,
    upstream: Upstream,
    cmdlet: CmdletId,
    change: DatabaseChange,
) -> Box<dyn Stage> {
    let org: Arc<Shared> = inv.org.clone();
    Box::new(PerInput::new(upstream, move |item| {
        let server = org.server_name.clone();
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(cmdlet)];
        };
        let result = org.mutate(|dir| {
            let id = resolve_database(dir, &server, cmdlet, &target)?;
            let before = dir.databases.get(&id).cloned();
            let events = change(dir, &server, &bound, id)?;
            let changed = dir.databases.get(&id) != before.as_ref();
            Ok((events, changed))
        });
        result.unwrap_or_else(|e| vec![Ev::Error(e)])
    }))
}

fn update(dir: &mut Directory, id: u64, f: impl FnOnce(&mut MailboxDatabase)) -> bool {
    update_stamped(dir, id, true, f)
}

/// Changes a database; `stamp`: the change is to an AD attribute, so
/// whenChanged moves. Mounting is runtime state of the Information Store,
/// read with `Get-MailboxDatabase -Status` ("-Status ... retrieves
/// information about ... Mounted", Get-MailboxDatabase.md), not written to
/// the database's AD object: Mount/Dismount-Database leave whenChanged alone.
fn update_stamped(
    dir: &mut Directory,
    id: u64,
    stamp: bool,
    f: impl FnOnce(&mut MailboxDatabase),
) -> bool {
    let Some(db) = dir.databases.get(&id) else {
        return false;
    };
    let mut updated = (**db).clone();
    f(&mut updated);
    if updated == **db {
        return false;
    }
    if stamp {
        updated.when_changed = now_seconds();
    }
    dir.databases.insert(id, Arc::new(updated));
    true
}

pub fn set(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    per_database(
        inv,
        bound,
        upstream,
        SET_MAILBOX_DATABASE,
        |dir, server, bound, id| {
            if let Some(name) = bound.text("Name") {
                if let Some(clash) = dir
                    .databases
                    .values()
                    .find(|d| d.id != id && eq_ci(&d.name, &name))
                {
                    return Err(already_exists(
                        server,
                        SET_MAILBOX_DATABASE,
                        &clash.distinguished_name(),
                    ));
                }
                let old = dir
                    .databases
                    .get(&id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                if !update(dir, id, |d| d.name = name) {
                    return Ok(vec![no_change_warning(&old)]);
                }
                return Ok(Vec::new());
            }
            let name = dir
                .databases
                .get(&id)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            Ok(vec![no_change_warning(&name)])
        },
    )
}

pub fn mount(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    per_database(inv, bound, upstream, MOUNT_DATABASE, |dir, _, _, id| {
        update_stamped(dir, id, false, |d| d.mounted = true);
        Ok(Vec::new())
    })
}

pub fn dismount(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    per_database(inv, bound, upstream, DISMOUNT_DATABASE, |dir, _, _, id| {
        update_stamped(dir, id, false, |d| d.mounted = false);
        Ok(Vec::new())
    })
}

pub fn remove(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    per_database(
        inv,
        bound,
        upstream,
        REMOVE_MAILBOX_DATABASE,
        |dir, server, _, id| {
            let in_use = dir
                .users
                .values()
                .any(|u| u.mailbox.as_ref().is_some_and(|m| m.database == id));
            if in_use {
                return Err(exchange_error(
                server,
                REMOVE_MAILBOX_DATABASE,
                "Microsoft.Exchange.Management.SystemConfigurationTasks.AssociatedUserMailboxExistException",
                "InvalidOperation",
                "This mailbox database contains one or more mailboxes, mailbox plans, archive mailboxes, public folder mailboxes or arbitration mailboxes. To get a list of all mailboxes in this database, run the command Get-Mailbox -Database <Database ID>. To get a list of all mailbox plans in this database, run the command Get-MailboxPlan. To get a list of archive mailboxes in this database, run the command Get-Mailbox -Database <Database ID> -Archive. To get a list of all public folder mailboxes in this database, run the command Get-Mailbox -Database <Database ID> -PublicFolder. To get a list of all arbitration mailboxes in this database, run the command Get-Mailbox -Database <Database ID> -Arbitration. To disable a non-arbitration mailbox so that you can delete the mailbox database, run the command Disable-Mailbox <Mailbox ID>. To disable an archive mailbox so you can delete the mailbox database, run the command Disable-Mailbox <Mailbox ID> -Archive. Arbitration mailboxes should be moved to another server; to do this, run the command New-MoveRequest <parameters>. If this is the last server in the organization, run the command Disable-Mailbox <Mailbox ID> -Arbitration -DisableLastArbitrationMailboxAllowed to disable the arbitration mailbox. Mailbox plans should be moved to another server; to do this, run the command Set-MailboxPlan <MailboxPlan ID> -Database <Database ID>.".to_string(),
                dir.databases.get(&id).map(|d| d.name.clone()),
            ));
            }
            let edb = dir
                .databases
                .get(&id)
                .map(|d| d.edb_file_path.clone())
                .unwrap_or_default();
            dir.databases.remove(&id);
            Ok(vec![Ev::Warning(format!(
            "The specified database has been removed. You must remove the database file located in {edb} from your computer manually if it exists. Specified database: {}",
            edb.rsplit('\\').next().unwrap_or_default().trim_end_matches(".edb")
        ))])
        },
    )
}
