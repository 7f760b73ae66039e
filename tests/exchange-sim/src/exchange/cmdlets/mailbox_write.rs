//! Set-Mailbox, Enable-Mailbox, Disable-Mailbox.

use super::{
    input_identity, mailbox_settings, missing_identity, no_change_warning, resolve_database,
    resolve_user, Invocation, Target, DISABLE_MAILBOX, ENABLE_MAILBOX, SET_MAILBOX,
};
use crate::backend::SimErrorRecord;
use crate::exchange::args::{as_hashtable, as_list, as_text, Bound};
use crate::exchange::errors::{invalid_argument, task_error, CmdletId};
use crate::exchange::model::{
    address_matches, now_seconds, AdUser, Directory, Mailbox, MailboxKind, DOMAIN,
};
use crate::exchange::pipeline::{Ev, Item, PerInput, Stage, Upstream};
use crate::exchange::render::MailboxView;
use crate::exchange::seed::legacy_exchange_dn;
use crate::exchange::text::eq_ci;
use idconn_psrp::clixml::Value;
use std::sync::Arc;

const POLICY_WARNING: &str = "Couldn't update the primary SMTP address because this mailbox is configured to use an email address policy. To disable the email address policy for this mailbox, run the command with the EmailAddressPolicyEnabled parameter set to $false.";

/// `user@x` -> `smtp:user@x`; keeps an explicit prefix as given.
fn with_prefix(address: &str) -> String {
    let address = address.trim();
    match address.split_once(':') {
        Some((prefix, _)) if !prefix.contains('@') && !prefix.is_empty() => address.to_string(),
        _ => format!("smtp:{address}"),
    }
}

fn is_primary(address: &str) -> bool {
    address.starts_with("SMTP:")
}

fn addr_part(address: &str) -> &str {
    address.split_once(':').map_or(address, |(_, a)| a)
}

fn texts(value: &Value) -> Vec<String> {
    as_list(value).iter().filter_map(as_text).collect()
}

/// Makes `address` the primary SMTP address of `list`, demoting the old one.
fn set_primary(list: &mut Vec<String>, address: &str) {
    for a in list.iter_mut() {
        if is_primary(a) {
            *a = format!("smtp:{}", addr_part(a));
        }
    }
    list.retain(|a| !(a.eq_ignore_ascii_case(&format!("smtp:{address}"))));
    list.insert(0, format!("SMTP:{address}"));
}

/// Refuses a list with two primaries, or an address (not already held by
/// `owner` before the change) that another recipient holds.
fn check_addresses(
    dir: &Directory,
    server: &str,
    owner: u64,
    before: &[String],
    list: &[String],
) -> Result<(), SimErrorRecord> {
    let primaries = list.iter().filter(|a| is_primary(a)).count();
    if primaries > 1 {
        return Err(invalid_argument(
            server,
            SET_MAILBOX,
            "There are multiple primary SMTP addresses. Please ensure there is only one primary address for each address type.".to_string(),
        ));
    }
    let added = list
        .iter()
        .filter(|a| !before.iter().any(|b| b.eq_ignore_ascii_case(a)));
    for address in added {
        if let Some(other) = dir.proxy_owner(address, owner) {
            return Err(super::errors::exchange_error(
                server,
                SET_MAILBOX,
                "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException",
                "NotSpecified",
                format!(
                    "The proxy address \"{address}\" is already being used by the proxy addresses or LegacyExchangeDN of \"{}\". Please choose another proxy address.",
                    other.identity()
                ),
                Some(address.clone()),
            ));
        }
    }
    Ok(())
}

/// The new address list for `-EmailAddresses` (a list replaces, a
/// hashtable adds/removes).
fn new_addresses(
    server: &str,
    current: &[String],
    value: &Value,
) -> Result<Vec<String>, SimErrorRecord> {
    let Some(entries) = as_hashtable(value) else {
        let mut list: Vec<String> = texts(value).iter().map(|a| with_prefix(a)).collect();
        if !list.iter().any(|a| is_primary(a)) {
            if let Some(first) = list
                .iter_mut()
                .find(|a| a.to_ascii_lowercase().starts_with("smtp:"))
            {
                *first = format!("SMTP:{}", addr_part(first));
            }
        }
        dedup(&mut list);
        return Ok(list);
    };
    let mut list = current.to_vec();
    for (key, items) in entries {
        let items = texts(&items);
        if key.eq_ignore_ascii_case("add") || key.eq_ignore_ascii_case("+") {
            for item in items {
                let address = with_prefix(&item);
                if is_primary(&address) {
                    set_primary(&mut list, addr_part(&address));
                } else if !list.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
                    list.push(address);
                }
            }
        } else if key.eq_ignore_ascii_case("remove") || key.eq_ignore_ascii_case("-") {
            for item in items {
                list.retain(|a| !address_matches(a, item.trim()));
            }
        } else {
            return Err(invalid_argument(
                server,
                SET_MAILBOX,
                format!("Cannot convert the hashtable key '{key}': valid keys are Add and Remove."),
            ));
        }
    }
    dedup(&mut list);
    if !list.iter().any(|a| is_primary(a)) {
        if let Some(first) = list
            .iter_mut()
            .find(|a| a.to_ascii_lowercase().starts_with("smtp:"))
        {
            *first = format!("SMTP:{}", addr_part(first));
        }
    }
    Ok(list)
}

