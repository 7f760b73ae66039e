//! `idconn fulfill` against the Exchange simulator over HTTP, each change
//! verified by the next `idconn export`.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use idconn_e2e::{
    describe, next_second, read_csv, seeded_directory, users_without_mailbox, Agent, Row, SeedSpec,
    Simulator,
};
use serde_json::{json, Value};

const MAILBOX: &str = "MicrosoftExchange_Mailbox";
const DATABASE: &str = "MicrosoftExchange_Database";

fn spec() -> SeedSpec {
    SeedSpec {
        mailboxes: 20,
        databases: 2,
        seed: 11,
    }
}

/// A simulator seeded with [`spec`] and an agent on it as `login`.
fn start(login: &str) -> (Simulator, Agent) {
    let s = spec();
    let sim = Simulator::start([
        "--mailboxes".to_string(),
        s.mailboxes.to_string(),
        "--databases".to_string(),
        s.databases.to_string(),
        "--seed".to_string(),
        s.seed.to_string(),
        "--auth".to_string(),
        "basic".to_string(),
    ])
    .unwrap();
    let agent = Agent::new(sim.connection(login, login)).unwrap();
    (sim, agent)
}

/// An order in Usercube's shape.
fn order(id: &str, change: &str, entity: &str, changes: Value, resource: Value) -> Value {
    json!({
        "AssignedResourceTypeId": id,
        "ChangeType": change,
        "WorkflowInstanceId": "81",
        "Owner": {"Id": format!("9{id}"), "InternalDisplayName": "Test Owner"},
        "ResourceType": {
            "Id": "-41",
            "SourceEntityType": {"Id": "51", "Identifier": "Directory_User"},
            "TargetEntityType": {"Id": "70", "Identifier": entity},
            "Identifier": format!("{entity}_NominativeUser"),
        },
        "Changes": changes,
        "Resource": resource,
    })
}

fn write_orders(dir: &Path, name: &str, orders: &[Value]) {
    fs::create_dir_all(dir).unwrap();
    let body = json!({ "ProvisioningOrdersList": orders });
    fs::write(dir.join(name), serde_json::to_vec_pretty(&body).unwrap()).unwrap();
}

struct Fulfilled {
    out: Output,
    results: Vec<Row>,
}

impl Fulfilled {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn result(&self, id: &str) -> &Row {
        self.results
            .iter()
            .find(|r| r["AssignmentId"] == id)
            .unwrap_or_else(|| panic!("no result for order {id}: {:?}", self.results))
    }

    fn assert_executed(&self, id: &str) -> &Row {
        let row = self.result(id);
        assert_eq!(row["ProvisioningState"], "Executed", "order {id}: {row:?}");
        row
    }

    fn assert_errored(&self, id: &str, message: &str) -> &Row {
        let row = self.result(id);
        assert_eq!(row["ProvisioningState"], "Errored", "order {id}: {row:?}");
        assert!(
            row["Message"].contains(message),
            "order {id}: expected {message:?} in {:?}",
            row["Message"]
        );
        row
    }
}

fn orders_dir(agent: &Agent) -> PathBuf {
    agent.path().join("Orders")
}

fn results_file(agent: &Agent) -> PathBuf {
    agent.path().join("Results").join("results.csv")
}

/// `idconn fulfill` on the agent's orders folder; must exit 0.
fn fulfill(agent: &Agent) -> Fulfilled {
    let out = run_fulfill(agent);
    assert!(out.status.success(), "{}", describe(&out));
    let results = read_csv(&results_file(agent)).unwrap();
    Fulfilled { out, results }
}

fn run_fulfill(agent: &Agent) -> Output {
    let orders = orders_dir(agent);
    let results = results_file(agent);
    agent
        .idconn(
            "fulfill",
            [
                "--orders".as_ref(),
                orders.as_os_str(),
                "--results".as_ref(),
                results.as_os_str(),
            ],
        )
        .unwrap()
}

