//! A small namespace-resolved element tree for SOAP envelopes. Envelopes are
//! bounded by MaxEnvelopeSize, so a tree is cheap; prefixes differ between
//! peers (`s:`/`env:`, `w:`/`wsman:`), so everything matches on namespace URI.
//!
//! The envelope comes from an untrusted server: each namespace URI is kept
//! once and shared by the elements in it (a 256 KiB namespace over 40,000
//! elements would otherwise be 10 GB of copies), and the elements and
//! attributes of one document are counted.

use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Nesting deeper than any SOAP envelope we handle means hostile input.
const MAX_DEPTH: usize = 64;
/// Elements plus attributes in one document. A Receive response holds a few
/// dozen (one `rsp:Stream` per chunk of PSRP data); 8 MB of `<x/>` would be
/// two million elements, about 400 MiB as a tree.
pub const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SOAP XML: {0}")]
pub struct XmlError(pub String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Shared by every element of the document in this namespace.
    pub namespace: Arc<str>,
    pub name: String,
    /// Attributes by local name (SOAP attributes we read are unqualified or
    /// unambiguous by local name).
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.name == name && &*self.namespace == namespace
    }

    pub fn child(&self, namespace: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(namespace, name))
    }

    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(namespace, name))
    }

    pub fn path(&self, path: &[(&str, &str)]) -> Option<&Element> {
        path.iter()
            .try_fold(self, |element, (ns, name)| element.child(ns, name))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }

    /// Text of this element and all its descendants, in document order.
    pub fn deep_text(&self) -> String {
        let mut out = self.text.clone();
        for child in &self.children {
            out.push_str(&child.deep_text());
        }
        out
    }

    /// First descendant (depth-first) with this name.
    pub fn descendant(&self, namespace: &str, name: &str) -> Option<&Element> {
        for child in &self.children {
            if child.is(namespace, name) {
                return Some(child);
            }
            if let Some(found) = child.descendant(namespace, name) {
                return Some(found);
            }
        }
        None
    }
}

/// The namespaces of one document, each kept once, and its node count.
#[derive(Default)]
struct Interner {
    namespaces: HashMap<Vec<u8>, Arc<str>>,
    nodes: usize,
}

impl Interner {
    fn namespace_of(&mut self, resolved: &ResolveResult<'_>) -> Arc<str> {
        let uri: &[u8] = match resolved {
            ResolveResult::Bound(ns) => ns.0,
            _ => b"",
        };
        if let Some(shared) = self.namespaces.get(uri) {
            return shared.clone();
        }
        // Every distinct URI is declared somewhere in the input, so what is
        // kept here never exceeds the document's own size.
        let shared: Arc<str> = String::from_utf8_lossy(uri).into();
        self.namespaces.insert(uri.to_vec(), shared.clone());
        shared
    }

    fn count(&mut self) -> Result<(), XmlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(XmlError(format!(
                "more than {MAX_NODES} elements and attributes in one envelope"
            )));
        }
        Ok(())
    }
}

fn open(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    interner: &mut Interner,
) -> Result<Element, XmlError> {
    interner.count()?;
    let (resolved, local) = reader.resolve_element(start.name());
    let mut element = Element {
        namespace: interner.namespace_of(&resolved),
        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| XmlError(e.to_string()))?;
        let key = attribute.key;
        if key.as_ref().starts_with(b"xmlns") {
            continue;
        }
        interner.count()?;
        let (_, local) = reader.resolve_attribute(key);
        let value = attribute
            .unescape_value()
            .map_err(|e| XmlError(e.to_string()))?;
        element.attributes.push((
            String::from_utf8_lossy(local.as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(element)
}

/// Parses a whole document into its root element.
pub fn parse(xml: &[u8]) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut interner = Interner::default();
    loop {
        let (_, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError(e.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError(format!("nesting deeper than {MAX_DEPTH}")));
                }
                let element = open(&reader, &start, &mut interner)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = open(&reader, &start, &mut interner)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err(XmlError("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    let decoded = text.decode().map_err(|e| XmlError(e.to_string()))?;
                    current.text.push_str(&decoded);
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    let decoded = data.decode().map_err(|e| XmlError(e.to_string()))?;
                    current.text.push_str(&decoded);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(current) = stack.last_mut() {
                    if let Some(ch) = reference
                        .resolve_char_ref()
                        .map_err(|e| XmlError(e.to_string()))?
                    {
                        current.text.push(ch);
                    } else {
                        let name = reference.decode().map_err(|e| XmlError(e.to_string()))?;
                        let ch = match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => return Err(XmlError(format!("unknown entity &{other};"))),
                        };
                        current.text.push(ch);
                    }
                }
            }
            Event::Eof => return Err(XmlError("document ended before its root closed".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// Escapes text for element content or a double-quoted attribute.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_prefixes_and_entities() {
        let xml = br#"<a:Env xmlns:a="urn:x" xmlns="urn:d"><a:B Name="n&amp;1">x &lt; y&#65;</a:B><C/></a:Env>"#;
        let root = parse(xml).unwrap();
        assert!(root.is("urn:x", "Env"));
        let b = root.child("urn:x", "B").unwrap();
        assert_eq!(b.attr("Name"), Some("n&1"));
        assert_eq!(b.text, "x < yA");
        assert!(root.child("urn:d", "C").is_some());
    }

    #[test]
    fn namespaces_are_shared_and_nodes_counted() {
        let uri = "urn:".to_string() + &"n".repeat(256 * 1024);
        let mut xml = format!(r#"<a:R xmlns:a="{uri}">"#);
        for _ in 0..1000 {
            xml.push_str("<a:x/>");
        }
        xml.push_str("</a:R>");
        let root = parse(xml.as_bytes()).unwrap();
        assert_eq!(root.children.len(), 1000);
        assert!(root
            .children
            .iter()
            .all(|c| Arc::ptr_eq(&c.namespace, &root.namespace)));

        let mut bomb = String::from("<r>");
        bomb.push_str(&"<x/>".repeat(MAX_NODES));
        bomb.push_str("</r>");
        let error = parse(bomb.as_bytes()).unwrap_err();
        assert!(error.0.contains("more than 100000 elements"), "{error}");
    }

    #[test]
    fn rejects_garbage_without_panic() {
        assert!(parse(b"not xml").is_err());
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(&b"<a>".repeat(100)).is_err());
    }
}
