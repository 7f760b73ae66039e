//! The export: `<id>_databases.csv`, `<id>_mailboxes.csv` and the cookie.
//!
//! Complete when there is no cookie (or it is ignored): every object is an
//! `Insert`. Incremental otherwise: objects changed in `[cookie, started-at)`
//! are `Insert` (created in the window, or not seen by the last export) or
//! `Update`; objects the last export saw that are gone are `Delete`.

pub mod output_file;
pub mod rows;
pub mod schema;
pub mod staging;
pub mod state;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};

use crate::batch::{objects, ObjectRef, ValueRef};
use crate::exports::idconn::connector::exporter::{ExportRequest, ExportSummary};
use crate::idconn::connector::powershell::Command;
use crate::idconn::connector::report::Level;
use crate::shell::{describe_error, describe_record, PipelineOutput, Reporter, Shell};
use crate::values::parse_date_time;
use rows::{guid_of, BatchNo, RowFacts, RowWriter};
use schema::{DATABASE_COLUMNS, GUID, MAILBOX_COLUMNS};
use staging::Staging;
use state::{Cookie, GuidSet};

/// Objects pulled per `next` call: large enough to keep calls few, small
/// enough to keep memory flat.
pub const BATCH_SIZE: u32 = 512;

/// The three files of a connection.
pub struct ExportFiles {
    pub mailboxes: PathBuf,
    pub databases: PathBuf,
    pub cookie: PathBuf,
}

impl ExportFiles {
    pub fn new(connection: &str, output_dir: &Path, cookie_dir: &Path) -> Self {
        ExportFiles {
            mailboxes: output_dir.join(format!("{connection}_mailboxes.csv")),
            databases: output_dir.join(format!("{connection}_databases.csv")),
            cookie: cookie_dir.join(format!("{connection}_cookie.bin")),
        }
    }
}

/// The incremental window `[since, until)`.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

impl Window {
    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }
}

/// What an incremental export compares against.
struct Previous {
    window: Window,
    databases: GuidSet,
    mailboxes: GuidSet,
}

pub fn run<S: Shell, R: Reporter>(
    shell: &S,
    reporter: &R,
    request: &ExportRequest,
) -> Result<ExportSummary, String> {
    let started_at = parse_date_time(&request.started_at)
        .and_then(|at| at.with_nanosecond(0))
        .ok_or_else(|| {
            format!(
                "the export request's started-at `{}` is not an ISO 8601 date",
                request.started_at
            )
        })?;
    let files = ExportFiles::new(
        &request.connection,
        Path::new(&request.output_dir),
        Path::new(&request.cookie_dir),
    );
    let previous = previous_state(reporter, request, &files, started_at)?;

    let mut staging = Staging::default();
    let databases_temp = staging.stage(&files.databases)?;
    let mailboxes_temp = staging.stage(&files.mailboxes)?;
    let cookie_temp = staging.stage(&files.cookie)?;

    let mut run = Run {
        shell,
        reporter,
        previous: previous.as_ref(),
        done: 0,
        summary: ExportSummary {
            complete: previous.is_none(),
            mailboxes: 0,
            databases: 0,
            inserts: 0,
            updates: 0,
            deletes: 0,
        },
    };
    let mut writer = RowWriter::create(&databases_temp, &DATABASE_COLUMNS)?;
    let databases = run.databases(&mut writer)?;
    writer.finish()?;
    let mut writer = RowWriter::create(&mailboxes_temp, &MAILBOX_COLUMNS)?;
    let mailboxes = run.mailboxes(&mut writer)?;
    writer.finish()?;

    Cookie {
        started_at,
        databases,
        mailboxes,
    }
    .write(&cookie_temp)
    .map_err(|e| format!("writing {} failed: {e}", cookie_temp.display()))?;
    staging.commit()?;

    let summary = run.summary;
    reporter.log(
        Level::Info,
        &format!(
            "export done: {} mailbox rows, {} database rows ({} Insert, {} Update, {} Delete)",
            summary.mailboxes, summary.databases, summary.inserts, summary.updates, summary.deletes
        ),
    );
    Ok(summary)
}