/// Waits for the next second (see [`next_second`]) and exports.
fn export_after_changes(agent: &Agent) {
    next_second();
    agent.export().unwrap();
}

fn by<'a>(rows: &'a [Row], column: &str, value: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r[column].eq_ignore_ascii_case(value))
}

fn changed(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["Command"],
                r["Guid"],
                r.get("Name").map_or("", |n| n)
            )
        })
        .collect()
}

fn addresses(row: &Row) -> Vec<String> {
    row["EmailAddresses"]
        .split(' ')
        .map(|a| a.replace("%20", " ").replace("%25", "%"))
        .collect()
}

/// Names of the seeded user mailboxes (not rooms, shared...) with a
/// secondary `smtp:` address, and their database names.
fn seeded_user_mailboxes() -> Vec<(String, Vec<String>, String)> {
    let dir = seeded_directory(spec());
    dir.users
        .values()
        .filter_map(|u| {
            let m = u.mailbox.as_ref()?;
            let db = dir.databases.get(&m.database)?.name.clone();
            let has_secondary = m.email_addresses.iter().any(|a| a.starts_with("smtp:"));
            (u.sam_account_name != "Administrator"
                && has_secondary
                && m.kind == exchange_sim::exchange::model::MailboxKind::User)
                .then(|| (u.sam_account_name.clone(), m.email_addresses.clone(), db))
        })
        .collect()
}

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
    let removed = sam_addresses
        .iter()
        .find(|a| a.starts_with("smtp:"))
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

#[test]
fn one_bad_order_or_file_does_not_stop_the_others() {
    let (_sim, agent) = start("admin");
    let mut connection = _sim.connection("admin", "admin");
    connection["EntityTypes"] = json!({"Contoso_MailUser": "mailbox"});
    agent.write_connection(connection).unwrap();
    let without = users_without_mailbox(spec());
    let (sam, _, _) = seeded_user_mailboxes()[0].clone();
    let orders = orders_dir(&agent);

    write_orders(
        &orders,
        "01-mixed.json",
        &[
            order(
                "100",
                "Added",
                MAILBOX,
                json!({"SamAccountName": without[1]}),
                json!({}),
            ),
            order(
                "101",
                "Added",
                MAILBOX,
                json!({"SamAccountName": "nobody.here"}),
                json!({}),
            ),
            order(
                "102",
                "Renamed",
                MAILBOX,
                json!({"SamAccountName": without[2]}),
                json!({}),
            ),
            order(
                "103",
                "Added",
                "MicrosoftExchange_Contact",
                json!({"SamAccountName": without[2]}),
                json!({}),
            ),
            order(
                "104",
                "Added",
                MAILBOX,
                json!({"SamAccountName": without[2], "Database": {"Name": {"deep": 1}}}),
                json!({}),
            ),
            // Mapped to mailbox by the connection's EntityTypes.
            order(
                "105",
                "Added",
                "Contoso_MailUser",
                json!({"SamAccountName": without[3]}),
                json!({}),
            ),
        ],
    );
    fs::write(
        orders.join("02-broken.json"),
        "{\"ProvisioningOrdersList\": [",
    )
    .unwrap();
    fs::write(orders.join("03-wrong-shape.json"), "{\"Orders\": []}").unwrap();
    write_orders(
        &orders,
        "04-more.json",
        &[order(
            "106",
            "Deleted",
            MAILBOX,
            json!({}),
            json!({"SamAccountName": sam}),
        )],
    );
    fs::write(orders.join("readme.txt"), "not an order file").unwrap();

    let run = fulfill(&agent);
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "OrdersCount:7", "{stdout}");
    let progress: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("Progress:"))
        .copied()
        .collect();
    assert_eq!(progress.last(), Some(&"Progress:7"), "{stdout}");
    assert!(
        stdout.contains("7 orders, 3 executed, 4 errored"),
        "{stdout}"
    );

    let ids: Vec<&str> = run
        .results
        .iter()
        .map(|r| r["AssignmentId"].as_str())
        .collect();
    assert_eq!(ids, ["100", "101", "102", "103", "104", "105", "106"]);
    let first = run.assert_executed("100");
    assert_eq!(first["ChangeType"], "Added");
    assert_eq!(first["OwnerId"], "9100");
    assert_eq!(first["OwnerType"], "51");
    run.assert_errored("101", "couldn't be found");
    run.assert_errored("101", "nobody.here");
    let renamed = run.assert_errored("102", "unknown change type `Renamed`");
    assert_eq!(renamed["ChangeType"], "Renamed");
    run.assert_errored(
        "103",
        "unknown target entity type `MicrosoftExchange_Contact`",
    );
    run.assert_errored("104", "Changes.Database.Name");
    run.assert_executed("105");
    run.assert_executed("106");

    let completed = orders.join("Completed");
    assert!(completed.join("01-mixed.json").is_file());
    assert!(completed.join("04-more.json").is_file());
    for left in ["02-broken.json", "03-wrong-shape.json", "readme.txt"] {
        assert!(orders.join(left).is_file(), "{left} stays in place");
        assert!(!completed.join(left).exists());
    }
    let stderr = String::from_utf8_lossy(&run.out.stderr);
    assert!(
        stderr.contains("02-broken.json") && stderr.contains("not valid JSON"),
        "{stderr}"
    );
    assert!(stderr.contains("03-wrong-shape.json"), "{stderr}");

    // The malformed files are reported again, nothing else is processed.
    let again = fulfill(&agent);
    assert!(again.stdout().starts_with("OrdersCount:0\n"));
    assert!(again.results.is_empty());
    assert!(orders.join("02-broken.json").is_file());
}

