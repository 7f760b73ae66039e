use super::*;

#[test]
fn the_pipelines_are_the_documented_ones() {
    let mailbox_properties = "'Database','EmailAddresses','UseDatabaseRetentionDefaults','RetainDeletedItemsUntilBackup','DeliverToMailboxAndForward','ExchangeGuid','ExchangeUserAccountControl','ForwardingAddress','ForwardingSmtpAddress','IsMailboxEnabled','ProhibitSendQuota','ProhibitSendReceiveQuota','RecoverableItemsQuota','RecoverableItemsWarningQuota','CalendarLoggingQuota','IsResource','IsLinked','IsShared','SamAccountName','AntispamBypassEnabled','ServerName','UseDatabaseQuotaDefaults','UserPrincipalName','WhenMailboxCreated','IsInactiveMailbox','Alias','OrganizationalUnit','DisplayName','MaxSendSize','MaxReceiveSize','PrimarySmtpAddress','RecipientType','RecipientTypeDetails','Identity','IsValid','Name','DistinguishedName','Guid','ObjectCategory','WhenChangedUTC','WhenCreatedUTC','ObjectState'";
    assert_eq!(
        pipeline_text(&databases_pipeline()),
        "Get-MailboxDatabase -Status | Select-Object -Property 'Name','Server','Mounted','ObjectCategory','Guid','WhenChangedUTC','WhenCreatedUTC','ObjectState'"
    );
    assert_eq!(
        pipeline_text(&all_mailboxes_pipeline()),
        format!(
            "Get-Mailbox -ResultSize 'Unlimited' | Select-Object -Property {mailbox_properties}"
        )
    );
    assert_eq!(
        pipeline_text(&changed_mailboxes_pipeline(COOKIE_TIME)),
        format!(
            "Get-Mailbox -ResultSize 'Unlimited' -Filter 'WhenChangedUTC -ge ''2026-11-27T08:00:00Z''' \
             | Select-Object -Property {mailbox_properties}"
        )
    );
    assert_eq!(
        pipeline_text(&mailbox_guids_pipeline()),
        "Get-Mailbox -ResultSize 'Unlimited' | Select-Object -Property 'Guid'"
    );
}

#[test]
fn a_complete_export_writes_every_column_type_exactly() {
    let dirs = Dirs::new();
    let awkward = mailbox(
        GUID_A,
        "zoe",
        "2022-10-31T01:01:36Z",
        "2022-11-01T10:00:00.5+02:00",
    );
    let awkward = with(
        awkward,
        "DisplayName",
        text("Zoë \"Z\" Ångström, 日本\nsecond line"),
    );
    let awkward = with(
        awkward,
        "EmailAddresses",
        texts(&[
            "smtp:zoe.alias@contoso.com",
            "X500:/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=zoe",
            "SMTP:zoë@contoso.com",
            "sip:zoe@contoso.com",
            "smtp:100%@contoso.com",
            "x500:/o=Old Org/cn=zoe",
        ]),
    );
    let awkward = with(
        awkward,
        "ForwardingAddress",
        nested(
            "Microsoft.Exchange.Data.Directory.ADObjectId",
            "contoso.com/Users/bob",
        ),
    );
    let awkward = with(
        awkward,
        "ProhibitSendQuota",
        text("2 GB (2,147,483,648 bytes)"),
    );
    let awkward = with(awkward, "Database", nil());
    let awkward = with(awkward, "AccountDisabledIsDirSynced", boolean(true));
    let plain = mailbox(
        GUID_B,
        "bob",
        "2021-01-01T00:00:00Z",
        "2021-01-01T00:00:00Z",
    );
    let shell = FakeShell::new()
        .on(
            databases_pipeline(),
            Answer::objects(vec![database(
                DB_1,
                "DB01",
                "2020-01-01T00:00:00Z",
                "2020-01-02T03:04:05-05:00",
            )]),
        )
        .on(
            all_mailboxes_pipeline(),
            Answer::objects(vec![awkward, plain]),
        );
    let reporter = RecordingReporter::default();

    let summary = run(&shell, &reporter, &dirs.request(COOKIE_TIME, false)).unwrap();

    assert_eq!(
        summary,
        ExportSummary {
            complete: true,
            mailboxes: 2,
            databases: 1,
            inserts: 3,
            updates: 0,
            deletes: 0
        }
    );
    let mailboxes = dirs.mailboxes_csv();
    assert!(mailboxes.starts_with(&format!("{MAILBOX_HEADER}\n")));
    assert!(mailboxes.contains("\"Zoë \"\"Z\"\" Ångström, 日本\nsecond line\""));
    let rows = rows(&mailboxes);
    assert_eq!(rows.len(), 2);
    let zoe = &rows[0];
    assert_eq!(zoe["Command"], "Insert");
    assert_eq!(
        zoe["EmailAddresses"],
        "SMTP:zoë@contoso.com smtp:zoe.alias@contoso.com \
         X500:/o=First%20Organization/ou=Exchange%20Administrative%20Group%20(FYDIBOHF23SPDLT)/cn=Recipients/cn=zoe \
         sip:zoe@contoso.com smtp:100%25@contoso.com x500:/o=Old%20Org/cn=zoe"
    );
    assert_eq!(zoe["DisplayName"], "Zoë \"Z\" Ångström, 日本\nsecond line");
    assert_eq!(zoe["Database"], "");
    assert_eq!(zoe["ForwardingSmtpAddress"], "");
    assert_eq!(zoe["ForwardingAddress"], "contoso.com/Users/bob");
    assert_eq!(zoe["AccountDisabledIsDirSynced"], "");
    assert_eq!(zoe["UseDatabaseRetentionDefaults"], "True");
    assert_eq!(zoe["IsShared"], "False");
    assert_eq!(zoe["ProhibitSendQuota"], "2 GB (2,147,483,648 bytes)");
    assert_eq!(zoe["ProhibitSendReceiveQuota"], "Unlimited");
    assert_eq!(zoe["WhenMailboxCreated"], "2022-10-31T01:01:36Z");
    assert_eq!(zoe["WhenChangedUTC"], "2022-11-01T08:00:00.500Z");
    assert_eq!(zoe["Guid"], GUID_A);
    assert_eq!(zoe["ExchangeGuid"], "9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2");
    assert_eq!(rows[1]["SamAccountName"], "bob");
    assert_eq!(
        rows[1]["EmailAddresses"],
        "SMTP:bob@contoso.com smtp:bob.alias@contoso.com"
    );

    let databases = dirs.databases_csv();
    assert_eq!(
        databases,
        format!(
            "{DATABASE_HEADER}\nInsert,DB01,EXCH01,True,contoso.com/Configuration/Schema/ms-Exch-Private-MDB,\
             {DB_1},2020-01-02T08:04:05Z,2020-01-01T00:00:00Z,Unchanged\n"
        )
    );
    let cookie = dirs.cookie();
    let lines: Vec<&str> = cookie.lines().collect();
    let started = format!("started-at {COOKIE_TIME}");
    let reconciled = format!("reconciled-at {COOKIE_TIME}");
    assert_eq!(
        lines[..4],
        [
            "idconn-exchange-cookie 3",
            started.as_str(),
            reconciled.as_str(),
            "databases 1"
        ]
    );
    // The guid and the digest of the row.
    assert!(lines[4].starts_with(&format!("{DB_1} ")), "{cookie}");
    assert_eq!(lines[4].len(), 36 + 1 + 32, "{cookie}");
    assert_eq!(lines[5..], ["mailboxes 2", GUID_A, GUID_B, "end"]);
    assert!(reporter.logged("complete export: no cookie"));
    assert!(reporter.logged("2 mailbox rows, 1 database rows (3 Insert, 0 Update, 0 Delete)"));
    assert_eq!(reporter.progress.borrow().last(), Some(&(3, None)));
}

