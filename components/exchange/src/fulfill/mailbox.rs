//! Mailbox orders.
//!
//! The mailbox is identified by its `Guid`, else its `ExchangeGuid`, else
//! its `SamAccountName` (Changes first, then Resource): a SamAccountName is
//! unique only within one domain, so in a forest it can match two users,
//! and it changes with a rename; a GUID does neither. Exchange resolves any
//! of them as `-Identity` (Get-Mailbox.md, Identity: "GUID ... SamAccountName").
//!
//! - Added: `Enable-Mailbox` when Get-Mailbox does not find the mailbox,
//!   then whatever the order asks beyond it; an existing mailbox is brought
//!   to the requested values (nothing to do is success).
//! - Modified: the server's state is read, and only the calls that change
//!   something are made (an unchanged value causes no write).
//! - Deleted: `Disable-Mailbox -Confirm:$false`; an absent mailbox is success.

use super::addresses::{
    self, desired_primary, primary_in, EMAIL_ADDRESSES, EMAIL_ADDRESSES_ADD,
    EMAIL_ADDRESSES_REMOVE, PRIMARY_SMTP_ADDRESS,
};
use super::fields::{object_fields, Fields};
use super::{moves, ran, ran_with, settings, with_ignored, Calls, Change};
use idconn_sdk::Command;
use idconn_sdk::{command, Shell};
use idconn_sdk::{Element, Scalar};
use idconn_sdk::{Field, Order};

const SAM_ACCOUNT_NAME: &str = "SamAccountName";
const GUID: &str = "Guid";
const EXCHANGE_GUID: &str = "ExchangeGuid";
const DATABASE: &str = "Database";
const POLICY: &str = "EmailAddressPolicyEnabled";

/// Fields that identify the mailbox or are handled by their own calls.
const HANDLED: [&str; 8] = [
    SAM_ACCOUNT_NAME,
    GUID,
    EXCHANGE_GUID,
    DATABASE,
    EMAIL_ADDRESSES,
    EMAIL_ADDRESSES_ADD,
    EMAIL_ADDRESSES_REMOVE,
    PRIMARY_SMTP_ADDRESS,
];

