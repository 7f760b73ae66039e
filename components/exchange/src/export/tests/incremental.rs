use super::*;

#[test]
fn an_incremental_export_writes_inserts_updates_and_deletes_for_both_entities() {
    let dirs = Dirs::after_first_export();

    let since = COOKIE_TIME;
    let until = "2026-11-27T09:00:00Z";
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
            changed_mailboxes_pipeline(since, until),
            Answer::objects(vec![
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
                [GUID_A, GUID_B, GUID_E, GUID_F]
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
            "WhenChangedUTC -ge '2026-11-27T08:00:00Z' -and WhenChangedUTC -lt '2026-11-27T09:00:00Z'"
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
    assert_eq!(
        dirs.cookie(),
        format!(
            "idconn-exchange-cookie 1\nstarted-at 2026-11-27T09:00:00Z\ndatabases 3\n{DB_1}\n{DB_2}\n{DB_3}\n\
             mailboxes 4\n{GUID_A}\n{GUID_B}\n{GUID_E}\n{GUID_F}\nend\n"
        )
    );
    assert!(reporter
        .logged("incremental export: changes from 2026-11-27T08:00:00Z to 2026-11-27T09:00:00Z"));
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
    assert!(dirs
        .cookie()
        .starts_with("idconn-exchange-cookie 1\nstarted-at 2026-11-27T09:00:00Z\n"));
    assert!(reporter.logged("cookies ignored"));
}
