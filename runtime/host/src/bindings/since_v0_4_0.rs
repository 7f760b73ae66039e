//! idconn:connector@0.4.0 (`wit/since_v0.4.0`): the latest contract. Its
//! types are the host's own, so its imports call the host directly.

use wasmtime::component::Resource;

use crate::sandbox::{JobState, OutputHandle};

wasmtime::component::bindgen!({
    world: "connector",
    path: "../../wit/since_v0.4.0",
    with: {
        "idconn:powershell/shell.output": crate::sandbox::OutputHandle,
    },
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

/// The export name that says a component targets this contract.
pub const OPERATIONS_EXPORT: &str = "idconn:connector/operations@0.4.0";

use idconn::connector::report;
use idconn::powershell::{shell, values};

impl values::Host for JobState {}

impl shell::Host for JobState {
    fn invoke(
        &mut self,
        pipeline: Vec<shell::Command>,
    ) -> wasmtime::Result<Result<Resource<OutputHandle>, shell::Error>> {
        self.invoke_pipeline(pipeline)
    }
}

impl shell::HostOutput for JobState {
    fn next(
        &mut self,
        output: Resource<OutputHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Option<values::Batch>, shell::Error>> {
        self.next_batch(&output, max)
    }

    fn errors(
        &mut self,
        output: Resource<OutputHandle>,
    ) -> wasmtime::Result<Vec<shell::ErrorRecord>> {
        Ok(self.table().get(&output)?.inner.errors())
    }

    fn warnings(&mut self, output: Resource<OutputHandle>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table().get(&output)?.inner.warnings())
    }

    fn drop(&mut self, output: Resource<OutputHandle>) -> wasmtime::Result<()> {
        self.table().delete(output)?;
        Ok(())
    }
}

impl report::Host for JobState {
    fn log(&mut self, level: report::Level, message: String) -> wasmtime::Result<()> {
        // One escaped record per call, cut at 4 KiB, within the job's
        // MaxLogKiB: a component cannot forge lines nor flood the log.
        self.log_line(level, &message);
        Ok(())
    }

    fn progress(&mut self, update: report::ProgressUpdate) -> wasmtime::Result<()> {
        self.report_progress(update);
        Ok(())
    }
}
