use super::*;

#[test]
fn an_incremental_export_writes_inserts_updates_and_deletes_for_both_entities() {
    let dirs = Dirs::after_first_export();

    let shell = FakeShell::new()
        .on(
            databases_pipeline(),
            Answer::objects(vec![
                // Unchanged since the cookie: not written.
                database(DB_1, "DB01", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
                database(
                    DB_2,
                    "DB02-renamed",
                    "2020-01-01T00:00:00Z",
                    "2026-11-27T08:30:00Z",
                ),
                database(DB_3, "DB03", "2026-11-27T08:10:00Z", "2026-11-27T08:10:00Z"),
            ]),
        )
        .on(
            changed_mailboxes_pipeline(FILTER_SINCE),
            Answer::objects(vec![
                // Known, changed before the cookie: returned because the
                // filter is 14 hours wider, and not written.
                mailbox(
                    GUID_A,
                    "alice",
                    "2021-01-01T00:00:00Z",
                    "2026-11-27T07:59:59Z",
                ),
                mailbox(
                    GUID_B,
                    "bob",
                    "2021-01-01T00:00:00Z",
                    "2026-11-27T08:20:00Z",
                ),
                mailbox(
                    GUID_E,
                    "erin",
                    "2026-11-27T08:05:00Z",
                    "2026-11-27T08:05:00Z",
                ),
                // An older user whose mailbox was just enabled.
                mailbox(
                    GUID_F,
                    "frank",
                    "2019-01-01T00:00:00Z",
                    "2026-11-27T08:40:00Z",
                ),
            ]),
        )
        .on(
            mailbox_guids_pipeline(),
            Answer::objects(
                // GUID_G: enabled after the changed mailboxes were listed,
                // so never written: it must not become known.
                [GUID_A, GUID_B, GUID_E, GUID_F, GUID_G]
                    .iter()
                    .map(|g| object(vec![("Guid", guid(g))]))
                    .collect(),
            ),
        );
    let reporter = RecordingReporter::default();

    let summary = run(&shell, &reporter, &dirs.request(SECOND_RUN, false)).unwrap();

    assert_eq!(
        shell.calls.borrow()[1][0].parameters[1].argument,
        crate::idconn::connector::powershell::Argument::Value(text(
            "WhenChangedUTC -ge '2026-11-26T18:00:00Z'"
        ))
    );
    assert_eq!(
        summary,
        ExportSummary {
            complete: false,
            mailboxes: 4,
            databases: 3,
            inserts: 3,
            updates: 2,
            deletes: 2
        }
    );
    let mailboxes: Vec<(String, String, String)> = rows(&dirs.mailboxes_csv())
        .into_iter()
        .map(|r| {
            (
                r["Command"].clone(),
                r["Guid"].clone(),
                r["SamAccountName"].clone(),
            )
        })
        .collect();
    let expected = [
        ("Update", GUID_B, "bob"),
        ("Insert", GUID_E, "erin"),
        ("Insert", GUID_F, "frank"),
        ("Delete", GUID_C, ""),
    ];
    assert_eq!(
        mailboxes,
        expected.map(|(c, g, s)| (c.to_owned(), g.to_owned(), s.to_owned()))
    );
    let deleted = &rows(&dirs.mailboxes_csv())[3];
    assert!(deleted
        .iter()
        .all(|(k, v)| k == "Command" || k == "Guid" || v.is_empty()));
    assert_eq!(
        dirs.databases_csv(),
        format!(
            "{DATABASE_HEADER}\n\
             Update,DB02-renamed,EXCH01,True,contoso.com/Configuration/Schema/ms-Exch-Private-MDB,{DB_2},2026-11-27T08:30:00Z,2020-01-01T00:00:00Z,Unchanged\n\
             Insert,DB03,EXCH01,True,contoso.com/Configuration/Schema/ms-Exch-Private-MDB,{DB_3},2026-11-27T08:10:00Z,2026-11-27T08:10:00Z,Unchanged\n\
             Delete,,,,,{DB_4},,,\n"
        )
    );
    let cookie = state::Cookie::read(&dirs.cookies.join("ExchangeExport_cookie.bin"))
        .unwrap()
        .unwrap();
    assert_eq!(filter_date(&cookie.started_at), "2026-11-27T09:00:00Z");
    assert_eq!(
        cookie.databases.keys().copied().collect::<Vec<_>>(),
        [DB_1, DB_2, DB_3].map(|g| state::parse_guid(g).unwrap())
    );
    assert_eq!(
        cookie.mailboxes,
        GuidSet::from_unsorted(
            [GUID_A, GUID_B, GUID_E, GUID_F]
                .iter()
                .map(|g| state::parse_guid(g).unwrap())
                .collect()
        )
    );
    assert!(reporter.logged("incremental export: changes since 2026-11-27T08:00:00Z"));
}

/// `Mounted` changes without `WhenChangedUTC`: the row differs from the
/// one the cookie remembers, so it is an `Update`.
#[test]
fn a_database_whose_only_change_is_mounted_is_an_update() {
    let dirs = Dirs::after_first_export();
    let dismounted = with(
        database(DB_1, "DB01", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        "Mounted",
        boolean(false),
    );
    let shell = FakeShell::new()
        .on(
            databases_pipeline(),
            Answer::objects(vec![
                dismounted,
                database(DB_2, "DB02", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
                database(DB_4, "DB04", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
            ]),
        )
        .on(changed_mailboxes_pipeline(FILTER_SINCE), Answer::nothing())
        .on(
            mailbox_guids_pipeline(),
            Answer::objects(
                [GUID_A, GUID_B, GUID_C]
                    .iter()
                    .map(|g| object(vec![("Guid", guid(g))]))
                    .collect(),
            ),
        );
    run(
        &shell,
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap();
    assert_eq!(
        dirs.databases_csv(),
        format!(
            "{DATABASE_HEADER}\n\
             Update,DB01,EXCH01,False,contoso.com/Configuration/Schema/ms-Exch-Private-MDB,{DB_1},2020-01-01T00:00:00Z,2020-01-01T00:00:00Z,Unchanged\n"
        )
    );
}

/// A dropped connection, then throttling, in the middle of the mailboxes:
/// the pipeline runs again and nothing is written twice.
#[test]
fn a_transient_failure_reruns_the_pipeline_and_skips_what_was_written() {
    let dirs = Dirs::new();
    let all: Vec<PsObject> = (0..700u32)
        .map(|i| {
            mailbox(
                &format!("00000000-0000-0000-0003-{i:012x}"),
                &format!("u{i}"),
                COOKIE_TIME,
                COOKIE_TIME,
            )
        })
        .collect();
    let shell = FakeShell::new()
        .on(databases_pipeline(), Answer::nothing())
        .on(
            all_mailboxes_pipeline(),
            Answer::Objects {
                objects: all.clone(),
                fail_after: Some((600, Error::Transport("connection closed".into()))),
                errors: vec![],
                warnings: vec![],
            },
        )
        .on(
            all_mailboxes_pipeline(),
            Answer::Refused(Error::Remote(ErrorRecord {
                message: "Fail to create a runspace because you have exceeded your budget to \
                          create runspace. Please wait for 5 seconds."
                    .into(),
                fully_qualified_error_id: "Microsoft.Exchange.Data.Directory.OverBudgetException"
                    .into(),
                category: "ResourceUnavailable".into(),
                target: None,
            })),
        )
        .on(all_mailboxes_pipeline(), Answer::objects(all));
    let reporter = RecordingReporter::default();
    let summary = run(&shell, &reporter, &dirs.request(COOKIE_TIME, false)).unwrap();
    assert_eq!(summary.inserts, 700);
    let rows = rows(&dirs.mailboxes_csv());
    let guids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["Guid"].as_str()).collect();
    assert_eq!((rows.len(), guids.len()), (700, 700));
    assert!(reporter.logged("retry 1 of the pipeline"));
    assert!(reporter.logged("retry 2 of the pipeline"));
}

#[test]
fn a_corrupt_cookie_is_an_error_that_names_the_fix() {
    let dirs = Dirs::new();
    std::fs::write(
        dirs.cookies.join("ExchangeExport_cookie.bin"),
        b"10/27/2026 08:00:00",
    )
    .unwrap();
    let before = dirs.snapshot();
    let shell = first_run_shell();
    let error = run(
        &shell,
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap_err();
    assert!(
        error.contains("ExchangeExport_cookie.bin cannot be used"),
        "{error}"
    );
    assert!(
        error.contains("rerun the export with --ignore-cookies"),
        "{error}"
    );
    assert!(shell.calls.borrow().is_empty());
    assert_eq!(dirs.snapshot(), before);
}

#[test]
fn a_cookie_from_the_future_is_refused() {
    let dirs = Dirs::new();
    run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap();
    let error = run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap_err();
    assert!(error.contains("after this run's start"), "{error}");
    assert!(error.contains("--ignore-cookies"), "{error}");
}

#[test]
fn ignore_cookies_forces_a_complete_export() {
    let dirs = Dirs::after_first_export();
    std::fs::write(dirs.cookies.join("ExchangeExport_cookie.bin"), b"garbage").unwrap();
    let shell = first_run_shell();
    let reporter = RecordingReporter::default();

    let summary = run(&shell, &reporter, &dirs.request(SECOND_RUN, true)).unwrap();

    assert!(summary.complete);
    assert_eq!(
        (summary.inserts, summary.updates, summary.deletes),
        (6, 0, 0)
    );
    assert_eq!(
        shell
            .call_texts()
            .iter()
            .map(|t| t.split(' ').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        vec!["Get-MailboxDatabase", "Get-Mailbox"]
    );
    assert!(!shell.call_texts()[1].contains("-Filter"));
    assert!(rows(&dirs.mailboxes_csv())
        .iter()
        .all(|r| r["Command"] == "Insert"));
    assert!(dirs.cookie().starts_with(
        "idconn-exchange-cookie 3\nstarted-at 2026-11-27T09:00:00Z\n\
             reconciled-at 2026-11-27T09:00:00Z\n"
    ));
    assert!(reporter.logged("cookies ignored"));
}
