//! Plain leaf properties read straight from the input, past the XML reader:
//! Exchange writes nearly every property as `<S N="name">text</S>` (the
//! captured Exchange 2016 mailbox, shared/vectors/exchange, has 117 `S`, 51
//! `<Nil N=".." />`, 50 `B`), and the reader's three events per property
//! (start tag, text, end tag) were a third of an export's CPU. Only speed
//! rests on that shape. Anything not written that plain way is left
//! to the reader, and the result is the same either way
//! (tests/clixml_proptest.rs holds the flat decoder to the value decoder).

use std::borrow::Cow;

use super::flat::Names;
use super::{Decoder, Result};
use crate::clixml::escape;
use crate::clixml::flat::FlatCell;
use crate::clixml::tag::Tag;
use crate::clixml::value::Value;
use crate::clixml::FlatBuilder;

impl<'a> Decoder<'a> {
    /// Reads the next property straight from the input when it is a plain
    /// leaf (see [`plain_leaf`]), as `flat_properties` would through the
    /// reader: the same checks, budget, errors and batch. Returns whether
    /// it read one. Exchange writes nearly every property this way, and the
    /// reader's three events per property were a third of an export's CPU.
    pub(super) fn flat_plain_property(
        &mut self,
        parent: Tag,
        out: &mut FlatBuilder,
        names: &mut Names,
    ) -> Result<bool> {
        let Some(rest) = self.input_between_elements() else {
            return Ok(false);
        };
        let pos = self.pos();
        let Some(leaf) = plain_leaf(rest) else {
            return Ok(false);
        };
        let (Some(name), Some(text)) = (self.input_str(leaf.name), self.input_str(leaf.text))
        else {
            return Ok(false);
        };
        self.leaf_allowed(pos)?;
        let cell = match leaf.tag {
            Tag::Nil => FlatCell::Null,
            tag => self.flat_leaf(tag, pos, Cow::Borrowed(text), out)?,
        };
        let name = escape::decode(Cow::Borrowed(name));
        self.spend(name.len(), pos)?;
        out.push_property(names, &name, cell, parent == Tag::Props);
        self.skip_input(rest, leaf.len);
        Ok(true)
    }

    /// Reads the next item of a collection straight from the input when it
    /// is `<S>text</S>` with nothing to unescape, as `value` would read it
    /// (Exchange's multi-valued properties, such as EmailAddresses, are
    /// lists of them).
    pub(super) fn plain_string_item(&mut self) -> Result<Option<Value>> {
        let Some(rest) = self.input_between_elements() else {
            return Ok(None);
        };
        let Some((text, len)) = plain_item(rest) else {
            return Ok(None);
        };
        let Some(text) = self.input_str(text) else {
            return Ok(None);
        };
        let pos = self.pos();
        self.leaf_allowed(pos)?;
        let text = escape::decode(Cow::Borrowed(text)).into_owned();
        self.spend(text.len(), pos)?;
        self.skip_input(rest, len);
        Ok(Some(Value::String(text)))
    }

    /// The input from where the reader stands, if it stands between
    /// elements: its position is then where its input resumes (after a
    /// text event it has already read the next `<`).
    fn input_between_elements(&self) -> Option<&'a [u8]> {
        let rest: &'a [u8] = self.reader.get_ref();
        let resumes = (rest.as_ptr() as usize).checked_sub(self.src.as_ptr() as usize)?;
        (resumes == self.pos()).then_some(rest)
    }

    /// Moves the reader past `len` bytes of `rest` (its input), read here
    /// instead; its position moves with them.
    fn skip_input(&mut self, rest: &'a [u8], len: usize) {
        *self.reader.get_mut() = rest.get(len..).unwrap_or_default();
        self.base += len;
    }
}

/// `<S>text</S>`, text with no `<`, `&` or carriage return: the text and
/// the element's length.
fn plain_item(input: &[u8]) -> Option<(&[u8], usize)> {
    let body = input.strip_prefix(b"<S>")?;
    let text_len = memchr::memchr3(b'<', b'&', b'\r', body)?;
    if body.get(text_len..text_len + 4)? != b"</S>" {
        return None;
    }
    Some((&body[..text_len], 3 + text_len + 4))
}

/// A property written the plain way: `<S N="name">text</S>` (or `DT`, `G`,
/// `B`, `I32`, `I64`) or `<Nil N="name" />`, with no prefix, no other
/// attribute, no space the reader would skip, no escape or entity to
/// resolve and no line end to normalize. Anything else is for the reader.
struct PlainLeaf<'s> {
    tag: Tag,
    name: &'s [u8],
    text: &'s [u8],
    /// Bytes from `<` to the end of the element.
    len: usize,
}

