//! Building the `batch` a component pulls: each distinct shape (type names
//! and property names) once, every text value appended to one string, every
//! value a flat cell. Lowering such a batch into the guest costs a handful
//! of allocations instead of one per string (about 90 per mailbox), which
//! was most of the sandbox's overhead.

use idconn_psrp::clixml::flat::{self, FlatBatch, FlatCell, FlatObject};
use idconn_psrp::clixml::{self, Collection};

use super::mapping::{scalar_from_clixml, scalar_text};
use crate::bindings::{
    Batch, BatchObject, Cell, Cells, Element, NestedObject, Scalar, Shape, Span, Value,
};

/// An output object, owned: what replay fixtures and in-memory backends
/// hold before batching.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputObject {
    pub type_names: Vec<String>,
    pub to_string: Option<String>,
    pub properties: Vec<(String, Value)>,
}

/// Batches stay far below 4 GiB of text (`max_batch_objects` bounds the
/// objects, the server's envelope size their text); a span that would not
/// fit is an error rather than a wrapped offset.
#[derive(Debug, thiserror::Error)]
#[error("a batch of pipeline output exceeds 4 GiB; lower MaxBatchObjects")]
pub struct BatchTooLarge;

pub struct BatchBuilder {
    batch: Batch,
    /// The shape of the last object: output of one pipeline nearly always
    /// has one shape, so this is the only comparison most objects need.
    last_shape: Option<usize>,
    too_large: bool,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    pub fn new() -> Self {
        BatchBuilder {
            batch: Batch {
                shapes: Vec::new(),
                objects: Vec::new(),
                values: Cells::new(),
                items: Cells::new(),
                entry_keys: Vec::new(),
                entry_values: Cells::new(),
                nested: Vec::new(),
                text: Vec::new(),
                binary: Vec::new(),
            },
            last_shape: None,
            too_large: false,
        }
    }

    pub fn len(&self) -> usize {
        self.batch.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.objects.is_empty()
    }

    pub fn finish(self) -> Result<Batch, BatchTooLarge> {
        if self.too_large {
            return Err(BatchTooLarge);
        }
        Ok(self.batch)
    }

    /// A pipeline output value. A primitive (e.g. `<S>` from
    /// `Get-Date | % ToString`) becomes an object with no properties whose
    /// to-string is the value.
    pub fn push_clixml(&mut self, value: &clixml::Value) {
        match value {
            clixml::Value::Object(obj) => {
                let names = || {
                    obj.adapted
                        .iter()
                        .chain(obj.extended.iter())
                        .map(|(n, _)| n)
                };
                let shape = self.shape(
                    &obj.type_names,
                    names(),
                    obj.adapted.len() + obj.extended.len(),
                );
                let to_string = obj.to_string.as_deref().map(|t| self.text(t));
                let first = self.batch.values.len();
                for (_, v) in obj.adapted.iter().chain(obj.extended.iter()) {
                    let cell = self.value_cell(v);
                    self.batch.values.push(cell);
                }
                self.push_row(shape, to_string, first);
            }
            other => {
                let shape = self.shape(&[], std::iter::empty(), 0);
                let to_string = scalar_text(other).map(|t| self.text(&t));
                let first = self.batch.values.len();
                self.push_row(shape, to_string, first);
            }
        }
    }

    pub fn push_object(&mut self, object: &OutputObject) {
        let shape = self.shape(
            &object.type_names,
            object.properties.iter().map(|(n, _)| n),
            object.properties.len(),
        );
        let to_string = object.to_string.as_deref().map(|t| self.text(t));
        let first = self.batch.values.len();
        for (_, v) in &object.properties {
            let cell = self.owned_value_cell(v);
            self.batch.values.push(cell);
        }
        self.push_row(shape, to_string, first);
    }

    /// A batch of flat-decoded output, moved rather than copied: its shapes
    /// and text become the batch's, its cells map one to one, and only
    /// what it kept as values (nested objects, collections, rare kinds) goes
    /// through [`Self::push_clixml`]'s rules. The result is the batch
    /// `push_clixml` would build from the same objects decoded as values.
    pub fn from_flat(flat: FlatBatch) -> Result<Batch, BatchTooLarge> {
        let FlatBatch {
            shapes,
            objects,
            cells,
            text,
            values,
        } = flat;
        let mut builder = BatchBuilder::new();
        builder.batch.text = text;
        builder.batch.shapes = shapes
            .into_iter()
            .map(|s| Shape {
                type_names: s.type_names.to_vec(),
                property_names: s.property_names,
            })
            .collect();
        builder.batch.values.reserve(cells.len());
        builder.batch.objects.reserve(objects.len());
        for object in &objects {
            if let Some(whole) = object.primitive {
                if let Some(value) = values.get(whole as usize) {
                    builder.push_clixml(value);
                }
                continue;
            }
            let first = builder.batch.values.len();
            for cell in cells.get(object.cells.range()).unwrap_or_default() {
                let cell = match *cell {
                    FlatCell::Value(i) => match values.get(i as usize) {
                        Some(value) => builder.value_cell(value),
                        None => Cell::Null,
                    },
                    other => builder.flat_scalar(other, None),
                };
                builder.batch.values.push(cell);
            }
            let to_string = object.to_string.map(span);
            builder.push_row(object.shape, to_string, first);
        }
        builder.finish()
    }

