//! `idconn agent`: a long-running process that runs jobs on request through
//! a loopback HTTP API (`http.rs`), keeps each connection's component
//! versions in a registry and swaps them when the file changes (`watch.rs`),
//! and exports Prometheus metrics (`metrics.rs`).
//!
//! One job at a time per connection: a second request for a busy
//! connection gets `409 Conflict` naming the running job, because two jobs
//! of one connection would share its cookie and its output files. Jobs run
//! on blocking threads; the HTTP side never waits for one.

pub mod http;
mod metrics;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bindings::Level;
use crate::jobs::{self, ExportOptions};
use crate::registry::Registry;
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};
use crate::settings::{Connection, Secret, Settings};

pub use metrics::Metrics;
pub use watch::Watcher;

/// The environment variable holding the agent's bearer token.
pub const TOKEN_ENV: &str = "IDCONN_AGENT_TOKEN";
/// Tokens shorter than this are guessable.
const MIN_TOKEN_LEN: usize = 16;
/// Log lines kept per job; later ones are counted, not kept.
const MAX_JOB_LOG_LINES: usize = 2000;
/// Finished jobs kept for `GET /jobs/{id}`.
const KEPT_JOBS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Export,
    Fulfill,
    Check,
}

impl JobKind {
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Export => "export",
            JobKind::Fulfill => "fulfill",
            JobKind::Check => "check",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

/// `POST /jobs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobRequest {
    pub connection: String,
    pub kind: JobKind,
    /// Export: run a complete export whatever the cookie says.
    #[serde(default)]
    pub ignore_cookies: bool,
    /// Fulfill: the folder of order files.
    pub orders: Option<PathBuf>,
    /// Fulfill: the results CSV.
    pub results: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// `GET /jobs/{id}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: u64,
    pub connection: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub started_at: String,
    pub duration_ms: Option<u64>,
    pub component: Option<ComponentRef>,
    pub progress: Option<u64>,
    /// Total (and whether it is an estimate), elapsed time, rate and time
    /// left at the last progress report.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub progress_figures: Option<crate::progress::ProgressFigures>,
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
    pub logs: Vec<String>,
    pub logs_dropped: u64,
}

/// Why a job was not started.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the agent is shutting down and accepts no new job")]
    Draining,
    #[error("no connection {0} in the settings")]
    UnknownConnection(String),
    #[error("connection {connection} is running job {running}; one job at a time per connection, retry when it ends")]
    Busy { connection: String, running: u64 },
    #[error("{0}")]
    BadRequest(String),
}

#[derive(Default)]
struct JobTable {
    next_id: u64,
    records: BTreeMap<u64, Arc<Mutex<JobRecord>>>,
    busy: HashMap<String, u64>,
}

pub struct Agent {
    settings: Settings,
    registry: Registry,
    token_digest: [u8; 32],
    table: Mutex<JobTable>,
    draining: AtomicBool,
    running: tokio::sync::watch::Sender<usize>,
    pub(crate) metrics: Metrics,
    watcher: Watcher,
}

impl Agent {
    /// Loads every connection's component (a failure is logged, and that
    /// connection's jobs fail until a good version appears).
    pub fn new(settings: Settings, token: &Secret) -> anyhow::Result<Arc<Agent>> {
        if token.expose().len() < MIN_TOKEN_LEN {
            bail!("the agent token is shorter than {MIN_TOKEN_LEN} characters: set AgentToken in the settings or {TOKEN_ENV} to a long random value (e.g. `openssl rand -hex 32`)");
        }
        let runtime = Arc::new(Runtime::new()?);
        runtime.set_cache_max_mib(settings.component_cache_max_mib);
        let registry = Registry::new(runtime, settings.component_cache.clone());
        let agent = Arc::new(Agent {
            settings,
            registry,
            token_digest: Sha256::digest(token.expose().as_bytes()).into(),
            table: Mutex::new(JobTable::default()),
            draining: AtomicBool::new(false),
            running: tokio::sync::watch::Sender::new(0),
            metrics: Metrics::default(),
            watcher: Watcher::default(),
        });
        agent.poll_components();
        Ok(agent)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Offers each connection's component to the registry when its file
    /// changed since the last poll. Returns what changed and how.
    pub fn poll_components(&self) -> Vec<(String, Result<String, String>)> {
        self.watcher.poll(&self.settings, &self.registry)
    }

    /// Compares a presented token with the agent's in constant time (over
    /// digests, so the length does not leak either).
    pub fn authorized(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.token_digest).into()
    }

    pub fn job(&self, id: u64) -> Option<JobRecord> {
        let table = lock(&self.table);
        let record = table.records.get(&id)?.clone();
        drop(table);
        let r = lock(&record).clone();
        Some(r)
    }

    pub fn jobs(&self) -> Vec<JobRecord> {
        let records: Vec<_> = lock(&self.table).records.values().cloned().collect();
        records.iter().map(|r| lock(r).clone()).collect()
    }

