//! Jobs as the CLI and the agent run them: resolve the connection's
//! component and backend, stage the directories, run, commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::backend::replay::{Fixture, Replay};
use crate::backend::PowerShell;
use crate::bindings::{ExportRequest, ExportSummary};
use crate::grants::{Grants, Operation};
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};
use crate::sandbox::{Job, JobSpec, GUEST_COOKIE_DIR, GUEST_OUTPUT_DIR};
use crate::settings::{AuthType, Connection, Settings};

/// The connection's component: `Connections.<id>.ComponentPath`, else the
/// top-level `ComponentPath` (both resolved when the settings are read),
/// else `--component` (the CLI fills it in). The host has no default
/// connector.
pub fn component_path(conn: &Connection) -> anyhow::Result<PathBuf> {
    conn.component_path.clone().with_context(|| {
        format!(
            "connection {}: no component is set. Set Connections.{}.ComponentPath, or ComponentPath at the top of the settings file (for every connection), or pass --component <file.wasm>",
            conn.id, conn.id
        )
    })
}

/// The connection's component, pinned, compiled or read from the cache,
/// and checked (its `EntityTypes` against the kinds it declares).
pub fn load_component(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
) -> anyhow::Result<LoadedComponent> {
    runtime.set_cache_max_mib(settings.component_cache_max_mib);
    let component = crate::registry::load_for_connection(
        runtime,
        conn,
        &component_path(conn)?,
        &settings.component_cache,
    )?;
    check_entity_types(conn, &component)?;
    Ok(component)
}

/// `EntityTypes` may only name entity kinds the component declares.
pub fn check_entity_types(conn: &Connection, component: &LoadedComponent) -> anyhow::Result<()> {
    let kinds = component.entities();
    for (identifier, kind) in &conn.entity_types {
        if !kinds.iter().any(|k| k == kind) {
            anyhow::bail!(
                "connection {}: Connections.{}.EntityTypes.{identifier} is '{kind}', which {} does not declare (it declares: {})",
                conn.id,
                conn.id,
                component.name(),
                if kinds.is_empty() { "nothing".to_string() } else { kinds.join(", ") }
            );
        }
    }
    Ok(())
}

/// The connection as a job of this component sees it: the component's
/// `configuration-name` when the connection sets no `ConfigurationName`,
/// and its retryable errors (declared, or implied by its contract).
pub fn for_component(conn: &Connection, component: &LoadedComponent) -> Connection {
    let mut conn = conn.clone();
    let manifest = component.manifest.as_ref();
    if conn.configuration_name.is_none() {
        conn.configuration_name = manifest.and_then(|m| m.configuration_name.clone());
    }
    conn.retryable_errors = manifest
        .map(|m| m.retryable_errors.clone())
        .unwrap_or_default();
    conn.retryable_errors.extend(
        component
            .contract
            .implied_retryable_errors()
            .iter()
            .map(|s| s.to_string()),
    );
    conn
}

/// The PowerShell backend of a connection, for a job of `component`.
pub fn open_backend(
    conn: &Connection,
    component: &LoadedComponent,
) -> anyhow::Result<Box<dyn PowerShell>> {
    open_backend_for(&for_component(conn, component))
}

