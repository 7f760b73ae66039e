//! Enable/Disable/Set-Mailbox, New-MoveRequest and the database cmdlets.

mod common;

use common::*;
use idconn_psrp::clixml::Value;

fn addresses(o: &idconn_psrp::clixml::PsObject) -> Vec<String> {
    prop(o, "EmailAddresses")
        .as_list()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn user_without_mailbox(org: &exchange_sim::exchange::Organization) -> String {
    org.snapshot()
        .users
        .values()
        .find(|u| u.mailbox.is_none())
        .expect("a user without mailbox")
        .sam_account_name
        .clone()
}

#[test]
fn enable_then_disable_then_enable_again() {
    let org = org(20);
    let sam = user_without_mailbox(&org);
    let out = run(
        &org,
        vec![cmd("Enable-Mailbox")
            .param("Identity", text(&sam))
            .param("Database", text("DB02"))
            .param("Alias", text("newalias"))],
    )
    .ok();
    let o = out.objects()[0];
    assert_eq!(prop_str(o, "Database"), "DB02");
    assert_eq!(prop_str(o, "Alias"), "newalias");
    assert_eq!(addresses(o), vec!["SMTP:newalias@contoso.com"]);
    assert_eq!(prop(o, "EmailAddressPolicyEnabled"), &Value::Bool(true));
    assert_eq!(mailbox(&org, &sam).adapted.len(), o.adapted.len());

    let again = run(
        &org,
        vec![cmd("Enable-Mailbox").param("Identity", text(&sam))],
    );
    assert!(again.errors[0]
        .message
        .contains("is already mailbox-enabled"));

    run(
        &org,
        vec![cmd("Disable-Mailbox")
            .param("Identity", text(&sam))
            .param("Confirm", Value::Bool(false))],
    )
    .ok();
    let gone = run(&org, vec![cmd("Get-Mailbox").param("Identity", text(&sam))]);
    assert_eq!(gone.errors.len(), 1);
    assert!(org
        .snapshot()
        .users
        .values()
        .any(|u| u.sam_account_name == sam && u.mailbox.is_none()));

    let out = run(
        &org,
        vec![cmd("Enable-Mailbox")
            .param("-Identity", text(&sam))
            .param("-PrimarySmtpAddress", text("chosen@contoso.com"))],
    )
    .ok();
    let o = out.objects()[0];
    assert_eq!(prop_str(o, "PrimarySmtpAddress"), "chosen@contoso.com");
    assert_eq!(prop(o, "EmailAddressPolicyEnabled"), &Value::Bool(false));
}

#[test]
fn set_mailbox_hashtable_list_and_primary() {
    let org = org(20);
    let before = mailbox(&org, "Administrator");
    let changed_before = prop(&before, "WhenChangedUTC").clone();
    let out = run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param(
                "EmailAddresses",
                hashtable(vec![
                    (
                        "add",
                        list(&["extra1@contoso.com", "X500:/o=Old Org/cn=admin"]),
                    ),
                    ("Remove", text("nothing-to-remove@contoso.com")),
                ]),
            )],
    )
    .ok();
    assert!(out.output.is_empty());
    let after = mailbox(&org, "Administrator");
    let list_after = addresses(&after);
    assert!(list_after.contains(&"smtp:extra1@contoso.com".to_string()));
    assert!(list_after.contains(&"X500:/o=Old Org/cn=admin".to_string()));
    assert!(list_after[0].starts_with("SMTP:"));
    assert_ne!(prop(&after, "WhenChangedUTC"), &changed_before);

    run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param(
                "EmailAddresses",
                hashtable(vec![("Remove", text("smtp:extra1@contoso.com"))]),
            )],
    )
    .ok();
    assert!(!addresses(&mailbox(&org, "Administrator"))
        .contains(&"smtp:extra1@contoso.com".to_string()));

    // Nothing to change: Exchange's warning, WhenChanged kept.
    let stamp = prop(&mailbox(&org, "Administrator"), "WhenChangedUTC").clone();
    let out = run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param(
                "EmailAddresses",
                hashtable(vec![("Add", text("X500:/o=Old Org/cn=admin"))]),
            )],
    )
    .ok();
    assert!(out.warnings[0].contains("no settings of"));
    assert_eq!(
        prop(&mailbox(&org, "Administrator"), "WhenChangedUTC"),
        &stamp
    );

    // PrimarySmtpAddress under an email address policy: warning, no change.
    let out = run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param("PrimarySmtpAddress", text("boss@contoso.com"))],
    )
    .ok();
    assert!(out.warnings[0].starts_with("Couldn't update the primary SMTP address"));
    assert_eq!(
        prop_str(&mailbox(&org, "Administrator"), "PrimarySmtpAddress"),
        "administrator@contoso.com"
    );

    run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param("PrimarySmtpAddress", text("boss@contoso.com"))
            .param("EmailAddressPolicyEnabled", Value::Bool(false))],
    )
    .ok();
    let o = mailbox(&org, "Administrator");
    assert_eq!(prop_str(&o, "PrimarySmtpAddress"), "boss@contoso.com");
    let list_now = addresses(&o);
    assert_eq!(list_now[0], "SMTP:boss@contoso.com");
    assert!(list_now.contains(&"smtp:administrator@contoso.com".to_string()));

    // A list replaces; the first smtp address becomes primary.
    run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param(
                "EmailAddresses",
                list(&["one@contoso.com", "smtp:two@contoso.com"]),
            )],
    )
    .ok();
    assert_eq!(
        addresses(&mailbox(&org, "Administrator")),
        vec!["SMTP:one@contoso.com", "smtp:two@contoso.com"]
    );
}

