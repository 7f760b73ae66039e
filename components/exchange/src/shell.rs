//! What the connector logic needs from its host: running pipelines and
//! reporting. The component implements these over the WIT imports; tests
//! implement them with a scripted fake.

use crate::idconn::connector::powershell::{Argument, Command, Error, ErrorRecord, Parameter};
use crate::idconn::connector::report::Level;
use crate::idconn::connector::types::{Batch, Element, Scalar, Value};

/// Runs pipelines on the connection's server.
pub trait Shell {
    type Output: PipelineOutput;
    fn invoke(&self, pipeline: &[Command]) -> Result<Self::Output, Error>;
}

/// The output of one running pipeline, pulled in batches.
pub trait PipelineOutput {
    /// The next batch of at most `max` objects; `None` once complete.
    fn next(&mut self, max: u32) -> Result<Option<Batch>, Error>;
    fn errors(&self) -> Vec<ErrorRecord>;
    fn warnings(&self) -> Vec<String>;
}

/// Logs and progress for the operator.
pub trait Reporter {
    fn log(&self, level: Level, message: &str);
    fn progress(&self, done: u64, total: Option<u64>);
}

/// Builds a [`Command`] parameter by parameter.
pub struct CommandBuilder(Command);

pub fn command(name: &str) -> CommandBuilder {
    CommandBuilder(Command {
        name: name.to_owned(),
        parameters: Vec::new(),
    })
}

impl CommandBuilder {
    pub fn switch(mut self, name: &str) -> Self {
        self.0.parameters.push(Parameter {
            name: name.to_owned(),
            argument: Argument::Switch,
        });
        self
    }

    pub fn value(mut self, name: &str, value: Value) -> Self {
        self.0.parameters.push(Parameter {
            name: name.to_owned(),
            argument: Argument::Value(value),
        });
        self
    }

    pub fn text(self, name: &str, text: &str) -> Self {
        self.value(name, Value::Scalar(Scalar::Text(text.to_owned())))
    }

    pub fn boolean(self, name: &str, flag: bool) -> Self {
        self.value(name, Value::Scalar(Scalar::Boolean(flag)))
    }

    pub fn texts<'a>(self, name: &str, texts: impl IntoIterator<Item = &'a str>) -> Self {
        let list = texts
            .into_iter()
            .map(|t| Scalar::Text(t.to_owned()))
            .collect();
        self.value(name, Value::List(list))
    }

    /// A hashtable parameter such as `@{Add="a","b"; Remove="c"}`.
    pub fn dictionary(self, name: &str, entries: Vec<(String, Element)>) -> Self {
        self.value(name, Value::Dictionary(entries))
    }

    pub fn build(self) -> Command {
        self.0
    }
}

/// An operator-facing sentence for a failed call of `what` (a cmdlet name).
pub fn describe_error(what: &str, error: &Error) -> String {
    match error {
        Error::Denied(reason) => {
            format!("{what} was denied by the host: {reason} (this job is not granted the cmdlet)")
        }
        Error::Transport(reason) => {
            format!("{what} failed: the connection to the Exchange server failed: {reason}")
        }
        Error::Remote(record) => format!("{what} failed: {}", describe_record(record)),
        Error::Limit(reason) => format!("{what} was stopped by a host limit: {reason}"),
        Error::Timeout => {
            format!("{what} timed out: the server did not answer within the host's call timeout (setting Limits.HostCallTimeoutSeconds)")
        }
    }
}

/// `<message> (<fully qualified error id>)`.
pub fn describe_record(record: &ErrorRecord) -> String {
    if record.fully_qualified_error_id.is_empty() {
        record.message.clone()
    } else {
        format!("{} ({})", record.message, record.fully_qualified_error_id)
    }
}

/// Renders a pipeline as PowerShell-like text for log lines and messages.
pub fn pipeline_text(pipeline: &[Command]) -> String {
    let mut out = String::new();
    for (i, command) in pipeline.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(&command.name);
        for parameter in &command.parameters {
            out.push_str(" -");
            out.push_str(&parameter.name);
            if let Argument::Value(value) = &parameter.argument {
                out.push(' ');
                crate::values::write_literal(&mut out, value);
            }
        }
    }
    out
}
