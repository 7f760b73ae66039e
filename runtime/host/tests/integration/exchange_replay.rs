//! The Exchange component under wasmtime with the replay backend: complete
//! and incremental exports, and a failure that changes nothing.

#![allow(clippy::unwrap_used)]

use crate::common::{component, snapshot, Agent};
use idconn_host::jobs::ExportOptions;
use idconn_host::runtime::Runtime;

const ID: &str = "Exchange";
const MAILBOX_HEADER: &str = "Command,Database,EmailAddresses,UseDatabaseRetentionDefaults,RetainDeletedItemsUntilBackup,DeliverToMailboxAndForward,ExchangeGuid,ExchangeUserAccountControl,ForwardingAddress,ForwardingSmtpAddress,IsMailboxEnabled,ProhibitSendQuota,ProhibitSendReceiveQuota,RecoverableItemsQuota,RecoverableItemsWarningQuota,CalendarLoggingQuota,IsResource,IsLinked,IsShared,SamAccountName,AntispamBypassEnabled,ServerName,UseDatabaseQuotaDefaults,UserPrincipalName,WhenMailboxCreated,IsInactiveMailbox,AccountDisabledIsDirSynced,Alias,OrganizationalUnit,DisplayName,MaxSendSize,MaxReceiveSize,PrimarySmtpAddress,RecipientType,RecipientTypeDetails,Identity,IsValid,Name,DistinguishedName,Guid,ObjectCategory,WhenChangedUTC,WhenCreatedUTC,ObjectState";
const DATABASE_HEADER: &str =
    "Command,Name,Server,Mounted,ObjectCategory,Guid,WhenChangedUTC,WhenCreatedUTC,ObjectState";

fn fixture(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/replay/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap()
}

type Rows = Vec<std::collections::BTreeMap<String, String>>;

fn read_csv(path: &std::path::Path) -> (String, Rows) {
    let text = std::fs::read_to_string(path).unwrap();
    let header = text.lines().next().unwrap().to_string();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let names: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            names
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn row<'a>(
    rows: &'a Rows,
    column: &str,
    value: &str,
) -> &'a std::collections::BTreeMap<String, String> {
    rows.iter()
        .find(|r| r[column] == value)
        .unwrap_or_else(|| panic!("no row with {column}={value}: {rows:#?}"))
}

struct Setup {
    agent: Agent,
    runtime: Runtime,
    exchange: idconn_host::runtime::LoadedComponent,
}

fn setup(first_fixture: &str) -> Setup {
    let agent = Agent::new(&[(ID, "")], &fixture(first_fixture));
    let runtime = Runtime::new().unwrap();
    let exchange = runtime
        .load(&component("exchange"), &agent.settings.component_cache)
        .unwrap();
    Setup {
        agent,
        runtime,
        exchange,
    }
}

impl Setup {
    fn export(&self) -> anyhow::Result<idconn_host::jobs::ExportOutcome> {
        self.agent
            .export(&self.runtime, &self.exchange, ID, &ExportOptions::default())
    }

    fn use_fixture(&self, name: &str) {
        std::fs::write(self.agent.dir.path().join("fixture.json"), fixture(name)).unwrap();
    }

    fn mailboxes(&self) -> (String, Rows) {
        read_csv(&self.agent.output().join(format!("{ID}_mailboxes.csv")))
    }

    fn databases(&self) -> (String, Rows) {
        read_csv(&self.agent.output().join(format!("{ID}_databases.csv")))
    }
}

