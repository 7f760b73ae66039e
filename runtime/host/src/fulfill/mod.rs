//! The fulfill job: order files in, changes through the
//! component's `fulfiller`, Usercube's results file out.
//!
//! All orders of all files go to the component in one call, so its session
//! is opened once. Nothing is lost: an order is either in the results file
//! or its file is still in the orders directory. The results are written
//! (atomically) before any file moves to `Completed/`, and a job that fails
//! as a whole moves nothing.

mod progress;
pub use progress::FulfillCliReporter;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::bindings::fulfiller::{FulfillRequest, Order, ProvisioningState};
use crate::bindings::Level;
use crate::grants::{Grants, Operation};
use crate::orders::{MalformedFile, OrderBatch, OrderHeader};
use crate::report::Reporter;
use crate::runtime::{LoadedComponent, Runtime};
use crate::sandbox::{Job, JobSpec};
use crate::settings::{Connection, Settings};

/// The results file's header, as Usercube reads it.
pub const RESULTS_HEADER: [&str; 6] = [
    "AssignmentId",
    "ProvisioningState",
    "Message",
    "ChangeType",
    "OwnerId",
    "OwnerType",
];

/// Where processed order files go, under the orders directory.
pub const COMPLETED_DIR: &str = "Completed";

#[derive(Debug, Clone)]
pub struct FulfillOptions {
    pub orders_dir: PathBuf,
    pub results_file: PathBuf,
}

/// One line of the results file.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub header: OrderHeader,
    pub executed: bool,
    pub message: String,
}

#[derive(Debug)]
pub struct FulfillOutcome {
    /// One row per order, in file then order order.
    pub rows: Vec<ResultRow>,
    pub results_file: PathBuf,
    /// Order files moved to `Completed/`, at their new paths.
    pub moved: Vec<PathBuf>,
    /// Files that fulfilled but could not be moved (and why). Their orders
    /// are in the results; a rerun applies them again, which converges.
    pub not_moved: Vec<(PathBuf, String)>,
    /// Files left in place because they are not order files.
    pub malformed: Vec<MalformedFile>,
    pub elapsed: Duration,
}

impl FulfillOutcome {
    pub fn executed(&self) -> usize {
        self.rows.iter().filter(|r| r.executed).count()
    }

    pub fn errored(&self) -> usize {
        self.rows.len() - self.executed()
    }
}

/// Runs one fulfill job over `batch` (read from `options.orders_dir`).
/// The connection's backend is opened only when some order reaches the
/// component.
pub fn fulfill(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: &LoadedComponent,
    reporter: Arc<dyn Reporter>,
    batch: OrderBatch,
    options: &FulfillOptions,
) -> anyhow::Result<FulfillOutcome> {
    fulfill_with_backend(
        runtime,
        settings,
        conn,
        component,
        reporter,
        batch,
        options,
        &mut |conn: &Connection| crate::jobs::open_backend(conn, component),
    )
}

/// Opens a job's backend for a connection (resolved for the job's
/// component by the caller: `jobs::open_backend`).
pub type OpenBackend<'a> =
    dyn FnMut(&Connection) -> anyhow::Result<Box<dyn crate::backend::PowerShell>> + 'a;

