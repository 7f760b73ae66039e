use super::*;
use crate::exports::idconn::connector::fulfiller::Field;
use crate::idconn::connector::powershell::Argument;
use crate::idconn::connector::types::{Element, Scalar, Value};
use crate::testing::*;

const MAILBOX: &str = "MicrosoftExchange_Mailbox";
const DATABASE: &str = "MicrosoftExchange_Database";

fn t(s: &str) -> Field {
    Field::Text(s.to_owned())
}

fn order(
    id: &str,
    change_type: ChangeType,
    entity: &str,
    changes: Vec<(&str, Field)>,
    resource: Vec<(&str, Field)>,
) -> Order {
    let pairs =
        |fields: Vec<(&str, Field)>| fields.into_iter().map(|(n, f)| (n.to_owned(), f)).collect();
    Order {
        assignment_id: id.to_owned(),
        change_type,
        target_entity_type: entity.to_owned(),
        resource_type: format!("{entity}_NominativeUser"),
        owner_id: "21511".to_owned(),
        owner_type: "51".to_owned(),
        changes: pairs(changes),
        resource: pairs(resource),
    }
}

fn request(orders: Vec<Order>) -> FulfillRequest {
    FulfillRequest {
        connection: "ExchangeFulfill".to_owned(),
        orders,
        entity_types: Vec::new(),
    }
}

fn not_found(name: &str) -> Answer {
    Answer::Refused(Error::Remote(ErrorRecord {
        message: format!("The operation couldn't be performed because object '{name}' couldn't be found on 'dc01.contoso.com'."),
        fully_qualified_error_id: "[Server=EXCH01] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox".to_owned(),
        category: "NotSpecified".to_owned(),
        target: Some(name.to_owned()),
    }))
}

fn remote(message: &str, id: &str) -> Answer {
    Answer::Refused(Error::Remote(ErrorRecord {
        message: message.to_owned(),
        fully_qualified_error_id: id.to_owned(),
        category: "InvalidOperation".to_owned(),
        target: None,
    }))
}

fn done() -> Answer {
    Answer::nothing()
}

fn mailbox_state(addresses: &[&str], database: &str) -> Answer {
    Answer::objects(vec![object(vec![
        ("Guid", guid("00000000-0000-0000-0000-00000000000a")),
        ("SamAccountName", text("jbond")),
        ("Database", text(database)),
        (
            "PrimarySmtpAddress",
            text(
                addresses
                    .iter()
                    .find_map(|a| a.strip_prefix("SMTP:"))
                    .unwrap_or(""),
            ),
        ),
        ("EmailAddresses", texts(addresses)),
        ("Alias", text("jbond")),
        ("ForwardingSmtpAddress", nil()),
        ("DeliverToMailboxAndForward", boolean(false)),
    ])])
}

/// A one-command pipeline from `Name -P 'v' -B $false -S` (no spaces
/// inside values), so expectations read like PowerShell.
fn one_call(text: &str) -> Vec<Command> {
    let mut words = text.split(' ').peekable();
    let mut builder = crate::shell::command(words.next().unwrap());
    while let Some(word) = words.next() {
        let name = word.strip_prefix('-').unwrap();
        match words.peek() {
            Some(v) if !v.starts_with('-') => {
                let v = words.next().unwrap();
                builder = match v {
                    "$false" => builder.boolean(name, false),
                    "$true" => builder.boolean(name, true),
                    v => builder.text(name, v.trim_matches('\'')),
                };
            }
            _ => builder = builder.switch(name),
        }
    }
    vec![builder.build()]
}

fn run_orders(shell: &FakeShell, orders: Vec<Order>) -> Vec<OrderResult> {
    run(shell, &RecordingReporter::default(), &request(orders)).unwrap()
}

fn executed(result: &OrderResult) -> &str {
    assert_eq!(
        result.state,
        ProvisioningState::Executed,
        "{}",
        result.message
    );
    &result.message
}

fn errored(result: &OrderResult) -> &str {
    assert_eq!(
        result.state,
        ProvisioningState::Errored,
        "{}",
        result.message
    );
    &result.message
}