/// Mailboxes `user0`, `user1`, ... with guids numbered the same way.
fn numbered_mailboxes(count: u32) -> Vec<PsObject> {
    (0..count)
        .map(|i| {
            mailbox(
                &format!("00000000-0000-0000-0001-{i:012x}"),
                &format!("user{i}"),
                COOKIE_TIME,
                COOKIE_TIME,
            )
        })
        .collect()
}

#[test]
fn many_mailboxes_are_pulled_in_batches_with_progress() {
    let dirs = Dirs::new();
    let many = numbered_mailboxes(1100);
    let shell = FakeShell::new()
        .on(databases_pipeline(), Answer::nothing())
        .on(all_mailboxes_pipeline(), Answer::objects(many));
    let reporter = RecordingReporter::default();
    let summary = run(&shell, &reporter, &dirs.request(COOKIE_TIME, false)).unwrap();
    assert_eq!(summary.mailboxes, 1100);
    assert_eq!(
        *reporter.progress.borrow(),
        vec![(512, None), (1024, None), (1100, None)]
    );
    assert_eq!(rows(&dirs.mailboxes_csv()).len(), 1100);
    assert!(dirs.cookie().contains("mailboxes 1100\n"));
    assert_eq!(dirs.databases_csv(), format!("{DATABASE_HEADER}\n"));
}

#[test]
fn each_batch_is_read_by_its_own_property_order() {
    // Both batches hold one shape, numbered 0 in each; the second batch's
    // properties arrive in reverse order, as another server might send them.
    let dirs = Dirs::new();
    let mut many = numbered_mailboxes(513);
    if let Some(last) = many.last_mut() {
        last.properties.reverse();
    }
    let shell = FakeShell::new()
        .on(databases_pipeline(), Answer::nothing())
        .on(all_mailboxes_pipeline(), Answer::objects(many));
    let reporter = RecordingReporter::default();
    run(&shell, &reporter, &dirs.request(COOKIE_TIME, false)).unwrap();
    let rows = rows(&dirs.mailboxes_csv());
    assert_eq!(rows.len(), 513);
    for (i, row) in [(0usize, &rows[0]), (511, &rows[511]), (512, &rows[512])] {
        assert_eq!(row["SamAccountName"], format!("user{i}"));
        assert_eq!(row["Guid"], format!("00000000-0000-0000-0001-{i:012x}"));
        assert_eq!(row["Database"], "DB01");
        assert_eq!(row["WhenChangedUTC"], COOKIE_TIME);
        assert_eq!(
            row["EmailAddresses"],
            format!("SMTP:user{i}@contoso.com smtp:user{i}.alias@contoso.com")
        );
    }
}

#[test]
fn files_land_in_their_own_directories() {
    let dirs = Dirs::after_first_export();
    let names: Vec<String> = dirs
        .snapshot()
        .keys()
        .map(|p| {
            Path::new(p)
                .strip_prefix(dirs.output.parent().unwrap())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "ExportCookies/ExchangeExport_cookie.bin",
            "ExportOutput/ExchangeExport_databases.csv",
            "ExportOutput/ExchangeExport_mailboxes.csv",
        ]
    );
}
