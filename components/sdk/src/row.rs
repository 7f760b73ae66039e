//! Row helpers: a property of an output object read as the type a connector
//! expects, `None` when it is missing or of another type (the server's
//! output is untrusted: a wrong type is not a panic).

use std::fmt::Write as _;

use crate::batch::{ObjectRef, ScalarRef, ValueRef};

impl<'a> ObjectRef<'a> {
    /// A scalar property, by name (case-insensitively).
    pub fn scalar(&self, name: &str) -> Option<ScalarRef<'a>> {
        match self.get(name)? {
            ValueRef::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// A text property (a string, a guid or a date as the server sent it).
    pub fn text(&self, name: &str) -> Option<&'a str> {
        match self.scalar(name)? {
            ScalarRef::Text(text) | ScalarRef::Guid(text) | ScalarRef::DateTime(text) => Some(text),
            _ => None,
        }
    }

    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.scalar(name)? {
            ScalarRef::Boolean(flag) => Some(flag),
            _ => None,
        }
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.scalar(name)? {
            ScalarRef::Integer(n) => Some(n),
            _ => None,
        }
    }

    /// A property as display text: a scalar as [`display`] writes it, a
    /// list's items joined by `, `; `None` when missing or a hashtable.
    pub fn display(&self, name: &str) -> Option<String> {
        let mut out = String::new();
        match self.get(name)? {
            ValueRef::Scalar(scalar) => display(&mut out, scalar),
            ValueRef::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    display(&mut out, item);
                }
            }
            ValueRef::Dictionary(_) => return None,
        }
        Some(out)
    }
}

/// Appends a scalar as plain text: text as it is, `True`/`False` as
/// PowerShell prints them, a nested object as its `ToString`, bytes in hex,
/// null as nothing.
pub fn display(out: &mut String, scalar: ScalarRef<'_>) {
    match scalar {
        ScalarRef::Null => {}
        ScalarRef::Text(text) | ScalarRef::DateTime(text) | ScalarRef::Guid(text) => {
            out.push_str(text)
        }
        ScalarRef::Boolean(true) => out.push_str("True"),
        ScalarRef::Boolean(false) => out.push_str("False"),
        ScalarRef::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        ScalarRef::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ScalarRef::Bytes(bytes) => {
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
        }
        ScalarRef::Object(object) => out.push_str(&object.to_string),
    }
}

#[cfg(test)]
mod tests {
    use crate::batch::objects;
    use crate::builder::batch_of;
    use crate::testing::{boolean, nested, object, text, texts};

    #[test]
    fn typed_reads_return_none_for_other_types() {
        let batch = batch_of(&[object(vec![
            ("Name", text("DB01")),
            ("Mounted", boolean(true)),
            (
                "Server",
                nested("Microsoft.Exchange.Data.Directory.ADObjectId", "EX01"),
            ),
            ("Copies", texts(&["EX01", "EX02"])),
        ])]);
        let row = objects(&batch).next().unwrap();
        assert_eq!(row.text("name"), Some("DB01"));
        assert_eq!(row.boolean("Mounted"), Some(true));
        assert_eq!(row.text("Mounted"), None);
        assert_eq!(row.integer("Name"), None);
        assert_eq!(row.text("Missing"), None);
        assert_eq!(row.display("Server").as_deref(), Some("EX01"));
        assert_eq!(row.display("Copies").as_deref(), Some("EX01, EX02"));
        assert_eq!(row.display("Mounted").as_deref(), Some("True"));
    }
}
