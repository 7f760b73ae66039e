//! One job's sandbox: a fresh Store with WASI limited to the two preopened
//! directories, the job's limits, and the connector imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::backend::{PipelineOutput, PowerShell};
use crate::bindings::{since_v0_2_0, since_v0_3_0, since_v0_4_0, Failure};
use crate::caplog::CappedLog;
use crate::grants::Grants;
use crate::limits::{JobLimiter, Limits};
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};
use idconn_psrp::untrusted;

/// Denied calls logged one by one per job; past this, one summary audit
/// line counts the rest (a denial loop would otherwise flood the log).
pub const MAX_AUDIT_LINES: u64 = 100;

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
    /// When the job last moved (`MaxStallSeconds`).
    pub(crate) activity: crate::stall::Activity,
    /// The limit that made the host stop the guest, if any.
    pub(crate) stopped: Option<JobError>,
    /// The job's two host directories, measured against the write limits.
    dirs: [std::path::PathBuf; 2],
    stdout: CappedLog,
    stderr: CappedLog,
    /// Bytes written through descriptor writes and sizes set.
    descriptor_bytes: u64,
    /// Bytes written to output streams: files, and stdout/stderr.
    stream_bytes: u64,
    /// What is left of `MaxLogKiB` for `report.log` lines, and what was
    /// dropped past it.
    log_budget: usize,
    pub(crate) log_dropped: (u64, u64),
    /// Denied calls so far (only the first `MAX_AUDIT_LINES` are logged).
    pub(crate) denials: u64,
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

    /// When a wait must end: `MaxStallSeconds` after the job last moved,
    /// or `MaxJobSeconds` after it started if that is set and earlier.
    pub(crate) fn deadline(&self) -> (Instant, crate::stall::Hit) {
        crate::stall::deadline(self.started, &self.activity, &self.limits)
    }

    /// Records `error` as the reason the job stops (the first one wins) and
    /// returns the trap that unwinds the guest.
    pub(crate) fn stop(&mut self, error: JobError) -> wasmtime::Error {
        self.stopped.get_or_insert(error);
        wasmtime::Error::msg("the host stopped the job on a limit")
    }

    /// The end of a WASI wait (`wasi_guard::bounded`): the time waited is
    /// host time; a wait cut by the deadline stops the job on the limit
    /// whose deadline it was.
    pub(crate) fn waited<R>(
        &mut self,
        (started, hit): (Instant, crate::stall::Hit),
        outcome: Option<wasmtime::Result<R>>,
    ) -> wasmtime::Result<R> {
        self.host_time += started.elapsed();
        match outcome {
            Some(result) => result,
            None => Err(self.stop(self.limit_error(hit))),
        }
    }

    fn limit_error(&self, hit: crate::stall::Hit) -> JobError {
        match (hit, self.limits.max_job_time) {
            (crate::stall::Hit::WallClock, Some(max)) => JobError::WallClockLimit(max),
            _ => JobError::StallLimit(self.limits.max_stall),
        }
    }

    /// Bytes written into files, linked or not: descriptor writes, plus
    /// stream writes less what went to stdout and stderr.
    pub(crate) fn file_bytes(&self) -> u64 {
        let logs = self.stdout.received() + self.stderr.received();
        self.descriptor_bytes
            .saturating_add(self.stream_bytes.saturating_sub(logs))
    }

    /// Before a descriptor write of `len` bytes: refused (the job stops)
    /// if it would pass `MaxWrittenMiB`.
    pub(crate) fn count_write(&mut self, len: u64) -> wasmtime::Result<()> {
        if self.file_bytes().saturating_add(len) > self.limits.max_written_bytes {
            return Err(self.write_limit_hit());
        }
        self.descriptor_bytes = self.descriptor_bytes.saturating_add(len);
        Ok(())
    }

    /// After a stream write of `len` bytes (stdout and stderr included,
    /// subtracted by `file_bytes`): the job stops once past `MaxWrittenMiB`.
    pub(crate) fn count_stream_write(&mut self, len: u64) -> wasmtime::Result<()> {
        self.stream_bytes = self.stream_bytes.saturating_add(len);
        if self.file_bytes() > self.limits.max_written_bytes {
            return Err(self.write_limit_hit());
        }
        Ok(())
    }

    fn write_limit_hit(&mut self) -> wasmtime::Error {
        let limit_mib = self.limits.max_written_bytes >> 20;
        self.stop(JobError::WriteLimit { limit_mib })
    }

    /// A `report.log` line within the job's `MaxLogKiB`; past it, lines are
    /// counted and dropped (summed up when the job ends).
    pub(crate) fn log_line(&mut self, level: crate::bindings::Level, message: &str) {
        let shown = untrusted::line(message);
        if !charge_log_record(&mut self.log_budget, shown.len()) {
            self.log_dropped.0 += 1;
            self.log_dropped.1 += message.len() as u64;
            return;
        }
        self.reporter.log(level, &shown);
    }

    /// Checks the limits that are measured rather than enforced by
    /// wasmtime: guest CPU time, the job's wall clock, and what the job has
    /// written. Remembers the first limit hit.
    pub(crate) fn check_limits(&mut self) -> Result<(), ()> {
        if self.stopped.is_some() {
            return Err(());
        }
        let elapsed = self.started.elapsed();
        let limits = &self.limits;
        let hit = if elapsed.saturating_sub(self.host_time) > limits.max_guest_cpu {
            Some(JobError::CpuLimit(limits.max_guest_cpu))
        } else if let Some(hit) = crate::stall::check(self.started, &self.activity, limits) {
            Some(self.limit_error(hit))
        } else if self.file_bytes() > limits.max_written_bytes {
            Some(JobError::WriteLimit {
                limit_mib: limits.max_written_bytes >> 20,
            })
        } else {
            match crate::staging::measure(&self.dirs, limits.max_files) {
                Ok(usage) if usage.entries > limits.max_files => Some(JobError::FileLimit {
                    limit: limits.max_files,
                }),
                Ok(usage) if usage.bytes > limits.max_written_bytes => Some(JobError::WriteLimit {
                    limit_mib: limits.max_written_bytes >> 20,
                }),
                Ok(_) => None,
                Err(e) => Some(JobError::Failed(format!(
                    "cannot measure what the job wrote: {e}"
                ))),
            }
        };
        match hit {
            Some(error) => {
                self.stopped = Some(error);
                Err(())
            }
            None => Ok(()),
        }
    }
}