fn previous_state<R: Reporter>(
    reporter: &R,
    request: &ExportRequest,
    files: &ExportFiles,
    started_at: DateTime<Utc>,
) -> Result<Option<Previous>, String> {
    if request.ignore_cookies {
        reporter.log(Level::Info, "complete export: cookies ignored on request");
        return Ok(None);
    }
    let Some(cookie) = Cookie::read(&files.cookie)? else {
        reporter.log(
            Level::Info,
            &format!("complete export: no cookie at {}", files.cookie.display()),
        );
        return Ok(None);
    };
    // An equal start is two runs within one second: an empty window, which
    // loses nothing since the cookie stays the same.
    if cookie.started_at > started_at {
        return Err(format!(
            "the export cookie {} is dated {}, after this run's start {}; was the \
             clock set back? Rerun the export with --ignore-cookies to run a complete export",
            files.cookie.display(),
            filter_date(&cookie.started_at),
            filter_date(&started_at)
        ));
    }
    let window = Window {
        since: cookie.started_at,
        until: started_at,
    };
    reporter.log(
        Level::Info,
        &format!(
            "incremental export: changes from {} to {}",
            filter_date(&window.since),
            filter_date(&window.until)
        ),
    );
    Ok(Some(Previous {
        window,
        databases: cookie.databases,
        mailboxes: cookie.mailboxes,
    }))
}

/// `yyyy-MM-ddTHH:mm:ssZ`, the form used in filters and logs.
fn filter_date(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Run<'a, S, R> {
    shell: &'a S,
    reporter: &'a R,
    previous: Option<&'a Previous>,
    /// Objects pulled so far, all pipelines together.
    done: u64,
    summary: ExportSummary,
}

