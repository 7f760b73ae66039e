//! The native runner (`idconn-bench __native-export`): the Exchange
//! connector's logic (components/exchange) linked into this binary and run
//! against the connection's server through the host's own `Remote` backend,
//! doing what `idconn export` does minus wasm. It is the other half of
//! issue 17's "whole export with the component against the whole export
//! with the same logic linked natively" (issue17/render.rs).
//!
//! What is the same as `idconn export`: the settings file and connection,
//! the backend (`idconn_host::backend::remote::Remote`, its shells up to
//! `MaxParallelPipelines`, its PSRP client and batch decoding), the
//! connection as a job of the Exchange component sees it (the manifest's
//! `configuration-name` and `retryable-errors`), the export request
//! (`started-at` with `IncrementalOverlapSeconds`, `max-parallel-pipelines`,
//! `Options`), the batch size cap (`Limits.MaxBatchObjects`), the allocator.
//! What is not: no wasmtime (no component load from the cache, no
//! instantiation, no copying batches into a guest), no grants check (a few
//! string comparisons per pipeline), no staging directories (the logic
//! stages its own files as it does in the sandbox), no progress display.
//!
//! Host types (wasmtime's bindgen) and guest types (wit-bindgen's) have the
//! same shape but are different Rust types: pipelines are converted guest
//! to host and batches host to guest, moving every vector.

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use idconn_host::backend as host;
use idconn_host::bindings as h;
use idconn_sdk as g;

/// The first argument that makes `idconn-bench` the native runner.
pub const NATIVE_EXPORT: &str = "__native-export";

/// `idconn export`'s arguments, the ones the benchmark passes.
#[derive(Parser)]
#[command(name = "idconn-bench __native-export")]
struct NativeArgs {
    #[arg(long)]
    settings: PathBuf,
    #[arg(long)]
    connection: String,
    #[arg(long)]
    ignore_cookies: bool,
    #[arg(long)]
    output_path: Option<PathBuf>,
    #[arg(long)]
    cookie_path: Option<PathBuf>,
}

