//! A scripted shell and a recording reporter for native tests.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::batch::{batch_of, Property, PsObject};
use crate::idconn::connector::powershell::{Command, Error, ErrorRecord};
use crate::idconn::connector::report::Level;
use crate::idconn::connector::types::{Batch, NestedObject, Scalar, Value};
use crate::shell::{pipeline_text, PipelineOutput, Reporter, Shell};

/// What a scripted pipeline answers.
#[derive(Clone)]
pub enum Answer {
    /// The objects, then optionally a failure of `next` after that many.
    Objects {
        objects: Vec<PsObject>,
        fail_after: Option<(usize, Error)>,
        errors: Vec<ErrorRecord>,
        warnings: Vec<String>,
    },
    /// `invoke` itself fails.
    Refused(Error),
}

impl Answer {
    pub fn objects(objects: Vec<PsObject>) -> Self {
        Answer::Objects {
            objects,
            fail_after: None,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn nothing() -> Self {
        Self::objects(Vec::new())
    }
}

/// Answers pipelines from a script. Each entry answers once, in order; the
/// last entry for a pipeline keeps answering once the others are used.
#[derive(Default)]
pub struct FakeShell {
    script: Vec<(Vec<Command>, Answer)>,
    used: RefCell<Vec<bool>>,
    pub calls: RefCell<Vec<Vec<Command>>>,
    /// Runs before each call with the call's 0-based index, to change the
    /// world in the middle of a run.
    hook: Option<Box<dyn Fn(usize)>>,
    /// Outputs not dropped yet, and the most there were at once.
    open: Rc<Cell<usize>>,
    pub max_open: Rc<Cell<usize>>,
}

impl FakeShell {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn on(mut self, pipeline: Vec<Command>, answer: Answer) -> Self {
        self.script.push((pipeline, answer));
        self.used.borrow_mut().push(false);
        self
    }

    pub fn before_each_call(mut self, hook: impl Fn(usize) + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The first answer scripted for `pipeline` (to reuse it elsewhere).
    pub fn calls_answer(&self, pipeline: &[Command]) -> Answer {
        self.script
            .iter()
            .find(|(p, _)| p == pipeline)
            .map(|(_, answer)| answer.clone())
            .unwrap_or_else(Answer::nothing)
    }

    /// Every call, as PowerShell-like text.
    pub fn call_texts(&self) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .map(|p| pipeline_text(p))
            .collect()
    }
}

impl Shell for FakeShell {
    type Output = FakeOutput;

    fn invoke(&self, pipeline: &[Command]) -> Result<FakeOutput, Error> {
        if let Some(hook) = &self.hook {
            hook(self.calls.borrow().len());
        }
        self.calls.borrow_mut().push(pipeline.to_vec());
        let mut used = self.used.borrow_mut();
        let matching: Vec<usize> = (0..self.script.len())
            .filter(|&i| self.script[i].0 == pipeline)
            .collect();
        let Some(&index) = matching.iter().find(|&&i| !used[i]).or(matching.last()) else {
            return Err(Error::Denied(format!(
                "no scripted answer for {}",
                pipeline_text(pipeline)
            )));
        };
        used[index] = true;
        match self.script[index].1.clone() {
            Answer::Refused(error) => Err(error),
            Answer::Objects {
                objects,
                fail_after,
                errors,
                warnings,
            } => Ok(FakeOutput {
                open: {
                    self.open.set(self.open.get() + 1);
                    self.max_open.set(self.max_open.get().max(self.open.get()));
                    self.open.clone()
                },
                objects: objects.into(),
                sent: 0,
                fail_after,
                errors,
                warnings,
            }),
        }
    }
}

pub struct FakeOutput {
    open: Rc<Cell<usize>>,
    objects: VecDeque<PsObject>,
    sent: usize,
    fail_after: Option<(usize, Error)>,
    errors: Vec<ErrorRecord>,
    warnings: Vec<String>,
}

impl Drop for FakeOutput {
    fn drop(&mut self) {
        self.open.set(self.open.get().saturating_sub(1));
    }
}

impl PipelineOutput for FakeOutput {
    fn next(&mut self, max: u32) -> Result<Option<Batch>, Error> {
        let mut limit = max as usize;
        if let Some((after, error)) = &self.fail_after {
            if self.sent >= *after {
                return Err(error.clone());
            }
            limit = limit.min(after - self.sent);
        }
        if self.objects.is_empty() {
            return Ok(None);
        }
        let take = limit.min(self.objects.len());
        self.sent += take;
        let objects: Vec<PsObject> = self.objects.drain(..take).collect();
        Ok(Some(batch_of(&objects)))
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        self.errors.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

#[derive(Default)]
pub struct RecordingReporter {
    pub logs: RefCell<Vec<(Level, String)>>,
    pub progress: RefCell<Vec<(u64, Option<u64>)>>,
}

impl RecordingReporter {
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.borrow().iter().any(|(_, m)| m.contains(needle))
    }
}

impl Reporter for RecordingReporter {
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        self.progress.borrow_mut().push((done, total));
    }
}

pub fn text(s: &str) -> Value {
    Value::Scalar(Scalar::Text(s.to_owned()))
}

pub fn boolean(b: bool) -> Value {
    Value::Scalar(Scalar::Boolean(b))
}

pub fn date(s: &str) -> Value {
    Value::Scalar(Scalar::DateTime(s.to_owned()))
}

pub fn guid(s: &str) -> Value {
    Value::Scalar(Scalar::Guid(s.to_owned()))
}

pub fn nil() -> Value {
    Value::Scalar(Scalar::Null)
}

pub fn texts(items: &[&str]) -> Value {
    Value::List(
        items
            .iter()
            .map(|s| Scalar::Text((*s).to_owned()))
            .collect(),
    )
}

/// An `<Obj>` below the top level, as full serialization sends ADObjectIds.
pub fn nested(type_name: &str, to_string: &str) -> Value {
    Value::Scalar(Scalar::Object(NestedObject {
        type_names: vec![type_name.to_owned()],
        to_string: to_string.to_owned(),
    }))
}

pub fn object(properties: Vec<(&str, Value)>) -> PsObject {
    PsObject {
        type_names: vec!["Selected.System.Object".to_owned()],
        to_string: None,
        properties: properties
            .into_iter()
            .map(|(name, value)| Property {
                name: name.to_owned(),
                value,
            })
            .collect(),
    }
}

/// Replaces (or adds) one property.
pub fn with(mut object: PsObject, name: &str, value: Value) -> PsObject {
    match object.properties.iter_mut().find(|p| p.name == name) {
        Some(property) => property.value = value,
        None => object.properties.push(Property {
            name: name.to_owned(),
            value,
        }),
    }
    object
}
