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
            vec![idconn_sdk::command("Set-Mailbox")
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

/// jbond as the server shows him: SMTP:old, smtp:keep, two X500, in DB01,
/// forwarding to fwd@elsewhere.com, policy off.
fn jbond_on_the_server() -> Answer {
    Answer::objects(vec![object(vec![
        ("Guid", guid("00000000-0000-0000-0000-00000000000a")),
        ("SamAccountName", text("jbond")),
        ("Database", text("DB01")),
        ("PrimarySmtpAddress", text("old@contoso.com")),
        (
            "EmailAddresses",
            texts(&[
                "SMTP:old@contoso.com",
                "smtp:keep@contoso.com",
                "X500:/o=First Organization/cn=jbond",
                "x500:/o=Gone Org/cn=jbond",
            ]),
        ),
        ("Alias", text("jbond")),
        ("ForwardingSmtpAddress", text("smtp:fwd@elsewhere.com")),
        ("DeliverToMailboxAndForward", boolean(false)),
        ("EmailAddressPolicyEnabled", boolean(false)),
        ("ProhibitSendQuota", text("2 GB (2,147,483,648 bytes)")),
    ])])
}

#[test]
fn a_modified_mailbox_gets_the_minimal_calls_in_order() {
    let expected = [
        "Set-Mailbox -Identity 'jbond' -PrimarySmtpAddress 'new@contoso.com' -EmailAddressPolicyEnabled $false",
        // A full list manages SMTP addresses only: the X500 addresses stay.
        "Set-Mailbox -Identity 'jbond' -EmailAddresses @{Add='smtp:extra@contoso.com'; Remove='smtp:old@contoso.com'}",
        // The quota equals the current one in another form: not written.
        "Set-Mailbox -Identity 'jbond' -ForwardingSmtpAddress $null -DeliverToMailboxAndForward $true",
        "Get-MoveRequest -Identity 'jbond' | Select-Object -Property 'Status','TargetDatabase','SourceDatabase'",
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
                t("SMTP:new@contoso.com smtp:keep@contoso.com smtp:extra@contoso.com"),
            ),
            ("ForwardingSmtpAddress", Field::Null),
            ("DeliverToMailboxAndForward", Field::Boolean(true)),
            ("Alias", t("jbond")),
            ("ProhibitSendQuota", t("2GB")),
            ("WhenChangedUTC", t("2026-11-27T08:00:00Z")),
        ],
        // Resource is Usercube's last export, maybe stale: the server's
        // state is what the order is compared with.
        vec![("SamAccountName", t("jbond")), ("Database", t("DB02"))],
    );
    let planned = mailbox_plan_texts(&modified, jbond_on_the_server());
    assert_eq!(planned, expected);
    let shell = answer_all(&modified, jbond_on_the_server());
    let results = run_orders(&shell, vec![modified]);
    assert_eq!(
        executed(&results[0]),
        "ran Set-Mailbox, Set-Mailbox, Set-Mailbox, New-MoveRequest; the move to `DB02` is queued: Exchange moves the mailbox asynchronously, and its Database changes when the move completes; ignored fields this connector does not set: WhenChangedUTC"
    );
    let calls = shell.calls.borrow();
    let Argument::Value(Value::Dictionary(entries)) = &calls[2][0].parameters[1].argument else {
        panic!("EmailAddresses is not a hashtable: {:?}", calls[2][0]);
    };
    assert_eq!(
        entries[1],
        (
            "Remove".to_owned(),
            Element::List(vec![Scalar::Text("smtp:old@contoso.com".into())])
        )
    );
}

#[test]
fn a_full_list_keeps_other_types_and_the_hybrid_routing_address_unless_named() {
    let state = mailbox_state(
        &[
            "SMTP:a@contoso.com",
            "smtp:b@contoso.com",
            "smtp:a@contoso.mail.onmicrosoft.com",
            "X500:/o=Old/cn=a",
            "SIP:a@contoso.com",
            "EUM:1234;phone-context=DP.contoso.com",
            "X400:c=US;a= ;p=Contoso;o=Exchange;s=A;",
        ],
        "DB01",
    );
    let full = |remove: Vec<&str>| {
        let mut changes = vec![("EmailAddresses", t("SMTP:a@contoso.com smtp:c@contoso.com"))];
        if !remove.is_empty() {
            changes.push((
                "EmailAddresses_remove",
                Field::List(remove.into_iter().map(String::from).collect()),
            ));
        }
        order(
            "7",
            ChangeType::Modified,
            MAILBOX,
            changes,
            vec![("SamAccountName", t("jbond"))],
        )
    };
    assert_eq!(
        mailbox_plan_texts(&full(vec![]), state.clone()),
        ["Set-Mailbox -Identity 'jbond' -EmailAddresses @{Add='smtp:c@contoso.com'; Remove='smtp:b@contoso.com'}"]
    );
    assert_eq!(
        mailbox_plan_texts(
            &full(vec!["x500:/o=Old/cn=a", "smtp:a@contoso.mail.onmicrosoft.com"]),
            state
        ),
        ["Set-Mailbox -Identity 'jbond' -EmailAddresses @{Add='smtp:c@contoso.com'; Remove='smtp:b@contoso.com','x500:/o=Old/cn=a','smtp:a@contoso.mail.onmicrosoft.com'}"]
    );
}