#[test]
fn set_mailbox_refusals() {
    let org = org(30);
    let both = run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param("EmailAddresses", list(&["a@contoso.com"]))
            .param("PrimarySmtpAddress", text("a@contoso.com"))],
    );
    assert!(both.errors[0].message.contains("can't be used together"));

    let dir = org.snapshot();
    let other = dir
        .users
        .values()
        .find(|u| u.mailbox.is_some() && u.name != "Administrator")
        .unwrap();
    let taken = other
        .mailbox
        .as_ref()
        .unwrap()
        .primary_smtp_address()
        .to_string();
    let dup = run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param("EmailAddresses", hashtable(vec![("Add", text(&taken))]))],
    );
    assert_eq!(
        dup.errors[0].message,
        format!(
            "The proxy address \"smtp:{taken}\" is already being used by the proxy addresses or LegacyExchangeDN of \"{}\". Please choose another proxy address.",
            other.identity()
        )
    );
    assert!(!addresses(&mailbox(&org, "Administrator"))
        .iter()
        .any(|a| a.ends_with(&taken)));

    let missing = run(
        &org,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("ghost"))
            .param("EmailAddressPolicyEnabled", Value::Bool(false))],
    );
    assert_eq!(missing.errors[0].category, "ObjectNotFound");
}

#[test]
fn pipelines_feed_write_cmdlets() {
    let org = org(40);
    let filter = "RecipientTypeDetails -eq 'SharedMailbox'";
    let shared = run(
        &org,
        vec![cmd("Get-Mailbox")
            .param("ResultSize", text("Unlimited"))
            .param("Filter", text(filter))],
    )
    .ok()
    .output
    .len();
    assert!(shared > 0);
    run(
        &org,
        vec![
            cmd("Get-Mailbox")
                .param("ResultSize", text("Unlimited"))
                .param("Filter", text(filter)),
            cmd("Set-Mailbox").param("EmailAddressPolicyEnabled", Value::Bool(false)),
        ],
    )
    .ok();
    let out = run(
        &org,
        vec![cmd("Get-Mailbox")
            .param("ResultSize", text("Unlimited"))
            .param("Filter", text(filter))],
    )
    .ok();
    for o in out.objects() {
        assert_eq!(prop(o, "EmailAddressPolicyEnabled"), &Value::Bool(false));
    }
    run(
        &org,
        vec![
            cmd("Get-Mailbox")
                .param("ResultSize", text("Unlimited"))
                .param("Filter", text(filter)),
            cmd("Disable-Mailbox").param("Confirm", Value::Bool(false)),
        ],
    )
    .ok();
    let out = run(
        &org,
        vec![cmd("Get-Mailbox")
            .param("ResultSize", text("Unlimited"))
            .param("Filter", text(filter))],
    )
    .ok();
    assert!(out.output.is_empty());
}