impl<S: Shell, R: Reporter> Run<'_, S, R> {
    /// Writes the database rows; returns the guids of the databases now.
    fn databases(&mut self, writer: &mut RowWriter) -> Result<GuidSet, String> {
        let previous = self.previous;
        let mut seen = Vec::new();
        let mut tally = Tally::default();
        self.pull(
            "Get-MailboxDatabase",
            &schema::databases_pipeline(),
            |batch, object| {
                let facts = writer.fill(batch, object);
                seen.extend(facts.guid);
                let command = match previous {
                    None => Some(INSERT),
                    Some(previous) => {
                        let known = facts.guid.is_some_and(|g| previous.databases.contains(g));
                        // Databases are few and fetched whole, so the window
                        // is applied here rather than on the server.
                        let changed = facts.changed.is_none_or(|at| previous.window.contains(at));
                        if !known {
                            Some(INSERT)
                        } else if changed {
                            Some(insert_or_update(
                                &facts,
                                previous.window.since,
                                &previous.databases,
                            ))
                        } else {
                            None
                        }
                    }
                };
                match command {
                    Some(command) => tally.write(writer, command),
                    None => Ok(()),
                }
            },
        )?;
        let now = GuidSet::from_unsorted(seen);
        if let Some(previous) = previous {
            for guid in previous.databases.missing_from(&now) {
                tally.delete(writer, guid)?;
            }
        }
        self.summary.databases += tally.rows;
        self.add(&tally);
        Ok(now)
    }

    /// Writes the mailbox rows; returns the guids of the mailboxes now.
    fn mailboxes(&mut self, writer: &mut RowWriter) -> Result<GuidSet, String> {
        let previous = self.previous;
        let mut seen = Vec::new();
        let mut tally = Tally::default();
        let pipeline = match previous {
            None => schema::all_mailboxes_pipeline(),
            Some(previous) => schema::changed_mailboxes_pipeline(
                &filter_date(&previous.window.since),
                &filter_date(&previous.window.until),
            ),
        };
        self.pull("Get-Mailbox", &pipeline, |batch, object| {
            let facts = writer.fill(batch, object);
            let command = match previous {
                None => {
                    seen.extend(facts.guid);
                    INSERT
                }
                Some(previous) => {
                    insert_or_update(&facts, previous.window.since, &previous.mailboxes)
                }
            };
            tally.write(writer, command)
        })?;
        let now = match previous {
            None => GuidSet::from_unsorted(seen),
            Some(previous) => {
                let now = self.current_mailboxes()?;
                for guid in previous.mailboxes.missing_from(&now) {
                    tally.delete(writer, guid)?;
                }
                now
            }
        };
        self.summary.mailboxes += tally.rows;
        self.add(&tally);
        Ok(now)
    }

    /// The guids of every mailbox on the server.
    fn current_mailboxes(&mut self) -> Result<GuidSet, String> {
        let mut guids = Vec::new();
        self.pull(
            "Get-Mailbox",
            &schema::mailbox_guids_pipeline(),
            |_, object| {
                guids.extend(guid_property(object));
                Ok(())
            },
        )?;
        Ok(GuidSet::from_unsorted(guids))
    }

    fn add(&mut self, tally: &Tally) {
        self.summary.inserts += tally.inserts;
        self.summary.updates += tally.updates;
        self.summary.deletes += tally.deletes;
    }

    /// Runs a pipeline and hands every object to `each`, batch by batch.
    /// Non-terminating errors fail the export: an object the server could not
    /// return would otherwise be missing, or written as deleted.
    fn pull(
        &mut self,
        what: &str,
        pipeline: &[Command],
        mut each: impl FnMut(BatchNo, &ObjectRef<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut output = self
            .shell
            .invoke(pipeline)
            .map_err(|e| describe_error(what, &e))?;
        let mut batch_no = BatchNo(0);
        while let Some(batch) = output
            .next(BATCH_SIZE)
            .map_err(|e| describe_error(what, &e))?
        {
            batch_no.0 += 1;
            for object in objects(&batch) {
                each(batch_no, &object)?;
            }
            self.done += batch.objects.len() as u64;
            self.reporter.progress(self.done, None);
        }
        for warning in output.warnings() {
            self.reporter
                .log(Level::Warn, &format!("{what} warned: {warning}"));
        }
        let errors = output.errors();
        if let Some(first) = errors.first() {
            return Err(format!(
                "{what} reported {} error(s), so the export would be incomplete; the first: {}",
                errors.len(),
                describe_record(first)
            ));
        }
        Ok(())
    }
}

const INSERT: &str = "Insert";
const UPDATE: &str = "Update";

/// The rows written to one file, by command.
#[derive(Default)]
struct Tally {
    rows: u64,
    inserts: u64,
    updates: u64,
    deletes: u64,
}

impl Tally {
    /// Writes the row last filled with `command` (Insert or Update).
    fn write(&mut self, writer: &mut RowWriter, command: &'static str) -> Result<(), String> {
        writer.write(command)?;
        self.rows += 1;
        if command == INSERT {
            self.inserts += 1;
        } else {
            self.updates += 1;
        }
        Ok(())
    }

    fn delete(&mut self, writer: &mut RowWriter, guid: u128) -> Result<(), String> {
        writer.write_delete(guid)?;
        self.rows += 1;
        self.deletes += 1;
        Ok(())
    }
}

/// `Insert` for an object created in the window or unknown to the last
/// export (a mailbox enabled on an older user keeps the user's creation
/// date), `Update` otherwise.
fn insert_or_update(facts: &RowFacts, since: DateTime<Utc>, known: &GuidSet) -> &'static str {
    let created_in_window = facts.created.is_some_and(|at| at >= since);
    let known = facts.guid.is_some_and(|g| known.contains(g));
    if created_in_window || !known {
        INSERT
    } else {
        UPDATE
    }
}

fn guid_property(object: &ObjectRef<'_>) -> Option<u128> {
    match object.get(GUID)? {
        ValueRef::Scalar(scalar) => guid_of(scalar),
        _ => None,
    }
}
