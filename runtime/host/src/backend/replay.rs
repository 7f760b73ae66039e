//! The `Replay` backend: pipelines answered from a fixture file instead of a
//! server. For component tests under wasmtime and for connector authors.
//! The format is documented in docs/replay.md.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{Map, Value as Json};

use super::batch::{BatchBuilder, OutputObject};
use super::{PipelineOutput, PowerShell};
use crate::bindings::{
    Argument, Batch, CallError, Command, Element, ErrorRecord, NestedObject, Scalar, Value,
};

/// A parsed fixture: the calls in the order they are matched.
#[derive(Debug, Clone)]
pub struct Fixture {
    calls: Vec<Call>,
}

#[derive(Debug, Clone)]
struct Call {
    pipeline: Vec<CommandMatch>,
    output: Vec<OutputObject>,
    errors: Vec<ErrorRecord>,
    warnings: Vec<String>,
    /// Fail after this many objects (all of `output` when absent).
    fail_after: Option<usize>,
    fail: Option<Failure>,
}

#[derive(Debug, Clone)]
enum Failure {
    Remote(ErrorRecord),
    Transport(String),
}

#[derive(Debug, Clone)]
struct CommandMatch {
    name: String,
    /// Parameters that must be present with an equal value; `"*"` matches
    /// any value. Parameters not listed are ignored.
    parameters: Vec<(String, Json)>,
}

impl Fixture {
    pub fn load(path: &Path) -> anyhow::Result<Fixture> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the replay fixture {}", path.display()))?;
        Fixture::parse(&text).with_context(|| format!("replay fixture {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Fixture> {
        let root: Json = serde_json::from_str(text).context("not valid JSON")?;
        let calls = root
            .get("Calls")
            .and_then(Json::as_array)
            .context("expected an object with a \"Calls\" array")?;
        let calls = calls
            .iter()
            .enumerate()
            .map(|(i, c)| parse_call(c).with_context(|| format!("Calls[{i}]")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Fixture { calls })
    }

    fn find(&self, pipeline: &[Command]) -> Option<&Call> {
        self.calls.iter().find(|call| {
            call.pipeline.len() == pipeline.len()
                && call
                    .pipeline
                    .iter()
                    .zip(pipeline)
                    .all(|(m, c)| command_matches(m, c))
        })
    }
}

/// Runs pipelines against a fixture.
pub struct Replay {
    fixture: Fixture,
}

impl Replay {
    pub fn new(fixture: Fixture) -> Self {
        Replay { fixture }
    }
}

impl PowerShell for Replay {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        let call = self.fixture.find(pipeline).ok_or_else(|| {
            CallError::Remote(ErrorRecord {
                message: format!(
                    "the replay fixture has no entry for: {}",
                    super::describe(pipeline)
                ),
                fully_qualified_error_id: "ReplayNoMatch".into(),
                category: "ObjectNotFound".into(),
                target: None,
            })
        })?;
        Ok(Box::new(ReplayOutput {
            call: call.clone(),
            position: 0,
        }))
    }
}

struct ReplayOutput {
    call: Call,
    position: usize,
}

impl PipelineOutput for ReplayOutput {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError> {
        let end = self
            .call
            .fail_after
            .unwrap_or(self.call.output.len())
            .min(self.call.output.len());
        if self.position >= end {
            return match &self.call.fail {
                Some(Failure::Remote(e)) => Err(CallError::Remote(e.clone())),
                Some(Failure::Transport(m)) => Err(CallError::Transport(m.clone())),
                None => Ok(None),
            };
        }
        let take = max.max(1).min(end - self.position);
        let mut builder = BatchBuilder::new();
        for object in &self.call.output[self.position..self.position + take] {
            builder.push_object(object);
        }
        self.position += take;
        builder
            .finish()
            .map(Some)
            .map_err(|e| CallError::Limit(e.to_string()))
    }

