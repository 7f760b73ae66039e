//! Reading pipeline output batches without copying them: the contract sends
//! a batch's text once, and values are spans of it. These views give the
//! connector logic borrowed scalars and values, so a 43-property mailbox
//! costs no allocation to read.
//!
//! Values arrive packed (a kind byte and a 64-bit payload each, see
//! [`cells`](crate::cells)); the views unpack each one where it is read.
//!
//! The batch's `text` is bytes (`list<u8>`): [`BatchRef::new`] checks it is
//! UTF-8 once per batch, and every span is then sliced with `str::get`, so
//! a span out of range or off a character boundary reads as empty text
//! rather than panicking. The host checks spans before sending; these views
//! do not rely on it.
//!
//! The owned [`PsObject`](crate::builder::PsObject) and the
//! [`BatchBuilder`](crate::builder::BatchBuilder) serve the cold paths.

pub use crate::builder::{batch_of, BatchBuilder, Property, PsObject};
use crate::cells::{Cell, CellsRef};
use crate::{Batch, BatchObject, Element, NestedObject, Scalar, Shape, Span, Value};

/// A batch with its text checked as UTF-8: what every view borrows.
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    batch: &'a Batch,
    text: &'a str,
    values: CellsRef<'a>,
    items: CellsRef<'a>,
}

impl<'a> BatchRef<'a> {
    /// Checks the batch's text once. Text that is not UTF-8 (which the host
    /// never sends) is cut at its first bad byte: spans beyond it read as
    /// empty.
    pub fn new(batch: &'a Batch) -> Self {
        // simdutf8's answer is std's (its tests hold it to that); only its
        // error lacks the valid prefix, which std then finds.
        if let Ok(text) = simdutf8::basic::from_utf8(&batch.text) {
            return BatchRef::with_text(batch, text);
        }
        let text = match std::str::from_utf8(&batch.text) {
            Ok(text) => text,
            Err(error) => batch
                .text
                .get(..error.valid_up_to())
                .and_then(|valid| std::str::from_utf8(valid).ok())
                .unwrap_or(""),
        };
        BatchRef::with_text(batch, text)
    }

    fn with_text(batch: &'a Batch, text: &'a str) -> Self {
        BatchRef {
            batch,
            text,
            values: CellsRef::of(&batch.values),
            items: CellsRef::of(&batch.items),
        }
    }

    pub fn batch(&self) -> &'a Batch {
        self.batch
    }

    /// The objects of the batch, in the server's order.
    pub fn objects(self) -> impl Iterator<Item = ObjectRef<'a>> {
        self.batch.objects.iter().map(move |object| ObjectRef {
            batch: self,
            object,
        })
    }

    /// A span of the text; empty when out of range or not on character
    /// boundaries.
    #[inline]
    pub fn text(&self, span: Span) -> &'a str {
        let start = span.start as usize;
        let end = start.saturating_add(span.len as usize);
        self.text.get(start..end).unwrap_or("")
    }
}