/// [`fulfill`] with the backend opened by `open` (`idconn record` wraps
/// the connection's backend in a recorder).
#[allow(clippy::too_many_arguments)]
pub fn fulfill_with_backend(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: &LoadedComponent,
    reporter: Arc<dyn Reporter>,
    batch: OrderBatch,
    options: &FulfillOptions,
    open: &mut OpenBackend<'_>,
) -> anyhow::Result<FulfillOutcome> {
    let started = Instant::now();
    let total = batch.order_count() as u64;

    // Orders the host could not convert are answered here; the others go
    // to the component, remembering their place.
    let mut rows: Vec<Option<ResultRow>> = Vec::with_capacity(batch.order_count());
    let mut sent: Vec<Order> = Vec::new();
    let mut sent_rows: Vec<usize> = Vec::new();
    for file in &batch.files {
        for parsed in &file.orders {
            match &parsed.order {
                Ok(order) => {
                    sent_rows.push(rows.len());
                    sent.push(order.clone());
                    rows.push(None);
                }
                Err(message) => {
                    reporter.log(
                        Level::Warn,
                        &format!(
                            "order {} in {}: Errored: {message}",
                            parsed.header.assignment_id,
                            file.path.display()
                        ),
                    );
                    rows.push(Some(ResultRow {
                        header: parsed.header.clone(),
                        executed: false,
                        message: message.clone(),
                    }));
                }
            }
        }
    }
    let rejected = (rows.len() - sent.len()) as u64;
    if rejected > 0 {
        reporter.progress(rejected, Some(total));
    }

    if !sent.is_empty() {
        let results = run_component(
            runtime,
            settings,
            conn,
            component,
            Arc::new(Offset {
                inner: reporter.clone(),
                offset: rejected,
                total,
            }),
            sent,
            options,
            open,
        );
        if results.is_err() {
            reporter.finish();
        }
        let results = results?;
        let headers: Vec<OrderHeader> = batch
            .files
            .iter()
            .flat_map(|f| f.orders.iter().map(|o| o.header.clone()))
            .collect();
        for (result, &row) in results.into_iter().zip(&sent_rows) {
            let header = headers
                .get(row)
                .cloned()
                .context("internal: an order result without its order")?;
            if result.assignment_id != header.assignment_id {
                bail!(
                    "fulfill of connection {}: the component answered order {} where order {} was expected; no order file was moved and {} was not written",
                    conn.id,
                    // The component's text: escaped and capped.
                    idconn_psrp::untrusted::for_log(&result.assignment_id, 128),
                    header.assignment_id,
                    options.results_file.display()
                );
            }
            rows[row] = Some(ResultRow {
                header,
                executed: matches!(result.state, ProvisioningState::Executed),
                message: result.message,
            });
        }
    }
    reporter.finish();
    let rows: Vec<ResultRow> = rows.into_iter().flatten().collect();
    if rows.len() as u64 != total {
        bail!(
            "fulfill of connection {}: {} results for {total} orders; no order file was moved and {} was not written",
            conn.id,
            rows.len(),
            options.results_file.display()
        );
    }

    write_results(&options.results_file, &rows)?;

    let completed = options.orders_dir.join(COMPLETED_DIR);
    let mut moved = Vec::new();
    let mut not_moved = Vec::new();
    for file in &batch.files {
        match move_to(&file.path, &completed) {
            Ok(target) => moved.push(target),
            Err(e) => {
                tracing::error!(
                    "order file {} was fulfilled but cannot be moved to {}: {e:#}",
                    file.path.display(),
                    completed.display()
                );
                not_moved.push((file.path.clone(), format!("{e:#}")));
            }
        }
    }
    Ok(FulfillOutcome {
        rows,
        results_file: options.results_file.clone(),
        moved,
        not_moved,
        malformed: batch.malformed,
        elapsed: started.elapsed(),
    })
}

/// One sandboxed call of `fulfiller::run`: one result per order, in order.
#[allow(clippy::too_many_arguments)]
fn run_component(
    runtime: &Runtime,
    settings: &Settings,
    conn: &Connection,
    component: &LoadedComponent,
    reporter: Arc<dyn Reporter>,
    orders: Vec<Order>,
    options: &FulfillOptions,
    open: &mut OpenBackend<'_>,
) -> anyhow::Result<Vec<crate::bindings::fulfiller::OrderResult>> {
    let count = orders.len();
    let failed = |what: String| {
        format!(
            "fulfill of connection {} failed: {what}; no order file was moved and {} was not written",
            conn.id,
            options.results_file.display()
        )
    };
    let shell = open(conn).with_context(|| failed("no session".into()))?;
    // A fulfill component needs no files; the sandbox still preopens its
    // two directories, so it gets two empty ones that are removed after.
    let scratch = Scratch::create(&settings.work_folder, &conn.id)?;
    let mut job = Job::new(
        runtime,
        component,
        JobSpec {
            connection: conn.id.clone(),
            limits: conn.limits.clone(),
            grants: Grants::for_connection(Operation::Fulfill, conn),
            shell,
            reporter,
            output_dir: scratch.output.clone(),
            cookie_dir: scratch.cookies.clone(),
        },
    )
    .with_context(|| failed("the job did not start".into()))?;
    let request = FulfillRequest {
        connection: conn.id.clone(),
        orders,
        entity_types: conn.entity_types.clone(),
        options: conn.options.clone(),
    };
    let results = job
        .fulfill(&request)
        .map_err(|e| anyhow::anyhow!(failed(e.to_string())))?;
    // Closes the session before the files are touched.
    drop(job);
    if results.len() != count {
        bail!(failed(format!(
            "the component returned {} results for {count} orders",
            results.len()
        )));
    }
    Ok(results)
}

/// Component progress is counted over the orders it received; the
/// operator sees it over all orders, after those the host answered.
struct Offset {
    inner: Arc<dyn Reporter>,
    offset: u64,
    total: u64,
}

