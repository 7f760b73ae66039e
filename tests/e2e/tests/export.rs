//! `idconn export` against the simulator over HTTP: the CSVs match the
//! simulator's directory exactly, the full serialization gives the same
//! rows, and every injected fault gives a clear error with nothing written.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use idconn_e2e::{describe, seeded_directory, Agent, Row, SeedSpec, Simulator};

const SPEC: SeedSpec = SeedSpec {
    mailboxes: 300,
    databases: 4,
    seed: 11,
};

fn sim_args(spec: SeedSpec, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--mailboxes".to_string(),
        spec.mailboxes.to_string(),
        "--databases".to_string(),
        spec.databases.to_string(),
        "--seed".to_string(),
        spec.seed.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The CSV form of a multi-valued text: values joined by a space, `%` and
/// space escaped inside a value.
fn multi_valued(values: &[String]) -> String {
    values
        .iter()
        .map(|v| v.replace('%', "%25").replace(' ', "%20"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn utc(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn with_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn assert_quota(column: &str, row: &Row, bytes: Option<u64>) {
    let text = &row[column];
    match bytes {
        None => assert_eq!(text, "Unlimited", "{column} of {}", row["SamAccountName"]),
        Some(b) => assert!(
            text.ends_with(&format!("({} bytes)", with_thousands(b))),
            "{column} of {}: {text} is not {b} bytes",
            row["SamAccountName"]
        ),
    }
}

#[test]
fn a_complete_export_matches_the_simulators_directory() {
    let sim = Simulator::start(sim_args(SPEC, &[])).unwrap();
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    let directory = seeded_directory(SPEC);

    let rows = agent.mailboxes().unwrap();
    let by_guid: BTreeMap<&str, &Row> = rows.iter().map(|r| (r["Guid"].as_str(), r)).collect();
    let users: Vec<_> = directory
        .users
        .values()
        .filter(|u| u.mailbox.is_some())
        .collect();
    assert_eq!(rows.len(), users.len(), "one row per mailbox");
    assert_eq!(by_guid.len(), rows.len(), "guids are unique");

    let db_names: BTreeMap<u64, &str> = directory
        .databases
        .values()
        .map(|d| (d.id, d.name.as_str()))
        .collect();
    for user in users {
        let mbx = user.mailbox.as_ref().unwrap();
        let row = by_guid
            .get(user.guid.as_str())
            .unwrap_or_else(|| panic!("no row for {}", user.sam_account_name));
        let sam = &user.sam_account_name;
        assert_eq!(row["Command"], "Insert", "{sam}");
        assert_eq!(row["SamAccountName"], *sam);
        assert_eq!(row["Name"], user.name, "{sam}");
        assert_eq!(row["DisplayName"], user.display_name, "{sam}");
        assert_eq!(row["UserPrincipalName"], user.user_principal_name, "{sam}");
        assert_eq!(row["OrganizationalUnit"], user.organizational_unit, "{sam}");
        assert_eq!(row["Alias"], mbx.alias, "{sam}");
        assert_eq!(row["ExchangeGuid"], mbx.exchange_guid, "{sam}");
        assert_eq!(row["Database"], db_names[&mbx.database], "{sam}");
        assert_eq!(
            row["RecipientTypeDetails"],
            mbx.kind.recipient_type_details(),
            "{sam}"
        );
        assert_eq!(row["WhenCreatedUTC"], utc(&user.when_created), "{sam}");
        assert_eq!(row["WhenChangedUTC"], utc(&user.when_changed), "{sam}");
        assert_eq!(
            row["WhenMailboxCreated"],
            utc(&mbx.when_mailbox_created),
            "{sam}"
        );
        assert_eq!(
            row["ForwardingAddress"],
            mbx.forwarding_address.clone().unwrap_or_default(),
            "{sam}"
        );
        assert_eq!(
            row["ForwardingSmtpAddress"],
            mbx.forwarding_smtp_address.clone().unwrap_or_default(),
            "{sam}"
        );
        assert_eq!(row["AccountDisabledIsDirSynced"], "", "{sam}");
        assert_quota("ProhibitSendQuota", row, mbx.prohibit_send_quota);
        assert_quota(
            "ProhibitSendReceiveQuota",
            row,
            mbx.prohibit_send_receive_quota,
        );
        assert_quota("MaxSendSize", row, mbx.max_send_size);
        assert_quota("MaxReceiveSize", row, mbx.max_receive_size);

        // Every address kept, the primary first.
        let primary = mbx
            .email_addresses
            .iter()
            .find(|a| a.starts_with("SMTP:"))
            .unwrap_or_else(|| panic!("{sam} has no primary address"));
        let mut expected = vec![primary.clone()];
        expected.extend(
            mbx.email_addresses
                .iter()
                .filter(|a| *a != primary)
                .cloned(),
        );
        assert_eq!(row["EmailAddresses"], multi_valued(&expected), "{sam}");
        assert_eq!(row["PrimarySmtpAddress"], primary["SMTP:".len()..], "{sam}");
    }

    let dbs = agent.databases().unwrap();
    assert_eq!(dbs.len(), directory.databases.len());
    for db in directory.databases.values() {
        let row = dbs
            .iter()
            .find(|r| r["Guid"] == db.guid)
            .expect("database row");
        assert_eq!(row["Name"], db.name);
        assert_eq!(row["Server"], db.server);
        assert_eq!(row["Mounted"], if db.mounted { "True" } else { "False" });
        assert_eq!(row["WhenChangedUTC"], utc(&db.when_changed));
        assert_eq!(row["WhenCreatedUTC"], utc(&db.when_created));
    }
}

#[test]
fn the_full_serialization_gives_the_same_files() {
    let spec = SeedSpec {
        mailboxes: 60,
        databases: 2,
        seed: 5,
    };
    let plain = Simulator::start(sim_args(spec, &[])).unwrap();
    let full = Simulator::start(sim_args(spec, &[])).unwrap();
    let a = Agent::new(plain.connection("admin", "admin")).unwrap();
    let mut connection = full.connection("admin", "admin");
    connection["Server"] = format!(
        "{}?serializationLevel=Full;ExchClientVer=15.1.2044.4;clientApplication=ManagementShell",
        full.url
    )
    .into();
    let b = Agent::new(connection).unwrap();
    a.export().unwrap();
    b.export().unwrap();
    for file in ["Exchange_mailboxes.csv", "Exchange_databases.csv"] {
        // Rows of databases exported in parallel interleave in arrival
        // order: the same rows, in any order.
        let sorted = |agent: &Agent| {
            let text = std::fs::read_to_string(agent.export_output().join(file)).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        assert_eq!(
            sorted(&a),
            sorted(&b),
            "{file} differs between the two serializations"
        );
    }
}

/// Every file below the agent's folders, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["Temp", "Work/ExportCookies"] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push((e.path(), std::fs::read(e.path()).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Exports once from a healthy simulator, then from one with `fault` (same
/// directory): the second export fails with an error containing `expect`,
/// and every file is as the first export left it.
fn fault(fault: &[&str], expect: &str) {
    let spec = SeedSpec {
        mailboxes: 200,
        databases: 2,
        seed: 3,
    };
    let healthy = Simulator::start(sim_args(spec, &[])).unwrap();
    let agent = Agent::new(healthy.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    let before = files(agent.path());

    let faulty = Simulator::start(sim_args(spec, fault)).unwrap();
    let mut connection = faulty.connection("admin", "admin");
    // Transient faults are retried (export_changes.rs); here each one must
    // fail the export at once, with the previous files intact.
    connection["MaxRetries"] = serde_json::json!(0);
    agent.write_connection(connection).unwrap();
    let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
    let text = describe(&out);
    assert!(
        !out.status.success(),
        "{fault:?} did not fail the export: {text}"
    );
    assert!(text.contains("error:"), "{text}");
    assert!(
        text.contains(expect),
        "{fault:?}: expected {expect:?} in: {text}"
    );
    assert!(
        !text.contains("admin:admin") && !text.contains("YWRtaW46YWRtaW4"),
        "credentials leaked: {text}"
    );
    assert_eq!(before, files(agent.path()), "{fault:?} changed files");
}

/// The drop fault fires once: with retries the export would recover
/// (export_changes.rs), so `MaxRetries` 0 makes it fail here.
#[test]
fn a_dropped_connection_mid_stream_writes_nothing() {
    fault(&["--drop-after-objects", "100"], "MaxRetries");
}

#[test]
fn http_500_responses_write_nothing() {
    fault(&["--http-500-from", "4"], "500");
}

#[test]
fn a_malformed_response_writes_nothing() {
    fault(&["--malformed-response-at", "5"], "error");
}

#[test]
fn refused_authentication_says_so() {
    fault(&["--reject-auth"], "authentication failed");
}

#[test]
fn exchange_throttling_fails_the_export_cleanly() {
    fault(&["--throttle-after", "1"], "budget");
}

#[test]
fn added_latency_only_slows_the_export() {
    let spec = SeedSpec {
        mailboxes: 20,
        databases: 1,
        seed: 2,
    };
    let sim = Simulator::start(sim_args(spec, &["--latency-ms", "20"])).unwrap();
    let agent = Agent::new(sim.connection("admin", "admin")).unwrap();
    agent.export().unwrap();
    assert_eq!(
        agent.mailboxes().unwrap().len(),
        seeded_directory(spec)
            .users
            .values()
            .filter(|u| u.mailbox.is_some())
            .count()
    );
}