/// `idconn-bench __native-export --settings F --connection ID
/// [--ignore-cookies] [--output-path D] [--cookie-path D]`.
pub fn main(args: &[OsString]) -> anyhow::Result<()> {
    // As the idconn binary does, so both processes allocate alike.
    idconn_host::allocator::tune();
    let args = NativeArgs::try_parse_from(args)?;
    let settings = idconn_host::settings::Settings::load(&args.settings)?;
    let conn = for_exchange(settings.connection(&args.connection)?)?;
    let output = args.output_path.unwrap_or_else(|| settings.export_output());
    let cookies = args
        .cookie_path
        .unwrap_or_else(|| settings.export_cookies());
    for dir in [&output, &cookies] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let started = std::time::Instant::now();
    let backend = host::remote::Remote::open(&conn)?;
    let shell = NativeShell {
        backend: RefCell::new(Box::new(backend)),
        max_batch: conn.limits.max_batch_objects,
    };
    let request = g::ExportRequest {
        connection: conn.id.clone(),
        output_dir: output.display().to_string(),
        cookie_dir: cookies.display().to_string(),
        ignore_cookies: args.ignore_cookies,
        started_at: idconn_host::jobs::export_started_at(
            chrono::Utc::now(),
            conn.incremental_overlap,
        ),
        max_parallel_pipelines: conn.max_parallel_pipelines,
        options: conn.options.clone(),
    };
    let summary = exchange::export::run(&shell, &Quiet, &request)
        .map_err(|f| anyhow::anyhow!("export of connection {} failed: {}", conn.id, f.message))?;
    println!(
        "Native export ({}) of {}: {} mailboxes, {} databases; {} inserts, {} updates, {} deletes; {:.2} s",
        if summary.complete { "complete" } else { "incremental" },
        conn.id,
        summary.mailboxes,
        summary.databases,
        summary.inserts,
        summary.updates,
        summary.deletes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The connection as a job of the Exchange component sees it
/// (`idconn_host::jobs::for_component`): the manifest's configuration name
/// when the settings give none, and its retryable errors. Read from the
/// manifest the component is built with (`exchange::MANIFEST`).
fn for_exchange(
    conn: &idconn_host::settings::Connection,
) -> anyhow::Result<idconn_host::settings::Connection> {
    let manifest: serde_json::Value =
        serde_json::from_str(exchange::MANIFEST).context("the Exchange manifest is not JSON")?;
    let powershell = &manifest["capabilities"]["powershell"];
    let mut conn = conn.clone();
    if conn.configuration_name.is_none() {
        conn.configuration_name = powershell["configuration-name"].as_str().map(str::to_owned);
    }
    conn.retryable_errors = powershell["retryable-errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(conn)
}

/// The logic's [`g::Shell`] over the host's backend. The logic holds
/// several outputs at once (one per pipeline running), each independent of
/// the backend once invoked.
pub struct NativeShell {
    pub backend: RefCell<Box<dyn host::PowerShell>>,
    /// `Limits.MaxBatchObjects`: the host clamps a guest's `max` to it.
    pub max_batch: u32,
}

pub struct NativeOutput {
    inner: Box<dyn host::PipelineOutput>,
    max_batch: u32,
}

impl g::Shell for NativeShell {
    type Output = NativeOutput;

    fn invoke(&self, pipeline: &[g::Command]) -> Result<NativeOutput, g::Error> {
        let pipeline: Vec<h::Command> = pipeline.iter().map(command).collect();
        let inner = self
            .backend
            .try_borrow_mut()
            .map_err(|_| g::Error::Transport("the backend is busy (a reentrant call)".into()))?
            .invoke(&pipeline)
            .map_err(error)?;
        Ok(NativeOutput {
            inner,
            max_batch: self.max_batch,
        })
    }
}

impl g::PipelineOutput for NativeOutput {
    fn next(&mut self, max: u32) -> Result<Option<g::Batch>, g::Error> {
        let max = max.clamp(1, self.max_batch.max(1)) as usize;
        match self.inner.next_batch(max) {
            Ok(batch) => Ok(batch.map(batch_to_guest)),
            Err(e) => Err(error(e)),
        }
    }

    fn errors(&self) -> Vec<g::ErrorRecord> {
        self.inner.errors().into_iter().map(record).collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }
}

/// A reporter that drops logs and progress (the CLI's shows a progress
/// line on a terminal only, and the benchmark has none).
pub struct Quiet;

impl g::Reporter for Quiet {
    fn log(&self, _level: g::Level, _message: &str) {}
    fn progress(&self, _update: g::ProgressUpdate) {}
}

// Guest to host: the pipeline.

fn command(c: &g::Command) -> h::Command {
    h::Command {
        name: c.name.clone(),
        parameters: c
            .parameters
            .iter()
            .map(|p| h::Parameter {
                name: p.name.clone(),
                argument: match &p.argument {
                    g::Argument::Switch => h::Argument::Switch,
                    g::Argument::Value(v) => h::Argument::Value(value(v)),
                },
            })
            .collect(),
    }
}

fn value(v: &g::Value) -> h::Value {
    match v {
        g::Value::Scalar(s) => h::Value::Scalar(scalar(s)),
        g::Value::List(items) => h::Value::List(items.iter().map(scalar).collect()),
        g::Value::Dictionary(entries) => h::Value::Dictionary(
            entries
                .iter()
                .map(|(k, e)| {
                    let e = match e {
                        g::Element::Scalar(s) => h::Element::Scalar(scalar(s)),
                        g::Element::List(items) => {
                            h::Element::List(items.iter().map(scalar).collect())
                        }
                    };
                    (k.clone(), e)
                })
                .collect(),
        ),
    }
}

fn scalar(s: &g::Scalar) -> h::Scalar {
    match s {
        g::Scalar::Null => h::Scalar::Null,
        g::Scalar::Text(t) => h::Scalar::Text(t.clone()),
        g::Scalar::Boolean(b) => h::Scalar::Boolean(*b),
        g::Scalar::Integer(i) => h::Scalar::Integer(*i),
        g::Scalar::Number(n) => h::Scalar::Number(*n),
        g::Scalar::DateTime(d) => h::Scalar::DateTime(d.clone()),
        g::Scalar::Guid(u) => h::Scalar::Guid(u.clone()),
        g::Scalar::Bytes(b) => h::Scalar::Bytes(b.clone()),
        g::Scalar::Object(o) => h::Scalar::Object(h::NestedObject {
            type_names: o.type_names.clone(),
            to_string: o.to_string.clone(),
        }),
    }
}

// Host to guest: batches and errors, every vector moved.

pub fn batch_to_guest(b: h::Batch) -> g::Batch {
    g::Batch {
        shapes: b
            .shapes
            .into_iter()
            .map(|s| g::Shape {
                type_names: s.type_names,
                property_names: s.property_names,
            })
            .collect(),
        objects: b
            .objects
            .into_iter()
            .map(|o| g::BatchObject {
                shape: o.shape,
                to_string: o.to_string.map(span),
                values: span(o.values),
            })
            .collect(),
        // The packed values move as they are: the same two lists the
        // component receives.
        values: cells(b.values),
        items: cells(b.items),
        entry_keys: b.entry_keys.into_iter().map(span).collect(),
        entry_values: cells(b.entry_values),
        nested: b
            .nested
            .into_iter()
            .map(|n| g::NestedObject {
                type_names: n.type_names,
                to_string: n.to_string,
            })
            .collect(),
        text: b.text,
        binary: b.binary,
    }
}

fn span(s: h::Span) -> g::Span {
    g::Span {
        start: s.start,
        len: s.len,
    }
}

fn cells(c: h::Cells) -> g::Cells {
    g::Cells {
        kinds: c.kinds,
        payloads: c.payloads,
    }
}

fn record(r: h::ErrorRecord) -> g::ErrorRecord {
    g::ErrorRecord {
        message: r.message,
        fully_qualified_error_id: r.fully_qualified_error_id,
        category: r.category,
        target: r.target,
    }
}

fn error(e: h::CallError) -> g::Error {
    match e {
        h::CallError::Denied(m) => g::Error::Denied(m),
        h::CallError::Transport(m) => g::Error::Transport(m),
        h::CallError::Remote(r) => g::Error::Remote(record(r)),
        h::CallError::Retryable(r) => g::Error::Retryable(g::Retry {
            reason: r.reason,
            retry_after_ms: r.retry_after_ms,
        }),
        h::CallError::Limit(m) => g::Error::Limit(m),
        h::CallError::Timeout => g::Error::Timeout,
    }
}
