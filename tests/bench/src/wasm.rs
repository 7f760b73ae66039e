//! In-process figures of the host: the Exchange component's export in
//! wasmtime on replayed in-memory objects (the wasm half of the overhead
//! ratio), and the component's start-up costs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use idconn_host::backend::batch::{BatchBuilder, OutputObject};
use idconn_host::backend::{PipelineOutput, PowerShell};
use idconn_host::bindings::{
    Batch, CallError, Command, ErrorRecord, ExportRequest, Level, Scalar, Value,
};
use idconn_host::grants::{Grants, Operation};
use idconn_host::limits::Limits;
use idconn_host::report::Reporter;
use idconn_host::runtime::{LoadedComponent, Runtime};
use idconn_host::sandbox::{Job, JobSpec, GUEST_COOKIE_DIR, GUEST_OUTPUT_DIR};

#[path = "../../../components/exchange/examples/export_bench/sample.rs"]
mod sample;
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

fn object(type_name: &str, properties: Vec<(&'static str, SampleValue)>) -> OutputObject {
    OutputObject {
        type_names: vec![
            type_name.to_owned(),
            "System.Management.Automation.PSCustomObject".to_owned(),
        ],
        to_string: None,
        properties: properties
            .into_iter()
            .map(|(name, v)| (name.to_owned(), value(v)))
            .collect(),
    }
}

/// What the Exchange component asks per `next` (its `BATCH_SIZE`): the
/// batches are built in advance at that size, like the native harness's.
const GUEST_BATCH: usize = 512;

/// The same replay as the native harness: batches built before the clock
/// starts, each list handed out once. What is timed is the export itself,
/// with every batch copied into the guest as a remote one would be.
pub struct MemoryBackend {
    databases: Vec<Batch>,
    mailboxes: Vec<Batch>,
}

fn batches(objects: Vec<OutputObject>) -> anyhow::Result<Vec<Batch>> {
    objects
        .chunks(GUEST_BATCH)
        .map(|chunk| {
            let mut builder = BatchBuilder::new();
            for object in chunk {
                builder.push_object(object);
            }
            Ok(builder.finish()?)
        })
        .collect()
}

impl MemoryBackend {
    pub fn new(mailboxes: u64, databases: u64) -> anyhow::Result<MemoryBackend> {
        Ok(MemoryBackend {
            databases: batches((0..databases)
                .map(|i| {
                    object(
                        "Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase",
                        sample_database(i),
                    )
                })
                .collect())?,
            mailboxes: batches((0..mailboxes)
                .map(|i| {
                    object(
                        "Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox",
                        sample_mailbox(i),
                    )
                })
                .collect())?,
        })
    }
}

struct MemoryOutput(std::vec::IntoIter<Batch>);

impl PowerShell for MemoryBackend {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        let objects = match pipeline.first().map(|c| c.name.as_str()) {
            Some("Get-MailboxDatabase") => std::mem::take(&mut self.databases),
            Some("Get-Mailbox") => std::mem::take(&mut self.mailboxes),
            other => {
                return Err(CallError::Denied(format!(
                    "the benchmark replays no {other:?}"
                )))
            }
        };
        Ok(Box::new(MemoryOutput(objects.into_iter())))
    }
}

