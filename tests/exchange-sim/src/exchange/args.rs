//! Parameter binding as PowerShell does it for our cmdlets: names with or
//! without a dash, case-insensitive, unambiguous prefixes, positional
//! arguments, switches, mandatory parameters; and typed views of the
//! CLIXML argument values.

use super::errors::{parameter_binding, CmdletId};
use crate::backend::SimErrorRecord;
use idconn_psrp::clixml::{Collection, Value};
use idconn_psrp::Parameter;

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub switch: bool,
    pub position: Option<usize>,
    pub mandatory: bool,
}

pub const fn named(name: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        switch: false,
        position: None,
        mandatory: false,
    }
}

pub const fn switch(name: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        switch: true,
        position: None,
        mandatory: false,
    }
}

pub const fn positional(name: &'static str, position: usize) -> ParamSpec {
    ParamSpec {
        name,
        switch: false,
        position: Some(position),
        mandatory: false,
    }
}

pub const fn mandatory(spec: ParamSpec) -> ParamSpec {
    ParamSpec {
        mandatory: true,
        ..spec
    }
}

/// Parameters every cmdlet takes (PowerShell's common parameters and
/// Exchange's usual extras); accepted and ignored.
const COMMON: &[ParamSpec] = &[
    switch("Confirm"),
    switch("WhatIf"),
    switch("Verbose"),
    switch("Debug"),
    named("ErrorAction"),
    named("WarningAction"),
    named("InformationAction"),
    named("ErrorVariable"),
    named("WarningVariable"),
    named("OutVariable"),
    named("OutBuffer"),
    named("DomainController"),
];

#[derive(Debug, Default)]
pub struct Bound {
    values: Vec<(&'static str, Value)>,
}

impl Bound {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(as_text)
    }

    /// A switch or a boolean parameter (`-Status`, `-Confirm:$false`).
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| as_bool(v).unwrap_or(true))
    }
}

pub fn bind(
    cmdlet: CmdletId,
    specs: &[ParamSpec],
    parameters: &[Parameter],
) -> Result<Bound, SimErrorRecord> {
    let mut bound = Bound::default();
    let mut positionals = specs
        .iter()
        .filter(|s| s.position.is_some())
        .collect::<Vec<_>>();
    positionals.sort_by_key(|s| s.position);
    let mut next_positional = positionals.into_iter();
    for parameter in parameters {
        let spec = match &parameter.name {
            None => next_positional
                .by_ref()
                .find(|s| !bound.has(s.name))
                .copied()
                .ok_or_else(|| {
                    parameter_binding(
                        cmdlet,
                        "PositionalParameterNotFound",
                        format!(
                            "A positional parameter cannot be found that accepts argument '{}'.",
                            as_text(&parameter.value).unwrap_or_default()
                        ),
                    )
                })?,
            Some(raw) => resolve(cmdlet, specs, raw)?,
        };
        if bound.has(spec.name) {
            return Err(parameter_binding(
                cmdlet,
                "ParameterAlreadyBound",
                format!(
                    "Cannot bind parameter because parameter '{}' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".",
                    spec.name
                ),
            ));
        }
        if !spec.switch && parameter.value == Value::Nil && spec.mandatory {
            return Err(parameter_binding(
                cmdlet,
                "ParameterArgumentValidationErrorNullNotAllowed",
                format!(
                    "Cannot validate argument on parameter '{}'. The argument is null. Provide a valid value for the argument, and then try running the command again.",
                    spec.name
                ),
            ));
        }
        bound.values.push((spec.name, parameter.value.clone()));
    }
    let missing: Vec<&str> = specs
        .iter()
        .filter(|s| s.mandatory && !bound.has(s.name))
        .map(|s| s.name)
        .collect();
    if !missing.is_empty() {
        return Err(parameter_binding(
            cmdlet,
            "MissingMandatoryParameter",
            format!(
                "Cannot process command because of one or more missing mandatory parameters: {}.",
                missing.join(" ")
            ),
        ));
    }
    Ok(bound)
}

fn resolve(cmdlet: CmdletId, specs: &[ParamSpec], raw: &str) -> Result<ParamSpec, SimErrorRecord> {
    // `-Confirm:$false` may arrive as the name `Confirm:` with the value.
    let name = raw.trim_start_matches('-').trim_end_matches(':');
    let all = || specs.iter().chain(COMMON.iter());
    if let Some(exact) = all().find(|s| s.name.eq_ignore_ascii_case(name)) {
        return Ok(*exact);
    }
    let lower = name.to_ascii_lowercase();
    let prefixed: Vec<&ParamSpec> = if name.is_empty() {
        Vec::new()
    } else {
        all()
            .filter(|s| s.name.to_ascii_lowercase().starts_with(&lower))
            .collect()
    };
    match prefixed.as_slice() {
        [one] => Ok(**one),
        [] => Err(parameter_binding(
            cmdlet,
            "NamedParameterNotFound",
            format!("A parameter cannot be found that matches parameter name '{name}'."),
        )),
        many => Err(parameter_binding(
            cmdlet,
            "AmbiguousParameter",
            format!(
                "Parameter cannot be processed because the parameter name '{name}' is ambiguous. Possible matches include: {}.",
                many.iter()
                    .map(|s| format!("-{}", s.name))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )),
    }
}

/// The text of a scalar argument (a deserialized object gives its ToString).
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        // A script block is how `-Filter {Name -like 'a*'}` arrives.
        Value::String(s)
        | Value::Guid(s)
        | Value::DateTime(s)
        | Value::Decimal(s)
        | Value::ScriptBlock(s) => Some(s.clone()),
        Value::I32(n) => Some(n.to_string()),
        Value::I64(n) => Some(n.to_string()),
        Value::U32(n) => Some(n.to_string()),
        Value::U64(n) => Some(n.to_string()),
        Value::I16(n) => Some(n.to_string()),
        Value::U16(n) => Some(n.to_string()),
        Value::U8(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        Value::Object(o) => match (&o.value, &o.to_string) {
            (Some(inner), _) => as_text(inner),
            (None, Some(text)) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "$true" | "1" => Some(true),
            "false" | "$false" | "0" => Some(false),
            _ => None,
        },
        Value::I32(n) => Some(*n != 0),
        Value::Object(o) => o.value.as_ref().and_then(as_bool),
        _ => None,
    }
}

/// A list argument's items; a scalar is a one-item list.
pub fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Object(o) => match &o.collection {
            Some(Collection::List(_, items)) => items.clone(),
            _ => vec![value.clone()],
        },
        Value::Nil => Vec::new(),
        other => vec![other.clone()],
    }
}

/// A hashtable argument's entries (`@{Add=...; Remove=...}`).
pub fn as_hashtable(value: &Value) -> Option<Vec<(String, Value)>> {
    match value {
        Value::Object(o) => match &o.collection {
            Some(Collection::Dictionary(entries)) => Some(
                entries
                    .iter()
                    .map(|(k, v)| (as_text(k).unwrap_or_default(), v.clone()))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}
