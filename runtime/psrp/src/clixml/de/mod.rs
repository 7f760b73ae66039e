//! CLIXML decoding over quick-xml's pull reader: no DOM, text borrowed from
//! the input until a value needs to own it.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::Reader;

mod collections;
mod flat;
mod leaf;
mod plain;
mod refs;

pub use flat::FlatBuilder;

use super::error::{ClixmlError, ClixmlErrorKind as Kind};
use super::escape;
use super::tag::Tag;
use super::value::{PsObject, Value};

/// How deeply values may nest (an object in a list in an object counts
/// three). PowerShell remoting serializes at depth 1 or 2; the bound keeps
/// hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// `<Ref>` re-reads the referenced object's bytes rather than cloning every
/// object just in case, so expansion is budgeted: input that references
/// references (a "billion laughs") stops here.
const REF_BUDGET_FLOOR: usize = 1 << 20;
const REF_BUDGET_PER_INPUT_BYTE: usize = 8;

type Result<T> = std::result::Result<T, ClixmlError>;

/// A `RefId` value. PowerShell numbers them; anything else is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RefKey {
    Number(u64),
    Text(Box<str>),
}

impl RefKey {
    fn parse(raw: &[u8]) -> Self {
        let canonical_number = !raw.is_empty()
            && raw.len() <= 19
            && raw.iter().all(u8::is_ascii_digit)
            && (raw[0] != b'0' || raw.len() == 1);
        let number = canonical_number
            .then(|| std::str::from_utf8(raw).ok()?.parse().ok())
            .flatten();
        match number {
            Some(n) => RefKey::Number(n),
            None => RefKey::Text(String::from_utf8_lossy(raw).into()),
        }
    }

    fn describe(&self) -> String {
        match self {
            RefKey::Number(n) => n.to_string(),
            RefKey::Text(t) => shorten(t),
        }
    }
}

/// An element start as met inside some parent.
struct Child<'a> {
    start: BytesStart<'a>,
    tag: Tag,
    empty: bool,
    /// Offset of its `<` in the whole input.
    pos: usize,
}

#[derive(Default)]
struct Attrs {
    name: Option<String>,
    ref_id: Option<RefKey>,
}

pub(crate) struct Decoder<'a> {
    src: &'a str,
    reader: Reader<&'a [u8]>,
    /// Offset of the reader's slice in `src` (non-zero while re-reading a
    /// referenced object).
    base: usize,
    depth: usize,
    type_names: HashMap<RefKey, Arc<[String]>>,
    /// Where each finished object with a `RefId` lies in `src`.
    objects: HashMap<RefKey, Range<usize>>,
    ref_budget: usize,
    ref_budget_total: usize,
    /// Reusable buffers for `<Props>`/`<MS>`, one per nesting level in use.
    property_buffers: Vec<Vec<(String, Value)>>,
    /// Estimated bytes of the values decoded so far (a `<Ref>` counts its
    /// copy again), and the most allowed: `<Obj/>` takes 6 bytes of input and
    /// about 200 decoded, so the input's size bounds nothing.
    decoded: usize,
    decoded_limit: usize,
}

/// What one value costs beyond its own text: the enum, the slot holding it
/// (a property, a list item) and the allocator's share.
const VALUE_COST: usize = std::mem::size_of::<Value>() + std::mem::size_of::<String>() + 16;
/// An object's own allocation on top of [`VALUE_COST`].
const OBJECT_COST: usize = std::mem::size_of::<PsObject>() + 16;