    /// One object of a flat batch, copied: for a batch handed out in parts.
    pub fn push_flat(&mut self, batch: &FlatBatch, object: &FlatObject) {
        if let Some(whole) = object.primitive {
            if let Some(value) = batch.values.get(whole as usize) {
                self.push_clixml(value);
            }
            return;
        }
        let Some(shape) = batch.shapes.get(object.shape as usize) else {
            return;
        };
        let shape = self.shape(
            &shape.type_names,
            shape.property_names.iter(),
            shape.property_names.len(),
        );
        let to_string = object.to_string.map(|s| self.text(batch.text(s)));
        let first = self.batch.values.len();
        for cell in batch.cells_of(object) {
            let cell = match *cell {
                FlatCell::Value(i) => match batch.values.get(i as usize) {
                    Some(value) => self.value_cell(value),
                    None => Cell::Null,
                },
                other => self.flat_scalar(other, Some(batch)),
            };
            self.batch.values.push(cell);
        }
        self.push_row(shape, to_string, first);
    }

    /// A flat cell other than a value; its text copied from `from`, or
    /// already in this batch's text when `None`.
    fn flat_scalar(&mut self, cell: FlatCell, from: Option<&FlatBatch>) -> Cell {
        let mut text = |s: flat::Span| match from {
            Some(batch) => self.text(batch.text(s)),
            None => span(s),
        };
        match cell {
            FlatCell::Null | FlatCell::Value(_) => Cell::Null,
            FlatCell::Text(s) => Cell::Text(text(s)),
            FlatCell::DateTime(s) => Cell::DateTime(text(s)),
            FlatCell::Guid(s) => Cell::Guid(text(s)),
            FlatCell::Boolean(b) => Cell::Boolean(b),
            FlatCell::Integer(n) => Cell::Integer(n),
        }
    }

    fn push_row(&mut self, shape: u32, to_string: Option<Span>, first: usize) {
        let values = self.span(first, self.batch.values.len() - first);
        self.batch.objects.push(BatchObject {
            shape,
            to_string,
            values,
        });
    }

