use crate::clixml::Value;

/// One command of a pipeline, as CREATE_PIPELINE carries it (MS-PSRP 2.2.3.11).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// A cmdlet name, or script text when `is_script` is set (Exchange refuses
    /// scripts: its runspace is in no-language mode).
    pub name: String,
    pub is_script: bool,
    pub parameters: Vec<Parameter>,
}

/// A parameter of a command. A switch (`-Status`) is sent as `true`, as
/// PowerShell's own `AddParameter(name)` does.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// `None` for a positional argument. Servers accept the name with or
    /// without its leading dash.
    pub name: Option<String>,
    pub value: Value,
}

impl Command {
    pub fn new(name: impl Into<String>) -> Self {
        Command {
            name: name.into(),
            is_script: false,
            parameters: Vec::new(),
        }
    }

    pub fn param(mut self, name: impl Into<String>, value: Value) -> Self {
        self.parameters.push(Parameter {
            name: Some(name.into()),
            value,
        });
        self
    }

    pub fn switch(self, name: impl Into<String>) -> Self {
        self.param(name, Value::Bool(true))
    }
}
