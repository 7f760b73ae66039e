//! The connector imports as the host provides them, in the latest
//! contract's types; `bindings::since_v*` adapt each contract's to them.

use std::time::Instant;

use wasmtime::component::Resource;

use crate::backend::describe;
use crate::bindings::{Batch, CallError, Command, ProgressUpdate};
use crate::sandbox::{JobState, OutputHandle, MAX_AUDIT_LINES};
use idconn_psrp::untrusted;

/// Pipelines longer than this are refused: no real connector needs more,
/// and each command is a server round of work.
const MAX_PIPELINE_COMMANDS: usize = 16;

/// Parameters per command: no cmdlet has more, so more is an attack on
/// the backend's encoder or the server.
const MAX_PARAMETERS: usize = 256;

impl JobState {
    /// Runs `f` as host time: excluded from the guest CPU budget.
    /// Also checks the job's limits before and after: a job past its wall
    /// clock or write limit is stopped at its next host call.
    fn timed<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> wasmtime::Result<R> {
        self.stop_if_over_limits()?;
        let started = Instant::now();
        let r = f(self);
        self.host_time += started.elapsed();
        self.stop_if_over_limits()?;
        Ok(r)
    }

    fn stop_if_over_limits(&mut self) -> wasmtime::Result<()> {
        match self.check_limits() {
            Ok(()) => Ok(()),
            // The job's error names the limit (`JobState::stopped`).
            Err(()) => Err(wasmtime::Error::msg("the host stopped the job on a limit")),
        }
    }

    fn check_pipeline(&mut self, pipeline: &[Command]) -> Result<(), CallError> {
        if pipeline.is_empty() {
            return Err(CallError::Denied("an empty pipeline cannot run".into()));
        }
        if pipeline.len() > MAX_PIPELINE_COMMANDS {
            return Err(CallError::Denied(format!(
                "a pipeline of {} commands is refused (at most {MAX_PIPELINE_COMMANDS})",
                pipeline.len()
            )));
        }
        for command in pipeline {
            if command.parameters.len() > MAX_PARAMETERS {
                return Err(self.deny(
                    &command.name,
                    &format!(
                        "has {} parameters; at most {MAX_PARAMETERS} are accepted",
                        command.parameters.len()
                    ),
                ));
            }
            let name_ok = !command.name.is_empty()
                && command.name.len() <= 128
                && command
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !name_ok {
                return Err(self.deny(
                    &command.name,
                    "is not a cmdlet name (pipelines run cmdlets, never scripts)",
                ));
            }
            if let Err(why) = self.grants.check(&command.name) {
                return Err(self.deny(&command.name, &why));
            }
        }
        Ok(())
    }

    /// Refuses a call: an audit line (the first `MAX_AUDIT_LINES` of the
    /// job; the rest are counted in one summary when it ends) and
    /// `error::denied` to the guest. The cmdlet name and the reason (which
    /// may quote it) come from the component: escaped, so a name holding a
    /// line break cannot write a forged line.
    fn deny(&mut self, cmdlet: &str, why: &str) -> CallError {
        crate::stats::record_denial();
        let shown = untrusted::for_log(cmdlet, 128);
        self.denials += 1;
        if self.denials <= MAX_AUDIT_LINES {
            tracing::warn!(
                target: "audit",
                connection = %self.connection,
                component = %self.component_sha256,
                operation = self.grants.operation().name(),
                cmdlet = %shown,
                "denied: {}",
                untrusted::for_log(why, 512)
            );
        }
        CallError::Denied(format!("'{shown}' {}", untrusted::for_log(why, 512)))
    }
}

impl JobState {
    /// `shell.invoke` in the latest contract's types: checked against the
    /// job's grants, then handed to the backend.
    pub(crate) fn invoke_pipeline(
        &mut self,
        pipeline: Vec<Command>,
    ) -> wasmtime::Result<Result<Resource<OutputHandle>, CallError>> {
        if let Err(e) = self.check_pipeline(&pipeline) {
            return Ok(Err(e));
        }
        // Cmdlet names and values are the component's text: escaped and capped.
        tracing::debug!(
            connection = %self.connection,
            "invoke: {}",
            untrusted::for_log(&describe(&pipeline), 1024)
        );
        match self.timed(|s| s.shell.invoke(&pipeline))? {
            Ok(inner) => Ok(Ok(self.table().push(OutputHandle { inner })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// `output.next` in the latest contract's types.
    pub(crate) fn next_batch(
        &mut self,
        output: &Resource<OutputHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Option<Batch>, CallError>> {
        let max = max.clamp(1, self.limits.max_batch_objects) as usize;
        self.table().get(output)?;
        self.timed(|s| match s.table().get_mut(output) {
            Ok(handle) => handle.inner.next_batch(max),
            Err(e) => Err(CallError::Transport(format!("no such output: {e}"))),
        })
    }

    /// `report.progress`: the entity kind is the component's text, capped
    /// here (escaped where it is shown).
    pub(crate) fn report_progress(&mut self, mut update: ProgressUpdate) {
        if update.entity.len() > 64 {
            update.entity = untrusted::for_log(&update.entity, 64);
        }
        self.reporter.progress_update(&update);
    }
}
