use super::*;

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
fn a_deleted_database_is_removed_without_a_dismount_and_a_refusal_leaves_it_as_it_was() {
    let removed_warning = "The specified database has been removed. You must remove the database file located in C:\\DB04\\DB04.edb from your computer manually if it exists.";
    let shell = FakeShell::new()
        .on(
            one_call("Remove-MailboxDatabase -Identity 'DB04' -Confirm $false"),
            Answer::Objects {
                objects: vec![],
                fail_after: None,
                errors: vec![],
                warnings: vec![removed_warning.to_owned()],
            },
        )
        .on(
            one_call("Remove-MailboxDatabase -Identity 'DB09' -Confirm $false"),
            not_found("DB09"),
        )
        .on(
            one_call("Remove-MailboxDatabase -Identity 'DB07' -Confirm $false"),
            remote(
                "This mailbox database contains one or more mailboxes.",
                "AssociatedMailboxExistException,RemoveMailboxDatabase",
            ),
        );
    let reporter = RecordingReporter::default();
    let results = run(
        &shell,
        &reporter,
        &request(
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
        ),
    )
    .unwrap();
    assert_eq!(
        executed(&results[0]),
        format!("ran Remove-MailboxDatabase; Exchange warned: Remove-MailboxDatabase: {removed_warning}")
    );
    assert!(reporter.logged("order DB04: Exchange warned: Remove-MailboxDatabase: The specified database has been removed"));
    assert_eq!(
        executed(&results[1]),
        "the database `DB09` was already removed"
    );
    assert_eq!(
        errored(&results[2]),
        "Remove-MailboxDatabase failed: This mailbox database contains one or more mailboxes. (AssociatedMailboxExistException,RemoveMailboxDatabase)"
    );
    // Never a dismount as a side effect of a delete.
    assert!(
        shell
            .call_texts()
            .iter()
            .all(|c| c.starts_with("Remove-MailboxDatabase")),
        "{:?}",
        shell.call_texts()
    );
}
