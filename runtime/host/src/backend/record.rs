//! The recording backend: wraps a job's real backend and keeps every
//! pipeline the component ran with what it answered (output objects as the
//! component received them, error records, warnings, the failure), so
//! `idconn record` can write them as a replay fixture (docs/replay.md).
//!
//! What is kept is the batch the component saw, decoded back to objects:
//! type names, ToString, every property with its kind, nested objects'
//! type names and ToString. That is exactly what a component can observe,
//! so a replay of it is indistinguishable to the component.

use std::sync::{Arc, Mutex, MutexGuard};

use super::batch::OutputObject;
use super::{PipelineOutput, PowerShell};
use crate::bindings::{
    Batch, CallError, Cell, Command, Element, ErrorRecord, NestedObject, Scalar, Span, Value,
};

/// One pipeline as it ran.
#[derive(Debug, Clone, Default)]
pub struct RecordedCall {
    pub pipeline: Vec<Command>,
    pub output: Vec<OutputObject>,
    /// How many objects each `next` handed out, in order: the replay hands
    /// out the same batches, so a component that interleaves several
    /// pipelines batch by batch writes its rows in the same order.
    pub batches: Vec<usize>,
    pub errors: Vec<ErrorRecord>,
    pub warnings: Vec<String>,
    /// How the call ended when it failed.
    pub failure: Option<CallError>,
    /// The failure was `invoke`'s answer, before any output.
    pub failed_on_invoke: bool,
}

/// What a recording holds so far, shared by the recorder and its outputs.
#[derive(Debug, Default)]
pub struct Recording {
    pub calls: Vec<RecordedCall>,
    /// Approximate bytes held, against the recording's bound.
    bytes: usize,
}

/// A handle on the recording, readable after the job ended.
#[derive(Clone, Default)]
pub struct RecordingHandle(Arc<Mutex<Recording>>);

impl RecordingHandle {
    fn lock(&self) -> MutexGuard<'_, Recording> {
        // A panic while holding the lock leaves a recording that is still
        // consistent call by call: keep using it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The calls recorded, in the order the component ran them.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }
}

/// A backend that records what `inner` answers.
pub struct Recorder {
    inner: Box<dyn PowerShell>,
    recording: RecordingHandle,
    max_bytes: usize,
}

impl Recorder {
    /// Records at most about `max_bytes` of output; past that the call
    /// fails with a limit error, so a recording never exhausts memory.
    pub fn new(inner: Box<dyn PowerShell>, max_bytes: usize) -> (Recorder, RecordingHandle) {
        let recording = RecordingHandle::default();
        (
            Recorder {
                inner,
                recording: recording.clone(),
                max_bytes,
            },
            recording,
        )
    }
}

impl PowerShell for Recorder {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        let result = self.inner.invoke(pipeline);
        let mut recording = self.recording.lock();
        let index = recording.calls.len();
        recording.bytes = recording
            .bytes
            .saturating_add(super::describe(pipeline).len());
        let mut call = RecordedCall {
            pipeline: pipeline.to_vec(),
            ..RecordedCall::default()
        };
        match result {
            Ok(inner) => {
                recording.calls.push(call);
                Ok(Box::new(RecordingOutput {
                    inner,
                    recording: self.recording.clone(),
                    index,
                    max_bytes: self.max_bytes,
                }))
            }
            Err(e) => {
                call.failure = Some(e.clone());
                call.failed_on_invoke = true;
                recording.calls.push(call);
                Err(e)
            }
        }
    }
}

struct RecordingOutput {
    inner: Box<dyn PipelineOutput>,
    recording: RecordingHandle,
    index: usize,
    max_bytes: usize,
}

impl RecordingOutput {
    fn with_call(&self, f: impl FnOnce(&mut RecordedCall)) {
        let mut recording = self.recording.lock();
        if let Some(call) = recording.calls.get_mut(self.index) {
            f(call);
        }
    }

