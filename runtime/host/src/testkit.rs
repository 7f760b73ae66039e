//! Component tests under wasmtime: a component run against a replay
//! fixture in the production sandbox (default limits, the operation's
//! grants narrowed by the component's manifest and the recorded `Grants`,
//! staged directories committed only on success), and what it wrote
//! compared with golden files. `idconn test` is this module; a connector's
//! own `cargo test` can call it as a library:
//!
//! ```no_run
//! use idconn_host::testkit::{run_fixture, TestOptions};
//! let run = run_fixture(&TestOptions::new(
//!     "target/wasm32-wasip2/release/my_connector.wasm",
//!     "tests/fixtures/export.json",
//! ))?;
//! let comparison = run.compare("tests/fixtures/export.expected")?;
//! assert!(comparison.is_same(), "{}", comparison.render());
//! # anyhow::Ok(())
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value as Json};

use crate::bindings::Level;
use crate::golden::{self, Comparison, WrittenFile};
use crate::grants::Operation;
use crate::report::Reporter;
use crate::runtime::Runtime;
use crate::settings::Settings;

/// A fixture without a `Job` (written by hand) runs as an export of this
/// connection, starting at this time.
pub const DEFAULT_CONNECTION: &str = "Replay";
pub const DEFAULT_STARTED_AT: &str = "2000-01-01T00:00:00Z";

/// The results file a replayed fulfill writes (a golden file).
pub const RESULTS_FILE: &str = "results.csv";
/// What a replayed check writes (a golden file).
pub const CHECK_FILE: &str = "check.txt";

#[derive(Debug, Clone)]
pub struct TestOptions {
    pub component: PathBuf,
    pub fixture: PathBuf,
    /// Compiled components are cached here; `None`: a cache private to the
    /// run (the component is compiled every time).
    pub component_cache: Option<PathBuf>,
}

impl TestOptions {
    pub fn new(component: impl Into<PathBuf>, fixture: impl Into<PathBuf>) -> TestOptions {
        TestOptions {
            component: component.into(),
            fixture: fixture.into(),
            component_cache: None,
        }
    }
}

/// What a replayed job wrote.
#[derive(Debug)]
pub struct TestRun {
    pub operation: Operation,
    pub connection: String,
    /// Every file the job committed, by name.
    pub files: Vec<WrittenFile>,
    /// One line, as the CLI prints it.
    pub summary: String,
}

impl TestRun {
    pub fn compare(&self, expect_dir: impl AsRef<Path>) -> anyhow::Result<Comparison> {
        golden::compare(&self.files, expect_dir.as_ref())
    }

    pub fn update(&self, expect_dir: impl AsRef<Path>) -> anyhow::Result<()> {
        golden::update(&self.files, expect_dir.as_ref())
    }
}

/// The golden directory of a fixture when `--expect` is not given:
/// `<fixture stem>.expected` next to it.
pub fn default_expect_dir(fixture: &Path) -> PathBuf {
    let stem = fixture
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fixture".into());
    fixture.with_file_name(format!("{stem}.expected"))
}

/// The fixture's job: what `idconn record` saw (docs/replay.md, "Job").
struct FixtureJob {
    operation: Operation,
    connection: String,
    started_at: String,
    ignore_cookies: bool,
    cookies: Vec<(String, Vec<u8>)>,
    orders: Vec<(String, Json)>,
    grants: Option<Json>,
    entity_types: Option<Json>,
}