/// A leaf value, borrowed from a batch or from an owned [`Scalar`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarRef<'a> {
    Null,
    Text(&'a str),
    Boolean(bool),
    Integer(i64),
    Number(f64),
    DateTime(&'a str),
    Guid(&'a str),
    Bytes(&'a [u8]),
    Object(&'a NestedObject),
}

/// A property value, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Scalar(ScalarRef<'a>),
    List(Items<'a>),
    Dictionary(Entries<'a>),
}

/// The items of a list value.
#[derive(Debug, Clone, Copy)]
pub enum Items<'a> {
    Cells(BatchRef<'a>, CellsRef<'a>),
    Owned(&'a [Scalar]),
}

/// The entries of a hashtable value.
#[derive(Debug, Clone, Copy)]
pub enum Entries<'a> {
    /// The keys (spans of the batch's text) and their values.
    Cells(BatchRef<'a>, &'a [Span], CellsRef<'a>),
    Owned(&'a [(String, Element)]),
}

/// A hashtable entry's value.
#[derive(Debug, Clone, Copy)]
pub enum ElementRef<'a> {
    Scalar(ScalarRef<'a>),
    List(Items<'a>),
}

impl<'a> Items<'a> {
    pub fn len(&self) -> usize {
        match self {
            Items::Cells(_, cells) => cells.len(),
            Items::Owned(scalars) => scalars.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = ScalarRef<'a>> + 'a {
        // One of the two halves is empty: a chain keeps a single iterator type.
        let (batch, cells, owned): (Option<BatchRef<'a>>, CellsRef<'a>, &'a [Scalar]) = match *self
        {
            Items::Cells(batch, cells) => (Some(batch), cells, &[]),
            Items::Owned(scalars) => (None, CellsRef::EMPTY, scalars),
        };
        cells
            .iter()
            .filter_map(move |cell| batch.map(|b| scalar_of(b, cell)))
            .chain(owned.iter().map(ScalarRef::from))
    }
}

impl<'a> Entries<'a> {
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&'a str, ElementRef<'a>)> + 'a> {
        match *self {
            Entries::Cells(batch, keys, values) => {
                Box::new(keys.iter().zip(values.iter()).map(move |(key, value)| {
                    let key = batch.text(*key);
                    let element = match value {
                        Cell::List(span) => {
                            ElementRef::List(Items::Cells(batch, items(batch, span)))
                        }
                        other => ElementRef::Scalar(scalar_of(batch, other)),
                    };
                    (key, element)
                }))
            }
            Entries::Owned(entries) => Box::new(entries.iter().map(|(key, element)| {
                let element = match element {
                    Element::Scalar(scalar) => ElementRef::Scalar(scalar.into()),
                    Element::List(items) => ElementRef::List(Items::Owned(items)),
                };
                (key.as_str(), element)
            })),
        }
    }
}

impl<'a> From<&'a Scalar> for ScalarRef<'a> {
    fn from(scalar: &'a Scalar) -> Self {
        match scalar {
            Scalar::Null => ScalarRef::Null,
            Scalar::Text(t) => ScalarRef::Text(t),
            Scalar::Boolean(b) => ScalarRef::Boolean(*b),
            Scalar::Integer(n) => ScalarRef::Integer(*n),
            Scalar::Number(n) => ScalarRef::Number(*n),
            Scalar::DateTime(t) => ScalarRef::DateTime(t),
            Scalar::Guid(t) => ScalarRef::Guid(t),
            Scalar::Bytes(b) => ScalarRef::Bytes(b),
            Scalar::Object(o) => ScalarRef::Object(o),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Scalar(scalar) => ValueRef::Scalar(scalar.into()),
            Value::List(items) => ValueRef::List(Items::Owned(items)),
            Value::Dictionary(entries) => ValueRef::Dictionary(Entries::Owned(entries)),
        }
    }
}

impl ScalarRef<'_> {
    pub fn to_owned_scalar(self) -> Scalar {
        match self {
            ScalarRef::Null => Scalar::Null,
            ScalarRef::Text(t) => Scalar::Text(t.to_owned()),
            ScalarRef::Boolean(b) => Scalar::Boolean(b),
            ScalarRef::Integer(n) => Scalar::Integer(n),
            ScalarRef::Number(n) => Scalar::Number(n),
            ScalarRef::DateTime(t) => Scalar::DateTime(t.to_owned()),
            ScalarRef::Guid(t) => Scalar::Guid(t.to_owned()),
            ScalarRef::Bytes(b) => Scalar::Bytes(b.to_vec()),
            ScalarRef::Object(o) => Scalar::Object(o.clone()),
        }
    }
}

impl ValueRef<'_> {
    pub fn to_owned_value(self) -> Value {
        match self {
            ValueRef::Scalar(scalar) => Value::Scalar(scalar.to_owned_scalar()),
            ValueRef::List(items) => {
                Value::List(items.iter().map(ScalarRef::to_owned_scalar).collect())
            }
            ValueRef::Dictionary(entries) => Value::Dictionary(
                entries
                    .iter()
                    .map(|(key, element)| {
                        let element = match element {
                            ElementRef::Scalar(s) => Element::Scalar(s.to_owned_scalar()),
                            ElementRef::List(items) => Element::List(
                                items.iter().map(ScalarRef::to_owned_scalar).collect(),
                            ),
                        };
                        (key.to_owned(), element)
                    })
                    .collect(),
            ),
        }
    }
}

/// One object of a batch.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'a> {
    batch: BatchRef<'a>,
    object: &'a BatchObject,
}

/// The objects of a batch, in the server's order (its text checked once).
pub fn objects(batch: &Batch) -> impl Iterator<Item = ObjectRef<'_>> {
    BatchRef::new(batch).objects()
}

const NO_NAMES: &[String] = &[];

impl<'a> ObjectRef<'a> {
    /// The index of the object's shape: objects with the same index have
    /// the same type names and property names, in the same order.
    pub fn shape_index(&self) -> u32 {
        self.object.shape
    }

    fn shape(&self) -> Option<&'a Shape> {
        self.batch.batch.shapes.get(self.object.shape as usize)
    }

    pub fn type_names(&self) -> &'a [String] {
        self.shape().map_or(NO_NAMES, |s| &s.type_names)
    }

    pub fn property_names(&self) -> &'a [String] {
        self.shape().map_or(NO_NAMES, |s| &s.property_names)
    }

    pub fn to_string(&self) -> Option<&'a str> {
        self.object.to_string.map(|span| self.batch.text(span))
    }

    /// The properties, in the server's order.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, ValueRef<'a>)> + 'a {
        self.property_names()
            .iter()
            .map(String::as_str)
            .zip(self.values())
    }

    /// The properties' values, in the order of [`Self::property_names`].
    pub fn values(&self) -> impl Iterator<Item = ValueRef<'a>> + 'a {
        let batch = self.batch;
        batch
            .values
            .span(self.object.values)
            .iter()
            .take(self.property_names().len())
            .map(move |cell| value_of(batch, cell))
    }

    /// The `i`-th property's value, in the order of [`Self::property_names`].
    pub fn value(&self, i: usize) -> Option<ValueRef<'a>> {
        self.batch
            .values
            .span(self.object.values)
            .get(i)
            .map(|cell| value_of(self.batch, cell))
    }

    /// A property by name, case-insensitively as PowerShell does.
    pub fn get(&self, name: &str) -> Option<ValueRef<'a>> {
        let i = self
            .property_names()
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        self.value(i)
    }

    pub fn to_owned_object(&self) -> PsObject {
        PsObject {
            type_names: self.type_names().to_vec(),
            to_string: self.to_string().map(str::to_owned),
            properties: self
                .properties()
                .map(|(name, value)| Property {
                    name: name.to_owned(),
                    value: value.to_owned_value(),
                })
                .collect(),
        }
    }
}

