//! Between CLIXML values (what the server speaks) and the WIT values (what
//! the component sees). Objects below the top level flatten to type names
//! and ToString, as the contract says.

use std::sync::Arc;

use idconn_psrp::clixml::{self, Collection, CollectionKind, PsObject as ClixmlObject};

use super::batch::OutputObject;
use crate::bindings::{Argument, Command, Element, NestedObject, Scalar, Value};

/// A pipeline output value as an owned object, by the general mapping
/// rules: the reference that [`super::batch::BatchBuilder::push_clixml`]'s
/// faster path must agree with. A primitive output (e.g. `<S>` from
/// `Get-Date | % ToString`) becomes an object with no properties whose
/// to-string is the value.
pub fn object_from_clixml(value: &clixml::Value) -> OutputObject {
    match value {
        clixml::Value::Object(obj) => OutputObject {
            type_names: obj.type_names.to_vec(),
            to_string: obj.to_string.clone(),
            properties: obj
                .adapted
                .iter()
                .chain(obj.extended.iter())
                .map(|(name, v)| (name.clone(), value_from_clixml(v)))
                .collect(),
        },
        other => OutputObject {
            type_names: Vec::new(),
            to_string: scalar_text(other),
            properties: Vec::new(),
        },
    }
}

/// A property value: collections become lists or dictionaries, everything
/// else a scalar.
pub fn value_from_clixml(value: &clixml::Value) -> Value {
    if let clixml::Value::Object(obj) = value {
        match &obj.collection {
            Some(Collection::List(_, items)) => {
                return Value::List(items.iter().map(scalar_from_clixml).collect())
            }
            Some(Collection::Dictionary(entries)) => {
                return Value::Dictionary(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let key = scalar_text(k).unwrap_or_default();
                            (key, element_from_clixml(v))
                        })
                        .collect(),
                )
            }
            None => {}
        }
    }
    Value::Scalar(scalar_from_clixml(value))
}

fn element_from_clixml(value: &clixml::Value) -> Element {
    match value_from_clixml(value) {
        Value::Scalar(s) => Element::Scalar(s),
        Value::List(l) => Element::List(l),
        // A hashtable inside a hashtable: flattened like any nested object.
        Value::Dictionary(_) => Element::Scalar(nested(value)),
    }
}

pub fn scalar_from_clixml(value: &clixml::Value) -> Scalar {
    use clixml::Value as V;
    match value {
        V::Nil => Scalar::Null,
        V::String(s) | V::Uri(s) | V::Version(s) | V::XmlDocument(s) | V::ScriptBlock(s) => {
            Scalar::Text(s.clone())
        }
        V::Decimal(s) | V::Duration(s) => Scalar::Text(s.clone()),
        V::Char(c) => Scalar::Text(
            char::decode_utf16([*c])
                .map(|r| r.unwrap_or('\u{FFFD}'))
                .collect(),
        ),
        V::Bool(b) => Scalar::Boolean(*b),
        V::DateTime(s) => Scalar::DateTime(s.clone()),
        V::U8(n) => Scalar::Integer(i64::from(*n)),
        V::I8(n) => Scalar::Integer(i64::from(*n)),
        V::U16(n) => Scalar::Integer(i64::from(*n)),
        V::I16(n) => Scalar::Integer(i64::from(*n)),
        V::U32(n) => Scalar::Integer(i64::from(*n)),
        V::I32(n) => Scalar::Integer(i64::from(*n)),
        V::I64(n) => Scalar::Integer(*n),
        // Beyond i64 a u64 keeps its exact decimal text.
        V::U64(n) => i64::try_from(*n)
            .map(Scalar::Integer)
            .unwrap_or_else(|_| Scalar::Text(n.to_string())),
        V::Single(f) => Scalar::Number(f64::from(*f)),
        V::Double(f) => Scalar::Number(*f),
        V::Bytes(b) => Scalar::Bytes(b.clone()),
        V::Guid(g) => Scalar::Guid(g.clone()),
        V::Object(_) => nested(value),
    }
}

fn nested(value: &clixml::Value) -> Scalar {
    match value {
        clixml::Value::Object(obj) => Scalar::Object(NestedObject {
            type_names: obj.type_names.to_vec(),
            to_string: obj
                .to_string
                .clone()
                .or_else(|| obj.value.as_ref().and_then(scalar_text))
                .unwrap_or_default(),
        }),
        other => scalar_from_clixml(other),
    }
}

