//! Output objects and error records in a fixture's JSON form (docs/replay.md):
//! read by the replay backend, written by the recorder. Both directions
//! live here so a recorded value always reads back as the same value.

use anyhow::{bail, Context};
use serde_json::{Map, Value as Json};

use super::batch::OutputObject;
use crate::bindings::{Element, ErrorRecord, NestedObject, Scalar, Value};

pub(crate) fn parse_error_record(e: &Json) -> anyhow::Result<ErrorRecord> {
    let obj = e.as_object().context("an error record must be an object")?;
    let text = |k: &str| obj.get(k).and_then(Json::as_str).map(str::to_string);
    Ok(ErrorRecord {
        message: text("Message").context("an error record needs \"Message\"")?,
        fully_qualified_error_id: text("FullyQualifiedErrorId").unwrap_or_default(),
        category: text("Category").unwrap_or_else(|| "NotSpecified".into()),
        target: text("Target"),
    })
}

pub(crate) fn parse_object(o: &Json) -> anyhow::Result<OutputObject> {
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
        // JSON has no NaN nor infinities; the recorder writes them this way.
        "Number" => Scalar::Number(match v {
            Json::Number(n) => n.as_f64().context("number out of range")?,
            _ => text()?
                .parse::<f64>()
                .context("\"Number\" must be a number, \"NaN\", \"inf\" or \"-inf\"")?,
        }),
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
        other => {
            bail!("unknown typed value \"{other}\" (known: DateTime, Guid, Bytes, Object, Number)")
        }
    })
}

/// An error record as a fixture writes it.
pub(crate) fn error_record_to_json(e: &ErrorRecord) -> Json {
    let mut map = Map::new();
    map.insert("Message".into(), Json::String(e.message.clone()));
    map.insert(
        "FullyQualifiedErrorId".into(),
        Json::String(e.fully_qualified_error_id.clone()),
    );
    map.insert("Category".into(), Json::String(e.category.clone()));
    if let Some(t) = &e.target {
        map.insert("Target".into(), Json::String(t.clone()));
    }
    Json::Object(map)
}

/// An output object as a fixture writes it: [`parse_object`] reads it back
/// as the same object (type names, ToString, every property in order with
/// its kind, nested objects' type names and ToString).
pub(crate) fn object_to_json(o: &OutputObject) -> Json {
    let mut map = Map::new();
    map.insert(
        "TypeNames".into(),
        Json::Array(o.type_names.iter().cloned().map(Json::String).collect()),
    );
    if let Some(t) = &o.to_string {
        map.insert("ToString".into(), Json::String(t.clone()));
    }
    let props: Map<String, Json> = o
        .properties
        .iter()
        .map(|(name, v)| (name.clone(), value_to_json(v)))
        .collect();
    map.insert("Properties".into(), Json::Object(props));
    Json::Object(map)
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Scalar(s) => scalar_to_json(s),
        Value::List(items) => Json::Array(items.iter().map(scalar_to_json).collect()),
        Value::Dictionary(entries) => {
            let inner: Map<String, Json> = entries
                .iter()
                .map(|(k, e)| {
                    let v = match e {
                        Element::Scalar(s) => scalar_to_json(s),
                        Element::List(items) => {
                            Json::Array(items.iter().map(scalar_to_json).collect())
                        }
                    };
                    (k.clone(), v)
                })
                .collect();
            typed("Dictionary", Json::Object(inner))
        }
    }
}

fn typed(kind: &str, v: Json) -> Json {
    let mut map = Map::new();
    map.insert(kind.into(), v);
    Json::Object(map)
}

fn scalar_to_json(s: &Scalar) -> Json {
    match s {
        Scalar::Null => Json::Null,
        Scalar::Text(t) => Json::String(t.clone()),
        Scalar::Boolean(b) => Json::Bool(*b),
        Scalar::Integer(n) => Json::from(*n),
        // A whole f64 would read back as an integer: it keeps its kind
        // through the typed form, as do NaN and the infinities.
        Scalar::Number(f) if f.is_finite() && f.fract() != 0.0 => Json::from(*f),
        Scalar::Number(f) => typed("Number", Json::String(f.to_string())),
        Scalar::DateTime(t) => typed("DateTime", Json::String(t.clone())),
        Scalar::Guid(t) => typed("Guid", Json::String(t.clone())),
        Scalar::Bytes(b) => {
            use base64::Engine as _;
            typed(
                "Bytes",
                Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
            )
        }
        Scalar::Object(o) => {
            let mut inner = Map::new();
            inner.insert(
                "TypeNames".into(),
                Json::Array(o.type_names.iter().cloned().map(Json::String).collect()),
            );
            inner.insert("ToString".into(), Json::String(o.to_string.clone()));
            typed("Object", Json::Object(inner))
        }
    }
}
