//! One job's sandbox: a fresh Store with WASI limited to the two preopened
//! directories, the job's limits, and the connector imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::backend::{PipelineOutput, PowerShell};
use crate::bindings::Connector;
use crate::caplog::CappedLog;
use crate::grants::Grants;
use crate::limits::Limits;
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};

/// Guest paths of the two directories a job may touch.
pub const GUEST_OUTPUT_DIR: &str = "/ExportOutput";
pub const GUEST_COOKIE_DIR: &str = "/ExportCookies";

/// The `output` resource's host side.
pub struct OutputHandle {
    pub(crate) inner: Box<dyn PipelineOutput>,
}

/// Everything one job's Store holds.
pub struct JobState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: JobLimiter,
    pub(crate) shell: Box<dyn PowerShell>,
    pub(crate) grants: Grants,
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) limits: Limits,
    pub(crate) connection: String,
    pub(crate) component_sha256: String,
    /// Time spent in host calls, excluded from the guest CPU budget.
    pub(crate) host_time: Duration,
    started: Instant,
    cpu_exceeded: bool,
    stdout: CappedLog,
    stderr: CappedLog,
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl JobState {
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

pub fn add_to_linker(linker: &mut Linker<JobState>) -> anyhow::Result<()> {
    // WASI is linked whole so components built by standard toolchains
    // instantiate; what it can reach is decided per job by the WasiCtx:
    // two preopens, no env, no args, no stdin, no network.
    wasmtime_wasi::p2::add_to_linker_sync(linker).map_err(anyhow::Error::from)?;
    Connector::add_to_linker::<JobState, HasSelf<JobState>>(linker, |s| s)
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// What a job is given.
pub struct JobSpec {
    pub connection: String,
    pub limits: Limits,
    pub grants: Grants,
    pub shell: Box<dyn PowerShell>,
    pub reporter: Arc<dyn Reporter>,
    /// Host directories preopened as `/ExportOutput` and `/ExportCookies`.
    pub output_dir: std::path::PathBuf,
    pub cookie_dir: std::path::PathBuf,
}

/// A Store and an instance, ready for one call of an export.
pub struct Job {
    store: Store<JobState>,
    instance: Connector,
}

/// Why a job's guest stopped, when the host stopped it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the component used more than its guest CPU time limit of {0:?} (setting Limits.MaxGuestCpuSeconds)")]
    CpuLimit(Duration),
    #[error("the component tried to grow its memory beyond {limit_mib} MiB (setting Limits.MaxMemoryMiB)")]
    MemoryLimit { limit_mib: u64 },
    #[error("the component crashed: {trap}{}", stderr_tail(.stderr))]
    Trap { trap: String, stderr: String },
    #[error("{0}")]
    Failed(String),
}

fn stderr_tail(stderr: &str) -> String {
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(5)
        .collect();
    if tail.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = tail.into_iter().rev().collect();
        format!(" (its last stderr lines: {})", lines.join(" / "))
    }
}

impl Job {
    pub fn new(
        runtime: &Runtime,
        component: &LoadedComponent,
        spec: JobSpec,
    ) -> anyhow::Result<Job> {
        let stdout = CappedLog::new(spec.limits.max_log_bytes);
        let stderr = CappedLog::new(spec.limits.max_log_bytes);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false);
        wasi.preopened_dir(&spec.output_dir, GUEST_OUTPUT_DIR, FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot open {}", spec.output_dir.display()))?;
        wasi.preopened_dir(&spec.cookie_dir, GUEST_COOKIE_DIR, FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot open {}", spec.cookie_dir.display()))?;

        let state = JobState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: JobLimiter {
                max_memory: usize::try_from(spec.limits.max_memory_bytes).unwrap_or(usize::MAX),
                hit: false,
            },
            shell: spec.shell,
            grants: spec.grants,
            reporter: spec.reporter,
            limits: spec.limits,
            connection: spec.connection,
            component_sha256: component.sha256.clone(),
            host_time: Duration::ZERO,
            started: Instant::now(),
            cpu_exceeded: false,
            stdout,
            stderr,
        };
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // Guest data lifted into the host per call (e.g. a huge argument
        // list) is bounded; results travel in batches anyway.
        store.set_hostcall_fuel(16 << 20);
        // Checked every 10 epoch ticks (100 ms): cheap, and precise enough
        // for a budget counted in seconds.
        let check_every = 10;
        store.set_epoch_deadline(check_every);
        store.epoch_deadline_callback(move |mut ctx| {
            let s = ctx.data_mut();
            let guest = s.started.elapsed().saturating_sub(s.host_time);
            if guest > s.limits.max_guest_cpu {
                s.cpu_exceeded = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Continue(check_every))
        });
        let instance = component
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the component")?;
        Ok(Job { store, instance })
    }

    pub fn export(
        &mut self,
        request: &crate::bindings::ExportRequest,
    ) -> Result<crate::bindings::ExportSummary, JobError> {
        let result = self
            .instance
            .idconn_connector_exporter()
            .call_run(&mut self.store, request);
        self.finish(result)
    }

    pub fn fulfill(
        &mut self,
        request: &crate::bindings::fulfiller::FulfillRequest,
    ) -> Result<Vec<crate::bindings::fulfiller::OrderResult>, JobError> {
        let result = self
            .instance
            .idconn_connector_fulfiller()
            .call_run(&mut self.store, request);
        self.finish(result)
    }

    /// Turns the call's outcome into a job result, naming the limit when
    /// the host stopped the guest, and hands the guest's output to the log.
    fn finish<T>(&mut self, result: wasmtime::Result<Result<T, String>>) -> Result<T, JobError> {
        self.flush_guest_logs();
        let state = self.store.data();
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(JobError::Failed(message)),
            Err(_) if state.cpu_exceeded => Err(JobError::CpuLimit(state.limits.max_guest_cpu)),
            Err(_) if state.limiter.hit => Err(JobError::MemoryLimit {
                limit_mib: state.limits.max_memory_bytes >> 20,
            }),
            Err(trap) => Err(JobError::Trap {
                trap: trap_text(&trap),
                stderr: String::from_utf8_lossy(&state.stderr.contents()).into_owned(),
            }),
        }
    }

    fn flush_guest_logs(&mut self) {
        let state = self.store.data();
        for (stream, log) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
            let bytes = log.contents();
            for line in String::from_utf8_lossy(&bytes).lines() {
                tracing::info!(target: "component", connection = %state.connection, stream, "{line}");
            }
            if log.truncated() {
                tracing::warn!(
                    target: "component",
                    connection = %state.connection,
                    stream,
                    "guest {stream} truncated at {} bytes (setting Limits.MaxLogKiB)",
                    state.limits.max_log_bytes
                );
            }
        }
    }
}

fn trap_text(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    }
}

/// Memory and table growth within the job's limits; remembers a refusal so
/// the job's error can name the limit.
struct JobLimiter {
    max_memory: usize,
    hit: bool,
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}