fn org_with_moves(seconds: u64) -> exchange_sim::exchange::Organization {
    let mut options = options();
    options.faults.move_seconds = Some(seconds);
    exchange_sim::exchange::Organization::open(
        exchange_sim::exchange::seed::SeedSpec {
            mailboxes: 10,
            databases: 3,
            seed: 7,
        },
        options,
    )
    .expect("a seeded organization opens")
}

fn new_move(org: &exchange_sim::exchange::Organization, target: &str) -> Outcome {
    run(
        org,
        vec![cmd("New-MoveRequest")
            .param("Identity", text("Administrator"))
            .param("TargetDatabase", text(target))],
    )
}

#[test]
fn a_move_request_is_queued_and_changes_the_database_only_when_it_completes() {
    // A move that takes a day stays queued for the whole test.
    let org = org_with_moves(86_400);
    let db = prop_str(&mailbox(&org, "Administrator"), "Database");
    let target = if db == "DB01" { "DB02" } else { "DB01" };
    let out = new_move(&org, target).ok();
    let request = out.objects()[0];
    assert_eq!(prop_str(request, "TargetDatabase"), target);
    assert_eq!(prop_str(request, "SourceDatabase"), db);
    assert_eq!(prop_str(request, "Status"), "Queued");
    assert_eq!(prop_str(&mailbox(&org, "Administrator"), "Database"), db);
    let listed = run(
        &org,
        vec![cmd("Get-MoveRequest").param("Identity", text("Administrator"))],
    )
    .ok();
    assert_eq!(prop_str(listed.objects()[0], "Status"), "Queued");
    // A second request for the same mailbox is refused while one exists.
    let again = new_move(&org, target);
    assert!(
        again.errors[0]
            .message
            .contains("already has a move request"),
        "{:?}",
        again.errors
    );
    // Removing the request cancels the move; then a new one is accepted.
    run(
        &org,
        vec![cmd("Remove-MoveRequest")
            .param("Identity", text("Administrator"))
            .param("Confirm", Value::Bool(false))],
    )
    .ok();
    let gone = run(
        &org,
        vec![cmd("Get-MoveRequest").param("Identity", text("Administrator"))],
    );
    assert!(gone.errors[0].message.contains("couldn't be found"));
    assert_eq!(prop_str(&mailbox(&org, "Administrator"), "Database"), db);
    new_move(&org, target).ok();
}

#[test]
fn a_completed_move_is_kept_and_blocks_a_new_one_until_removed() {
    let org = org_with_moves(0);
    let db = prop_str(&mailbox(&org, "Administrator"), "Database");
    let target = if db == "DB01" { "DB02" } else { "DB01" };
    new_move(&org, target).ok();
    // Due immediately: the next pipeline sees it completed.
    assert_eq!(
        prop_str(&mailbox(&org, "Administrator"), "Database"),
        target
    );
    let stats = run(
        &org,
        vec![cmd("Get-MoveRequestStatistics").param("Identity", text("Administrator"))],
    )
    .ok();
    assert_eq!(prop_str(stats.objects()[0], "Status"), "Completed");
    let same = new_move(&org, target);
    assert!(same.errors[0]
        .message
        .contains("already has a move request"));
    run(
        &org,
        vec![cmd("Remove-MoveRequest").param("Identity", text("Administrator"))],
    )
    .ok();
    let same = new_move(&org, target);
    assert!(same.errors[0]
        .message
        .contains("already in the target database"));
    new_move(&org, &db).ok();
}

