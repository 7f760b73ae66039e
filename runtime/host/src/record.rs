//! `idconn record`: runs a job as usual, through the sandbox against the
//! real server, and writes every pipeline the component ran with what the
//! server answered as a replay fixture (docs/replay.md). `idconn test`
//! (crate::testkit) replays it.
//!
//! The fixture holds what the component saw and the job's inputs (its
//! start time, the cookie, the order files), never the settings: no
//! credentials, no server address, no host paths, and those are also
//! masked wherever the server's answers mention them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value as Json};

use crate::backend::fixture_value::{error_record_to_json, object_to_json};
use crate::backend::record::{RecordedCall, Recorder, RecordingHandle};
use crate::backend::replay::argument_to_json;
use crate::backend::PowerShell;
use crate::bindings::CallError;
use crate::grants::Operation;
use crate::redact::Redactor;
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};
use crate::settings::{Connection, Settings};

/// The fixture format this host writes and reads (`Version`).
pub const FIXTURE_VERSION: u64 = 1;

/// What `idconn record` was asked.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub operation: Operation,
    /// Fulfill: the orders directory.
    pub orders: Option<PathBuf>,
    /// Fulfill: the results CSV (default: next to the fixture).
    pub results: Option<PathBuf>,
    /// Export: ignore the cookie (a complete export).
    pub ignore_cookies: bool,
    /// The fixture file to write.
    pub out: PathBuf,
    /// Property and parameter names whose values are masked.
    pub redact: Vec<String>,
    /// Bound on the recorded output.
    pub max_bytes: usize,
}

#[derive(Debug)]
pub struct RecordOutcome {
    pub fixture: PathBuf,
    pub calls: usize,
    pub objects: usize,
    pub redacted_values: usize,
    /// What the job itself printed as its summary.
    pub summary: String,
    /// Files the job committed (CSVs and cookie, or the results file and
    /// the moved order files).
    pub files: Vec<PathBuf>,
}

/// The results file of a recorded fulfill when `--results` is not given.
pub fn default_results(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fixture".into());
    out.with_file_name(format!("{stem}.results.csv"))
}