    fn errors(&self) -> Vec<ErrorRecord> {
        self.call.errors.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.call.warnings.clone()
    }
}

fn command_matches(m: &CommandMatch, c: &Command) -> bool {
    m.name.eq_ignore_ascii_case(&c.name)
        && m.parameters.iter().all(|(name, want)| {
            c.parameters.iter().any(|p| {
                p.name.trim_start_matches('-').eq_ignore_ascii_case(name)
                    && (want.as_str() == Some("*") || argument_to_json(&p.argument) == *want)
            })
        })
}

/// A parameter's argument in the fixture's JSON terms: a switch is `true`.
fn argument_to_json(arg: &Argument) -> Json {
    fn scalar(s: &Scalar) -> Json {
        match s {
            Scalar::Null => Json::Null,
            Scalar::Text(t) | Scalar::DateTime(t) | Scalar::Guid(t) => Json::String(t.clone()),
            Scalar::Boolean(b) => Json::Bool(*b),
            Scalar::Integer(n) => Json::from(*n),
            Scalar::Number(f) => Json::from(*f),
            Scalar::Bytes(b) => Json::from(b.clone()),
            Scalar::Object(o) => Json::String(o.to_string.clone()),
        }
    }
    let list = |items: &[Scalar]| Json::Array(items.iter().map(scalar).collect());
    match arg {
        Argument::Switch => Json::Bool(true),
        Argument::Value(Value::Scalar(s)) => scalar(s),
        Argument::Value(Value::List(items)) => list(items),
        Argument::Value(Value::Dictionary(entries)) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Element::Scalar(s) => scalar(s),
                        Element::List(items) => list(items),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
    }
}

fn parse_call(c: &Json) -> anyhow::Result<Call> {
    let obj = c.as_object().context("must be an object")?;
    let pipeline = obj
        .get("Pipeline")
        .and_then(Json::as_array)
        .context("\"Pipeline\" must be an array of commands")?
        .iter()
        .enumerate()
        .map(|(i, cmd)| parse_command_match(cmd).with_context(|| format!("Pipeline[{i}]")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if pipeline.is_empty() {
        bail!("\"Pipeline\" is empty");
    }
    let output = match obj.get("Output") {
        None => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, o)| parse_object(o).with_context(|| format!("Output[{i}]")))
            .collect::<anyhow::Result<Vec<_>>>()?,
        Some(_) => bail!("\"Output\" must be an array of objects"),
    };
    let errors = match obj.get("Errors") {
        None => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .map(parse_error_record)
            .collect::<anyhow::Result<Vec<_>>>()
            .context("Errors")?,
        Some(_) => bail!("\"Errors\" must be an array of error records"),
    };
    let warnings = match obj.get("Warnings") {
        None => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|w| {
                w.as_str()
                    .map(str::to_string)
                    .context("a warning must be a string")
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        Some(_) => bail!("\"Warnings\" must be an array of strings"),
    };
    let fail_after = match obj.get("FailAfter") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .context("\"FailAfter\" must be a whole number")?,
        ),
    };
    let fail = match (obj.get("Error"), obj.get("TransportError")) {
        (Some(e), None) => Some(Failure::Remote(parse_error_record(e).context("Error")?)),
        (None, Some(Json::String(m))) => Some(Failure::Transport(m.clone())),
        (None, Some(_)) => bail!("\"TransportError\" must be a string"),
        (Some(_), Some(_)) => bail!("give \"Error\" or \"TransportError\", not both"),
        (None, None) => None,
    };
    if fail_after.is_some() && fail.is_none() {
        bail!("\"FailAfter\" needs an \"Error\" or a \"TransportError\"");
    }
    Ok(Call {
        pipeline,
        output,
        errors,
        warnings,
        fail_after,
        fail,
    })
}

fn parse_command_match(cmd: &Json) -> anyhow::Result<CommandMatch> {
    let obj = cmd.as_object().context("must be an object")?;
    let name = obj
        .get("Command")
        .and_then(Json::as_str)
        .context("\"Command\" (the cmdlet name) is missing")?
        .to_string();
    let parameters = match obj.get("Parameters") {
        None => Vec::new(),
        Some(Json::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.trim_start_matches('-').to_string(), v.clone()))
            .collect(),
        Some(_) => bail!("\"Parameters\" must be an object"),
    };
    Ok(CommandMatch { name, parameters })
}

fn parse_error_record(e: &Json) -> anyhow::Result<ErrorRecord> {
    let obj = e.as_object().context("an error record must be an object")?;
    let text = |k: &str| obj.get(k).and_then(Json::as_str).map(str::to_string);
    Ok(ErrorRecord {
        message: text("Message").context("an error record needs \"Message\"")?,
        fully_qualified_error_id: text("FullyQualifiedErrorId").unwrap_or_default(),
        category: text("Category").unwrap_or_else(|| "NotSpecified".into()),
        target: text("Target"),
    })
}

