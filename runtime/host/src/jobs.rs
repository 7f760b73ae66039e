//! Jobs as the CLI and the agent run them: resolve the connection's
//! component and backend, stage the directories, run, commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::backend::replay::{Fixture, Replay};
use crate::backend::PowerShell;
use crate::bindings::{Command, ExportRequest, ExportSummary, Parameter};
use crate::grants::{Grants, Operation};
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};
use crate::sandbox::{Job, JobSpec, GUEST_COOKIE_DIR, GUEST_OUTPUT_DIR};
use crate::settings::{AuthType, Connection, Settings};

/// Where the default Exchange component is looked for, in order, when a
/// connection has no `ComponentPath`: next to the `idconn` binary (an
/// installed layout), then the build output of this repository.
pub fn default_component_candidates() -> Vec<PathBuf> {
    const BUILT: &str = "components/target/wasm32-wasip2/release/exchange.wasm";
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("exchange.wasm"));
            // target/<profile>/idconn -> the repository root
            if let Some(root) = dir.parent().and_then(Path::parent) {
                candidates.push(root.join(BUILT));
            }
        }
    }
    candidates.push(PathBuf::from(BUILT));
    candidates
}

pub fn component_path(conn: &Connection) -> anyhow::Result<PathBuf> {
    if let Some(p) = &conn.component_path {
        return Ok(p.clone());
    }
    let candidates = default_component_candidates();
    candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
        format!(
            "connection {}: no ComponentPath is set and the Exchange component was not found (looked at {}). Build it with `just build`, or set Connections.{}.ComponentPath",
            conn.id,
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            conn.id
        )
    })
}

/// The connection's component (its `ComponentPath`, or the built Exchange
/// component), pinned, compiled or read from the cache, and checked.
pub fn load_component(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
) -> anyhow::Result<LoadedComponent> {
    runtime.set_cache_max_mib(settings.component_cache_max_mib);
    crate::registry::load_for_connection(
        runtime,
        conn,
        &component_path(conn)?,
        &settings.component_cache,
    )
}

/// The PowerShell backend of a connection.
pub fn open_backend(conn: &Connection) -> anyhow::Result<Box<dyn PowerShell>> {
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
            grants: Grants::read_only(Operation::Export).configured(&conn.id, &conn.grants),
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

/// Usercube's connection check: `Get-MailboxDatabase`, the count and the
/// servers. Runs on the host, no component involved.
pub fn check(shell: &mut dyn PowerShell) -> anyhow::Result<(usize, Vec<String>)> {
    let pipeline = [Command {
        name: "Get-MailboxDatabase".into(),
        parameters: Vec::<Parameter>::new(),
    }];
    let mut output = shell.invoke(&pipeline).map_err(|e| {
        anyhow::anyhow!(
            "Get-MailboxDatabase failed: {}",
            crate::backend::call_error_text(&e)
        )
    })?;
    let mut count = 0;
    let mut servers = Vec::new();
    // Databases whose server is past the first MAX_CHECK_SERVERS: counted,
    // not kept (a hostile server could name millions).
    let mut others = 0usize;
    while let Some(batch) = output.next_batch(256).map_err(|e| {
        anyhow::anyhow!(
            "Get-MailboxDatabase failed: {}",
            crate::backend::call_error_text(&e)
        )
    })? {
        count += batch.objects.len();
        for server in crate::backend::batch::property_texts(&batch, "Server").flatten() {
            // Server text: escaped before it reaches a terminal or a log.
            let server = idconn_psrp::untrusted::for_log(&server, 256);
            if servers.contains(&server) {
                continue;
            }
            if servers.len() < MAX_CHECK_SERVERS {
                servers.push(server);
            } else {
                others += 1;
            }
        }
    }
    if others > 0 {
        servers.push(format!("and {others} more databases on other servers"));
    }
    Ok((count, servers))
}

/// The distinct servers `check` names; the rest are counted.
const MAX_CHECK_SERVERS: usize = 64;
