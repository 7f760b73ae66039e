//! What connector logic needs from its host: running pipelines and
//! reporting. [`HostShell`] and [`HostReporter`] implement them over the
//! component's imports; [`crate::testing`] implements them with a script.

use crate::bindings::idconn::connector::report;
use crate::bindings::idconn::powershell::shell as host;
use crate::{Batch, Command, Error, ErrorRecord, Level, ProgressUpdate};

/// Runs pipelines on the connection's server.
pub trait Shell {
    type Output: PipelineOutput;
    fn invoke(&self, pipeline: &[Command]) -> Result<Self::Output, Error>;
}

/// The output of one running pipeline, pulled in batches.
pub trait PipelineOutput {
    /// The next batch of at most `max` objects; `None` once complete.
    fn next(&mut self, max: u32) -> Result<Option<Batch>, Error>;
    fn errors(&self) -> Vec<ErrorRecord>;
    fn warnings(&self) -> Vec<String>;
}

/// Logs and progress for the operator.
pub trait Reporter {
    fn log(&self, level: Level, message: &str);
    fn progress(&self, update: ProgressUpdate);

    /// Progress of one entity kind (a kind the manifest declares).
    fn count(&self, entity: &str, done: u64, total: Option<u64>) {
        self.progress(ProgressUpdate {
            entity: entity.to_owned(),
            done,
            total,
            total_is_estimate: false,
        });
    }
}

/// The connection's server, through the host's `shell` import. Only
/// callable inside the sandbox: natively, tests use [`crate::testing`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HostShell;

impl Shell for HostShell {
    type Output = host::Output;

    fn invoke(&self, pipeline: &[Command]) -> Result<Self::Output, Error> {
        host::invoke(pipeline)
    }
}

impl PipelineOutput for host::Output {
    fn next(&mut self, max: u32) -> Result<Option<Batch>, Error> {
        host::Output::next(self, max)
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        host::Output::errors(self)
    }

    fn warnings(&self) -> Vec<String> {
        host::Output::warnings(self)
    }
}

/// The host's `report` import.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostReporter;

impl Reporter for HostReporter {
    fn log(&self, level: Level, message: &str) {
        report::log(level, message);
    }

    fn progress(&self, update: ProgressUpdate) {
        report::progress(&update);
    }
}

/// An operator-facing sentence for a failed call of `what` (a cmdlet name).
pub fn describe_error(what: &str, error: &Error) -> String {
    match error {
        Error::Denied(reason) => {
            format!("{what} was denied by the host: {reason} (this job is not granted the cmdlet)")
        }
        Error::Transport(reason) => {
            format!("{what} failed: the connection to the server failed: {reason}")
        }
        Error::Remote(record) => format!("{what} failed: {}", describe_record(record)),
        Error::Retryable(retry) => match retry.retry_after_ms {
            Some(ms) => format!(
                "{what} failed: the server asked to retry after {ms} ms: {}",
                retry.reason
            ),
            None => format!("{what} failed: the server asked to retry: {}", retry.reason),
        },
        Error::Limit(reason) => format!("{what} was stopped by a host limit: {reason}"),
        Error::Timeout => {
            format!("{what} timed out: the server did not answer within the host's call timeout (setting Limits.HostCallTimeoutSeconds)")
        }
    }
}

/// `<message> (<fully qualified error id>)`.
pub fn describe_record(record: &ErrorRecord) -> String {
    if record.fully_qualified_error_id.is_empty() {
        record.message.clone()
    } else {
        format!("{} ({})", record.message, record.fully_qualified_error_id)
    }
}