fn parse_object(o: &Json) -> anyhow::Result<OutputObject> {
    let obj = o.as_object().context("an object must be a JSON object")?;
    let type_names = match obj.get("TypeNames") {
        None => Vec::new(),
        Some(v) => string_list(v).context("TypeNames")?,
    };
    let to_string = obj
        .get("ToString")
        .and_then(Json::as_str)
        .map(str::to_string);
    let properties = match obj.get("Properties") {
        None => Vec::new(),
        Some(Json::Object(props)) => props
            .iter()
            .map(|(name, v)| {
                Ok((
                    name.clone(),
                    parse_value(v).with_context(|| format!("Properties.{name}"))?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        Some(_) => bail!("\"Properties\" must be an object"),
    };
    Ok(OutputObject {
        type_names,
        to_string,
        properties,
    })
}

fn string_list(v: &Json) -> anyhow::Result<Vec<String>> {
    v.as_array()
        .context("must be an array of strings")?
        .iter()
        .map(|s| s.as_str().map(str::to_string).context("must be a string"))
        .collect()
}

fn parse_value(v: &Json) -> anyhow::Result<Value> {
    match v {
        Json::Array(items) => Ok(Value::List(
            items
                .iter()
                .map(parse_scalar)
                .collect::<anyhow::Result<_>>()?,
        )),
        Json::Object(map) if map.len() == 1 && map.contains_key("Dictionary") => {
            let entries = map
                .get("Dictionary")
                .and_then(Json::as_object)
                .context("\"Dictionary\" must be an object")?;
            Ok(Value::Dictionary(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let e = match v {
                            Json::Array(items) => Element::List(
                                items
                                    .iter()
                                    .map(parse_scalar)
                                    .collect::<anyhow::Result<_>>()?,
                            ),
                            other => Element::Scalar(parse_scalar(other)?),
                        };
                        Ok((k.clone(), e))
                    })
                    .collect::<anyhow::Result<_>>()?,
            ))
        }
        other => Ok(Value::Scalar(parse_scalar(other)?)),
    }
}

fn parse_scalar(v: &Json) -> anyhow::Result<Scalar> {
    Ok(match v {
        Json::Null => Scalar::Null,
        Json::Bool(b) => Scalar::Boolean(*b),
        Json::String(s) => Scalar::Text(s.clone()),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Integer(i),
            None => Scalar::Number(n.as_f64().context("number out of range")?),
        },
        Json::Object(map) => typed_scalar(map)?,
        Json::Array(_) => bail!("a list cannot hold a list"),
    })
}

/// `{"DateTime": ...}`, `{"Guid": ...}`, `{"Bytes": base64}`,
/// `{"Object": {"TypeNames": [...], "ToString": ...}}`.
fn typed_scalar(map: &Map<String, Json>) -> anyhow::Result<Scalar> {
    let (kind, v) = match map.iter().next() {
        Some(entry) if map.len() == 1 => entry,
        _ => bail!("a typed value is an object with one key: DateTime, Guid, Bytes or Object"),
    };
    let text = || {
        v.as_str()
            .map(str::to_string)
            .with_context(|| format!("\"{kind}\" must be a string"))
    };
    Ok(match kind.as_str() {
        "DateTime" => Scalar::DateTime(text()?),
        "Guid" => Scalar::Guid(text()?.to_ascii_lowercase()),
        "Bytes" => {
            use base64::Engine as _;
            Scalar::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(text()?)
                    .context("\"Bytes\" must be base64")?,
            )
        }
        "Object" => {
            let o = v.as_object().context("\"Object\" must be an object")?;
            Scalar::Object(NestedObject {
                type_names: match o.get("TypeNames") {
                    None => Vec::new(),
                    Some(t) => string_list(t).context("Object.TypeNames")?,
                },
                to_string: o
                    .get("ToString")
                    .and_then(Json::as_str)
                    .context("Object needs \"ToString\"")?
                    .to_string(),
            })
        }
        other => bail!("unknown typed value \"{other}\" (known: DateTime, Guid, Bytes, Object)"),
    })
}
