//! A complete export split by mailbox database, run `parallel` pipelines
//! at a time.
//!
//! Exchange serves one pipeline per request from one thread, reading the
//! directory object by object: a single `Get-Mailbox -ResultSize Unlimited`
//! is as slow as the server's per-object cost allows, however many cores
//! it has. One `Get-Mailbox -Database <guid>` per database (Get-Mailbox.md:
//! "The Database parameter filters the results by mailbox database")
//! partitions the mailboxes, since a mailbox is on exactly one database,
//! and several of them run at once.
//!
//! Pulling: up to `parallel` pipelines are open; each turn takes one batch
//! from each open pipeline in turn (round robin) and writes its rows at
//! once, so memory holds at most `parallel` batches whatever the number of
//! mailboxes. The host fetches the next batches of open pipelines while
//! the component writes.
//!
//! Exactly once while mailboxes move (README.md, "Parallel export"):
//! - a mailbox moved from a database already listed to one not listed yet
//!   would be listed twice: rows are written once per guid (`written`);
//! - a mailbox moved from a database not listed yet to one already listed
//!   would be missed: a move completes by changing the user's `homeMDB`,
//!   which moves its `WhenChanged`, so a last pipeline lists the mailboxes
//!   changed since the export started ([`catch_up_pipeline`]) and writes
//!   those not written yet. A mailbox created during the export is caught
//!   the same way.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use super::rows::BatchNo;
use super::rows::RowWriter;
use super::schema;
use super::state::format_guid;
use super::written::Written;
use super::{
    filter_date, Failure, Run, Tally, BATCH_SIZE, FILTER_SLACK_HOURS, INSERT, MAX_ATTEMPTS,
};
use idconn_sdk::batch::{objects, ObjectRef};
use idconn_sdk::Command;
use idconn_sdk::Level;
use idconn_sdk::{describe_error, PipelineOutput, Reporter, Shell};

/// One pipeline of a partitioned export, with a name for messages.
pub struct Part {
    pub what: String,
    pub pipeline: Vec<Command>,
}

/// `Get-Mailbox -ResultSize Unlimited -Database <guid>`, every column. The
/// guid rather than the name: a database renamed during the export is
/// still the same database.
pub fn database_part(database: u128) -> Part {
    let guid = format_guid(database);
    Part {
        what: format!("Get-Mailbox -Database {guid}"),
        pipeline: schema::database_mailboxes_pipeline(&guid),
    }
}

/// The mailboxes changed since `started_at` (widened like every filter by
/// [`FILTER_SLACK_HOURS`], since how Exchange reads the literal's time
/// zone is not documented).
pub fn catch_up_pipeline(started_at: &DateTime<Utc>) -> Part {
    Part {
        what: "Get-Mailbox (changed during the export)".to_owned(),
        pipeline: schema::changed_mailboxes_pipeline(&filter_date(
            &(*started_at - TimeDelta::hours(FILTER_SLACK_HOURS)),
        )),
    }
}

struct Open<O> {
    part: usize,
    output: O,
    attempt: u32,
}

impl<S: Shell, R: Reporter> Run<'_, S, R> {
    /// A complete export of the mailboxes of `databases` (in the server's
    /// order), `parallel` pipelines at a time, then the catch-up pipeline.
    /// Returns the guids written.
    pub(super) fn partitioned_mailboxes(
        &mut self,
        writer: &mut RowWriter,
        databases: &[u128],
        parallel: u32,
        started_at: &DateTime<Utc>,
    ) -> Result<Written, String> {
        let mut written = Written::with_run_len(self.spill.clone(), self.options.guids_in_memory);
        let mut tally = Tally::default();
        let parts: Vec<Part> = databases.iter().map(|&db| database_part(db)).collect();
        self.reporter.log(
            Level::Info,
            &format!(
                "complete export: {} databases, up to {parallel} pipelines at once",
                parts.len()
            ),
        );
        let mut each = |batch: BatchNo, object: &ObjectRef<'_>| -> Result<(), String> {
            let facts = writer.fill(batch, object);
            if let Some(guid) = facts.guid {
                // Listed before on another database (it moved), or before
                // a retry: written once.
                if !written.insert(guid)? {
                    return Ok(());
                }
            }
            tally.write(writer, INSERT)
        };
        self.pull_parallel(&parts, parallel, &mut each)?;
        self.pull_parallel(&[catch_up_pipeline(started_at)], 1, &mut each)?;
        self.summary.mailboxes += tally.rows;
        self.add(&tally);
        Ok(written)
    }

    /// Runs `parts`, at most `parallel` open at once, handing every object
    /// to `each`; a part that fails transiently runs again from its start
    /// (`each` skips what it already wrote), up to [`MAX_ATTEMPTS`] times.
    pub(super) fn pull_parallel(
        &mut self,
        parts: &[Part],
        parallel: u32,
        each: &mut impl FnMut(BatchNo, &ObjectRef<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let parallel = parallel.max(1) as usize;
        let mut waiting: VecDeque<(usize, u32)> = (0..parts.len()).map(|i| (i, 1)).collect();
        let mut open: Vec<Open<S::Output>> = Vec::with_capacity(parallel);
        while !waiting.is_empty() || !open.is_empty() {
            while open.len() < parallel {
                let Some((part, attempt)) = waiting.pop_front() else {
                    break;
                };
                match self.shell.invoke(&parts[part].pipeline) {
                    Ok(output) => open.push(Open {
                        part,
                        output,
                        attempt,
                    }),
                    Err(error) => {
                        self.retry_or_fail(
                            &parts[part],
                            attempt,
                            Failure::of(&parts[part].what, error),
                        )?;
                        waiting.push_back((part, attempt + 1));
                    }
                }
            }
            // One batch from each open pipeline, in turn.
            let mut index = 0;
            while index < open.len() {
                let what = parts[open[index].part].what.as_str();
                match open[index].output.next(BATCH_SIZE) {
                    Ok(Some(batch)) => {
                        self.batches += 1;
                        let batch_no = BatchNo(self.batches);
                        for object in objects(&batch) {
                            each(batch_no, &object)?;
                        }
                        self.done += batch.objects.len() as u64;
                        self.progress(crate::MAILBOX);
                        index += 1;
                    }
                    Ok(None) => {
                        let done = open.swap_remove(index);
                        self.check_output(what, &done.output)
                            .map_err(|failure| match failure {
                                Failure::Fatal(message) => message,
                                Failure::Transient(error) => describe_error(what, &error),
                            })?;
                    }
                    Err(error) => {
                        let failed = open.swap_remove(index);
                        let part = &parts[failed.part];
                        self.retry_or_fail(part, failed.attempt, Failure::of(what, error))?;
                        waiting.push_back((failed.part, failed.attempt + 1));
                    }
                }
            }
        }
        Ok(())
    }

    /// Logs a transient failure that will be retried, or returns the error
    /// that ends the export.
    fn retry_or_fail(&self, part: &Part, attempt: u32, failure: Failure) -> Result<(), String> {
        match failure {
            Failure::Transient(error) if attempt < MAX_ATTEMPTS => {
                self.reporter.log(
                    Level::Warn,
                    &format!(
                        "{}; retry {attempt} of the pipeline (objects already written are skipped)",
                        describe_error(&part.what, &error),
                    ),
                );
                Ok(())
            }
            Failure::Transient(error) => Err(describe_error(&part.what, &error)),
            Failure::Fatal(message) => Err(message),
        }
    }
}
