//! Load-generator throughput (issue 8): how fast the model produces and the
//! CLIXML serializer writes 100,000 mailboxes. Ignored by default (it is a
//! measurement); run it optimized:
//! `cargo test --release -p exchange-sim --test throughput -- --ignored --nocapture`

mod common;

use common::*;
use exchange_sim::backend::PipelineEvent;
use exchange_sim::exchange::seed::SeedSpec;
use exchange_sim::exchange::{Organization, SerializationLevel};
use idconn_psrp::clixml;
use std::time::Instant;

// The same allocator as the exchange-sim binary, so the numbers are the
// server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COLUMNS: &[&str] = &[
    "Database",
    "EmailAddresses",
    "UseDatabaseRetentionDefaults",
    "RetainDeletedItemsUntilBackup",
    "DeliverToMailboxAndForward",
    "ExchangeGuid",
    "ExchangeUserAccountControl",
    "ForwardingAddress",
    "ForwardingSmtpAddress",
    "IsMailboxEnabled",
    "ProhibitSendQuota",
    "ProhibitSendReceiveQuota",
    "RecoverableItemsQuota",
    "RecoverableItemsWarningQuota",
    "CalendarLoggingQuota",
    "IsResource",
    "IsLinked",
    "IsShared",
    "SamAccountName",
    "AntispamBypassEnabled",
    "ServerName",
    "UseDatabaseQuotaDefaults",
    "UserPrincipalName",
    "WhenMailboxCreated",
    "IsInactiveMailbox",
    "AccountDisabledIsDirSynced",
    "Alias",
    "OrganizationalUnit",
    "DisplayName",
    "MaxSendSize",
    "MaxReceiveSize",
    "PrimarySmtpAddress",
    "RecipientType",
    "RecipientTypeDetails",
    "Identity",
    "IsValid",
    "Name",
    "DistinguishedName",
    "Guid",
    "ObjectCategory",
    "WhenChangedUTC",
    "WhenCreatedUTC",
    "ObjectState",
];

/// Runs the pipeline, serializing each object to CLIXML when asked (the
/// render-only figure isolates the model from the serializer).
fn measure(
    org: &Organization,
    label: &str,
    commands: Vec<idconn_psrp::Command>,
    serialize: bool,
) -> usize {
    let start = Instant::now();
    let mut run = org.invoke_with("admin", commands, SerializationLevel::Default);
    let (mut objects, mut bytes) = (0usize, 0usize);
    while let Some(ev) = run.next_event() {
        match ev {
            PipelineEvent::Output(v) => {
                if serialize {
                    bytes += clixml::to_string(&v).len();
                } else {
                    std::hint::black_box(&v);
                }
                objects += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label}: {objects} objects, {:.1} MB of CLIXML in {secs:.2} s = {:.0} objects/s",
        bytes as f64 / 1e6,
        objects as f64 / secs
    );
    objects
}

#[test]
#[ignore = "a measurement; run with --release -- --ignored --nocapture"]
fn hundred_thousand_mailboxes() {
    let count: u64 = std::env::var("THROUGHPUT_MAILBOXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let start = Instant::now();
    let org = Organization::open(
        SeedSpec {
            mailboxes: count,
            databases: 8,
            seed: 1,
        },
        options(),
    )
    .expect("seed");
    println!(
        "seeding {count} mailboxes: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let unlimited = || cmd("Get-Mailbox").param("ResultSize", text("Unlimited"));
    for serialize in [false, true] {
        let suffix = if serialize {
            " + CLIXML"
        } else {
            ", render only"
        };
        let n = measure(
            &org,
            &format!("Get-Mailbox | Select-Object <44 columns>{suffix}"),
            vec![
                unlimited(),
                cmd("Select-Object").param("Property", list(COLUMNS)),
            ],
            serialize,
        );
        assert_eq!(n as u64, count);
        let n = measure(
            &org,
            &format!("Get-Mailbox (full objects){suffix}"),
            vec![unlimited()],
            serialize,
        );
        assert_eq!(n as u64, count);
    }
}