/// Runs the job with a recording backend and writes the fixture. The job
/// commits its files as it always does; the fixture is written only when
/// the job succeeded.
pub fn record(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: Option<&LoadedComponent>,
    reporter: Arc<dyn Reporter>,
    options: &RecordOptions,
) -> anyhow::Result<RecordOutcome> {
    if options.out.is_dir() {
        bail!(
            "--out {} is a directory; give the fixture's file name, e.g. {}",
            options.out.display(),
            options.out.join("fixture.json").display()
        );
    }
    let op = options.operation;
    if op != Operation::Fulfill && (options.orders.is_some() || options.results.is_some()) {
        bail!(
            "--orders and --results are for --operation fulfill, not {}",
            op.name()
        );
    }
    if op != Operation::Export && options.ignore_cookies {
        bail!(
            "--ignore-cookies is for --operation export, not {}",
            op.name()
        );
    }
    // As production does: the overlap moves the window's start back.
    let started_at = crate::jobs::export_started_at(chrono::Utc::now(), conn.incremental_overlap);
    let mut job = Map::new();
    job.insert("Operation".into(), json!(options.operation.name()));
    job.insert("Connection".into(), json!(conn.id));
    if let Some(grants) = conn.grants.for_operation(options.operation) {
        job.insert("Grants".into(), json!(grants));
    }
    // Set as soon as the recorder exists: a job that fails after it ran
    // pipelines still leaves its fixture.
    let mut handle: Option<RecordingHandle> = None;
    let result = (|| -> anyhow::Result<(String, Vec<PathBuf>)> {
        match options.operation {
            Operation::Export => {
                let component = component.context("internal: an export needs its component")?;
                let cookies = read_cookies(&settings.export_cookies(), &conn.id)?;
                job.insert("StartedAt".into(), json!(started_at));
                job.insert("IgnoreCookies".into(), json!(options.ignore_cookies));
                job.insert("Cookies".into(), Json::Object(cookies));
                let (shell, recording) = recorder(conn, component, options)?;
                handle = Some(recording);
                let outcome = crate::jobs::export_at(
                    runtime,
                    settings,
                    conn,
                    component,
                    shell,
                    reporter,
                    &crate::jobs::ExportOptions {
                        ignore_cookies: options.ignore_cookies,
                        ..Default::default()
                    },
                    &started_at,
                )?;
                let summary = outcome.summary.describe();
                Ok((summary, outcome.files))
            }
            Operation::Check => {
                let component = component.context("internal: a check needs its component")?;
                let (shell, recording) = recorder(conn, component, options)?;
                handle = Some(recording);
                let result =
                    crate::jobs::check(runtime, settings, conn, component, shell, reporter)
                        .with_context(|| format!("connection {} failed its check", conn.id))?;
                let summary = format!("check: {}", result.summary());
                Ok((summary, Vec::new()))
            }
            Operation::Fulfill => {
                let component = component.context("internal: a fulfill needs its component")?;
                let orders = options
                    .orders
                    .clone()
                    .context("--operation fulfill needs --orders DIR (the order files to apply)")?;
                let batch = crate::orders::OrderBatch::load(&orders)?;
                let mut files = Vec::new();
                for file in &batch.files {
                    let bytes = fs::read(&file.path)
                        .with_context(|| format!("cannot read {}", file.path.display()))?;
                    let name = file
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_start_matches('\u{feff}');
                    let json: Json = serde_json::from_str(text).with_context(|| {
                        format!("order file {} is not JSON", file.path.display())
                    })?;
                    files.push(json!({"Name": name, "Json": json}));
                }
                job.insert("Orders".into(), Json::Array(files));
                if !conn.entity_types.is_empty() {
                    let map: Map<String, Json> = conn
                        .entity_types
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect();
                    job.insert("EntityTypes".into(), Json::Object(map));
                }
                let results = options
                    .results
                    .clone()
                    .unwrap_or_else(|| default_results(&options.out));
                let outcome = crate::fulfill::fulfill_with_backend(
                    runtime,
                    settings,
                    conn,
                    component,
                    reporter,
                    batch,
                    &crate::fulfill::FulfillOptions {
                        orders_dir: orders,
                        results_file: results,
                    },
                    &mut |conn: &Connection| {
                        let (shell, recording) = recorder(conn, component, options)?;
                        handle = Some(recording);
                        Ok(shell)
                    },
                )?;
                let summary = format!(
                    "fulfill: {} orders, {} executed, {} errored",
                    outcome.rows.len(),
                    outcome.executed(),
                    outcome.errored()
                );
                let mut files = vec![outcome.results_file.clone()];
                files.extend(outcome.moved.iter().cloned());
                Ok((summary, files))
            }
        }
    })();
    // No recorder: nothing reached the server (a failure before the
    // session, or a fulfill with no order for the component).
    if handle.is_none() {
        if let Err(e) = result {
            return Err(e);
        }
    }
    let recording = handle.unwrap_or_default();
    let calls = recording.calls();
    let objects = calls.iter().map(|c| c.output.len()).sum();
    let mut fixture = json!({
        "Version": FIXTURE_VERSION,
        "Recorded": {
            "By": format!("idconn {}", env!("CARGO_PKG_VERSION")),
            "Redacted": options.redact,
        },
        "Job": Json::Object(job),
        "Calls": calls.iter().map(call_to_json).collect::<Vec<_>>(),
    });
    let mut redactor = Redactor::new(&options.redact);
    scrub_secrets(&mut redactor, settings, conn, options);
    redactor.collect(&fixture);
    redactor.apply(&mut fixture);
    if let Err(e) = &result {
        // A failed session is worth keeping: replayed, it fails the same
        // way. Its error names host paths, masked like everything else.
        fixture["Job"]["Failed"] = json!(redactor.mask_text(&format!("{e:#}")));
    }
    let text = serde_json::to_string_pretty(&fixture)?;
    write_private(&options.out, text.as_bytes())?;
    match result {
        Ok((summary, files)) => Ok(RecordOutcome {
            fixture: options.out.clone(),
            calls: calls.len(),
            objects,
            redacted_values: redactor.redacted_values(),
            summary,
            files,
        }),
        Err(e) => Err(e.context(format!(
            "the job failed; the {} pipelines it ran are in the fixture {} (replaying it reproduces the failure)",
            calls.len(),
            options.out.display()
        ))),
    }
}

fn recorder(
    conn: &Connection,
    component: &crate::runtime::LoadedComponent,
    options: &RecordOptions,
) -> anyhow::Result<(Box<dyn PowerShell>, RecordingHandle)> {
    let inner = crate::jobs::open_backend(conn, component)?;
    let (recorder, handle) = Recorder::new(inner, options.max_bytes);
    Ok((Box::new(recorder), handle))
}