#[test]
fn an_added_mailbox_is_enabled_then_given_its_other_addresses() {
    let shell = FakeShell::new()
        .on(mailbox::state_pipeline("jbond"), not_found("jbond"))
        .on(
            one_call("Enable-Mailbox -Identity 'jbond' -Database 'DB01' -Alias 'jbond' -PrimarySmtpAddress 'james.bond@contoso.com'"),
            done(),
        )
        .on(mailbox::state_pipeline("jbond"), mailbox_state(&["SMTP:james.bond@contoso.com"], "DB01"))
        .on(
            vec![crate::shell::command("Set-Mailbox")
                .text("Identity", "jbond")
                .dictionary(
                    "EmailAddresses",
                    vec![(
                        "Add".to_owned(),
                        Element::List(vec![
                            Scalar::Text("smtp:007@contoso.com".to_owned()),
                            Scalar::Text("X500:/o=First Organization/cn=jbond".to_owned()),
                        ]),
                    )],
                )
                .build()],
            done(),
        );
    let added = order(
        "3930001",
        ChangeType::Added,
        MAILBOX,
        vec![
            ("SamAccountName", t("jbond")),
            ("Alias", t("jbond")),
            ("Database", Field::Reference(vec![("Name".to_owned(), "DB01".to_owned())])),
            (
                "EmailAddresses",
                t("SMTP:james.bond@contoso.com smtp:007@contoso.com X500:/o=First%20Organization/cn=jbond"),
            ),
        ],
        vec![],
    );

    let results = run_orders(&shell, vec![added]);

    assert_eq!(results[0].assignment_id, "3930001");
    assert_eq!(executed(&results[0]), "ran Enable-Mailbox, Set-Mailbox");
    assert_eq!(shell.calls.borrow().len(), 4, "{:#?}", shell.call_texts());
}

#[test]
fn an_added_mailbox_that_exists_with_the_requested_values_is_executed_without_writes() {
    let shell = FakeShell::new().on(
        mailbox::state_pipeline("jbond"),
        mailbox_state(
            &["SMTP:james.bond@contoso.com", "smtp:007@contoso.com"],
            "DB01",
        ),
    );
    let added = order(
        "1",
        ChangeType::Added,
        MAILBOX,
        vec![
            ("SamAccountName", t("jbond")),
            (
                "Database",
                Field::Reference(vec![("Name".to_owned(), "db01".to_owned())]),
            ),
            (
                "EmailAddresses",
                Field::List(vec![
                    "smtp:007@contoso.com".into(),
                    "SMTP:james.bond@contoso.com".into(),
                ]),
            ),
        ],
        vec![],
    );
    let results = run_orders(&shell, vec![added.clone(), added]);
    for result in &results {
        assert_eq!(
            executed(result),
            "the mailbox already exists with the requested values"
        );
    }
    assert_eq!(shell.calls.borrow().len(), 2);
}

