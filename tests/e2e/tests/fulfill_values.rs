//! What fulfill writes is what Exchange keeps: a full address replacement
//! touches SMTP addresses only, every Set-Mailbox setting reaches Exchange
//! with Exchange's types (a quota as exported is taken back, an unchanged
//! value is not written), and a mailbox is identified by its GUID. The real
//! `idconn` binary against `exchange-sim` over HTTP.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use exchange_sim::exchange::model::MailboxKind;
use fulfill_support::*;
use std::sync::Arc;

/// A seeded user mailbox with X500, SIP and EUM addresses, an enabled email
/// address policy and the policy's `alias@contoso.com` address.
fn mailbox_with_other_types() -> (String, String, Vec<String>) {
    let dir = seeded_directory(spec());
    dir.users
        .values()
        .filter(|u| u.sam_account_name != "Administrator")
        .filter_map(|u| {
            let m = u.mailbox.as_ref()?;
            let has = |prefix: &str| m.email_addresses.iter().any(|a| a.starts_with(prefix));
            let policy = format!("smtp:{}@contoso.com", m.alias);
            (m.kind == MailboxKind::User
                && has("X500:")
                && has("SIP:")
                && has("EUM:")
                && m.email_address_policy_enabled
                && m.email_addresses
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&policy)))
            .then(|| {
                (
                    u.sam_account_name.clone(),
                    m.alias.clone(),
                    m.email_addresses.clone(),
                )
            })
        })
        .next()
        .expect("the seed has a mailbox with X500, SIP, EUM and policy addresses")
}

#[test]
fn a_full_address_replacement_keeps_x500_sip_eum_and_the_hybrid_routing_address() {
    let (_sim, agent) = start("admin");
    agent.export().unwrap();
    let (sam, alias, before) = mailbox_with_other_types();
    let primary = before[0].clone();
    let routing = format!("smtp:{alias}@contoso.mail.onmicrosoft.com");
    let policy = format!("smtp:{alias}@contoso.com");
    let added = format!("smtp:{sam}.rules@contoso.com");

    // The hybrid configuration stamps a routing address no rule knows.
    fulfill_orders(
        &agent,
        &[order(
            "1",
            "Modified",
            MAILBOX,
            json!({"EmailAddresses_add": [routing]}),
            json!({"SamAccountName": sam}),
        )],
    )
    .assert_executed("1");

    // Usercube's rules: the primary and one secondary, SMTP only.
    let run = fulfill_orders(
        &agent,
        &[order(
            "2",
            "Modified",
            MAILBOX,
            json!({"EmailAddresses": [primary, added]}),
            json!({"SamAccountName": sam}),
        )],
    );
    let message = &run.assert_executed("2")["Message"];
    // The policy address was removed and Exchange stamped it back: said
    // once, not fought on every run.
    assert!(
        message.contains(&format!(
            "the mailbox's email address policy is enabled and stamped back {policy}"
        )),
        "{message}"
    );
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "SamAccountName", &sam).expect("the mailbox is exported");
    let after = addresses(row);
    for kept in before
        .iter()
        .filter(|a| !a.to_lowercase().starts_with("smtp:"))
    {
        assert!(after.contains(kept), "{kept} was lost: {after:?}");
    }
    assert!(after.contains(&routing), "{after:?}");
    assert!(after.contains(&added), "{after:?}");
    assert!(after.contains(&policy), "{after:?}");
    assert_eq!(after[0], primary);
    for gone in before
        .iter()
        .filter(|a| a.starts_with("smtp:") && !a.eq_ignore_ascii_case(&policy))
    {
        assert!(!after.contains(gone), "{gone} was not removed: {after:?}");
    }

    // Another type goes only when named.
    let x500 = before.iter().find(|a| a.starts_with("X500:")).unwrap();
    fulfill_orders(
        &agent,
        &[order(
            "3",
            "Modified",
            MAILBOX,
            json!({"EmailAddresses": [primary, added], "EmailAddresses_remove": [x500]}),
            json!({"SamAccountName": sam}),
        )],
    )
    .assert_executed("3");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let after = addresses(by(&rows, "SamAccountName", &sam).unwrap());
    assert!(!after.contains(x500), "{after:?}");
    assert!(after.iter().any(|a| a.starts_with("SIP:")), "{after:?}");
}

