//! Fulfill must never cause an outage: a refused database delete leaves the
//! database mounted, moves converge over Exchange's asynchronous move
//! requests, and Exchange's warnings reach the results. The real `idconn`
//! binary against `exchange-sim` over HTTP.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;

fn database_order(id: &str, change: &str, changes: Value, resource: Value) -> Value {
    order(id, change, DATABASE, changes, resource)
}

fn move_order(id: &str, sam: &str, from: &str, to: &str) -> Value {
    order(
        id,
        "Modified",
        MAILBOX,
        json!({"Database": {"Name": to}}),
        json!({"SamAccountName": sam, "Database": {"Name": from}}),
    )
}

/// A seeded user mailbox in `database`.
fn mailbox_in(database: &str) -> String {
    seeded_user_mailboxes()
        .into_iter()
        .find(|(_, _, db)| db == database)
        .map(|(sam, _, _)| sam)
        .unwrap_or_else(|| panic!("no seeded user mailbox in {database}"))
}

#[test]
fn deleting_a_database_that_holds_mailboxes_is_refused_and_leaves_it_mounted() {
    let (_sim, agent) = start("admin");
    agent.export().unwrap();
    let run = fulfill_orders(
        &agent,
        &[database_order(
            "1",
            "Deleted",
            json!({}),
            json!({"Name": "DB01"}),
        )],
    );
    let row = run.assert_errored("1", "contains one or more mailboxes");
    assert!(
        row["Message"].starts_with("Remove-MailboxDatabase failed:"),
        "{row:?}"
    );
    // A complete export, so the row is there whatever changed.
    agent
        .idconn("export", ["--ignore-cookies"])
        .map(|out| assert!(out.status.success(), "{}", describe(&out)))
        .unwrap();
    let databases = agent.databases().unwrap();
    let db = by(&databases, "Name", "DB01").expect("DB01 is still exported");
    assert_eq!(db["Mounted"], "True", "the refused delete dismounted it");
}

#[test]
fn a_removed_database_reports_exchanges_warning() {
    let (_sim, agent) = start("admin");
    fulfill_orders(
        &agent,
        &[database_order(
            "1",
            "Added",
            json!({"Name": "DB-W", "Server": "EXCH01"}),
            json!({}),
        )],
    )
    .assert_executed("1");
    let run = fulfill_orders(
        &agent,
        &[database_order(
            "2",
            "Deleted",
            json!({}),
            json!({"Name": "DB-W"}),
        )],
    );
    let message = &run.assert_executed("2")["Message"];
    assert!(
        message.starts_with("ran Remove-MailboxDatabase; Exchange warned: Remove-MailboxDatabase: The specified database has been removed. You must remove the database file located in"),
        "{message}"
    );
    assert!(!message.contains("Dismount"), "{message}");
}

#[test]
fn a_move_is_executed_when_queued_again_right_away_and_after_completion() {
    let (_sim, agent) = start_with("admin", &["--move-seconds", "3"]);
    agent.export().unwrap();
    let sam = mailbox_in("DB01");
    let to_db02 = [move_order("1", &sam, "DB01", "DB02")];

    let first = fulfill_orders(&agent, &to_db02);
    let message = &first.assert_executed("1")["Message"];
    assert!(
        message.starts_with("ran New-MoveRequest; the move to `DB02` is queued"),
        "{message}"
    );
    // The same order right away: the move is still queued or running (or,
    // on a machine slow enough to take 3 s for one run, already done).
    let again = fulfill_orders(&agent, &to_db02);
    let message = &again.assert_executed("1")["Message"];
    assert!(
        message.starts_with("a move to `DB02` is already Queued")
            || message.starts_with("a move to `DB02` is already InProgress")
            || message == "nothing to change",
        "{message}"
    );
    // Only when the move completes does the mailbox change database.
    let row = export_until(
        &agent,
        Duration::from_secs(30),
        "the move to DB02",
        |rows| {
            by(rows, "SamAccountName", &sam)
                .filter(|r| r["Database"] == "DB02")
                .cloned()
        },
    );
    assert_eq!(row["Command"], "Update");

    // Once there, the same order needs no request.
    let done = fulfill_orders(&agent, &to_db02);
    assert_eq!(done.assert_executed("1")["Message"], "nothing to change");

    // A week later the mailbox moves back: the completed request, which
    // Exchange keeps, is removed first.
    let back = fulfill_orders(&agent, &[move_order("2", &sam, "DB02", "DB01")]);
    let message = &back.assert_executed("2")["Message"];
    assert!(
        message.starts_with("ran Remove-MoveRequest, New-MoveRequest; removed the completed earlier move request to `DB02`; the move to `DB01` is queued"),
        "{message}"
    );
    export_until(
        &agent,
        Duration::from_secs(30),
        "the move back to DB01",
        |rows| {
            by(rows, "SamAccountName", &sam)
                .filter(|r| r["Database"] == "DB01")
                .cloned()
        },
    );
}

#[test]
fn a_failed_move_is_reported_on_the_next_run_with_exchanges_message() {
    let (_sim, agent) = start_with("admin", &["--move-seconds", "2"]);
    let sam = mailbox_in("DB01");
    let to_db02 = [move_order("1", &sam, "DB01", "DB02")];
    fulfill_orders(&agent, &to_db02).assert_executed("1");
    // The target goes offline before the move completes: the move fails.
    fulfill_orders(
        &agent,
        &[database_order(
            "2",
            "Modified",
            json!({"Mounted": false}),
            json!({"Name": "DB02", "Mounted": true}),
        )],
    )
    .assert_executed("2");
    let failed = fulfill_until(
        &agent,
        &to_db02,
        Duration::from_secs(30),
        "Errored",
        |run| run.result("1")["ProvisioningState"] == "Errored",
    );
    let message = &failed.result("1")["Message"];
    assert!(
        message.starts_with("the move to `DB02` failed: Error: MapiExceptionMdbOffline"),
        "{message}"
    );
    assert!(message.contains("its request was removed"), "{message}");
    // With the database back, running the order again requests a new move.
    fulfill_orders(
        &agent,
        &[database_order(
            "3",
            "Modified",
            json!({"Mounted": true}),
            json!({"Name": "DB02", "Mounted": false}),
        )],
    )
    .assert_executed("3");
    let retried = fulfill_orders(&agent, &to_db02);
    assert!(
        retried.assert_executed("1")["Message"].starts_with("ran New-MoveRequest;"),
        "{:?}",
        retried.results
    );
}
