//! The export logic compiled natively, on replayed in-memory data: the
//! native half of the benchmark's wasm-overhead figure (tests/bench runs
//! the same logic in wasmtime on the same objects).
//!
//! `cd components && cargo run --release --example export_bench -- MAILBOXES DATABASES RUNS OUTDIR`
//!
//! Prints `run <seconds>` per run (the export only; generating the data is
//! not timed) and leaves the last run's files in OUTDIR.

mod sample;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

use exchange::export::BATCH_SIZE;
use idconn_sdk::batch::{batch_of, Property, PsObject};
use idconn_sdk::{
    Batch, Command, Error, ErrorRecord, ExportRequest, Level, PipelineOutput, ProgressUpdate,
    Reporter, Scalar, Shell, Value,
};
use sample::{sample_database, sample_mailbox, SampleValue, SAMPLE_CONNECTION, SAMPLE_STARTED_AT};

fn value(sample: SampleValue) -> Value {
    let scalar = match sample {
        SampleValue::Null => Scalar::Null,
        SampleValue::Text(t) => Scalar::Text(t),
        SampleValue::Boolean(b) => Scalar::Boolean(b),
        SampleValue::Guid(g) => Scalar::Guid(g),
        SampleValue::DateTime(d) => Scalar::DateTime(d),
        SampleValue::List(items) => {
            return Value::List(items.into_iter().map(Scalar::Text).collect())
        }
    };
    Value::Scalar(scalar)
}

fn object(type_name: &str, properties: Vec<(&'static str, SampleValue)>) -> PsObject {
    PsObject {
        type_names: vec![
            type_name.to_owned(),
            "System.Management.Automation.PSCustomObject".to_owned(),
        ],
        to_string: None,
        properties: properties
            .into_iter()
            .map(|(name, v)| Property {
                name: name.to_owned(),
                value: value(v),
            })
            .collect(),
    }
}

/// Answers `Get-MailboxDatabase` and `Get-Mailbox` pipelines from batches
/// built before the clock starts (as the host's are, `BATCH_SIZE` objects
/// each); each list is handed out once.
struct ReplayShell {
    databases: RefCell<Vec<Batch>>,
    mailboxes: RefCell<Vec<Batch>>,
}

fn batches(objects: Vec<PsObject>) -> Vec<Batch> {
    objects.chunks(BATCH_SIZE as usize).map(batch_of).collect()
}

impl ReplayShell {
    fn new(mailboxes: u64, databases: u64) -> Self {
        ReplayShell {
            databases: RefCell::new(batches((0..databases).map(|i| object("Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase", sample_database(i))).collect())),
            mailboxes: RefCell::new(batches((0..mailboxes).map(|i| object("Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox", sample_mailbox(i))).collect())),
        }
    }
}

struct ReplayOutput(std::vec::IntoIter<Batch>);

impl Shell for ReplayShell {
    type Output = ReplayOutput;

    fn invoke(&self, pipeline: &[Command]) -> Result<ReplayOutput, Error> {
        let objects = match pipeline.first().map(|c| c.name.as_str()) {
            Some("Get-MailboxDatabase") => self.databases.take(),
            Some("Get-Mailbox") => self.mailboxes.take(),
            other => return Err(Error::Denied(format!("the benchmark replays no {other:?}"))),
        };
        Ok(ReplayOutput(objects.into_iter()))
    }
}

impl PipelineOutput for ReplayOutput {
    fn next(&mut self, max: u32) -> Result<Option<Batch>, Error> {
        match self.0.next() {
            Some(batch) if batch.objects.len() > max as usize => Err(Error::Transport(format!(
                "the harness built batches of {} objects, the export asked for {max}",
                batch.objects.len()
            ))),
            other => Ok(other),
        }
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        Vec::new()
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

struct Quiet;

impl Reporter for Quiet {
    fn log(&self, _level: Level, _message: &str) {}
    fn progress(&self, _update: ProgressUpdate) {}
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: export_bench MAILBOXES DATABASES RUNS OUTDIR";
    let [mailboxes, databases, runs, out] = args.as_slice() else {
        return Err(usage.into());
    };
    let number = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e} ({usage})"));
    let (mailboxes, databases, runs) = (number(mailboxes)?, number(databases)?, number(runs)?);
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let request = ExportRequest {
        connection: SAMPLE_CONNECTION.into(),
        output_dir: out.display().to_string(),
        cookie_dir: out.display().to_string(),
        ignore_cookies: true,
        started_at: SAMPLE_STARTED_AT.into(),
        max_parallel_pipelines: 1,
        options: Vec::new(),
    };
    for _ in 0..runs {
        let shell = ReplayShell::new(mailboxes, databases);
        let started = Instant::now();
        let summary = exchange::export::run(&shell, &Quiet, &request).map_err(|f| f.message)?;
        let elapsed = started.elapsed().as_secs_f64();
        if summary.mailboxes != mailboxes || summary.databases != databases {
            return Err(format!(
                "exported {} mailboxes and {} databases, expected {mailboxes} and {databases}",
                summary.mailboxes, summary.databases
            ));
        }
        println!("run {elapsed:.6}");
    }
    Ok(())
}