const QUOTAS: [(&str, &str, &str); 8] = [
    ("ProhibitSendQuota", "5 GB", "5 GB (5,368,709,120 bytes)"),
    (
        "ProhibitSendReceiveQuota",
        "6GB",
        "6 GB (6,442,450,944 bytes)",
    ),
    (
        "IssueWarningQuota",
        "4.5 GB",
        "4.5 GB (4,831,838,208 bytes)",
    ),
    (
        "RecoverableItemsQuota",
        "40 GB",
        "40 GB (42,949,672,960 bytes)",
    ),
    (
        "RecoverableItemsWarningQuota",
        "35GB",
        "35 GB (37,580,963,840 bytes)",
    ),
    ("CalendarLoggingQuota", "7 GB", "7 GB (7,516,192,768 bytes)"),
    ("MaxSendSize", "30 MB", "30 MB (31,457,280 bytes)"),
    ("MaxReceiveSize", "31457280", "30 MB (31,457,280 bytes)"),
];

#[test]
fn every_setting_reaches_exchange_and_an_exported_value_sent_back_writes_nothing() {
    let (sim, agent) = start("admin");
    // Windows meet exactly, so an export shows only what changed since the
    // one before (the default overlap would repeat earlier changes as Update
    // rows, which is harmless but not what this test looks at).
    let mut connection = sim.connection("admin", "admin");
    connection["IncrementalOverlapSeconds"] = json!(0);
    agent.write_connection(connection).unwrap();
    agent.export().unwrap();
    let users = seeded_user_mailboxes();
    let (sam, _, _) = users[0].clone();
    let (other, _, _) = users[1].clone();
    let mut changes = json!({
        "Alias": format!("{sam}.e2e"),
        "DisplayName": "Settings E2E",
        "ForwardingAddress": other,
        "ForwardingSmtpAddress": "fwd.e2e@example.org",
        "DeliverToMailboxAndForward": true,
        "UseDatabaseQuotaDefaults": false,
        "UseDatabaseRetentionDefaults": false,
        "RetainDeletedItemsUntilBackup": true,
        "AntispamBypassEnabled": true,
    });
    for (name, typed, _) in QUOTAS {
        changes[name] = json!(typed);
    }
    let resource = json!({"SamAccountName": sam});
    let run = fulfill_orders(
        &agent,
        &[order("1", "Modified", MAILBOX, changes, resource.clone())],
    );
    assert_eq!(run.assert_executed("1")["Message"], "ran Set-Mailbox");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "SamAccountName", &sam).expect("the mailbox is exported");
    assert_eq!(row["Command"], "Update");
    assert_eq!(row["Alias"], format!("{sam}.e2e"));
    assert_eq!(row["DisplayName"], "Settings E2E");
    assert_eq!(row["ForwardingSmtpAddress"], "smtp:fwd.e2e@example.org");
    assert!(!row["ForwardingAddress"].is_empty(), "{row:?}");
    for flag in [
        "DeliverToMailboxAndForward",
        "RetainDeletedItemsUntilBackup",
        "AntispamBypassEnabled",
    ] {
        assert_eq!(row[flag], "True", "{flag}");
    }
    for flag in ["UseDatabaseQuotaDefaults", "UseDatabaseRetentionDefaults"] {
        assert_eq!(row[flag], "False", "{flag}");
    }
    for (name, _, shown) in QUOTAS {
        if let Some(value) = row.get(name) {
            assert_eq!(value, shown, "{name}");
        }
    }
    let forwarding = row["ForwardingAddress"].clone();

    // Every value as the export shows it: nothing to write, so no change
    // in the next export.
    let mut same = json!({"ForwardingAddress": forwarding, "AntispamBypassEnabled": "True"});
    for (name, _, shown) in QUOTAS {
        same[name] = json!(shown);
    }
    let run = fulfill_orders(
        &agent,
        &[order("2", "Modified", MAILBOX, same, resource.clone())],
    );
    assert_eq!(run.assert_executed("2")["Message"], "nothing to change");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    assert!(
        by(&rows, "SamAccountName", &sam).is_none(),
        "an unchanged value was written: {:?}",
        changed(&rows)
    );

    // A new value in the exported form is taken.
    let run = fulfill_orders(
        &agent,
        &[order(
            "3",
            "Modified",
            MAILBOX,
            json!({"ProhibitSendQuota": "8 GB (8,589,934,592 bytes)"}),
            resource.clone(),
        )],
    );
    run.assert_executed("3");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "SamAccountName", &sam).expect("the mailbox is exported");
    assert_eq!(row["ProhibitSendQuota"], "8 GB (8,589,934,592 bytes)");

    // The forwarding target named another way is the same recipient to
    // Exchange, which says it changed nothing: the warning reaches the
    // results.
    let run = fulfill_orders(
        &agent,
        &[order(
            "4",
            "Modified",
            MAILBOX,
            json!({"ForwardingAddress": other}),
            resource,
        )],
    );
    let message = &run.assert_executed("4")["Message"];
    assert!(
        message.contains(
            "Exchange warned: Set-Mailbox: The command completed successfully but no settings of"
        ),
        "{message}"
    );
}

