//! The `Replay` backend: pipelines answered from a fixture file instead of a
//! server. For component tests under wasmtime and for connector authors.
//! The format is documented in docs/replay.md.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value as Json;

use super::batch::{BatchBuilder, OutputObject};
use super::fixture_value::{parse_error_record, parse_object};
use super::{PipelineOutput, PowerShell};
use crate::bindings::{Argument, Batch, CallError, Command, Element, ErrorRecord, Scalar, Value};

/// A CLIXML output file a fixture names is read whole: a bound, because a
/// fixture is input too.
const MAX_CLIXML_FILE: u64 = 256 << 20;

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
    /// The objects each `next` hands out, in order, as recorded (`Batches`);
    /// past the list, or without one, as many as the component asks for.
    batches: Vec<usize>,
    fail: Option<Failure>,
    /// The failure is the answer of `invoke` itself (the server refused the
    /// pipeline before any output), not of a later `next`.
    fail_on_invoke: bool,
    /// Answers one pipeline only, then the next matching entry answers: a
    /// recorded session replays in order (the same `Get-Mailbox` before and
    /// after an `Enable-Mailbox` answers as it did then).
    once: bool,
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
    /// Reads a fixture file; `ClixmlFile` paths are relative to its directory.
    pub fn load(path: &Path) -> anyhow::Result<Fixture> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the replay fixture {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Fixture::parse_in(&text, Some(base))
            .with_context(|| format!("replay fixture {}", path.display()))
    }

    /// A fixture from text; a `ClixmlFile` entry is refused (no directory).
    pub fn parse(text: &str) -> anyhow::Result<Fixture> {
        Fixture::parse_in(text, None)
    }

    fn parse_in(text: &str, base: Option<&Path>) -> anyhow::Result<Fixture> {
        let root: Json = serde_json::from_str(text).context("not valid JSON")?;
        let calls = root
            .get("Calls")
            .and_then(Json::as_array)
            .context("expected an object with a \"Calls\" array")?;
        let calls = calls
            .iter()
            .enumerate()
            .map(|(i, c)| parse_call(c, base).with_context(|| format!("Calls[{i}]")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Fixture { calls })
    }

    /// The first entry that matches and has not answered yet if it answers
    /// once.
    fn find(&self, pipeline: &[Command], used: &[bool]) -> Option<usize> {
        self.calls.iter().enumerate().position(|(i, call)| {
            !(call.once && used.get(i).copied().unwrap_or(false))
                && call.pipeline.len() == pipeline.len()
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
    /// Which entries have answered (for entries that answer once).
    used: Vec<bool>,
}

impl Replay {
    pub fn new(fixture: Fixture) -> Self {
        let used = vec![false; fixture.calls.len()];
        Replay { fixture, used }
    }
}

impl PowerShell for Replay {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError> {
        let index = self.fixture.find(pipeline, &self.used).ok_or_else(|| {
            CallError::Remote(ErrorRecord {
                message: format!(
                    "the replay fixture has no (more) entries for: {}",
                    super::describe(pipeline)
                ),
                fully_qualified_error_id: "ReplayNoMatch".into(),
                category: "ObjectNotFound".into(),
                target: None,
            })
        })?;
        if let Some(used) = self.used.get_mut(index) {
            *used = true;
        }
        let call = self
            .fixture
            .calls
            .get(index)
            .cloned()
            .ok_or_else(|| CallError::Transport("internal: a replay entry vanished".into()))?;
        if call.fail_on_invoke {
            match &call.fail {
                Some(Failure::Remote(e)) => return Err(CallError::Remote(e.clone())),
                Some(Failure::Transport(m)) => return Err(CallError::Transport(m.clone())),
                None => {}
            }
        }
        Ok(Box::new(ReplayOutput {
            call,
            position: 0,
            handed: 0,
        }))
    }
}

struct ReplayOutput {
    call: Call,
    position: usize,
    /// Batches handed out so far.
    handed: usize,
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
        let recorded = self.call.batches.get(self.handed).copied();
        let take = recorded
            .unwrap_or(max)
            .min(max)
            .max(1)
            .min(end - self.position);
        self.handed += 1;
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
pub(crate) fn argument_to_json(arg: &Argument) -> Json {
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

fn parse_call(c: &Json, base: Option<&Path>) -> anyhow::Result<Call> {
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
    let output = match (obj.get("Output"), obj.get("Clixml"), obj.get("ClixmlFile")) {
        (None, None, None) => Vec::new(),
        (Some(Json::Array(items)), None, None) => items
            .iter()
            .enumerate()
            .map(|(i, o)| parse_object(o).with_context(|| format!("Output[{i}]")))
            .collect::<anyhow::Result<Vec<_>>>()?,
        (Some(_), None, None) => bail!("\"Output\" must be an array of objects"),
        (None, Some(Json::String(xml)), None) => clixml_output(xml).context("Clixml")?,
        (None, Some(_), None) => bail!("\"Clixml\" must be a string of CLIXML"),
        (None, None, Some(Json::String(file))) => {
            let base = base.context(
                "\"ClixmlFile\" needs the fixture to be read from a file (its directory is the base)",
            )?;
            let path = base.join(file);
            let size = std::fs::metadata(&path)
                .with_context(|| format!("ClixmlFile: cannot read {}", path.display()))?
                .len();
            if size > MAX_CLIXML_FILE {
                bail!(
                    "ClixmlFile: {} is larger than {} MiB",
                    path.display(),
                    MAX_CLIXML_FILE >> 20
                );
            }
            let xml = std::fs::read_to_string(&path)
                .with_context(|| format!("ClixmlFile: cannot read {}", path.display()))?;
            clixml_output(&xml).with_context(|| format!("ClixmlFile {}", path.display()))?
        }
        (None, None, Some(_)) => bail!("\"ClixmlFile\" must be a path (text)"),
        _ => bail!("give one of \"Output\", \"Clixml\" or \"ClixmlFile\", not several"),
    };
    let errors = optional_array(obj, "Errors", "an array of error records", |e| {
        parse_error_record(e).context("Errors")
    })?;
    let warnings = optional_array(obj, "Warnings", "an array of strings", |w| {
        w.as_str()
            .map(str::to_string)
            .context("a warning must be a string")
    })?;
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
    let batches = optional_array(obj, "Batches", "an array of whole numbers above 0", |n| {
        n.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .context("\"Batches\" must be an array of whole numbers above 0")
    })?;
    if fail_after.is_some() && fail.is_none() {
        bail!("\"FailAfter\" needs an \"Error\" or a \"TransportError\"");
    }
    let flag = |key: &str| match obj.get(key) {
        None => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(_) => Err(anyhow::anyhow!("\"{key}\" must be true or false")),
    };
    let fail_on_invoke = flag("FailOnInvoke")?;
    if fail_on_invoke && (fail.is_none() || !output.is_empty()) {
        bail!("\"FailOnInvoke\" needs an \"Error\" or a \"TransportError\" and no output");
    }
    Ok(Call {
        pipeline,
        output,
        errors,
        warnings,
        fail_after,
        batches,
        fail,
        fail_on_invoke,
        once: flag("Once")?,
    })
}

/// `obj[key]` read item by item with `item`: empty when absent, an error
/// naming `key` and `expected` when it is not an array.
fn optional_array<T>(
    obj: &serde_json::Map<String, Json>,
    key: &str,
    expected: &str,
    item: impl Fn(&Json) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    match obj.get(key) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => items.iter().map(item).collect(),
        Some(_) => bail!("\"{key}\" must be {expected}"),
    }
}

/// Output given as CLIXML, exactly as a server sent it: one value
/// (`<Obj>...</Obj>`, as in a PIPELINE_OUTPUT message) or an Export-Clixml
/// document (`<Objs>` of any number). Mapped by the same rules as a live
/// server's output.
fn clixml_output(xml: &str) -> anyhow::Result<Vec<OutputObject>> {
    let values = idconn_psrp::clixml::from_document(xml)
        .map_err(|e| anyhow::anyhow!("not valid CLIXML: {e}"))?;
    Ok(values
        .iter()
        .map(super::mapping::object_from_clixml)
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Parameter;

    fn get_mailbox(identity: &str) -> Vec<Command> {
        vec![Command {
            name: "Get-Mailbox".into(),
            parameters: vec![Parameter {
                name: "Identity".into(),
                argument: Argument::Value(Value::Scalar(Scalar::Text(identity.into()))),
            }],
        }]
    }

    fn names(shell: &mut Replay, pipeline: &[Command]) -> Vec<String> {
        let mut out = shell.invoke(pipeline).unwrap();
        let mut names = Vec::new();
        while let Some(batch) = out.next_batch(10).unwrap() {
            names.extend(super::super::batch::property_texts(&batch, "Name").flatten());
        }
        names
    }

    /// Entries that answer once answer in order: the state before a change,
    /// then after it; past the last, the pipeline has no answer.
    #[test]
    fn once_entries_answer_in_order_then_no_more() {
        let fixture = Fixture::parse(
            r#"{"Calls": [
              {"Pipeline": [{"Command": "Get-Mailbox", "Parameters": {"Identity": "a"}}], "Once": true,
               "Output": [{"Properties": {"Name": "before"}}]},
              {"Pipeline": [{"Command": "Get-Mailbox", "Parameters": {"Identity": "a"}}], "Once": true,
               "Output": [{"Properties": {"Name": "after"}}]},
              {"Pipeline": [{"Command": "Get-Mailbox"}], "Output": [{"Properties": {"Name": "any"}}]}
            ]}"#,
        )
        .unwrap();
        let mut shell = Replay::new(fixture);
        assert_eq!(names(&mut shell, &get_mailbox("a")), ["before"]);
        assert_eq!(names(&mut shell, &get_mailbox("b")), ["any"]);
        assert_eq!(names(&mut shell, &get_mailbox("a")), ["after"]);
        // The catch-all entry answers every time.
        assert_eq!(names(&mut shell, &get_mailbox("a")), ["any"]);
        assert_eq!(names(&mut shell, &get_mailbox("a")), ["any"]);
    }

    /// Recorded batch boundaries are handed out again (a component that
    /// takes one batch from each of several pipelines in turn writes the
    /// same order); past them, or above what is asked, the request rules.
    #[test]
    fn recorded_batches_are_handed_out_as_recorded() {
        let fixture = Fixture::parse(
            r#"{"Calls": [{"Pipeline": [{"Command": "Get-Mailbox"}], "Batches": [2, 1, 9],
               "Output": [{"Properties": {"Name": "a"}}, {"Properties": {"Name": "b"}},
                          {"Properties": {"Name": "c"}}, {"Properties": {"Name": "d"}},
                          {"Properties": {"Name": "e"}}, {"Properties": {"Name": "f"}}]}]}"#,
        )
        .unwrap();
        let mut shell = Replay::new(fixture);
        let mut out = shell.invoke(&get_mailbox("x")).unwrap();
        let mut sizes = Vec::new();
        while let Some(batch) = out.next_batch(2).unwrap() {
            sizes.push(batch.objects.len());
        }
        // 2 and 1 as recorded, then 9 capped by the request's 2, then the
        // last object.
        assert_eq!(sizes, [2, 1, 2, 1]);
        for bad in [r#"[0]"#, r#"[1.5]"#, r#""2""#] {
            let text = format!(
                r#"{{"Calls": [{{"Pipeline": [{{"Command": "A"}}], "Output": [], "Batches": {bad}}}]}}"#
            );
            let e = Fixture::parse(&text).unwrap_err();
            assert!(format!("{e:#}").contains("Batches"), "{bad}: {e:#}");
        }
    }

    /// Errors, Warnings and Batches are optional arrays: absent is empty,
    /// anything else names the key and what it must hold.
    #[test]
    fn optional_arrays_say_what_they_must_hold() {
        let call = |extra: &str| {
            format!(r#"{{"Calls": [{{"Pipeline": [{{"Command": "A"}}], "Output": []{extra}}}]}}"#)
        };
        Fixture::parse(&call("")).unwrap();
        for (extra, expected) in [
            (
                r#", "Errors": {}"#,
                r#""Errors" must be an array of error records"#,
            ),
            (
                r#", "Warnings": "w""#,
                r#""Warnings" must be an array of strings"#,
            ),
            (r#", "Warnings": [1]"#, "a warning must be a string"),
            (
                r#", "Batches": 3"#,
                r#""Batches" must be an array of whole numbers above 0"#,
            ),
            (r#", "Errors": [1]"#, "Errors"),
        ] {
            let e = Fixture::parse(&call(extra)).unwrap_err();
            assert!(format!("{e:#}").contains(expected), "{extra}: {e:#}");
        }
    }

    #[test]
    fn a_failure_on_invoke_and_clixml_output() {
        let fixture = Fixture::parse(
            r#"{"Calls": [
              {"Pipeline": [{"Command": "Get-Mailbox", "Parameters": {"Identity": "x"}}], "FailOnInvoke": true,
               "Error": {"Message": "not found", "FullyQualifiedErrorId": "E1"}},
              {"Pipeline": [{"Command": "Get-Mailbox"}],
               "Clixml": "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><Obj RefId=\"0\"><MS><S N=\"Name\">one</S></MS></Obj><Obj RefId=\"1\"><MS><S N=\"Name\">two</S></MS></Obj></Objs>"}
            ]}"#,
        )
        .unwrap();
        let mut shell = Replay::new(fixture);
        match shell.invoke(&get_mailbox("x")) {
            Err(CallError::Remote(e)) => assert_eq!(e.fully_qualified_error_id, "E1"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert_eq!(names(&mut shell, &get_mailbox("y")), ["one", "two"]);
        let e = Fixture::parse(
            r#"{"Calls": [{"Pipeline": [{"Command": "A"}], "ClixmlFile": "x.clixml"}]}"#,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("ClixmlFile"), "{e:#}");
    }
}