#[test]
fn a_modified_mailbox_gets_the_minimal_calls_in_order() {
    let expected = [
        "Set-Mailbox -Identity 'jbond' -PrimarySmtpAddress 'new@contoso.com' -EmailAddressPolicyEnabled $false",
        "Set-Mailbox -Identity 'jbond' -EmailAddresses @{Add='smtp:extra@contoso.com'; Remove='smtp:old@contoso.com','x500:/o=Gone Org/cn=jbond'}",
        "Set-Mailbox -Identity 'jbond' -ForwardingSmtpAddress $null -DeliverToMailboxAndForward $true",
        "New-MoveRequest -Identity 'jbond' -TargetDatabase 'DB02'",
    ];
    let modified = order(
        "2",
        ChangeType::Modified,
        MAILBOX,
        vec![
            ("Database", t("DB02")),
            (
                "EmailAddresses",
                t("SMTP:new@contoso.com smtp:keep@contoso.com X500:/o=First%20Organization/cn=jbond smtp:extra@contoso.com"),
            ),
            ("ForwardingSmtpAddress", Field::Null),
            ("DeliverToMailboxAndForward", Field::Boolean(true)),
            ("Alias", t("jbond")),
            ("WhenChangedUTC", t("2026-11-27T08:00:00Z")),
        ],
        vec![
            ("SamAccountName", t("jbond")),
            ("Database", Field::Reference(vec![("Name".to_owned(), "DB01".to_owned())])),
            (
                "EmailAddresses",
                Field::List(vec![
                    "SMTP:old@contoso.com".into(),
                    "smtp:keep@contoso.com".into(),
                    "X500:/o=First Organization/cn=jbond".into(),
                    "x500:/o=Gone Org/cn=jbond".into(),
                ]),
            ),
            ("ForwardingSmtpAddress", t("fwd@elsewhere.com")),
            ("Alias", t("jbond")),
        ],
    );
    let planned = mailbox_plan_texts(&modified);
    assert_eq!(planned, expected);
    let shell = answer_all(FakeShell::new(), &modified);
    let results = run_orders(&shell, vec![modified]);
    assert_eq!(
        executed(&results[0]),
        "ran Set-Mailbox, Set-Mailbox, Set-Mailbox, New-MoveRequest; ignored fields this connector does not set: WhenChangedUTC"
    );
    assert_eq!(shell.call_texts(), expected);
    let calls = shell.calls.borrow();
    let Argument::Value(Value::Dictionary(entries)) = &calls[1][0].parameters[1].argument else {
        panic!("EmailAddresses is not a hashtable: {:?}", calls[1][0]);
    };
    assert_eq!(
        entries[1],
        (
            "Remove".to_owned(),
            Element::List(vec![
                Scalar::Text("smtp:old@contoso.com".into()),
                Scalar::Text("x500:/o=Gone Org/cn=jbond".into())
            ])
        )
    );
}

/// The calls a Modified order makes, found by running it on a shell that
/// accepts anything.
fn mailbox_plan_texts(order: &Order) -> Vec<String> {
    let shell = AcceptAll::default();
    let calls = Calls { shell: &shell };
    let _ = mailbox::fulfill(&calls, Change::Modified, order);
    shell.0.call_texts()
}

/// Answers every pipeline with nothing, recording it.
#[derive(Default)]
struct AcceptAll(FakeShell);

impl crate::shell::Shell for AcceptAll {
    type Output = crate::testing::FakeOutput;
    fn invoke(&self, pipeline: &[Command]) -> Result<Self::Output, Error> {
        self.0.calls.borrow_mut().push(pipeline.to_vec());
        let scripted = FakeShell::new().on(pipeline.to_vec(), done());
        scripted.invoke(pipeline)
    }
}

/// Scripts `done()` for exactly the calls the order makes (checked against
/// literal expectations by the caller).
fn answer_all(mut shell: FakeShell, order: &Order) -> FakeShell {
    let accept = AcceptAll::default();
    let calls = Calls { shell: &accept };
    let _ = mailbox::fulfill(&calls, Change::Modified, order);
    for pipeline in accept.0.calls.borrow().iter() {
        shell = shell.on(pipeline.clone(), done());
    }
    shell
}

#[test]
fn address_lists_of_add_and_remove_are_applied_as_given() {
    let modified = order(
        "3",
        ChangeType::Modified,
        MAILBOX,
        vec![
            (
                "EmailAddresses_add",
                Field::List(vec!["smtp:a@contoso.com".into(), "X500:/o=A B/cn=c".into()]),
            ),
            (
                "EmailAddresses_remove",
                Field::List(vec!["smtp:b@contoso.com".into()]),
            ),
        ],
        vec![("SamAccountName", t("jbond"))],
    );
    assert_eq!(
        mailbox_plan_texts(&modified),
        ["Set-Mailbox -Identity 'jbond' -EmailAddresses @{Add='smtp:a@contoso.com','X500:/o=A B/cn=c'; Remove='smtp:b@contoso.com'}"]
    );
}

