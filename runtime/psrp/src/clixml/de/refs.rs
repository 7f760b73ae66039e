//! What a document refers back to: `<TN>`/`<TNRef>` type-name lists and
//! `<Ref>` objects. Both re-read a span of the input with a second reader.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{is_blank, Child, Decoder, RefKey, Result};
use crate::clixml::error::ClixmlErrorKind as Kind;
use crate::clixml::tag::Tag;
use crate::clixml::value::Value;

/// Bodies longer than this are parsed every time rather than cached.
const CACHE_MAX_BODY: usize = 4 * 1024;
/// The cache is emptied once its bodies reach this size, as they come from
/// the server.
const CACHE_MAX_BYTES: usize = 256 * 1024;

thread_local! {
    static TYPE_NAME_CACHE: RefCell<TypeNameCache> = RefCell::new(TypeNameCache::default());
}

/// Type-name lists recently decoded on this thread, by the exact text of
/// their `<TN>` body. Every mailbox of an export repeats the same lists in
/// its own message; sharing one `Arc` skips parsing and allocating them
/// again, and keeps the batches the client holds small.
#[derive(Default)]
struct TypeNameCache {
    lists: HashMap<Box<str>, Arc<[String]>>,
    bytes: usize,
}

impl TypeNameCache {
    fn lookup(body: &str) -> Option<Arc<[String]>> {
        TYPE_NAME_CACHE
            .try_with(|cache| cache.try_borrow().ok()?.lists.get(body).cloned())
            .ok()
            .flatten()
    }

    fn remember(body: &str, names: &Arc<[String]>) {
        if body.len() > CACHE_MAX_BODY {
            return;
        }
        let _ = TYPE_NAME_CACHE.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                if cache.bytes + body.len() > CACHE_MAX_BYTES {
                    cache.lists.clear();
                    cache.bytes = 0;
                }
                cache.bytes += body.len();
                cache.lists.insert(body.into(), names.clone());
            }
        });
    }
}

impl<'a> Decoder<'a> {
    /// Reads `<TN>`, registering the list under its `RefId`.
    pub(super) fn type_names(
        &mut self,
        c: &Child<'a>,
        ref_id: Option<RefKey>,
    ) -> Result<Arc<[String]>> {
        let names = if c.empty {
            Arc::from(Vec::new())
        } else {
            let span = self
                .reader
                .read_to_end(c.start.name())
                .map_err(|e| self.xml_error(&e))?;
            let start = self.offset(span.start);
            let end = self.offset(span.end);
            let Some(body) = self.src.get(start..end) else {
                return Err(Self::err(c.pos, Kind::UnexpectedEof("TN")));
            };
            match TypeNameCache::lookup(body) {
                Some(names) => names,
                None => {
                    let outer = self.enter(body, start);
                    let names = self.type_name_items();
                    self.leave(outer);
                    let names = names?;
                    TypeNameCache::remember(body, &names);
                    names
                }
            }
        };
        if let Some(id) = ref_id {
            self.type_names.insert(id, names.clone());
        }
        Ok(names)
    }

    /// The `<T>` elements of a `<TN>` body, read up to its end.
    fn type_name_items(&mut self) -> Result<Arc<[String]>> {
        let mut names = Vec::new();
        loop {
            let (event, pos) = self.next()?;
            let child = match event {
                Event::Start(e) => Self::child(e, false, pos),
                Event::Empty(e) => Self::child(e, true, pos),
                Event::Eof => return Ok(names.into()),
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Text(t) if is_blank(&t) => continue,
                other => return Err(Self::unexpected(&other, Tag::TN, pos)),
            };
            if child.tag != Tag::T {
                return Err(Self::unknown_element(&child, "TN"));
            }
            names.push(self.string(&child)?);
        }
    }

    /// `<Ref RefId="n"/>`: a copy of the earlier object, decoded again from
    /// its bytes.
    pub(super) fn reference(&mut self, c: &Child<'a>, ref_id: Option<RefKey>) -> Result<Value> {
        let id = ref_id.ok_or_else(|| {
            Self::err(
                c.pos,
                Kind::MissingAttribute {
                    element: "Ref",
                    attribute: "RefId",
                },
            )
        })?;
        self.expect_no_content(c)?;
        let Some(span) = self.objects.get(&id).cloned() else {
            return Err(Self::err(c.pos, Kind::UnknownRef(id.describe())));
        };
        self.ref_budget = self
            .ref_budget
            .checked_sub(span.len())
            .ok_or_else(|| Self::err(c.pos, Kind::RefExpansionLimit(self.ref_budget_total)))?;
        let Some(object_xml) = self.src.get(span.clone()) else {
            return Err(Self::err(c.pos, Kind::UnknownRef(id.describe())));
        };
        let outer = self.enter(object_xml, span.start);
        let copy = self.reread_object(c.pos);
        self.leave(outer);
        copy
    }

    fn reread_object(&mut self, ref_pos: usize) -> Result<Value> {
        let (event, pos) = self.next()?;
        let child = match event {
            Event::Start(e) => Self::child(e, false, pos),
            Event::Empty(e) => Self::child(e, true, pos),
            other => return Err(Self::unexpected(&other, Tag::Ref, ref_pos)),
        };
        let ref_id = self.attrs(&child, false)?.ref_id;
        self.object(&child, ref_id)
    }

    /// Switches to reading `text`, which starts at offset `at` of the input;
    /// returns what [`Self::leave`] needs to switch back.
    fn enter(&mut self, text: &'a str, at: usize) -> (Reader<&'a [u8]>, usize) {
        (
            std::mem::replace(&mut self.reader, Reader::from_str(text)),
            std::mem::replace(&mut self.base, at),
        )
    }

    fn leave(&mut self, (reader, base): (Reader<&'a [u8]>, usize)) {
        self.reader = reader;
        self.base = base;
    }
}