impl<'a> Decoder<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let budget = src
            .len()
            .saturating_mul(REF_BUDGET_PER_INPUT_BYTE)
            .max(REF_BUDGET_FLOOR);
        Self {
            src,
            reader: Reader::from_str(src),
            base: 0,
            depth: 0,
            type_names: HashMap::new(),
            objects: HashMap::new(),
            ref_budget: budget,
            ref_budget_total: budget,
            property_buffers: Vec::new(),
            decoded: 0,
            decoded_limit: usize::MAX,
        }
    }

    /// Refuses input whose values would take more than `limit` bytes.
    pub(crate) fn with_decoded_limit(mut self, limit: usize) -> Self {
        self.decoded_limit = limit;
        self
    }

    /// Counts `bytes` more of decoded values against the limit.
    fn spend(&mut self, bytes: usize, pos: usize) -> Result<()> {
        self.decoded = self.decoded.saturating_add(bytes);
        if self.decoded > self.decoded_limit {
            return Err(Self::err(pos, Kind::DecodedLimit(self.decoded_limit)));
        }
        Ok(())
    }

    /// Decodes the single top-level value element; also returns the
    /// estimated decoded size.
    pub(crate) fn single_value_sized(mut self) -> Result<(Value, usize)> {
        let first = self.top_level_element()?;
        let value = self.value_with_attrs(&first, Tag::Document)?;
        self.expect_eof()?;
        Ok((value, self.decoded))
    }

    /// Decodes the single top-level value element.
    pub(crate) fn single_value(mut self) -> Result<Value> {
        let first = self.top_level_element()?;
        let value = self.value_with_attrs(&first, Tag::Document)?;
        self.expect_eof()?;
        Ok(value)
    }

    /// Decodes an `<Objs>` document (or a lone value) as one RefId scope.
    pub(crate) fn document(mut self) -> Result<Vec<Value>> {
        let first = self.top_level_element()?;
        let values = if first.tag == Tag::Objs {
            let mut values = Vec::new();
            if !first.empty {
                while let Some(child) = self.next_child(Tag::Objs)? {
                    values.push(self.value_with_attrs(&child, Tag::Objs)?);
                }
            }
            values
        } else {
            vec![self.value_with_attrs(&first, Tag::Document)?]
        };
        self.expect_eof()?;
        Ok(values)
    }

    /// The input text behind bytes that an event borrowed from it, found
    /// again in `src` so that UTF-8 is not validated a second time. `None`
    /// when the bytes live elsewhere (an owned copy).
    fn input_str(&self, bytes: &[u8]) -> Option<&'a str> {
        // Two live allocations never overlap, so an address inside `src`
        // means the bytes are part of `src`.
        let start = (bytes.as_ptr() as usize).checked_sub(self.src.as_ptr() as usize)?;
        let end = start.checked_add(bytes.len())?;
        if end > self.src.len() {
            return None;
        }
        self.src.get(start..end)
    }

    fn offset(&self, reader_pos: u64) -> usize {
        self.base
            .saturating_add(usize::try_from(reader_pos).unwrap_or(usize::MAX))
    }

    fn pos(&self) -> usize {
        self.offset(self.reader.buffer_position())
    }

    fn err(pos: usize, kind: Kind) -> ClixmlError {
        ClixmlError::new(pos, kind)
    }

    /// `c` is no element `parent` may hold.
    fn unknown_element(c: &Child<'_>, parent: &'static str) -> ClixmlError {
        Self::err(
            c.pos,
            Kind::UnknownElement {
                element: shorten(&String::from_utf8_lossy(c.start.name().as_ref())),
                parent,
            },
        )
    }

    /// A property's `N`, which every child of `<Props>` and `<MS>` must
    /// have; both decoders refuse a child without one alike.
    fn property_name<N>(name: Option<N>, child: &Child<'_>) -> Result<N> {
        name.ok_or_else(|| {
            Self::err(
                child.pos,
                Kind::MissingAttribute {
                    element: child.tag.name(),
                    attribute: "N",
                },
            )
        })
    }

    fn next(&mut self) -> Result<(Event<'a>, usize)> {
        let pos = self.pos();
        match self.reader.read_event() {
            Ok(event) => Ok((event, pos)),
            Err(e) => Err(self.xml_error(&e)),
        }
    }

    fn xml_error(&self, error: &quick_xml::Error) -> ClixmlError {
        Self::err(
            self.offset(self.reader.error_position()),
            Kind::Xml(error.to_string()),
        )
    }

    fn child(start: BytesStart<'a>, empty: bool, pos: usize) -> Child<'a> {
        let tag = Tag::of(start.local_name().as_ref());
        Child {
            start,
            tag,
            empty,
            pos,
        }
    }

    fn top_level_element(&mut self) -> Result<Child<'a>> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Start(e) => return Ok(Self::child(e, false, pos)),
                Event::Empty(e) => return Ok(Self::child(e, true, pos)),
                Event::Eof => return Err(Self::err(pos, Kind::Empty)),
                Event::Decl(_) | Event::DocType(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                other => return Err(Self::unexpected(&other, Tag::Document, pos)),
            }
        }
    }

    fn expect_eof(&mut self) -> Result<()> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                _ => return Err(Self::err(pos, Kind::TrailingContent)),
            }
        }
    }

    fn unexpected(event: &Event<'_>, parent: Tag, pos: usize) -> ClixmlError {
        let found = match event {
            Event::Start(_) | Event::Empty(_) => "an element",
            Event::End(_) => "an end tag",
            Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => "text",
            Event::Decl(_) => "an XML declaration",
            Event::DocType(_) => "a DOCTYPE",
            Event::Comment(_) | Event::PI(_) => "markup",
            Event::Eof => return Self::err(pos, Kind::UnexpectedEof(parent.name())),
        };
        Self::err(
            pos,
            Kind::Unexpected {
                found,
                parent: parent.name(),
            },
        )
    }

    /// The next child element of `parent`, or `None` at its end tag.
    fn next_child(&mut self, parent: Tag) -> Result<Option<Child<'a>>> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Start(e) => return Ok(Some(Self::child(e, false, pos))),
                Event::Empty(e) => return Ok(Some(Self::child(e, true, pos))),
                Event::End(_) => return Ok(None),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                other => return Err(Self::unexpected(&other, parent, pos)),
            }
        }
    }

    fn attrs(&self, child: &Child<'a>, want_name: bool) -> Result<Attrs> {
        let mut attrs = Attrs::default();
        // Duplicate checks cost an allocation per element; a repeated
        // attribute is harmless here (the last one wins).
        for attr in child.start.attributes().with_checks(false) {
            let attr = attr.map_err(|e| Self::err(child.pos, Kind::Xml(e.to_string())))?;
            match attr.key.local_name().as_ref() {
                b"N" if want_name => {
                    let raw = match self.input_str(&attr.value) {
                        Some(raw) => raw,
                        None => std::str::from_utf8(&attr.value)
                            .map_err(|_| Self::err(child.pos, Kind::NotUtf8))?,
                    };
                    let unescaped = quick_xml::escape::unescape(raw)
                        .map_err(|e| Self::err(child.pos, Kind::Xml(e.to_string())))?;
                    attrs.name = Some(escape::decode(unescaped).into_owned());
                }
                b"RefId" => attrs.ref_id = Some(RefKey::parse(&attr.value)),
                _ => {}
            }
        }
        Ok(attrs)
    }

    fn value_with_attrs(&mut self, child: &Child<'a>, parent: Tag) -> Result<Value> {
        let ref_id = if matches!(child.tag, Tag::Obj | Tag::Ref) {
            self.attrs(child, false)?.ref_id
        } else {
            None
        };
        self.value(child, parent, ref_id)
    }

    fn value(&mut self, child: &Child<'a>, parent: Tag, ref_id: Option<RefKey>) -> Result<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Self::err(child.pos, Kind::TooDeep(MAX_DEPTH)));
        }
        let cost = match child.tag {
            Tag::Obj | Tag::Ref => VALUE_COST + OBJECT_COST,
            _ => VALUE_COST,
        };
        self.spend(cost, child.pos)?;
        let value = self.value_at_depth(child, parent, ref_id);
        self.depth -= 1;
        let value = value?;
        self.spend(heap_size(&value), child.pos)?;
        Ok(value)
    }

    fn value_at_depth(
        &mut self,
        c: &Child<'a>,
        parent: Tag,
        ref_id: Option<RefKey>,
    ) -> Result<Value> {
        Ok(match c.tag {
            Tag::Nil => {
                self.expect_no_content(c)?;
                Value::Nil
            }
            Tag::S => Value::String(self.string(c)?),
            Tag::C => Value::Char(self.number(c, "UTF-16 code unit (0 to 65535)")?),
            Tag::B => Value::Bool(self.boolean(c)?),
            Tag::DT => Value::DateTime(self.string(c)?),
            Tag::TS => Value::Duration(self.string(c)?),
            Tag::By => Value::U8(self.number(c, "byte (0 to 255)")?),
            Tag::SB => Value::I8(self.number(c, "signed byte (-128 to 127)")?),
            Tag::U16 => Value::U16(self.number(c, "16-bit unsigned integer")?),
            Tag::I16 => Value::I16(self.number(c, "16-bit integer")?),
            Tag::U32 => Value::U32(self.number(c, "32-bit unsigned integer")?),
            Tag::I32 => Value::I32(self.number(c, "32-bit integer")?),
            Tag::U64 => Value::U64(self.number(c, "64-bit unsigned integer")?),
            Tag::I64 => Value::I64(self.number(c, "64-bit integer")?),
            Tag::Sg => Value::Single(self.number(c, "single-precision float")?),
            Tag::Db => Value::Double(self.number(c, "double-precision float")?),
            Tag::D => Value::Decimal(self.string(c)?),
            Tag::BA => Value::Bytes(self.bytes(c)?),
            Tag::G => Value::Guid(self.guid(c)?),
            Tag::URI => Value::Uri(self.string(c)?),
            Tag::Version => Value::Version(self.string(c)?),
            Tag::XD => Value::XmlDocument(self.string(c)?),
            Tag::SBK => Value::ScriptBlock(self.string(c)?),
            Tag::Obj => self.object(c, ref_id)?,
            Tag::Ref => self.reference(c, ref_id)?,
            // Never read the content: it is a secret.
            Tag::SS => return Err(Self::err(c.pos, Kind::SecureString)),
            Tag::Objs => return Err(Self::err(c.pos, Kind::DocumentWrapper)),
            _ => return Err(Self::unknown_element(c, parent.name())),
        })
    }

    fn object(&mut self, c: &Child<'a>, ref_id: Option<RefKey>) -> Result<Value> {
        let mut obj = PsObject::default();
        if !c.empty {
            while let Some(child) = self.next_child(Tag::Obj)? {
                self.object_part(&mut obj, &child)?;
            }
        }
        if let Some(id) = ref_id {
            let end = self.pos();
            self.objects.insert(id, c.pos..end);
        }
        Ok(Value::Object(Box::new(obj)))
    }

    fn object_part(&mut self, obj: &mut PsObject, child: &Child<'a>) -> Result<()> {
        let duplicate = |element: Tag| {
            Self::err(
                child.pos,
                Kind::Duplicate {
                    element: element.name(),
                    parent: "Obj",
                },
            )
        };
        match child.tag {
            Tag::TN => {
                let ref_id = self.attrs(child, false)?.ref_id;
                obj.type_names = self.type_names(child, ref_id)?;
            }
            Tag::TNRef => {
                let id = self.attrs(child, false)?.ref_id.ok_or_else(|| {
                    Self::err(
                        child.pos,
                        Kind::MissingAttribute {
                            element: "TNRef",
                            attribute: "RefId",
                        },
                    )
                })?;
                obj.type_names = match self.type_names.get(&id) {
                    Some(names) => names.clone(),
                    None => {
                        return Err(Self::err(
                            child.pos,
                            Kind::UnknownTypeNameRef(id.describe()),
                        ))
                    }
                };
                self.expect_no_content(child)?;
            }
            Tag::ToString => {
                let text = self.string(child)?;
                self.spend(text.len(), child.pos)?;
                if obj.to_string.replace(text).is_some() {
                    return Err(duplicate(Tag::ToString));
                }
            }
            Tag::Props => self.properties(child, &mut obj.adapted)?,
            Tag::MS => self.properties(child, &mut obj.extended)?,
            Tag::LST | Tag::IE | Tag::STK | Tag::QUE | Tag::DCT => {
                let collection = self.collection(child)?;
                if obj.collection.replace(collection).is_some() {
                    return Err(duplicate(child.tag));
                }
            }
            _ => {
                let value = self.value_with_attrs(child, Tag::Obj)?;
                if obj.value.replace(value).is_some() {
                    return Err(duplicate(child.tag));
                }
            }
        }
        Ok(())
    }

    fn properties(&mut self, c: &Child<'a>, into: &mut Vec<(String, Value)>) -> Result<()> {
        if c.empty {
            return Ok(());
        }
        // Filling a reused vector and copying it once beats growing a new
        // one through a dozen reallocations for a 180-property object.
        let mut scratch = self.property_buffers.pop().unwrap_or_default();
        while let Some(child) = self.next_child(c.tag)? {
            let attrs = self.attrs(&child, true)?;
            let value = self.value(&child, c.tag, attrs.ref_id)?;
            let name = Self::property_name(attrs.name, &child)?;
            self.spend(name.len(), child.pos)?;
            scratch.push((name, value));
        }
        into.append(&mut scratch);
        self.property_buffers.push(scratch);
        Ok(())
    }
}

/// The text a leaf value owns (objects and collections are counted as
/// their parts are decoded).
fn heap_size(value: &Value) -> usize {
    match value {
        Value::String(s)
        | Value::DateTime(s)
        | Value::Duration(s)
        | Value::Decimal(s)
        | Value::Guid(s)
        | Value::Uri(s)
        | Value::Version(s)
        | Value::XmlDocument(s)
        | Value::ScriptBlock(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

fn is_blank(text: &BytesText<'_>) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

/// Input echoed in an error stays short.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