#[test]
fn the_same_orders_twice_converge_and_report_executed() {
    let (_sim, agent) = start("admin");
    agent.export().unwrap();
    let without = users_without_mailbox(spec());
    let (sam, _, _) = seeded_user_mailboxes()[0].clone();
    let (deleted, _, _) = seeded_user_mailboxes()[1].clone();
    let batch = [
        order(
            "200",
            "Added",
            MAILBOX,
            json!({
                "SamAccountName": without[0],
                "Database": {"Name": "DB01"},
                "EmailAddresses": format!("SMTP:{0}@contoso.com smtp:{0}.second@contoso.com", without[0]),
            }),
            json!({}),
        ),
        order(
            "201",
            "Modified",
            MAILBOX,
            json!({"EmailAddresses_add": ["smtp:converge.e2e@contoso.com"]}),
            json!({"SamAccountName": sam}),
        ),
        order(
            "202",
            "Deleted",
            MAILBOX,
            json!({}),
            json!({"SamAccountName": deleted}),
        ),
        order(
            "203",
            "Added",
            DATABASE,
            json!({"Name": "DB-Converge", "Server": "EXCH01"}),
            json!({}),
        ),
    ];
    let orders = orders_dir(&agent);
    write_orders(&orders, "batch.json", &batch);
    let first = fulfill(&agent);
    for id in ["200", "201", "202", "203"] {
        first.assert_executed(id);
    }
    export_after_changes(&agent);
    let mailboxes = agent.mailboxes().unwrap();
    assert!(by(&mailboxes, "SamAccountName", &without[0]).is_some());

    // The agent hands the same orders again (e.g. after a lost results file).
    write_orders(&orders, "batch.json", &batch);
    let second = fulfill(&agent);
    for id in ["200", "201", "202", "203"] {
        second.assert_executed(id);
    }
    assert!(
        second.result("200")["Message"].contains("already exists"),
        "{:?}",
        second.results
    );
    assert!(second.result("202")["Message"].contains("already"));
    assert!(orders.join("Completed").join("batch-1.json").is_file());

    // Nothing changed on the server: the next incremental export is empty.
    export_after_changes(&agent);
    let mailboxes = agent.mailboxes().unwrap();
    let databases = agent.databases().unwrap();
    assert!(mailboxes.is_empty(), "{:?}", changed(&mailboxes));
    assert!(databases.is_empty(), "{:?}", changed(&databases));
}

