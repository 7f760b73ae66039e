use super::*;

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
fn a_cmdlet_the_account_may_not_run_is_an_error_not_already_done() {
    let disable = one_call("Disable-Mailbox -Identity 'jbond' -Confirm $false");
    // What Exchange answers when RBAC hides the cmdlet: CommandNotFound,
    // filed by PowerShell under the ObjectNotFound category.
    let refused = Answer::Refused(Error::Remote(ErrorRecord {
        message: "The term 'Disable-Mailbox' is not recognized as the name of a cmdlet, function, script file, or operable program.".to_owned(),
        fully_qualified_error_id: "CommandNotFoundException".to_owned(),
        category: "ObjectNotFound".to_owned(),
        target: Some("Disable-Mailbox".to_owned()),
    }));
    let shell = FakeShell::new().on(disable, refused);
    let deleted = order(
        "6",
        ChangeType::Deleted,
        MAILBOX,
        vec![],
        vec![("SamAccountName", t("jbond"))],
    );
    let results = run_orders(&shell, vec![deleted]);
    assert!(
        errored(&results[0]).contains("is not recognized"),
        "{results:?}"
    );
}