/// `Get-Mailbox -Identity <id> | Select-Object -Property ...`: the state an
/// order is compared with.
pub fn state_pipeline(identity: &str) -> Vec<Command> {
    let mut properties = vec![
        GUID,
        EXCHANGE_GUID,
        SAM_ACCOUNT_NAME,
        DATABASE,
        PRIMARY_SMTP_ADDRESS,
        EMAIL_ADDRESSES,
        POLICY,
    ];
    properties.extend(settings::all());
    vec![
        command("Get-Mailbox").text("Identity", identity).build(),
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
    let id = identity(change, changes, resource)?;
    let message = match change {
        Change::Added => added(calls, &id, changes)?,
        Change::Modified => modified(calls, &id, changes)?,
        Change::Deleted => return deleted(calls, &id),
    };
    let known: Vec<&str> = HANDLED.iter().copied().chain(settings::all()).collect();
    Ok(with_ignored(message, changes, &known))
}

/// The mailbox's identity for `-Identity` (see the module). An Added
/// order's mailbox does not exist yet, so it has no ExchangeGuid; its
/// user's Guid or SamAccountName names it.
fn identity(change: Change, changes: Fields, resource: Fields) -> Result<String, String> {
    let names: &[&str] = match change {
        Change::Added => &[GUID, SAM_ACCOUNT_NAME],
        _ => &[GUID, EXCHANGE_GUID, SAM_ACCOUNT_NAME],
    };
    names
        .iter()
        .find_map(|name| changes.text(name).or_else(|| resource.text(name)))
        .ok_or_else(|| {
            let (last, first) = names.split_last().unwrap_or((&SAM_ACCOUNT_NAME, &[]));
            format!(
                "the order has no {} or {last} in Changes or Resource, so the mailbox cannot be identified",
                first.join(", ")
            )
        })
}

/// The server's state of the mailbox, `None` when it has none.
fn state<S: Shell>(calls: &Calls<'_, S>, id: &str) -> Result<Option<Vec<(String, Field)>>, String> {
    Ok(calls
        .find(&state_pipeline(id))?
        .map(|object| object_fields(&object)))
}

fn added<S: Shell>(calls: &Calls<'_, S>, id: &str, changes: Fields) -> Result<String, String> {
    if let Some(current) = state(calls, id)? {
        let (done, notes) = converge(calls, id, changes, Fields(&current))?;
        return Ok(if done.is_empty() && notes.is_empty() {
            "the mailbox already exists with the requested values".to_owned()
        } else {
            format!("the mailbox already existed; {}", ran_with(&done, &notes))
        });
    }
    let mut enable = command("Enable-Mailbox").text("Identity", id);
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
    if !needs_follow_up(changes) {
        return Ok(ran(&done));
    }
    let current = state(calls, id)?.ok_or_else(|| {
        format!("Enable-Mailbox succeeded but Get-Mailbox does not find the mailbox `{id}`")
    })?;
    let (more, notes) = converge(calls, id, changes, Fields(&current))?;
    done.extend(more);
    Ok(ran_with(&done, &notes))
}

/// Whether an Added order asks more than `Enable-Mailbox` can do.
fn needs_follow_up(changes: Fields) -> bool {
    [EMAIL_ADDRESSES, EMAIL_ADDRESSES_ADD, EMAIL_ADDRESSES_REMOVE]
        .into_iter()
        .chain(settings::all().filter(|s| *s != "Alias"))
        .any(|name| changes.has(name))
}

fn modified<S: Shell>(calls: &Calls<'_, S>, id: &str, changes: Fields) -> Result<String, String> {
    let current = state(calls, id)?.ok_or_else(|| {
        format!("Get-Mailbox does not find the mailbox `{id}`: it cannot be modified")
    })?;
    let (done, notes) = converge(calls, id, changes, Fields(&current))?;
    Ok(ran_with(&done, &notes))
}

/// Brings the mailbox from `current` to what `changes` asks: the calls of
/// [`plan`], then the move (see [`moves`]). Returns the cmdlets run and
/// what the operator must know beyond them.
fn converge<S: Shell>(
    calls: &Calls<'_, S>,
    id: &str,
    changes: Fields,
    current: Fields,
) -> Result<(Vec<String>, Vec<String>), String> {
    let planned = plan(id, changes, current)?;
    let mut done = calls.run_all(&planned.steps)?;
    let mut notes = Vec::new();
    if !planned.removed.is_empty() && planned.policy_stays_on {
        // Exchange re-applies an enabled email address policy on every
        // change of the recipient (Set-Mailbox.md, EmailAddressPolicyEnabled),
        // which may stamp back an address just removed: say so instead of
        // removing it again on every run.
        if let Some(after) = state(calls, id)? {
            let after = Fields(&after).list(EMAIL_ADDRESSES).unwrap_or_default();
            let back = addresses::restamped(&planned.removed, &after);
            if !back.is_empty() {
                notes.push(format!(
                    "the mailbox's email address policy is enabled and stamped back {}: they stay while EmailAddressPolicyEnabled is $true",
                    back.join(", ")
                ));
            }
        }
    }
    if let Some(database) = changes.text(DATABASE) {
        let moved = moves::converge(calls, id, &database, current.text(DATABASE).as_deref())?;
        done.extend(moved.done);
        notes.extend(moved.note);
    }
    Ok((done, notes))
}

fn deleted<S: Shell>(calls: &Calls<'_, S>, id: &str) -> Result<String, String> {
    let disable = command("Disable-Mailbox")
        .text("Identity", id)
        .boolean("Confirm", false)
        .build();
    match calls.call(&[disable]) {
        Ok(_) => Ok(ran(&["Disable-Mailbox".to_owned()])),
        Err(error) if error.not_found => Ok(format!("the mailbox `{id}` was already disabled")),
        Err(error) => Err(error.into()),
    }
}

/// The Set-Mailbox calls of an order, and what its address call removes.
struct Plan {
    steps: Vec<Command>,
    removed: Vec<String>,
    /// The mailbox's email address policy is enabled and no call of the
    /// order turns it off.
    policy_stays_on: bool,
}

/// The calls that bring `current` to what `changes` asks, in this order:
/// the primary address (its own call, with the policy off so it sticks:
/// Set-Mailbox.md, EmailAddressPolicyEnabled), the other addresses
/// (hashtable form), the other settings.
fn plan(id: &str, changes: Fields, current: Fields) -> Result<Plan, String> {
    let mut steps = Vec::new();
    let current_addresses = current.list(EMAIL_ADDRESSES).unwrap_or_default();
    let mut policy_stays_on = current.boolean(POLICY) != Some(false);
    if let Some(primary) = desired_primary(changes) {
        let current_primary = current
            .text(PRIMARY_SMTP_ADDRESS)
            .or_else(|| primary_in(&current_addresses));
        if !current_primary.is_some_and(|c| c.eq_ignore_ascii_case(&primary)) {
            steps.push(
                command("Set-Mailbox")
                    .text("Identity", id)
                    .text(PRIMARY_SMTP_ADDRESS, &primary)
                    .boolean(POLICY, false)
                    .build(),
            );
            policy_stays_on = false;
        }
    }
    let (add, remove) = addresses::delta(changes, &current_addresses);
    if !add.is_empty() || !remove.is_empty() {
        let mut entries = Vec::new();
        for (key, items) in [("Add", &add), ("Remove", &remove)] {
            if !items.is_empty() {
                let items = items.iter().cloned().map(Scalar::Text).collect();
                entries.push((key.to_owned(), Element::List(items)));
            }
        }
        steps.push(
            command("Set-Mailbox")
                .text("Identity", id)
                .dictionary(EMAIL_ADDRESSES, entries)
                .build(),
        );
    }
    if let Some(call) = settings::call(id, changes, current)? {
        steps.push(call);
    }
    Ok(Plan {
        steps,
        removed: remove,
        policy_stays_on,
    })
}
