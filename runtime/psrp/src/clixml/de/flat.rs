//! Decoding a top-level value into a [`FlatBatch`] (clixml/flat.rs): the
//! same reader, checks and budget as the value decoder, with the common
//! primitives of an object's properties written straight into the batch.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Child, Decoder, RefKey, Result, MAX_DEPTH, OBJECT_COST, VALUE_COST};
use crate::clixml::error::ClixmlErrorKind as Kind;
use crate::clixml::escape;
use crate::clixml::flat::{FlatBatch, FlatCell, FlatObject, FlatShape, Span};
use crate::clixml::tag::Tag;

/// Builds a [`FlatBatch`] one PSRP message (one top-level value) at a time.
#[derive(Debug, Default)]
pub struct FlatBuilder {
    batch: FlatBatch,
    /// The shape of the last object: a pipeline's output nearly always has
    /// one shape, so its names are compared in place, never allocated.
    last_shape: Option<usize>,
    /// Whether each property of the object being decoded came from
    /// `<Props>` (reused between objects).
    adapted: Vec<bool>,
    too_large: bool,
}

/// The most room a new batch is given ahead (so what a batch held,
/// possibly a hostile server's huge object, is not kept reserved).
const PRESIZE_TEXT: usize = 1 << 20;
const PRESIZE_CELLS: usize = 1 << 16;
const PRESIZE_OBJECTS: usize = 1 << 10;

/// Where the batch stood before a message, to undo a message that failed.
struct Mark {
    shapes: usize,
    objects: usize,
    cells: usize,
    text: usize,
    values: usize,
}

