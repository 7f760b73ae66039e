//! Issue 13, items 7-11: an incremental export misses no change and reports
//! no stale value, whatever the domain controller's clock, and a long export
//! survives a dropped connection and Exchange's throttling. `idconn` and
//! `exchange-sim` over HTTP.

#![allow(clippy::unwrap_used)]

#[allow(unused_imports)]
mod fulfill_support;

use std::collections::BTreeSet;

use fulfill_support::*;

fn sim(spec: SeedSpec, extra: &[&str]) -> Simulator {
    let mut args = vec![
        "--mailboxes".to_string(),
        spec.mailboxes.to_string(),
        "--databases".to_string(),
        spec.databases.to_string(),
        "--seed".to_string(),
        spec.seed.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Simulator::start(args).unwrap()
}

fn mailbox_count(spec: SeedSpec) -> usize {
    seeded_directory(spec)
        .users
        .values()
        .filter(|u| u.mailbox.is_some())
        .count()
}

/// The DC's clock is 5 minutes behind the agent's: a change made after the
/// complete export is stamped before that export's start, and must still be
/// in the next incremental export.
#[test]
fn a_change_stamped_by_a_slow_dc_clock_is_in_the_next_incremental_export() {
    let sim = sim(spec(), &["--clock-skew-seconds", "-300"]);
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    let (sam, _, _) = seeded_user_mailboxes()[0].clone();
    let orders = orders_dir(&agent);
    write_orders(
        &orders,
        "01-modify.json",
        &[order(
            "1",
            "Modified",
            MAILBOX,
            json!({"EmailAddresses_add": ["smtp:skewed.e2e@contoso.com"]}),
            json!({"SamAccountName": sam}),
        )],
    );
    fulfill(&agent).assert_executed("1");
    export_after_changes(&agent);
    let rows = agent.mailboxes().unwrap();
    let row = by(&rows, "SamAccountName", &sam).unwrap_or_else(|| {
        panic!(
            "the change stamped 300 s early is missing: {:?}",
            changed(&rows)
        )
    });
    assert_eq!(row["Command"], "Update");
    assert!(
        addresses(row).contains(&"smtp:skewed.e2e@contoso.com".to_string()),
        "{row:?}"
    );
}

/// Dismounting changes no AD attribute, so WhenChangedUTC stays; the next
/// incremental export still reports the database with `Mounted` False.
#[test]
fn a_dismount_shows_in_the_next_incremental_export() {
    let sim = sim(spec(), &[]);
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    let before = agent.databases().unwrap();
    let db = by(&before, "Name", "DB01").unwrap().clone();
    assert_eq!(db["Mounted"], "True");
    write_orders(
        &orders_dir(&agent),
        "01-dismount.json",
        &[order(
            "1",
            "Modified",
            DATABASE,
            json!({"Mounted": false}),
            json!({"Name": "DB01", "Guid": db["Guid"], "Mounted": true}),
        )],
    );
    fulfill(&agent).assert_executed("1");
    export_after_changes(&agent);
    let rows = agent.databases().unwrap();
    let row = by(&rows, "Guid", &db["Guid"])
        .unwrap_or_else(|| panic!("the dismounted database is missing: {rows:?}"));
    assert_eq!(row["Command"], "Update");
    assert_eq!(row["Mounted"], "False");
    assert_eq!(row["WhenChangedUTC"], db["WhenChangedUTC"]);
    // Nothing changed since: the next export has no row for it.
    export_after_changes(&agent);
    let rows = agent.databases().unwrap();
    assert!(by(&rows, "Guid", &db["Guid"]).is_none(), "{rows:?}");
}

/// The connection drops in the middle of a 20,000-mailbox export: the host
/// reconnects, the component runs the pipeline again and skips what it
/// already wrote, so every mailbox is there exactly once.
#[test]
fn a_dropped_connection_mid_export_is_survived() {
    let spec = SeedSpec {
        mailboxes: 20_000,
        databases: 3,
        seed: 5,
    };
    let sim = sim(spec, &["--drop-after-objects", "10000"]);
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    let out = agent.export().unwrap();
    let text = describe(&out);
    assert!(text.contains("retry"), "the retry is logged: {text}");
    let rows = agent.mailboxes().unwrap();
    let guids: BTreeSet<&str> = rows.iter().map(|r| r["Guid"].as_str()).collect();
    assert_eq!(rows.len(), mailbox_count(spec), "one row per mailbox");
    assert_eq!(guids.len(), rows.len(), "no mailbox twice");
    assert!(rows.iter().all(|r| r["Command"] == "Insert"));
}

/// Exchange refuses a pipeline for budget reasons and asks to wait 5 s;
/// the export waits and completes.
#[test]
fn a_throttled_export_waits_and_completes() {
    let spec = spec();
    let sim = sim(spec, &["--throttle-after", "1", "--throttle-times", "1"]);
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    let out = agent.export().unwrap();
    let text = describe(&out);
    assert!(text.contains("budget"), "the throttling is logged: {text}");
    assert_eq!(agent.mailboxes().unwrap().len(), mailbox_count(spec));
}

/// More failures than `MaxRetries` allows: the export fails as a whole and
/// the previous files stay.
#[test]
fn retries_are_bounded_by_max_retries() {
    let spec = spec();
    let healthy = sim(spec, &[]);
    let agent = Agent::new(healthy.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    let before = fs::read(agent.export_output().join("Exchange_mailboxes.csv")).ok();
    let faulty = sim(spec, &["--drop-after-objects", "5"]);
    let mut connection = faulty.connection("admin", "admin");
    connection["MaxRetries"] = json!(0);
    agent.write_connection(connection).unwrap();
    let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("MaxRetries"), "{text}");
    assert_eq!(
        before,
        fs::read(agent.export_output().join("Exchange_mailboxes.csv")).ok()
    );
}
