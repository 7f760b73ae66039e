//! CLIXML encoding straight into a `String`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;

use super::escape;
use super::value::{Collection, CollectionKind, PsObject, Value};

/// Writes values into `out` within one RefId scope: objects get increasing
/// `RefId`s and a repeated type-name list becomes a `<TNRef>`.
///
/// Use one `Serializer` for everything that goes into one message body, so
/// that RefIds stay unique within it. The simplest way to build a PSRP
/// message body is a [`PsObject`] with `extended` properties written once:
///
/// ```
/// use idconn_psrp::clixml::{self, PsObject, Value};
/// let body = PsObject::new()
///     .with_extended("MinRunspaces", 1)
///     .with_extended("MaxRunspaces", 1);
/// assert_eq!(
///     clixml::to_string(&body.into()),
///     r#"<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">1</I32></MS></Obj>"#
/// );
/// ```
pub struct Serializer<'o> {
    out: &'o mut String,
    next_object_id: u64,
    next_type_names_id: u64,
    /// Lists already written, for the cheap pointer comparison.
    written_type_names: Vec<(Arc<[String]>, u64)>,
    type_names_by_content: HashMap<Arc<[String]>, u64>,
}

impl<'o> Serializer<'o> {
    pub fn new(out: &'o mut String) -> Self {
        Self {
            out,
            next_object_id: 0,
            next_type_names_id: 0,
            written_type_names: Vec::new(),
            type_names_by_content: HashMap::new(),
        }
    }

    /// Writes `value` as an element without a name (a top-level value or a
    /// list item).
    pub fn write(&mut self, value: &Value) {
        self.element(None, value);
    }

    /// Writes `value` as an element with `N="name"` (a property, or the
    /// `Key`/`Value` of a dictionary entry).
    pub fn write_named(&mut self, name: &str, value: &Value) {
        self.element(Some(name), value);
    }

    fn element(&mut self, name: Option<&str>, value: &Value) {
        match value {
            Value::Nil => {
                self.open("Nil", name);
                self.out.push_str(" />");
            }
            Value::Object(object) => self.object(name, object),
            _ => {
                let tag = value.element_name();
                self.open(tag, name);
                self.out.push('>');
                write_primitive_text(self.out, value);
                self.close(tag);
            }
        }
    }

    fn open(&mut self, tag: &str, name: Option<&str>) {
        self.out.push('<');
        self.out.push_str(tag);
        if let Some(name) = name {
            self.out.push_str(" N=\"");
            escape::write_text(self.out, name, true);
            self.out.push('"');
        }
    }

    fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    fn object(&mut self, name: Option<&str>, object: &PsObject) {
        let id = self.next_object_id;
        self.next_object_id += 1;
        self.open("Obj", name);
        let _ = write!(self.out, " RefId=\"{id}\">");
        if !object.type_names.is_empty() {
            self.type_names(&object.type_names);
        }
        if let Some(text) = &object.to_string {
            self.out.push_str("<ToString>");
            escape::write_text(self.out, text, false);
            self.out.push_str("</ToString>");
        }
        if let Some(value) = &object.value {
            self.element(None, value);
        }
        match &object.collection {
            Some(Collection::List(kind, items)) => {
                let tag = match kind {
                    CollectionKind::List => "LST",
                    CollectionKind::Enumerable => "IE",
                    CollectionKind::Stack => "STK",
                    CollectionKind::Queue => "QUE",
                };
                self.container(tag, items, |s, item| s.element(None, item));
            }
            Some(Collection::Dictionary(entries)) => {
                self.container("DCT", entries, |s, (key, value)| {
                    s.out.push_str("<En>");
                    s.element(Some("Key"), key);
                    s.element(Some("Value"), value);
                    s.out.push_str("</En>");
                });
            }
            None => {}
        }
        self.properties("Props", &object.adapted);
        self.properties("MS", &object.extended);
        self.out.push_str("</Obj>");
    }

    fn container<T>(&mut self, tag: &str, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        self.open(tag, None);
        if items.is_empty() {
            self.out.push_str(" />");
            return;
        }
        self.out.push('>');
        for item in items {
            write(self, item);
        }
        self.close(tag);
    }

    fn properties(&mut self, tag: &str, properties: &[(String, Value)]) {
        if properties.is_empty() {
            return;
        }
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        for (name, value) in properties {
            self.element(Some(name), value);
        }
        self.close(tag);
    }

    fn type_names(&mut self, names: &Arc<[String]>) {
        let known = self
            .written_type_names
            .iter()
            .find(|(written, _)| Arc::ptr_eq(written, names))
            .map(|(_, id)| *id)
            .or_else(|| self.type_names_by_content.get(names).copied());
        if let Some(id) = known {
            let _ = write!(self.out, "<TNRef RefId=\"{id}\" />");
            return;
        }
        let id = self.next_type_names_id;
        self.next_type_names_id += 1;
        self.written_type_names.push((names.clone(), id));
        self.type_names_by_content.insert(names.clone(), id);
        let _ = write!(self.out, "<TN RefId=\"{id}\">");
        for name in names.iter() {
            self.out.push_str("<T>");
            escape::write_text(self.out, name, false);
            self.out.push_str("</T>");
        }
        self.out.push_str("</TN>");
    }
}

/// The content of a primitive's element, escaped for XML. Nothing for `Nil`
/// and objects.
pub(crate) fn write_primitive_text(out: &mut String, value: &Value) {
    // `write!` into a String cannot fail.
    let _ = match value {
        Value::Nil | Value::Object(_) => Ok(()),
        Value::String(s)
        | Value::DateTime(s)
        | Value::Duration(s)
        | Value::Decimal(s)
        | Value::Guid(s)
        | Value::Uri(s)
        | Value::Version(s)
        | Value::XmlDocument(s)
        | Value::ScriptBlock(s) => {
            escape::write_text(out, s, false);
            Ok(())
        }
        Value::Bool(b) => {
            out.push_str(if *b { "true" } else { "false" });
            Ok(())
        }
        Value::Char(v) => write!(out, "{v}"),
        Value::U8(v) => write!(out, "{v}"),
        Value::I8(v) => write!(out, "{v}"),
        Value::U16(v) => write!(out, "{v}"),
        Value::I16(v) => write!(out, "{v}"),
        Value::U32(v) => write!(out, "{v}"),
        Value::I32(v) => write!(out, "{v}"),
        Value::U64(v) => write!(out, "{v}"),
        Value::I64(v) => write!(out, "{v}"),
        Value::Single(v) => write_float(
            out,
            f64::from(*v),
            |out| write!(out, "{v}"),
            |out| write!(out, "{v:E}"),
        ),
        Value::Double(v) => write_float(
            out,
            *v,
            |out| write!(out, "{v}"),
            |out| write!(out, "{v:E}"),
        ),
        Value::Bytes(bytes) => {
            base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
            Ok(())
        }
    };
}

/// xs:float/xs:double lexical forms. Both Rust forms are the shortest that
/// round-trip; the exponent form keeps huge and tiny magnitudes short.
fn write_float(
    out: &mut String,
    v: f64,
    plain: impl FnOnce(&mut String) -> std::fmt::Result,
    exponent: impl FnOnce(&mut String) -> std::fmt::Result,
) -> std::fmt::Result {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "INF" } else { "-INF" });
    } else if v == 0.0 || (1e-5..1e15).contains(&v.abs()) {
        return plain(out);
    } else {
        return exponent(out);
    }
    Ok(())
}