pub fn add_to_linker(linker: &mut Linker<JobState>) -> anyhow::Result<()> {
    // WASI is linked whole so components built by standard toolchains
    // instantiate; what it can reach is decided per job by the WasiCtx:
    // two preopens, no env, no args, no stdin, no network.
    wasmtime_wasi::p2::add_to_linker_sync(linker).map_err(anyhow::Error::from)?;
    // Waits bounded by the job's deadline, bytes counted where written.
    crate::wasi_guard::add_to_linker(linker)?;
    // Every supported contract's imports, side by side: their names carry
    // their package versions, so a component links to its own.
    since_v0_2_0::Connector::add_to_linker::<JobState, HasSelf<JobState>>(linker, |s| s)
        .map_err(anyhow::Error::from)?;
    since_v0_3_0::Connector::add_to_linker::<JobState, HasSelf<JobState>>(linker, |s| s)
        .map_err(anyhow::Error::from)?;
    since_v0_4_0::Connector::add_to_linker::<JobState, HasSelf<JobState>>(linker, |s| s)
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
    instance: Instance,
}

/// Why a job's guest stopped, when the host stopped it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the component used more than its guest CPU time limit of {0:?} (setting Limits.MaxGuestCpuSeconds)")]
    CpuLimit(Duration),
    #[error("the component tried to grow its memory beyond {limit_mib} MiB (setting Limits.MaxMemoryMiB)")]
    MemoryLimit { limit_mib: u64 },
    #[error(
        "the job ran longer than its wall-clock limit of {0:?} (setting Limits.MaxJobSeconds)"
    )]
    WallClockLimit(Duration),
    #[error("the job made no progress for {0:?}: no object from the server, no pipeline started, no progress reported (setting Limits.MaxStallSeconds)")]
    StallLimit(Duration),
    #[error("the component wrote more than {limit_mib} MiB into ExportOutput and ExportCookies (setting Limits.MaxWrittenMiB)")]
    WriteLimit { limit_mib: u64 },
    #[error(
        "the component created more than {limit} files and directories (setting Limits.MaxFiles)"
    )]
    FileLimit { limit: usize },
    #[error("the component held more than {limit} open files, streams and outputs at once (setting Limits.MaxOpenHandles)")]
    HandleLimit { limit: usize },
    #[error("the component passed more than {limit_mib} MiB to the host in one call (setting Limits.MaxHostCallDataMiB)")]
    HostDataLimit { limit_mib: usize },
    #[error("the component crashed: {trap}{}", stderr_tail(.stderr))]
    Trap { trap: String, stderr: String },
    #[error("{0}")]
    Failed(String),
}

