//! The Exchange model: directory, cmdlets, OPATH filters, RBAC, seeding.
//!
//! [`Organization`] implements [`ExchangeBackend`]: it checks credentials,
//! refuses scripts and ungranted cmdlets like Exchange's restricted
//! runspace, and runs pipelines lazily over an in-memory directory.

// Error records are what cmdlets produce on their error path (the boundary
// type is fixed by backend.rs); boxing them would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod args;
pub mod cmdlets;
pub mod errors;
pub mod hooks;
pub mod metering;
pub mod model;
pub mod moves;
pub mod opath;
pub mod pipeline;
pub mod rbac;
pub mod render;
pub mod seed;
pub mod state;
pub mod text;

use crate::backend::{ExchangeBackend, PipelineEvent, PipelineRun, SimErrorRecord};
use idconn_psrp::Command;
use model::Directory;
use pipeline::{Ev, Fixed, Run, Stage};
use rbac::UserStore;
use render::RenderCtx;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use text::eq_ci;

/// How long a move request takes when `--move-seconds` is not given.
pub const DEFAULT_MOVE_SECONDS: u64 = 5;

/// How much of each object Exchange serializes: plain `New-PSSession`
/// clients get ADObjectIds and quotas as strings; the URL option
/// `serializationLevel=Full` (the Exchange Management Shell) gets objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializationLevel {
    #[default]
    Default,
    Full,
}

/// Faults of the model itself (the protocol layer has its own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFaults {
    /// Pipelines after the first N (over the server's lifetime) fail with
    /// Exchange's throttling error.
    pub throttle_after: Option<u64>,
    /// With `throttle_after`: only this many pipelines fail, then the
    /// budget recovers (as Exchange's does once the user waited); `None`:
    /// every later pipeline fails.
    pub throttle_times: Option<u64>,
    /// Every Nth pipeline starts with Exchange's micro-delay warning (the
    /// resource-health throttling that slows a client without failing it).
    pub micro_delay_every: Option<u64>,
    /// Seconds a move request takes to complete (`--move-seconds`); `None`
    /// is the default of 5.
    pub move_seconds: Option<u64>,
    /// Test hooks moving a mailbox when a given database is listed
    /// (`--move-when-listing`).
    pub move_hooks: Vec<hooks::MoveHook>,
    /// Simulated server time per object a pipeline's first command
    /// produces, in microseconds (`--object-cost-us`; metering.rs).
    pub object_cost_us: u64,
    /// Where the per-cmdlet counters of objects materialized are written
    /// (`--stats-file`; metering.rs).
    pub stats_file: Option<PathBuf>,
    /// Test hook: the first N pipelines of a cmdlet wait for each other
    /// before their first object (`--rendezvous`; metering.rs).
    pub rendezvous: Option<metering::Rendezvous>,
    /// How long a pipeline waits there (`--rendezvous-timeout-ms`).
    pub rendezvous_timeout: std::time::Duration,
}

pub struct OrgOptions {
    pub users: UserStore,
    pub state_path: Option<PathBuf>,
    pub faults: ModelFaults,
    /// The Exchange server name in error ids (`[Server=EXCH01,...]`).
    pub server_name: String,
}

pub struct Shared {
    dir: RwLock<Directory>,
    state_path: Option<PathBuf>,
    users: UserStore,
    faults: ModelFaults,
    pipelines: AtomicU64,
    pub server_name: String,
    pub meter: Arc<metering::Meter>,
}

impl Shared {
    pub fn read(&self) -> RwLockReadGuard<'_, Directory> {
        // A panic while holding the lock cannot leave the directory half
        // changed (changes are built aside then swapped in), so a poisoned
        // lock is still consistent.
        self.dir.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds a new move request takes ([`ModelFaults::move_seconds`]).
    pub fn move_seconds(&self) -> u64 {
        self.faults.move_seconds.unwrap_or(DEFAULT_MOVE_SECONDS)
    }

    /// Completes the move requests that are due, so that what a pipeline
    /// reads is the state at the moment it runs.
    fn advance_moves(&self) {
        let now = model::now_seconds();
        if !moves::any_due(&self.read(), now) {
            return;
        }
        // A failure to save is logged by mutate; the change itself stands.
        let _ = self.mutate(|dir| Ok(((), moves::advance(dir, now))));
    }