#[test]
fn a_read_only_account_gets_the_servers_refusal_per_order() {
    let (_sim, agent) = start("reader");
    agent.export().unwrap();
    let without = users_without_mailbox(spec());
    let (sam, _, _) = seeded_user_mailboxes()[0].clone();
    let orders = orders_dir(&agent);
    write_orders(
        &orders,
        "writes.json",
        &[
            order(
                "300",
                "Added",
                MAILBOX,
                json!({"SamAccountName": without[0]}),
                json!({}),
            ),
            order(
                "301",
                "Modified",
                MAILBOX,
                json!({"EmailAddresses_add": ["smtp:reader.e2e@contoso.com"]}),
                json!({"SamAccountName": sam}),
            ),
            order(
                "302",
                "Added",
                DATABASE,
                json!({"Name": "DB-Reader", "Server": "EXCH01"}),
                json!({}),
            ),
        ],
    );
    let run = fulfill(&agent);
    run.assert_errored("300", "'Enable-Mailbox' is not recognized");
    run.assert_errored("301", "'Set-Mailbox' is not recognized");
    run.assert_errored("302", "'New-MailboxDatabase' is not recognized");
    // The orders were answered, so the file is complete.
    assert!(orders.join("Completed").join("writes.json").is_file());
    export_after_changes(&agent);
    assert!(agent.mailboxes().unwrap().is_empty());
    assert!(agent.databases().unwrap().is_empty());
}

/// A removal the account may not run must not pass for "already removed":
/// PowerShell files CommandNotFoundException under the category
/// ObjectNotFound, which the component currently reads as "no such
/// mailbox" (components/exchange/src/fulfill/mod.rs `is_not_found`).
#[test]
fn a_read_only_account_cannot_pass_a_removal_for_done() {
    let (_sim, agent) = start("reader");
    let (sam, _, _) = seeded_user_mailboxes()[0].clone();
    let orders = orders_dir(&agent);
    write_orders(
        &orders,
        "removals.json",
        &[
            order(
                "310",
                "Deleted",
                MAILBOX,
                json!({}),
                json!({"SamAccountName": sam}),
            ),
            order(
                "311",
                "Deleted",
                DATABASE,
                json!({}),
                json!({"Name": "DB01"}),
            ),
        ],
    );
    let run = fulfill(&agent);
    run.assert_errored("310", "'Disable-Mailbox' is not recognized");
    run.assert_errored("311", "is not recognized");
}

#[test]
fn a_job_that_fails_as_a_whole_moves_nothing_and_writes_no_results() {
    let (sim, agent) = start("admin");
    let without = users_without_mailbox(spec());
    let orders = orders_dir(&agent);
    write_orders(
        &orders,
        "orders.json",
        &[order(
            "400",
            "Added",
            MAILBOX,
            json!({"SamAccountName": without[0]}),
            json!({}),
        )],
    );

    // A component whose fulfiller fails the whole request (the hostile
    // fixture tries a write cmdlet its manifest does not declare).
    let mut hostile = sim.connection("admin", "admin");
    hostile["ComponentPath"] =
        json!(idconn_e2e::workspace_root()
            .join("components/target/wasm32-wasip2/release/hostile.wasm"));
    agent.write_connection(hostile).unwrap();
    let out = run_fulfill(&agent);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not granted"), "{stderr}");
    assert!(!stderr.contains("ESCAPED"), "{stderr}");
    assert!(stderr.contains("no order file was moved"), "{stderr}");
    assert!(orders.join("orders.json").is_file());
    assert!(!orders.join("Completed").exists());
    assert!(!results_file(&agent).exists());

    // Wrong credentials: no session, same guarantees.
    agent
        .write_connection(sim.connection("admin", "s3cret-Wrong-pw"))
        .unwrap();
    let out = run_fulfill(&agent);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no order file was moved"), "{stderr}");
    assert!(
        !stderr.contains("s3cret-Wrong-pw"),
        "the password leaked: {stderr}"
    );
    assert!(orders.join("orders.json").is_file());
    assert!(!results_file(&agent).exists());
}

