use std::collections::BTreeMap;
use std::path::Path;

use super::schema::*;
use super::*;
use idconn_sdk::batch::PsObject;
use idconn_sdk::pipeline_text;
use idconn_sdk::testing::*;
use idconn_sdk::{Command, Error, ErrorRecord};

const MAILBOX_HEADER: &str = "Command,Database,EmailAddresses,UseDatabaseRetentionDefaults,RetainDeletedItemsUntilBackup,DeliverToMailboxAndForward,ExchangeGuid,ExchangeUserAccountControl,ForwardingAddress,ForwardingSmtpAddress,IsMailboxEnabled,ProhibitSendQuota,ProhibitSendReceiveQuota,RecoverableItemsQuota,RecoverableItemsWarningQuota,CalendarLoggingQuota,IsResource,IsLinked,IsShared,SamAccountName,AntispamBypassEnabled,ServerName,UseDatabaseQuotaDefaults,UserPrincipalName,WhenMailboxCreated,IsInactiveMailbox,AccountDisabledIsDirSynced,Alias,OrganizationalUnit,DisplayName,MaxSendSize,MaxReceiveSize,PrimarySmtpAddress,RecipientType,RecipientTypeDetails,Identity,IsValid,Name,DistinguishedName,Guid,ObjectCategory,WhenChangedUTC,WhenCreatedUTC,ObjectState";
const DATABASE_HEADER: &str =
    "Command,Name,Server,Mounted,ObjectCategory,Guid,WhenChangedUTC,WhenCreatedUTC,ObjectState";

/// The export as these tests knew it before cheap incrementals: every
/// incremental run reconciles (lists every mailbox). deletions.rs's tests
/// run the cheap path.
fn run<S: Shell, R: Reporter>(
    shell: &S,
    reporter: &R,
    request: &ExportRequest,
) -> Result<ExportSummary, idconn_sdk::Failure> {
    run_with(
        shell,
        reporter,
        request,
        &ExportOptions {
            reconciliation_hours: 0,
            // Two guids in memory: every export here goes through the
            // sorted runs on disk (written.rs), merges included.
            guids_in_memory: 2,
            ..ExportOptions::default()
        },
    )
}

const COOKIE_TIME: &str = "2026-11-27T08:00:00Z";
/// The filter's lower bound after a cookie of `COOKIE_TIME`: 14 hours
/// earlier (FILTER_SLACK_HOURS).
const FILTER_SINCE: &str = "2026-11-26T18:00:00Z";
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
const GUID_G: &str = "00000000-0000-0000-0000-000000000010";
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

    /// Directories holding the files of a complete export of
    /// `first_run_shell` at `COOKIE_TIME`: the previous run of most tests.
    fn after_first_export() -> Self {
        let dirs = Dirs::new();
        let shell = first_run_shell();
        run(
            &shell,
            &RecordingReporter::default(),
            &dirs.request(COOKIE_TIME, false),
        )
        .unwrap();
        // The host denies what the manifest does not declare.
        assert_eq!(
            shell.undeclared(crate::MANIFEST, "export"),
            Vec::<String>::new()
        );
        dirs
    }

    fn request(&self, started_at: &str, ignore_cookies: bool) -> ExportRequest {
        ExportRequest {
            connection: "ExchangeExport".into(),
            output_dir: self.output.to_string_lossy().into_owned(),
            cookie_dir: self.cookies.to_string_lossy().into_owned(),
            ignore_cookies,
            started_at: started_at.into(),
            max_parallel_pipelines: 1,
            options: Vec::new(),
        }
    }

    fn mailboxes_csv(&self) -> String {
        std::fs::read_to_string(self.output.join("ExchangeExport_mailboxes.csv")).unwrap()
    }

    fn databases_csv(&self) -> String {
        std::fs::read_to_string(self.output.join("ExchangeExport_databases.csv")).unwrap()
    }

    fn cookie(&self) -> String {
        // The runs of written guids (written.rs) and every temporary file
        // are gone once an export ends.
        let names: Vec<String> = std::fs::read_dir(&self.cookies)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["ExchangeExport_cookie.bin"]);
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

mod complete;
mod failures;
mod formulas;
mod incremental;
mod parallel;
mod reconciliation;