fn parse_job(root: &Json) -> anyhow::Result<FixtureJob> {
    use base64::Engine as _;
    if let Some(v) = root.get("Version") {
        match v.as_u64() {
            Some(n) if n <= crate::record::FIXTURE_VERSION => {}
            _ => bail!(
                "Version {v} is newer than this idconn reads ({}); use a newer idconn",
                crate::record::FIXTURE_VERSION
            ),
        }
    }
    let empty = Json::Object(Map::new());
    let job = root.get("Job").unwrap_or(&empty);
    let text = |key: &str, default: &str| -> anyhow::Result<String> {
        match job.get(key) {
            None => Ok(default.to_string()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(_) => bail!("Job.{key} must be text"),
        }
    };
    let operation = match text("Operation", "export")?.to_ascii_lowercase().as_str() {
        "export" => Operation::Export,
        "fulfill" => Operation::Fulfill,
        "check" => Operation::Check,
        other => {
            bail!("Job.Operation: unknown operation {other:?} (known: export, fulfill, check)")
        }
    };
    let connection = text("Connection", DEFAULT_CONNECTION)?;
    crate::settings::validate_identifier(&connection)
        .map_err(|p| anyhow::anyhow!("Job.Connection: {p}"))?;
    let started_at = text("StartedAt", DEFAULT_STARTED_AT)?;
    chrono::DateTime::parse_from_rfc3339(&started_at)
        .with_context(|| format!("Job.StartedAt {started_at:?} is not an ISO 8601 time"))?;
    let ignore_cookies = match job.get("IgnoreCookies") {
        None => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => bail!("Job.IgnoreCookies must be true or false"),
    };
    let mut cookies = Vec::new();
    if let Some(map) = job.get("Cookies") {
        let map = map
            .as_object()
            .context("Job.Cookies must be an object of files by name")?;
        for (name, v) in map {
            plain_file_name(name).with_context(|| format!("Job.Cookies.{name}"))?;
            let bytes = v
                .get("Base64")
                .and_then(Json::as_str)
                .context("a cookie is {\"Base64\": \"...\"}")
                .and_then(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .context("not base64")
                })
                .with_context(|| format!("Job.Cookies.{name}"))?;
            cookies.push((name.clone(), bytes));
        }
    }
    let mut orders = Vec::new();
    if let Some(list) = job.get("Orders") {
        let list = list
            .as_array()
            .context("Job.Orders must be a list of order files")?;
        for (i, file) in list.iter().enumerate() {
            let name = file
                .get("Name")
                .and_then(Json::as_str)
                .with_context(|| format!("Job.Orders[{i}].Name is missing"))?;
            plain_file_name(name).with_context(|| format!("Job.Orders[{i}].Name"))?;
            if !name.to_ascii_lowercase().ends_with(".json") {
                bail!("Job.Orders[{i}].Name {name:?} must end in .json");
            }
            let json = file
                .get("Json")
                .with_context(|| format!("Job.Orders[{i}].Json is missing"))?;
            orders.push((name.to_string(), json.clone()));
        }
    }
    if operation == Operation::Fulfill && orders.is_empty() {
        bail!("Job.Operation is fulfill but Job.Orders holds no order file");
    }
    Ok(FixtureJob {
        operation,
        connection,
        started_at,
        ignore_cookies,
        cookies,
        orders,
        grants: job.get("Grants").cloned(),
        entity_types: job.get("EntityTypes").cloned(),
    })
}

/// A name that stays inside the directory it is written to.
fn plain_file_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('.');
    if !ok {
        bail!("{name:?} is not a plain file name");
    }
    Ok(())
}

/// Component log lines go to the host's log; no progress is shown.
struct LogReporter(String);

impl Reporter for LogReporter {
    fn log(&self, level: Level, message: &str) {
        crate::report::log_to_tracing(&self.0, level, message);
    }

    fn progress(&self, _done: u64, _total: Option<u64>) {}
}