/// The connection's cookie files (`<id>_*` in the cookie directory), which
/// the component reads at its start: base64, by name.
fn read_cookies(dir: &Path, id: &str) -> anyhow::Result<Map<String, Json>> {
    use base64::Engine as _;
    let mut cookies = Map::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cookies),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let prefix = format!("{id}_");
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && entry.file_type()?.is_file() {
            let bytes = fs::read(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            cookies.insert(
                name,
                json!({"Base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
            );
        }
    }
    Ok(cookies)
}

/// One recorded pipeline as a fixture entry that answers once, in order.
fn call_to_json(call: &RecordedCall) -> Json {
    let pipeline: Vec<Json> = call
        .pipeline
        .iter()
        .map(|c| {
            let params: Map<String, Json> = c
                .parameters
                .iter()
                .map(|p| (p.name.clone(), argument_to_json(&p.argument)))
                .collect();
            json!({"Command": c.name, "Parameters": params})
        })
        .collect();
    let mut entry = Map::new();
    entry.insert("Pipeline".into(), Json::Array(pipeline));
    entry.insert("Once".into(), json!(true));
    entry.insert(
        "Output".into(),
        Json::Array(call.output.iter().map(object_to_json).collect()),
    );
    if !call.batches.is_empty() {
        entry.insert("Batches".into(), json!(call.batches));
    }
    if !call.errors.is_empty() {
        entry.insert(
            "Errors".into(),
            Json::Array(call.errors.iter().map(error_record_to_json).collect()),
        );
    }
    if !call.warnings.is_empty() {
        entry.insert("Warnings".into(), json!(call.warnings));
    }
    match &call.failure {
        None => {}
        Some(CallError::Remote(e)) => {
            entry.insert("Error".into(), error_record_to_json(e));
        }
        Some(other) => {
            entry.insert(
                "TransportError".into(),
                json!(crate::backend::call_error_text(other)),
            );
        }
    }
    if call.failed_on_invoke && call.failure.is_some() {
        entry.insert("FailOnInvoke".into(), json!(true));
    }
    Json::Object(entry)
}

/// What never leaves the recording machine, masked wherever the server's
/// answers (or its error texts) mention it.
fn scrub_secrets(
    redactor: &mut Redactor,
    settings: &Settings,
    conn: &Connection,
    options: &RecordOptions,
) {
    // A password by reference is read here only to be masked; one that
    // cannot be read cannot have reached the server either.
    if let Some(Ok(password)) = conn.password.as_ref().map(|p| p.resolve()) {
        redactor.mask_always(password.expose(), "********", false);
    }
    if let Some(login) = &conn.login {
        redactor.mask_always(login, "account", true);
        for part in [login.rsplit('\\').next(), login.split('@').next()]
            .into_iter()
            .flatten()
        {
            redactor.mask_always(part, "account", true);
        }
    }
    // The server: its URL, host:port, FQDN, and the host's first label
    // (Exchange names servers by it: `Server`, `ServerName`).
    redactor.mask_always(&conn.server, "http://server.invalid/PowerShell/", false);
    if let Some(authority) = conn
        .server
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
    {
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host);
        redactor.mask_always(authority, "server.invalid", false);
        redactor.mask_always(host, "server.invalid", true);
        if let Some(label) = host.split('.').next() {
            if label.parse::<u8>().is_err() && label.len() >= 3 {
                redactor.mask_always(label, "SERVER", true);
            }
        }
    }
    let mut paths: Vec<PathBuf> = vec![
        settings.file.clone(),
        settings.temp_folder.clone(),
        settings.work_folder.clone(),
        settings.component_cache.clone(),
        options.out.clone(),
    ];
    paths.extend(settings.file.parent().map(Path::to_path_buf));
    paths.extend(options.out.parent().map(Path::to_path_buf));
    paths.extend(options.orders.clone());
    paths.extend(options.results.clone());
    paths.extend(conn.component_path.clone());
    paths.extend(conn.ca_file.clone());
    paths.extend(conn.client_keytab.clone());
    paths.extend(std::env::current_dir().ok());
    paths.extend(std::env::var_os("HOME").map(PathBuf::from));
    paths.extend(std::env::current_exe().ok());
    for path in paths {
        for variant in [Some(path.clone()), fs::canonicalize(&path).ok()]
            .into_iter()
            .flatten()
        {
            let text = variant.display().to_string();
            // "/" or "." would mask every slash: only real paths.
            if text.len() > 1 && text.contains(std::path::MAIN_SEPARATOR) {
                redactor.mask_always(&text, "<host path>", false);
            }
        }
    }
}

/// Writes the fixture next to its final name, readable by its owner only
/// (it holds directory data), then renames it into place.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("--out {} has no file name", path.display()))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut open = fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let mut file = open.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write the fixture {}", path.display()));
    }
    Ok(())
}