#[test]
fn a_mailbox_is_identified_by_its_guid_when_its_sam_account_name_is_ambiguous() {
    let mut dir = seeded_directory(spec());
    let original = dir
        .users
        .values()
        .find(|u| {
            u.sam_account_name != "Administrator"
                && u.mailbox
                    .as_ref()
                    .is_some_and(|m| m.kind == MailboxKind::User)
        })
        .unwrap()
        .clone();
    let sam = original.sam_account_name.clone();
    // The same SamAccountName in another domain of the forest.
    let mut twin = (*original).clone();
    twin.id = dir.allocate_id();
    twin.guid = "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b".to_string();
    twin.name = format!("{} (Fabrikam)", original.name);
    twin.user_principal_name = format!("{sam}@fabrikam.com");
    if let Some(m) = twin.mailbox.as_mut() {
        m.exchange_guid = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d".to_string();
        m.alias = format!("{sam}.fabrikam");
        m.legacy_exchange_dn = format!("{}-fabrikam", m.legacy_exchange_dn);
        m.email_addresses = vec![format!("SMTP:{sam}@fabrikam.com")];
    }
    dir.users.insert(twin.id, Arc::new(twin.clone()));
    let state = tempfile::tempdir().unwrap();
    let (_sim, agent) = start_from(&dir, state.path());
    agent.export().unwrap();

    let run = fulfill_orders(
        &agent,
        &[
            order(
                "1",
                "Modified",
                MAILBOX,
                json!({"DisplayName": "Found By Guid"}),
                json!({"SamAccountName": sam, "Guid": original.guid}),
            ),
            order(
                "2",
                "Deleted",
                MAILBOX,
                json!({}),
                json!({"SamAccountName": sam, "ExchangeGuid": "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"}),
            ),
        ],
    );
    run.assert_executed("1");
    assert_eq!(run.assert_executed("2")["Message"], "ran Disable-Mailbox");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "Guid", &original.guid).expect("the first mailbox is exported");
    assert_eq!(row["DisplayName"], "Found By Guid");
    let gone = by(&rows, "Guid", &twin.guid).expect("a Delete row for the twin");
    assert_eq!(gone["Command"], "Delete");
}
