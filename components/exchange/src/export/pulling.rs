//! Running one pipeline of an export: batches to the row writer, the
//! pipeline's warnings and errors, and reruns after transient failures.

use idconn_sdk as sdk;
use idconn_sdk::batch::{objects, ObjectRef};
use idconn_sdk::{describe_error, describe_record, PipelineOutput, Reporter, Shell};
use idconn_sdk::{Command, Error, Level};

use super::rows::BatchNo;
use super::{Run, BATCH_SIZE, MAX_ATTEMPTS};

impl<S: Shell, R: Reporter> Run<'_, S, R> {
    /// Runs a pipeline and hands every object to `each`, batch by batch;
    /// after a transient failure, runs it again from the start (`each`
    /// skips what it already wrote), up to [`MAX_ATTEMPTS`] times; a
    /// transient failure past them fails the export as retryable.
    pub(super) fn pull(
        &mut self,
        what: &str,
        pipeline: &[Command],
        mut each: impl FnMut(BatchNo, &ObjectRef<'_>) -> Result<(), String>,
    ) -> Result<(), sdk::Failure> {
        let mut attempt = 1;
        loop {
            match self.pull_once(what, pipeline, &mut each) {
                Ok(()) => return Ok(()),
                Err(Failure::Transient(error)) if attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    self.reporter.log(
                        Level::Warn,
                        &format!(
                            "{}; retry {} of the pipeline (objects already written are skipped)",
                            describe_error(what, &error),
                            attempt - 1
                        ),
                    );
                }
                Err(Failure::Transient(error)) => {
                    return Err(sdk::Failure::retryable(describe_error(what, &error)))
                }
                Err(Failure::Fatal(message)) => return Err(sdk::Failure::fatal(message)),
            }
        }
    }

    /// One run of a pipeline. Non-terminating errors fail the export: an
    /// object the server could not return would otherwise be missing, or
    /// written as deleted.
    fn pull_once(
        &mut self,
        what: &str,
        pipeline: &[Command],
        each: &mut impl FnMut(BatchNo, &ObjectRef<'_>) -> Result<(), String>,
    ) -> Result<(), Failure> {
        let mut output = self
            .shell
            .invoke(pipeline)
            .map_err(|e| Failure::of(what, e))?;
        while let Some(batch) = output.next(BATCH_SIZE).map_err(|e| Failure::of(what, e))? {
            self.batches += 1;
            let batch_no = BatchNo(self.batches);
            for object in objects(&batch) {
                each(batch_no, &object).map_err(Failure::Fatal)?;
            }
            self.done += batch.objects.len() as u64;
            let entity = if what == "Get-MailboxDatabase" {
                crate::DATABASE
            } else {
                crate::MAILBOX
            };
            self.progress(entity);
        }
        self.check_output(what, &output)
    }

    /// The end of a pipeline: its warnings are logged, its non-terminating
    /// errors fail the export.
    pub(super) fn check_output(&self, what: &str, output: &S::Output) -> Result<(), Failure> {
        for warning in output.warnings() {
            self.reporter
                .log(Level::Warn, &format!("{what} warned: {warning}"));
        }
        let errors = output.errors();
        if let Some(first) = errors.first() {
            return Err(Failure::Fatal(format!(
                "{what} reported {} error(s), so the export would be incomplete; the first: {}",
                errors.len(),
                describe_record(first)
            )));
        }
        Ok(())
    }
}

/// Why one run of a pipeline failed.
pub(super) enum Failure {
    /// Worth running again: the connection failed, a host call timed out,
    /// or Exchange throttled the user.
    Transient(Error),
    Fatal(String),
}

impl Failure {
    pub(super) fn of(what: &str, error: Error) -> Failure {
        if is_transient(&error) {
            Failure::Transient(error)
        } else {
            Failure::Fatal(describe_error(what, &error))
        }
    }
}

/// A failure that another try may not meet. Throttling, from Exchange's
/// documentation of user throttling ("Exchange workload management",
/// learn.microsoft.com/exchange/server-health/workload-management): a
/// user over budget gets `OverBudgetException` ("... exceeded your budget
/// ... Please wait for N seconds"), and one holding too many sessions a
/// refusal naming its concurrent shells or connections.
pub fn is_transient(error: &Error) -> bool {
    match error {
        // The host classified it with the manifest's `retryable-errors`
        // and has reconnected or waited as needed.
        Error::Transport(_) | Error::Timeout | Error::Retryable(_) => true,
        Error::Remote(record) => {
            let id = record.fully_qualified_error_id.to_ascii_lowercase();
            let message = record.message.to_ascii_lowercase();
            id.contains("overbudget")
                || id.contains("throttl")
                || message.contains("exceeded your budget")
                || message.contains("concurrent")
        }
        Error::Denied(_) | Error::Limit(_) => false,
    }
}
