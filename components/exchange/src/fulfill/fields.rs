//! Reading an order's `Changes` and `Resource`, and a server object in the
//! same shape so both can be compared.

use crate::values::{decode_list, write_scalar};
use idconn_sdk::batch::PsObject;
use idconn_sdk::Field;
use idconn_sdk::{Scalar, Value};

/// Named fields, looked up case-insensitively as PowerShell and Usercube do.
#[derive(Clone, Copy)]
pub struct Fields<'a>(pub &'a [(String, Field)]);

impl<'a> Fields<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Field> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, f)| f)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A non-empty text; a navigation property gives its `Name` (or its
    /// only value).
    pub fn text(&self, name: &str) -> Option<String> {
        let text = match self.get(name)? {
            Field::Text(text) => text.clone(),
            Field::Number(n) => n.to_string(),
            Field::Boolean(b) => bool_text(*b).to_owned(),
            Field::Reference(pairs) => reference_name(pairs)?,
            Field::List(items) if items.len() == 1 => items[0].clone(),
            Field::List(_) | Field::Null => return None,
        };
        let text = text.trim().to_owned();
        (!text.is_empty()).then_some(text)
    }

    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Field::Boolean(b) => Some(*b),
            Field::Text(text) => parse_bool(text),
            Field::Number(n) => Some(*n != 0.0),
            _ => None,
        }
    }

    /// A multi-valued field: a list, or a text in the export's encoding.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name)? {
            Field::List(items) => Some(items.iter().filter(|i| !i.is_empty()).cloned().collect()),
            Field::Text(text) => Some(decode_list(text)),
            Field::Null => Some(Vec::new()),
            _ => None,
        }
    }
}

pub fn bool_text(flag: bool) -> &'static str {
    if flag {
        "True"
    } else {
        "False"
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "$true" => Some(true),
        "false" | "0" | "$false" => Some(false),
        _ => None,
    }
}

fn reference_name(pairs: &[(String, String)]) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Name"))
        .or(if pairs.len() == 1 {
            pairs.first()
        } else {
            None
        })
        .map(|(_, v)| v.clone())
}

/// A server object's properties as fields.
pub fn object_fields(object: &PsObject) -> Vec<(String, Field)> {
    object
        .properties
        .iter()
        .map(|p| (p.name.clone(), value_field(&p.value)))
        .collect()
}

fn value_field(value: &Value) -> Field {
    match value {
        Value::Scalar(scalar) => scalar_field(scalar),
        Value::List(items) => Field::List(items.iter().map(scalar_text).collect()),
        Value::Dictionary(_) => Field::Null,
    }
}

fn scalar_field(scalar: &Scalar) -> Field {
    match scalar {
        Scalar::Null => Field::Null,
        Scalar::Boolean(b) => Field::Boolean(*b),
        Scalar::Integer(n) => Field::Number(*n as f64),
        Scalar::Number(n) => Field::Number(*n),
        other => Field::Text(scalar_text(other)),
    }
}

fn scalar_text(scalar: &Scalar) -> String {
    let mut text = String::new();
    write_scalar(&mut text, scalar.into());
    text
}
