//! `idconn fulfill` against the Exchange simulator over HTTP, each change
//! verified by the next `idconn export`: mailbox and database orders.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;

#[test]
fn mailbox_orders_show_as_insert_update_delete_in_the_next_export() {
    let (_sim, agent) = start("admin");
    agent.export().unwrap();
    let new_user = users_without_mailbox(spec())[0].clone();
    let existing = seeded_user_mailboxes();
    let (sam, sam_addresses, _) = existing[0].clone();
    let (mover, _, mover_db) = existing[1].clone();
    let target_db = if mover_db == "DB01" { "DB02" } else { "DB01" };
    let old_primary = sam_addresses[0].trim_start_matches("SMTP:").to_string();
    // Not the `alias@contoso.com` address: the simulator's email address
    // policy stamps that one back while the policy is enabled.
    let removed = sam_addresses
        .iter()
        .find(|a| {
            a.starts_with("smtp:") && !a.eq_ignore_ascii_case(&format!("smtp:{sam}@contoso.com"))
        })
        .unwrap()
        .clone();
    let orders = orders_dir(&agent);

    // Added: a mailbox for an AD user without one.
    let new_primary = format!("{new_user}.primary@contoso.com");
    write_orders(
        &orders,
        "01-enable.json",
        &[order(
            "1",
            "Added",
            MAILBOX,
            json!({
                "SamAccountName": new_user,
                "Database": {"Name": "DB02"},
                "EmailAddresses": format!("SMTP:{new_primary} smtp:{new_user}.alias@contoso.com"),
            }),
            json!({}),
        )],
    );
    let run = fulfill(&agent);
    run.assert_executed("1");
    assert!(orders.join("Completed").join("01-enable.json").is_file());
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "SamAccountName", &new_user).expect("the new mailbox is exported");
    assert_eq!(row["Command"], "Insert");
    assert_eq!(row["Database"], "DB02");
    let got = addresses(row);
    assert_eq!(got[0], format!("SMTP:{new_primary}"));
    assert!(
        got.contains(&format!("smtp:{new_user}.alias@contoso.com")),
        "{got:?}"
    );
    let new_guid = row["Guid"].clone();

    // Modified: addresses through the hashtable form, a new primary, a move.
    write_orders(
        &orders,
        "02-modify.json",
        &[
            order(
                "2",
                "Modified",
                MAILBOX,
                json!({
                    "EmailAddresses_add": ["smtp:extra.e2e@contoso.com"],
                    "EmailAddresses_remove": [removed],
                }),
                json!({"SamAccountName": sam}),
            ),
            order(
                "3",
                "Modified",
                MAILBOX,
                json!({"PrimarySmtpAddress": "boss.e2e@contoso.com"}),
                json!({"SamAccountName": sam, "PrimarySmtpAddress": old_primary}),
            ),
            order(
                "4",
                "Modified",
                MAILBOX,
                json!({"Database": {"Name": target_db}}),
                json!({"SamAccountName": mover, "Database": {"Name": mover_db}}),
            ),
        ],
    );
    let run = fulfill(&agent);
    for id in ["2", "3", "4"] {
        run.assert_executed(id);
    }
    assert!(run.result("4")["Message"].contains("New-MoveRequest"));
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "SamAccountName", &sam).expect("the modified mailbox is exported");
    assert_eq!(row["Command"], "Update");
    let got = addresses(row);
    assert_eq!(got[0], "SMTP:boss.e2e@contoso.com", "{got:?}");
    assert!(
        got.contains(&"smtp:extra.e2e@contoso.com".to_string()),
        "{got:?}"
    );
    assert!(got.contains(&format!("smtp:{old_primary}")), "{got:?}");
    assert!(
        !got.iter().any(|a| a.eq_ignore_ascii_case(&removed)),
        "{got:?}"
    );
    let moved = by(&rows, "SamAccountName", &mover).expect("the moved mailbox is exported");
    assert_eq!(moved["Command"], "Update");
    assert_eq!(moved["Database"], target_db);

    // Deleted: the new mailbox is disabled.
    write_orders(
        &orders,
        "03-disable.json",
        &[order(
            "5",
            "Deleted",
            MAILBOX,
            json!({}),
            json!({"SamAccountName": new_user}),
        )],
    );
    fulfill(&agent).assert_executed("5");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "Guid", &new_guid).expect("a Delete row for the disabled mailbox");
    assert_eq!(row["Command"], "Delete", "{:?}", changed(&rows));
}

#[test]
fn database_orders_show_as_insert_update_delete_in_the_next_export() {
    let (_sim, agent) = start("admin");
    agent.export().unwrap();
    let orders = orders_dir(&agent);

    write_orders(
        &orders,
        "01-create.json",
        &[order(
            "10",
            "Added",
            DATABASE,
            json!({"Name": "DB-E2E", "Server": "EXCH01"}),
            json!({}),
        )],
    );
    fulfill(&agent).assert_executed("10");
    export_after_changes(&agent);
    let rows = agent.databases().unwrap();
    let row = by(&rows, "Name", "DB-E2E").expect("the new database is exported");
    assert_eq!(row["Command"], "Insert");
    assert_eq!(row["Mounted"], "True");
    let guid = row["Guid"].clone();

    // A rename and a dismount.
    write_orders(
        &orders,
        "02-rename.json",
        &[order(
            "11",
            "Modified",
            DATABASE,
            json!({"Name": "DB-E2E-Renamed", "Mounted": false}),
            json!({"Name": "DB-E2E", "Guid": guid, "Mounted": true}),
        )],
    );
    let run = fulfill(&agent);
    let message = &run.assert_executed("11")["Message"];
    assert!(message.contains("Set-MailboxDatabase"), "{message}");
    assert!(message.contains("Dismount-Database"), "{message}");
    export_after_changes(&agent);
    let rows = agent.databases().unwrap();
    let row = by(&rows, "Guid", &guid).expect("the renamed database is exported");
    assert_eq!(row["Command"], "Update");
    assert_eq!(row["Name"], "DB-E2E-Renamed");
    assert_eq!(row["Mounted"], "False");

    // Mounted again.
    write_orders(
        &orders,
        "03-mount.json",
        &[order(
            "12",
            "Modified",
            DATABASE,
            json!({"Mounted": true}),
            json!({"Name": "DB-E2E-Renamed", "Guid": guid, "Mounted": false}),
        )],
    );
    fulfill(&agent).assert_executed("12");
    export_after_changes(&agent);
    let rows = agent.databases().unwrap();
    let row = by(&rows, "Guid", &guid).expect("the mounted database is exported");
    assert_eq!(row["Command"], "Update");
    assert_eq!(row["Mounted"], "True");

    write_orders(
        &orders,
        "04-remove.json",
        &[order(
            "13",
            "Deleted",
            DATABASE,
            json!({}),
            json!({"Name": "DB-E2E-Renamed", "Guid": guid}),
        )],
    );
    fulfill(&agent).assert_executed("13");
    export_after_changes(&agent);
    let rows = agent.databases().unwrap();
    let row = by(&rows, "Guid", &guid).expect("a Delete row for the removed database");
    assert_eq!(row["Command"], "Delete", "{:?}", changed(&rows));
}
