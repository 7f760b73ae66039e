//! idconn:connector@0.2.0 (`wit/since_v0.2.0`, frozen): components built
//! against it run unchanged. Its imports convert the component's values
//! into the latest contract's types and call the host the same way, and
//! convert what the host returns back; its exports are called through
//! [`Instance`], which converts requests and results.
//!
//! What this contract implies that its manifests cannot say lives here,
//! and only here: the entity kinds its summary counts.

use wasmtime::component::Resource;

use super::cells::Cell as LatestCell;
use super::since_v0_4_0::exports::idconn::connector::operations as latest;
use super::since_v0_4_0::idconn::connector::report as latest_report;
use super::since_v0_4_0::idconn::powershell::{shell as latest_shell, values as latest_values};
use crate::sandbox::{JobState, OutputHandle};

wasmtime::component::bindgen!({
    world: "connector",
    path: "../../wit/since_v0.2.0",
    with: {
        "idconn:connector/powershell.output": crate::sandbox::OutputHandle,
    },
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

/// The export name that says a component targets this contract.
pub const EXPORTER_EXPORT: &str = "idconn:connector/exporter@0.2.0";

/// The entity kinds of the 0.2.0 summary (its `mailboxes` and `databases`
/// fields), in that order; also what `EntityTypes` may map to.
pub const ENTITY_KINDS: &[&str] = &["mailbox", "database"];

/// The error ids a 0.2.0 component's host retried after a wait: fragments
/// of the ids of a directory budget exceeded and of throttling (as the
/// 0.2.0 host matched them; 0.3.0 components declare theirs in their
/// manifest's `retryable-errors`).
pub const RETRYABLE_ERRORS: &[&str] = &["*OverBudget", "*Throttl"];

use exports::idconn::connector::{exporter, fulfiller};
use idconn::connector::{powershell, report, types};

super::convert::same_shape_conversions!(values: types, shell: powershell, report: report, text: String);

impl types::Host for JobState {}

impl powershell::Host for JobState {
    fn invoke(
        &mut self,
        pipeline: Vec<powershell::Command>,
    ) -> wasmtime::Result<Result<Resource<OutputHandle>, powershell::Error>> {
        let pipeline = pipeline.into_iter().map(command).collect();
        Ok(self.invoke_pipeline(pipeline)?.map_err(error))
    }
}

impl powershell::HostOutput for JobState {
    fn next(
        &mut self,
        output: Resource<OutputHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Option<types::Batch>, powershell::Error>> {
        Ok(match self.next_batch(&output, max)? {
            Ok(Some(b)) => batch(b).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(error(e)),
        })
    }

    fn errors(
        &mut self,
        output: Resource<OutputHandle>,
    ) -> wasmtime::Result<Vec<powershell::ErrorRecord>> {
        let records = self.table().get(&output)?.inner.errors();
        Ok(records.into_iter().map(error_record).collect())
    }

    fn warnings(&mut self, output: Resource<OutputHandle>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table().get(&output)?.inner.warnings())
    }

    fn drop(&mut self, output: Resource<OutputHandle>) -> wasmtime::Result<()> {
        self.table().delete(output)?;
        Ok(())
    }
}

impl report::Host for JobState {
    fn log(&mut self, level: report::Level, message: String) -> wasmtime::Result<()> {
        self.log_line(level_of(level), &message);
        Ok(())
    }

    fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        // 0.2.0 progress names no entity kind; its exports count mailboxes.
        self.report_progress(latest_report::ProgressUpdate {
            entity: ENTITY_KINDS[0].to_string(),
            done,
            total,
            total_is_estimate: false,
        });
        Ok(())
    }
}

fn error(e: latest_shell::Error) -> powershell::Error {
    use powershell::Error as E;
    match e {
        latest_shell::Error::Denied(m) => E::Denied(m),
        latest_shell::Error::Transport(m) => E::Transport(m),
        latest_shell::Error::Remote(r) => E::Remote(error_record(r)),
        // 0.2.0 has no retryable error: the nearest is a failed transport,
        // which its components treat as "the job failed, run it again".
        latest_shell::Error::Retryable(r) => E::Transport(format!(
            "the server asked to retry later: {}",
            idconn_psrp::untrusted::for_log(&r.reason, 512)
        )),
        latest_shell::Error::Limit(m) => E::Limit(m),
        latest_shell::Error::Timeout => E::Timeout,
    }
}

/// 0.2.0 carries the batch's text as a string: the host built it from
/// strings, so it is UTF-8; should it not be, the call fails rather than
/// hand the component a mangled text.
fn batch(mut b: latest_values::Batch) -> Result<types::Batch, powershell::Error> {
    let text = String::from_utf8(std::mem::take(&mut b.text)).map_err(|_| {
        powershell::Error::Transport("the server's output is not valid UTF-8".into())
    })?;
    Ok(unpacked(b, text))
}

/// The 0.2.0 export request: the latest one less what 0.2.0 lacks
/// (options, max-parallel-pipelines: such a component runs one pipeline
/// at a time and has no options).
pub fn export_request(r: &latest::ExportRequest) -> exporter::ExportRequest {
    exporter::ExportRequest {
        connection: r.connection.clone(),
        output_dir: r.output_dir.clone(),
        cookie_dir: r.cookie_dir.clone(),
        ignore_cookies: r.ignore_cookies,
        started_at: r.started_at.clone(),
    }
}

/// The 0.2.0 summary, counts keyed by [`ENTITY_KINDS`].
pub fn export_summary(s: exporter::ExportSummary) -> latest::ExportSummary {
    latest::ExportSummary {
        complete: s.complete,
        counts: vec![
            (ENTITY_KINDS[0].to_string(), s.mailboxes),
            (ENTITY_KINDS[1].to_string(), s.databases),
        ],
        inserts: s.inserts,
        updates: s.updates,
        deletes: s.deletes,
    }
}

fn field(f: latest::Field) -> fulfiller::Field {
    use latest::Field as L;
    match f {
        L::Null => fulfiller::Field::Null,
        L::Text(t) => fulfiller::Field::Text(t),
        L::Boolean(b) => fulfiller::Field::Boolean(b),
        L::Number(n) => fulfiller::Field::Number(n),
        L::List(l) => fulfiller::Field::List(l),
        L::Reference(r) => fulfiller::Field::Reference(r),
    }
}

fn fields(list: &[(String, latest::Field)]) -> Vec<(String, fulfiller::Field)> {
    list.iter()
        .map(|(k, f)| (k.clone(), field(f.clone())))
        .collect()
}

pub fn fulfill_request(r: &latest::FulfillRequest) -> fulfiller::FulfillRequest {
    fulfiller::FulfillRequest {
        connection: r.connection.clone(),
        orders: r
            .orders
            .iter()
            .map(|o| fulfiller::Order {
                assignment_id: o.assignment_id.clone(),
                change_type: match &o.change_type {
                    latest::ChangeType::Added => fulfiller::ChangeType::Added,
                    latest::ChangeType::Modified => fulfiller::ChangeType::Modified,
                    latest::ChangeType::Deleted => fulfiller::ChangeType::Deleted,
                    latest::ChangeType::Other(t) => fulfiller::ChangeType::Other(t.clone()),
                },
                target_entity_type: o.target_entity_type.clone(),
                resource_type: o.resource_type.clone(),
                owner_id: o.owner_id.clone(),
                owner_type: o.owner_type.clone(),
                changes: fields(&o.changes),
                resource: fields(&o.resource),
            })
            .collect(),
        entity_types: r.entity_types.clone(),
    }
}

pub fn order_result(r: fulfiller::OrderResult) -> latest::OrderResult {
    latest::OrderResult {
        assignment_id: r.assignment_id,
        state: match r.state {
            fulfiller::ProvisioningState::Executed => latest::ProvisioningState::Executed,
            fulfiller::ProvisioningState::Errored => latest::ProvisioningState::Errored,
        },
        message: r.message,
    }
}

/// A 0.2.0 failure is a message; whether a retry may help, it cannot say.
pub fn failure(message: String) -> latest::Failure {
    latest::Failure {
        message,
        retryable: false,
    }
}