/// The text PowerShell would show for a primitive.
pub fn scalar_text(value: &clixml::Value) -> Option<String> {
    match scalar_from_clixml(value) {
        Scalar::Null => None,
        Scalar::Text(s) | Scalar::DateTime(s) | Scalar::Guid(s) => Some(s),
        Scalar::Boolean(b) => Some(if b { "True" } else { "False" }.to_string()),
        Scalar::Integer(n) => Some(n.to_string()),
        Scalar::Number(f) => Some(f.to_string()),
        Scalar::Bytes(b) => Some(format!("{} bytes", b.len())),
        Scalar::Object(o) => Some(o.to_string),
    }
}

/// A component's pipeline as PSRP commands.
pub fn command_to_psrp(command: &Command) -> idconn_psrp::Command {
    idconn_psrp::Command {
        name: command.name.clone(),
        is_script: false,
        parameters: command
            .parameters
            .iter()
            .map(|p| idconn_psrp::Parameter {
                name: Some(p.name.trim_start_matches('-').to_string()),
                value: match &p.argument {
                    Argument::Switch => clixml::Value::Bool(true),
                    Argument::Value(v) => value_to_clixml(v),
                },
            })
            .collect(),
    }
}

pub fn value_to_clixml(value: &Value) -> clixml::Value {
    match value {
        Value::Scalar(s) => scalar_to_clixml(s),
        Value::List(items) => list(items),
        Value::Dictionary(entries) => clixml::Value::Object(Box::new(ClixmlObject {
            type_names: Arc::from(vec![
                "System.Collections.Hashtable".to_string(),
                "System.Object".to_string(),
            ]),
            collection: Some(Collection::Dictionary(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Element::Scalar(s) => scalar_to_clixml(s),
                            Element::List(items) => list(items),
                        };
                        (clixml::Value::String(k.clone()), v)
                    })
                    .collect(),
            )),
            ..Default::default()
        })),
    }
}

fn list(items: &[Scalar]) -> clixml::Value {
    clixml::Value::Object(Box::new(ClixmlObject {
        type_names: Arc::from(vec![
            "System.Object[]".to_string(),
            "System.Array".to_string(),
            "System.Object".to_string(),
        ]),
        collection: Some(Collection::List(
            CollectionKind::List,
            items.iter().map(scalar_to_clixml).collect(),
        )),
        ..Default::default()
    }))
}

fn scalar_to_clixml(s: &Scalar) -> clixml::Value {
    match s {
        Scalar::Null => clixml::Value::Nil,
        Scalar::Text(t) => clixml::Value::String(t.clone()),
        Scalar::Boolean(b) => clixml::Value::Bool(*b),
        Scalar::Integer(n) => match i32::try_from(*n) {
            Ok(n) => clixml::Value::I32(n),
            Err(_) => clixml::Value::I64(*n),
        },
        Scalar::Number(f) => clixml::Value::Double(*f),
        Scalar::DateTime(t) => clixml::Value::DateTime(t.clone()),
        Scalar::Guid(g) => clixml::Value::Guid(g.clone()),
        Scalar::Bytes(b) => clixml::Value::Bytes(b.clone()),
        // A guest cannot build a live object; its text is what it means.
        Scalar::Object(o) => clixml::Value::String(o.to_string.clone()),
    }
}

