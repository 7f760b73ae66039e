// The benchmark's replayed data, shared as source by the native harness
// (this example) and the wasm side (tests/bench, via `#[path]`), so both
// run the export on exactly the same objects. Plain Rust with no imports:
// each side maps `SampleValue` to its own binding types.

/// A property value, in the shapes Exchange's default serialization sends.
#[derive(Debug, Clone)]
pub enum SampleValue {
    Null,
    Text(String),
    Boolean(bool),
    Guid(String),
    DateTime(String),
    List(Vec<String>),
}

/// The `Select-Object` output of mailbox `i`: the 42 selected properties,
/// in the order the component asks for them.
pub fn sample_mailbox(i: u64) -> Vec<(&'static str, SampleValue)> {
    use SampleValue::*;
    let name = format!("user{i:06}");
    let db = format!("DB{:02}", i % 50 + 1);
    let text = |s: &str| Text(s.to_owned());
    let guid = |seed: u64| {
        Guid(format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            seed as u32,
            (seed >> 32) as u16,
            i % 0xfff,
            (i >> 12) % 0xfff,
            i.wrapping_mul(2_654_435_761)
        ))
    };
    let date = |day: u64| {
        DateTime(format!(
            "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
            day % 12 + 1,
            day % 28 + 1,
            i % 24,
            i % 60,
            (i * 7) % 60,
            i % 10_000_000
        ))
    };
    let dn = format!("CN={name},OU=Users,OU=Paris,DC=contoso,DC=com");
    let mut addresses = vec![
        format!("smtp:{name}@contoso.onmicrosoft.com"),
        format!("SMTP:{name}@contoso.com"),
    ];
    if i.is_multiple_of(3) {
        addresses.push(format!(
            "X500:/o=First Organization/ou=Exchange Administrative Group/cn=Recipients/cn={name}"
        ));
    }
    vec![
        ("Database", Text(db)),
        ("EmailAddresses", List(addresses)),
        ("UseDatabaseRetentionDefaults", Boolean(true)),
        ("RetainDeletedItemsUntilBackup", Boolean(false)),
        ("DeliverToMailboxAndForward", Boolean(i.is_multiple_of(7))),
        ("ExchangeGuid", guid(i ^ 0x5a5a_5a5a)),
        ("ExchangeUserAccountControl", text("None")),
        ("ForwardingAddress", Null),
        ("ForwardingSmtpAddress", Null),
        ("IsMailboxEnabled", Boolean(true)),
        ("ProhibitSendQuota", text("Unlimited")),
        (
            "ProhibitSendReceiveQuota",
            text("2 GB (2,147,483,648 bytes)"),
        ),
        (
            "RecoverableItemsQuota",
            text("30 GB (32,212,254,720 bytes)"),
        ),
        (
            "RecoverableItemsWarningQuota",
            text("20 GB (21,474,836,480 bytes)"),
        ),
        ("CalendarLoggingQuota", text("6 GB (6,442,450,944 bytes)")),
        ("IsResource", Boolean(false)),
        ("IsLinked", Boolean(false)),
        ("IsShared", Boolean(i.is_multiple_of(11))),
        ("SamAccountName", Text(name.clone())),
        ("AntispamBypassEnabled", Boolean(false)),
        ("ServerName", text("exch01")),
        ("UseDatabaseQuotaDefaults", Boolean(true)),
        ("UserPrincipalName", Text(format!("{name}@contoso.com"))),
        ("WhenMailboxCreated", date(i)),
        ("IsInactiveMailbox", Boolean(false)),
        ("Alias", Text(name.clone())),
        ("OrganizationalUnit", text("contoso.com/Paris/Users")),
        ("DisplayName", Text(format!("User {i}, Paris"))),
        ("MaxSendSize", text("Unlimited")),
        ("MaxReceiveSize", text("Unlimited")),
        ("PrimarySmtpAddress", Text(format!("{name}@contoso.com"))),
        ("RecipientType", text("UserMailbox")),
        ("RecipientTypeDetails", text("UserMailbox")),
        ("Identity", Text(format!("contoso.com/Paris/Users/{name}"))),
        ("IsValid", Boolean(true)),
        ("Name", Text(name)),
        ("DistinguishedName", Text(dn)),
        ("Guid", guid(i)),
        (
            "ObjectCategory",
            text("contoso.com/Configuration/Schema/Person"),
        ),
        ("WhenChangedUTC", date(i + 3)),
        ("WhenCreatedUTC", date(i + 1)),
        ("ObjectState", text("Unchanged")),
    ]
}

/// The `Select-Object` output of database `i`.
pub fn sample_database(i: u64) -> Vec<(&'static str, SampleValue)> {
    use SampleValue::*;
    vec![
        ("Name", Text(format!("DB{:02}", i + 1))),
        ("Server", Text("EXCH01".to_owned())),
        ("Mounted", Boolean(true)),
        (
            "ObjectCategory",
            Text("contoso.com/Configuration/Schema/ms-Exch-Private-MDB".to_owned()),
        ),
        (
            "Guid",
            Guid(format!("0000db{i:02x}-0000-4000-8000-{i:012x}")),
        ),
        (
            "WhenChangedUTC",
            DateTime(format!("2024-01-{:02}T08:00:00Z", i % 28 + 1)),
        ),
        (
            "WhenCreatedUTC",
            DateTime("2023-06-01T08:00:00Z".to_owned()),
        ),
        ("ObjectState", Text("Unchanged".to_owned())),
    ]
}

/// Silences dead-code warnings on the side that uses a subset.
#[allow(dead_code)]
pub const SAMPLE_CONNECTION: &str = "Bench";
/// The export's start time on both sides, so the cookies are equal too.
#[allow(dead_code)]
pub const SAMPLE_STARTED_AT: &str = "2026-01-01T00:00:00Z";