fn dedup(list: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    list.retain(|a| {
        let key = a.to_lowercase();
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
}

fn apply_set(
    dir: &mut Directory,
    server: &str,
    bound: &Bound,
    target: &Target,
    warnings: &mut Vec<Ev>,
) -> Result<((), bool), SimErrorRecord> {
    let id = resolve_user(dir, server, SET_MAILBOX, target, true)?;
    let user = dir
        .users
        .get(&id)
        .cloned()
        .ok_or_else(|| super::errors::not_found(server, SET_MAILBOX, &format!("{target:?}")))?;
    let mut updated: AdUser = (*user).clone();
    let Some(mbx) = updated.mailbox.as_mut() else {
        return Err(super::errors::not_found(
            server,
            SET_MAILBOX,
            &user.identity(),
        ));
    };
    if let Some(flag) = mailbox_settings::flag(bound, "EmailAddressPolicyEnabled")? {
        mbx.email_address_policy_enabled = flag;
    }
    let old_primary = mbx.primary_smtp_address().to_string();
    if let Some(value) = bound.get("EmailAddresses") {
        let mut list = new_addresses(server, &mbx.email_addresses, value)?;
        let new_primary = list
            .iter()
            .find(|a| is_primary(a))
            .map(|a| addr_part(a).to_string())
            .unwrap_or_default();
        if mbx.email_address_policy_enabled && !eq_ci(&new_primary, &old_primary) {
            warnings.push(Ev::Warning(POLICY_WARNING.to_string()));
            if !old_primary.is_empty() {
                set_primary(&mut list, &old_primary);
            }
        }
        mbx.email_addresses = list;
    }
    if let Some(value) = bound.get("PrimarySmtpAddress") {
        let address = as_text(value).unwrap_or_default();
        let address = addr_part(address.trim()).to_string();
        if mbx.email_address_policy_enabled {
            warnings.push(Ev::Warning(POLICY_WARNING.to_string()));
        } else if !eq_ci(&address, &old_primary) {
            set_primary(&mut mbx.email_addresses, &address);
        }
    }
    mailbox_settings::apply(dir, server, bound, &mut updated)?;
    restamp_policy(dir, id, bound, &mut updated);
    if updated == *user {
        warnings.push(no_change_warning(&user.identity()));
        return Ok(((), false));
    }
    if let Some(mbx) = &updated.mailbox {
        let before = user
            .mailbox
            .as_ref()
            .map_or(&[][..], |m| m.email_addresses.as_slice());
        check_addresses(dir, server, id, before, &mbx.email_addresses)?;
    }
    updated.when_changed = now_seconds();
    dir.users.insert(id, Arc::new(updated));
    Ok(((), true))
}

/// A mailbox under an email address policy gets the policy's addresses
/// back when Set-Mailbox touches its addresses or alias (the simulator's
/// policy: [`mailbox_settings::policy_address`]).
fn restamp_policy(dir: &Directory, id: u64, bound: &Bound, updated: &mut AdUser) {
    let touched = ["EmailAddresses", "Alias", "EmailAddressPolicyEnabled"]
        .iter()
        .any(|p| bound.has(p));
    let Some(mbx) = updated.mailbox.as_mut() else {
        return;
    };
    if !touched || !mbx.email_address_policy_enabled {
        return;
    }
    let stamped = mailbox_settings::policy_address(&mbx.alias);
    let held = mbx
        .email_addresses
        .iter()
        .any(|a| address_matches(a, &stamped));
    if !held && dir.proxy_owner(&stamped, id).is_none() {
        mbx.email_addresses.push(stamped);
    }
}

pub fn set_mailbox(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let org = inv.org.clone();
    Box::new(PerInput::new(upstream, move |item| {
        let server = org.server_name.clone();
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(SET_MAILBOX)];
        };
        if bound.has("EmailAddresses") && bound.has("PrimarySmtpAddress") {
            return vec![Ev::Error(invalid_argument(
                &server,
                SET_MAILBOX,
                "The EmailAddresses and PrimarySmtpAddress parameters can't be used together. Use one of them in each command.".to_string(),
            ))];
        }
        let mut events = Vec::new();
        match org.mutate(|dir| apply_set(dir, &server, &bound, &target, &mut events)) {
            Ok(()) => events,
            Err(e) => vec![Ev::Error(e)],
        }
    }))
}

/// The mounted database with the fewest mailboxes (Exchange's automatic
/// mailbox distribution), for Enable-Mailbox without -Database.
fn pick_database(dir: &Directory) -> Option<u64> {
    dir.databases
        .values()
        .filter(|d| d.mounted)
        .min_by_key(|d| {
            dir.users
                .values()
                .filter(|u| u.mailbox.as_ref().is_some_and(|m| m.database == d.id))
                .count()
        })
        .map(|d| d.id)
}

