//! The export: `<id>_databases.csv`, `<id>_mailboxes.csv` and the cookie.
//!
//! Complete when there is no cookie (or it is ignored): every object is an
//! `Insert`. Incremental otherwise:
//! - databases (few) are fetched whole and each row is compared with the
//!   digest the cookie kept of it: new ones are `Insert`, changed ones
//!   (`Mounted` included, which does not move `WhenChangedUTC`) `Update`;
//! - mailboxes changed since the cookie's date are `Insert` when no export
//!   reported them yet, `Update` otherwise;
//! - objects reported before and gone now are `Delete`: databases at
//!   every run; mailboxes disabled since the last run at every run, and
//!   mailboxes removed from the directory at the periodic reconciliation
//!   (deletions.rs).
//!
//! A complete export with `parallel` > 1 lists mailboxes by database,
//! that many pipelines at a time (partition.rs).
//!
//! A transient failure (a dropped connection, Exchange's throttling) makes a
//! pipeline run again; objects already written are skipped, so each object
//! is written once. The host reconnects, waits as Exchange asks and bounds
//! the retries (setting `MaxRetries`).

mod csv_out;
pub mod deletions;
mod options;
pub mod output_file;
pub mod partition;
mod pulling;
pub mod rows;
pub mod schema;
pub mod staging;
pub mod state;
mod written;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, TimeDelta, Timelike, Utc};

use crate::values::parse_date_time;
use idconn_sdk as sdk;
use idconn_sdk::batch::{ObjectRef, ValueRef};
use idconn_sdk::{ExportRequest, Level, Reporter, Shell};
pub use pulling::is_transient;
use pulling::Failure;
use rows::{guid_of, RowWriter};
use schema::{DATABASE_COLUMNS, GUID, MAILBOX_COLUMNS};
use staging::Staging;
use state::{Cookie, DatabaseRows, GuidSet};
use written::{Sorted, Spill, Written};

pub use options::ExportOptions;

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

/// How far before the cookie's date the server-side filter starts. Whether
/// Exchange reads the literal `'yyyy-MM-ddTHH:mm:ssZ'` of an OPATH filter as
/// UTC or as the server's local time is not documented (README.md, "The
/// date in the filter"); time zones span UTC-12 to UTC+14, so a filter
/// widened by 14 hours returns every object changed since the cookie's date
/// however the literal is read. The exact bound is then applied here, on
/// `WhenChangedUTC` as the server serialized it (a UTC `DateTime`).
const FILTER_SLACK_HOURS: i64 = 14;

/// Pipelines run again after a transient failure, at most this many times
/// each: a safety net for hosts that do not bound retries themselves (the
/// idconn host stops earlier, at `MaxRetries`).
const MAX_ATTEMPTS: u32 = 20;

/// What an export wrote; [`ExportSummary::counted`] is the contract's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// False for an incremental export.
    pub complete: bool,
    pub mailboxes: u64,
    pub databases: u64,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

impl ExportSummary {
    /// The contract's summary: rows counted per entity kind the manifest
    /// declares.
    pub fn counted(self) -> sdk::ExportSummary {
        sdk::ExportSummary {
            complete: self.complete,
            counts: vec![
                (crate::MAILBOX.to_owned(), self.mailboxes),
                (crate::DATABASE.to_owned(), self.databases),
            ],
            inserts: self.inserts,
            updates: self.updates,
            deletes: self.deletes,
        }
    }
}

/// The mailboxes the next export will know: the guids written by a
/// complete export, streamed from disk (written.rs), or an incremental
/// export's set.
enum Known<'p> {
    Sorted(Sorted),
    /// The previous known set and the guids this export wrote, without
    /// those found gone (sorted).
    Union {
        previous: &'p GuidSet,
        written: GuidSet,
        gone: Vec<u128>,
    },
}

/// What an incremental export compares against.
struct Previous {
    /// Objects changed from here on are reported.
    since: DateTime<Utc>,
    /// The start of the last export that listed every mailbox.
    reconciled_at: DateTime<Utc>,
    databases: DatabaseRows,
    mailboxes: GuidSet,
}

pub fn run<S: Shell, R: Reporter>(
    shell: &S,
    reporter: &R,
    request: &ExportRequest,
) -> Result<ExportSummary, sdk::Failure> {
    let options = ExportOptions::from_request(request)?;
    run_with(shell, reporter, request, &options)
}

