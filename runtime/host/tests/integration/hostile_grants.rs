//! Grants and pinning as an operator sees them: the manifest read without
//! running the component, `ComponentSha256` refusing other bytes.

use crate::common::{component, Agent};
use idconn_host::registry::load_for_connection;
use idconn_host::runtime::Runtime;

#[test]
fn inspect_shows_the_declared_grants_name_and_version() {
    let inspection = idconn_host::inspect::inspect(&component("exchange")).unwrap();
    let text = inspection.render();
    assert!(text.contains("name:      exchange"), "{text}");
    assert!(text.contains("version:   0.4.0"), "{text}");
    assert!(
        text.contains("export: Get-MailboxDatabase, Get-Mailbox, Get-User, Select-Object"),
        "{text}"
    );
    assert!(text.contains("Remove-MailboxDatabase"), "{text}");
    assert!(text.contains("contract:  0.4.0"), "{text}");
    assert!(text.contains("entities:  mailbox, database"), "{text}");
    assert!(text.contains("check: Get-MailboxDatabase"), "{text}");
    let manifest = inspection.manifest.unwrap().unwrap();
    // The shipped settings approve exactly the write cmdlets the component
    // declares for fulfill: a missing one fails orders, an extra one is
    // privilege nobody needs.
    let mut writes: Vec<&str> = manifest.grants["fulfill"]
        .iter()
        .map(String::as_str)
        .filter(|c| !idconn_host::grants::is_read_only(c))
        .collect();
    writes.sort_unstable();
    let shipped = crate::common::exchange_grants();
    let mut approved: Vec<&str> = shipped["fulfill"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    approved.sort_unstable();
    assert_eq!(writes, approved);
}

#[test]
fn a_pinned_connection_refuses_other_bytes_and_names_both_digests() {
    let runtime = Runtime::new().unwrap();
    let exchange = component("exchange");
    let actual = idconn_host::inspect::inspect(&exchange).unwrap().sha256;
    let wrong = "0".repeat(64);
    let agent = Agent::new(
        &[
            ("Pinned", &format!(r#""ComponentSha256": "{wrong}""#)),
            (
                "Right",
                &format!(r#""ComponentSha256": "{}""#, actual.to_uppercase()),
            ),
        ],
        r#"{ "Calls": [] }"#,
    );
    let cache = &agent.settings.component_cache;
    let conn = agent.settings.connection("Pinned").unwrap();
    let e = match load_for_connection(&runtime, conn, &exchange, cache) {
        Ok(_) => panic!("a pin mismatch loaded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains(&actual) && e.contains(&wrong), "{e}");
    assert!(e.contains("Connections.Pinned.ComponentSha256"), "{e}");
    assert!(
        !cache.exists(),
        "nothing was compiled for a refused component"
    );

    let conn = agent.settings.connection("Right").unwrap();
    let loaded = load_for_connection(&runtime, conn, &exchange, cache).unwrap();
    assert_eq!(loaded.sha256, actual);
    assert_eq!(loaded.name(), "exchange");
}

#[test]
fn a_malformed_pin_or_grant_setting_is_a_settings_error() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        (
            r#""ComponentSha256": "abc""#,
            "Connections.X.ComponentSha256",
        ),
        (
            r#""Grants": { "export": ["rm -rf"] }"#,
            "Connections.X.Grants.export",
        ),
        (
            r#""Grants": { "delete": [] }"#,
            "Connections.X.Grants.delete",
        ),
    ] {
        let text = format!(
            r#"{{ "Connections": {{ "X": {{ "AuthType": "Replay", "Server": "f.json", {extra} }} }} }}"#
        );
        let e = idconn_host::settings::Settings::parse(&text, "s.json", dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{e}");
    }
}

#[test]
fn a_fulfill_job_cannot_run_a_write_cmdlet_its_manifest_does_not_declare() {
    use idconn_host::fulfill::{fulfill, FulfillOptions};
    let agent = Agent::new(&[("Hostile", "")], r#"{ "Calls": [] }"#);
    let runtime = Runtime::new().unwrap();
    let conn = agent.settings.connection("Hostile").unwrap();
    let hostile = load_for_connection(
        &runtime,
        conn,
        &component("hostile"),
        &agent.settings.component_cache,
    )
    .unwrap();
    let orders = agent.dir.path().join("Orders");
    std::fs::create_dir_all(&orders).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/orders/01-new-hires.json");
    std::fs::copy(example, orders.join("01-new-hires.json")).unwrap();
    let results = agent.dir.path().join("results.csv");
    let before = crate::common::snapshot(&orders);
    let batch = idconn_host::orders::OrderBatch::load(&orders).unwrap();
    let outcome = fulfill(
        &runtime,
        &agent.settings,
        conn,
        &hostile,
        std::sync::Arc::new(idconn_host::report::RecordingReporter::default()),
        batch,
        &FulfillOptions {
            orders_dir: orders.clone(),
            results_file: results.clone(),
        },
    );
    let Err(e) = outcome else {
        panic!("the fulfill job succeeded");
    };
    let e = format!("{e:#}");
    assert!(e.contains("contained: denied"), "{e}");
    assert!(
        e.contains("manifest does not declare it for fulfill"),
        "{e}"
    );
    assert!(!e.contains("ESCAPED"), "{e}");
    assert!(!results.exists());
    assert_eq!(
        before,
        crate::common::snapshot(&orders),
        "the orders stay in place"
    );
}
