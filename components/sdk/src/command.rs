//! Building pipelines, and rendering them as PowerShell-like text for log
//! lines and messages (never for running: the host receives commands, not
//! a script).

use std::fmt::Write as _;

use crate::{Argument, Command, Element, Parameter, Scalar, Value};

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
                write_literal(&mut out, value);
            }
        }
    }
    out
}

/// Appends a value as PowerShell-like literal text, for log lines.
pub fn write_literal(out: &mut String, value: &Value) {
    match value {
        Value::Scalar(scalar) => write_scalar_literal(out, scalar),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar_literal(out, item);
            }
        }
        Value::Dictionary(entries) => {
            out.push_str("@{");
            for (i, (key, element)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str("; ");
                }
                out.push_str(key);
                out.push('=');
                match element {
                    Element::Scalar(scalar) => write_scalar_literal(out, scalar),
                    Element::List(items) => write_literal(out, &Value::List(items.clone())),
                }
            }
            out.push('}');
        }
    }
}

fn write_scalar_literal(out: &mut String, scalar: &Scalar) {
    match scalar {
        Scalar::Null => out.push_str("$null"),
        Scalar::Boolean(true) => out.push_str("$true"),
        Scalar::Boolean(false) => out.push_str("$false"),
        Scalar::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Scalar::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Scalar::Text(text) | Scalar::DateTime(text) | Scalar::Guid(text) => quoted(out, text),
        Scalar::Bytes(bytes) => {
            let mut hex = String::with_capacity(bytes.len() * 2);
            for byte in bytes {
                let _ = write!(hex, "{byte:02x}");
            }
            quoted(out, &hex);
        }
        Scalar::Object(object) => quoted(out, &object.to_string),
    }
}

/// A single-quoted PowerShell string: a quote inside is doubled.
fn quoted(out: &mut String, text: &str) {
    out.push('\'');
    out.push_str(&text.replace('\'', "''"));
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_render_as_powershell_like_text() {
        let pipeline = [
            command("Get-Mailbox")
                .text("Identity", "o'brien")
                .switch("IgnoreDefaultScope")
                .build(),
            command("Set-Mailbox")
                .texts("EmailAddresses", ["a", "b"])
                .boolean("Confirm", false)
                .dictionary(
                    "Extra",
                    vec![("Add".into(), Element::List(vec![Scalar::Integer(3)]))],
                )
                .build(),
        ];
        assert_eq!(
            pipeline_text(&pipeline),
            "Get-Mailbox -Identity 'o''brien' -IgnoreDefaultScope | \
             Set-Mailbox -EmailAddresses 'a','b' -Confirm $false -Extra @{Add=3}"
        );
    }
}
