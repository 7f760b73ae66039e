use std::collections::BTreeMap;
use std::path::Path;

use super::schema::*;
use super::*;
use crate::idconn::connector::powershell::{Error, ErrorRecord};
use crate::shell::pipeline_text;
use crate::testing::*;

const MAILBOX_HEADER: &str = "Command,Database,EmailAddresses,UseDatabaseRetentionDefaults,RetainDeletedItemsUntilBackup,DeliverToMailboxAndForward,ExchangeGuid,ExchangeUserAccountControl,ForwardingAddress,ForwardingSmtpAddress,IsMailboxEnabled,ProhibitSendQuota,ProhibitSendReceiveQuota,RecoverableItemsQuota,RecoverableItemsWarningQuota,CalendarLoggingQuota,IsResource,IsLinked,IsShared,SamAccountName,AntispamBypassEnabled,ServerName,UseDatabaseQuotaDefaults,UserPrincipalName,WhenMailboxCreated,IsInactiveMailbox,AccountDisabledIsDirSynced,Alias,OrganizationalUnit,DisplayName,MaxSendSize,MaxReceiveSize,PrimarySmtpAddress,RecipientType,RecipientTypeDetails,Identity,IsValid,Name,DistinguishedName,Guid,ObjectCategory,WhenChangedUTC,WhenCreatedUTC,ObjectState";
const DATABASE_HEADER: &str =
    "Command,Name,Server,Mounted,ObjectCategory,Guid,WhenChangedUTC,WhenCreatedUTC,ObjectState";

const COOKIE_TIME: &str = "2026-11-27T08:00:00Z";
const SECOND_RUN: &str = "2026-11-27T09:00:00.250Z";

fn mailbox(guid_text: &str, sam: &str, created: &str, changed: &str) -> PsObject {
    object(vec![
        ("Database", text("DB01")),
        (
            "EmailAddresses",
            texts(&[
                &format!("smtp:{sam}.alias@contoso.com"),
                &format!("SMTP:{sam}@contoso.com"),
            ]),
        ),
        ("UseDatabaseRetentionDefaults", boolean(true)),
        ("RetainDeletedItemsUntilBackup", boolean(false)),
        ("DeliverToMailboxAndForward", boolean(false)),
        ("ExchangeGuid", guid("9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2")),
        ("ExchangeUserAccountControl", text("None")),
        ("ForwardingAddress", nil()),
        ("ForwardingSmtpAddress", nil()),
        ("IsMailboxEnabled", boolean(true)),
        ("ProhibitSendQuota", text("Unlimited")),
        ("ProhibitSendReceiveQuota", text("Unlimited")),
        (
            "RecoverableItemsQuota",
            text("30 GB (32,212,254,720 bytes)"),
        ),
        (
            "RecoverableItemsWarningQuota",
            text("20 GB (21,474,836,480 bytes)"),
        ),
        ("CalendarLoggingQuota", text("6 GB (6,442,450,944 bytes)")),
        ("IsResource", boolean(false)),
        ("IsLinked", boolean(false)),
        ("IsShared", boolean(false)),
        ("SamAccountName", text(sam)),
        ("AntispamBypassEnabled", boolean(false)),
        ("ServerName", text("exch01")),
        ("UseDatabaseQuotaDefaults", boolean(true)),
        ("UserPrincipalName", text(&format!("{sam}@contoso.com"))),
        ("WhenMailboxCreated", date("2022-10-31T02:01:36+01:00")),
        ("IsInactiveMailbox", boolean(false)),
        ("Alias", text(sam)),
        ("OrganizationalUnit", text("contoso.com/Users")),
        ("DisplayName", text(sam)),
        ("MaxSendSize", text("Unlimited")),
        ("MaxReceiveSize", text("35 MB (36,700,160 bytes)")),
        ("PrimarySmtpAddress", text(&format!("{sam}@contoso.com"))),
        ("RecipientType", text("UserMailbox")),
        ("RecipientTypeDetails", text("UserMailbox")),
        ("Identity", text(&format!("contoso.com/Users/{sam}"))),
        ("IsValid", boolean(true)),
        ("Name", text(sam)),
        (
            "DistinguishedName",
            text(&format!("CN={sam},CN=Users,DC=contoso,DC=com")),
        ),
        ("Guid", guid(guid_text)),
        (
            "ObjectCategory",
            text("contoso.com/Configuration/Schema/Person"),
        ),
        ("WhenChangedUTC", date(changed)),
        ("WhenCreatedUTC", date(created)),
        ("ObjectState", text("Unchanged")),
    ])
}

fn database(guid_text: &str, name: &str, created: &str, changed: &str) -> PsObject {
    object(vec![
        ("Name", text(name)),
        ("Server", text("EXCH01")),
        ("Mounted", boolean(true)),
        (
            "ObjectCategory",
            text("contoso.com/Configuration/Schema/ms-Exch-Private-MDB"),
        ),
        ("Guid", guid(guid_text)),
        ("WhenChangedUTC", date(changed)),
        ("WhenCreatedUTC", date(created)),
        ("ObjectState", text("Unchanged")),
    ])
}