    pub fn running_jobs(&self) -> usize {
        *self.running.borrow()
    }

    /// Starts a job on a blocking thread and returns its id at once.
    pub fn submit(self: &Arc<Self>, request: JobRequest) -> Result<u64, SubmitError> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(SubmitError::Draining);
        }
        let conn = self
            .settings
            .connections
            .get(&request.connection)
            .cloned()
            .ok_or_else(|| SubmitError::UnknownConnection(request.connection.clone()))?;
        if request.kind == JobKind::Fulfill
            && (request.orders.is_none() || request.results.is_none())
        {
            return Err(SubmitError::BadRequest(
                "a fulfill job needs \"orders\" (the folder of order files) and \"results\" (the results CSV)".into(),
            ));
        }
        let record = {
            let mut table = lock(&self.table);
            if let Some(&running) = table.busy.get(&conn.id) {
                return Err(SubmitError::Busy {
                    connection: conn.id.clone(),
                    running,
                });
            }
            table.next_id += 1;
            let id = table.next_id;
            let record = Arc::new(Mutex::new(JobRecord {
                id,
                connection: conn.id.clone(),
                kind: request.kind,
                status: JobStatus::Running,
                started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                duration_ms: None,
                component: None,
                progress: None,
                progress_figures: None,
                summary: None,
                error: None,
                logs: Vec::new(),
                logs_dropped: 0,
            }));
            table.records.insert(id, record.clone());
            table.busy.insert(conn.id.clone(), id);
            forget_old_jobs(&mut table);
            // Counted under the table's lock so a drain that starts now
            // sees this job.
            self.running.send_modify(|n| *n += 1);
            record
        };
        let id = lock(&record).id;
        let agent = self.clone();
        tokio::task::spawn_blocking(move || agent.run(&conn, &request, &record));
        Ok(id)
    }

    fn run(&self, conn: &Connection, request: &JobRequest, record: &Arc<Mutex<JobRecord>>) {
        let started = Instant::now();
        let reporter = Arc::new(JobReporter {
            connection: conn.id.clone(),
            record: record.clone(),
            started,
        });
        let result = self.execute(conn, request, record, reporter);
        let elapsed = started.elapsed();
        let (status, objects) = {
            let mut r = lock(record);
            r.duration_ms = Some(elapsed.as_millis() as u64);
            match result {
                Ok((summary, objects)) => {
                    r.status = JobStatus::Succeeded;
                    r.summary = Some(summary);
                    (JobStatus::Succeeded, objects)
                }
                Err(e) => {
                    tracing::warn!(connection = %conn.id, job = r.id, "job failed: {e:#}");
                    r.status = JobStatus::Failed;
                    r.error = Some(format!("{e:#}"));
                    (JobStatus::Failed, 0)
                }
            }
        };
        self.metrics
            .job_finished(request.kind, status, elapsed, objects);
        lock(&self.table).busy.remove(&conn.id);
        self.running.send_modify(|n| *n = n.saturating_sub(1));
    }

    fn execute(
        &self,
        conn: &Connection,
        request: &JobRequest,
        record: &Arc<Mutex<JobRecord>>,
        reporter: Arc<JobReporter>,
    ) -> anyhow::Result<(serde_json::Value, u64)> {
        let runtime = self.registry.runtime();
        match request.kind {
            JobKind::Check => {
                let component = self.component(conn, record)?;
                let shell = jobs::open_backend(conn, &component)?;
                let result =
                    jobs::check(runtime, &self.settings, conn, &component, shell, reporter)
                        .with_context(|| format!("connection {} failed its check", conn.id))?;
                Ok((result.to_json(), 1))
            }
            JobKind::Export => {
                let component = self.component(conn, record)?;
                let shell = jobs::open_backend(conn, &component)?;
                let options = ExportOptions {
                    ignore_cookies: request.ignore_cookies,
                    ..ExportOptions::default()
                };
                let outcome = jobs::export(
                    runtime,
                    &self.settings,
                    conn,
                    &component,
                    shell,
                    reporter,
                    &options,
                )?;
                let s = &outcome.summary;
                Ok((
                    serde_json::json!({
                        "complete": s.complete, "counts": s.counts_json(),
                        "inserts": s.inserts, "updates": s.updates, "deletes": s.deletes,
                        "files": outcome.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                    }),
                    s.total(),
                ))
            }
            JobKind::Fulfill => {
                let component = self.component(conn, record)?;
                let (Some(orders), Some(results)) = (&request.orders, &request.results) else {
                    bail!("a fulfill job needs orders and results");
                };
                let batch = crate::orders::OrderBatch::load(orders)?;
                let options = crate::fulfill::FulfillOptions {
                    orders_dir: orders.clone(),
                    results_file: results.clone(),
                };
                let outcome = crate::fulfill::fulfill(
                    runtime,
                    &self.settings,
                    conn,
                    &component,
                    reporter,
                    batch,
                    &options,
                )?;
                Ok((
                    serde_json::json!({
                        "orders": outcome.rows.len(), "executed": outcome.executed(),
                        "errored": outcome.errored(),
                        "results": outcome.results_file.display().to_string(),
                    }),
                    outcome.rows.len() as u64,
                ))
            }
        }
    }

    /// The active version for a new job; a connection whose component
    /// never loaded gets one more try, so the job's error says why.
    fn component(
        &self,
        conn: &Connection,
        record: &Arc<Mutex<JobRecord>>,
    ) -> anyhow::Result<Arc<LoadedComponent>> {
        let component = match self.registry.active(&conn.id) {
            Some(c) => c,
            None => {
                let path = jobs::component_path(conn)?;
                self.registry.offer(conn, &path)?.active
            }
        };
        lock(record).component = Some(ComponentRef {
            name: component.name(),
            version: component.version(),
            sha256: component.sha256.clone(),
        });
        Ok(component)
    }

    /// Stops accepting jobs and waits until the running ones ended.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let mut running = self.running.subscribe();
        let _ = running.wait_for(|n| *n == 0).await;
    }

    /// Waits until no job runs (without refusing new ones).
    pub async fn wait_idle(&self) {
        let mut running = self.running.subscribe();
        let _ = running.wait_for(|n| *n == 0).await;
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The Prometheus text of `GET /metrics`.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(self)
    }
}