fn mailbox_view(dir: &Directory, id: u64) -> Option<MailboxView> {
    let user = dir.users.get(&id)?.clone();
    let database = user
        .mailbox
        .as_ref()
        .and_then(|m| dir.databases.get(&m.database).cloned());
    Some(MailboxView { user, database })
}

fn apply_enable(
    dir: &mut Directory,
    server: &str,
    bound: &Bound,
    target: &Target,
) -> Result<(MailboxView, bool), SimErrorRecord> {
    let cmdlet: CmdletId = ENABLE_MAILBOX;
    let id = resolve_user(dir, server, cmdlet, target, false)?;
    let user = dir
        .users
        .get(&id)
        .cloned()
        .ok_or_else(|| super::errors::not_found(server, cmdlet, &format!("{target:?}")))?;
    if user.mailbox.is_some() {
        return Err(task_error(
            server,
            cmdlet,
            format!(
                "The user \"{}\" is already mailbox-enabled.",
                user.identity()
            ),
            Some(user.identity()),
        ));
    }
    let database = match bound.text("Database") {
        Some(db) => resolve_database(dir, server, cmdlet, &Target::Text(db))?,
        None => pick_database(dir).ok_or_else(|| {
            task_error(
                server,
                cmdlet,
                "Couldn't find a mounted mailbox database to create the mailbox in. Specify one with the Database parameter.".to_string(),
                None,
            )
        })?,
    };
    let alias = bound
        .text("Alias")
        .unwrap_or_else(|| user.sam_account_name.clone());
    let (primary, policy) = match bound.text("PrimarySmtpAddress") {
        Some(p) => (addr_part(p.trim()).to_string(), false),
        None => (format!("{alias}@{DOMAIN}"), true),
    };
    let kind = if bound.flag("Shared") == Some(true) {
        MailboxKind::Shared
    } else if bound.flag("Room") == Some(true) {
        MailboxKind::Room
    } else if bound.flag("Equipment") == Some(true) {
        MailboxKind::Equipment
    } else {
        MailboxKind::User
    };
    let email_addresses = vec![format!("SMTP:{primary}")];
    check_addresses(dir, server, id, &[], &email_addresses).map_err(|mut e| {
        e.activity = cmdlet.name.to_string();
        e
    })?;
    let now = now_seconds();
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let mut updated = (*user).clone();
    if let Some(name) = bound.text("DisplayName") {
        updated.display_name = name;
    }
    updated.account_disabled = kind != MailboxKind::User || user.account_disabled;
    updated.mailbox = Some(Mailbox {
        exchange_guid: uuid::Uuid::new_v4().to_string(),
        database,
        legacy_exchange_dn: legacy_exchange_dn(&hex, &alias),
        alias,
        kind,
        email_addresses,
        email_address_policy_enabled: policy,
        forwarding_address: None,
        forwarding_smtp_address: None,
        deliver_to_mailbox_and_forward: false,
        use_database_quota_defaults: true,
        prohibit_send_quota: None,
        prohibit_send_receive_quota: None,
        issue_warning_quota: None,
        max_send_size: None,
        max_receive_size: None,
        linked_master_account: String::new(),
        when_mailbox_created: now,
        settings: Default::default(),
    });
    updated.when_changed = now;
    dir.users.insert(id, Arc::new(updated));
    let view = mailbox_view(dir, id)
        .ok_or_else(|| super::errors::not_found(server, cmdlet, &user.identity()))?;
    Ok((view, true))
}

pub fn enable_mailbox(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let org = inv.org.clone();
    Box::new(PerInput::new(upstream, move |item| {
        let server = org.server_name.clone();
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(ENABLE_MAILBOX)];
        };
        match org.mutate(|dir| apply_enable(dir, &server, &bound, &target)) {
            Ok(view) => vec![Ev::Item(Item::Mailbox(view))],
            Err(e) => vec![Ev::Error(e)],
        }
    }))
}

pub fn disable_mailbox(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let org = inv.org.clone();
    Box::new(PerInput::new(upstream, move |item| {
        let server = org.server_name.clone();
        let Some(target) = input_identity(item.as_ref(), &bound) else {
            return vec![missing_identity(DISABLE_MAILBOX)];
        };
        let result = org.mutate(|dir| {
            let id = resolve_user(dir, &server, DISABLE_MAILBOX, &target, true)?;
            if let Some(user) = dir.users.get(&id).cloned() {
                let mut updated = (*user).clone();
                updated.mailbox = None;
                updated.account_disabled = false;
                updated.when_changed = now_seconds();
                dir.users.insert(id, Arc::new(updated));
            }
            // A disabled mailbox's move attributes go with it.
            dir.move_requests.remove(&id);
            Ok(((), true))
        });
        match result {
            Ok(()) => Vec::new(),
            Err(e) => vec![Ev::Error(e)],
        }
    }))
}