#[test]
fn an_empty_orders_folder_needs_no_server() {
    // Nothing listens there: with no order, no session is opened.
    let agent = Agent::new(json!({
        "AuthType": "Basic",
        "Server": "http://localhost:9/PowerShell/",
        "Login": "admin",
        "Password": "admin",
        "AllowUnencrypted": true,
    }))
    .unwrap();
    fs::create_dir_all(orders_dir(&agent)).unwrap();
    let run = fulfill(&agent);
    assert!(
        run.stdout().starts_with("OrdersCount:0\n"),
        "{}",
        run.stdout()
    );
    assert!(run.results.is_empty());
    let header = fs::read_to_string(results_file(&agent)).unwrap();
    assert_eq!(
        header,
        "AssignmentId,ProvisioningState,Message,ChangeType,OwnerId,OwnerType\n"
    );
}

#[test]
fn entity_types_settings_are_validated() {
    let agent = Agent::new(json!({
        "AuthType": "Basic",
        "Server": "http://localhost:9/PowerShell/",
        "Login": "admin",
        "Password": "admin",
        "AllowUnencrypted": true,
        "EntityTypes": {"Contoso_MailUser": "contact"},
    }))
    .unwrap();
    fs::create_dir_all(orders_dir(&agent)).unwrap();
    let out = run_fulfill(&agent);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Connections.Exchange.EntityTypes.Contoso_MailUser")
            && stderr.contains("unknown entity 'contact'"),
        "{stderr}"
    );
}

/// `examples/orders` is written for the demo's directory (`exchange-sim
/// --mailboxes 1000 --databases 5 --seed 7`): every order must apply and
/// show in the next incremental export.
#[test]
fn the_example_orders_apply_to_the_demo_directory() {
    let sim = Simulator::start([
        "--mailboxes",
        "1000",
        "--databases",
        "5",
        "--seed",
        "7",
        "--auth",
        "basic",
    ])
    .unwrap();
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    let before = agent.mailboxes().unwrap();
    let leaver = by(&before, "SamAccountName", "ltanaka").unwrap()["Guid"].clone();
    let examples = idconn_e2e::workspace_root().join("examples/orders");
    let orders = orders_dir(&agent);
    fs::create_dir_all(&orders).unwrap();
    for entry in fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, orders.join(path.file_name().unwrap())).unwrap();
    }
    let run = fulfill(&agent);
    assert_eq!(run.results.len(), 6, "{:?}", run.results);
    for row in &run.results {
        assert_eq!(row["ProvisioningState"], "Executed", "{row:?}");
    }
    export_after_changes(&agent);
    let mailboxes = agent.mailboxes().unwrap();
    let command = |sam: &str| {
        by(&mailboxes, "SamAccountName", sam).map_or("-".to_string(), |r| r["Command"].clone())
    };
    assert_eq!(command("anovak3"), "Insert");
    assert_eq!(command("tchen2"), "Insert");
    assert_eq!(command("imuller"), "Update");
    assert_eq!(command("jnunez"), "Update");
    assert_eq!(
        by(&mailboxes, "Guid", &leaver).unwrap()["Command"],
        "Delete"
    );
    let databases = agent.databases().unwrap();
    assert_eq!(by(&databases, "Name", "DB06").unwrap()["Command"], "Insert");
}
