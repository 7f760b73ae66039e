//! Get-Mailbox, Get-MailboxDatabase, Select-Object, Measure-Object.

mod common;

use common::*;
use exchange_sim::exchange::cmdlets::get_mailbox_warnings;
use exchange_sim::exchange::opath::parse_date;
use idconn_psrp::clixml::Value;

#[test]
fn identity_resolves_every_way_exchange_does() {
    let org = org(60);
    let dir = org.snapshot();
    let user = dir
        .users
        .values()
        .find(|u| {
            u.mailbox
                .as_ref()
                .is_some_and(|m| m.email_addresses.len() >= 3 && u.name.is_ascii())
        })
        .unwrap();
    let mbx = user.mailbox.as_ref().unwrap();
    let secondary = mbx.email_addresses[1].clone();
    let secondary_bare = secondary.split_once(':').unwrap().1.to_string();
    for id in [
        user.guid.clone(),
        user.guid.to_uppercase(),
        mbx.alias.clone(),
        user.sam_account_name.to_uppercase(),
        user.user_principal_name.clone(),
        mbx.primary_smtp_address().to_string(),
        format!("SMTP:{}", mbx.primary_smtp_address()),
        secondary,
        secondary_bare,
        user.distinguished_name(),
        user.identity(),
        format!("CONTOSO\\{}", user.sam_account_name),
    ] {
        let o = mailbox(&org, &id);
        assert_eq!(prop(&o, "Guid"), &Value::Guid(user.guid.clone()), "{id}");
    }
    // Positional identity, as `Get-Mailbox jdoe` sends it.
    let out = run(&org, vec![positional(cmd("Get-Mailbox"), text(&user.guid))]).ok();
    assert_eq!(out.output.len(), 1);
}

#[test]
fn duplicate_names_return_every_match_and_unknown_is_an_error_record() {
    let org = org(400);
    let dir = org.snapshot();
    let mut seen = std::collections::HashMap::new();
    let duplicate = dir
        .users
        .values()
        .filter(|u| u.mailbox.is_some())
        .find(|u| seen.insert(u.name.clone(), u.id).is_some())
        .expect("a duplicate name")
        .name
        .clone();
    let out = run(
        &org,
        vec![cmd("Get-Mailbox").param("Identity", text(&duplicate))],
    )
    .ok();
    assert!(out.output.len() >= 2);

    let out = run(
        &org,
        vec![cmd("Get-Mailbox").param("Identity", text("nobody-here"))],
    );
    assert!(out.failed.is_none(), "not found is not terminating");
    let e = &out.errors[0];
    assert_eq!(
        e.message,
        "The operation couldn't be performed because object 'nobody-here' couldn't be found on 'dc01.contoso.com'."
    );
    assert_eq!(e.category, "ObjectNotFound");
    assert_eq!(
        e.exception_type,
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    );
    assert!(e
        .fully_qualified_error_id
        .starts_with("[Server=EXCH01,RequestId="));
    assert!(e
        .fully_qualified_error_id
        .contains("[FailureCategory=Cmdlet-ManagementObjectNotFoundException]"));
    assert!(e
        .fully_qualified_error_id
        .ends_with(",Microsoft.Exchange.Management.RecipientTasks.GetMailbox"));
}

#[test]
fn result_size_default_and_warnings() {
    let (default_warning, explicit_warning) = get_mailbox_warnings();
    let org = org(1003);
    let out = run(&org, vec![cmd("Get-Mailbox")]).ok();
    assert_eq!(out.output.len(), 1000);
    assert_eq!(out.warnings, vec![default_warning.to_string()]);
    assert!(default_warning.starts_with("By default, only the first 1000 items are returned."));

    let out = run(
        &org,
        vec![cmd("Get-Mailbox").param("ResultSize", Value::I32(5))],
    )
    .ok();
    assert_eq!(out.output.len(), 5);
    assert_eq!(out.warnings, vec![explicit_warning.to_string()]);

    let out = run(
        &org,
        vec![cmd("Get-Mailbox").param("ResultSize", text("Unlimited"))],
    )
    .ok();
    assert_eq!(out.output.len(), 1003);
    assert!(out.warnings.is_empty());

    let out = run(
        &org,
        vec![cmd("Get-Mailbox").param("ResultSize", text("lots"))],
    );
    assert!(out.failed.unwrap().message.contains("ResultSize"));

    let small = common::org(10);
    let out = run(&small, vec![cmd("Get-Mailbox")]).ok();
    assert_eq!(out.output.len(), 10);
    assert!(out.warnings.is_empty(), "no warning when everything fits");
}

