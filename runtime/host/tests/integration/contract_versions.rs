//! Contract versions side by side: one runtime (one agent) loads 0.2.0,
//! 0.3.0 and 0.4.0 components, runs them together, swaps a connection from
//! one to another and back, and refuses a component of another contract
//! naming the versions it supports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::component;
use idconn_host::bindings::ContractVersion;
use idconn_host::jobs::{self, ExportOptions};
use idconn_host::registry::Registry;
use idconn_host::report::RecordingReporter;
use idconn_host::runtime::{LoadedComponent, Runtime};
use idconn_host::settings::Settings;

const DATABASES: &str = r#"{ "Calls": [ { "Pipeline": [ { "Command": "Get-MailboxDatabase" } ],
  "Output": [ { "Properties": { "Name": "DB01" } }, { "Properties": { "Name": "DB02" } } ] } ] }"#;

fn frozen() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exchange-0.2.0.wasm")
}

/// The hot-swap fixture version 1.0.0 as built for contract 0.2.0 (the
/// fixtures are built for today's contract since they use the SDK).
fn frozen_versioned() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/versioned-0.2.0.wasm")
}

/// The minimal fixture (version 3.0.0) as built for contract 0.3.0, whose
/// batches carry a list of cell variants.
fn frozen_minimal() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3-minimal-0.3.0.wasm")
}

struct Setup {
    dir: tempfile::TempDir,
    settings: Settings,
    registry: Registry,
}

impl Setup {
    /// Connections `Old` (0.2.0), `Mid` (0.3.0) and `New` (0.4.0), and
    /// `Swap`, whose component file the test replaces.
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fixture.json"), DATABASES).unwrap();
        let path = |file: PathBuf| serde_json::to_string(&file).unwrap();
        let text = format!(
            r#"{{ "Connections": {{
                "Old": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": {} }},
                "Mid": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": {} }},
                "New": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": {} }},
                "Swap": {{ "AuthType": "Replay", "Server": "fixture.json", "ComponentPath": "swap.wasm" }}
            }} }}"#,
            path(frozen_versioned()),
            path(frozen_minimal()),
            path(component("v3_minimal"))
        );
        let file = dir.path().join("appsettings.agent.json");
        std::fs::write(&file, text).unwrap();
        let settings = Settings::load(&file).unwrap();
        let registry = Registry::new(
            Arc::new(Runtime::new().unwrap()),
            settings.component_cache.clone(),
        );
        Setup {
            dir,
            settings,
            registry,
        }
    }

    fn load(&self, connection: &str) -> Arc<LoadedComponent> {
        let conn = self.settings.connection(connection).unwrap();
        let path = jobs::component_path(conn).unwrap();
        self.registry.offer(conn, &path).unwrap().active
    }

    /// Exports `connection` with `component`; the version written and the
    /// databases counted.
    fn export(&self, connection: &str, component: &LoadedComponent) -> (String, u64) {
        let conn = self.settings.connection(connection).unwrap();
        let out = self.dir.path().join(format!("out-{connection}"));
        let outcome = jobs::export(
            self.registry.runtime(),
            &self.settings,
            conn,
            component,
            jobs::open_backend(conn, component).unwrap(),
            Arc::new(RecordingReporter::default()),
            &ExportOptions {
                ignore_cookies: true,
                output_path: Some(out.join("out")),
                cookie_path: Some(out.join("cookies")),
            },
        )
        .unwrap();
        let first =
            std::fs::read_to_string(out.join("out").join(format!("{connection}_first.csv")))
                .unwrap();
        let version = first.lines().nth(1).unwrap().to_string();
        (version, outcome.summary.count("database"))
    }
}