impl FlatBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Objects so far.
    pub fn len(&self) -> usize {
        self.batch.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.objects.is_empty()
    }

    /// The batch, and the builder emptied for the next one. The next batch
    /// starts with the room this one took (up to [`PRESIZE_TEXT`] of text):
    /// a pipeline's batches are alike, and growing by doubling copied each
    /// buffer about once more and mapped fresh memory at every step.
    pub fn take(&mut self) -> FlatBatch {
        self.last_shape = None;
        let next = FlatBatch {
            shapes: Vec::new(),
            objects: Vec::with_capacity(self.batch.objects.len().min(PRESIZE_OBJECTS)),
            cells: Vec::with_capacity(self.batch.cells.len().min(PRESIZE_CELLS)),
            text: Vec::with_capacity(self.batch.text.len().min(PRESIZE_TEXT)),
            values: Vec::new(),
        };
        std::mem::replace(&mut self.batch, next)
    }

    /// Decodes one CLIXML element (a PSRP message's body) as one more
    /// object, refusing input whose values would take more than `limit`
    /// bytes; returns that estimate, as [`super::super::from_bytes_within`]
    /// does for the same input. On error the batch is as before.
    pub fn push_message(&mut self, bytes: &[u8], limit: usize) -> Result<usize> {
        let xml = super::super::strip_bom(super::super::utf8(bytes)?);
        let mark = self.mark();
        let mut decoder = Decoder::new(xml).with_decoded_limit(limit);
        let result = decoder.flat_top(self).and_then(|()| decoder.expect_eof());
        match result {
            Ok(()) if self.too_large => {
                self.undo(&mark);
                Err(Decoder::<'_>::err(0, Kind::DecodedLimit(u32::MAX as usize)))
            }
            Ok(()) => Ok(decoder.decoded),
            Err(e) => {
                self.undo(&mark);
                Err(e)
            }
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            shapes: self.batch.shapes.len(),
            objects: self.batch.objects.len(),
            cells: self.batch.cells.len(),
            text: self.batch.text.len(),
            values: self.batch.values.len(),
        }
    }

    fn undo(&mut self, mark: &Mark) {
        self.batch.shapes.truncate(mark.shapes);
        self.batch.objects.truncate(mark.objects);
        self.batch.cells.truncate(mark.cells);
        self.batch.text.truncate(mark.text);
        self.batch.values.truncate(mark.values);
        self.last_shape = self.last_shape.filter(|i| *i < mark.shapes);
        self.too_large = false;
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

    fn push_text(&mut self, text: &str) -> Span {
        let start = self.batch.text.len();
        self.batch.text.extend_from_slice(text.as_bytes());
        self.span(start, text.len())
    }

    /// One more property of the object being decoded (`adapted` when it
    /// came from `<Props>`).
    pub(super) fn push_property(
        &mut self,
        names: &mut Names,
        name: &str,
        cell: FlatCell,
        adapted: bool,
    ) {
        names.push(name, &self.batch.shapes);
        self.batch.cells.push(cell);
        self.adapted.push(adapted);
    }

    fn push_value(&mut self, value: crate::clixml::Value) -> u32 {
        self.batch.values.push(value);
        self.index(self.batch.values.len() - 1)
    }
}

/// The property names of the object being decoded, compared against the
/// last shape's while they match and copied only once they differ.
pub(super) struct Names {
    candidate: Option<usize>,
    count: usize,
    owned: Option<Vec<String>>,
}

impl Names {
    pub(super) fn push(&mut self, name: &str, shapes: &[FlatShape]) {
        if let Some(owned) = &mut self.owned {
            owned.push(name.to_owned());
        } else {
            let known = self
                .candidate
                .and_then(|i| shapes.get(i))
                .map_or(&[][..], |s| s.property_names.as_slice());
            if known.get(self.count).is_none_or(|n| n != name) {
                let mut owned = known.get(..self.count).unwrap_or_default().to_vec();
                owned.push(name.to_owned());
                self.owned = Some(owned);
            }
        }
        self.count += 1;
    }
}

impl<'a> Decoder<'a> {
    /// The top-level element into `out`.
    fn flat_top(&mut self, out: &mut FlatBuilder) -> Result<()> {
        let first = self.top_level_element()?;
        if first.tag != Tag::Obj {
            // A primitive, a `<Ref>`...: decoded as a value, mapped whole.
            let value = self.value_with_attrs(&first, Tag::Document)?;
            let whole = out.push_value(value);
            let shape = shape_index(out, Arc::from(Vec::new()), Some(Vec::new()), 0);
            let cells = out.span(out.batch.cells.len(), 0);
            out.batch.objects.push(FlatObject {
                shape,
                to_string: None,
                cells,
                primitive: Some(whole),
            });
            return Ok(());
        }
        let ref_id = self.attrs(&first, false)?.ref_id;
        // As `value` does for an object.
        self.depth += 1;
        let result = self
            .spend(VALUE_COST + OBJECT_COST, first.pos)
            .and_then(|()| self.flat_object(&first, ref_id, out));
        self.depth -= 1;
        result
    }

    fn flat_object(
        &mut self,
        c: &Child<'a>,
        ref_id: Option<RefKey>,
        out: &mut FlatBuilder,
    ) -> Result<()> {
        let duplicate = |child: &Child<'a>, element: Tag| {
            Self::err(
                child.pos,
                Kind::Duplicate {
                    element: element.name(),
                    parent: "Obj",
                },
            )
        };
        let mut type_names: Arc<[String]> = Arc::from(Vec::new());
        let mut to_string: Option<Span> = None;
        let (mut has_value, mut has_collection) = (false, false);
        let first_cell = out.batch.cells.len();
        let mut names = Names {
            candidate: out.last_shape,
            count: 0,
            owned: None,
        };
        out.adapted.clear();
        if !c.empty {
            while let Some(child) = self.next_child(Tag::Obj)? {
                match child.tag {
                    Tag::TN => {
                        let id = self.attrs(&child, false)?.ref_id;
                        type_names = self.type_names(&child, id)?;
                    }
                    Tag::TNRef => {
                        let id = self.attrs(&child, false)?.ref_id.ok_or_else(|| {
                            Self::err(
                                child.pos,
                                Kind::MissingAttribute {
                                    element: "TNRef",
                                    attribute: "RefId",
                                },
                            )
                        })?;
                        type_names = match self.type_names.get(&id) {
                            Some(names) => names.clone(),
                            None => {
                                return Err(Self::err(
                                    child.pos,
                                    Kind::UnknownTypeNameRef(id.describe()),
                                ))
                            }
                        };
                        self.expect_no_content(&child)?;
                    }
                    Tag::ToString => {
                        let text = escape::decode(self.leaf_text(&child)?);
                        self.spend(text.len(), child.pos)?;
                        if to_string.is_some() {
                            return Err(duplicate(&child, Tag::ToString));
                        }
                        to_string = Some(out.push_text(&text));
                    }
                    Tag::Props | Tag::MS => {
                        self.flat_properties(&child, out, &mut names)?;
                    }
                    Tag::LST | Tag::IE | Tag::STK | Tag::QUE | Tag::DCT => {
                        // Checked as the value decoder checks it; a row
                        // reads nothing of a top-level object's collection.
                        self.collection(&child)?;
                        if std::mem::replace(&mut has_collection, true) {
                            return Err(duplicate(&child, child.tag));
                        }
                    }
                    _ => {
                        self.value_with_attrs(&child, Tag::Obj)?;
                        if std::mem::replace(&mut has_value, true) {
                            return Err(duplicate(&child, child.tag));
                        }
                    }
                }
            }
        }
        if let Some(id) = ref_id {
            let end = self.pos();
            self.objects.insert(id, c.pos..end);
        }
        // `<MS>` before `<Props>` (no serializer we know writes it): the
        // value decoder lists adapted properties first; so does the batch.
        let ordered = out.adapted.windows(2).all(|w| w[0] || !w[1]);
        if !ordered {
            let known = names
                .owned
                .take()
                .or_else(|| {
                    let shape = out.batch.shapes.get(names.candidate?)?;
                    shape.property_names.get(..names.count).map(<[_]>::to_vec)
                })
                .unwrap_or_default();
            let cells = out.batch.cells.split_off(first_cell);
            let (mut sorted_names, mut sorted_cells) = (Vec::new(), Vec::new());
            for adapted in [true, false] {
                for ((name, cell), kind) in known.iter().zip(&cells).zip(&out.adapted) {
                    if *kind == adapted {
                        sorted_names.push(name.clone());
                        sorted_cells.push(*cell);
                    }
                }
            }
            out.batch.cells.extend(sorted_cells);
            names.owned = Some(sorted_names);
        }
        let count = out.batch.cells.len() - first_cell;
        let shape = shape_index(out, type_names, names_if_new(names, out), count);
        let cells = out.span(first_cell, count);
        out.batch.objects.push(FlatObject {
            shape,
            to_string,
            cells,
            primitive: None,
        });
        Ok(())
    }

    fn flat_properties(
        &mut self,
        c: &Child<'a>,
        out: &mut FlatBuilder,
        names: &mut Names,
    ) -> Result<()> {
        if c.empty {
            return Ok(());
        }
        loop {
            if self.flat_plain_property(c.tag, out, names)? {
                continue;
            }
            let Some(child) = self.next_child(c.tag)? else {
                break;
            };
            let (name, ref_id) = self.flat_attrs(&child)?;
            let cell = self.flat_value(&child, c.tag, ref_id, out)?;
            let name = Self::property_name(name, &child)?;
            self.spend(name.len(), child.pos)?;
            out.push_property(names, &name, cell, c.tag == Tag::Props);
        }
        Ok(())
    }

    /// `N` (borrowed from the input when it holds no escapes) and `RefId`.
    fn flat_attrs(&self, child: &Child<'a>) -> Result<(Option<Cow<'a, str>>, Option<RefKey>)> {
        let (mut name, mut ref_id) = (None, None);
        for attr in child.start.attributes().with_checks(false) {
            let attr = attr.map_err(|e| Self::err(child.pos, Kind::Xml(e.to_string())))?;
            match attr.key.local_name().as_ref() {
                b"N" => {
                    let unescaped = match self.input_str(&attr.value) {
                        Some(raw) => quick_xml::escape::unescape(raw),
                        None => {
                            let raw = std::str::from_utf8(&attr.value)
                                .map_err(|_| Self::err(child.pos, Kind::NotUtf8))?;
                            quick_xml::escape::unescape(raw).map(|c| Cow::Owned(c.into_owned()))
                        }
                    }
                    .map_err(|e| Self::err(child.pos, Kind::Xml(e.to_string())))?;
                    name = Some(escape::decode(unescaped));
                }
                b"RefId" => ref_id = Some(RefKey::parse(&attr.value)),
                _ => {}
            }
        }
        Ok((name, ref_id))
    }

    /// One property's value: the common primitives into the batch, the
    /// rest through the value decoder.
    fn flat_value(
        &mut self,
        c: &Child<'a>,
        parent: Tag,
        ref_id: Option<RefKey>,
        out: &mut FlatBuilder,
    ) -> Result<FlatCell> {
        if !matches!(
            c.tag,
            Tag::S | Tag::DT | Tag::G | Tag::B | Tag::I32 | Tag::I64 | Tag::Nil
        ) {
            let value = self.value(c, parent, ref_id)?;
            return Ok(FlatCell::Value(out.push_value(value)));
        }
        self.leaf_allowed(c.pos)?;
        if c.tag == Tag::Nil {
            self.expect_no_content(c)?;
            return Ok(FlatCell::Null);
        }
        let text = self.leaf_text(c)?;
        self.flat_leaf(c.tag, c.pos, text, out)
    }

    /// What `value` spends and checks for a leaf.
    pub(super) fn leaf_allowed(&mut self, pos: usize) -> Result<()> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(Self::err(pos, Kind::TooDeep(MAX_DEPTH)));
        }
        self.spend(VALUE_COST, pos)
    }

    /// A leaf property (`S`, `DT`, `G`, `B`, `I32` or `I64`, at `pos`) of
    /// text `text` into the batch.
    pub(super) fn flat_leaf(
        &mut self,
        tag: Tag,
        pos: usize,
        text: Cow<'a, str>,
        out: &mut FlatBuilder,
    ) -> Result<FlatCell> {
        Ok(match tag {
            Tag::G => {
                let guid = uuid::Uuid::try_parse(text.trim())
                    .map_err(|_| Self::invalid_at(tag, pos, &text, "GUID"))?;
                let mut buffer = uuid::Uuid::encode_buffer();
                let hyphenated = guid.hyphenated().encode_lower(&mut buffer);
                self.spend(hyphenated.len(), pos)?;
                FlatCell::Guid(out.push_text(hyphenated))
            }
            Tag::B => FlatCell::Boolean(Self::boolean_of(tag, pos, &text)?),
            Tag::I32 => FlatCell::Integer(i64::from(Self::number_of::<i32>(
                tag,
                pos,
                &text,
                "32-bit integer",
            )?)),
            Tag::I64 => FlatCell::Integer(Self::number_of(tag, pos, &text, "64-bit integer")?),
            _ => {
                let text = escape::decode(text);
                self.spend(text.len(), pos)?;
                let span = out.push_text(&text);
                if tag == Tag::DT {
                    FlatCell::DateTime(span)
                } else {
                    FlatCell::Text(span)
                }
            }
        })
    }
}