/// Runs `options.component` against `options.fixture` in the sandbox, in a
/// private temporary directory, and returns what it wrote.
pub fn run_fixture(options: &TestOptions) -> anyhow::Result<TestRun> {
    let fixture = fs::canonicalize(&options.fixture)
        .with_context(|| format!("cannot read the fixture {}", options.fixture.display()))?;
    let component = fs::canonicalize(&options.component)
        .with_context(|| format!("cannot read the component {}", options.component.display()))?;
    let text = fs::read_to_string(&fixture)
        .with_context(|| format!("cannot read the fixture {}", fixture.display()))?;
    let root: Json = serde_json::from_str(&text)
        .with_context(|| format!("fixture {}: not valid JSON", fixture.display()))?;
    let job = parse_job(&root).with_context(|| format!("fixture {}", fixture.display()))?;

    let dir = tempfile::Builder::new().prefix("idconn-test-").tempdir()?;
    let cache = match &options.component_cache {
        Some(c) => c.clone(),
        None => dir.path().join("ComponentCache"),
    };
    let mut connection = json!({
        "AuthType": "Replay",
        "Server": fixture,
        "ComponentPath": component,
    });
    if let Some(grants) = &job.grants {
        connection["Grants"] = json!({ job.operation.name(): grants });
    }
    if let Some(types) = &job.entity_types {
        connection["EntityTypes"] = types.clone();
    }
    let settings_file = dir.path().join("appsettings.agent.json");
    let settings = json!({
        "TempFolderPath": "Temp",
        "WorkFolderPath": "Work",
        "ComponentCachePath": cache,
        "Connections": { job.connection.as_str(): connection },
    });
    fs::write(&settings_file, serde_json::to_vec_pretty(&settings)?)?;
    let settings = Settings::load(&settings_file)?;
    let conn = settings.connection(&job.connection)?;
    let reporter: Arc<dyn Reporter> = Arc::new(LogReporter(conn.id.clone()));

    let (files, summary) = match job.operation {
        Operation::Check => {
            let runtime = Runtime::new()?;
            let loaded = crate::jobs::load_component(&runtime, &settings, conn)?;
            let shell = crate::jobs::open_backend(conn, &loaded)?;
            let result =
                crate::jobs::check(&runtime, &settings, conn, &loaded, shell, reporter.clone())
                    .with_context(|| format!("connection {} failed its check", conn.id))?;
            let mut line = format!("{}\n", result.summary());
            for detail in result.detail_lines() {
                line.push_str(&format!("  {detail}\n"));
            }
            (
                vec![WrittenFile {
                    name: CHECK_FILE.into(),
                    bytes: line.clone().into_bytes(),
                }],
                format!("check: {}", line.trim_end()),
            )
        }
        Operation::Export => {
            let runtime = Runtime::new()?;
            let loaded = crate::jobs::load_component(&runtime, &settings, conn)?;
            let cookie_dir = settings.export_cookies();
            fs::create_dir_all(&cookie_dir)?;
            for (name, bytes) in &job.cookies {
                fs::write(cookie_dir.join(name), bytes)?;
            }
            let shell = crate::jobs::open_backend(conn, &loaded)?;
            let outcome = crate::jobs::export_at(
                &runtime,
                &settings,
                conn,
                &loaded,
                shell,
                reporter,
                &crate::jobs::ExportOptions {
                    ignore_cookies: job.ignore_cookies,
                    ..Default::default()
                },
                &job.started_at,
            )?;
            let summary = outcome.summary.describe();
            let mut files = golden::read_dir_files(&settings.export_output())?;
            for cookie in golden::read_dir_files(&cookie_dir)? {
                if files.iter().any(|f| f.name == cookie.name) {
                    bail!(
                        "the component wrote {} to both of its directories; golden files are compared by name",
                        idconn_psrp::untrusted::line(&cookie.name)
                    );
                }
                files.push(cookie);
            }
            files.sort_by(|a, b| a.name.cmp(&b.name));
            (files, summary)
        }
        Operation::Fulfill => {
            let runtime = Runtime::new()?;
            let loaded = crate::jobs::load_component(&runtime, &settings, conn)?;
            let orders_dir = dir.path().join("Orders");
            fs::create_dir_all(&orders_dir)?;
            for (name, json) in &job.orders {
                fs::write(orders_dir.join(name), serde_json::to_vec_pretty(json)?)?;
            }
            let results = dir.path().join("Results").join(RESULTS_FILE);
            let batch = crate::orders::OrderBatch::load(&orders_dir)?;
            let outcome = crate::fulfill::fulfill(
                &runtime,
                &settings,
                conn,
                &loaded,
                reporter,
                batch,
                &crate::fulfill::FulfillOptions {
                    orders_dir,
                    results_file: results.clone(),
                },
            )?;
            let bytes =
                fs::read(&results).with_context(|| format!("cannot read {}", results.display()))?;
            (
                vec![WrittenFile {
                    name: RESULTS_FILE.into(),
                    bytes,
                }],
                format!(
                    "fulfill: {} orders, {} executed, {} errored",
                    outcome.rows.len(),
                    outcome.executed(),
                    outcome.errored()
                ),
            )
        }
    };
    Ok(TestRun {
        operation: job.operation,
        connection: job.connection,
        files,
        summary,
    })
}