    fn shape<'n>(
        &mut self,
        type_names: &[String],
        names: impl Iterator<Item = &'n String> + Clone,
        count: usize,
    ) -> u32 {
        let matches = |shape: &Shape| {
            shape.property_names.len() == count
                && *shape.type_names == *type_names
                && shape
                    .property_names
                    .iter()
                    .zip(names.clone())
                    .all(|(a, b)| a == b)
        };
        let found = match self.last_shape {
            Some(i) if self.batch.shapes.get(i).is_some_and(matches) => Some(i),
            _ => self.batch.shapes.iter().position(matches),
        };
        let index = found.unwrap_or_else(|| {
            self.batch.shapes.push(Shape {
                type_names: type_names.to_vec(),
                property_names: names.cloned().collect(),
            });
            self.batch.shapes.len() - 1
        });
        self.last_shape = Some(index);
        self.index(index)
    }

    fn index(&mut self, i: usize) -> u32 {
        u32::try_from(i).unwrap_or_else(|_| {
            self.too_large = true;
            u32::MAX
        })
    }

    fn span(&mut self, start: usize, len: usize) -> Span {
        Span {
            start: self.index(start),
            len: self.index(len),
        }
    }

    fn text(&mut self, text: &str) -> Span {
        let start = self.batch.text.len();
        self.batch.text.extend_from_slice(text.as_bytes());
        self.span(start, text.len())
    }

    fn value_cell(&mut self, value: &clixml::Value) -> Cell {
        if let clixml::Value::Object(obj) = value {
            match &obj.collection {
                Some(Collection::List(_, items)) => {
                    let cells: Vec<Cell> = items.iter().map(|i| self.scalar_cell(i)).collect();
                    return Cell::List(self.items(cells));
                }
                Some(Collection::Dictionary(entries)) => {
                    let list: Vec<(Span, Cell)> = entries
                        .iter()
                        .map(|(k, v)| {
                            let key = scalar_text(k).unwrap_or_default();
                            let key = self.text(&key);
                            let value = match v {
                                clixml::Value::Object(o)
                                    if matches!(o.collection, Some(Collection::List(..))) =>
                                {
                                    self.value_cell(v)
                                }
                                // A hashtable inside a hashtable is flattened
                                // like any nested object.
                                other => self.scalar_cell(other),
                            };
                            (key, value)
                        })
                        .collect();
                    return self.entries(list);
                }
                None => {}
            }
        }
        self.scalar_cell(value)
    }

    /// Hashtable entries, appended after the batch's others: the
    /// dictionary cell that spans them.
    fn entries(&mut self, list: Vec<(Span, Cell)>) -> Cell {
        let first = self.batch.entry_keys.len();
        let len = list.len();
        for (key, value) in list {
            self.batch.entry_keys.push(key);
            self.batch.entry_values.push(value);
        }
        Cell::Dictionary(self.span(first, len))
    }

    fn items(&mut self, cells: Vec<Cell>) -> Span {
        let first = self.batch.items.len();
        let len = cells.len();
        self.batch.items.extend(cells);
        self.span(first, len)
    }

    fn scalar_cell(&mut self, value: &clixml::Value) -> Cell {
        use clixml::Value as V;
        match value {
            V::Nil => Cell::Null,
            V::String(s)
            | V::Uri(s)
            | V::Version(s)
            | V::XmlDocument(s)
            | V::ScriptBlock(s)
            | V::Decimal(s)
            | V::Duration(s) => Cell::Text(self.text(s)),
            V::DateTime(s) => Cell::DateTime(self.text(s)),
            V::Guid(s) => Cell::Guid(self.text(s)),
            V::Bool(b) => Cell::Boolean(*b),
            V::I32(n) => Cell::Integer(i64::from(*n)),
            V::I64(n) => Cell::Integer(*n),
            // The rare kinds follow the one set of mapping rules.
            other => {
                let scalar = scalar_from_clixml(other);
                self.owned_scalar_cell(&scalar)
            }
        }
    }

    fn owned_value_cell(&mut self, value: &Value) -> Cell {
        match value {
            Value::Scalar(scalar) => self.owned_scalar_cell(scalar),
            Value::List(scalars) => {
                let cells: Vec<Cell> = scalars.iter().map(|s| self.owned_scalar_cell(s)).collect();
                Cell::List(self.items(cells))
            }
            Value::Dictionary(entries) => {
                let list: Vec<(Span, Cell)> = entries
                    .iter()
                    .map(|(key, element)| {
                        let key = self.text(key);
                        let value = match element {
                            Element::Scalar(scalar) => self.owned_scalar_cell(scalar),
                            Element::List(scalars) => {
                                let cells: Vec<Cell> =
                                    scalars.iter().map(|s| self.owned_scalar_cell(s)).collect();
                                Cell::List(self.items(cells))
                            }
                        };
                        (key, value)
                    })
                    .collect();
                self.entries(list)
            }
        }
    }

    fn owned_scalar_cell(&mut self, scalar: &Scalar) -> Cell {
        match scalar {
            Scalar::Null => Cell::Null,
            Scalar::Text(t) => Cell::Text(self.text(t)),
            Scalar::Boolean(b) => Cell::Boolean(*b),
            Scalar::Integer(n) => Cell::Integer(*n),
            Scalar::Number(n) => Cell::Number(*n),
            Scalar::DateTime(t) => Cell::DateTime(self.text(t)),
            Scalar::Guid(t) => Cell::Guid(self.text(t)),
            Scalar::Bytes(b) => {
                let start = self.batch.binary.len();
                self.batch.binary.extend_from_slice(b);
                Cell::Bytes(self.span(start, b.len()))
            }
            Scalar::Object(o) => {
                self.batch.nested.push(NestedObject {
                    type_names: o.type_names.clone(),
                    to_string: o.to_string.clone(),
                });
                let i = self.batch.nested.len() - 1;
                Cell::Object(self.index(i))
            }
        }
    }
}

fn span(s: flat::Span) -> Span {
    Span {
        start: s.start,
        len: s.len,
    }
}

/// Reading a batch on the host (`idconn check`): the objects' properties by
/// name, as owned values.
pub fn property_texts<'a>(
    batch: &'a Batch,
    name: &'a str,
) -> impl Iterator<Item = Option<String>> + 'a {
    batch.objects.iter().map(move |object| {
        let shape = batch.shapes.get(object.shape as usize)?;
        let i = shape
            .property_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        let cell = batch
            .values
            .get((object.values.start as usize).checked_add(i)?)?;
        let text = |span: &Span| {
            let start = span.start as usize;
            batch
                .text
                .get(start..start.checked_add(span.len as usize)?)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .map(str::to_owned)
        };
        match cell {
            Cell::Text(span) => text(&span),
            Cell::Object(n) => batch.nested.get(n as usize).map(|o| o.to_string.clone()),
            _ => None,
        }
    })
}