    /// Errors and warnings are "seen so far": the last look is the whole
    /// list.
    fn keep_streams(&self) {
        let errors = self.inner.errors();
        let warnings = self.inner.warnings();
        self.with_call(|call| {
            call.errors = errors;
            call.warnings = warnings;
        });
    }
}

impl PipelineOutput for RecordingOutput {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError> {
        let result = self.inner.next_batch(max);
        match &result {
            Ok(Some(batch)) => {
                let objects = objects_from_batch(batch);
                let size: usize = objects.iter().map(approximate_size).sum();
                let mut recording = self.recording.lock();
                recording.bytes = recording.bytes.saturating_add(size);
                if recording.bytes > self.max_bytes {
                    return Err(CallError::Limit(format!(
                        "the recording holds more than {} MiB of output (option --max-fixture-mib)",
                        self.max_bytes >> 20
                    )));
                }
                if let Some(call) = recording.calls.get_mut(self.index) {
                    call.batches.push(objects.len());
                    call.output.extend(objects);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let e = e.clone();
                self.with_call(|call| call.failure = Some(e));
            }
        }
        self.keep_streams();
        result
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        let errors = self.inner.errors();
        let kept = errors.clone();
        self.with_call(|call| call.errors = kept);
        errors
    }

    fn warnings(&self) -> Vec<String> {
        let warnings = self.inner.warnings();
        let kept = warnings.clone();
        self.with_call(|call| call.warnings = kept);
        warnings
    }
}

impl Drop for RecordingOutput {
    fn drop(&mut self) {
        self.keep_streams();
    }
}

fn approximate_size(o: &OutputObject) -> usize {
    fn scalar(s: &Scalar) -> usize {
        match s {
            Scalar::Text(t) | Scalar::DateTime(t) | Scalar::Guid(t) => t.len() + 8,
            Scalar::Bytes(b) => b.len() * 4 / 3 + 16,
            Scalar::Object(o) => {
                o.to_string.len() + o.type_names.iter().map(String::len).sum::<usize>() + 32
            }
            _ => 8,
        }
    }
    let values: usize = o
        .properties
        .iter()
        .map(|(name, v)| {
            name.len()
                + match v {
                    Value::Scalar(s) => scalar(s),
                    Value::List(items) => items.iter().map(scalar).sum(),
                    Value::Dictionary(entries) => entries
                        .iter()
                        .map(|(k, e)| {
                            k.len()
                                + match e {
                                    Element::Scalar(s) => scalar(s),
                                    Element::List(items) => items.iter().map(scalar).sum(),
                                }
                        })
                        .sum(),
                }
        })
        .sum();
    values
        + o.type_names.iter().map(String::len).sum::<usize>()
        + o.to_string.as_ref().map_or(0, String::len)
        + 64
}

/// A batch decoded back into objects, the inverse of
/// [`super::batch::BatchBuilder::push_object`]. An index or span outside
/// the batch (a host bug, never a server's doing) reads as null.
pub fn objects_from_batch(batch: &Batch) -> Vec<OutputObject> {
    let text = |span: &Span| -> String {
        let start = span.start as usize;
        start
            .checked_add(span.len as usize)
            .and_then(|end| batch.text.get(start..end))
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or_default()
            .to_string()
    };
    let range = |span: &Span| -> std::ops::Range<usize> {
        let start = span.start as usize;
        start..start.saturating_add(span.len as usize)
    };
    let scalar = |cell: Cell| -> Scalar {
        match cell {
            Cell::Null | Cell::List(_) | Cell::Dictionary(_) => Scalar::Null,
            Cell::Text(s) => Scalar::Text(text(&s)),
            Cell::Boolean(b) => Scalar::Boolean(b),
            Cell::Integer(n) => Scalar::Integer(n),
            Cell::Number(f) => Scalar::Number(f),
            Cell::DateTime(s) => Scalar::DateTime(text(&s)),
            Cell::Guid(s) => Scalar::Guid(text(&s)),
            Cell::Bytes(s) => {
                Scalar::Bytes(batch.binary.get(range(&s)).unwrap_or_default().to_vec())
            }
            Cell::Object(i) => Scalar::Object(batch.nested.get(i as usize).cloned().unwrap_or(
                NestedObject {
                    type_names: Vec::new(),
                    to_string: String::new(),
                },
            )),
        }
    };
    let list = |span: Span| -> Vec<Scalar> { batch.items.range(span).map(scalar).collect() };
    let value = |cell: Cell| -> Value {
        match cell {
            Cell::List(span) => Value::List(list(span)),
            Cell::Dictionary(span) => Value::Dictionary(
                batch
                    .entry_keys
                    .get(range(&span))
                    .unwrap_or_default()
                    .iter()
                    .zip(batch.entry_values.range(span))
                    .map(|(key, value)| {
                        let element = match value {
                            Cell::List(span) => Element::List(list(span)),
                            other => Element::Scalar(scalar(other)),
                        };
                        (text(key), element)
                    })
                    .collect(),
            ),
            other => Value::Scalar(scalar(other)),
        }
    };
    batch
        .objects
        .iter()
        .map(|object| {
            let shape = batch.shapes.get(object.shape as usize);
            let names = shape
                .map(|s| s.property_names.as_slice())
                .unwrap_or_default();
            let cells = batch.values.range(object.values);
            OutputObject {
                type_names: shape.map(|s| s.type_names.clone()).unwrap_or_default(),
                to_string: object.to_string.as_ref().map(text),
                properties: names
                    .iter()
                    .zip(cells)
                    .map(|(name, cell)| (name.clone(), value(cell)))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::batch::BatchBuilder;
    use super::super::mapping::object_from_clixml;
    use super::*;

    const KINDS: &str = r#"<Obj RefId="0"><TN RefId="0"><T>Selected.System.Object</T></TN><ToString>x</ToString><MS><S N="Text">a b</S><B N="Flag">true</B><I32 N="Count">7</I32><U64 N="Big">18446744073709551615</U64><Db N="Ratio">0.5</Db><Db N="Whole">2</Db><DT N="When">2022-10-31T01:01:36.5Z</DT><G N="Guid">9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2</G><BA N="Bytes">AQID</BA><Nil N="Empty" /><Obj N="List" RefId="1"><TN RefId="1"><T>System.Object[]</T></TN><LST><S>SMTP:a@contoso.com</S><G>9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2</G></LST></Obj><Obj N="Dict" RefId="2"><TN RefId="2"><T>System.Collections.Hashtable</T></TN><DCT><En><S N="Key">Add</S><S N="Value">x</S></En></DCT></Obj><Obj N="Nested" RefId="3"><TN RefId="3"><T>Sample.Directory.ObjectId</T></TN><ToString>contoso.com/Users/a</ToString><Props><S N="Name">a</S></Props></Obj></MS></Obj>"#;

    /// Decoding a batch gives back the objects it was built from, and their
    /// fixture JSON reads back as the same objects: a recording loses
    /// nothing a component can see.
    #[test]
    fn a_batch_decodes_to_its_objects_and_through_json_unchanged() {
        let value = idconn_psrp::clixml::from_str(KINDS).unwrap();
        let object = object_from_clixml(&value);
        let primitive = object_from_clixml(&idconn_psrp::clixml::from_str("<S>hi</S>").unwrap());
        let mut builder = BatchBuilder::new();
        builder.push_object(&object);
        builder.push_object(&primitive);
        let decoded = objects_from_batch(&builder.finish().unwrap());
        assert_eq!(decoded, vec![object.clone(), primitive]);
        let json = super::super::fixture_value::object_to_json(&object);
        let text = serde_json::to_string(&json).unwrap();
        let back = super::super::fixture_value::parse_object(&serde_json::from_str(&text).unwrap())
            .unwrap();
        assert_eq!(back, object);
    }
}