#[test]
fn a_complete_export_writes_every_column_type() {
    let s = setup("exchange-v1.json");
    let outcome = s.export().unwrap();
    assert!(outcome.summary.complete);
    assert_eq!(
        (
            outcome.summary.count("mailbox"),
            outcome.summary.count("database")
        ),
        (4, 2)
    );
    assert_eq!(outcome.summary.inserts, 6);

    let (header, rows) = s.mailboxes();
    assert_eq!(header, MAILBOX_HEADER);
    assert!(rows.iter().all(|r| r["Command"] == "Insert"));
    let admin = row(&rows, "SamAccountName", "Administrator");
    // Every address kept, primary first; spaces inside an address escaped.
    assert_eq!(
        admin["EmailAddresses"],
        "SMTP:administrator@contoso.com smtp:admin@contoso.com \
         X500:/o=First%20Organization/ou=Exchange%20Administrative%20Group%20(FYDIBOHF23SPDLT)/cn=Recipients/cn=admin%20a1b2 \
         SIP:administrator@contoso.com smtp:postmaster@contoso.com \
         X400:C=US;A=%20;P=Contoso;O=Exchange;S=Administrator;"
    );
    assert_eq!(admin["WhenMailboxCreated"], "2019-03-01T09:00:00Z");
    assert_eq!(admin["WhenChangedUTC"], "2024-05-06T07:08:09Z");
    assert_eq!(admin["ForwardingAddress"], "");
    assert_eq!(admin["IsMailboxEnabled"], "True");
    assert_eq!(admin["IsShared"], "False");
    assert_eq!(admin["ProhibitSendQuota"], "Unlimited");
    assert_eq!(
        admin["RecoverableItemsQuota"],
        "30 GB (32,212,254,720 bytes)"
    );
    assert_eq!(admin["Guid"], "0f29ba80-17c3-4c51-9d94-d017c850e3be");
    assert_eq!(admin["AccountDisabledIsDirSynced"], "");

    let zoe = row(&rows, "SamAccountName", "zangstrom");
    assert_eq!(zoe["DisplayName"], "Ångström, Zoë \"Zo\"");
    assert_eq!(
        zoe["EmailAddresses"],
        "SMTP:zoe.angstrom@contoso.com smtp:zoe@contoso.com"
    );
    assert_eq!(zoe["ProhibitSendQuota"], "2 GB (2,147,483,648 bytes)");
    let room = row(&rows, "SamAccountName", "room101");
    assert_eq!(room["DisplayName"], "Room 101\nsecond floor, east wing");
    assert_eq!(room["RecipientTypeDetails"], "RoomMailbox");
    let sales = row(&rows, "SamAccountName", "sales");
    assert_eq!(sales["Database"], "DB02", "a nested object is its ToString");
    assert_eq!(sales["UserPrincipalName"], "");
    assert_eq!(sales["WhenChangedUTC"], "2021-12-31T23:59:59.500Z");

    let (header, dbs) = s.databases();
    assert_eq!(header, DATABASE_HEADER);
    assert_eq!(row(&dbs, "Name", "DB02")["Mounted"], "False");
    assert!(s.agent.cookies().join(format!("{ID}_cookie.bin")).is_file());
}

#[test]
fn an_incremental_export_writes_insert_update_and_delete() {
    // The fixtures' changes are dated 2026-11-27T09:00:00Z: the first
    // export starts before them and the second after, as on a real server
    // (the component applies the window's lower bound itself).
    let s = setup("exchange-v1.json");
    let at = |started_at: &str| {
        s.agent.export_at(
            &s.runtime,
            &s.exchange,
            ID,
            &ExportOptions::default(),
            started_at,
        )
    };
    at("2026-11-27T08:00:00Z").unwrap();
    s.use_fixture("exchange-v2.json");
    let outcome = at("2026-11-27T10:00:00Z").unwrap();
    assert!(!outcome.summary.complete);
    let (header, rows) = s.mailboxes();
    assert_eq!(header, MAILBOX_HEADER);
    assert_eq!(
        row(&rows, "SamAccountName", "zangstrom")["Command"],
        "Update"
    );
    assert!(row(&rows, "SamAccountName", "zangstrom")["EmailAddresses"]
        .ends_with("smtp:zangstrom@contoso.com"));
    assert_eq!(row(&rows, "SamAccountName", "nvan")["Command"], "Insert");
    let deleted = row(&rows, "Guid", "22222222-3333-4444-8555-666666666666");
    assert_eq!(deleted["Command"], "Delete");
    assert_eq!(rows.len(), 3, "only the changes: {rows:#?}");

    let (_, dbs) = s.databases();
    assert_eq!(row(&dbs, "Name", "DB03")["Command"], "Insert");
    assert_eq!(
        row(&dbs, "Guid", "aaaaaaaa-0000-4000-8000-000000000002")["Command"],
        "Delete"
    );
    assert_eq!(
        (
            outcome.summary.inserts,
            outcome.summary.updates,
            outcome.summary.deletes
        ),
        (2, 1, 2)
    );
}

#[test]
fn a_failure_in_the_middle_leaves_previous_files_and_cookie_byte_identical() {
    let s = setup("exchange-v1.json");
    s.export().unwrap();
    let before = snapshot(s.agent.dir.path());
    s.use_fixture("exchange-broken.json");
    let error = format!("{:#}", s.export().unwrap_err());
    assert!(
        error.contains("the connection was reset after 2 objects"),
        "{error}"
    );
    assert!(error.contains("unchanged"), "{error}");
    let mut after = snapshot(s.agent.dir.path());
    // The fixture file itself was swapped by the test; compare the rest.
    let fixture_path = s.agent.dir.path().join("fixture.json");
    after.retain(|(p, _)| *p != fixture_path);
    let mut before = before;
    before.retain(|(p, _)| *p != fixture_path);
    assert_eq!(before, after);
}

#[test]
fn ignore_cookies_forces_a_complete_export() {
    let s = setup("exchange-v1.json");
    s.export().unwrap();
    s.use_fixture("exchange-v2.json");
    let outcome = s
        .agent
        .export(
            &s.runtime,
            &s.exchange,
            ID,
            &ExportOptions {
                ignore_cookies: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(outcome.summary.complete);
    let (_, rows) = s.mailboxes();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["Command"] == "Insert"));
}