fn names(out: &Outcome) -> Vec<String> {
    out.objects().iter().map(|o| prop_str(o, "Name")).collect()
}

fn unlimited() -> idconn_psrp::Command {
    cmd("Get-Mailbox").param("ResultSize", text("Unlimited"))
}

#[test]
fn opath_filters_select_the_right_mailboxes() {
    let org = org(300);
    let dir = org.snapshot();
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    let from = parse_date("2022-01-01T00:00:00Z", utc).unwrap();
    let to = parse_date("2024-06-01T00:00:00Z", utc).unwrap();
    let expected = dir
        .users
        .values()
        .filter(|u| u.mailbox.is_some() && u.when_changed >= from && u.when_changed < to)
        .count();
    assert!(expected > 0);
    for filter in [
        "WhenChangedUTC -ge '01/01/2022 00:00:00' -and WhenChangedUTC -lt '06/01/2024 00:00:00'",
        "WhenChangedUTC -ge \"2022-01-01T00:00:00Z\" -and -not (WhenChangedUTC -ge '2024-06-01 00:00:00')",
        "(WhenChangedUTC -ge '1/1/2022 12:00:00 AM') -and (WhenChangedUTC -lt '2024-06-01T01:00:00+01:00')",
    ] {
        let out = run(&org, vec![unlimited().param("Filter", text(filter))]).ok();
        assert_eq!(out.output.len(), expected, "{filter}");
    }
    let rooms = dir
        .users
        .values()
        .filter(|u| {
            u.mailbox
                .as_ref()
                .is_some_and(|m| m.kind == exchange_sim::exchange::model::MailboxKind::Room)
        })
        .count();
    let out = run(
        &org,
        vec![unlimited().param("Filter", text("RecipientTypeDetails -eq 'RoomMailbox'"))],
    )
    .ok();
    assert_eq!(out.output.len(), rooms);
    let out = run(
        &org,
        vec![unlimited().param("Filter", text("Name -like 'adm*' -or Alias -eq 'nobody'"))],
    )
    .ok();
    assert_eq!(names(&out), vec!["Administrator"]);
    // `-Filter {...}` arrives as a script block.
    let out = run(
        &org,
        vec![unlimited().param(
            "Filter",
            Value::ScriptBlock("Name -eq 'Administrator'".to_string()),
        )],
    )
    .ok();
    assert_eq!(names(&out), vec!["Administrator"]);
    let in_db1 = dir
        .users
        .values()
        .filter(|u| {
            u.mailbox
                .as_ref()
                .is_some_and(|m| dir.databases[&m.database].name == "DB01")
        })
        .count();
    let out = run(
        &org,
        vec![unlimited().param("Filter", text("Database -eq 'DB01'"))],
    )
    .ok();
    assert_eq!(out.output.len(), in_db1);
    let out = run(&org, vec![unlimited().param("Database", text("db01"))]).ok();
    assert_eq!(out.output.len(), in_db1);
    let total = dir.users.values().filter(|u| u.mailbox.is_some()).count();
    for (filter, expected) in [
        ("EmailAddresses -eq 'administrator@contoso.com'", 1),
        ("EmailAddresses -eq 'SMTP:administrator@contoso.com'", 1),
        ("EmailAddresses -like 'smtp:admin*'", 1),
        ("Name -ne 'Administrator'", total - 1),
        ("-not (Name -like 'ADM*')", total - 1),
        ("Name -notlike 'adm*' -and Name -eq 'Administrator'", 0),
        ("Database -ne 'DB01'", total - in_db1),
        ("Alias -eq $null", 0),
    ] {
        let out = run(&org, vec![unlimited().param("Filter", text(filter))]).ok();
        assert_eq!(out.output.len(), expected, "{filter}");
    }
    let out = run(&org, vec![unlimited().param("Filter", text("Name -eq"))]);
    let failed = out.failed.expect("a bad filter fails the pipeline");
    assert!(failed
        .message
        .starts_with("Cannot bind parameter 'Filter' to the target."));
    assert_eq!(failed.category, "InvalidArgument");
}