fn plain_leaf(input: &[u8]) -> Option<PlainLeaf<'_>> {
    let (tag, open): (Tag, &[u8]) = match input.get(..5)? {
        [b'<', b'S', b' ', ..] => (Tag::S, b"S"),
        [b'<', b'B', b' ', ..] => (Tag::B, b"B"),
        [b'<', b'G', b' ', ..] => (Tag::G, b"G"),
        [b'<', b'D', b'T', b' ', _] => (Tag::DT, b"DT"),
        [b'<', b'N', b'i', b'l', b' '] => (Tag::Nil, b"Nil"),
        [b'<', b'I', b'3', b'2', b' '] => (Tag::I32, b"I32"),
        [b'<', b'I', b'6', b'4', b' '] => (Tag::I64, b"I64"),
        _ => return None,
    };
    let at = 2 + open.len();
    let after_name = input.get(at..)?.strip_prefix(b"N=\"")?;
    let name_len = memchr::memchr(b'"', after_name)?;
    let name = &after_name[..name_len];
    if memchr::memchr3(b'&', b'<', b'>', name).is_some() {
        return None;
    }
    let after = &after_name[name_len + 1..];
    let name_end = input.len() - after.len();
    if tag == Tag::Nil {
        let closing = if after.starts_with(b" />") {
            3
        } else if after.starts_with(b"/>") {
            2
        } else {
            return None;
        };
        return Some(PlainLeaf {
            tag,
            name,
            text: &after[..0],
            len: name_end + closing,
        });
    }
    let body = after.strip_prefix(b">")?;
    let text_len = memchr::memchr3(b'<', b'&', b'\r', body)?;
    if body[text_len] != b'<' {
        return None;
    }
    let end = &body[text_len..];
    let close_len = 3 + open.len();
    if end.get(..2)? != b"</"
        || end.get(2..2 + open.len())? != open
        || end.get(2 + open.len())? != &b'>'
    {
        return None;
    }
    Some(PlainLeaf {
        tag,
        name,
        text: &body[..text_len],
        len: input.len() - end.len() + close_len,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(input: &str) -> Option<(Tag, &str, &str, usize)> {
        plain_leaf(input.as_bytes()).map(|l| {
            let text = std::str::from_utf8(l.text).unwrap();
            (l.tag, std::str::from_utf8(l.name).unwrap(), text, l.len)
        })
    }

    #[test]
    fn the_plain_forms_are_read_with_their_length() {
        let cases = [
            ("<S N=\"Alias\">jdoe</S><B", (Tag::S, "Alias", "jdoe", 21)),
            ("<S N=\"Empty\"></S>", (Tag::S, "Empty", "", 17)),
            (
                "<DT N=\"W\">2024-01-01T00:00:00Z</DT>",
                (Tag::DT, "W", "2024-01-01T00:00:00Z", 35),
            ),
            (
                "<B N=\"X_x0020_Y\">true</B>",
                (Tag::B, "X_x0020_Y", "true", 25),
            ),
            ("<I32 N=\"n\"> 5 </I32>", (Tag::I32, "n", " 5 ", 20)),
            ("<I64 N=\"n\">-5</I64>", (Tag::I64, "n", "-5", 19)),
            ("<G N=\"g\">x</G>", (Tag::G, "g", "x", 14)),
            (
                "<Nil N=\"MailboxRegion\" />",
                (Tag::Nil, "MailboxRegion", "", 25),
            ),
            ("<Nil N=\"a\"/><S", (Tag::Nil, "a", "", 12)),
            ("<S N=\"a\">x > y</S>", (Tag::S, "a", "x > y", 18)),
        ];
        for (input, want) in cases {
            assert_eq!(read(input), Some(want), "{input}");
        }
    }

    /// Everything the reader must see for itself.
    #[test]
    fn anything_less_plain_is_left_to_the_reader() {
        for input in [
            "<S N=\"a\">x&amp;y</S>",
            "<S N=\"a\">x\r\ny</S>",
            "<S N=\"a&amp;\">x</S>",
            "<S N=\"a\" RefId=\"1\">x</S>",
            "<S  N=\"a\">x</S>",
            "<S N='a'>x</S>",
            "<S N=\"a\">x</S >",
            "<S N=\"a\">x</DT>",
            "<S N=\"a\">x<!-- c --></S>",
            "<S N=\"a\"><![CDATA[x]]></S>",
            "<S N=\"a\" />",
            "<ps:S N=\"a\">x</ps:S>",
            "<Nil N=\"a\"></Nil>",
            "<Nil N=\"a\" >",
            "<Obj N=\"a\" RefId=\"1\" />",
            "<SS N=\"a\">secret</SS>",
            "<S N=\"a<\">x</S>",
            "<S N=\"a\">x",
            "<S N=\"a",
            "<S",
            " <S N=\"a\">x</S>",
        ] {
            assert_eq!(read(input), None, "{input}");
        }
    }
}