/// The names to store if the object's shape is not the candidate.
fn names_if_new(names: Names, out: &FlatBuilder) -> Option<Vec<String>> {
    match names.owned {
        Some(owned) => Some(owned),
        None => {
            let shape = names.candidate.and_then(|i| out.batch.shapes.get(i));
            match shape {
                Some(s) if s.property_names.len() == names.count => None,
                Some(s) => Some(
                    s.property_names
                        .get(..names.count)
                        .unwrap_or_default()
                        .to_vec(),
                ),
                None => Some(Vec::new()),
            }
        }
    }
}

/// The index of the shape (`type_names`, and `names` or else the last
/// shape's names), added if new.
fn shape_index(
    out: &mut FlatBuilder,
    type_names: Arc<[String]>,
    names: Option<Vec<String>>,
    count: usize,
) -> u32 {
    let last = out
        .last_shape
        .and_then(|i| out.batch.shapes.get(i).map(|s| (i, s)));
    let names: Cow<'_, [String]> = match (names, last) {
        (Some(names), _) => Cow::Owned(names),
        // The names matched the last shape's all the way.
        (None, Some((_, shape))) => Cow::Borrowed(shape.property_names.as_slice()),
        (None, None) => Cow::Owned(Vec::new()),
    };
    let matches = |shape: &FlatShape| {
        (Arc::ptr_eq(&shape.type_names, &type_names) || *shape.type_names == *type_names)
            && shape.property_names.len() == count
            && *shape.property_names == *names
    };
    let found = match last {
        Some((i, shape)) if matches(shape) => Some(i),
        _ => out.batch.shapes.iter().position(matches),
    };
    let index = match found {
        Some(i) => i,
        None => {
            let property_names = names.into_owned();
            out.batch.shapes.push(FlatShape {
                type_names,
                property_names,
            });
            out.batch.shapes.len() - 1
        }
    };
    out.last_shape = Some(index);
    out.index(index)
}