pub fn run_with<S: Shell, R: Reporter>(
    shell: &S,
    reporter: &R,
    request: &ExportRequest,
    options: &ExportOptions,
) -> Result<ExportSummary, sdk::Failure> {
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
        spill: Spill::beside(&cookie_temp),
        previous: previous.as_ref(),
        options: *options,
        started_at,
        reconciled_at: started_at,
        database_order: Vec::new(),
        batches: 0,
        done: 0,
        expected: expected_objects(&files, previous.is_some()),
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

    match mailboxes {
        Known::Union {
            previous,
            written,
            gone,
        } => {
            let known = previous.union_without(&written, &gone);
            let mut guids = known.clone();
            state::write_cookie(
                &cookie_temp,
                &started_at,
                &run.reconciled_at,
                &databases,
                known.count(),
                || Ok(guids.next()),
            )?
        }
        Known::Sorted(mut sorted) => state::write_cookie(
            &cookie_temp,
            &started_at,
            &run.reconciled_at,
            &databases,
            sorted.len(),
            || sorted.next_guid(),
        )?,
    }
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

/// What a complete export will likely list: the objects the cookie knew
/// (still there when the cookie is ignored or older than its window). An
/// unreadable cookie gives no estimate, never an error.
fn expected_objects(files: &ExportFiles, incremental: bool) -> Option<u64> {
    if incremental {
        return None;
    }
    state::count_objects(&files.cookie)
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
             clock set back, or IncrementalOverlapSeconds raised? Rerun the export with \
             --ignore-cookies to run a complete export",
            files.cookie.display(),
            filter_date(&cookie.started_at),
            filter_date(&started_at)
        ));
    }
    reporter.log(
        Level::Info,
        &format!(
            "incremental export: changes since {}",
            filter_date(&cookie.started_at)
        ),
    );
    Ok(Some(Previous {
        since: cookie.started_at,
        reconciled_at: cookie.reconciled_at,
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
    /// Where the guids written go once they pass what memory keeps.
    spill: Spill,
    previous: Option<&'a Previous>,
    options: ExportOptions,
    started_at: DateTime<Utc>,
    /// What the cookie will say of the last full listing of mailboxes.
    reconciled_at: DateTime<Utc>,
    /// The databases' guids in the server's order, all of them (empty when
    /// one had no guid: the export is then not partitioned).
    database_order: Vec<u128>,
    /// Batches pulled so far: numbers them apart across pipelines.
    batches: u64,
    /// Objects pulled so far, all pipelines together.
    done: u64,
    /// A complete export's expected number of objects: the previous
    /// export's mailboxes and databases, from the cookie (an estimate).
    expected: Option<u64>,
    summary: ExportSummary,
}

impl<'a, S: Shell, R: Reporter> Run<'a, S, R> {
    /// Reports the objects pulled so far, against the cookie's count when
    /// there is one (said to be an estimate: mailboxes come and go).
    fn progress(&self, entity: &str) {
        self.reporter.progress(idconn_sdk::ProgressUpdate {
            entity: entity.to_owned(),
            done: self.done,
            total: self.expected.map(|expected| expected.max(self.done)),
            total_is_estimate: self.expected.is_some(),
        });
    }

    /// Writes the database rows; returns the databases now, with the digest
    /// of each one's row.
    fn databases(&mut self, writer: &mut RowWriter) -> Result<DatabaseRows, sdk::Failure> {
        let previous = self.previous;
        let mut now = DatabaseRows::new();
        let mut tally = Tally::default();
        let mut order = Vec::new();
        let mut all_have_guids = true;
        self.pull(
            "Get-MailboxDatabase",
            &schema::databases_pipeline(),
            |batch, object| {
                let facts = writer.fill(batch, object);
                let Some(guid) = facts.guid else {
                    // Not comparable across runs: reported, not remembered.
                    all_have_guids = false;
                    return tally.write(writer, INSERT);
                };
                if now.contains_key(&guid) {
                    // Written before a retry ran the pipeline again.
                    return Ok(());
                }
                let digest = writer.digest();
                now.insert(guid, Some(digest));
                order.push(guid);
                let command = match previous.map(|p| p.databases.get(&guid)) {
                    None | Some(None) => Some(INSERT),
                    Some(Some(&Some(before))) if before == digest => None,
                    // Changed, or known from a version 1 cookie (no digest).
                    Some(Some(_)) => Some(UPDATE),
                };
                match command {
                    Some(command) => tally.write(writer, command),
                    None => Ok(()),
                }
            },
        )?;
        if let Some(previous) = previous {
            for &guid in previous.databases.keys() {
                if !now.contains_key(&guid) {
                    tally.delete(writer, guid)?;
                }
            }
        }
        self.summary.databases += tally.rows;
        self.add(&tally);
        if all_have_guids {
            self.database_order = order;
        }
        Ok(now)
    }

    /// Writes the mailbox rows; returns the mailboxes reported so far (by
    /// this export or an earlier one) that exist now: the next export's
    /// known set.
    fn mailboxes(&mut self, writer: &mut RowWriter) -> Result<Known<'a>, sdk::Failure> {
        let previous = self.previous;
        if previous.is_none() && self.options.parallel > 1 && !self.database_order.is_empty() {
            let databases = std::mem::take(&mut self.database_order);
            let started_at = self.started_at;
            let written =
                self.partitioned_mailboxes(writer, &databases, self.options.parallel, &started_at)?;
            return self.known_from(written);
        }
        // Guids written by this export: the retry skip list, and with the
        // previous known set, what the next export may call known.
        let mut written = Written::with_run_len(self.spill.clone(), self.options.guids_in_memory);
        let mut tally = Tally::default();
        let pipeline = match previous {
            None => schema::all_mailboxes_pipeline(),
            Some(previous) => schema::changed_mailboxes_pipeline(&filter_date(
                &(previous.since - TimeDelta::hours(FILTER_SLACK_HOURS)),
            )),
        };
        self.pull("Get-Mailbox", &pipeline, |batch, object| {
            let facts = writer.fill(batch, object);
            if let Some(guid) = facts.guid {
                if written.contains(guid)? {
                    return Ok(());
                }
            }
            let command = match previous {
                None => INSERT,
                Some(previous) => {
                    let known = facts.guid.is_some_and(|g| previous.mailboxes.contains(g));
                    // The filter was widened by FILTER_SLACK_HOURS; an
                    // unknown mailbox is reported whatever its date.
                    let changed = facts.changed.is_none_or(|at| at >= previous.since);
                    if !known {
                        INSERT
                    } else if changed {
                        UPDATE
                    } else {
                        return Ok(());
                    }
                }
            };
            if let Some(guid) = facts.guid {
                // Not there: `contains` said so above.
                written.insert_new(guid)?;
            }
            tally.write(writer, command)
        })?;
        let Some(previous) = previous else {
            self.summary.mailboxes += tally.rows;
            self.add(&tally);
            return self.known_from(written);
        };
        // An incremental export wrote the changed mailboxes only: few
        // enough to hold.
        let written = GuidSet::from_sorted_unique(written.into_vec()?);
        let gone = if !deletions::reconciliation_due(
            &previous.reconciled_at,
            &self.started_at,
            self.options.reconciliation_hours,
        ) {
            // Between reconciliations: only disabled mailboxes, from
            // the users changed since the last export.
            self.reconciled_at = previous.reconciled_at;
            let gone = self.disabled_mailboxes(&previous.since, |g| {
                previous.mailboxes.contains(g) || written.contains(g)
            })?;
            for &guid in &gone {
                tally.delete(writer, guid)?;
            }
            gone
        } else {
            self.reporter.log(
                Level::Info,
                &format!(
                    "reconciliation: listing every mailbox to find removed ones (last one {}, Options.ReconciliationHours {})",
                    filter_date(&previous.reconciled_at),
                    self.options.reconciliation_hours
                ),
            );
            // Listed after the changed mailboxes: one enabled in between
            // is on the server but was never written, so it stays
            // unknown and the next export reports it as Insert.
            let now = self.current_mailboxes(previous.mailboxes.len() + written.len())?;
            // Reported (known before, or written now) and no longer there;
            // sorted, as the union is.
            let gone: Vec<u128> = previous
                .mailboxes
                .union_without(&written, &[])
                .filter(|guid| !now.contains(*guid))
                .collect();
            for &guid in &gone {
                tally.delete(writer, guid)?;
            }
            gone
        };
        self.summary.mailboxes += tally.rows;
        self.add(&tally);
        Ok(Known::Union {
            previous: &previous.mailboxes,
            written,
            gone,
        })
    }

    /// A complete export's next known set: every guid it wrote.
    fn known_from(&self, written: Written) -> Result<Known<'a>, sdk::Failure> {
        self.reporter.log(Level::Info, &written.describe());
        Ok(Known::Sorted(written.into_sorted()?))
    }

    /// The guids of every mailbox on the server.
    /// `expected`, the previous count, sizes the list once: grown by
    /// doubling it would reach twice the guids' size, in memory a wasm
    /// instance never gives back.
    fn current_mailboxes(&mut self, expected: usize) -> Result<GuidSet, sdk::Failure> {
        let mut guids = Vec::with_capacity(expected.saturating_add(expected / 16));
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

fn guid_property(object: &ObjectRef<'_>) -> Option<u128> {
    match object.get(GUID)? {
        ValueRef::Scalar(scalar) => guid_of(scalar),
        _ => None,
    }
}