/// The PowerShell backend of a connection already resolved for its component.
fn open_backend_for(conn: &Connection) -> anyhow::Result<Box<dyn PowerShell>> {
    match conn.auth {
        AuthType::Replay => {
            let fixture = Fixture::load(Path::new(&conn.server))?;
            Ok(Box::new(Replay::new(fixture)))
        }
        AuthType::Basic if conn.server.starts_with("https://") => {
            crate::backend::remote::Remote::open(conn)
                .map(|r| Box::new(r) as Box<dyn PowerShell>)
                .map_err(|e| {
                    // A settings file written for idconn's former Basic (HTTP
                    // Basic, which over http needed AllowUnencrypted and is
                    // refused at load now) now means Kerberos: say how to get
                    // the old meaning back.
                    e.context(format!(
                    "connection {}: AuthType Basic is Usercube's, Kerberos with Login and Password; if this server expects HTTP Basic, write \"AuthType\": \"HttpBasic\"",
                    conn.id
                ))
                })
        }
        AuthType::Basic | AuthType::HttpBasic | AuthType::Kerberos | AuthType::None => {
            Ok(Box::new(crate::backend::remote::Remote::open(conn)?))
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ExportOptions {
    pub ignore_cookies: bool,
    pub output_path: Option<PathBuf>,
    pub cookie_path: Option<PathBuf>,
}

#[derive(Debug)]
pub struct ExportOutcome {
    pub summary: ExportSummary,
    /// The CSVs and cookie, as committed.
    pub files: Vec<PathBuf>,
    pub elapsed: Duration,
    pub output_dir: PathBuf,
    pub cookie_dir: PathBuf,
}

/// Runs one export job. On any failure the previous files stay as they were.
pub fn export(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: &LoadedComponent,
    shell: Box<dyn PowerShell>,
    reporter: Arc<dyn Reporter>,
    options: &ExportOptions,
) -> anyhow::Result<ExportOutcome> {
    let started_at = export_started_at(chrono::Utc::now(), conn.incremental_overlap);
    export_at(
        runtime,
        settings,
        conn,
        component,
        shell,
        reporter,
        options,
        &started_at,
    )
}

/// [`export`] with the job's start time given (ISO 8601 UTC, whole
/// seconds): a recording keeps it and a replay reuses it, so a replayed
/// export writes the same window and cookie.
#[allow(clippy::too_many_arguments)]
pub fn export_at(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: &LoadedComponent,
    shell: Box<dyn PowerShell>,
    reporter: Arc<dyn Reporter>,
    options: &ExportOptions,
    started_at: &str,
) -> anyhow::Result<ExportOutcome> {
    let started = Instant::now();
    let output_dir = options
        .output_path
        .clone()
        .unwrap_or_else(|| settings.export_output());
    let cookie_dir = options
        .cookie_path
        .clone()
        .unwrap_or_else(|| settings.export_cookies());
    let staging = crate::staging::Staging::prepare(&output_dir, &cookie_dir, &conn.id)?;
    let mut job = Job::new(
        runtime,
        component,
        JobSpec {
            connection: conn.id.clone(),
            limits: conn.limits.clone(),
            grants: Grants::for_connection(Operation::Export, conn),
            shell,
            reporter: reporter.clone(),
            output_dir: staging.output.clone(),
            cookie_dir: staging.cookies.clone(),
        },
    )?;
    let request = ExportRequest {
        connection: conn.id.clone(),
        output_dir: GUEST_OUTPUT_DIR.into(),
        cookie_dir: GUEST_COOKIE_DIR.into(),
        ignore_cookies: options.ignore_cookies,
        started_at: started_at.to_string(),
        max_parallel_pipelines: conn.max_parallel_pipelines,
        options: conn.options.clone(),
    };
    let result = job.export(&request);
    reporter.finish();
    let summary = result.with_context(|| {
        format!(
            "export of connection {} failed; the previous files in {} and {} are unchanged",
            conn.id,
            output_dir.display(),
            cookie_dir.display()
        )
    })?;
    let files = staging.commit()?;
    Ok(ExportOutcome {
        summary,
        files,
        elapsed: started.elapsed(),
        output_dir,
        cookie_dir,
    })
}

/// The export request's `started-at`: the job's start minus the
/// connection's `IncrementalOverlapSeconds`. The component keeps it as the
/// next window's lower bound, so consecutive windows overlap and a change a
/// DC stamped with a clock behind this host's (or replicated late to the DC
/// that answers) is still in the next export. Passed in the 0.2.0 contract's
/// existing field, so components built against it need no change.
pub fn export_started_at(now: chrono::DateTime<chrono::Utc>, overlap: Duration) -> String {
    let overlap = chrono::TimeDelta::from_std(overlap).unwrap_or(chrono::TimeDelta::zero());
    (now - overlap).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What `check` found.
#[derive(Debug)]
pub enum CheckResult {
    /// The component's own check.
    Report(crate::bindings::CheckReport),
    /// The component's contract has no check (0.2.0): the host opened a
    /// session (the backend was opened) and closed it.
    SessionOnly(crate::bindings::ContractVersion),
}

impl CheckResult {
    /// One line for the operator (component text escaped).
    pub fn summary(&self) -> String {
        match self {
            CheckResult::Report(r) => idconn_psrp::untrusted::for_log(&r.summary, 512),
            CheckResult::SessionOnly(v) => format!(
                "a session opened and closed; the component's contract ({v}) has no check, so nothing more was tested"
            ),
        }
    }

    /// The details as `name: value` lines (component text escaped).
    pub fn detail_lines(&self) -> Vec<String> {
        match self {
            CheckResult::Report(r) => r
                .details
                .iter()
                .take(MAX_CHECK_DETAILS)
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        idconn_psrp::untrusted::for_log(k, 128),
                        idconn_psrp::untrusted::for_log(v, 512)
                    )
                })
                .collect(),
            CheckResult::SessionOnly(_) => Vec::new(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CheckResult::Report(r) => serde_json::json!({
                "summary": self.summary(),
                "details": r.details.iter().take(MAX_CHECK_DETAILS).map(|(k, v)| serde_json::json!([
                    idconn_psrp::untrusted::for_log(k, 128),
                    idconn_psrp::untrusted::for_log(v, 512)
                ])).collect::<Vec<_>>(),
            }),
            CheckResult::SessionOnly(v) => serde_json::json!({
                "summary": self.summary(),
                "contract": v.as_str(),
                "details": [],
            }),
        }
    }
}

/// Detail lines of a check shown at most (a component's list is its own).
const MAX_CHECK_DETAILS: usize = 64;

/// Runs the component's `check` in the sandbox with the connection's
/// session (`shell`, opened by the caller: opening it is the first test).
/// A 0.2.0 component has no check: the session is closed and that is said.
pub fn check(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: &LoadedComponent,
    shell: Box<dyn PowerShell>,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<CheckResult> {
    let scratch = crate::fulfill::Scratch::create(&settings.work_folder, &conn.id)?;
    let mut job = Job::new(
        runtime,
        component,
        JobSpec {
            connection: conn.id.clone(),
            limits: conn.limits.clone(),
            grants: Grants::for_connection(Operation::Check, conn),
            shell,
            reporter: reporter.clone(),
            output_dir: scratch.output.clone(),
            cookie_dir: scratch.cookies.clone(),
        },
    )?;
    let request = crate::bindings::CheckRequest {
        connection: conn.id.clone(),
        options: conn.options.clone(),
    };
    let outcome = job.check(&request);
    reporter.finish();
    // Closes the session before the result is shown.
    drop(job);
    match outcome.with_context(|| format!("check of connection {} failed", conn.id))? {
        crate::sandbox::CheckOutcome::Report(r) => Ok(CheckResult::Report(r)),
        crate::sandbox::CheckOutcome::NoCheck(v) => Ok(CheckResult::SessionOnly(v)),
    }
}