#[test]
fn a_move_to_a_dismounted_database_fails_with_a_message() {
    let org = org_with_moves(0);
    let db = prop_str(&mailbox(&org, "Administrator"), "Database");
    let target = if db == "DB01" { "DB02" } else { "DB01" };
    run(
        &org,
        vec![cmd("Dismount-Database").param("Identity", text(target))],
    )
    .ok();
    new_move(&org, target).ok();
    let stats = run(
        &org,
        vec![cmd("Get-MoveRequestStatistics").param("Identity", text("Administrator"))],
    )
    .ok();
    let o = stats.objects()[0];
    assert_eq!(prop_str(o, "Status"), "Failed");
    assert!(prop_str(o, "Message").contains("MapiExceptionMdbOffline"));
    assert_eq!(prop_str(&mailbox(&org, "Administrator"), "Database"), db);
}

fn mounted(org: &exchange_sim::exchange::Organization, name: &str) -> Value {
    let out = run(
        org,
        vec![cmd("Get-MailboxDatabase")
            .param("Identity", text(name))
            .switch("Status")],
    )
    .ok();
    prop(out.objects()[0], "Mounted").clone()
}

#[test]
fn database_lifecycle() {
    let org = org(10);
    let out = run(
        &org,
        vec![cmd("New-MailboxDatabase")
            .param("Name", text("DB-NEW"))
            .param("Server", text("exch01"))
            .param("EdbFilePath", text("D:\\DB-NEW\\DB-NEW.edb"))],
    )
    .ok();
    assert_eq!(
        prop_str(out.objects()[0], "EdbFilePath"),
        "D:\\DB-NEW\\DB-NEW.edb"
    );
    assert_eq!(mounted(&org, "DB-NEW"), Value::Bool(false));
    let dup = run(
        &org,
        vec![cmd("New-MailboxDatabase")
            .param("Name", text("db-new"))
            .param("Server", text("EXCH01"))],
    );
    assert!(dup.errors[0].message.contains("already exists"));
    let no_server = run(
        &org,
        vec![cmd("New-MailboxDatabase")
            .param("Name", text("X"))
            .param("Server", text("NOPE"))],
    );
    assert_eq!(no_server.errors[0].category, "ObjectNotFound");
    let missing = run(
        &org,
        vec![cmd("New-MailboxDatabase").param("Name", text("X"))],
    );
    assert!(missing
        .failed
        .unwrap()
        .message
        .contains("missing mandatory parameters: Server"));

    run(
        &org,
        vec![cmd("Mount-Database").param("Identity", text("DB-NEW"))],
    )
    .ok();
    assert_eq!(mounted(&org, "DB-NEW"), Value::Bool(true));
    run(
        &org,
        vec![cmd("Dismount-Database")
            .param("Identity", text("DB-NEW"))
            .param("Confirm", Value::Bool(false))],
    )
    .ok();
    assert_eq!(mounted(&org, "DB-NEW"), Value::Bool(false));
    run(
        &org,
        vec![cmd("Set-MailboxDatabase")
            .param("Identity", text("DB-NEW"))
            .param("Name", text("DB-RENAMED"))],
    )
    .ok();
    assert_eq!(mounted(&org, "DB-RENAMED"), Value::Bool(false));

    let in_use = run(
        &org,
        vec![cmd("Remove-MailboxDatabase")
            .param("Identity", text("DB01"))
            .param("Confirm", Value::Bool(false))],
    );
    let db01_has_mailboxes = org.snapshot().users.values().any(|u| {
        u.mailbox
            .as_ref()
            .is_some_and(|m| org.snapshot().databases[&m.database].name == "DB01")
    });
    assert!(db01_has_mailboxes);
    assert!(in_use.errors[0]
        .message
        .starts_with("This mailbox database contains one or more mailboxes"));
    let out = run(
        &org,
        vec![cmd("Remove-MailboxDatabase")
            .param("Identity", text("DB-RENAMED"))
            .param("Confirm", Value::Bool(false))],
    )
    .ok();
    assert_eq!(out.warnings.len(), 1);
    let gone = run(
        &org,
        vec![cmd("Get-MailboxDatabase").param("Identity", text("DB-RENAMED"))],
    );
    assert_eq!(gone.errors.len(), 1);
}