impl Reporter for Offset {
    fn log(&self, level: Level, message: &str) {
        self.inner.log(level, message);
    }

    fn progress(&self, done: u64, _total: Option<u64>) {
        self.inner
            .progress(self.offset.saturating_add(done), Some(self.total));
    }
}

/// Writes the results CSV next to its final name, then renames it into
/// place: a reader never sees half a file.
pub fn write_results(path: &Path, rows: &[ResultRow]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the results directory {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("the results path {} has no file name", path.display()))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> anyhow::Result<()> {
        let file = fs::File::create(&temp)?;
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(std::io::BufWriter::new(file));
        csv.write_record(RESULTS_HEADER)?;
        for row in rows {
            let h = &row.header;
            let state = if row.executed { "Executed" } else { "Errored" };
            csv.write_record([
                h.assignment_id.as_str(),
                state,
                row.message.as_str(),
                h.change_type.as_str(),
                h.owner_id.as_str(),
                h.owner_type.as_str(),
            ])?;
        }
        let file = csv
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))?
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e.context(format!(
            "cannot write the results file {}; no order file was moved",
            path.display()
        )));
    }
    Ok(())
}

/// Moves `file` into `dir` (created if needed) under its own name, or with
/// `-1`, `-2`... before the extension when that name is taken.
pub fn move_to(file: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = file
        .file_name()
        .with_context(|| format!("{} has no file name", file.display()))?;
    let mut target = dir.join(name);
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = file
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut n = 0u32;
    while target.exists() {
        n += 1;
        if n > 10_000 {
            bail!(
                "{} holds too many files named like {}",
                dir.display(),
                name.to_string_lossy()
            );
        }
        target = dir.join(format!("{stem}-{n}{ext}"));
    }
    fs::rename(file, &target)
        .with_context(|| format!("cannot move {} to {}", file.display(), target.display()))?;
    Ok(target)
}

static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(0);

/// Two empty directories for the sandbox's preopens, removed on drop.
pub(crate) struct Scratch {
    root: PathBuf,
    pub(crate) output: PathBuf,
    pub(crate) cookies: PathBuf,
}

impl Scratch {
    pub(crate) fn create(work_folder: &Path, connection: &str) -> anyhow::Result<Scratch> {
        let root = work_folder.join(".idconn-fulfill").join(format!(
            "{connection}-{}-{}",
            std::process::id(),
            NEXT_SCRATCH.fetch_add(1, Ordering::Relaxed)
        ));
        if root.exists() {
            fs::remove_dir_all(&root)
                .with_context(|| format!("cannot clear {}", root.display()))?;
        }
        let output = root.join("output");
        let cookies = root.join("cookies");
        for dir in [&output, &cookies] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(Scratch {
            root,
            output,
            cookies,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.root) {
            tracing::warn!("cannot remove {}: {e}", self.root.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::OrderHeader;

    fn row(id: &str, executed: bool, message: &str) -> ResultRow {
        ResultRow {
            header: OrderHeader {
                assignment_id: id.into(),
                change_type: "Added".into(),
                owner_id: "21511".into(),
                owner_type: "51".into(),
            },
            executed,
            message: message.into(),
        }
    }

    #[test]
    fn results_are_usercube_csv_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out").join("results.csv");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "old").unwrap();
        write_results(
            &path,
            &[
                row("1", true, "ran Enable-Mailbox"),
                row("2", false, "Set-Mailbox failed: \"x\", y"),
            ],
        )
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "AssignmentId,ProvisioningState,Message,ChangeType,OwnerId,OwnerType\n\
             1,Executed,ran Enable-Mailbox,Added,21511,51\n\
             2,Errored,\"Set-Mailbox failed: \"\"x\"\", y\",Added,21511,51\n"
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
    }

    #[test]
    fn a_results_file_that_cannot_be_written_says_nothing_moved() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("results.csv");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let e = write_results(&path, &[row("1", true, "")]).unwrap_err();
        assert!(
            format!("{e:#}").contains("no order file was moved"),
            "{e:#}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn moving_to_completed_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let completed = dir.path().join(COMPLETED_DIR);
        for n in 0..3 {
            let file = dir.path().join("orders.json");
            fs::write(&file, format!("{n}")).unwrap();
            move_to(&file, &completed).unwrap();
            assert!(!file.exists());
        }
        let read = |name: &str| fs::read_to_string(completed.join(name)).unwrap();
        assert_eq!(read("orders.json"), "0");
        assert_eq!(read("orders-1.json"), "1");
        assert_eq!(read("orders-2.json"), "2");
    }
}