#[test]
fn sort_by_and_organizational_unit() {
    let org = org(120);
    let out = run(&org, vec![unlimited().param("SortBy", text("Name"))]).ok();
    let got = names(&out);
    let mut sorted = got.clone();
    sorted.sort_by(|a, b| exchange_sim::exchange::text::cmp_ci(a, b));
    assert_eq!(got, sorted);
    assert_eq!(got.len(), 120);

    let out = run(
        &org,
        vec![unlimited().param("OrganizationalUnit", text("contoso.com/Staff"))],
    )
    .ok();
    assert!(!out.output.is_empty());
    for o in out.objects() {
        assert!(prop_str(o, "OrganizationalUnit").starts_with("contoso.com/Staff/"));
    }
    let out = run(&org, vec![unlimited().param("SortBy", text("Shoe"))]);
    assert!(out.failed.is_some());
}

#[test]
fn get_mailbox_database_status() {
    let org = org(10);
    let out = run(&org, vec![cmd("Get-MailboxDatabase")]).ok();
    assert_eq!(out.output.len(), 3);
    for o in out.objects() {
        assert!(prop(o, "Mounted").is_nil());
        assert_eq!(
            o.type_names[0],
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase"
        );
    }
    let out = run(
        &org,
        vec![cmd("Get-MailboxDatabase")
            .param("Identity", text("DB02"))
            .switch("Status")],
    )
    .ok();
    assert_eq!(out.output.len(), 1);
    assert_eq!(prop(out.objects()[0], "Mounted"), &Value::Bool(true));
    assert_eq!(prop_str(out.objects()[0], "Name"), "DB02");
}

#[test]
fn select_object_shapes_and_measure_object_counts() {
    let org = org(30);
    let out = run(
        &org,
        vec![
            unlimited(),
            cmd("Select-Object")
                .param(
                    "Property",
                    list(&["Name", "Database", "NoSuchThing", "EmailAddresses"]),
                )
                .param("First", Value::I32(4)),
        ],
    )
    .ok();
    assert_eq!(out.output.len(), 4);
    let o = out.objects()[0];
    assert_eq!(
        o.type_names.to_vec(),
        vec![
            "Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox",
            "System.Management.Automation.PSCustomObject",
            "System.Object"
        ]
    );
    let props: Vec<&str> = o.extended.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(props, ["Name", "Database", "NoSuchThing", "EmailAddresses"]);
    assert!(prop(o, "NoSuchThing").is_nil());
    assert!(prop(o, "EmailAddresses").as_list().is_some());
    assert!(o.to_string.as_deref().unwrap().starts_with("@{Name="));

    let out = run(
        &org,
        vec![
            cmd("Get-MailboxDatabase"),
            positional(cmd("Select-Object"), list(&["Name", "Guid"])),
        ],
    )
    .ok();
    assert_eq!(
        out.objects()[0].type_names[0],
        "Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase"
    );

    let out = run(&org, vec![unlimited(), cmd("Measure-Object")]).ok();
    let m = out.objects()[0];
    assert_eq!(
        m.type_names[0],
        "Microsoft.PowerShell.Commands.GenericMeasureInfo"
    );
    assert_eq!(prop(m, "Count"), &Value::I32(30));
}

#[test]
fn large_directories_stream() {
    let org = org(20_000);
    let mut run = org.invoke_with(
        "admin",
        vec![
            unlimited(),
            cmd("Select-Object").param("Property", list(&["Name", "Guid"])),
        ],
        exchange_sim::exchange::SerializationLevel::Default,
    );
    let mut count = 0;
    while let Some(ev) = run.next_event() {
        assert!(matches!(
            ev,
            exchange_sim::backend::PipelineEvent::Output(_)
        ));
        count += 1;
    }
    assert_eq!(count, 20_000);
}
