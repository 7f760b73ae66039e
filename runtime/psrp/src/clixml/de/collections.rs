//! Collections: `<LST>`, `<IE>`, `<STK>`, `<QUE>` and `<DCT>`.

use super::{Child, Decoder, Result};
use crate::clixml::error::ClixmlErrorKind as Kind;
use crate::clixml::tag::Tag;
use crate::clixml::value::{Collection, CollectionKind, Value};

impl<'a> Decoder<'a> {
    pub(super) fn collection(&mut self, c: &Child<'a>) -> Result<Collection> {
        let kind = match c.tag {
            Tag::LST => CollectionKind::List,
            Tag::IE => CollectionKind::Enumerable,
            Tag::STK => CollectionKind::Stack,
            Tag::QUE => CollectionKind::Queue,
            _ => return self.dictionary(c).map(Collection::Dictionary),
        };
        let mut items = Vec::new();
        if !c.empty {
            loop {
                if let Some(item) = self.plain_string_item()? {
                    items.push(item);
                    continue;
                }
                let Some(child) = self.next_child(c.tag)? else {
                    break;
                };
                items.push(self.value_with_attrs(&child, c.tag)?);
            }
        }
        Ok(Collection::List(kind, items))
    }

    fn dictionary(&mut self, c: &Child<'a>) -> Result<Vec<(Value, Value)>> {
        let mut entries = Vec::new();
        if c.empty {
            return Ok(entries);
        }
        while let Some(entry) = self.next_child(Tag::DCT)? {
            if entry.tag != Tag::En {
                return Err(Self::unknown_element(&entry, "DCT"));
            }
            let (mut key, mut value) = (None, None);
            if !entry.empty {
                while let Some(part) = self.next_child(Tag::En)? {
                    let attrs = self.attrs(&part, true)?;
                    let decoded = self.value(&part, Tag::En, attrs.ref_id)?;
                    let slot = match attrs.name.as_deref() {
                        Some("Key") => &mut key,
                        Some("Value") => &mut value,
                        _ => {
                            return Err(Self::err(
                                part.pos,
                                Kind::MissingAttribute {
                                    element: part.tag.name(),
                                    attribute: "N=\"Key\" or N=\"Value\"",
                                },
                            ))
                        }
                    };
                    if slot.replace(decoded).is_some() {
                        return Err(Self::err(
                            part.pos,
                            Kind::Duplicate {
                                element: part.tag.name(),
                                parent: "En",
                            },
                        ));
                    }
                }
            }
            let key = key.ok_or_else(|| Self::err(entry.pos, Kind::MissingEntryPart("Key")))?;
            let value =
                value.ok_or_else(|| Self::err(entry.pos, Kind::MissingEntryPart("Value")))?;
            entries.push((key, value));
        }
        Ok(entries)
    }
}