const GUID_A: &str = "00000000-0000-0000-0000-00000000000a";
const GUID_B: &str = "00000000-0000-0000-0000-00000000000b";
const GUID_C: &str = "00000000-0000-0000-0000-00000000000c";
const GUID_E: &str = "00000000-0000-0000-0000-00000000000e";
const GUID_F: &str = "00000000-0000-0000-0000-00000000000f";
const DB_1: &str = "00000000-0000-0000-0000-0000000000d1";
const DB_2: &str = "00000000-0000-0000-0000-0000000000d2";
const DB_3: &str = "00000000-0000-0000-0000-0000000000d3";
const DB_4: &str = "00000000-0000-0000-0000-0000000000d4";

struct Dirs {
    _root: tempfile::TempDir,
    output: PathBuf,
    cookies: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let output = root.path().join("ExportOutput");
        let cookies = root.path().join("ExportCookies");
        std::fs::create_dir(&output).unwrap();
        std::fs::create_dir(&cookies).unwrap();
        Dirs {
            _root: root,
            output,
            cookies,
        }
    }

    fn request(&self, started_at: &str, ignore_cookies: bool) -> ExportRequest {
        ExportRequest {
            connection: "ExchangeExport".into(),
            output_dir: self.output.to_string_lossy().into_owned(),
            cookie_dir: self.cookies.to_string_lossy().into_owned(),
            ignore_cookies,
            started_at: started_at.into(),
        }
    }

    fn mailboxes_csv(&self) -> String {
        std::fs::read_to_string(self.output.join("ExchangeExport_mailboxes.csv")).unwrap()
    }

    fn databases_csv(&self) -> String {
        std::fs::read_to_string(self.output.join("ExchangeExport_databases.csv")).unwrap()
    }

    fn cookie(&self) -> String {
        std::fs::read_to_string(self.cookies.join("ExchangeExport_cookie.bin")).unwrap()
    }

    /// Every file of both directories with its bytes.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for dir in [&self.output, &self.cookies] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                files.insert(
                    path.to_string_lossy().into_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
        files
    }
}