    /// Applies a change under the write lock; `f` returns its result and
    /// whether it changed anything. Changes are saved to the state file.
    pub fn mutate<R>(
        &self,
        f: impl FnOnce(&mut Directory) -> Result<(R, bool), SimErrorRecord>,
    ) -> Result<R, SimErrorRecord> {
        let mut dir = self.dir.write().unwrap_or_else(|e| e.into_inner());
        let (result, changed) = f(&mut dir)?;
        if changed {
            if let Some(path) = &self.state_path {
                if let Err(e) = state::save(path, &dir) {
                    tracing::error!("saving the simulator state: {e:#}");
                    return Err(SimErrorRecord {
                        message: format!(
                            "The change was applied but the simulator could not save its state file {}: {e:#}",
                            path.display()
                        ),
                        fully_qualified_error_id: "StateNotSaved".to_string(),
                        exception_type: "System.IO.IOException".to_string(),
                        category: "WriteError".to_string(),
                        activity: String::new(),
                        target_name: None,
                    });
                }
            }
        }
        Ok(result)
    }
}

/// An Exchange organization served by the simulator.
#[derive(Clone)]
pub struct Organization {
    shared: Arc<Shared>,
}

impl Organization {
    /// Loads `state_path` when it exists, else seeds a directory (and saves
    /// it there when a state path is given).
    pub fn open(spec: seed::SeedSpec, options: OrgOptions) -> anyhow::Result<Self> {
        let loaded = match &options.state_path {
            Some(path) => state::load(path)?,
            None => None,
        };
        let fresh = loaded.is_none();
        let dir = loaded.unwrap_or_else(|| seed::seed(spec));
        if fresh {
            if let Some(path) = &options.state_path {
                state::save(path, &dir)?;
            }
        }
        Ok(Self::from_directory(dir, options))
    }

    pub fn from_directory(dir: Directory, options: OrgOptions) -> Self {
        let meter = Arc::new(
            metering::Meter::new(
                std::time::Duration::from_micros(options.faults.object_cost_us),
                options.faults.stats_file.clone(),
            )
            .with_rendezvous(
                options.faults.rendezvous.clone(),
                options.faults.rendezvous_timeout,
            ),
        );
        Organization {
            shared: Arc::new(Shared {
                dir: RwLock::new(dir),
                state_path: options.state_path,
                users: options.users,
                faults: options.faults,
                pipelines: AtomicU64::new(0),
                server_name: options.server_name,
                meter,
            }),
        }
    }

    /// A copy of the directory as it is now (tests, end-to-end checks).
    pub fn snapshot(&self) -> Directory {
        self.shared.read().clone()
    }

    /// Runs a pipeline with an explicit serialization level (the protocol
    /// layer knows it from the connection URL).
    pub fn invoke_with(
        &self,
        user: &str,
        commands: Vec<Command>,
        level: SerializationLevel,
    ) -> Box<dyn PipelineRun> {
        let render = RenderCtx {
            level,
            offset: self.shared.read().offset(),
        };
        let stage = self.build(user, commands, render);
        Box::new(Run {
            stage,
            ctx: render,
            finished: false,
        })
    }

