//! Owned objects and a batch builder, for the cold paths: fulfill (a few
//! objects per order), tests and native benchmark harnesses, which build
//! batches as the host does.

use crate::{Batch, BatchObject, Cell, Cells, Element, Scalar, Shape, Span, Value};

/// An output object, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct PsObject {
    pub type_names: Vec<String>,
    pub to_string: Option<String>,
    pub properties: Vec<Property>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub value: Value,
}

/// Builds a batch as a host does: one shape per distinct set of type names
/// and property names, text appended to one string.
#[derive(Default)]
pub struct BatchBuilder {
    batch: Option<Batch>,
}

fn empty_batch() -> Batch {
    Batch {
        shapes: Vec::new(),
        objects: Vec::new(),
        values: Cells::new(),
        items: Cells::new(),
        entry_keys: Vec::new(),
        entry_values: Cells::new(),
        nested: Vec::new(),
        text: Vec::new(),
        binary: Vec::new(),
    }
}

fn span(start: usize, len: usize) -> Span {
    // Batches are far below 4 GiB (the host bounds them); saturate rather
    // than wrap if a test ever builds a bigger one.
    Span {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        len: u32::try_from(len).unwrap_or(u32::MAX),
    }
}

impl BatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, object: &PsObject) {
        let batch = self.batch.get_or_insert_with(empty_batch);
        let shape = batch
            .shapes
            .iter()
            .position(|s| {
                s.type_names == object.type_names
                    && s.property_names.len() == object.properties.len()
                    && s.property_names
                        .iter()
                        .zip(&object.properties)
                        .all(|(n, p)| *n == p.name)
            })
            .unwrap_or_else(|| {
                batch.shapes.push(Shape {
                    type_names: object.type_names.clone(),
                    property_names: object.properties.iter().map(|p| p.name.clone()).collect(),
                });
                batch.shapes.len() - 1
            });
        let to_string = object.to_string.as_deref().map(|t| push_text(batch, t));
        let cells: Vec<Cell> = object
            .properties
            .iter()
            .map(|p| push_value(batch, &p.value))
            .collect();
        let first = batch.values.len();
        batch.values.extend(cells);
        batch.objects.push(BatchObject {
            shape: u32::try_from(shape).unwrap_or(u32::MAX),
            to_string,
            values: span(first, object.properties.len()),
        });
    }

    pub fn len(&self) -> usize {
        self.batch.as_ref().map_or(0, |b| b.objects.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(self) -> Batch {
        self.batch.unwrap_or_else(empty_batch)
    }
}

/// A batch of `objects`.
pub fn batch_of<'a>(objects: impl IntoIterator<Item = &'a PsObject>) -> Batch {
    let mut builder = BatchBuilder::new();
    for object in objects {
        builder.push(object);
    }
    builder.finish()
}

fn push_text(batch: &mut Batch, text: &str) -> Span {
    let start = batch.text.len();
    batch.text.extend_from_slice(text.as_bytes());
    span(start, text.len())
}

fn push_value(batch: &mut Batch, value: &Value) -> Cell {
    match value {
        Value::Scalar(scalar) => push_scalar(batch, scalar),
        Value::List(scalars) => Cell::List(push_items(batch, scalars)),
        Value::Dictionary(entries) => {
            let list: Vec<(Span, Cell)> = entries
                .iter()
                .map(|(key, element)| {
                    let key = push_text(batch, key);
                    let value = match element {
                        Element::Scalar(scalar) => push_scalar(batch, scalar),
                        Element::List(scalars) => Cell::List(push_items(batch, scalars)),
                    };
                    (key, value)
                })
                .collect();
            let first = batch.entry_keys.len();
            let len = list.len();
            for (key, value) in list {
                batch.entry_keys.push(key);
                batch.entry_values.push(value);
            }
            Cell::Dictionary(span(first, len))
        }
    }
}

fn push_items(batch: &mut Batch, scalars: &[Scalar]) -> Span {
    let cells: Vec<Cell> = scalars.iter().map(|s| push_scalar(batch, s)).collect();
    let first = batch.items.len();
    batch.items.extend(cells);
    span(first, scalars.len())
}

fn push_scalar(batch: &mut Batch, scalar: &Scalar) -> Cell {
    match scalar {
        Scalar::Null => Cell::Null,
        Scalar::Text(t) => Cell::Text(push_text(batch, t)),
        Scalar::Boolean(b) => Cell::Boolean(*b),
        Scalar::Integer(n) => Cell::Integer(*n),
        Scalar::Number(n) => Cell::Number(*n),
        Scalar::DateTime(t) => Cell::DateTime(push_text(batch, t)),
        Scalar::Guid(t) => Cell::Guid(push_text(batch, t)),
        Scalar::Bytes(b) => {
            let start = batch.binary.len();
            batch.binary.extend_from_slice(b);
            Cell::Bytes(span(start, b.len()))
        }
        Scalar::Object(o) => {
            batch.nested.push(o.clone());
            Cell::Object(u32::try_from(batch.nested.len() - 1).unwrap_or(u32::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_shared_and_text_is_appended_once() {
        let object = |name: &str| PsObject {
            type_names: vec!["T".into()],
            to_string: None,
            properties: vec![Property {
                name: "Name".into(),
                value: Value::Scalar(Scalar::Text(name.into())),
            }],
        };
        let batch = batch_of(&[object("ä"), object("b")]);
        assert_eq!(batch.shapes.len(), 1);
        assert_eq!(batch.text, "äb".as_bytes());
        assert_eq!(
            batch.values.get(1),
            Some(Cell::Text(Span { start: 2, len: 1 }))
        );
    }
}