#[test]
fn a_full_address_list_without_resource_addresses_is_diffed_against_the_server() {
    let shell = FakeShell::new()
        .on(
            mailbox::state_pipeline("jbond"),
            mailbox_state(&["SMTP:a@contoso.com", "smtp:b@contoso.com"], "DB01"),
        )
        .on(
            vec![crate::shell::command("Set-Mailbox")
                .text("Identity", "jbond")
                .dictionary(
                    "EmailAddresses",
                    vec![
                        (
                            "Add".to_owned(),
                            Element::List(vec![Scalar::Text("smtp:c@contoso.com".into())]),
                        ),
                        (
                            "Remove".to_owned(),
                            Element::List(vec![Scalar::Text("smtp:b@contoso.com".into())]),
                        ),
                    ],
                )
                .build()],
            done(),
        );
    let modified = order(
        "4",
        ChangeType::Modified,
        MAILBOX,
        vec![("EmailAddresses", t("SMTP:a@contoso.com smtp:c@contoso.com"))],
        vec![("SamAccountName", t("jbond"))],
    );
    assert_eq!(
        executed(&run_orders(&shell, vec![modified])[0]),
        "ran Set-Mailbox"
    );
}

#[test]
fn a_deleted_mailbox_is_disabled_and_an_absent_one_is_already_done() {
    let disable = one_call("Disable-Mailbox -Identity 'jbond' -Confirm $false");
    let shell = FakeShell::new()
        .on(disable.clone(), done())
        .on(disable, not_found("jbond"));
    let deleted = order(
        "5",
        ChangeType::Deleted,
        MAILBOX,
        vec![],
        vec![("SamAccountName", t("jbond"))],
    );
    let results = run_orders(&shell, vec![deleted.clone(), deleted]);
    assert_eq!(executed(&results[0]), "ran Disable-Mailbox");
    assert_eq!(
        executed(&results[1]),
        "the mailbox `jbond` was already disabled"
    );
    assert_eq!(
        shell.call_texts()[0],
        "Disable-Mailbox -Identity 'jbond' -Confirm $false"
    );
}

#[test]
fn one_failing_order_does_not_stop_the_others() {
    let shell = FakeShell::new()
        .on(
            one_call("Disable-Mailbox -Identity 'a' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Disable-Mailbox -Identity 'b' -Confirm $false"),
            remote(
                "Active Directory operation failed on dc01. The object is protected.",
                "ADOperationException,DisableMailbox",
            ),
        )
        .on(
            one_call("Disable-Mailbox -Identity 'c' -Confirm $false"),
            Answer::Objects {
                objects: vec![],
                fail_after: None,
                errors: vec![ErrorRecord {
                    message: "Insufficient rights.".into(),
                    fully_qualified_error_id: "Denied,DisableMailbox".into(),
                    category: "PermissionDenied".into(),
                    target: None,
                }],
                warnings: vec![],
            },
        )
        .on(
            one_call("Disable-Mailbox -Identity 'd' -Confirm $false"),
            done(),
        );
    let orders = ["a", "b", "c", "d"]
        .map(|sam| {
            order(
                sam,
                ChangeType::Deleted,
                MAILBOX,
                vec![],
                vec![("SamAccountName", t(sam))],
            )
        })
        .to_vec();
    let reporter = RecordingReporter::default();
    let results = run(&shell, &reporter, &request(orders)).unwrap();
    assert_eq!(results.len(), 4);
    executed(&results[0]);
    assert_eq!(
        errored(&results[1]),
        "Disable-Mailbox failed: Active Directory operation failed on dc01. The object is protected. (ADOperationException,DisableMailbox)"
    );
    assert_eq!(
        errored(&results[2]),
        "Disable-Mailbox failed: Insufficient rights. (Denied,DisableMailbox)"
    );
    executed(&results[3]);
    assert_eq!(
        *reporter.progress.borrow(),
        vec![(1, Some(4)), (2, Some(4)), (3, Some(4)), (4, Some(4))]
    );
}

#[test]
fn orders_that_cannot_be_understood_are_errored_clearly() {
    let shell = FakeShell::new();
    let results = run_orders(
        &shell,
        vec![
            order(
                "1",
                ChangeType::Added,
                MAILBOX,
                vec![("Alias", t("x"))],
                vec![],
            ),
            order(
                "2",
                ChangeType::Other("Renamed".into()),
                MAILBOX,
                vec![],
                vec![("SamAccountName", t("x"))],
            ),
            order("3", ChangeType::Added, "Directory_User", vec![], vec![]),
            order("4", ChangeType::Deleted, DATABASE, vec![], vec![]),
            order(
                "5",
                ChangeType::Added,
                DATABASE,
                vec![("Server", t("EXCH01"))],
                vec![],
            ),
        ],
    );
    assert_eq!(
        errored(&results[0]),
        "the order has no SamAccountName in Changes or Resource, so the mailbox cannot be identified"
    );
    assert_eq!(
        errored(&results[1]),
        "unknown change type `Renamed`: expected Added, Modified or Deleted"
    );
    assert!(errored(&results[2]).starts_with("unknown target entity type `Directory_User`"));
    assert!(errored(&results[3]).contains("no Guid or Name in Changes or Resource"));
    assert!(errored(&results[4]).contains("no Name in Changes"));
    assert!(shell.calls.borrow().is_empty());
}