    fn build(&self, user: &str, commands: Vec<Command>, render: RenderCtx) -> Box<dyn Stage> {
        let failed =
            |e: SimErrorRecord| -> Box<dyn Stage> { Box::new(Fixed([Ev::Failed(e)].into())) };
        let count = self.shared.pipelines.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.advance_moves();
        if self.shared.faults.throttle_after.is_some_and(|limit| {
            count > limit
                && self
                    .shared
                    .faults
                    .throttle_times
                    .is_none_or(|times| count - limit <= times)
        }) {
            return failed(errors::throttled(&self.shared.server_name));
        }
        if commands.is_empty() {
            return Box::new(Fixed(Default::default()));
        }
        let micro_delay = self
            .shared
            .faults
            .micro_delay_every
            .is_some_and(|every| every > 0 && count.is_multiple_of(every));
        // Refusals come first and for the whole pipeline, as the runspace
        // checks every command before running any.
        for command in &commands {
            if command.is_script {
                return failed(errors::script_refused());
            }
        }
        let mut defs = Vec::with_capacity(commands.len());
        for command in &commands {
            let def =
                cmdlets::find(&command.name).filter(|d| self.shared.users.may_run(user, d.id.name));
            match def {
                Some(def) => defs.push(def),
                None => return failed(errors::command_not_found(&command.name)),
            }
        }
        let mut bound = Vec::with_capacity(commands.len());
        for (def, command) in defs.iter().zip(&commands) {
            match args::bind(def.id, def.params, &command.parameters) {
                Ok(b) => bound.push(b),
                Err(e) => return failed(e),
            }
        }
        self.fire_move_hooks(&commands[0]);
        let invocation = cmdlets::Invocation {
            org: self.shared.clone(),
            render,
        };
        let mut upstream: Option<Box<dyn Stage>> = None;
        for (i, (def, b)) in defs.into_iter().zip(bound).enumerate() {
            let stage = (def.build)(&invocation, b, upstream);
            // The first command reads the directory: what it returns is
            // what the server materialized (metering.rs).
            upstream = Some(if i == 0 {
                Box::new(metering::Metered::new(
                    stage,
                    def.id.name,
                    self.shared.meter.clone(),
                ))
            } else {
                stage
            });
        }
        let stage = upstream.unwrap_or_else(|| Box::new(Fixed(Default::default())));
        if micro_delay {
            return Box::new(Prefixed {
                first: Some(Ev::Warning(errors::MICRO_DELAY.to_string())),
                rest: stage,
            });
        }
        stage
    }
}

impl Organization {
    /// Objects materialized so far, by cmdlet (metering.rs).
    pub fn objects_materialized(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.meter.counts()
    }

    /// Runs the `--move-when-listing` hooks of a `Get-Mailbox -Database`.
    fn fire_move_hooks(&self, first: &Command) {
        if self.shared.faults.move_hooks.is_empty() || !eq_ci(&first.name, "Get-Mailbox") {
            return;
        }
        let Some(database) = first
            .parameters
            .iter()
            .find(|p| {
                p.name
                    .as_deref()
                    .is_some_and(|n| n.trim_start_matches('-').eq_ignore_ascii_case("Database"))
            })
            .and_then(|p| match &p.value {
                idconn_psrp::clixml::Value::String(text)
                | idconn_psrp::clixml::Value::Guid(text) => Some(text.clone()),
                _ => None,
            })
        else {
            return;
        };
        let listed = self.shared.read().find_databases(&database, false);
        for hook in &self.shared.faults.move_hooks {
            let wanted = self.shared.read().find_databases(&hook.database, false);
            if listed.iter().any(|id| wanted.contains(id)) && hook.take() {
                let _ = self.shared.mutate(|dir| Ok(((), hook.apply(dir))));
            }
        }
    }
}

/// Emits one event before a stage's own.
struct Prefixed {
    first: Option<Ev>,
    rest: Box<dyn Stage>,
}

impl Stage for Prefixed {
    fn next(&mut self) -> Option<Ev> {
        self.first.take().or_else(|| self.rest.next())
    }
}

impl ExchangeBackend for Organization {
    fn authenticate_basic(&self, user: &str, password: &str) -> Option<String> {
        self.shared.users.authenticate(user, password)
    }

    fn invoke(&self, user: &str, commands: Vec<Command>) -> Box<dyn PipelineRun> {
        self.invoke_with(user, commands, SerializationLevel::Default)
    }

    fn invoke_with_options(
        &self,
        user: &str,
        commands: Vec<Command>,
        options: crate::backend::InvokeOptions,
    ) -> Box<dyn PipelineRun> {
        let level = if options.full_serialization {
            SerializationLevel::Full
        } else {
            SerializationLevel::Default
        };
        self.invoke_with(user, commands, level)
    }
}

/// Drains a pipeline (tests and tools).
pub fn collect(mut run: Box<dyn PipelineRun>) -> Vec<PipelineEvent> {
    let mut events = Vec::new();
    while let Some(ev) = run.next_event() {
        events.push(ev);
    }
    events
}