/// Out-of-range spans read as empty: a batch is the host's, and a bad one
/// must not bring the connector down.
fn span_of<T>(list: &[T], span: Span) -> &[T] {
    let start = span.start as usize;
    let end = start.saturating_add(span.len as usize);
    list.get(start..end).unwrap_or(&[])
}

fn items(batch: BatchRef<'_>, span: Span) -> CellsRef<'_> {
    batch.items.span(span)
}

/// A dictionary's entries: its keys, and as many values.
fn entries(batch: BatchRef<'_>, span: Span) -> Entries<'_> {
    let keys = span_of(&batch.batch.entry_keys, span);
    let values = CellsRef::of(&batch.batch.entry_values).span(span);
    if keys.len() == values.len() {
        Entries::Cells(batch, keys, values)
    } else {
        Entries::Cells(batch, &[], CellsRef::EMPTY)
    }
}

// Inlined into the caller's loop over a row's values: as calls, these two
// were an eighth of the export's time in wasmtime, mostly moving their
// results through memory.
#[inline]
fn value_of(batch: BatchRef<'_>, cell: Cell) -> ValueRef<'_> {
    match cell {
        Cell::List(span) => ValueRef::List(Items::Cells(batch, items(batch, span))),
        Cell::Dictionary(span) => ValueRef::Dictionary(entries(batch, span)),
        other => ValueRef::Scalar(scalar_of(batch, other)),
    }
}

#[inline]
fn scalar_of(batch: BatchRef<'_>, cell: Cell) -> ScalarRef<'_> {
    match cell {
        Cell::Null | Cell::List(_) | Cell::Dictionary(_) => ScalarRef::Null,
        Cell::Text(span) => ScalarRef::Text(batch.text(span)),
        Cell::Boolean(b) => ScalarRef::Boolean(b),
        Cell::Integer(n) => ScalarRef::Integer(n),
        Cell::Number(n) => ScalarRef::Number(n),
        Cell::DateTime(span) => ScalarRef::DateTime(batch.text(span)),
        Cell::Guid(span) => ScalarRef::Guid(batch.text(span)),
        Cell::Bytes(span) => ScalarRef::Bytes(span_of(&batch.batch.binary, span)),
        Cell::Object(i) => match batch.batch.nested.get(i as usize) {
            Some(object) => ScalarRef::Object(object),
            None => ScalarRef::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PsObject {
        PsObject {
            type_names: vec!["A".into(), "B".into()],
            to_string: Some("shown".into()),
            properties: vec![
                Property {
                    name: "Name".into(),
                    value: Value::Scalar(Scalar::Text("Ada".into())),
                },
                Property {
                    name: "Addresses".into(),
                    value: Value::List(vec![
                        Scalar::Text("SMTP:a@x".into()),
                        Scalar::Null,
                        Scalar::Integer(3),
                    ]),
                },
                Property {
                    name: "Table".into(),
                    value: Value::Dictionary(vec![
                        ("k".into(), Element::Scalar(Scalar::Boolean(true))),
                        ("l".into(), Element::List(vec![Scalar::Guid("g".into())])),
                    ]),
                },
                Property {
                    name: "Blob".into(),
                    value: Value::Scalar(Scalar::Bytes(vec![1, 2, 3])),
                },
                Property {
                    name: "Nested".into(),
                    value: Value::Scalar(Scalar::Object(NestedObject {
                        type_names: vec!["N".into()],
                        to_string: "n".into(),
                    })),
                },
            ],
        }
    }

    #[test]
    fn objects_round_trip_through_a_batch() {
        let mut other = sample();
        other.properties.pop();
        let objects = vec![sample(), other.clone(), sample()];
        let batch = batch_of(&objects);
        assert_eq!(batch.shapes.len(), 2, "same shapes are shared");
        let back: Vec<PsObject> = objects_of(&batch);
        assert_eq!(back, objects);
    }

    fn objects_of(batch: &Batch) -> Vec<PsObject> {
        objects(batch).map(|o| o.to_owned_object()).collect()
    }

    #[test]
    fn lookups_ignore_case_and_shapes_are_shared() {
        let batch = batch_of(&[sample(), sample()]);
        let all: Vec<ObjectRef> = objects(&batch).collect();
        assert_eq!(all[0].shape_index(), all[1].shape_index());
        assert!(matches!(
            all[1].get("name"),
            Some(ValueRef::Scalar(ScalarRef::Text("Ada")))
        ));
        assert!(all[1].get("Missing").is_none());
        assert_eq!(all[0].to_string(), Some("shown"));
    }

    #[test]
    fn out_of_range_spans_read_as_empty_not_a_panic() {
        let mut batch = batch_of(&[sample()]);
        batch.objects[0].values = Span {
            start: 3,
            len: u32::MAX,
        };
        batch.objects[0].shape = 7;
        batch.objects[0].to_string = Some(Span {
            start: u32::MAX,
            len: 2,
        });
        batch.items = Default::default();
        batch.text = "é".as_bytes().to_vec();
        let object = objects(&batch).next().unwrap();
        assert_eq!(object.properties().count(), 0);
        assert_eq!(object.to_string(), Some(""));
        assert!(object.type_names().is_empty());
        let mut batch = batch_of(&[sample()]);
        batch.text = "é".as_bytes().to_vec();
        batch.items = Default::default();
        batch.entry_values.kinds.pop();
        batch.nested.clear();
        let object = objects(&batch).next().unwrap();
        for (_, value) in object.properties() {
            let _ = value.to_owned_value();
        }
    }

    #[test]
    fn spans_count_bytes_and_never_split_a_character() {
        let mut batch = batch_of(&[PsObject {
            type_names: vec![],
            to_string: Some("Zoë 日本".into()),
            properties: vec![],
        }]);
        fn whole(batch: &Batch) -> Option<&str> {
            objects(batch).next().unwrap().to_string()
        }
        assert_eq!(whole(&batch), Some("Zoë 日本"));
        // "Zoë 日本" is 11 bytes: a span of 4 bytes ends inside `ë`.
        batch.objects[0].to_string = Some(Span { start: 0, len: 3 });
        assert_eq!(whole(&batch), Some(""));
        batch.objects[0].to_string = Some(Span { start: 5, len: 6 });
        assert_eq!(whole(&batch), Some("日本"));
    }

    #[test]
    fn text_that_is_not_utf8_is_cut_at_its_first_bad_byte() {
        let mut batch = batch_of(&[PsObject {
            type_names: vec![],
            to_string: Some("abcd".into()),
            properties: vec![],
        }]);
        batch.text[2] = 0xff;
        let view = BatchRef::new(&batch);
        assert_eq!(view.text(Span { start: 0, len: 2 }), "ab");
        assert_eq!(view.text(Span { start: 0, len: 4 }), "");
        assert_eq!(view.text(Span { start: 3, len: 1 }), "");

        // Long enough for the SIMD check's whole blocks, the bad byte deep
        // inside one of them.
        let long = "é".repeat(200);
        let mut batch = batch_of(&[PsObject {
            type_names: vec![],
            to_string: Some(long.clone()),
            properties: vec![],
        }]);
        batch.text[301] = b'a';
        let view = BatchRef::new(&batch);
        assert_eq!(view.text(Span { start: 0, len: 300 }), &long[..300]);
        assert_eq!(view.text(Span { start: 0, len: 302 }), "");
        assert_eq!(view.text(Span { start: 302, len: 2 }), "");
    }
}
