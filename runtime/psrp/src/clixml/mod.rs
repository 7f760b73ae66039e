//! CLIXML, the PowerShell serialization format (MS-PSRP 2.2.5).
//!
//! Decoding reads one top-level element (the body of a PSRP message) with a
//! pull parser; each call is its own RefId scope. Encoding writes straight
//! into a `String`.
//!
//! `<SS>` (SecureString) is refused: this codec never carries secrets.

mod de;
mod error;
mod escape;
pub mod flat;
mod ser;
mod tag;
mod value;

#[cfg(test)]
mod tests;

pub use de::{FlatBuilder, MAX_DEPTH};
pub use error::{ClixmlError, ClixmlErrorKind};
pub use ser::Serializer;
pub use value::{Collection, CollectionKind, PsObject, Value};

const BOM: char = '\u{FEFF}';

/// Decodes one CLIXML element (`<Obj RefId="0">...</Obj>`, `<S>text</S>`,
/// `<Nil />`...). A leading BOM, an XML declaration, comments and
/// surrounding whitespace are tolerated; anything else around the element is
/// an error.
pub fn from_str(xml: &str) -> Result<Value, ClixmlError> {
    de::Decoder::new(strip_bom(xml)).single_value()
}

/// [`from_str`] over UTF-8 bytes (a BOM is tolerated).
pub fn from_bytes(bytes: &[u8]) -> Result<Value, ClixmlError> {
    from_str(utf8(bytes)?)
}

/// [`from_bytes`], refusing input whose decoded values would take more than
/// `limit` bytes (an estimate that counts every value, property name and
/// text, and a `<Ref>`'s copy again); also returns that estimate.
pub fn from_bytes_within(bytes: &[u8], limit: usize) -> Result<(Value, usize), ClixmlError> {
    de::Decoder::new(strip_bom(utf8(bytes)?))
        .with_decoded_limit(limit)
        .single_value_sized()
}

/// Decodes an Export-Clixml document, `<Objs>` holding any number of values
/// in one RefId scope (a lone value element is accepted too).
pub fn from_document(xml: &str) -> Result<Vec<Value>, ClixmlError> {
    de::Decoder::new(strip_bom(xml)).document()
}

/// Encodes one value as a top-level element, in a fresh RefId scope.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Appends one value as an element, in a fresh RefId scope. To write
/// several values into one body, use one [`Serializer`].
pub fn write_value(out: &mut String, value: &Value) {
    Serializer::new(out).write(value);
}

/// Appends one value as an element carrying `N="name"`, in a fresh RefId
/// scope. To write several values into one body, use one [`Serializer`].
pub fn write_named(out: &mut String, name: &str, value: &Value) {
    Serializer::new(out).write_named(name, value);
}

fn strip_bom(xml: &str) -> &str {
    xml.strip_prefix(BOM).unwrap_or(xml)
}

fn utf8(bytes: &[u8]) -> Result<&str, ClixmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // simdutf8 accepts exactly what std accepts; std then says where text
    // that is not UTF-8 goes wrong.
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return Ok(text);
    }
    std::str::from_utf8(bytes)
        .map_err(|e| ClixmlError::new(e.valid_up_to(), ClixmlErrorKind::NotUtf8))
}
