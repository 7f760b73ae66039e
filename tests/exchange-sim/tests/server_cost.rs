//! Issue 17's simulator parts: Get-User, the objects each cmdlet
//! materializes and the move hook. (`--object-cost-us` is measured by
//! `just bench`, not asserted in a test.)

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use exchange_sim::exchange::hooks::MoveHook;
use exchange_sim::exchange::seed::SeedSpec;
use exchange_sim::exchange::{ModelFaults, Organization};

fn org_with(faults: ModelFaults) -> Organization {
    let mut options = options();
    options.faults = faults;
    Organization::open(
        SeedSpec {
            mailboxes: 30,
            databases: 3,
            seed: 7,
        },
        options,
    )
    .unwrap()
}

fn unlimited(command: &str) -> idconn_psrp::Command {
    cmd(command).param("ResultSize", text("Unlimited"))
}

#[test]
fn get_user_lists_users_with_and_without_mailboxes() {
    let org = org(30);
    let users = run(&org, vec![unlimited("Get-User")]).ok();
    let kinds: Vec<String> = users
        .objects()
        .iter()
        .map(|o| prop_str(o, "RecipientTypeDetails"))
        .collect();
    let dir = org.snapshot();
    assert_eq!(kinds.len(), dir.users.len());
    assert!(kinds.iter().any(|k| k == "UserMailbox"));
    assert!(kinds.iter().any(|k| k == "User" || k == "DisabledUser"));
    // A filter on a user property works for users without a mailbox.
    let plain = dir.users.values().find(|u| u.mailbox.is_none()).unwrap();
    let filter = format!("SamAccountName -eq '{}'", plain.sam_account_name);
    let found = run(
        &org,
        vec![unlimited("Get-User").param("Filter", text(&filter))],
    )
    .ok();
    assert_eq!(found.objects().len(), 1);
}

#[test]
fn only_what_a_filter_or_database_matches_is_materialized() {
    let org = org(30);
    let dir = org.snapshot();
    let mailboxes = dir.mailbox_count() as u64;
    run(&org, vec![unlimited("Get-Mailbox"), cmd("Select-Object")]).ok();
    assert_eq!(org.objects_materialized()["Get-Mailbox"], mailboxes);
    // Nothing changed since 2100: nothing read.
    run(
        &org,
        vec![unlimited("Get-Mailbox")
            .param("Filter", text("WhenChangedUTC -ge '2100-01-01T00:00:00Z'"))],
    )
    .ok();
    assert_eq!(org.objects_materialized()["Get-Mailbox"], mailboxes);
    let db = dir.databases.values().next().unwrap();
    let on_db = dir
        .users
        .values()
        .filter(|u| u.mailbox.as_ref().is_some_and(|m| m.database == db.id))
        .count() as u64;
    let listed = run(
        &org,
        vec![unlimited("Get-Mailbox").param("Database", text(&db.name))],
    )
    .ok();
    assert_eq!(listed.objects().len() as u64, on_db);
    assert_eq!(org.objects_materialized()["Get-Mailbox"], mailboxes + on_db);
}

#[test]
fn the_move_hook_moves_a_mailbox_when_its_database_listing_starts_once() {
    let probe = org(30).snapshot();
    let mut dbs = probe.databases.values();
    let (first, second) = (dbs.next().unwrap(), dbs.next().unwrap());
    let user = probe
        .users
        .values()
        .find(|u| u.mailbox.as_ref().is_some_and(|m| m.database == second.id))
        .unwrap();
    let hook = MoveHook::parse(&format!(
        "{}={}:{}",
        second.name, user.sam_account_name, first.name
    ))
    .unwrap();
    let org = org_with(ModelFaults {
        move_hooks: vec![hook],
        ..ModelFaults::default()
    });
    // Listing another database does not fire it.
    run(
        &org,
        vec![unlimited("Get-Mailbox").param("Database", text(&first.name))],
    )
    .ok();
    let moved = |org: &Organization| {
        org.snapshot().users[&user.id]
            .mailbox
            .as_ref()
            .unwrap()
            .database
    };
    assert_eq!(moved(&org), second.id);
    let listed = run(
        &org,
        vec![unlimited("Get-Mailbox").param("Database", text(&second.guid))],
    )
    .ok();
    assert_eq!(moved(&org), first.id);
    let sams: Vec<String> = listed
        .objects()
        .iter()
        .map(|o| prop_str(o, "SamAccountName"))
        .collect();
    assert!(
        !sams.contains(&user.sam_account_name),
        "moved before the listing"
    );
    assert!(org.snapshot().users[&user.id].when_changed > user.when_changed);
    assert!(MoveHook::parse("DB01").is_err());
}