#[test]
fn one_agent_runs_0_2_0_0_3_0_and_0_4_0_components_side_by_side() {
    let s = Setup::new();
    let old = s.load("Old");
    let mid = s.load("Mid");
    let new = s.load("New");
    assert_eq!(old.contract, ContractVersion::V0_2_0);
    assert_eq!(mid.contract, ContractVersion::V0_3_0);
    assert_eq!(new.contract, ContractVersion::V0_4_0);
    // Concurrently, in one runtime.
    let (a, b, c) = std::thread::scope(|scope| {
        let a = scope.spawn(|| s.export("Old", &old));
        let b = scope.spawn(|| s.export("Mid", &mid));
        let c = scope.spawn(|| s.export("New", &new));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    assert_eq!(a, ("1.0.0".to_string(), 2));
    assert_eq!(b, ("3.0.0".to_string(), 2));
    assert_eq!(c, ("3.0.0".to_string(), 2));
}

#[test]
fn a_connection_swaps_between_contracts_and_back() {
    let s = Setup::new();
    let swap_path = s.dir.path().join("swap.wasm");
    let conn = s.settings.connection("Swap").unwrap();
    for (fixture, version, contract) in [
        (frozen_versioned(), "1.0.0", ContractVersion::V0_2_0),
        (component("v3_minimal"), "3.0.0", ContractVersion::V0_4_0),
        (frozen_minimal(), "3.0.0", ContractVersion::V0_3_0),
        (component("v3_minimal"), "3.0.0", ContractVersion::V0_4_0),
        (frozen_versioned(), "1.0.0", ContractVersion::V0_2_0),
    ] {
        std::fs::copy(fixture, &swap_path).unwrap();
        let swap = s.registry.offer(conn, &swap_path).unwrap();
        assert_eq!(swap.active.contract, contract);
        let active = s.registry.active("Swap").unwrap();
        assert_eq!(s.export("Swap", &active), (version.to_string(), 2));
    }
}

#[test]
fn the_frozen_0_2_0_exchange_component_loads_as_contract_0_2_0() {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let loaded = runtime.load(&frozen(), dir.path()).unwrap();
    assert_eq!(loaded.contract, ContractVersion::V0_2_0);
    // 0.2.0 manifests cannot declare entity kinds: the 0.2.0 bindings'.
    assert_eq!(loaded.entities(), ["mailbox", "database"]);
    let text = idconn_host::inspect::inspect(&frozen()).unwrap().render();
    assert!(text.contains("contract:  0.2.0"), "{text}");
    for (path, contract) in [
        (frozen_minimal(), "0.3.0"),
        (component("v3_minimal"), "0.4.0"),
    ] {
        let text = idconn_host::inspect::inspect(&path).unwrap().render();
        assert!(text.contains(&format!("contract:  {contract}")), "{text}");
        assert!(
            text.contains(&format!("world:     idconn:connector/connector@{contract}")),
            "{text}"
        );
        assert!(text.contains("entities:  database"), "{text}");
    }
}

#[test]
fn a_component_of_no_supported_contract_is_refused_naming_the_supported_ones() {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = match runtime.load(&component("wrong_world"), dir.path()) {
        Ok(_) => panic!("a foreign world loaded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        e.contains("this idconn supports 0.2.0, 0.3.0 and 0.4.0"),
        "{e}"
    );
}

#[test]
fn entity_types_must_name_a_kind_the_component_declares() {
    let s = Setup::new();
    let new = s.load("New");
    let mut conn = s.settings.connection("New").unwrap().clone();
    conn.entity_types = vec![("Infra_Store".into(), "database".into())];
    jobs::check_entity_types(&conn, &new).unwrap();
    conn.entity_types = vec![("HR_MailUser".into(), "mailbox".into())];
    let e = jobs::check_entity_types(&conn, &new)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("EntityTypes.HR_MailUser is 'mailbox'") && e.contains("it declares: database"),
        "{e}"
    );
    // A 0.2.0 component declares the 0.2.0 bindings' kinds.
    let old = s.load("Old");
    jobs::check_entity_types(&conn, &old).unwrap();
}

#[test]
fn components_of_0_3_0_and_0_4_0_run_their_own_check_with_the_options() {
    let s = Setup::new();
    for name in ["Mid", "New"] {
        let component = s.load(name);
        let mut conn = s.settings.connection(name).unwrap().clone();
        conn.options = vec![("Sample".into(), "true".into())];
        let result = jobs::check(
            s.registry.runtime(),
            &s.settings,
            &conn,
            &component,
            jobs::open_backend(&conn, &component).unwrap(),
            Arc::new(RecordingReporter::default()),
        )
        .unwrap();
        assert_eq!(result.summary(), "reached 2 databases", "{name}");
        assert_eq!(
            result.detail_lines(),
            ["version: 3.0.0", "options: 1"],
            "{name}"
        );
    }
}
