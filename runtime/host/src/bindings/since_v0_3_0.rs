//! idconn:connector@0.3.0 (`wit/since_v0.3.0`, frozen): components built
//! against it run unchanged. 0.3.0 differs from 0.4.0 in one type only:
//! its batch carries values as a list of `cell` variants where 0.4.0 packs
//! them (`record cells`). Everything else is the same shape under another
//! package version, so the conversions (here, and those shared with 0.2.0 in
//! bindings/convert.rs) copy field for field; the batch is unpacked.

use wasmtime::component::Resource;

use super::cells::Cell as LatestCell;
use super::since_v0_4_0::exports::idconn::connector::operations as latest;
use super::since_v0_4_0::idconn::connector::report as latest_report;
use super::since_v0_4_0::idconn::powershell::{shell as latest_shell, values as latest_values};
use crate::sandbox::{JobState, OutputHandle};

wasmtime::component::bindgen!({
    world: "connector",
    path: "../../wit/since_v0.3.0",
    with: {
        "idconn:powershell/shell.output": crate::sandbox::OutputHandle,
    },
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

/// The export name that says a component targets this contract.
pub const OPERATIONS_EXPORT: &str = "idconn:connector/operations@0.3.0";

use exports::idconn::connector::operations;
use idconn::connector::report;
use idconn::powershell::{shell, values};

super::convert::same_shape_conversions!(values: values, shell: shell, report: report, text: Vec<u8>);

impl values::Host for JobState {}

impl shell::Host for JobState {
    fn invoke(
        &mut self,
        pipeline: Vec<shell::Command>,
    ) -> wasmtime::Result<Result<Resource<OutputHandle>, shell::Error>> {
        let pipeline = pipeline.into_iter().map(command).collect();
        Ok(self.invoke_pipeline(pipeline)?.map_err(error))
    }
}

impl shell::HostOutput for JobState {
    fn next(
        &mut self,
        output: Resource<OutputHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Option<values::Batch>, shell::Error>> {
        Ok(match self.next_batch(&output, max)? {
            Ok(b) => Ok(b.map(batch)),
            Err(e) => Err(error(e)),
        })
    }

    fn errors(
        &mut self,
        output: Resource<OutputHandle>,
    ) -> wasmtime::Result<Vec<shell::ErrorRecord>> {
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

    fn progress(&mut self, update: report::ProgressUpdate) -> wasmtime::Result<()> {
        self.report_progress(latest_report::ProgressUpdate {
            entity: update.entity,
            done: update.done,
            total: update.total,
            total_is_estimate: update.total_is_estimate,
        });
        Ok(())
    }
}

fn error(e: latest_shell::Error) -> shell::Error {
    use shell::Error as E;
    match e {
        latest_shell::Error::Denied(m) => E::Denied(m),
        latest_shell::Error::Transport(m) => E::Transport(m),
        latest_shell::Error::Remote(r) => E::Remote(error_record(r)),
        latest_shell::Error::Retryable(r) => E::Retryable(shell::Retry {
            reason: r.reason,
            retry_after_ms: r.retry_after_ms,
        }),
        latest_shell::Error::Limit(m) => E::Limit(m),
        latest_shell::Error::Timeout => E::Timeout,
    }
}

/// The batch with its values unpacked into 0.3.0's cells: the cost 0.4.0
/// saves, paid here for the components built before it.
pub fn batch(mut b: latest_values::Batch) -> values::Batch {
    let text = std::mem::take(&mut b.text);
    unpacked(b, text)
}

pub fn export_request(r: &latest::ExportRequest) -> operations::ExportRequest {
    operations::ExportRequest {
        connection: r.connection.clone(),
        output_dir: r.output_dir.clone(),
        cookie_dir: r.cookie_dir.clone(),
        ignore_cookies: r.ignore_cookies,
        started_at: r.started_at.clone(),
        max_parallel_pipelines: r.max_parallel_pipelines,
        options: r.options.clone(),
    }
}

pub fn export_summary(s: operations::ExportSummary) -> latest::ExportSummary {
    latest::ExportSummary {
        complete: s.complete,
        counts: s.counts,
        inserts: s.inserts,
        updates: s.updates,
        deletes: s.deletes,
    }
}

pub fn failure(f: operations::Failure) -> latest::Failure {
    latest::Failure {
        message: f.message,
        retryable: f.retryable,
    }
}

fn field(f: &latest::Field) -> operations::Field {
    use latest::Field as L;
    match f {
        L::Null => operations::Field::Null,
        L::Text(t) => operations::Field::Text(t.clone()),
        L::Boolean(b) => operations::Field::Boolean(*b),
        L::Number(n) => operations::Field::Number(*n),
        L::List(l) => operations::Field::List(l.clone()),
        L::Reference(r) => operations::Field::Reference(r.clone()),
    }
}

fn fields(list: &[(String, latest::Field)]) -> Vec<(String, operations::Field)> {
    list.iter().map(|(k, f)| (k.clone(), field(f))).collect()
}

pub fn fulfill_request(r: &latest::FulfillRequest) -> operations::FulfillRequest {
    operations::FulfillRequest {
        connection: r.connection.clone(),
        orders: r
            .orders
            .iter()
            .map(|o| operations::Order {
                assignment_id: o.assignment_id.clone(),
                change_type: match &o.change_type {
                    latest::ChangeType::Added => operations::ChangeType::Added,
                    latest::ChangeType::Modified => operations::ChangeType::Modified,
                    latest::ChangeType::Deleted => operations::ChangeType::Deleted,
                    latest::ChangeType::Other(t) => operations::ChangeType::Other(t.clone()),
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
        options: r.options.clone(),
    }
}

pub fn order_result(r: operations::OrderResult) -> latest::OrderResult {
    latest::OrderResult {
        assignment_id: r.assignment_id,
        state: match r.state {
            operations::ProvisioningState::Executed => latest::ProvisioningState::Executed,
            operations::ProvisioningState::Errored => latest::ProvisioningState::Errored,
        },
        message: r.message,
    }
}

pub fn check_request(r: &latest::CheckRequest) -> operations::CheckRequest {
    operations::CheckRequest {
        connection: r.connection.clone(),
        options: r.options.clone(),
    }
}

pub fn check_report(r: operations::CheckReport) -> latest::CheckReport {
    latest::CheckReport {
        summary: r.summary,
        details: r.details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::batch::{BatchBuilder, OutputObject};
    use latest_values::{Element, Scalar, Value};

    #[test]
    fn a_batch_unpacks_into_the_same_cells_in_the_same_places() {
        let mut builder = BatchBuilder::new();
        builder.push_object(&OutputObject {
            type_names: vec!["T".into()],
            to_string: Some("shown".into()),
            properties: vec![
                ("Name".into(), Value::Scalar(Scalar::Text("Ada".into()))),
                ("Count".into(), Value::Scalar(Scalar::Integer(-3))),
                (
                    "Addresses".into(),
                    Value::List(vec![Scalar::Text("a".into()), Scalar::Null]),
                ),
                (
                    "Table".into(),
                    Value::Dictionary(vec![
                        ("k".into(), Element::Scalar(Scalar::Boolean(true))),
                        ("l".into(), Element::List(vec![Scalar::Number(0.5)])),
                    ]),
                ),
            ],
        });
        let latest = builder.finish().unwrap();
        let old = batch(latest.clone());
        let text = |s: values::Span| {
            std::str::from_utf8(&old.text[s.start as usize..(s.start + s.len) as usize]).unwrap()
        };
        let values::Cell::Text(name) = old.values[0] else {
            panic!("{:?}", old.values)
        };
        assert_eq!(text(name), "Ada");
        assert_eq!(old.values[1], values::Cell::Integer(-3));
        let values::Cell::List(items) = old.values[2] else {
            panic!("{:?}", old.values)
        };
        assert_eq!((items.start, items.len), (0, 2));
        assert_eq!(old.items[1], values::Cell::Null);
        let values::Cell::Dictionary(entries) = old.values[3] else {
            panic!("{:?}", old.values)
        };
        assert_eq!(entries.len, 2);
        assert_eq!(text(old.entries[0].key), "k");
        assert_eq!(old.entries[0].value, values::Cell::Boolean(true));
        let values::Cell::List(inner) = old.entries[1].value else {
            panic!("{:?}", old.entries)
        };
        assert_eq!(old.items[inner.start as usize], values::Cell::Number(0.5));
        assert_eq!(old.values.len(), latest.values.len());
        assert_eq!(old.items.len(), latest.items.len());
        assert_eq!(old.entries.len(), latest.entry_keys.len());
        assert_eq!(text(old.objects[0].to_string.unwrap()), "shown");
    }
}