#[test]
fn mapped_entity_types_are_honoured_and_bad_mappings_refused() {
    let shell = FakeShell::new().on(
        one_call("Disable-Mailbox -Identity 'x' -Confirm $false"),
        done(),
    );
    let mut req = request(vec![order(
        "1",
        ChangeType::Deleted,
        "Exchange_Box",
        vec![],
        vec![("SamAccountName", t("x"))],
    )]);
    req.entity_types = vec![("Exchange_Box".into(), "Mailbox".into())];
    let results = run(&shell, &RecordingReporter::default(), &req).unwrap();
    executed(&results[0]);
    req.entity_types = vec![("Exchange_Box".into(), "user".into())];
    let error = run(&shell, &RecordingReporter::default(), &req).unwrap_err();
    assert!(
        error.contains("map it to `mailbox` or `database`"),
        "{error}"
    );
}

#[test]
fn an_added_database_is_created_and_mounted_unless_asked_not_to() {
    let shell = FakeShell::new()
        .on(database::state_pipeline("DB03"), not_found("DB03"))
        .on(
            one_call("New-MailboxDatabase -Name 'DB03' -Server 'EXCH01' -EdbFilePath 'D:\\DB03\\DB03.edb' -LogFolderPath 'D:\\DB03\\Logs'"),
            done(),
        )
        .on(one_call("Mount-Database -Identity 'DB03'"), done())
        .on(database::state_pipeline("DB04"), not_found("DB04"))
        .on(one_call("New-MailboxDatabase -Name 'DB04' -Server 'EXCH01'"), done());
    let results = run_orders(
        &shell,
        vec![
            order(
                "1",
                ChangeType::Added,
                DATABASE,
                vec![
                    ("Name", t("DB03")),
                    (
                        "Server",
                        Field::Reference(vec![("Name".into(), "EXCH01".into())]),
                    ),
                    ("EdbFilePath", t("D:\\DB03\\DB03.edb")),
                    ("LogFolderPath", t("D:\\DB03\\Logs")),
                ],
                vec![],
            ),
            order(
                "2",
                ChangeType::Added,
                DATABASE,
                vec![
                    ("Name", t("DB04")),
                    ("Server", t("EXCH01")),
                    ("Mounted", Field::Boolean(false)),
                ],
                vec![],
            ),
        ],
    );
    assert_eq!(
        executed(&results[0]),
        "ran New-MailboxDatabase, Mount-Database"
    );
    assert_eq!(executed(&results[1]), "ran New-MailboxDatabase");
    assert_eq!(
        shell.call_texts()[0],
        "Get-MailboxDatabase -Identity 'DB03' -Status | Select-Object -Property 'Name','Server','Mounted','Guid'"
    );
}

#[test]
fn an_added_database_that_exists_only_gets_its_mount_state_matched() {
    let existing = |mounted: bool| {
        Answer::objects(vec![object(vec![
            ("Name", text("DB01")),
            ("Server", text("EXCH01")),
            ("Mounted", boolean(mounted)),
            ("Guid", guid("00000000-0000-0000-0000-0000000000d1")),
        ])])
    };
    let shell = FakeShell::new()
        .on(database::state_pipeline("DB01"), existing(true))
        .on(database::state_pipeline("DB01"), existing(false))
        .on(one_call("Mount-Database -Identity 'DB01'"), done());
    let added = order(
        "1",
        ChangeType::Added,
        DATABASE,
        vec![("Name", t("DB01")), ("Server", t("EXCH01"))],
        vec![],
    );
    let results = run_orders(&shell, vec![added.clone(), added]);
    assert_eq!(
        executed(&results[0]),
        "the database already exists with the requested values"
    );
    assert_eq!(
        executed(&results[1]),
        "the database already existed; ran Mount-Database"
    );
}