#[test]
fn set_mailbox_takes_every_setting_with_exchange_types() {
    let org = org(20);
    let set = |param: &str, value: Value| {
        run(
            &org,
            vec![cmd("Set-Mailbox")
                .param("Identity", text("Administrator"))
                .param(param, value)],
        )
    };
    set("ProhibitSendQuota", text("2GB")).ok();
    set("IssueWarningQuota", text("1.5 GB")).ok();
    set("MaxSendSize", text("35 MB")).ok();
    set("RecoverableItemsQuota", text("Unlimited")).ok();
    set("Alias", text("admin.renamed")).ok();
    set("DisplayName", text("The Administrator")).ok();
    set("ForwardingSmtpAddress", text("boss@example.org")).ok();
    set("UseDatabaseQuotaDefaults", Value::Bool(false)).ok();
    set("AntispamBypassEnabled", Value::Bool(true)).ok();
    let o = mailbox(&org, "Administrator");
    assert_eq!(
        prop_str(&o, "ProhibitSendQuota"),
        "2 GB (2,147,483,648 bytes)"
    );
    assert_eq!(
        prop_str(&o, "IssueWarningQuota"),
        "1.5 GB (1,610,612,736 bytes)"
    );
    assert_eq!(prop_str(&o, "MaxSendSize"), "35 MB (36,700,160 bytes)");
    assert_eq!(prop_str(&o, "RecoverableItemsQuota"), "Unlimited");
    assert_eq!(prop_str(&o, "Alias"), "admin.renamed");
    assert_eq!(prop_str(&o, "DisplayName"), "The Administrator");
    assert_eq!(
        prop_str(&o, "ForwardingSmtpAddress"),
        "smtp:boss@example.org"
    );
    assert_eq!(prop(&o, "UseDatabaseQuotaDefaults"), &Value::Bool(false));
    assert_eq!(prop(&o, "AntispamBypassEnabled"), &Value::Bool(true));

    // The display form Get-Mailbox writes is not taken back as input.
    let display = set("ProhibitSendQuota", text("2 GB (2,147,483,648 bytes)"));
    assert!(display.errors[0]
        .fully_qualified_error_id
        .starts_with("ParameterArgumentTransformationError"));
    let boolean = set("AntispamBypassEnabled", text("yes"));
    assert!(boolean.errors[0].message.contains("System.Boolean"));
    let alias = set("Alias", text("has space"));
    assert!(alias.errors[0].message.contains("isn't valid"));
    let unknown = set("NoSuchSetting", text("x"));
    assert!(unknown
        .failed
        .expect("a binding failure")
        .fully_qualified_error_id
        .starts_with("NamedParameterNotFound"));
    // The same value again changes nothing and says so.
    let same = set("ProhibitSendQuota", text("2147483648")).ok();
    assert!(
        same.warnings[0].contains("no settings of"),
        "{:?}",
        same.warnings
    );
}

/// Mounted is runtime state (`Get-MailboxDatabase -Status`), not an AD
/// attribute: mounting or dismounting leaves WhenChanged as it was.
#[test]
fn mount_and_dismount_leave_when_changed_alone() {
    let org = org(10);
    let when_changed = |org: &exchange_sim::exchange::Organization| {
        org.snapshot()
            .databases
            .values()
            .find(|d| d.name == "DB01")
            .map(|d| d.when_changed)
            .unwrap()
    };
    let before = when_changed(&org);
    assert_eq!(mounted(&org, "DB01"), Value::Bool(true));
    run(
        &org,
        vec![cmd("Dismount-Database")
            .param("Identity", text("DB01"))
            .param("Confirm", Value::Bool(false))],
    )
    .ok();
    assert_eq!(mounted(&org, "DB01"), Value::Bool(false));
    assert_eq!(when_changed(&org), before);
    run(
        &org,
        vec![cmd("Mount-Database").param("Identity", text("DB01"))],
    )
    .ok();
    assert_eq!(mounted(&org, "DB01"), Value::Bool(true));
    assert_eq!(when_changed(&org), before);
}