impl PipelineOutput for MemoryOutput {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError> {
        match self.0.next() {
            Some(batch) if batch.objects.len() > max => Err(CallError::Transport(format!(
                "the benchmark built batches of {} objects, the component asked for {max}",
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
    fn progress(&self, _done: u64, _total: Option<u64>) {}
}

fn job(
    runtime: &Runtime,
    component: &LoadedComponent,
    backend: MemoryBackend,
    dir: &Path,
) -> anyhow::Result<Job> {
    Job::new(
        runtime,
        component,
        JobSpec {
            connection: SAMPLE_CONNECTION.into(),
            limits: Limits::default(),
            grants: Grants::new(Operation::Export),
            shell: Box::new(backend),
            reporter: Arc::new(Quiet),
            output_dir: dir.to_path_buf(),
            cookie_dir: dir.to_path_buf(),
        },
    )
}

/// Times the component's export in wasmtime, `runs` times; the last run's
/// files stay in `dir`.
pub fn export_in_wasm(
    runtime: &Runtime,
    component: &LoadedComponent,
    mailboxes: u64,
    databases: u64,
    runs: usize,
    dir: &Path,
) -> anyhow::Result<Vec<Duration>> {
    let request = ExportRequest {
        connection: SAMPLE_CONNECTION.into(),
        output_dir: GUEST_OUTPUT_DIR.into(),
        cookie_dir: GUEST_COOKIE_DIR.into(),
        ignore_cookies: true,
        started_at: SAMPLE_STARTED_AT.into(),
        max_parallel_pipelines: 1,
        options: Vec::new(),
    };
    let mut times = Vec::new();
    for _ in 0..runs {
        let backend = MemoryBackend::new(mailboxes, databases)?;
        let mut job = job(runtime, component, backend, dir)?;
        let started = Instant::now();
        let summary = job
            .export(&request)
            .map_err(|e| anyhow::anyhow!("the wasm export failed: {e}"))?;
        times.push(started.elapsed());
        let (written_mailboxes, written_databases) =
            (summary.count("mailbox"), summary.count("database"));
        if written_mailboxes != mailboxes || written_databases != databases {
            bail!(
                "the wasm export wrote {written_mailboxes} mailboxes and {written_databases} databases, expected {mailboxes} and {databases}",
            );
        }
    }
    Ok(times)
}

/// Component start-up costs.
pub struct Startup {
    pub compile: Vec<Duration>,
    pub load_cached: Vec<Duration>,
    pub instantiate: Vec<Duration>,
}

pub fn startup(
    runtime: &Runtime,
    component_path: &Path,
    runs: usize,
    instantiations: usize,
    scratch: &Path,
) -> anyhow::Result<Startup> {
    let mut compile = Vec::new();
    let cache = scratch.join("cache");
    for i in 0..runs {
        let cold = scratch.join(format!("cold-cache-{i}"));
        let started = Instant::now();
        runtime.load(component_path, &cold)?;
        compile.push(started.elapsed());
    }
    runtime.load(component_path, &cache)?;
    let mut load_cached = Vec::new();
    let mut component = None;
    for _ in 0..runs.max(10) {
        let started = Instant::now();
        let loaded = runtime.load(component_path, &cache)?;
        load_cached.push(started.elapsed());
        component = Some(loaded);
    }
    let component = component.context("no component loaded")?;
    let dir = scratch.join("jobs");
    std::fs::create_dir_all(&dir)?;
    let mut instantiate = Vec::new();
    for _ in 0..instantiations {
        let backend = MemoryBackend::new(0, 0)?;
        let started = Instant::now();
        let job = job(runtime, &component, backend, &dir)?;
        instantiate.push(started.elapsed());
        drop(job);
    }
    Ok(Startup {
        compile,
        load_cached,
        instantiate,
    })
}

pub fn connection() -> &'static str {
    SAMPLE_CONNECTION
}

/// The component's two export pipelines as PSRP commands (the sample's
/// properties are the ones it selects, in its order).
pub fn export_pipelines() -> Vec<Vec<idconn_psrp::Command>> {
    use idconn_host::backend::mapping::command_to_psrp;
    use idconn_host::bindings::{Argument, Parameter};
    let parameter = |name: &str, argument: Argument| Parameter {
        name: name.into(),
        argument,
    };
    let select = |properties: Vec<(&'static str, SampleValue)>| Command {
        name: "Select-Object".into(),
        parameters: vec![parameter(
            "Property",
            Argument::Value(Value::List(
                properties
                    .into_iter()
                    .map(|(name, _)| Scalar::Text(name.into()))
                    .collect(),
            )),
        )],
    };
    let databases = vec![
        Command {
            name: "Get-MailboxDatabase".into(),
            parameters: vec![parameter("Status", Argument::Switch)],
        },
        select(sample_database(0)),
    ];
    let mailboxes = vec![
        Command {
            name: "Get-Mailbox".into(),
            parameters: vec![parameter(
                "ResultSize",
                Argument::Value(Value::Scalar(Scalar::Text("Unlimited".into()))),
            )],
        },
        select(sample_mailbox(0)),
    ];
    [databases, mailboxes]
        .iter()
        .map(|pipeline| pipeline.iter().map(command_to_psrp).collect())
        .collect()
}
