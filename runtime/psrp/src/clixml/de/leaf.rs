//! Leaf elements: text content and the primitives parsed from it.

use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine as _;
use quick_xml::events::Event;

use super::{is_blank, shorten, Child, Decoder, Result};
use crate::clixml::error::{ClixmlError, ClixmlErrorKind as Kind};
use crate::clixml::escape;
use crate::clixml::tag::Tag;

impl<'a> Decoder<'a> {
    pub(super) fn expect_no_content(&mut self, c: &Child<'a>) -> Result<()> {
        if c.empty {
            return Ok(());
        }
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::End(_) => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if is_blank(&t) => {}
                other => return Err(Self::unexpected(&other, c.tag, pos)),
            }
        }
    }

    /// The text of a leaf element, entities resolved, `_xHHHH_` untouched.
    pub(super) fn leaf_text(&mut self, c: &Child<'a>) -> Result<Cow<'a, str>> {
        let mut text: Option<Cow<'a, str>> = None;
        if c.empty {
            return Ok(Cow::Borrowed(""));
        }
        loop {
            let (event, pos) = self.next()?;
            let piece: Cow<'a, str> = match event {
                Event::End(_) => return Ok(text.unwrap_or(Cow::Borrowed(""))),
                Event::Text(t) => match self.input_str(&t) {
                    Some(raw) if memchr::memchr(b'\r', raw.as_bytes()).is_none() => {
                        Cow::Borrowed(raw)
                    }
                    // Line ends need XML normalization.
                    _ => t
                        .xml10_content()
                        .map_err(|e| Self::err(pos, Kind::Xml(e.to_string())))?,
                },
                Event::CData(t) => t
                    .decode()
                    .map_err(|e| Self::err(pos, Kind::Xml(e.to_string())))?,
                Event::GeneralRef(r) => {
                    let resolved = r
                        .resolve_char_ref()
                        .map_err(|e| Self::err(pos, Kind::Xml(e.to_string())))?;
                    match resolved {
                        Some(ch) => Cow::Owned(ch.to_string()),
                        None => {
                            let name = String::from_utf8_lossy(&r);
                            match quick_xml::escape::resolve_predefined_entity(&name) {
                                Some(s) => Cow::Borrowed(s),
                                None => {
                                    return Err(Self::err(pos, Kind::UnknownEntity(shorten(&name))))
                                }
                            }
                        }
                    }
                }
                Event::Comment(_) | Event::PI(_) => continue,
                other => return Err(Self::unexpected(&other, c.tag, pos)),
            };
            match &mut text {
                None => text = Some(piece),
                Some(acc) => acc.to_mut().push_str(&piece),
            }
        }
    }

    pub(super) fn string(&mut self, c: &Child<'a>) -> Result<String> {
        let text = self.leaf_text(c)?;
        Ok(escape::decode(text).into_owned())
    }

    pub(super) fn invalid(c: &Child<'a>, text: &str, expected: &'static str) -> ClixmlError {
        Self::invalid_at(c.tag, c.pos, text, expected)
    }

    pub(super) fn invalid_at(
        tag: Tag,
        pos: usize,
        text: &str,
        expected: &'static str,
    ) -> ClixmlError {
        Self::err(
            pos,
            Kind::InvalidValue {
                element: tag.name(),
                text: shorten(text),
                expected,
            },
        )
    }

    pub(super) fn number<T: FromStr>(
        &mut self,
        c: &Child<'a>,
        expected: &'static str,
    ) -> Result<T> {
        let text = self.leaf_text(c)?;
        Self::number_of(c.tag, c.pos, &text, expected)
    }

    /// A leaf's text as a number (the element `tag` at `pos`, for the error).
    pub(super) fn number_of<T: FromStr>(
        tag: Tag,
        pos: usize,
        text: &str,
        expected: &'static str,
    ) -> Result<T> {
        text.trim()
            .parse()
            .map_err(|_| Self::invalid_at(tag, pos, text, expected))
    }

    pub(super) fn boolean(&mut self, c: &Child<'a>) -> Result<bool> {
        let text = self.leaf_text(c)?;
        Self::boolean_of(c.tag, c.pos, &text)
    }

    pub(super) fn boolean_of(tag: Tag, pos: usize, text: &str) -> Result<bool> {
        match text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Self::invalid_at(tag, pos, text, "boolean (true or false)")),
        }
    }

    pub(super) fn guid(&mut self, c: &Child<'a>) -> Result<String> {
        let text = self.leaf_text(c)?;
        uuid::Uuid::try_parse(text.trim())
            .map(|g| g.hyphenated().to_string())
            .map_err(|_| Self::invalid(c, &text, "GUID"))
    }

    pub(super) fn bytes(&mut self, c: &Child<'a>) -> Result<Vec<u8>> {
        let text = self.leaf_text(c)?;
        let engine = base64::engine::general_purpose::STANDARD;
        engine
            .decode(text.trim())
            .or_else(|_| {
                // Some writers wrap long base64 lines.
                let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                engine.decode(compact)
            })
            .map_err(|_| Self::invalid(c, &text, "base64 byte array"))
    }
}