#[test]
fn an_address_the_policy_stamps_back_is_reported_not_fought() {
    let before = with(
        mailbox_object(&["SMTP:a@contoso.com", "smtp:jbond@contoso.com"], "DB01"),
        "EmailAddressPolicyEnabled",
        boolean(true),
    );
    let order = order(
        "8",
        ChangeType::Modified,
        MAILBOX,
        vec![("EmailAddresses", t("SMTP:a@contoso.com"))],
        vec![("SamAccountName", t("jbond"))],
    );
    let shell = answer_all(&order, Answer::objects(vec![before]));
    let results = run_orders(&shell, vec![order]);
    assert_eq!(
        executed(&results[0]),
        "ran Set-Mailbox; the mailbox's email address policy is enabled and stamped back smtp:jbond@contoso.com: they stay while EmailAddressPolicyEnabled is $true"
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
        mailbox_plan_texts(
            &modified,
            mailbox_state(&["SMTP:jbond@contoso.com", "smtp:b@contoso.com"], "DB01")
        ),
        ["Set-Mailbox -Identity 'jbond' -EmailAddresses @{Add='smtp:a@contoso.com','X500:/o=A B/cn=c'; Remove='smtp:b@contoso.com'}"]
    );
}

#[test]
fn a_mailbox_is_identified_by_guid_then_exchange_guid_then_sam_account_name() {
    let deleted =
        |resource: Vec<(&str, Field)>| order("9", ChangeType::Deleted, MAILBOX, vec![], resource);
    let shell = FakeShell::new()
        .on(
            one_call("Disable-Mailbox -Identity 'g-1' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Disable-Mailbox -Identity 'x-2' -Confirm $false"),
            done(),
        )
        .on(
            one_call("Disable-Mailbox -Identity 'jbond' -Confirm $false"),
            done(),
        );
    let results = run_orders(
        &shell,
        vec![
            deleted(vec![
                ("SamAccountName", t("jbond")),
                ("ExchangeGuid", t("x-2")),
                ("Guid", t("g-1")),
            ]),
            deleted(vec![
                ("SamAccountName", t("jbond")),
                ("ExchangeGuid", t("x-2")),
            ]),
            deleted(vec![("SamAccountName", t("jbond"))]),
        ],
    );
    for result in &results {
        executed(result);
    }
    assert_eq!(
        shell.call_texts(),
        [
            "Disable-Mailbox -Identity 'g-1' -Confirm $false",
            "Disable-Mailbox -Identity 'x-2' -Confirm $false",
            "Disable-Mailbox -Identity 'jbond' -Confirm $false",
        ]
    );
}

#[test]
fn sizes_in_exchanges_display_form_are_compared_and_sent_as_bytes() {
    let order = |quota: &str| {
        order(
            "10",
            ChangeType::Modified,
            MAILBOX,
            vec![("ProhibitSendQuota", t(quota))],
            vec![("SamAccountName", t("jbond"))],
        )
    };
    assert!(
        mailbox_plan_texts(&order("2 GB (2,147,483,648 bytes)"), jbond_on_the_server()).is_empty()
    );
    assert!(mailbox_plan_texts(&order("2147483648"), jbond_on_the_server()).is_empty());
    assert_eq!(
        mailbox_plan_texts(&order("5 GB (5,368,709,120 bytes)"), jbond_on_the_server()),
        ["Set-Mailbox -Identity 'jbond' -ProhibitSendQuota '5368709120B'"]
    );
    let shell = answer_all(&order("lots"), jbond_on_the_server());
    let results = run_orders(&shell, vec![order("lots")]);
    assert!(errored(&results[0]).starts_with("the order's ProhibitSendQuota `lots` is not a size"));
}

#[test]
fn a_full_address_list_without_resource_addresses_is_diffed_against_the_server() {
    let shell = FakeShell::new()
        .on(
            mailbox::state_pipeline("jbond"),
            mailbox_state(&["SMTP:a@contoso.com", "smtp:b@contoso.com"], "DB01"),
        )
        .on(
            vec![idconn_sdk::command("Set-Mailbox")
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