impl JobError {
    /// The setting of the limit that stopped the job, if a limit did.
    pub fn limit_setting(&self) -> Option<&'static str> {
        Some(match self {
            JobError::CpuLimit(_) => "MaxGuestCpuSeconds",
            JobError::MemoryLimit { .. } => "MaxMemoryMiB",
            JobError::WallClockLimit(_) => "MaxJobSeconds",
            JobError::StallLimit(_) => "MaxStallSeconds",
            JobError::WriteLimit { .. } => "MaxWrittenMiB",
            JobError::FileLimit { .. } => "MaxFiles",
            JobError::HandleLimit { .. } => "MaxOpenHandles",
            JobError::HostDataLimit { .. } => "MaxHostCallDataMiB",
            JobError::Trap { .. } | JobError::Failed(_) => return None,
        })
    }
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
        let lines: Vec<String> = tail
            .into_iter()
            .rev()
            .map(|l| untrusted::for_log(l, 512))
            .collect();
        format!(" (its last stderr lines: {})", lines.join(" / "))
    }
}

impl Job {
    pub fn new(
        runtime: &Runtime,
        component: &LoadedComponent,
        spec: JobSpec,
    ) -> anyhow::Result<Job> {
        let max_log_bytes = spec.limits.max_log_bytes;
        let stdout = CappedLog::new(spec.limits.max_log_bytes);
        let stderr = CappedLog::new(spec.limits.max_log_bytes);
        let mut wasi = WasiCtxBuilder::new();
        // Each job runs the guest synchronously on a thread of its own, so
        // file I/O may block it: otherwise every WASI write is handed to a
        // tokio blocking thread and waited for, a thread handoff per 4 KiB
        // of stream writes.
        wasi.allow_blocking_current_thread(true);
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
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(spec.limits.max_open_handles);
                table
            },
            limiter: JobLimiter::new(&spec.limits),
            shell: spec.shell,
            grants: spec
                .grants
                .declared_by(component.manifest.as_ref(), &component.sha256),
            reporter: spec.reporter,
            limits: spec.limits,
            connection: spec.connection,
            component_sha256: component.sha256.clone(),
            host_time: Duration::ZERO,
            started: Instant::now(),
            activity: crate::stall::Activity::new(Instant::now()),
            stopped: None,
            dirs: [spec.output_dir.clone(), spec.cookie_dir.clone()],
            stdout,
            stderr,
            descriptor_bytes: 0,
            stream_bytes: 0,
            log_budget: max_log_bytes,
            log_dropped: (0, 0),
            denials: 0,
        };
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // Guest data lifted into the host per call (a huge argument list,
        // a huge result) is bounded; results travel in batches anyway.
        let limits = store.data().limits.clone();
        store.set_hostcall_fuel(limits.max_host_call_data_bytes);
        store.set_max_component_handles(limits.max_open_handles);
        // Checked every 10 epoch ticks (100 ms): cheap, and precise enough
        // for budgets counted in seconds. WASI has no quota hook, so the
        // bytes written are measured here too: a job can pass its write
        // limit by what it writes in 100 ms before it is stopped, and the
        // final check before commit is exact.
        let check_every = 10;
        store.set_epoch_deadline(check_every);
        store.epoch_deadline_callback(move |mut ctx| match ctx.data_mut().check_limits() {
            Ok(()) => Ok(UpdateDeadline::Continue(check_every)),
            Err(()) => Ok(UpdateDeadline::Interrupt),
        });
        let instantiating = Instant::now();
        let instance = match &component.pre {
            crate::runtime::ConnectorPre::V0_2_0(pre) => {
                pre.instantiate(&mut store).map(Instance::V0_2_0)
            }
            crate::runtime::ConnectorPre::V0_3_0(pre) => {
                pre.instantiate(&mut store).map(Instance::V0_3_0)
            }
            crate::runtime::ConnectorPre::V0_4_0(pre) => {
                pre.instantiate(&mut store).map(Instance::V0_4_0)
            }
        }
        .map_err(anyhow::Error::from)
        .context("cannot instantiate the component")?;
        tracing::debug!(
            component = %component.sha256,
            instantiate_us = instantiating.elapsed().as_micros() as u64,
            "job instance ready"
        );
        Ok(Job { store, instance })
    }

    /// Turns the call's outcome into a job result, naming the limit when
    /// the host stopped the guest, and hands the guest's output to the log.
    pub(crate) fn finish<T>(
        &mut self,
        result: wasmtime::Result<Result<T, Failure>>,
    ) -> Result<T, JobError> {
        let outcome = self.outcome(result);
        if let Some(setting) = outcome.as_ref().err().and_then(JobError::limit_setting) {
            crate::stats::record_limit_hit(setting);
        }
        outcome
    }

    fn outcome<T>(&mut self, result: wasmtime::Result<Result<T, Failure>>) -> Result<T, JobError> {
        self.flush_guest_logs();
        // What the guest wrote is measured once more: the epoch checks are
        // periodic, this one decides what may be committed.
        // A limit hit, now or earlier, is recorded in `stopped`.
        let _ = self.store.data_mut().check_limits();
        let state = self.store.data_mut();
        tracing::debug!(
            "the component's linear memory peaked at {:.1} MiB (setting Limits.MaxMemoryMiB: {} MiB)",
            state.limiter.peak_memory as f64 / f64::from(1u32 << 20),
            state.limits.max_memory_bytes >> 20
        );
        if let Some(stopped) = state.stopped.take() {
            return Err(stopped);
        }
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(failure)) if failure.retryable => Err(JobError::Failed(format!(
                "{} (the component says running it again later may succeed)",
                shorten(&failure.message)
            ))),
            Ok(Err(failure)) => Err(JobError::Failed(shorten(&failure.message))),
            Err(_) if state.limiter.hit => Err(JobError::MemoryLimit {
                limit_mib: state.limits.max_memory_bytes >> 20,
            }),
            Err(e) if is_resource_table_full(&e) => Err(JobError::HandleLimit {
                limit: state.limits.max_open_handles,
            }),
            Err(e) if is_hostcall_fuel_exhausted(&e) => Err(JobError::HostDataLimit {
                limit_mib: state.limits.max_host_call_data_bytes >> 20,
            }),
            Err(trap) => Err(JobError::Trap {
                trap: untrusted::line(&trap_text(&trap)),
                stderr: String::from_utf8_lossy(&state.stderr.contents()).into_owned(),
            }),
        }
    }

    /// The guest's stdout and stderr to the log, one escaped record per
    /// line, and what the host dropped of its logs and audit lines.
    fn flush_guest_logs(&mut self) {
        let state = self.store.data();
        let (lines, bytes) = state.log_dropped;
        if lines > 0 {
            state.reporter.log(
                crate::bindings::Level::Warn,
                &format!(
                    "{lines} more log lines of the component ({bytes} bytes) were dropped: its log passed {} bytes (setting Limits.MaxLogKiB)",
                    state.limits.max_log_bytes
                ),
            );
        }
        if state.denials > MAX_AUDIT_LINES {
            tracing::warn!(
                target: "audit",
                connection = %state.connection,
                component = %state.component_sha256,
                operation = state.grants.operation().name(),
                "denied {} calls in all; {} more denials than the {MAX_AUDIT_LINES} logged above were not logged one by one",
                state.denials,
                state.denials - MAX_AUDIT_LINES
            );
        }
        for (stream, log) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
            let bytes = log.contents();
            let text = String::from_utf8_lossy(&bytes);
            let (lines, more) = guest_stream_lines(&text);
            for line in lines {
                let line = untrusted::line(line);
                tracing::info!(target: "component", connection = %state.connection, stream, "{line}");
            }
            if more > 0 {
                tracing::warn!(
                    target: "component",
                    connection = %state.connection,
                    stream,
                    "{more} more lines of guest {stream} not logged (at most {MAX_GUEST_STREAM_LINES} per stream)"
                );
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

/// The records one guest stream (stdout or stderr) may write to the log.
const MAX_GUEST_STREAM_LINES: usize = 1000;

/// The lines of a guest stream to log, and how many more were not kept:
/// empty lines say nothing, and a stream of short lines is cut at
/// `MAX_GUEST_STREAM_LINES` records (then one summary line).
fn guest_stream_lines(text: &str) -> (Vec<&str>, usize) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let kept = lines.by_ref().take(MAX_GUEST_STREAM_LINES).collect();
    (kept, lines.count())
}

/// What one log record costs beyond its text (timestamp, level, fields):
/// charged so that even empty messages use up `MaxLogKiB`.
const LOG_RECORD_OVERHEAD: usize = 64;

/// Takes one record of `shown_len` escaped bytes from `budget`; false (and
/// the budget spent) when it does not fit, so the record is dropped.
fn charge_log_record(budget: &mut usize, shown_len: usize) -> bool {
    let cost = shown_len.saturating_add(LOG_RECORD_OVERHEAD);
    if cost > *budget {
        *budget = 0;
        return false;
    }
    *budget -= cost;
    true
}

/// A guest's error message is for a person: a huge one is cut.
/// Escaped too: it reaches the operator's log and terminal.
fn shorten(message: &str) -> String {
    const MAX: usize = 4096;
    let shown = untrusted::for_log(message, MAX);
    if message.chars().nth(MAX).is_none() {
        return shown;
    }
    format!(
        "{shown} (the component's message was cut at {MAX} of {} bytes)",
        message.len()
    )
}

fn is_resource_table_full(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<wasmtime::component::ResourceTableError>(),
            Some(wasmtime::component::ResourceTableError::Full)
        )
    }) || {
        let text = format!("{error:#}");
        text.contains("resource table has no free keys")
            || text.contains("store handle limit exceeded")
    }
}

/// wasmtime's error for this is private; its text is the only witness.
fn is_hostcall_fuel_exhausted(error: &wasmtime::Error) -> bool {
    format!("{error:#}").contains("fuel allocated for hostcalls has been exhausted")
}

fn trap_text(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    }
}

#[cfg(test)]
#[path = "sandbox_log_tests.rs"]
mod log_budget_tests;

#[path = "sandbox_calls.rs"]
mod calls;
pub use calls::CheckOutcome;
use calls::Instance;