/// Rows as maps from column to value.
fn rows(csv_text: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn first_run_shell() -> FakeShell {
    FakeShell::new()
        .on(
            databases_pipeline(),
            Answer::objects(vec![
                database(DB_1, "DB01", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
                database(DB_2, "DB02", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
                database(DB_4, "DB04", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
            ]),
        )
        .on(
            all_mailboxes_pipeline(),
            Answer::objects(vec![
                mailbox(
                    GUID_A,
                    "alice",
                    "2021-01-01T00:00:00Z",
                    "2021-01-01T00:00:00Z",
                ),
                mailbox(
                    GUID_B,
                    "bob",
                    "2021-01-01T00:00:00Z",
                    "2021-01-01T00:00:00Z",
                ),
                mailbox(
                    GUID_C,
                    "carol",
                    "2021-01-01T00:00:00Z",
                    "2021-01-01T00:00:00Z",
                ),
            ]),
        )
}

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
        pipeline_text(&changed_mailboxes_pipeline(COOKIE_TIME, "2026-11-27T09:00:00Z")),
        format!(
            "Get-Mailbox -ResultSize 'Unlimited' -Filter 'WhenChangedUTC -ge ''2026-11-27T08:00:00Z'' \
             -and WhenChangedUTC -lt ''2026-11-27T09:00:00Z''' | Select-Object -Property {mailbox_properties}"
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
    assert_eq!(
        dirs.cookie(),
        format!("idconn-exchange-cookie 1\nstarted-at {COOKIE_TIME}\ndatabases 1\n{DB_1}\nmailboxes 2\n{GUID_A}\n{GUID_B}\nend\n")
    );
    assert!(reporter.logged("complete export: no cookie"));
    assert!(reporter.logged("2 mailbox rows, 1 database rows (3 Insert, 0 Update, 0 Delete)"));
    assert_eq!(reporter.progress.borrow().last(), Some(&(3, None)));
}

#[test]
fn many_mailboxes_are_pulled_in_batches_with_progress() {
    let dirs = Dirs::new();
    let many: Vec<PsObject> = (0..1100u32)
        .map(|i| {
            mailbox(
                &format!("00000000-0000-0000-0001-{i:012x}"),
                &format!("user{i}"),
                COOKIE_TIME,
                COOKIE_TIME,
            )
        })
        .collect();
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
fn an_incremental_export_writes_inserts_updates_and_deletes_for_both_entities() {
    let dirs = Dirs::new();
    run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap();

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

fn remote_error() -> Error {
    Error::Remote(ErrorRecord {
        message: "The operation couldn't be performed because object 'x' couldn't be found.".into(),
        fully_qualified_error_id:
            "5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox".into(),
        category: "NotSpecified".into(),
        target: None,
    })
}

/// A second run over the first run's files that fails as `failing` says.
fn assert_failure_leaves_files(failing: FakeShell, expected_error: &str) {
    let dirs = Dirs::new();
    run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap();
    let before = dirs.snapshot();
    assert_eq!(before.len(), 3);

    let error = run(
        &failing,
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap_err();

    assert!(error.contains(expected_error), "{error}");
    assert_eq!(
        dirs.snapshot(),
        before,
        "the previous files changed or temp files remain"
    );
}

fn incremental_databases() -> Answer {
    Answer::objects(vec![database(
        DB_3,
        "DB03",
        "2026-11-27T08:10:00Z",
        "2026-11-27T08:10:00Z",
    )])
}

fn changed_pipeline() -> Vec<crate::idconn::connector::powershell::Command> {
    changed_mailboxes_pipeline(COOKIE_TIME, "2026-11-27T09:00:00Z")
}

#[test]
fn a_failure_in_the_middle_leaves_the_previous_files_byte_identical() {
    let many: Vec<PsObject> = (0..700u32)
        .map(|i| {
            mailbox(
                &format!("00000000-0000-0000-0002-{i:012x}"),
                "x",
                COOKIE_TIME,
                COOKIE_TIME,
            )
        })
        .collect();
    let failing = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(
            changed_pipeline(),
            Answer::Objects {
                objects: many,
                fail_after: Some((600, remote_error())),
                errors: vec![],
                warnings: vec![],
            },
        );
    assert_failure_leaves_files(
        failing,
        "Get-Mailbox failed: The operation couldn't be performed because object 'x' couldn't be found. \
         (5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox)",
    );
}

#[test]
fn a_failure_of_the_current_set_leaves_the_previous_files() {
    let failing = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(changed_pipeline(), Answer::nothing())
        .on(mailbox_guids_pipeline(), Answer::Refused(Error::Timeout));
    assert_failure_leaves_files(failing, "Get-Mailbox timed out");
}

#[test]
fn denied_limit_and_transport_errors_say_what_happened() {
    let cases = [
        (Error::Denied("Get-MailboxDatabase is not granted".into()), "Get-MailboxDatabase was denied by the host: Get-MailboxDatabase is not granted"),
        (Error::Limit("output over 64 MiB (setting MaxOutputBytes)".into()), "Get-MailboxDatabase was stopped by a host limit: output over 64 MiB"),
        (Error::Transport("connection refused".into()), "Get-MailboxDatabase failed: the connection to the Exchange server failed: connection refused"),
    ];
    for (error, expected) in cases {
        let failing = FakeShell::new().on(databases_pipeline(), Answer::Refused(error));
        assert_failure_leaves_files(failing, expected);
    }
}

#[test]
fn non_terminating_errors_fail_the_export_rather_than_invent_deletions() {
    let record = ErrorRecord {
        message: "The object is corrupted".into(),
        fully_qualified_error_id: "Corrupt,GetMailbox".into(),
        category: "ReadError".into(),
        target: None,
    };
    let failing = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(changed_pipeline(), Answer::nothing())
        .on(
            mailbox_guids_pipeline(),
            Answer::Objects {
                objects: vec![],
                fail_after: None,
                errors: vec![record],
                warnings: vec![],
            },
        );
    assert_failure_leaves_files(
        failing,
        "Get-Mailbox reported 1 error(s), so the export would be incomplete; the first: The object is corrupted (Corrupt,GetMailbox)",
    );
}

#[test]
fn a_write_failure_leaves_the_previous_files() {
    let dirs = Dirs::new();
    run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap();
    let before = dirs.snapshot();
    // A directory where the cookie's temporary file should go makes its
    // creation fail after both CSVs were written.
    let blocker = dirs.cookies.join("ExchangeExport_cookie.bin.tmp");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    let shell = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(changed_pipeline(), Answer::nothing())
        .on(mailbox_guids_pipeline(), Answer::nothing());
    let error = run(
        &shell,
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap_err();
    assert!(error.contains("ExchangeExport_cookie.bin.tmp"), "{error}");
    std::fs::remove_dir_all(&blocker).unwrap();
    assert_eq!(dirs.snapshot(), before);
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
    assert!(error.contains("not before this run's start"), "{error}");
    assert!(error.contains("--ignore-cookies"), "{error}");
}

#[test]
fn ignore_cookies_forces_a_complete_export() {
    let dirs = Dirs::new();
    run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap();
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

#[test]
fn an_invalid_start_time_is_refused() {
    let dirs = Dirs::new();
    let error = run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request("now", false),
    )
    .unwrap_err();
    assert!(error.contains("started-at `now`"), "{error}");
    assert!(dirs.snapshot().is_empty());
}

#[test]
fn files_land_in_their_own_directories() {
    let dirs = Dirs::new();
    run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap();
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
