//! `idconn fulfill` against the Exchange simulator over HTTP: batches with
//! failures, convergence, refusals, whole-job failures, settings.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;

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
    let (sim, agent) = start("admin");
    // Windows meet exactly, so the last export below shows only what the
    // second run changed (with the default overlap it would repeat the
    // first run's changes as Update rows, which is harmless but not what
    // this test looks at).
    let mut connection = sim.connection("admin", "admin");
    connection["IncrementalOverlapSeconds"] = json!(0);
    agent.write_connection(connection).unwrap();
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
        "AuthType": "HttpBasic",
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
        "AuthType": "HttpBasic",
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
        // The component declares the kinds (0.2.0: its bindings'), so the
        // check happens when it loads, and names what it declares.
        stderr.contains("Connections.Exchange.EntityTypes.Contoso_MailUser is 'contact'")
            && stderr.contains("it declares: mailbox, database"),
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
        // The move of the examples completes before the next export.
        "--move-seconds",
        "0",
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