/// A value in a log line: short, never a wall of text.
pub fn value_to_display(value: &Value) -> String {
    fn scalar(s: &Scalar) -> String {
        match s {
            Scalar::Null => "$null".into(),
            Scalar::Text(t) | Scalar::DateTime(t) | Scalar::Guid(t) => format!("'{t}'"),
            Scalar::Boolean(b) => format!("${b}"),
            Scalar::Integer(n) => n.to_string(),
            Scalar::Number(f) => f.to_string(),
            Scalar::Bytes(b) => format!("<{} bytes>", b.len()),
            Scalar::Object(o) => format!("'{}'", o.to_string),
        }
    }
    let text = match value {
        Value::Scalar(s) => scalar(s),
        Value::List(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        Value::Dictionary(entries) => {
            let inner: Vec<String> = entries
                .iter()
                .map(|(k, v)| match v {
                    Element::Scalar(s) => format!("{k}={}", scalar(s)),
                    Element::List(l) => {
                        format!("{k}={}", l.iter().map(scalar).collect::<Vec<_>>().join(","))
                    }
                })
                .collect();
            format!("@{{{}}}", inner.join(";"))
        }
    };
    const MAX: usize = 200;
    if text.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::BatchBuilder;
    use super::super::record::objects_from_batch;
    use super::*;

    /// The repository's copy of ../shared/vectors/exchange/get-mailbox-exchange2016.clixml
    /// (examples/replay/exchange2016/README.md), so the test runs in any checkout.
    const MAILBOX: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/replay/exchange2016/get-mailbox-exchange2016.clixml"
    );

    /// Every kind a property can have, as the server serializes them.
    const KINDS: &str = r#"<Obj RefId="0"><TN RefId="0"><T>Selected.System.Object</T></TN><ToString>x</ToString><MS><S N="Text">a b</S><B N="Flag">true</B><I32 N="Count">7</I32><U64 N="Big">18446744073709551615</U64><Db N="Ratio">0.5</Db><DT N="When">2022-10-31T01:01:36.5Z</DT><G N="Guid">9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2</G><BA N="Bytes">AQID</BA><Nil N="Empty" /><Obj N="List" RefId="1"><TN RefId="1"><T>System.Object[]</T></TN><LST><S>SMTP:a@contoso.com</S><G>9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2</G></LST></Obj><Obj N="Dict" RefId="2"><TN RefId="2"><T>System.Collections.Hashtable</T></TN><DCT><En><S N="Key">Add</S><S N="Value">x</S></En></DCT></Obj><Obj N="Nested" RefId="3"><TN RefId="3"><T>Sample.Directory.ObjectId</T></TN><ToString>contoso.com/Users/a</ToString><Props><S N="Name">a</S></Props></Obj></MS></Obj>"#;

    /// The batch's direct path from CLIXML gives the same batch as the
    /// general mapping rules.
    fn same(text: &str) {
        let value = clixml::from_str(text).unwrap();
        let mut direct = BatchBuilder::new();
        direct.push_clixml(&value);
        direct.push_clixml(&value);
        let mut general = BatchBuilder::new();
        let object = object_from_clixml(&value);
        general.push_object(&object);
        general.push_object(&object);
        let (direct, general) = (direct.finish().unwrap(), general.finish().unwrap());
        assert_eq!(direct, general);
        assert_eq!(direct.shapes.len(), 1, "two objects of one shape share it");
        // Decoded flat (what a remote pipeline hands out), moved whole...
        let mut flat = clixml::FlatBuilder::new();
        flat.push_message(text.as_bytes(), usize::MAX).unwrap();
        flat.push_message(text.as_bytes(), usize::MAX).unwrap();
        let flat = flat.take();
        // (Its text is laid out in another order: compare what it reads as.)
        let moved = BatchBuilder::from_flat(flat.clone()).unwrap();
        assert_eq!(objects_from_batch(&moved), objects_from_batch(&general));
        assert_eq!(objects_from_batch(&moved), vec![object.clone(), object]);
        assert_eq!(moved.shapes.len(), 1);
        // ... or copied object by object (a batch handed out in parts).
        let mut parts = BatchBuilder::new();
        for object in &flat.objects {
            parts.push_flat(&flat, object);
        }
        assert_eq!(parts.finish().unwrap(), general);
    }

    #[test]
    fn flat_batches_of_mixed_objects_map_like_the_general_rules() {
        let texts = [
            KINDS,
            "<S>hello</S>",
            r#"<Obj RefId="0"><TN RefId="0"><T>Other</T></TN><MS><S N="Text">z</S></MS></Obj>"#,
            KINDS,
        ];
        let mut general = BatchBuilder::new();
        let mut expected = Vec::new();
        let mut flat = clixml::FlatBuilder::new();
        for text in texts {
            let object = object_from_clixml(&clixml::from_str(text).unwrap());
            general.push_object(&object);
            expected.push(object);
            flat.push_message(text.as_bytes(), usize::MAX).unwrap();
        }
        let general = general.finish().unwrap();
        let flat = flat.take();
        let moved = BatchBuilder::from_flat(flat.clone()).unwrap();
        assert_eq!(objects_from_batch(&moved), expected);
        let mut parts = BatchBuilder::new();
        for object in &flat.objects {
            parts.push_flat(&flat, object);
        }
        assert_eq!(parts.finish().unwrap(), general);
    }

    #[test]
    fn batches_map_every_kind_like_the_general_rules() {
        same(KINDS);
    }

    #[test]
    fn batches_map_a_full_captured_mailbox_like_the_general_rules() {
        same(&std::fs::read_to_string(MAILBOX).unwrap());
    }

    #[test]
    fn batches_map_a_primitive_output_like_the_general_rules() {
        same("<S>hello</S>");
    }
}
