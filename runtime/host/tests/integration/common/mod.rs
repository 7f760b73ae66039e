//! Shared by the host's integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use idconn_host::jobs::{self, ExportOptions, ExportOutcome};
use idconn_host::report::RecordingReporter;
use idconn_host::runtime::{LoadedComponent, Runtime};
use idconn_host::settings::Settings;

/// A component built by `just build-components`.
pub fn component(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../components/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `just build-components` (or `just test`) first",
        path.display()
    );
    path
}

/// Where `just build-components` leaves the Exchange component (it may not
/// be built: only tests that run it need it).
pub fn exchange_component_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../components/target/wasm32-wasip2/release/exchange.wasm")
}

/// The `Grants` the shipped settings give the Exchange component
/// (examples/exchange-grants.json): its fulfill write cmdlets.
pub fn exchange_grants() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/exchange-grants.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A temp agent folder with settings for the given connections, each a JSON
/// object body without Server/AuthType (a replay fixture is added).
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
}

impl Agent {
    pub fn new(connections: &[(&str, &str)], fixture: &str) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("fixture.json"), fixture).expect("write fixture");
        let conns: Vec<String> = connections
            .iter()
            .map(|(id, extra)| {
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!(", {extra}")
                };
                format!(r#""{id}": {{ "AuthType": "Replay", "Server": "fixture.json"{extra} }}"#)
            })
            .collect();
        // Connections without a ComponentPath of their own run the Exchange
        // component (the top-level ComponentPath).
        let exchange = serde_json::to_string(&exchange_component_path()).unwrap();
        let text = format!(
            r#"{{ "ComponentPath": {exchange}, "Connections": {{ {} }} }}"#,
            conns.join(", ")
        );
        let file = dir.path().join("appsettings.agent.json");
        std::fs::write(&file, &text).expect("write settings");
        let settings = Settings::load(&file).expect("settings");
        Agent { dir, settings }
    }

    pub fn output(&self) -> PathBuf {
        self.settings.export_output()
    }

    pub fn cookies(&self) -> PathBuf {
        self.settings.export_cookies()
    }

    pub fn export(
        &self,
        runtime: &Runtime,
        component: &LoadedComponent,
        connection: &str,
        options: &ExportOptions,
    ) -> anyhow::Result<ExportOutcome> {
        let conn = self.settings.connection(connection)?;
        let started_at = jobs::export_started_at(chrono::Utc::now(), conn.incremental_overlap);
        self.export_at(runtime, component, connection, options, &started_at)
    }

    /// The agent with another connection's previous CSV and cookie in the
    /// shared directories, which no job of this agent may read or change.
    pub fn with_victim_files(self) -> Agent {
        std::fs::create_dir_all(self.output()).unwrap();
        std::fs::create_dir_all(self.cookies()).unwrap();
        std::fs::write(self.output().join("Victim_mailboxes.csv"), "previous csv\n").unwrap();
        std::fs::write(
            self.cookies().join("Victim_cookie.bin"),
            "previous cookie\n",
        )
        .unwrap();
        self
    }

    /// [`Agent::export`] at a given start time (ISO 8601 UTC, whole
    /// seconds), for fixtures whose dates are fixed.
    pub fn export_at(
        &self,
        runtime: &Runtime,
        component: &LoadedComponent,
        connection: &str,
        options: &ExportOptions,
        started_at: &str,
    ) -> anyhow::Result<ExportOutcome> {
        let conn = self.settings.connection(connection)?;
        let shell = jobs::open_backend(conn, component)?;
        jobs::export_at(
            runtime,
            &self.settings,
            conn,
            component,
            shell,
            Arc::new(RecordingReporter::default()),
            options,
            started_at,
        )
    }
}

/// Every file below `dir` with its bytes, for before/after comparisons.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let kind = e.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                files.push((p, bytes));
            }
        }
    }
    files.sort();
    files
}
