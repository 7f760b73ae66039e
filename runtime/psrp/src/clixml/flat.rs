//! Pipeline output decoded straight into a flat layout: each distinct shape
//! (type names and property names) once, all text of the common primitives
//! appended to one buffer, one cell per property. This is the layout a
//! client hands to a consumer that reads objects row by row (idconn's
//! component batches): decoding into it skips the value tree's allocations
//! (two strings per property, a box per object), which were most of a
//! client's CPU.
//!
//! Only what is common and simple is flattened here: strings, dates, GUIDs,
//! booleans, 32- and 64-bit integers and nil. Anything else a property holds
//! (a nested object, a collection, a `<Ref>`, the rare primitives) is
//! decoded by the ordinary decoder into a [`Value`] kept beside the batch,
//! so the consumer maps it by its one set of rules. The result is exactly
//! what decoding into values would give, object by object (tests hold the
//! two paths to the same output).

use std::sync::Arc;

use super::value::Value;

/// A range of a [`FlatBatch`]'s `text`, or of one of its cell vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// One property value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatCell {
    Null,
    /// `<S>`, escapes decoded.
    Text(Span),
    /// `<DT>`, as written.
    DateTime(Span),
    /// `<G>`, lower-case hyphenated.
    Guid(Span),
    Boolean(bool),
    /// `<I32>`, `<I64>`.
    Integer(i64),
    /// Anything else: the value at this index of [`FlatBatch::values`].
    Value(u32),
}

/// The type names and property names objects share.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatShape {
    pub type_names: Arc<[String]>,
    pub property_names: Vec<String>,
}

/// One output object; a primitive output (e.g. `<S>`) is an object of no
/// properties whose `primitive` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatObject {
    pub shape: u32,
    /// `<ToString>`, in `text`.
    pub to_string: Option<Span>,
    /// Its cells, in `cells`: `<Props>` first, then `<MS>`, as a
    /// [`super::PsObject`]'s `adapted` and `extended`.
    pub cells: Span,
    /// A primitive output value, at this index of `values`.
    pub primitive: Option<u32>,
}

/// Output objects of one pipeline, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlatBatch {
    pub shapes: Vec<FlatShape>,
    pub objects: Vec<FlatObject>,
    pub cells: Vec<FlatCell>,
    pub text: Vec<u8>,
    pub values: Vec<Value>,
}

impl FlatBatch {
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The text a span of `text` covers (always UTF-8: it is decoded text).
    pub fn text(&self, span: Span) -> &str {
        self.text
            .get(span.range())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// The cells of `object`.
    pub fn cells_of(&self, object: &FlatObject) -> &[FlatCell] {
        self.cells.get(object.cells.range()).unwrap_or_default()
    }

    /// The objects as values, in the normal form [`normalize`] gives a
    /// decoded value: what tests hold the flat path to.
    pub fn to_values(&self) -> Vec<Value> {
        self.objects.iter().map(|o| self.object_value(o)).collect()
    }

    fn object_value(&self, object: &FlatObject) -> Value {
        if let Some(i) = object.primitive {
            return self.values.get(i as usize).cloned().unwrap_or(Value::Nil);
        }
        let Some(shape) = self.shapes.get(object.shape as usize) else {
            return Value::Nil;
        };
        let properties = shape
            .property_names
            .iter()
            .cloned()
            .zip(self.cells_of(object).iter().map(|c| self.cell_value(c)))
            .collect();
        Value::Object(Box::new(super::PsObject {
            type_names: shape.type_names.clone(),
            to_string: object.to_string.map(|s| self.text(s).to_owned()),
            adapted: properties,
            ..Default::default()
        }))
    }

    fn cell_value(&self, cell: &FlatCell) -> Value {
        match *cell {
            FlatCell::Null => Value::Nil,
            FlatCell::Text(s) => Value::String(self.text(s).to_owned()),
            FlatCell::DateTime(s) => Value::DateTime(self.text(s).to_owned()),
            FlatCell::Guid(s) => Value::Guid(self.text(s).to_owned()),
            FlatCell::Boolean(b) => Value::Bool(b),
            FlatCell::Integer(n) => Value::I64(n),
            FlatCell::Value(i) => self.values.get(i as usize).cloned().unwrap_or(Value::Nil),
        }
    }
}

/// A decoded top-level value in the form the flat layout keeps of it: an
/// object's `<MS>` properties after its `<Props>` ones, in one list; a
/// 32-bit integer property as a 64-bit one; nothing of a top-level object
/// but its type names, ToString and properties (consumers of output rows
/// read nothing else of it).
pub fn normalize(value: &Value) -> Value {
    let Value::Object(obj) = value else {
        return value.clone();
    };
    let adapted = obj
        .adapted
        .iter()
        .chain(obj.extended.iter())
        .map(|(name, v)| {
            let v = match v {
                Value::I32(n) => Value::I64(i64::from(*n)),
                other => other.clone(),
            };
            (name.clone(), v)
        })
        .collect();
    Value::Object(Box::new(super::PsObject {
        type_names: obj.type_names.clone(),
        to_string: obj.to_string.clone(),
        adapted,
        ..Default::default()
    }))
}