#[test]
fn a_modified_database_is_renamed_and_dismounted_by_guid() {
    let guid_text = "00000000-0000-0000-0000-0000000000d2";
    let shell = FakeShell::new()
        .on(
            one_call(&format!(
                "Set-MailboxDatabase -Identity '{guid_text}' -Name 'DB02-new'"
            )),
            done(),
        )
        .on(
            one_call(&format!(
                "Dismount-Database -Identity '{guid_text}' -Confirm $false"
            )),
            done(),
        )
        .on(
            one_call("Set-MailboxDatabase -Identity 'DB05' -Name 'DB05-new'"),
            done(),
        )
        .on(one_call("Mount-Database -Identity 'DB05-new'"), done());
    let results = run_orders(
        &shell,
        vec![
            order(
                "1",
                ChangeType::Modified,
                DATABASE,
                vec![("Name", t("DB02-new")), ("Mounted", t("False"))],
                vec![
                    ("Name", t("DB02")),
                    ("Guid", t(guid_text)),
                    ("Mounted", Field::Boolean(true)),
                ],
            ),
            order(
                "2",
                ChangeType::Modified,
                DATABASE,
                vec![("Name", t("DB05-new")), ("Mounted", Field::Boolean(true))],
                vec![("Name", t("DB05")), ("Mounted", Field::Boolean(false))],
            ),
            order(
                "3",
                ChangeType::Modified,
                DATABASE,
                vec![("Mounted", Field::Boolean(true))],
                vec![("Name", t("DB06")), ("Mounted", Field::Boolean(true))],
            ),
        ],
    );
    assert_eq!(
        executed(&results[0]),
        "ran Set-MailboxDatabase, Dismount-Database"
    );
    assert_eq!(
        executed(&results[1]),
        "ran Set-MailboxDatabase, Mount-Database"
    );
    assert_eq!(executed(&results[2]), "nothing to change");
}

#[test]
fn a_deleted_database_is_dismounted_then_removed() {
    let shell = FakeShell::new()
        .on(
            one_call("Dismount-Database -Identity 'DB04' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Remove-MailboxDatabase -Identity 'DB04' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Dismount-Database -Identity 'DB09' -Confirm $false"),
            not_found("DB09"),
        )
        .on(
            one_call("Dismount-Database -Identity 'DB07' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Remove-MailboxDatabase -Identity 'DB07' -Confirm $false"),
            remote(
                "This mailbox database contains one or more mailboxes.",
                "AssociatedMailboxExistException,RemoveMailboxDatabase",
            ),
        );
    let results = run_orders(
        &shell,
        ["DB04", "DB09", "DB07"]
            .map(|name| {
                order(
                    name,
                    ChangeType::Deleted,
                    DATABASE,
                    vec![],
                    vec![("Name", t(name))],
                )
            })
            .to_vec(),
    );
    assert_eq!(
        executed(&results[0]),
        "ran Dismount-Database, Remove-MailboxDatabase"
    );
    assert_eq!(
        executed(&results[1]),
        "the database `DB09` was already removed"
    );
    assert_eq!(
        errored(&results[2]),
        "Remove-MailboxDatabase failed: This mailbox database contains one or more mailboxes. (AssociatedMailboxExistException,RemoveMailboxDatabase)"
    );
}

#[test]
fn a_denied_cmdlet_is_errored_with_the_reason() {
    let shell = FakeShell::new().on(
        one_call("Disable-Mailbox -Identity 'x' -Confirm $false"),
        Answer::Refused(Error::Denied(
            "Disable-Mailbox is not granted to this job".into(),
        )),
    );
    let results = run_orders(
        &shell,
        vec![order(
            "1",
            ChangeType::Deleted,
            MAILBOX,
            vec![],
            vec![("SamAccountName", t("x"))],
        )],
    );
    assert_eq!(
        errored(&results[0]),
        "Disable-Mailbox was denied by the host: Disable-Mailbox is not granted to this job (this job is not granted the cmdlet)"
    );
}