fn forget_old_jobs(table: &mut JobTable) {
    while table.records.len() > KEPT_JOBS {
        let oldest_finished = table
            .records
            .iter()
            .find(|(_, r)| lock(r).status != JobStatus::Running)
            .map(|(id, _)| *id);
        match oldest_finished {
            Some(id) => {
                table.records.remove(&id);
            }
            None => break,
        }
    }
}

/// A job's log lines and progress, kept in its record.
struct JobReporter {
    connection: String,
    record: Arc<Mutex<JobRecord>>,
    started: Instant,
}

impl Reporter for JobReporter {
    fn log(&self, level: Level, message: &str) {
        crate::report::log_to_tracing(&self.connection, level, message);
        let mut r = lock(&self.record);
        if r.logs.len() < MAX_JOB_LOG_LINES {
            r.logs.push(format!("{level:?}: {message}"));
        } else {
            r.logs_dropped += 1;
        }
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        self.update(&crate::progress::ProgressUpdate {
            entity: String::new(),
            done,
            total,
            total_is_estimate: false,
        });
    }

    fn update(&self, update: &crate::progress::ProgressUpdate) {
        let figures = crate::progress::ProgressFigures::new(update, self.started.elapsed());
        let mut record = lock(&self.record);
        record.progress = Some(update.done);
        record.progress_figures = Some(figures);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The token: `IDCONN_AGENT_TOKEN` when set (keeps it out of files), else
/// the settings' `AgentToken` (a value, a reference, or from the encrypted
/// overlay).
pub fn token(settings: &Settings) -> anyhow::Result<Secret> {
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        if !token.is_empty() {
            return Ok(Secret::new(token));
        }
    }
    match &settings.agent_token {
        Some(token) => Ok(token.resolve()?),
        None => bail!("the agent needs a token and has none: set {TOKEN_ENV} or AgentToken in {} to a long random value (e.g. `openssl rand -hex 32`); every request must then send `Authorization: Bearer <token>`", settings.file.display()),
    }
}

/// What `idconn agent` runs: load, listen, serve until SIGTERM or SIGINT,
/// then drain the running jobs and return.
/// `identity`: the age identity of the encrypted overlay (`--identity`).
pub fn run(
    settings_file: &Path,
    identity: Option<&Path>,
    listen: SocketAddr,
    allow_remote: bool,
) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() && !allow_remote {
        bail!("refusing to listen on {listen}: the agent's API runs jobs, so it listens on loopback only (e.g. 127.0.0.1:8080). Use --allow-remote to override, behind TLS and a firewall");
    }
    let settings = Settings::load_with(settings_file, identity)?;
    let token = token(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the agent's runtime")?;
    runtime.block_on(async move {
        let agent = Agent::new(settings, &token)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr()?;
        let shutdown = shutdown_signal();
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "idconn agent listening on http://{local}");
            let _ = out.flush();
        }
        let stop_watching = watch::spawn(agent.clone());
        http::serve(agent.clone(), listener, shutdown).await?;
        tracing::info!(
            running = agent.running_jobs(),
            "shutting down: draining running jobs"
        );
        agent.drain().await;
        stop_watching.store(true, Ordering::Relaxed);
        tracing::info!("drained; exiting");
        Ok(())
    })
}

/// Registers for SIGTERM and SIGINT at once (before the agent announces
/// itself, so a signal can never hit the default action), and completes
/// on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::error!("cannot listen for SIGTERM; stop the agent with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
